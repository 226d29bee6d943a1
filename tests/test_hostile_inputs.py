"""Malformed input is one clear error (or a counted skip), never a silent wrong result: query
files, corpora (JSONL, CSV, Parquet, aclImdb), releases (OBO, RRF), plots of odd names, and the
rule that a step which matched nothing fails."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

from umlsgraph.errors import QueryError, ReleaseError
from umlsgraph.query import load_query

runner = CliRunner()
QUERIES = Path(__file__).parent.parent / "queries"


def _query(tmp_path: Path, old: str, new: str, base: str = "nervous_system") -> Path:
    text = (QUERIES / f"{base}.toml").read_text()
    assert old in text
    path = tmp_path / "q.toml"
    path.write_text(text.replace(old, new, 1))
    return path


# ------------------------------------------------------------------------- query files

@pytest.mark.parametrize("old, new, message", [
    ('no = ["no", "n", "false"]', 'no = ["no", "n", "yes"]', "answer word 'yes' is in both"),
    ('no = ["no", "n", "false"]', 'no = ["no", "Y"]', "answer word 'y' is in both"),
    ('no = ["no", "n", "false"]', 'no = ["no", " "]', "empty answer word"),
    ("[text]", "[text]\nmax_chars = -5", "max_chars is -5"),
    ("[text]", "[text]\nmax_chars = 0", "max_chars is 0"),
    ("[text]", "[text]\nmax_names = 0", "max_names is 0"),
    ("[sample]", "[sample]\nsize = 0\n[x]", "size is 0"),
])
def test_query_file_errors(old: str, new: str, message: str, tmp_path: Path) -> None:
    if "[x]" in new:  # replace the whole [sample] table's size
        text = (QUERIES / "nervous_system.toml").read_text()
        text = "\n".join(line for line in text.splitlines() if not line.startswith("size"))
        (tmp_path / "q.toml").write_text(text.replace("[sample]", "[sample]\nsize = 0"))
        path = tmp_path / "q.toml"
    else:
        path = _query(tmp_path, old, new)
    with pytest.raises(QueryError, match=message):
        load_query(path)


# ------------------------------------------------------------------------- corpora

def _load(tmp_path: Path, name: str, content: str | bytes, *args: str) -> tuple[int, str]:
    source = tmp_path / name
    source.write_bytes(content.encode() if isinstance(content, str) else content)
    result = runner.invoke(app, ["corpus", "load", "c", "--from", str(source), "--db",
                                 str(tmp_path / "c.duckdb"), "--json", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _texts(tmp_path: Path) -> list[tuple]:
    con = duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True)
    try:
        return con.execute("SELECT id, text, gold, split FROM corpus_items ORDER BY id").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("odd", ['{"a": 1}', '["x", "y"]', '{"text": "inner"}'])
def test_a_nested_jsonl_text_is_skipped_and_counted_not_requoted(odd: str,
                                                                tmp_path: Path) -> None:
    rows = [json.dumps({"text": "good film"}), '{"text": ' + odd + "}",
            json.dumps({"text": "bad \"quoted\" film"})]
    code, output = _load(tmp_path, "c.jsonl", "\n".join(rows) + "\n")
    assert code == 0, output
    assert json.loads(output)["skipped"] == {"text is a nested JSON value, not a string": 1}
    assert [r[1] for r in _texts(tmp_path)] == ["good film", 'bad "quoted" film']


@pytest.mark.parametrize("name, content", [
    ("ints.jsonl", '{"text": 1}\n{"text": 2}\n'),
    ("bools.jsonl", '{"text": true}\n'),
])
def test_a_jsonl_text_column_of_another_type_is_refused(name: str, content: str,
                                                        tmp_path: Path) -> None:
    code, output = _load(tmp_path, name, content)
    assert code == 1 and "not text" in output, output


@pytest.mark.parametrize("column", [[b"abc", b"def"], [[1], [2]], [1.5, 2.5], [1, 2]],
                         ids=["binary", "list", "double", "int"])
def test_parquet_text_columns_of_the_wrong_type_are_refused(column: list, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": column}), tmp_path / "t.parquet")
    result = runner.invoke(app, ["corpus", "load", "c", "--from", str(tmp_path / "t.parquet"),
                                 "--db", str(tmp_path / "c.duckdb")])
    assert result.exit_code == 1 and "not text" in result.output, result.output


@pytest.mark.parametrize("header, row, expected", [
    ("id,text,label,split", "a1,hello,pos,train", ("a1", "hello", "pos", "train")),
    ("text,id", "hello,x9", ("x9", "hello", None, None)),
    ("label,text", "neg,hello", ("0", "hello", "neg", None)),
    ("split,text", "test,hello", ("0", "hello", None, "test")),
])
def test_csv_id_label_split_columns_are_used_by_default(header: str, row: str,
                                                        expected: tuple, tmp_path: Path) -> None:
    code, output = _load(tmp_path, "c.csv", f"{header}\n{row}\n")
    assert code == 0, output
    assert _texts(tmp_path) == [expected]


def test_an_empty_id_column_option_numbers_the_rows(tmp_path: Path) -> None:
    code, output = _load(tmp_path, "c.csv", "id,text\nx,a\nx,b\n", "--id-column", "")
    assert code == 0, output
    assert [r[0] for r in _texts(tmp_path)] == ["0", "1"]


@pytest.mark.parametrize("content, cause", [
    (b"text\nok\ncaf\xe9\n", "not utf-8 encoded"),
    (b'{"text": "a"}\n{"text": "b"\n', "Malformed JSON"),
])
def test_corpus_read_errors_keep_duckdbs_cause(content: bytes, cause: str,
                                               tmp_path: Path) -> None:
    name = "c.csv" if content.startswith(b"text") else "c.jsonl"
    code, output = _load(tmp_path, name, content)
    assert code == 1 and cause in output, output
    assert "Line: 3" in output or "line 3" in output, output


def test_long_lines_load(tmp_path: Path) -> None:
    code, output = _load(tmp_path, "c.csv", "text\n" + "x" * 3_000_000 + "\nshort\n")
    assert code == 0, output
    assert sorted(len(r[1]) for r in _texts(tmp_path)) == [5, 3_000_000]


@pytest.mark.parametrize("present", [("train/pos", "train/neg", "test/pos"),
                                     ("train/neg",), ("train/pos", "train/neg", "test/neg")])
def test_a_partial_aclimdb_folder_is_an_error(present: tuple[str, ...], tmp_path: Path) -> None:
    root = tmp_path / "aclImdb"
    for i, folder in enumerate(present):
        (root / folder).mkdir(parents=True)
        (root / folder / f"{i}_7.txt").write_text("a review")
    result = runner.invoke(app, ["corpus", "load", "imdb", "--from", str(root), "--db",
                                 str(tmp_path / "c.duckdb")])
    assert result.exit_code == 1 and "incomplete" in result.output, result.output


# ------------------------------------------------------------------------- releases

def test_an_obo_without_definitions_or_relations_loads(tmp_path: Path) -> None:
    from umlsgraph.load.dispatch import load

    for body, relations in (("[Term]\nid: T:1\nname: root\n\n[Term]\nid: T:2\nname: kid\n"
                             "is_a: T:1\n", 2), ("[Term]\nid: T:1\nname: alone\n", 0)):
        obo = tmp_path / "tiny.obo"
        obo.write_text("format-version: 1.2\nontology: tiny\n\n" + body)
        counts = load(obo, tmp_path / "o.duckdb")
        assert counts["definitions"] == 0 and counts["relations"] == relations


@pytest.mark.parametrize("line", [5, 1, 40])
def test_an_mrconso_line_with_an_empty_cui_names_file_and_line(line: int, synth_release: Path,
                                                               tmp_path: Path) -> None:
    import shutil

    from umlsgraph.load.release import load_release

    release = tmp_path / "rel"
    shutil.copytree(synth_release, release)
    mrconso = release / "META" / "MRCONSO.RRF"
    lines = mrconso.read_text().splitlines(keepends=True)
    lines[line - 1] = "|" + lines[line - 1].split("|", 1)[1]
    mrconso.write_text("".join(lines))
    with pytest.raises(ReleaseError, match=rf"MRCONSO.RRF:{line}: empty CUI"):
        load_release(release, tmp_path / "x.duckdb")
    assert not (tmp_path / "x.duckdb").exists()


# ------------------------------------------------------------------------- plots

@pytest.mark.parametrize("name", ["$\\foo$", "a $x^{$", "$$", "cost $5 vs $6", "$\\frac{1}{$"])
def test_dollar_signs_in_names_do_not_break_the_plots(name: str) -> None:
    import networkx as nx

    from umlsgraph.report import plots

    graph = nx.DiGraph()
    graph.add_node("a", name=name)
    graph.add_node("b", name="parent")
    graph.add_edge("a", "b")
    assert plots.hierarchy_drawing(graph, name).startswith(b"\x89PNG")
    assert plots.class_balance({name: {name: 3, None: 1}}, [name]).startswith(b"\x89PNG")


# ------------------------------------------------------------------------- matched nothing

def test_a_labels_file_matching_no_item_fails(loaded_db: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    for content in ("id,label\nX1,yes\nX2,no\n", "id,label\nC0000001,maybe\n"):
        labels.write_text(content)
        result = runner.invoke(app, ["annotate", "nervous_system", "--db", str(loaded_db),
                                     "--labels-file", str(labels)])
        assert result.exit_code == 1 and "nothing was stored" in " ".join(result.output.split()) \
            or "no usable labels" in result.output, result.output
    con = duckdb.connect(str(loaded_db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert "annotations" not in tables or not con.execute(
            "SELECT count(*) FROM annotations").fetchall()[0][0]
    finally:
        con.close()


def test_a_gold_file_matching_nothing_fails(loaded_db: Path, tmp_path: Path) -> None:
    from tests.training_data import annotate

    annotate(loaded_db, load_query("nervous_system"), {"C0000001": "yes", "C0000002": "no"})
    gold = tmp_path / "gold.csv"
    gold.write_text("id,label\nX1,yes\nX2,no\n")
    result = runner.invoke(app, ["eval", "nervous_system", "--db", str(loaded_db), "--gold",
                                 str(gold), "--source", "annotations"])
    assert result.exit_code == 1 and "nothing to score" in " ".join(result.output.split())
    for model in ("no-such-model", str(tmp_path / "missing")):
        gold.write_text("id,label\nC0000001,yes\n")
        result = runner.invoke(app, ["eval", "nervous_system", "--db", str(loaded_db),
                                     "--gold", str(gold), "--model", model])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("field, codes", [("semantic_types", '["T999"]'),
                                          ("sources", '["NOSUCHSAB"]')])
def test_a_filter_matching_nothing_fails_annotate_and_run(field: str, codes: str,
                                                          loaded_db: Path, tmp_path: Path) -> None:
    text = (QUERIES / "nervous_system.toml").read_text()
    query = tmp_path / "q.toml"
    query.write_text(text + f"\n[filter]\n{field} = {codes}\n")
    for args in (["annotate", str(query), "--db", str(loaded_db), "--llm", "embed"],
                 ["run", str(query), "--db", str(loaded_db), "--llm", "embed", "--out",
                  str(tmp_path / "run")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "matches no item" in " ".join(result.output.split()), result.output

