"""Look-up commands: `concept CUI` (one concept and how it was labelled) and `search TEXT`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .common import DEFAULT_DB, DbOption, console, print_json, user_errors

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer) -> None:
    app.command("concept")(user_errors(concept))
    app.command("search")(user_errors(search))


def concept(
    cui: Annotated[str, typer.Argument(help="The concept id, e.g. C0027765 or HP:0000707.")],
    db: DbOption = DEFAULT_DB,
    json_output: JsonOption = False,
) -> None:
    """A concept: names by source, semantic types, definitions, parents and children, and per
    query its annotations (raw answers), predictions and whether it is selected."""
    from umlsgraph.lookup.concept import lookup

    record = lookup(db, cui)
    if json_output:
        print_json(record)
        return
    _print_concept(record)


def _print_concept(r: dict[str, Any]) -> None:
    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    say(f"{r['cui']}  {r['name']}")
    say("semantic types: " + (", ".join(f"{t['tui']} {t['sty']}" for t in r["semantic_types"])
                              or "none"))
    for d in r["definitions"]:
        say(f"definition ({d['sab']}): {d['definition']}")
    for sab, names in r["synonyms"].items():
        say(f"names in {sab}: " + "; ".join(f"{n['name']} [{n['tty']}]" for n in names))
    for role in ("parents", "children"):
        items = r[role]
        more = (f" (first {len(items)} of {r['children_total']:,})"
                if role == "children" and r["children_total"] > len(items) else "")
        say(f"{role}{more}: " + ("; ".join(f"{p['cui']} {p['name']}" for p in items) or "none"))
    for name, q in r["queries"].items():
        flag = {True: "selected", False: "not selected", None: "unknown"}[q["selected"]]
        say(f"query {name}: {flag} ({q['selected_by']})")
        for a in q["annotations"]:
            say(f"  annotation by {a['annotator']} [{a['prompt_hash']}]: {a['label']} "
                f"(raw: {a['raw']!r})")
        for p in q["predictions"]:
            say(f"  prediction by {p['model']}: {p['label']} (p={p['probability']:.3f})")


def search(
    text: Annotated[str, typer.Argument(help="Text to find in concept names (case-insensitive).")],
    db: DbOption = DEFAULT_DB,
    limit: Annotated[int, typer.Option("--limit", help="Most concepts to show.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """Concepts whose names contain TEXT: exact matches first, then prefixes, then the rest."""
    from umlsgraph.lookup.search import search as find

    rows = find(db, text, limit)
    if json_output:
        print_json(rows)
        return
    table = Table(title=escape(f"names matching {text!r}"))
    for column in ("cui", "name", "matched", "match"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(row[k])) for k in ("cui", "name", "matched", "match")))
    console.print(table)
