"""The report's sections on quality: against gold labels, and what the label audit found.

Training's validation F1 is measured against the annotator's own labels, so it says how well
the encoder copies the annotator, not how right either is. Only gold labels say that: a file
of `id,label` (`umlsgraph report --gold FILE`, scored here with `evaluate`), or the metrics a
caller already measured against its gold (the demo's, against HPO's own hierarchy).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from umlsgraph.db import annotation_store, audit_store, connect, prediction_store
from umlsgraph.db.items import ConceptSource, ItemSource
from umlsgraph.errors import UmlsgraphError
from umlsgraph.query import Query
from umlsgraph.report.html import Section, escape, table

#: How many of the audit's suspects the report lists (`umlsgraph audit` lists them all).
AUDIT_ROWS = 8


@dataclass(frozen=True)
class Gold:
    """Metrics against gold by what was measured, the gold labels when known (to tell which
    of the audit's flags are right), and where the gold came from, in words."""

    metrics: dict[str, dict[str, Any]]
    labels: dict[str, str] | None = None
    origin: str = "the caller's gold labels"
    notes: list[str] = field(default_factory=list)


#: What `build_report(gold=...)` takes: a gold file, metrics measured against gold
#: ({what was measured: `evaluate`'s dict}), or those with the gold labels (`Gold`).
GoldInput = str | Path | Gold | Mapping[str, Mapping[str, Any]]


def read_gold_input(db: str | Path, query: Query, source: ItemSource, gold: GoldInput,
                    model: str | None, before: str | None = None,
                    verdicts: str | None = None) -> Gold:
    """`gold` as metrics: a file is scored here, measured metrics are taken as they are."""
    if isinstance(gold, Gold):
        return gold
    if isinstance(gold, Mapping):
        return Gold({str(k): dict(v) for k, v in gold.items()})
    return measure_gold(db, query, source, Path(gold), model, before, verdicts)


#: The suffix of the gold rows that score the model from before the second opinion.
BEFORE = "before the second opinion"


def measure_gold(db: str | Path, query: Query, source: ItemSource, gold_file: Path,
                 model: str | None, before: str | None = None,
                 verdicts: str | None = None) -> Gold:
    """Score each annotator (on the items it labelled), the encoder (on every gold item, and
    on those no annotator labelled: held out from training) and what `export` selects
    (held-out; with `verdicts`, `export --verdicts`) against `gold_file`, with
    `umlsgraph.evaluate.evaluation.evaluate`; `before` (a model key) adds the encoder and
    export rows of the model before the second opinion."""
    from umlsgraph.evaluate.evaluation import read_gold

    labels = read_gold(gold_file, query)
    con = connect(db, read_only=True)
    try:
        annotators = annotation_store.annotators(con, query.name, source.key)
        labelled = ({r[0] for r in con.execute(annotation_store.labelled_ids_sql(
            query.name, source.key)).fetchall()} if annotators else set())
        predicted = model is not None and prediction_store.has_table(con)
    finally:
        con.close()
    gold = Gold({}, labels, f"{gold_file} ({len(labels):,} items)")
    for annotator in annotators:
        _measure(gold, f"annotator {annotator} (its sample)", db, query, source, gold_file,
                 what="annotations", annotator=annotator)
    if predicted:
        _measure(gold, "encoder (all gold items)", db, query, source, gold_file, model=model)
        held_out = {i: c for i, c in labels.items() if i not in labelled}
        with tempfile.TemporaryDirectory(prefix="umlsgraph-gold-") as tmp:
            scope, scored = "all gold items", gold_file
            if labelled and held_out:
                from umlsgraph.evaluate.gold import write_gold_csv

                scope, scored = "held-out", write_gold_csv(sorted(held_out.items()),
                                                           Path(tmp) / "held_out.csv")
                _measure(gold, "encoder (held-out)", db, query, source, scored, model=model)
            if isinstance(source, ConceptSource):
                _measure(gold, f"export ({scope})", db, query, source, scored,
                         what="selection", model=model, verdicts=verdicts)
            if before:
                _measure(gold, f"encoder {BEFORE} ({scope})", db, query, source, scored,
                         model=before)
                if isinstance(source, ConceptSource):
                    _measure(gold, f"export {BEFORE} ({scope})", db, query, source, scored,
                             what="selection", model=before)
    return gold


def _measure(gold: Gold, name: str, db: str | Path, query: Query, source: ItemSource,
             gold_file: Path, **options: Any) -> None:
    """One row of `gold.metrics`; what cannot be measured becomes a note, not an error."""
    from umlsgraph.evaluate.evaluation import evaluate

    try:
        gold.metrics[name] = evaluate(db, query, source, gold=gold_file, **options)
    except UmlsgraphError as exc:
        gold.notes.append(f"{name}: not measured ({exc})")


def gold_section(gold: Gold | None, query: Query) -> Section:
    """Precision, recall and F1 of the positive category against gold, one row per thing
    measured, and what each row was measured on."""
    section = Section("quality", "Quality against gold")
    if gold is None:
        section.missing = ("no gold labels given: pass `--gold FILE` (id,label) to score the "
                           "annotator, the encoder and the export against truth; the "
                           "validation F1 under Training is against the annotator's own labels")
        return section
    if not gold.metrics:
        section.missing = "nothing measured against gold: " + "; ".join(gold.notes)
        return section
    section.body.append(
        f"<p>Scored against {escape(gold.origin)}, for the category "
        f"'{escape(query.positive)}'. The annotator is scored on the items it labelled; the "
        "encoder on every gold item and on "
        "the <i>held-out</i> ones (no annotator labelled them, so training never saw them); "
        "the export is what <code>umlsgraph export</code> selects (the predictions closed "
        "under the hierarchy). Unlike the validation F1 under Training, these compare with "
        "truth.</p>")
    rows = [[name + (f", --verdicts {m['verdicts']}" if m.get("verdicts") else ""),
             f"{int(m.get('n', 0)):,}", *[_score(m.get(k)) for k in
            ("precision", "recall", "f1", "accuracy")]] for name, m in gold.metrics.items()]
    section.body.append(table(["measured", "gold items", "precision", "recall", "F1",
                               "accuracy"], rows))
    for note in gold.notes:
        section.body.append(f"<p>{escape(note)}</p>")
    section.facts = {name: {k: m[k] for k in ("precision", "recall", "f1", "accuracy", "n",
                                              "verdicts") if k in m}
                     for name, m in gold.metrics.items()}
    return section


def _score(value: Any) -> str:
    return f"{float(value):.3f}" if isinstance(value, (int, float)) else "–"


# --- the label audit ---------------------------------------------------------------------


def audit_section(con: duckdb.DuckDBPyConnection, query: Query, source: ItemSource,
                  hint: Callable[[str], str], gold: Gold | None) -> Section:
    """What `umlsgraph audit` found: how many labels it flags as suspect (out-of-sample fold
    models disagree with them) and, with gold labels, how many of those are truly wrong."""
    section = Section("audit", "Label audit")
    audited = audit_store.audited_annotators(con, query.name, source.key)
    if not audited:  # optional: not a step the pipeline needs
        section.missing = ("optional, not run: " + hint("audit").removeprefix("not run yet: ")
                           + " to flag the labels that models trained without them reject")
        return section
    for annotator in audited:
        flags = audit_store.flags(con, query.name, source.key, annotator)
        suspects = [f for f in flags if f.suspect]
        facts: dict[str, Any] = {"labels": len(flags), "suspects": len(suspects)}
        if gold is not None and gold.labels is not None:
            facts.update(_against_gold(flags, gold.labels))
        section.facts[annotator] = facts
        section.body.append(_audit_summary(annotator, facts))
        if suspects:
            section.body.append(_suspect_table(suspects[:AUDIT_ROWS], query, gold))
    return section


def _against_gold(flags: list[audit_store.Flag], gold: dict[str, str]) -> dict[str, int]:
    known = [f for f in flags if f.id in gold]
    wrong = {f.id for f in known if gold[f.id] != f.label}
    flagged = {f.id for f in known if f.suspect}
    return {"with_gold": len(known), "wrong_labels": len(wrong),
            "suspects_with_gold": len(flagged), "suspects_truly_wrong": len(flagged & wrong)}


def _audit_summary(annotator: str, facts: Mapping[str, int]) -> str:
    text = (f"<p><code>{escape(annotator)}</code>: <b>{facts['suspects']:,}</b> of "
            f"{facts['labels']:,} labels flagged as suspect (models trained on the other folds "
            "disagree with them)")
    if "with_gold" in facts:
        text += (f"; against gold, {facts['suspects_truly_wrong']:,} of the "
                 f"{facts['suspects_with_gold']:,} flagged labels with a gold label are truly "
                 f"wrong, and the audit flagged {facts['suspects_truly_wrong']:,} of the "
                 f"{facts['wrong_labels']:,} wrong labels among {facts['with_gold']:,} with a "
                 "gold label")
    return text + ". <code>umlsgraph annotate --reask suspects</code> asks again; <code>" \
        "umlsgraph train --exclude-suspects</code> trains without them.</p>"


def _suspect_table(suspects: list[audit_store.Flag], query: Query, gold: Gold | None) -> str:
    labels = gold.labels if gold is not None and gold.labels is not None else None
    header = ["id", "label", f"P('{query.positive}') out of sample", "quality"]
    rows = []
    for flag in suspects:
        row = [flag.id, flag.label, _score(flag.p_out_of_sample), _score(flag.quality)]
        rows.append(row + ([labels.get(flag.id, "–")] if labels is not None else []))
    return table(header + (["gold"] if labels is not None else []), rows)
