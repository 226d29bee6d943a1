"""No user value reaches SQL by string formatting: every command works with an apostrophe,
a double quote, spaces and non-ASCII letters in every path, and with such a corpus name.

One pipeline through the CLI on a synthetic release, with the real MiniLM (a few steps):
load, corpus load, annotate (labels file), train, label, eval, export in every file format,
report, corpus export.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from umlsgraph_cli.main import app

runner = CliRunner()
HOSTILE = "O'Brien \"q\" ünï 東京"
FILE_FORMATS = {"graphml": "sub.graphml", "gexf": "sub.gexf", "ttl": "sub.ttl", "nt": "sub.nt",
                "jsonld": "sub.jsonld", "csv": "tables-csv", "parquet": "tables-parquet",
                "neo4j-admin": "neo4j-admin"}


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, f"{args[0]}: {result.output}"
    assert "Traceback" not in result.output
    return result.stdout


@pytest.mark.slow
def test_every_command_with_hostile_paths(synth_release: Path, minilm_path: Path,
                                          tmp_path: Path) -> None:
    root = tmp_path / HOSTILE
    root.mkdir()
    release = root / "META's"
    shutil.copytree(synth_release, release)
    db = root / "umls's.duckdb"
    _ok(["load", str(release), "--db", str(db)])

    con = duckdb.connect(str(db), read_only=True)
    ids = [r[0] for r in con.execute("SELECT cui FROM concepts ORDER BY cui LIMIT 80").fetchall()]
    con.close()
    labels = root / "labels d'or.csv"
    labels.write_text("id,label\n" + "".join(f"{c},{'yes' if i % 3 == 0 else 'no'}\n"
                                             for i, c in enumerate(ids)))
    _ok(["annotate", "nervous_system", "--db", str(db), "--labels-file", str(labels)])
    _ok(["load", str(release), "--db", str(db)])  # a reload carries the annotations over

    model = root / "model l'un"
    _ok(["train", "nervous_system", "--db", str(db), "--base-model", str(minilm_path),
         "--out", str(model), "--epochs", "1", "--min-steps", "0", "--max-length", "16",
         "--val-fraction", "0"])
    _ok(["label", "nervous_system", "--db", str(db), "--model", str(model),
         "--max-length", "16"])
    metrics = json.loads(_ok(["eval", "nervous_system", "--db", str(db), "--gold", str(labels),
                              "--model", str(model), "--json"]))
    assert metrics["n"] == len(ids)

    out = root / "exports d'été"
    for fmt, name in FILE_FORMATS.items():
        _ok(["export", "nervous_system", "--db", str(db), "-f", fmt, "-o", str(out / name),
             "--source", "annotations"])
        assert (out / name).exists(), fmt
    report = root / "rapport d'été"
    _ok(["report", "nervous_system", "--db", str(db), "--model", str(model), "--out",
         str(report)])
    assert (report / "report.html").stat().st_size > 0

    corpus_file = root / "revue's.csv"
    corpus_file.write_text("id,text\nr1,a fine film\nr2,a dull film\n")
    corpus_db = root / "corpus d'un.duckdb"
    _ok(["corpus", "load", "it's", "--from", str(corpus_file), "--db", str(corpus_db)])
    listing = json.loads(_ok(["corpus", "list", "--db", str(corpus_db), "--json"]))
    assert "it's" in json.dumps(listing)
    exported = root / "corpus d'export.csv"
    _ok(["corpus", "export", "it's", "--db", str(corpus_db), "--out", str(exported)])
    assert "a dull film" in exported.read_text()
