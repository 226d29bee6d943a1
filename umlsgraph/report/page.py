"""A self-contained HTML report of one query's pipeline state, with its figures as PNGs.

`build_report` reads what the pipeline left behind (the `annotations` and `predictions`
tables, the model folder's `umlsgraph.json`, the subontology the predictions select) and
writes ``report.html`` (every image inlined as a base64 PNG, no external URL, no script)
plus the same PNGs beside it. A step that has not run yet becomes a section that says which
command to run, so a report can be made at any point of the pipeline. With gold labels
(`gold=`) it scores the annotator, the encoder and the export against them ("Quality against
gold"); without, that section says the only F1 shown is against the annotator's own labels.
"""


from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from umlsgraph.db import connect
from umlsgraph.db.items import ItemSource, source_for
from umlsgraph.outputs import check_folder, claim_folder
from umlsgraph.query import Query, load_query
from umlsgraph.report.html import Section, render_html
from umlsgraph.report.quality import GoldInput, audit_section, gold_section, read_gold_input
from umlsgraph.report.second_opinion import second_opinion_section
from umlsgraph.report.sections import (
    Hints,
    annotation_section,
    choose_model,
    consistency_section,
    failure_section,
    prediction_section,
    read_model_meta,
    subontology_section,
    training_section,
)


@dataclass(frozen=True)
class ReportResult:
    """Where the report went and what it found (facts per section, for `--json`)."""

    html: Path
    images: list[Path]
    sections: dict[str, dict[str, Any]]

    def __str__(self) -> str:
        return str(self.html)


def _is_report(folder: Path) -> bool:
    return (folder / "report.html").is_file()


def build_report(db: str | Path, query: str | Path | Query, out: str | Path,
                 model_dir: str | Path | None = None, corpus: str | None = None,
                 source: ItemSource | None = None, gold: GoldInput | None = None,
                 before_model_dir: str | Path | None = None,
                 verdicts: str | None = None) -> ReportResult:
    """Write `out`/report.html and its PNGs for `query` on the items of `source` (or corpus).

    `gold`: a gold file (id,label) to score the annotators, the encoder and the export
    against, or metrics already measured against gold (`quality.Gold`, or a dict of
    `evaluate` results by what was measured). `before_model_dir`: the model from before a
    second opinion (`run --reask-with`): the report shows both, before and after.
    `verdicts`: the selection's `--verdicts` (the subontology, its contradictions and the
    export's quality are those of `export --verdicts`)."""
    q = query if isinstance(query, Query) else load_query(query)
    src = source or source_for(corpus)
    out = check_folder(out, "report", ours=_is_report)
    hint = Hints(q, src, Path(db), Path(model_dir) if model_dir else None)
    folder = Path(model_dir) if model_dir else None
    meta = read_model_meta(folder)
    con = connect(db, read_only=True)
    try:
        model = choose_model(con, q, src, folder, meta)
        before = (choose_model(con, q, src, Path(before_model_dir),
                               read_model_meta(Path(before_model_dir)))
                  if before_model_dir else None)
    finally:
        con.close()  # scoring against gold (`evaluate`) opens the store itself
    measured = (read_gold_input(db, q, src, gold, model, before, verdicts) if gold is not None
                else None)
    con = connect(db, read_only=True)
    try:
        sections = [gold_section(measured, q),
                    annotation_section(con, q, src, hint), failure_section(con, q, src, hint),
                    audit_section(con, q, src, hint, measured),
                    training_section(meta, folder, model, q, hint),
                    prediction_section(con, q, src, model, hint),
                    subontology_section(con, q, src, model, hint, verdicts),
                    consistency_section(con, q, src, model, hint, verdicts)]
        if before:
            sections.insert(1, second_opinion_section(con, q, before, model))
    finally:
        con.close()
    return _write(out, q, src, Path(db), sections)


def _write(out: Path, query: Query, source: ItemSource, db: Path,
           sections: list[Section]) -> ReportResult:
    claim_folder(out, "report", ours=_is_report)
    images = []
    for section in sections:
        for image in section.images:
            path = out / f"{image.name}.png"
            path.write_bytes(image.png)
            images.append(path)
    page = render_html(query, source, db, sections)
    target = out / "report.html"
    target.write_text(page, encoding="utf-8")
    facts = {s.key: {"missing": s.missing} if s.missing else s.facts for s in sections}
    return ReportResult(target, images, facts)
