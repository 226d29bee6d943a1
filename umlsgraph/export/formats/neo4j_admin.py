"""`--format neo4j-admin`: a folder of CSV files for `neo4j-admin database import full`.

For subontologies too big for Bolt. The files build the same graph as `--format neo4j`:

    concepts.csv         cui:ID(Concept), name, semantic_types:string[], tuis:string[],
                         synonyms:string[], definition, :LABEL
    subontology.csv      query:ID(Subontology), positive, selection, model, threshold:double,
                         :LABEL
    in_subontology.csv   :START_ID(Concept), :END_ID(Subontology), probability:double, label,
                         selected:boolean, component:long, :TYPE
    edges.csv            :START_ID(Concept), :END_ID(Concept), :TYPE, rel:string[],
                         rela:string[], sab:string[]      (BROADER: start = child)

Arrays are separated by U+001F (a character no UMLS string holds), so the import command
passes `--array-delimiter=U+001F`; definitions may hold line breaks, hence
`--multiline-fields=true`. The command is written to `import.sh` and returned.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from umlsgraph.db.sql import literal
from umlsgraph.export.formats import Exporter, Progress
from umlsgraph.neo4j.bolt import FALLBACK_TYPE, REL_TYPES

if TYPE_CHECKING:
    from umlsgraph.export.subontology import Subontology

FILES = ("concepts.csv", "subontology.csv", "in_subontology.csv", "edges.csv")




def _array(column: str) -> str:
    return f"array_to_string({column}, chr(31))"


def _type_sql() -> str:
    known = ", ".join(literal(t) for t in sorted(REL_TYPES | {"BROADER"}))
    return f"CASE WHEN type IN ({known}) THEN type ELSE '{FALLBACK_TYPE}' END"


def selects(subontology: Subontology) -> dict[str, str]:
    """The SQL of each CSV file, with neo4j-admin header names as column names."""
    s = subontology.summary
    q = literal(subontology.query.name)
    return {
        "concepts.csv": f"""SELECT cui AS "cui:ID(Concept)", name,
            {_array('semantic_types')} AS "semantic_types:string[]",
            {_array('tuis')} AS "tuis:string[]", {_array('synonyms')} AS "synonyms:string[]",
            definition, 'Concept' AS ":LABEL" FROM subontology_nodes ORDER BY cui""",
        "subontology.csv": f"""SELECT {q} AS "query:ID(Subontology)",
            {literal(subontology.query.positive)} AS positive,
            {literal(s.get('selection'))} AS selection,
            {literal(s.get('model'))}::VARCHAR AS model,
            {literal(s.get('threshold'))}::DOUBLE AS "threshold:double",
            'Subontology' AS ":LABEL" """,
        "in_subontology.csv": f"""SELECT cui AS ":START_ID(Concept)",
            {q} AS ":END_ID(Subontology)", probability AS "probability:double", label,
            selected AS "selected:boolean", component AS "component:long",
            'IN_SUBONTOLOGY' AS ":TYPE" FROM subontology_nodes ORDER BY cui""",
        "edges.csv": f"""SELECT from_cui AS ":START_ID(Concept)", to_cui AS ":END_ID(Concept)",
            {_type_sql()} AS ":TYPE", {_array('rel')} AS "rel:string[]",
            {_array('rela')} AS "rela:string[]", {_array('sab')} AS "sab:string[]"
            FROM subontology_edges ORDER BY from_cui, to_cui, type""",
    }


def import_command(out: Path, database: str = "neo4j") -> str:
    """The `neo4j-admin database import full` command for a bundle folder."""
    path = out.resolve()
    files = {name: shlex.quote(str(path / name)) for name in FILES}
    return (f"neo4j-admin database import full {shlex.quote(database)} "
            "--overwrite-destination=true --multiline-fields=true --array-delimiter=U+001F "
            f"--nodes={files['concepts.csv']} --nodes={files['subontology.csv']} "
            f"--relationships={files['in_subontology.csv']} "
            f"--relationships={files['edges.csv']}")


class Neo4jAdminExporter(Exporter):
    """`--format neo4j-admin`: the CSV bundle and the import command (see module docstring)."""

    format: ClassVar[str] = "neo4j-admin"
    target: ClassVar[str] = "folder"
    files: ClassVar[tuple[str, ...]] = (*FILES, "import.sh")

    def dump(self, subontology: Subontology, out: Path | None, on_progress: Progress | None = None,
             database: str = "neo4j", **_: Any) -> dict[str, Any]:
        assert out is not None
        target = Path(out)
        jobs = selects(subontology)
        command = import_command(target, database)  # the paths the files will have
        with self.writing(target) as folder:
            for step, (name, sql) in enumerate(jobs.items(), 1):
                subontology.con.execute(f"COPY ({sql}) TO {literal(folder / name)} "
                                        "(FORMAT csv, HEADER true)").fetchall()
                if on_progress:
                    on_progress("csv files", step, len(jobs))
            script = folder / "import.sh"
            script.write_text("#!/bin/sh\n# Stop Neo4j (or the target database) first; this "
                              "replaces the database.\n" + command + "\n", encoding="utf-8")
            script.chmod(0o755)
        return {"files": [str(target / name) for name in self.files], "command": command}
