"""`umlsgraph neo4j push`: load a DuckDB store into Neo4j; the Neo4j options other commands share."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from umlsgraph.settings import NEO4J_BATCH, NEO4J_PARALLEL, NEO4J_URI, NEO4J_USER

from .common import DEFAULT_DB, DbOption, console, err_console, print_json, user_errors

if TYPE_CHECKING:
    from umlsgraph.neo4j.bolt import Neo4jSettings

UriOption = Annotated[str | None, typer.Option(
    "--neo4j-uri", help=f"Bolt URI of the Neo4j server \\[env NEO4J_URI; default {NEO4J_URI}].")]
UserOption = Annotated[str | None, typer.Option(
    "--neo4j-user", help=f"Neo4j user \\[env NEO4J_USER; default {NEO4J_USER}].")]
PasswordOption = Annotated[str | None, typer.Option(
    "--neo4j-password", help="Neo4j password \\[env NEO4J_PASSWORD].")]
DatabaseOption = Annotated[str | None, typer.Option(
    "--neo4j-database", help="Neo4j database name \\[env NEO4J_DATABASE; default: the server's].")]
BatchOption = Annotated[int | None, typer.Option(
    "--batch-size", min=1, help=f"Rows per UNWIND transaction \\[default {NEO4J_BATCH}].")]
ParallelOption = Annotated[int | None, typer.Option(
    "--parallel", min=1, help="Concurrent write transactions (Neo4j; a server that inlines parameters, "
    f"such as FalkorDB's Bolt bridge, gets 1) \\[default {NEO4J_PARALLEL}].")]


def settings(uri: str | None, user: str | None, password: str | None, database: str | None,
             batch_size: int | None, parallel: int | None = None) -> Neo4jSettings:
    """Neo4j settings from the flags, over the NEO4J_* environment, over the defaults."""
    from umlsgraph.neo4j.bolt import Neo4jSettings

    return Neo4jSettings.resolve(uri=uri, user=user, password=password, database=database,
                                 batch_size=batch_size, parallel=parallel)


class ProgressBars:
    """A progress callback (task, done, total) drawing rich bars on stderr once work starts
    (nothing at all when stderr is not a terminal)."""

    def __init__(self) -> None:
        from rich.progress import Progress

        self.progress = Progress(console=err_console, transient=True,
                                 disable=not err_console.is_terminal)
        self.tasks: dict[str, Any] = {}
        self.started = False

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def __call__(self, task: str, done: int, total: int) -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        if task not in self.tasks:
            self.tasks[task] = self.progress.add_task(task, total=total or None)
        self.progress.update(self.tasks[task], completed=done, total=total or None)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Neo4j: load the whole store over Bolt.", no_args_is_help=True)
    group.command("push")(user_errors(push))
    app.add_typer(group, name="neo4j")


def push(
    db: DbOption = DEFAULT_DB,
    neo4j_uri: UriOption = None,
    neo4j_user: UserOption = None,
    neo4j_password: PasswordOption = None,
    neo4j_database: DatabaseOption = None,
    batch_size: BatchOption = None,
    parallel: ParallelOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Load every concept (names, semantic types) and relation of the store into Neo4j.

    Batched UNWIND/MERGE over Bolt: re-running it changes nothing. Graph model:
    (:Concept {cui})-[:PAR|CHD|RO|...]->(:Concept), (:Concept)-[:HAS_SEMANTIC_TYPE]->(:SemanticType).
    """
    report = push_store(db, settings(neo4j_uri, neo4j_user, neo4j_password, neo4j_database,
                                     batch_size, parallel))
    if json_output:
        print_json(report)
    else:
        print_push(report)


def push_store(db: Path, neo4j: Neo4jSettings) -> dict[str, Any]:
    """Push the store with progress bars (shared with `load --store neo4j`)."""
    from umlsgraph.neo4j.bolt import push as push_to_neo4j

    with ProgressBars() as bars:
        return push_to_neo4j(db, neo4j, on_progress=bars)


def print_push(report: dict[str, Any]) -> None:
    graph = report["graph"]
    console.print(f"sent in batches of {report['batch_size']:,}, {report['parallel']} at a time",
                  highlight=False)
    console.print(f"Neo4j at {report['uri']} now holds {graph['concepts']:,} concepts, "
                  f"{graph['semantic_types']:,} semantic types and "
                  f"{graph['relationships']:,} relationships", highlight=False)
