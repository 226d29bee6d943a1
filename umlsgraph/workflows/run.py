"""The whole LlamBERT method as one resumable run: load → annotate → train → label → export.

Every step first asks "is this already done?" and skips what is, so re-running after a crash
(or after changing only an export option) does only the missing work:

- load: skipped when the database already holds the same release loaded with the same filters;
- annotate: asks only for the items still missing to reach the sample size (answers are
  stored as they arrive, so a killed run loses at most the batch in flight);
- train: skipped when the model folder holds a finished run on the same labels and settings,
  and resumed from its last checkpoint otherwise;
- label: classifies only items this model has not labelled yet;
- reask, retrain, relabel (with `reask_with`): the first model's most surprising islands and
  holes, `reask_budget` of them, are chosen once (stored) and asked of the stronger
  annotator, only those it has not answered; a model is trained on its answers over the first
  annotator's (`--annotator STRONG,WEAK`) in `OUT/reask`, skipped when finished, and labels
  only what it has not labelled; export then reads the retrained model's predictions;
- verdicts (with `reask_verdicts`): what the first re-ask left of the budget is spent on the
  retrained model's own contradictions (chosen once, only what is unanswered); export and
  report take all the stronger annotator's answers as verdicts (`export --verdicts`);
- export / report: cheap, rewritten from the stored predictions every time.

Settings resolve in one place, in one order: defaults < project file (TOML) < environment
(`settings.ENVIRONMENT`, e.g. UMLSGRAPH_BASE_MODEL) < flags.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from umlsgraph.errors import EmptySelectionError, InputFileError, QueryError
from umlsgraph.outputs import safe_filename
from umlsgraph.settings import RunSettings, TrainConfig, from_environment

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: The export step's status when the model selects no concept: nothing is written, and `run`
#: exits non-zero after the other steps (nothing matched is an error, never an empty file).
EMPTY = "empty"


@dataclass
class StepResult:
    """What one step did: `status` is "done" (work was done), "skipped" (nothing missing) or
    `EMPTY` (export: the selection holds no concept)."""

    name: str
    status: str
    detail: str = ""
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


PATH_FIELDS = {"db", "release", "labels_file", "out", "export_dir"}


def read_project_file(path: str | Path) -> dict[str, Any]:
    """The `[run]` table of a project file (or its top level), validated against the fields."""
    file = Path(path)
    if not file.is_file():
        raise InputFileError(f"{file}: no such project file")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{file}: not valid TOML ({exc})") from None
    table = data.get("run", data)
    known = {f.name for f in fields(RunSettings)}
    for key in table:
        if key.replace("-", "_") not in known:
            raise InputFileError(f"{file}: unknown setting '{key}'; known: "
                                 f"{', '.join(sorted(known))}")
    base = file.resolve().parent
    values = {}
    for key, value in table.items():
        key = key.replace("-", "_")
        if key in PATH_FIELDS and value is not None:
            value = Path(value) if Path(value).is_absolute() else base / value
        if key == "formats" and isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        elif key == "formats":
            value = tuple(value)
        values[key] = value
    return values


def resolve_settings(flags: dict[str, Any], project_file: str | Path | None = None
                     ) -> RunSettings:
    """defaults < project file < environment < flags (a flag left at None does not override)."""
    values: dict[str, Any] = read_project_file(project_file) if project_file else {}
    values.update(from_environment())
    values.update({k: v for k, v in flags.items() if v is not None})
    if not values.get("query"):
        raise QueryError("no query given: pass QUERY or set `query` in the project file")
    return RunSettings(**values)


Step = Callable[[RunSettings], StepResult]


def run_pipeline(settings: RunSettings, on_step: Callable[[StepResult], None] | None = None
                 ) -> list[StepResult]:
    """Run every step in order, skipping what is done; returns what each step did."""
    results = []
    for step in steps(settings):
        started = time.monotonic()
        result = step(settings)
        result.seconds = time.monotonic() - started
        results.append(result)
        if on_step:
            on_step(result)
    return results


def steps(settings: RunSettings) -> tuple[Step, ...]:
    """The steps of a run, in order: the re-ask's three only where one is asked for, and its
    verdict round only with `reask_verdicts`."""
    reask: tuple[Step, ...] = ((step_reask, step_retrain, step_relabel)
                               if settings.reask_with else ())
    reask += (step_verdicts,) if settings.reask_verdicts else ()
    return (step_load, step_annotate, step_train, step_label, *reask, step_export, step_report)


def query_of(settings: RunSettings) -> Any:
    """The run's query, loaded from its name or path."""
    from umlsgraph.query import load_query
    return load_query(settings.query)


def _source(settings: RunSettings) -> Any:
    from umlsgraph.db.items import source_for
    return source_for(settings.corpus)


def step_load(settings: RunSettings) -> StepResult:
    """Load the release unless the database already holds it with the same filters."""
    if settings.release is None:
        if not Path(settings.db).exists():
            from umlsgraph.errors import StoreError
            raise StoreError(f"{settings.db}: no such database; give --release META to load one")
        return StepResult("load", "skipped", "no release given; using the existing database")
    from umlsgraph.load.dispatch import load
    from umlsgraph.load.release import LoadOptions

    if _already_loaded(settings):
        return StepResult("load", "skipped", f"{settings.release} is already loaded")
    counts = load(settings.release, settings.db, LoadOptions())
    return StepResult("load", "done", f"{counts['concepts']:,} concepts, "
                      f"{counts['relations']:,} relations", data=counts)


def _already_loaded(settings: RunSettings) -> bool:
    """True when the db's `release` table names this release and the default filters."""
    from umlsgraph.db import connect, release_store
    from umlsgraph.load import rrf
    from umlsgraph.load.release import LoadOptions

    if not Path(settings.db).exists() or settings.release is None:
        return False
    con = connect(settings.db, read_only=True)
    try:
        rows = release_store.info(con)
    finally:
        con.close()
    release = Path(settings.release)
    wanted = {k: v for k, v in asdict(LoadOptions()).items()
              if k not in ("memory_limit", "threads")}
    try:
        path = str(rrf.find_meta(release).resolve()) if release.is_dir() else None
    except Exception:  # noqa: BLE001 - an unreadable release is "not loaded": load reports why
        path = None
    same_source = rows.get("path") in {path, str(release.resolve())}
    return same_source and json.loads(rows.get("options", "{}")) == json.loads(
        json.dumps(wanted))


def step_annotate(settings: RunSettings) -> StepResult:
    """Bring the query's annotations up to the sample size (or import a labels file)."""
    from umlsgraph.annotate import driver as annotating
    from umlsgraph.annotate.backends import create

    query, source = query_of(settings), _source(settings)
    if settings.labels_file is not None:
        imported = annotating.import_labels(settings.db, query, settings.labels_file, source)
        return StepResult("annotate", "done", f"imported {imported.imported:,} labels",
                          data=imported.as_dict())
    annotator = create(settings.backend)
    target = settings.n or query.sample.size
    have = _annotation_count(settings, annotator.name, annotator.prompt_hash(query))
    if have >= target:
        annotator.close()
        return StepResult("annotate", "skipped", f"{have:,} answers already stored "
                          f"({annotator.name})")
    try:
        # n is the sample size: the first n items of the seeded order, asking only the missing
        result = annotating.annotate(settings.db, query, source, annotator, n=target,
                                     batch_size=settings.annotate_batch_size)
    finally:
        annotator.close()
    counts = ", ".join(f"{k}={v:,}" for k, v in sorted(result.counts.items()))
    detail = f"{result.asked:,} asked with {annotator.name} ({counts}, " \
             f"unparseable={result.unparseable:,})"
    return StepResult("annotate", "done", detail, data=result.as_dict())


def _annotation_count(settings: RunSettings, annotator: str, prompt_hash: str) -> int:
    from umlsgraph.db import annotation_store, connect

    con = connect(settings.db, read_only=True)
    try:
        if not annotation_store.has_table(con):
            return 0
        sql = annotation_store.done_ids_sql(query_of(settings).name, _source(settings).key,
                                            annotator, prompt_hash)
        return int(con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


def annotator_name(settings: RunSettings) -> str | None:
    """The name the run's annotations are stored under (its labels file, or its LLM)."""
    if settings.labels_file is not None:
        return f"labels:{Path(settings.labels_file).name}"
    from umlsgraph.annotate.backends import create
    return create(settings.backend).name


def train_config(settings: RunSettings) -> TrainConfig:
    overrides = {k: getattr(settings, k) for k in ("base_model", "epochs", "max_length",
                                                    "batch_size", "seed", "min_steps")
                 if getattr(settings, k) is not None}
    return replace(TrainConfig(device=settings.device), **overrides)


def step_train(settings: RunSettings) -> StepResult:
    """Fine-tune the encoder on this annotator's labels (resumes; skips a finished run)."""
    from umlsgraph.train.trainer import train

    result = train(settings.db, query_of(settings), _source(settings), train_config(settings),
                   settings.model_dir, annotator=annotator_name(settings))
    detail = f"{result.n_train:,} train / {result.n_val:,} val, {result.kept()}"
    status = "skipped" if result.already_done else "done"
    return StepResult("train", status, detail + (" (already trained)" if result.already_done
                                                 else ""), data={"model": str(result.out)})


def step_label(settings: RunSettings) -> StepResult:
    """Label every candidate item with the fine-tuned encoder (only those not yet labelled)."""
    from umlsgraph.label.labeller import label

    result = label(settings.db, query_of(settings), _source(settings), settings.model_dir,
                   batch_size=None, device=settings.device)
    status = "done" if result.labelled else "skipped"
    detail = (f"{result.labelled:,} labelled ({result.already:,} already), "
              f"{result.positives:,} positive of {result.candidates:,}")
    return StepResult("label", status, detail, data=asdict(result))


def step_reask(settings: RunSettings) -> StepResult:
    """Ask the stronger annotator about the first model's most surprising contradictions."""
    from umlsgraph.annotate.backends import create
    from umlsgraph.annotate.strategy import NothingToAsk

    assert settings.reask_with is not None and settings.reask_budget is not None
    strong = create(settings.reask_with)
    try:
        result = _ask_contradictions(settings, strong, settings.reask_budget,
                                     settings.model_dir)
    except NothingToAsk as exc:
        return StepResult("reask", "skipped", f"nothing to re-ask ({exc})")
    finally:
        strong.close()
    about = result.reask
    chosen = (f"{about['chosen']:,} contradictions chosen before" if about.get("reused") else
              f"{about['chosen']:,} contradictions ({about['chosen_islands']:,} islands, "
              f"{about['chosen_holes']:,} holes of {about['islands']:,} and "
              f"{about['holes']:,})")
    counts = ", ".join(f"{k}={v:,}" for k, v in sorted(result.counts.items()))
    if not result.asked:
        return StepResult("reask", "skipped", f"{chosen}: all answered by {strong.name}",
                          data=result.as_dict())
    return StepResult("reask", "done", f"{result.asked:,} of {chosen} asked with {strong.name} "
                      f"({counts}, unparseable={result.unparseable:,})", data=result.as_dict())


def step_retrain(settings: RunSettings) -> StepResult:
    """Train again on the stronger annotator's answers over the first one's (its own folder,
    resumed; skipped when finished on the same labels)."""
    from umlsgraph.annotate.backends import create
    from umlsgraph.train.trainer import train

    assert settings.reask_with is not None
    strong = create(settings.reask_with).name
    if strong not in _annotators(settings):
        return StepResult("retrain", "skipped", f"{strong} gave no label; the first model "
                          "stands")
    annotators = f"{strong},{annotator_name(settings)}"
    result = train(settings.db, query_of(settings), _source(settings), train_config(settings),
                   settings.reask_model_dir, annotator=annotators)
    detail = f"on {annotators}: {result.n_train:,} train / {result.n_val:,} val, {result.kept()}"
    status = "skipped" if result.already_done else "done"
    return StepResult("retrain", status, detail + (" (already trained)" if result.already_done
                                                   else ""), data={"model": str(result.out)})


def step_relabel(settings: RunSettings) -> StepResult:
    """Label every candidate with the retrained encoder; the contradictions before and after."""
    from umlsgraph.label.labeller import label

    if final_model_dir(settings) != settings.reask_model_dir:
        return StepResult("relabel", "skipped", "no retrained model; the first model stands")
    result = label(settings.db, query_of(settings), _source(settings), settings.reask_model_dir,
                   batch_size=None, device=settings.device)
    status = "done" if result.labelled else "skipped"
    detail = (f"{result.labelled:,} labelled ({result.already:,} already), "
              f"{result.positives:,} positive of {result.candidates:,}")
    before = _contradiction_counts(settings, settings.model_dir)
    after = _contradiction_counts(settings, settings.reask_model_dir)
    data: dict[str, Any] = {**asdict(result), "contradictions_before": before,
                            "contradictions_after": after}
    if before and after:
        detail += (f"; islands {before['islands']:,} → {after['islands']:,}, holes "
                   f"{before['holes']:,} → {after['holes']:,}")
    return StepResult("relabel", status, detail, data=data)


def step_verdicts(settings: RunSettings) -> StepResult:
    """With `reask_verdicts`: spend what the first re-ask left of `reask_budget` (it asks
    fewer when the first model has fewer contradictions) on the retrained model's own
    contradictions. No retraining: its answers judge the export (`export --verdicts`), so a
    wrong island the retrained model still selects is taken out with what hangs from it."""
    from umlsgraph.annotate.backends import create
    from umlsgraph.annotate.strategy import NothingToAsk

    assert settings.reask_with is not None and settings.reask_budget is not None
    if final_model_dir(settings) != settings.reask_model_dir:
        return StepResult("verdicts", "skipped", "no retrained model; nothing to judge")
    strong = create(settings.reask_with)
    try:
        left = settings.reask_budget - _answered(settings, strong.name,
                                                 strong.prompt_hash(query_of(settings)))
        if left < 1:
            return StepResult("verdicts", "skipped", f"the budget of {settings.reask_budget:,} "
                              f"is spent: {strong.name} answered that many")
        result = _ask_contradictions(settings, strong, left, settings.reask_model_dir)
    except NothingToAsk as exc:
        return StepResult("verdicts", "skipped", f"nothing left to ask ({exc})")
    finally:
        strong.close()
    return StepResult("verdicts", "done" if result.asked else "skipped",
                      f"{result.asked:,} of the retrained model's contradictions asked with "
                      f"{strong.name} (the {left:,} the budget had left); the export takes "
                      "its answers as verdicts", data=result.as_dict())


def _ask_contradictions(settings: RunSettings, strong: Any, n: int, model_dir: Path) -> Any:
    """Ask `strong` about the `n` most surprising contradictions of `model_dir`'s predictions
    it has not answered (the choice is stored, so a re-run resumes it)."""
    from umlsgraph.annotate import driver as annotating

    return annotating.annotate(
        settings.db, query_of(settings), _source(settings), strong, n=n,
        batch_size=settings.annotate_batch_size, reask="contradictions",
        reask_from="predictions", model=model_dir)


def _answered(settings: RunSettings, annotator: str, prompt_hash: str) -> int:
    """How many items `annotator` answered for the run's query (parsed or not): its spend."""
    from umlsgraph.db import annotation_store, connect

    con = connect(settings.db, read_only=True)
    try:
        if not annotation_store.has_table(con):
            return 0
        query, source = query_of(settings).name, _source(settings).key
        sql = annotation_store.done_ids_sql(query, source, annotator, prompt_hash)
        row = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def _annotators(settings: RunSettings) -> list[str]:
    from umlsgraph.db import annotation_store, connect

    con = connect(settings.db, read_only=True)
    try:
        return annotation_store.annotators(con, query_of(settings).name, _source(settings).key)
    finally:
        con.close()


def _contradiction_counts(settings: RunSettings, model_dir: Path) -> dict[str, int]:
    """`check`'s counts of a model's selection (only the counts: a few seconds on all of
    UMLS); empty when it selects nothing."""
    from umlsgraph.errors import NotFoundError
    from umlsgraph.evaluate.consistency import check
    from umlsgraph.model_folder import read_meta
    from umlsgraph.selection import SelectionOptions

    options = SelectionOptions(model=read_meta(model_dir)["model_id"])
    try:
        return check(settings.db, query_of(settings), options, limit=0).counts
    except NotFoundError:
        return {}


def final_model_dir(settings: RunSettings) -> Path:
    """The model whose predictions a run exports: the retrained one once it is finished."""
    from umlsgraph.errors import ModelError
    from umlsgraph.model_folder import read_meta

    if settings.reask_with and settings.reask_model_dir.is_dir():
        try:
            read_meta(settings.reask_model_dir)
        except ModelError:  # not trained, or its training did not finish
            return settings.model_dir
        return settings.reask_model_dir
    return settings.model_dir


def step_export(settings: RunSettings) -> StepResult:
    """Write the subontology in every requested format (cheap: always rewritten)."""
    from umlsgraph.model_folder import read_meta

    # this run's predictions, not the latest: the retrained model's after a re-ask
    model = read_meta(final_model_dir(settings))["model_id"]
    if settings.corpus:
        from umlsgraph.corpus.catalog import export_corpus
        out = settings.exports / f"{safe_filename(settings.corpus, 'corpus')}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        export_corpus(settings.db, settings.corpus, out, query=query_of(settings).name,
                      model=model)
        return StepResult("export", "done", f"corpus with labels → {out}")
    from umlsgraph.export.formats import export
    from umlsgraph.selection import SelectionOptions

    selection = SelectionOptions(model=model, verdicts=export_verdicts(settings))
    settings.exports.mkdir(parents=True, exist_ok=True)
    written, summary = [], {}
    for fmt in settings.formats:
        stem = safe_filename(Path(settings.query).stem, "query")
        target = settings.exports / f"{stem}.{_suffix(fmt)}"
        try:
            summary = export(settings.db, settings.query, fmt, target, selection=selection)
        except EmptySelectionError as exc:  # never an empty file; the labels stay
            return StepResult("export", EMPTY, f"nothing written: {exc}")
        written.append(str(target))
    detail = f"{summary.get('nodes', 0):,} concepts, {summary.get('edges', 0):,} edges → " + \
        ", ".join(written)
    if summary.get("verdicts"):
        detail += (f" (verdicts of {summary['verdicts']}: {summary.get('verdict_answers', 0):,} "
                   f"answers, {summary.get('cut_by_verdicts', 0):,} concepts taken out below "
                   "a 'no')")
    return StepResult("export", "done", detail, data={"files": written, "summary": summary})


def export_verdicts(settings: RunSettings) -> str | None:
    """The stronger annotator, when the run exports with its answers as verdicts and it gave
    some (else the retrained model's export stands alone)."""
    from umlsgraph.annotate.backends import create

    if not (settings.reask_with and settings.reask_verdicts):
        return None
    strong = create(settings.reask_with).name
    return strong if strong in _annotators(settings) else None


def _suffix(fmt: str) -> str:
    return {"neo4j-admin": "neo4j-admin", "csv": "csv", "parquet": "parquet"}.get(fmt, fmt)


def step_report(settings: RunSettings, gold: Any = None) -> StepResult:
    """The HTML report; `gold` (a gold file, or `umlsgraph.report.quality.Gold`) adds its
    "Quality against gold" section."""
    if not settings.report:
        return StepResult("report", "skipped", "not asked (--report)")
    from umlsgraph.report.page import build_report

    out = settings.model_dir / "report"
    final = final_model_dir(settings)
    before = settings.model_dir if final != settings.model_dir else None
    result = build_report(settings.db, query_of(settings), out, model_dir=final,
                          corpus=settings.corpus, gold=gold, before_model_dir=before,
                          verdicts=export_verdicts(settings))
    return StepResult("report", "done", f"{result.html}")
