"""Commands that build and describe the store: load, info, upgrade, synth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from umlsgraph.errors import StoreError

from . import neo4j as neo4j_cli
from .common import (
    DEFAULT_DB,
    DbOption,
    checked,
    console,
    print_json,
    split_csv,
    user_errors,
)


def register(app: typer.Typer) -> None:
    app.command("load")(user_errors(load))
    app.command("info")(user_errors(info))
    app.command("upgrade")(user_errors(upgrade))
    app.command("synth")(user_errors(synth))


def _memory_limit(value: str) -> str:
    from umlsgraph.load.release import check_memory_limit

    return check_memory_limit(value)


def load(
    release: Annotated[Path, typer.Argument(help="A UMLS release's META folder (or the folder holding META).")],
    db: DbOption = DEFAULT_DB,
    lang: Annotated[list[str] | None, typer.Option("--lang", help="Languages to keep (LAT), e.g. ENG,SPA; 'ALL' keeps every language.")] = None,
    sab: Annotated[list[str] | None, typer.Option("--sab", help="Only these sources (SAB), comma-separated or repeated.")] = None,
    exclude_sab: Annotated[list[str] | None, typer.Option("--exclude-sab", help="Drop these sources (SAB).")] = None,
    keep_suppressed: Annotated[bool, typer.Option("--keep-suppressed", help="Keep atoms, relations and definitions with SUPPRESS in O, E, Y.")] = False,
    rel: Annotated[list[str] | None, typer.Option("--rel", help="Only these relation types (REL), e.g. PAR,CHD,RB,RN.")] = None,
    rela: Annotated[list[str] | None, typer.Option("--rela", help="Only these relation attributes (RELA), e.g. isa,inverse_isa.")] = None,
    memory_limit: Annotated[str, typer.Option(callback=checked(_memory_limit), help="DuckDB memory limit for the load; spills to disk beyond it.")] = "3GB",
    threads: Annotated[int | None, typer.Option(min=1, help="DuckDB threads (default: all cores).")] = None,
    store: Annotated[str, typer.Option("--store", help="Where to load: duckdb (default), or neo4j: into the --db file, then the whole store into Neo4j over Bolt (as `umlsgraph neo4j push`).")] = "duckdb",
    neo4j_uri: neo4j_cli.UriOption = None,
    neo4j_user: neo4j_cli.UserOption = None,
    neo4j_password: neo4j_cli.PasswordOption = None,
    neo4j_database: neo4j_cli.DatabaseOption = None,
    batch_size: neo4j_cli.BatchOption = None,
) -> None:
    """Load a UMLS release (RRF: plain, .gz or split) or an OBO file into DuckDB, atomically.

    RELEASE may also be an OBO ontology (.obo, .obo.gz): it is converted to the UMLS layout
    (CUI = the OBO id) and loaded like a release.
    """
    from umlsgraph.load.dispatch import load as load_any
    from umlsgraph.load.release import LoadOptions

    if store.lower() not in ("duckdb", "neo4j"):
        raise StoreError(f"unknown --store '{store}'; known: duckdb, neo4j")
    languages = split_csv(lang) or ("ENG",)
    if any(v.upper() == "ALL" for v in languages):
        languages = ()
    options = LoadOptions(
        languages=languages, include_sabs=split_csv(sab), exclude_sabs=split_csv(exclude_sab),
        keep_suppressed=keep_suppressed, rels=split_csv(rel), relas=split_csv(rela),
        memory_limit=memory_limit, threads=threads,
    )
    with console.status("loading") as status:
        counts = load_any(release, db, options, on_step=lambda s: status.update(f"loading {s}"))
    console.print(f"Loaded {counts['concepts']:,} concepts, {counts['names']:,} names, "
                  f"{counts['relations']:,} relations into {db}")
    if store.lower() == "neo4j":
        neo4j_cli.print_push(neo4j_cli.push_store(db, neo4j_cli.settings(
            neo4j_uri, neo4j_user, neo4j_password, neo4j_database, batch_size)))


def info(
    db: DbOption = DEFAULT_DB,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Counts of what the database holds."""
    from umlsgraph.db import connect
    from umlsgraph.load.release import info as store_info

    con = connect(db, read_only=True)
    try:
        counts = store_info(con)
    finally:
        con.close()
    if json_output:
        print_json(counts)
        return
    table = Table(title=f"{db}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in ("concepts", "names", "relations", "semantic_types", "semantic_type_assignments",
                "definitions", "sources", "languages"):
        table.add_row(key.replace("_", " "), f"{counts[key]:,}")
    for rel_name, n in counts["relations_by_rel"].items():
        table.add_row(f"  REL={rel_name}", f"{n:,}")
    console.print(table)
    console.print(f"release: {counts['release']} (loaded {counts['loaded_at']}), "
                  f"schema version {counts['schema_version']}")
    for name, summary in counts["selections"].items():
        said = (summary["error"] if "error" in summary else
                f"{summary['selected']:,} selected ({summary['labelled']:,} by the labels of "
                f"{summary['model']}, {summary['descendants_added']:,} added by the closure "
                f"{summary['closure']})")
        console.print(f"query {name}: {said}", markup=False, highlight=False, soft_wrap=True)


def upgrade(db: DbOption = Path("umls.duckdb")) -> None:
    """Bring the database to this umlsgraph's schema version, in place, in one transaction.

    Every command that writes does this by itself; run it to upgrade at a time of your
    choosing (after a backup), or when a read-only command asks for it.
    """
    from umlsgraph.db.migrations import MIGRATIONS, upgrade_file

    before, applied = upgrade_file(db)
    if applied:
        console.print(f"{db}: upgraded from schema version {before} to {len(MIGRATIONS)} "
                      f"({', '.join(applied)})")
    else:
        console.print(f"{db}: already at schema version {before}, the newest this "
                      "umlsgraph knows")


def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write; the RRF files go to OUT/META.")],
    concepts: Annotated[int, typer.Option(min=1, help="Number of concepts.")] = 1000,
    max_names: Annotated[int, typer.Option(min=1, help="Most names per concept (1..N, uniform).")] = 6,
    other_relations: Annotated[int, typer.Option(min=0, help="Non-hierarchical relations per concept.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    gzip: Annotated[bool, typer.Option("--gzip", help="Write .RRF.gz files.")] = False,
    split: Annotated[int, typer.Option(min=1, max=26, help="Split MRCONSO and MRREL into this many parts (.aa, .ab…).")] = 1,
    realistic: Annotated[bool, typer.Option("--realistic", help="UMLS-like line lengths: names of 2-7 words, atom-level MRREL rows, longer definitions (with --max-names 10 --other-relations 13: ~5.5 names and ~17 relation rows per concept, as in a full release).")] = False,
) -> None:
    """Generate a synthetic release in the exact UMLS RRF layout (for tests and benchmarks)."""
    from umlsgraph.load.synth import SynthSpec, generate

    meta = generate(out, SynthSpec(concepts, max_names, other_relations, seed, gzip, split,
                                        realistic))
    console.print(f"Wrote a synthetic release to {meta}")
