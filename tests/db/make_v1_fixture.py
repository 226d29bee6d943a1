"""Write tests/db/fixtures/v1.duckdb.gz: a store exactly as umlsgraph wrote it at commit 97c4c3b.

The migration tests open this file with today's code and check that every row survives. It
must hold what the *old* code wrote, so this script does not import today's umlsgraph: it
extracts the pinned commit's `umlsgraph/` and `queries/` (`git archive`) into a temporary
folder and runs the writer below with that copy first on the path. Run it once, from the
repository root, and commit the two files it writes::

    python tests/db/make_v1_fixture.py  # -> tests/db/fixtures/v1.duckdb.gz, v1_reloaded…, v1.json

The store is small (a 40-concept synthetic release) but holds a row in every pipeline table
the pinned code knew: annotations (imported labels, an LLM's answers with hostile strings, a
parse failure), predictions, label_audit, annotation_rounds, corpus_items, mention_counts,
mention_scans and the name_search index. v1_reloaded.duckdb.gz is the same store after that
code reloaded the release over it: its pipeline tables were copied without their primary keys
(the bug migration m002 repairs). v1.json records the row count of each table in both, the
commit, and the DuckDB version and storage version that wrote them.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

COMMIT = "97c4c3b"
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: Committed gzip'd: DuckDB's 256 KiB blocks make the 40-concept store 6 MB, 27 kB compressed.
OUT = FIXTURES / "v1.duckdb.gz"
RELOADED = FIXTURES / "v1_reloaded.duckdb.gz"
MANIFEST = FIXTURES / "v1.json"

#: Runs inside the pinned checkout: only APIs that existed at COMMIT.
WRITER = r'''
import json, sys
from pathlib import Path

import duckdb
import umlsgraph
from umlsgraph.annotate.driver import import_labels
from umlsgraph.corpus.loader import load_corpus
from umlsgraph.db import annotation_store, audit_store, prediction_store, round_store, search
from umlsgraph.db.annotation_store import Annotation
from umlsgraph.export.formats import export
from umlsgraph.export.subontology import SubontologyOptions
from umlsgraph.load.release import load_release
from umlsgraph.load.synth import SynthSpec, generate
from umlsgraph.query import load_query

pinned, work, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
assert Path(umlsgraph.__file__).resolve().is_relative_to(pinned), umlsgraph.__file__
query = load_query("nervous_system")
generate(work / "release", SynthSpec(concepts=40, seed=7))
load_release(work / "release", out)
cuis = [f"C{i:07d}" for i in range(40)]

labels = work / "labels.csv"
labels.write_text("id,label\n" + "".join(
    f"{c},{'yes' if i % 3 == 0 else 'no'}\n" for i, c in enumerate(cuis[:12])))
import_labels(out, query, labels)

con = duckdb.connect(str(out))
hostile = ['He said "yes"', "no\nreally, no", "C:\\path\\yes", "ja ‮sí‬ — ]]>", "ÿes"]
llm = "hf:/models/llama 'q4'.gguf"
answers = [Annotation(c, "yes" if i % 2 else "no", hostile[i % 5], 0.5 + i / 100)
           for i, c in enumerate(cuis[10:20])]
answers.append(Annotation(cuis[20], None, "I cannot tell\x07", None))
annotation_store.write(con, query.name, "concepts", llm, query.prompt_hash(), answers)
prediction_store.write(con, query.name, "concepts", "models/encoder-v1", cuis,
                       ["yes" if i % 4 == 1 else "no" for i in range(40)],
                       [0.9 if i % 4 == 1 else 0.2 + i / 100 for i in range(40)])
audited = cuis[:12]
audit_store.start(con, query.name, "concepts", "labels:labels.csv", "audit-key-1",
                  [(c, "yes" if i % 3 == 0 else "no", i % 3, None)
                   for i, c in enumerate(audited)])
for fold in range(3):
    ids = audited[fold::3]
    audit_store.write_probabilities(con, query.name, "concepts", "labels:labels.csv", ids,
                                    [[0.3, 0.7] for _ in ids], 1)
audit_store.write_flags(con, query.name, "concepts", "labels:labels.csv", audited,
                        [0.1 * i for i in range(12)], [i == 4 for i in range(12)])
round_store.write(con, query.name, "concepts", "round-key-1", "uncertainty", cuis[20:26],
                  [0.5, 0.49, None, 0.3, 0.2, 0.1])
search.build(con)
con.close()

corpus = work / "notes.csv"
names = duckdb.connect(str(out), read_only=True).execute(
    "SELECT name FROM concepts ORDER BY cui LIMIT 6").fetchall()
corpus.write_text("id,text\n" + "".join(f'n{i},"a note on {n[0]}, twice: {n[0]}"\n'
                                        for i, n in enumerate(names)))
load_corpus(out, "notes", corpus)
export(out, "nervous_system", "csv", work / "export",
       selection=SubontologyOptions(mentioned_in="notes"))

# the same store reloaded by that code: its copy of the pipeline tables lost their keys
reloaded = out.with_name("v1_reloaded.duckdb")
reloaded.write_bytes(out.read_bytes())
load_release(work / "release", reloaded)


def describe(db):
    con = duckdb.connect(str(db), read_only=True)
    tables = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for (t,) in
              con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()}
    storage = con.execute("SELECT tags['storage_version'] FROM duckdb_databases() "
                          "WHERE NOT internal").fetchone()[0]
    con.close()
    return tables, storage


(tables, storage), (again, _) = describe(out), describe(reloaded)
print(json.dumps({"tables": tables, "reloaded_tables": again, "duckdb": duckdb.__version__,
                  "storage_version": storage}))
'''


def main() -> None:
    """Extract the pinned code, run the writer with it, and write the fixture and its manifest."""
    commit = subprocess.run(["git", "rev-parse", COMMIT], cwd=ROOT, check=True, text=True,
                            capture_output=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        pinned, work = Path(tmp) / "pinned", Path(tmp) / "work"
        pinned.mkdir()
        work.mkdir()
        archive = subprocess.run(["git", "archive", commit, "umlsgraph", "queries"], cwd=ROOT,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(pinned)], input=archive, check=True)
        db = work / "v1.duckdb"
        env = {**os.environ, "PYTHONPATH": str(pinned)}
        done = subprocess.run([sys.executable, "-c", WRITER, str(pinned), str(work), str(db)],
                              cwd=pinned, env=env, check=True, text=True, capture_output=True)
        FIXTURES.mkdir(parents=True, exist_ok=True)
        OUT.write_bytes(gzip.compress(db.read_bytes(), compresslevel=9, mtime=0))
        RELOADED.write_bytes(gzip.compress((work / "v1_reloaded.duckdb").read_bytes(),
                                           compresslevel=9, mtime=0))
    manifest = {"commit": commit, **json.loads(done.stdout.strip().splitlines()[-1])}
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes): {manifest['tables']}")


if __name__ == "__main__":
    main()
