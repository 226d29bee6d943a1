"""The report page as HTML: its parts (`Section`, `Image`), the style, and the rendering.

Everything user-supplied is escaped here (`escape`), so a concept name or an LLM answer is
always text, never markup. No script, no external URL: images are inlined as base64 PNGs.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from umlsgraph.db.items import ItemSource
from umlsgraph.query import Query


@dataclass(frozen=True)
class Image:
    """One figure: written as `name`.png and inlined in the HTML."""

    name: str
    png: bytes
    alt: str


@dataclass
class Section:
    """One part of the report. `missing` says which command to run when its step hasn't."""

    key: str
    title: str
    body: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    missing: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


#: The F1 against gold the first card shows: the first of these measured.
HEADLINE = ("encoder (held-out)", "encoder (all concepts)", "encoder (all gold items)")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1a202c;
background:#f7fafc}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:26px}h2{border-bottom:2px solid #e2e8f0;padding-bottom:4px}
.sub{color:#4a5568;margin:0 0 16px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:4px 20px 16px;
margin:16px 0}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 16px;min-width:130px}
.card b{display:block;font-size:22px}.card span{color:#4a5568;font-size:13px}
table{border-collapse:collapse;margin:8px 0;font-size:14px}
th,td{border-bottom:1px solid #e2e8f0;padding:4px 10px;text-align:left}
td.num{text-align:right}pre{white-space:pre-wrap;margin:0;font-size:12px;max-width:560px}
.figs{display:flex;gap:16px;align-items:flex-start;margin:12px 0}
@media(max-width:700px){.figs{flex-wrap:wrap}}
.figs img{max-width:100%;min-width:0;height:auto;flex:0 1 auto}
.missing{color:#975a16;background:#fffbeb;border-left:4px solid #d69e2e;padding:8px 12px}
nav a{margin-right:14px;color:#2b6cb0}
.note{color:#4a5568;font-style:italic}
"""


def render_html(query: Query, source: ItemSource, db: Path, sections: list[Section]) -> str:
    """The whole page: header, summary cards, then each section (figures inlined)."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{s.key}">{escape(s.title)}</a>' for s in sections)
    body = "\n".join(render_section(s) for s in sections)
    question = query.description or query.prompt
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>umlsgraph report: {escape(query.name)}</title><style>{CSS}</style></head>
<body><main>
<h1>umlsgraph report: {escape(query.name)}</h1>
<p class="sub">{escape(question)}<br>items: <code>{escape(source.key)}</code> · database:
<code>{escape(str(db))}</code> · made {when}</p>
{cards(sections)}
<nav>{nav}</nav>
{body}
</main></body></html>
"""


def cards(sections: list[Section]) -> str:
    """The summary cards; the F1 against gold comes first, and the validation F1 says what
    it is measured against, so it is not read as quality."""
    facts = {s.key: s.facts for s in sections if not s.missing}
    cards = []
    best = headline(facts["quality"]) if "quality" in facts else None
    if best is not None:
        cards.append((f"{best[1]:.3f}", f"F1 against gold: {best[0]}"))
    if "annotations" in facts:
        total = sum(sum(c.values()) for c in facts["annotations"].values())
        cards.append((f"{total:,}", "annotations"))
    if "failures" in facts:
        f = facts["failures"]
        cards.append((pct(f["unparseable"], f["answers"]), "parse failures"))
    f1 = facts.get("training", {}).get("metrics", {}).get("f1")
    if f1 is not None:
        cards.append((num(f1), "validation F1 (against the annotator's labels)"))
    if "predictions" in facts:
        cards.append((f"{facts['predictions']['items']:,}", "items labelled"))
    if "subontology" in facts:
        cards.append((f"{facts['subontology']['nodes']:,}", "subontology concepts"))
    if "check" in facts:
        found = facts["check"]
        cards.append((f"{found['islands'] + found['holes']:,}", "islands and holes"))
    inner = "".join(f"<div class='card'><b>{escape(v)}</b><span>{escape(k)}</span></div>"
                    for v, k in cards)
    return f"<div class='cards'>{inner}</div>" if cards else ""


def headline(measured: dict[str, dict[str, Any]]) -> tuple[str, float] | None:
    """(what, F1) of the "Quality against gold" card: the encoder on held-out gold when
    measured, else the first thing measured."""
    for name in (*HEADLINE, *measured):
        if name in measured and isinstance(measured[name].get("f1"), (int, float)):
            return name, float(measured[name]["f1"])
    return None


def render_section(section: Section) -> str:
    parts = [f'<section id="{section.key}"><h2>{escape(section.title)}</h2>']
    if section.missing:
        parts.append(f'<p class="missing">{code(section.missing)}</p>')
    parts.extend(section.body)
    if section.images:
        parts.append('<div class="figs">')
        for image in section.images:
            data = base64.b64encode(image.png).decode("ascii")
            parts.append(f'<img src="data:image/png;base64,{data}" alt="{escape(image.alt)}" '
                         f'title="{escape(image.name)}.png">')
        parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


def table(header: list[str], rows: list[list[Any]], pre_last: bool = False) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    lines = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = escape(str(cell))
            if pre_last and i == len(row) - 1:
                cells.append(f"<td><pre>{text}</pre></td>")
            elif i and looks_numeric(str(cell)):
                cells.append(f"<td class='num'>{text}</td>")
            else:
                cells.append(f"<td>{text}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def code(text: str) -> str:
    """Escape, then show `backticked` spans as code."""
    pieces = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def looks_numeric(text: str) -> bool:
    return bool(text) and text.replace(",", "").replace(".", "").rstrip("%").isdigit()


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def num(value: float) -> str:
    if isinstance(value, float) and (math.isnan(value) or not value.is_integer()):
        return f"{value:.3f}"
    return f"{int(value):,}"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
