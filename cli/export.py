"""`umlsgraph export`: write the subontology a query selects, in one of the export formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from umlsgraph.export.formats import known as known_format
from umlsgraph.settings import EXPORT_MEMORY_LIMIT

from .common import (
    DEFAULT_DB,
    AnnotatorOption,
    ClosureOption,
    DbOption,
    PredictionsModelOption,
    SelectSourceOption,
    ThresholdOption,
    VerdictsOption,
    checked,
    console,
    print_json,
    selection_options,
    split_csv,
    user_errors,
)
from .neo4j import (
    BatchOption,
    DatabaseOption,
    ParallelOption,
    PasswordOption,
    ProgressBars,
    UriOption,
    UserOption,
    settings,
)


def register(app: typer.Typer) -> None:
    app.command("export")(user_errors(export))


def export(
    query: Annotated[str | None, typer.Argument(help="Query name (see queries/) or path to a .toml file (omit with --all).")] = None,
    all_concepts: Annotated[bool, typer.Option("--all", help="Export the whole store: every concept, with each query's latest labels and probabilities as attributes.")] = False,
    db: DbOption = DEFAULT_DB,
    fmt: Annotated[str | None, typer.Option("--format", "-f", callback=checked(known_format), help="graphml, gexf, ttl, nt, jsonld, csv, parquet, neo4j, neo4j-admin, obo (OBO 1.4), owl (OWL 2 RDF/XML) or rrf (a UMLS release of the selection, in OUT/META) \\[default: the one --out's extension names (.obo, .owl, .ttl…), else graphml].")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file (graphml, gexf, ttl, nt, jsonld, obo, owl) or folder (csv, parquet, neo4j-admin, rrf); an existing one is replaced only if umlsgraph wrote it \\[default: named after the query].")] = None,
    source: SelectSourceOption = "predictions",
    threshold: ThresholdOption = None,
    model: PredictionsModelOption = None,
    annotator: AnnotatorOption = None,
    rel: Annotated[list[str] | None, typer.Option("--rel", help="Also export edges of these REL types, e.g. RO,RB.")] = None,
    rela: Annotated[list[str] | None, typer.Option("--rela", help="Also export edges of these RELA types, e.g. part_of.")] = None,
    no_hierarchy: Annotated[bool, typer.Option("--no-hierarchy", help="Leave out the PAR/CHD/isa hierarchy edges.")] = False,
    drop_isolated: Annotated[bool, typer.Option("--drop-isolated", help="Leave out concepts with no edge.")] = False,
    min_component_size: Annotated[int, typer.Option("--min-component-size", min=1, help="Leave out weakly connected components smaller than this.")] = 1,
    with_ancestors: Annotated[bool, typer.Option("--with-ancestors", help="Add every ancestor of a selected concept, up to the roots.")] = False,
    closure: ClosureOption = None,
    verdicts: VerdictsOption = None,
    descendants: Annotated[bool, typer.Option("--descendants", help="Same as --closure all: every selected concept passes its selection down (most recall, least precision).")] = False,
    base_iri: Annotated[str | None, typer.Option("--base-iri", help="RDF, OWL, OBO idspace: IRI prefix of concepts \\[default https://uts.nlm.nih.gov/uts/umls/concept/; OBO PURLs for an OBO-loaded store].")] = None,
    scheme_iri: Annotated[str | None, typer.Option("--scheme-iri", help="RDF: IRI of the skos:ConceptScheme \\[default urn:umlsgraph:scheme:QUERY]; OWL: of the owl:Ontology \\[default urn:umlsgraph:ontology:QUERY].")] = None,
    neo4j_uri: UriOption = None,
    neo4j_user: UserOption = None,
    neo4j_password: PasswordOption = None,
    neo4j_database: DatabaseOption = None,
    batch_size: BatchOption = None,
    mentioned_in: Annotated[str | None, typer.Option("--mentioned-in", help="Keep only selected concepts whose names occur (case-insensitive, whole words) in this corpus loaded with `umlsgraph corpus load`; counts are stored, so a re-export does not rescan.")] = None,
    min_mentions: Annotated[int, typer.Option("--min-mentions", help="With --mentioned-in: the fewest mentions a concept needs.")] = 1,
    parallel: ParallelOption = None,
    corpus: Annotated[str | None, typer.Option("--corpus", help="Export items of this flat corpus instead of UMLS concepts (nodes only).")] = None,
    memory_limit: Annotated[str, typer.Option("--memory-limit", help="DuckDB memory limit; it spills to disk beyond it.")] = EXPORT_MEMORY_LIMIT,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Export the concepts a query selects and the hierarchy among them (child -> parent)."""
    from umlsgraph.errors import ExportError
    from umlsgraph.export.formats import export as run_export
    from umlsgraph.export.subontology import SubontologyOptions

    if all_concepts == (query is not None):
        raise ExportError("give a QUERY to export its subontology, or --all for the whole "
                          "store (not both)")
    if all_concepts and (closure is not None or descendants or verdicts is not None):
        raise ExportError("--all exports every concept; --closure/--descendants/--verdicts "
                          "choose what a QUERY selects (drop them)")
    chosen = selection_options(source, threshold, model, annotator, closure, descendants,
                               verdicts)
    selection = SubontologyOptions(
        source=chosen.source, threshold=chosen.threshold, model=chosen.model,
        annotator=chosen.annotator, closure=chosen.closure, verdicts=chosen.verdicts,
        hierarchy=not no_hierarchy, rels=split_csv(rel), relas=split_csv(rela),
        drop_isolated=drop_isolated, min_component_size=min_component_size,
        with_ancestors=with_ancestors, mentioned_in=mentioned_in, min_mentions=min_mentions)
    options: dict[str, Any] = {"base_iri": base_iri, "scheme_iri": scheme_iri}
    fmt = output_format(fmt, out)
    if fmt == "neo4j":
        options["neo4j"] = settings(neo4j_uri, neo4j_user, neo4j_password, neo4j_database,
                                    batch_size, parallel)
    with ProgressBars() as bars:
        summary = run_export(db, query, fmt, out, selection, corpus, on_progress=bars,
                             memory_limit=memory_limit, **options)
    if json_output:
        print_json(summary)
        return
    _print(summary)


def output_format(fmt: str | None, out: Path | None) -> str:
    """--format, else the one --out's extension names; a clash of the two is a usage error
    (exit 2), found before any work."""
    from umlsgraph.errors import ExportError
    from umlsgraph.export.formats import resolve_format

    try:
        return resolve_format(fmt, out)
    except ExportError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--format'") from None


def _print(summary: dict[str, Any]) -> None:
    closure = f" (closure {summary['closure']})" if summary.get("closure") else ""
    table = Table(title=f"{summary['query']} -> {summary['format']}{closure}")
    table.add_column("what")
    table.add_column("count", justify="right")
    if "mentioned_in" in summary:
        scan = summary["mention_scan"]
        console.print(f"mentioned in {summary['mentioned_in']} (≥ {summary['min_mentions']}): "
                      f"dropped {summary['not_mentioned']:,} selected concepts; scanned "
                      f"{scan['scanned']:,} concepts over {scan['texts']:,} texts "
                      f"({scan['seconds']} s; stored counts used for the rest)",
                      markup=False, highlight=False, soft_wrap=True)
    for key in ("selected", "labelled", "descendants_added", "ancestors_added", "dropped", "nodes", "edges",
                "components", "largest_component", "isolated"):
        if key in summary:
            table.add_row(key.replace("_", " "), f"{summary[key]:,}")
    console.print(table)
    islands = summary.get("islands")
    if islands and islands["islands"]:
        top = "; ".join(f"{i['id']} {i['name']} ({i['closure_adds']:,})" for i in islands["top"])
        console.print(f"{islands['islands']:,} islands (selected, no parent selected; `umlsgraph "
                      f"check` lists them): the closure added {islands['added_below_islands']:,} "
                      f"concepts below them" + (f", most below {top}" if top else ""),
                      markup=False, highlight=False, soft_wrap=True)
    report = summary["export"]
    if report.get("changed_values"):
        console.print(f"wrote {report['changed_values']:,} values holding line breaks with "
                      "spaces (an RRF field cannot hold them)", highlight=False)
    if report.get("replaced_values"):
        console.print(f"replaced {report['replaced_values']:,} values holding characters XML "
                      "1.0 cannot hold (control characters) with U+FFFD", highlight=False)
    for path in report.get("files", []):
        console.print(f"wrote {path}", highlight=False)
    if "command" in report:
        console.print("Import it with (Neo4j stopped):", highlight=False)
        console.print(report["command"], highlight=False, soft_wrap=True)
    if "graph" in report and "uri" in report:
        console.print(f"Neo4j at {report['uri']}: {report['graph']}", highlight=False)
