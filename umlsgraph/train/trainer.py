"""Fine-tune an encoder on the stored labels of a query (step 4 of LlamBERT).

Training data are the parsed annotations of the query (or any SQL of id, label) joined with
the same item text the LLM saw. The loop is plain PyTorch: length-bucketed batches with
dynamic padding, cross-entropy, AdamW with linear warmup and decay. Small label sets get at
least `min_steps` optimisation steps (the naive 3 epochs of 500 labels learn nothing).

The defaults (`umlsgraph.settings.TrainConfig`) are chosen for LLM labels, which are 5-20%
wrong (issue 11, `bench/quality.py`): no class weighting (inverse-frequency weights multiply
the weight of the wrong minority labels: at 15% prevalence, 10% random flips make ~40% of the
"yes" labels wrong), the last epoch kept (a 10% validation split of noisy labels picks
epochs by noise; it is still scored and recorded), and, for concepts, the hierarchy in the
text the encoder reads (parents' and grandparents' names). With symmetric noise an
unweighted model's P(label) is an affine map of P(true), so the plain 0.5 threshold stays
right.

`out` becomes a self-describing model folder (see `umlsgraph.model_folder`). While training runs,
`out/checkpoint.pt` holds everything needed to resume after a kill (model, optimizer,
scheduler, epoch, step, RNG); a re-run with the same data and settings continues from it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from umlsgraph.db.items import ItemSource
from umlsgraph.errors import AnnotationError, ModelError, TrainingError
from umlsgraph.evaluate.evaluation import evaluate_rows
from umlsgraph.inference.device import amp_dtype, autocast, resolve_device
from umlsgraph.inference.loading import load_classifier
from umlsgraph.inference.tokens import encode, length_batches, pad, pad_id
from umlsgraph.model_folder import META_FILE, read_meta, write_meta
from umlsgraph.outputs import check_folder, claim_folder
from umlsgraph.progress import progress_bar
from umlsgraph.query import Query, TextOptions
from umlsgraph.settings import TrainConfig
from umlsgraph.train.data import (
    Example,
    check_examples,
    class_weights,
    data_hash,
    load_examples,
    split,
    training_text,
)
from umlsgraph.train.kept import describe, keep_of, validation_score
from umlsgraph.train.second_opinion import DEFAULT_RULE
from umlsgraph.train.second_opinion import RULES as SECOND_OPINION_RULES

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainResult:
    """What a training run produced."""

    out: Path
    model_id: str
    n_train: int
    n_val: int
    epochs: int
    steps: int
    best_epoch: int
    best: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    resumed: bool = False
    already_done: bool = False
    keep: str = "last"

    def kept(self, positive: str | None = None) -> str:
        """What was kept, and which epoch scored best on validation (`train.kept.describe`)."""
        return describe(self.keep, self.best_epoch, self.epochs, self.history, positive)


# ---------------------------------------------------------------------------- the loop


def train(db: str | Path, query: Query, source: ItemSource, config: TrainConfig, out: Path,
          labels_sql: str | None = None, annotator: str | None = None,
          init_model: str | Path | None = None, resume: bool = True, progress: bool = True,
          on_epoch: Callable[[dict[str, Any]], None] | None = None,
          second_opinion: str = DEFAULT_RULE) -> TrainResult:
    """Fine-tune `config.base_model` (or continue `init_model`) on the query's labels.

    `on_epoch` is called with each epoch's record after its checkpoint is on disk. With
    several annotators (`annotator="STRONG,WEAK"`), `second_opinion` says how the first one's
    answers overrule the others' below them (umlsgraph.train.second_opinion).
    """
    if second_opinion not in SECOND_OPINION_RULES:
        raise AnnotationError(f"--second-opinion '{second_opinion}': choose "
                              f"{', '.join(SECOND_OPINION_RULES)}")
    out = Path(out)
    check_model_folder(out)
    init_meta = _init_meta(init_model, query, out)
    text_query = training_text(_with_text(query, init_meta), config)
    examples = load_examples(db, text_query, source, labels_sql, annotator, second_opinion)
    key = _resume_key(examples, text_query, config, init_model)
    done = _finished(out, key) if resume else None
    if done is not None:
        return done
    who = "custom labels" if labels_sql is not None else annotator
    if labels_sql is None and annotator and "," in annotator:
        who = f"{annotator} (second opinion: {second_opinion})"
    trainer = _Trainer(text_query, source, examples, config, out, key, init_model, init_meta,
                       who, progress, on_epoch)
    return trainer.run(resume)


def check_model_folder(out: Path) -> None:
    """Refuse a --out that is a file or holds files umlsgraph did not write (a model folder
    from before the marker file is recognised by its umlsgraph.json or checkpoint)."""
    check_folder(out, "model folder", ours=_looks_like_model)


def _looks_like_model(folder: Path) -> bool:
    return (folder / META_FILE).is_file() or (folder / CHECKPOINT).is_file()


def _init_meta(init_model: str | Path | None, query: Query, out: Path) -> dict[str, Any] | None:
    """The umlsgraph.json of the model that combined mode continues, checked against the query."""
    if init_model is None:
        return None
    meta = read_meta(init_model)
    if meta["categories"] != query.categories:
        raise ModelError(f"{init_model}: trained for categories {meta['categories']}, but query "
                         f"'{query.name}' has {query.categories}")
    if Path(init_model).resolve() == out.resolve():
        raise TrainingError("--out must differ from --init-model (combined mode writes a new "
                            "model folder)")
    return meta


def _with_text(query: Query, init_meta: dict[str, Any] | None) -> Query:
    """Combined mode renders text exactly as the first model was trained on."""
    if init_meta is None or "text" not in init_meta:
        return query
    return replace(query, text=TextOptions(**init_meta["text"]))


def _resume_key(examples: list[Example], query: Query, config: TrainConfig,
                init_model: str | Path | None) -> str:
    payload = {"data": data_hash(examples, query), "config": config.fingerprint(),
               "init": str(Path(init_model).resolve()) if init_model else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _finished(out: Path, key: str) -> TrainResult | None:
    """The result of a finished run with the same key in `out`, if there is one."""
    path = out / META_FILE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not meta.get("complete") or meta.get("resume_key") != key:
        return None
    return _result(out, meta, already_done=True)


def _result(out: Path, meta: dict[str, Any], already_done: bool = False) -> TrainResult:
    run = meta["run"]
    return TrainResult(out=out, model_id=meta["model_id"], n_train=run["n_train"],
                       n_val=run["n_val"], epochs=run["epochs"], steps=run["steps"],
                       best_epoch=run["best_epoch"], best=run["best"], history=meta["history"],
                       seconds=run["seconds"], resumed=run["resumed"], already_done=already_done,
                       keep=keep_of(meta))


class _Trainer:
    """One training run; `run()` reads as the recipe, the helpers below do one thing each."""

    def __init__(self, query: Query, source: ItemSource, examples: list[Example],
                 config: TrainConfig, out: Path, key: str, init_model: str | Path | None,
                 init_meta: dict[str, Any] | None, annotator: str | None, progress: bool,
                 on_epoch: Callable[[dict[str, Any]], None] | None) -> None:
        self.query, self.source, self.config, self.out, self.key = query, source, config, out, key
        self.init_model, self.init_meta, self.annotator = init_model, init_meta, annotator
        self.progress, self.on_epoch = progress, on_epoch
        self.data_hash = data_hash(examples, query)
        self.train_set, self.val_set = split(examples, config.val_fraction, config.seed)
        check_examples(self.train_set, query.categories)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {}
        self.best_score: tuple[float, ...] | None = None
        self.bad_epochs = 0
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.seconds = 0.0
        self.resumed = False

    def run(self, resume: bool) -> TrainResult:
        started = time.monotonic()
        claim_folder(self.out, "model folder", ours=_looks_like_model)
        (self.out / META_FILE).unlink(missing_ok=True)  # the folder's old model is going away
        if not resume:
            (self.out / CHECKPOINT).unlink(missing_ok=True)
        self._build()
        if resume:
            self._restore()
        with progress_bar("training", self.total_steps, self.progress, unit="steps",
                          completed=self.global_step) as bar:
            while self.epoch < self.epochs and not self._should_stop():
                self._train_epoch(bar, started)
                record = self._end_epoch(started)
                bar.log(_describe(record))
                if self.on_epoch:
                    self.on_epoch(record)
        if not self.val_set or self.config.keep == "last":
            self._save_best()
        return self._finish(started)

    # -- setup

    def _build(self) -> None:
        import torch

        cfg = self.config
        _seed_everything(cfg.seed)
        self.device = resolve_device(cfg.device)
        source = self.init_model if self.init_model is not None else cfg.base_model
        categories = None if self.init_model is not None else self.query.categories
        self.model, self.tokenizer = load_classifier(source, categories)
        self.model.to(self.device)
        self.pad_id = pad_id(self.tokenizer)
        self.train_enc = encode(self.tokenizer, [e.text for e in self.train_set], cfg.max_length)
        self.val_enc = encode(self.tokenizer, [e.text for e in self.val_set], cfg.max_length)
        self.steps_per_epoch = math.ceil(len(self.train_set) / cfg.batch_size)
        wanted = max(cfg.epochs, math.ceil(cfg.min_steps / self.steps_per_epoch))
        self.epochs = min(wanted, max(cfg.max_epochs, cfg.epochs))
        self.total_steps = self.epochs * self.steps_per_epoch
        weights = class_weights(self.train_set, len(self.query.categories), cfg.class_weighting)
        self.loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights).to(self.device),
                                                 label_smoothing=cfg.label_smoothing)
        self.optimizer = torch.optim.AdamW(_param_groups(self.model, cfg.weight_decay), lr=cfg.lr)
        self.scheduler = _linear_schedule(self.optimizer, int(cfg.warmup_ratio * self.total_steps),
                                          self.total_steps)
        # bf16 has fp32's range; only fp16 gradients need loss scaling
        fp16 = amp_dtype(self.device, cfg.precision) == torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)

    # -- one epoch

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """Shuffled batches of similar-length items, the same for a given seed and epoch."""
        rng = random.Random(self.config.seed * 1000 + epoch)
        order = list(range(len(self.train_set)))
        rng.shuffle(order)
        window = self.config.batch_size * 50
        batches: list[list[int]] = []
        for start in range(0, len(order), window):
            chunk = order[start:start + window]
            lengths = [len(self.train_enc[i]["input_ids"]) for i in chunk]
            batches.extend([chunk[j] for j in b] for b in length_batches(lengths,
                                                                         self.config.batch_size))
        rng.shuffle(batches)
        return batches

    def _train_epoch(self, bar: Any, started: float) -> None:
        import torch

        self.model.train()
        batches = self._epoch_batches(self.epoch)
        running_loss, self.train_batches = torch.zeros((), device=self.device), 0
        epoch_started = time.monotonic()
        for index in range(self.step_in_epoch, len(batches)):
            batch = pad([self.train_enc[i] for i in batches[index]], self.pad_id, self.device)
            labels = torch.tensor([self.train_set[i].label for i in batches[index]],
                                  device=self.device)
            running_loss = running_loss + self._step(batch, labels)
            self.train_batches += 1
            self.step_in_epoch = index + 1
            self.global_step += 1
            bar.advance(1)
            if self.global_step % self.config.checkpoint_steps == 0:
                self._save_checkpoint(started)
        self.train_loss = float(running_loss)  # waits for the GPU, so the time is true
        self.train_seconds = time.monotonic() - epoch_started

    def _step(self, batch: dict[str, Any], labels: Any) -> Any:
        """One optimisation step; returns the (detached) training loss."""
        import torch

        with autocast(self.device, self.config.precision):
            logits = self.model(**batch).logits
        loss = self.loss_fn(logits.float(), labels)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def _end_epoch(self, started: float) -> dict[str, Any]:
        """Validate, keep the best model, checkpoint, and move to the next epoch."""
        metrics = self._validate() if self.val_set else {}
        record = {"epoch": self.epoch + 1, "step": self.global_step,
                  "lr": self.scheduler.get_last_lr()[0],
                  "train_loss": float(self.train_loss) / max(1, self.train_batches),
                  "train_steps": self.train_batches, "train_seconds": self.train_seconds,
                  **metrics}
        self.history.append(record)
        score = validation_score(metrics)
        if score is not None and (self.best_score is None or score > self.best_score):
            self.best_score, self.best, self.bad_epochs = score, record, 0
            if self.config.keep == "best":
                self._save_best()
        elif score is not None:
            self.bad_epochs += 1
        self.epoch += 1
        self.step_in_epoch = 0
        self._save_checkpoint(started)
        return record

    def _should_stop(self) -> bool:
        return (bool(self.val_set) and self.config.keep == "best"
                and self.bad_epochs >= self.config.patience
                and self.global_step >= self.config.min_steps)

    def _validate(self) -> dict[str, Any]:
        """Validation loss and metrics (positive-class F1 first) of the current weights."""
        import torch

        self.model.eval()
        pairs: list[tuple[str, str]] = []
        total_loss = 0.0
        lengths = [len(e["input_ids"]) for e in self.val_enc]
        with torch.inference_mode():
            for batch_ids in length_batches(lengths, self.config.batch_size * 2):
                batch = pad([self.val_enc[i] for i in batch_ids], self.pad_id, self.device)
                labels = torch.tensor([self.val_set[i].label for i in batch_ids],
                                      device=self.device)
                with autocast(self.device, self.config.precision):
                    logits = self.model(**batch).logits.float()
                total_loss += float(self.loss_fn(logits, labels)) * len(batch_ids)
                cats = self.query.categories
                golds, preds = labels.tolist(), logits.argmax(-1).tolist()
                pairs.extend((cats[g], cats[p]) for g, p in zip(golds, preds, strict=True))
        self.model.train()
        metrics = evaluate_rows(pairs, self.query.categories, self.query.positive)
        metrics.pop("positive")
        return {"loss": total_loss / len(self.val_set), **metrics}

    # -- saving

    def _save_best(self) -> None:
        """save_pretrained + tokenizer into `out`, file by file through a temporary folder."""
        tmp = self.out / ".best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        self.model.save_pretrained(tmp)
        self.tokenizer.save_pretrained(tmp)
        for path in tmp.iterdir():
            os.replace(path, self.out / path.name)
        tmp.rmdir()

    def _save_checkpoint(self, started: float) -> None:
        """Everything a resumed run needs, written to a temporary file and renamed."""
        import torch

        state = {
            "key": self.key, "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "rng": _rng_state(self.device),
            "history": self.history,
            "best": self.best, "best_score": self.best_score, "bad_epochs": self.bad_epochs,
            "seconds": self.seconds + time.monotonic() - started,
        }
        tmp = self.out / (CHECKPOINT + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.out / CHECKPOINT)

    def _restore(self) -> None:
        """Continue from `out/checkpoint.pt` when it was written for the same data and config."""
        import torch

        path = self.out / CHECKPOINT
        if not path.is_file():
            return
        state = torch.load(path, map_location=self.device, weights_only=False)
        if state.get("key") != self.key:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # empty when saved by a bf16/fp32 run, which needs no scaling
            self.scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.history = state["global_step"], state["history"]
        self.best, self.bad_epochs = state["best"], state["bad_epochs"]
        self.best_score = tuple(state["best_score"]) if state["best_score"] else None
        self.seconds, self.resumed = state["seconds"], True

    def _finish(self, started: float) -> TrainResult:
        """Write the final umlsgraph.json (the model is now usable) and drop the checkpoint."""
        seconds = self.seconds + time.monotonic() - started
        meta = self._meta(seconds)
        write_meta(self.out, meta)
        (self.out / CHECKPOINT).unlink(missing_ok=True)
        return _result(self.out, meta)

    def _meta(self, seconds: float) -> dict[str, Any]:
        base = self.init_meta["base_model"] if self.init_meta else self.config.base_model
        last = self.history[-1] if self.history else {}
        best = last if self.config.keep == "last" else (self.best or last)
        return {
            "complete": True,
            "model_id": f"{self.out.resolve().name}-{uuid.uuid4().hex[:8]}",
            "resume_key": self.key,
            "query": self.query.name,
            "source": self.source.key,
            "categories": self.query.categories,
            "label2id": {c: i for i, c in enumerate(self.query.categories)},
            "positive": self.query.positive,
            "base_model": base,
            "init_model": str(self.init_model) if self.init_model else None,
            "annotator": self.annotator,
            "data_hash": self.data_hash,
            "text": asdict(self.query.text),
            "max_length": self.config.max_length,
            "config": asdict(self.config),
            "history": self.history,
            "run": {"n_train": len(self.train_set), "n_val": len(self.val_set),
                    "epochs": len(self.history), "steps": self.global_step,
                    "best_epoch": best.get("epoch", 0), "best": best, "seconds": seconds,
                    "resumed": self.resumed, "device": self.device},
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }


def _describe(record: dict[str, Any]) -> str:
    if "f1" not in record:
        return f"epoch {record['epoch']}: step {record['step']}"
    return (f"epoch {record['epoch']}: train loss {record['train_loss']:.3f}  "
            f"val loss {record['loss']:.3f}  F1 {record['f1']:.3f}  "
            f"macro-F1 {record['f1_macro']:.3f}  accuracy {record['accuracy']:.3f}")


def _param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases and LayerNorm weights (the usual BERT fine-tuning rule)."""
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
        (no_decay if skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _linear_schedule(optimizer: Any, warmup: int, total: int) -> Any:
    """Linear warmup to the learning rate, then linear decay to zero."""
    import torch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)


def _rng_state(device: str = "cpu") -> dict[str, Any]:
    """Python's, torch's CPU and (when training on CUDA) every GPU's generator state."""
    import torch

    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if device.startswith("cuda"):
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    """Restore `_rng_state`. The checkpoint is loaded with map_location=device, which moves
    these byte tensors onto the GPU, while torch only takes them from the CPU."""
    import torch

    random.setstate(state["python"])
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
