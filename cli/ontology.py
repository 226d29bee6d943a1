"""Commands for OBO ontologies and hierarchy-derived gold labels: obo2rrf, gold subtree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DEFAULT_DB, DbOption, console, print_json, user_errors

gold_app = typer.Typer(help="Gold labels derived from the store's hierarchy.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("obo2rrf")(user_errors(obo2rrf))
    gold_app.command("subtree")(user_errors(subtree))
    app.add_typer(gold_app, name="gold")


def obo2rrf(
    ontology: Annotated[Path, typer.Argument(help="An OBO file (.obo or .obo.gz), e.g. hp.obo.")],
    out: Annotated[Path, typer.Argument(help="Folder to write; the RRF files go to OUT/META.")],
    sab: Annotated[str | None, typer.Option(
        help="Source abbreviation (SAB); default: the ontology's name, e.g. HP.")] = None,
) -> None:
    """Write an OBO ontology as a UMLS-layout release (MRCONSO, MRREL, MRDEF, MRSAB, MRSAT)."""
    from umlsgraph.load.obo_release import obo_to_release

    meta = obo_to_release(ontology, out, sab=sab)
    console.print(f"Wrote {ontology.name} as a UMLS-layout release to {meta}")


def subtree(
    root: Annotated[str, typer.Argument(help="The root concept id, e.g. HP:0000707 or C0027765.")],
    db: DbOption = DEFAULT_DB,
    out: Annotated[Path, typer.Option(
        "--out", help="The CSV file to write (columns id,label).")] = Path("gold.csv"),
    positive: Annotated[str, typer.Option(help="Label of the root and its descendants.")] = "yes",
    negative: Annotated[str, typer.Option(help="Label of every other concept.")] = "no",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Label every concept: POSITIVE if it is ROOT or below it (PAR/CHD), else NEGATIVE."""
    from umlsgraph.evaluate.gold import subtree_gold_csv

    result = subtree_gold_csv(db, root, out, positive, negative)
    if json_output:
        print_json(result)
        return
    console.print(f"Wrote {result['concepts']:,} gold labels to {out}: {result[positive]:,} "
                  f"{positive}, {result[negative]:,} {negative}")
