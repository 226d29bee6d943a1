"""umlsgraph's CUDA code paths, on a real GPU: autocast and bf16 in training, the fp16
GradScaler, labelling in half precision against fp32, CUDA RNG state across a resume, and
the hf annotator loaded with device_map. Every test skips with the reason where no CUDA
device exists; `bench/gpu.py` runs them first on the GPU machine (see bench/GPU.md).

Models are tiny and of fixed random weights (built from configs), with the tokenizers that
bench/gpu_prepare.sh carries (or that the MiniLM and SmolLM2 packages ship).
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.missing import missing

try:
    import torch
    import transformers  # noqa: F401
except ImportError:
    missing("torch and transformers are not installed: pip install 'umlsgraph[ml]'")

from umlsgraph.annotate.backends import AnnotatorOptions, make_prompt  # noqa: E402
from umlsgraph.annotate.backends.hf import HFAnnotator  # noqa: E402
from umlsgraph.db import connect  # noqa: E402
from umlsgraph.db.items import ConceptSource  # noqa: E402
from umlsgraph.inference.device import amp_dtype, autocast  # noqa: E402
from umlsgraph.inference.loading import load_classifier  # noqa: E402
from umlsgraph.inference.model import EncoderModel  # noqa: E402
from umlsgraph.label.labeller import label  # noqa: E402
from umlsgraph.query import load_query  # noqa: E402
from umlsgraph.settings import TrainConfig  # noqa: E402
from umlsgraph.train import trainer as training  # noqa: E402
from umlsgraph.train.trainer import CHECKPOINT, train  # noqa: E402

pytestmark = pytest.mark.gpu

QUERY = load_query("nervous_system")
LABELS = ("SELECT cui AS id, CASE WHEN hash(cui) % 2 = 0 THEN 'yes' ELSE 'no' END AS label "
          "FROM concepts")
ENCODER = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=128, initializer_range=0.2)  # wide logits: decisive labels
LLAMA = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             intermediate_size=128, initializer_range=0.2)


def bench() -> ModuleType:
    """bench/gpu.py, which builds the random-weight models and finds the tokenizers."""
    path = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get("bench_gpu") or importlib.util.module_from_spec(spec)
    if "bench_gpu" not in sys.modules:
        sys.modules["bench_gpu"] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cuda() -> str:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device (torch.cuda.is_available() is False): run these on a GPU "
                    "machine, see bench/GPU.md")
    return "cuda"


@pytest.fixture(scope="module")
def tokenizers(cuda: str) -> tuple[Path, Path]:
    try:
        return bench().tokenizer_folders(bench().ASSETS)
    except SystemExit as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def encoder_dir(tokenizers: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return bench().encoder_folder(tmp_path_factory.mktemp("enc"), tokenizers[0], ENCODER)


@pytest.fixture(scope="module")
def llama_dir(tokenizers: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return bench().llama_folder(tmp_path_factory.mktemp("llm"), tokenizers[1], LLAMA, "cpu")


def config(encoder_dir: Path, **overrides: object) -> TrainConfig:
    settings = {"base_model": str(encoder_dir), "epochs": 2, "max_epochs": 2, "min_steps": 0,
                "batch_size": 16, "max_length": 32, "val_fraction": 0.2, "seed": 5,
                "device": "cuda"}
    return TrainConfig(**{**settings, **overrides})  # type: ignore[arg-type]


def stop_after_first_epoch(record: dict) -> None:
    if record["epoch"] == 1:
        raise KeyboardInterrupt


def test_autocast_picks_bf16_where_the_gpu_has_it(cuda: str) -> None:
    half = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert amp_dtype("cuda") == half and amp_dtype("cuda", "fp16") == torch.float16
    assert amp_dtype("cuda", "fp32") is None and amp_dtype("cpu") is None
    layer = torch.nn.Linear(8, 8).to(cuda)
    with autocast(cuda):
        assert layer(torch.randn(2, 8, device=cuda)).dtype == half
    with autocast(cuda, "fp32"):
        assert layer(torch.randn(2, 8, device=cuda)).dtype == torch.float32


def test_training_on_cuda_runs_under_autocast(cuda: str, encoder_dir: Path, loaded_db: Path,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []
    real = training.autocast

    def recording(device: str, precision: str = "auto"):  # type: ignore[no-untyped-def]
        seen.append((device, precision))
        return real(device, precision)

    monkeypatch.setattr(training, "autocast", recording)
    result = train(loaded_db, QUERY, ConceptSource(), config(encoder_dir), tmp_path / "m",
                   labels_sql=LABELS, progress=False)
    assert seen and set(seen) == {("cuda", "auto")}
    assert result.epochs == 2 and all(math.isfinite(h["train_loss"]) for h in result.history)
    assert all(math.isfinite(h["loss"]) for h in result.history)
    model, _ = load_classifier(tmp_path / "m")
    assert next(model.parameters()).dtype == torch.float32  # master weights stay fp32


def test_fp16_training_uses_the_grad_scaler_and_resumes(cuda: str, encoder_dir: Path,
                                                        loaded_db: Path, tmp_path: Path) -> None:
    cfg = config(encoder_dir, precision="fp16")
    out = tmp_path / "fp16"
    with pytest.raises(KeyboardInterrupt):
        train(loaded_db, QUERY, ConceptSource(), cfg, out, labels_sql=LABELS, progress=False,
              on_epoch=stop_after_first_epoch)
    state = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=False)
    assert state["scaler"] and state["scaler"]["scale"] > 0  # the scaler was on and saved
    resumed = train(loaded_db, QUERY, ConceptSource(), cfg, out, labels_sql=LABELS,
                    progress=False)
    assert resumed.resumed and resumed.epochs == 2
    assert all(math.isfinite(h["train_loss"]) and math.isfinite(h["loss"])
               for h in resumed.history)


def test_rng_state_survives_a_checkpoint_loaded_onto_the_gpu(cuda: str, tmp_path: Path) -> None:
    torch.manual_seed(11)
    torch.rand(3, device=cuda)
    torch.save(training._rng_state(cuda), tmp_path / "rng.pt")
    expected = torch.rand(8, device=cuda)
    # what _restore does: map_location=device puts the byte tensors on the GPU
    state = torch.load(tmp_path / "rng.pt", map_location=cuda, weights_only=False)
    assert state["cuda"][0].device.type == "cuda"
    training._set_rng_state(state)
    assert torch.equal(torch.rand(8, device=cuda), expected)


def test_resume_restores_cuda_rng_and_matches_an_uninterrupted_run(
        cuda: str, encoder_dir: Path, loaded_db: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(encoder_dir)
    straight = train(loaded_db, QUERY, ConceptSource(), cfg, tmp_path / "straight",
                     labels_sql=LABELS, progress=False)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train(loaded_db, QUERY, ConceptSource(), cfg, out, labels_sql=LABELS, progress=False,
              on_epoch=stop_after_first_epoch)
    saved = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=False)["rng"]["cuda"]
    after_restore: list[list] = []
    real = training._set_rng_state

    def recording(state: dict) -> None:
        real(state)
        after_restore.append(torch.cuda.get_rng_state_all())

    monkeypatch.setattr(training, "_set_rng_state", recording)
    resumed = train(loaded_db, QUERY, ConceptSource(), cfg, out, labels_sql=LABELS,
                    progress=False)
    assert resumed.resumed and len(after_restore) == 1
    assert all(torch.equal(a, b) for a, b in zip(after_restore[0], saved, strict=True))
    for a, b in zip(resumed.history, straight.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=2e-3)  # dropout masks replayed
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=2e-3)


def texts(db: Path) -> list[str]:
    return bench().concept_texts(db)


@pytest.mark.parametrize("precision", ["auto", "fp16", "fp32"])
def test_half_precision_labels_agree_with_fp32(cuda: str, encoder_dir: Path, loaded_db: Path,
                                               precision: str) -> None:
    items = texts(loaded_db)
    ref_labels, ref_probs = EncoderModel(encoder_dir, device="cpu").predict_texts(items)
    gpu = EncoderModel(encoder_dir, device=cuda, precision=precision)
    want = amp_dtype(cuda, precision) or torch.float32
    assert next(gpu.model.parameters()).dtype == want
    labels, probs = gpu.predict_texts(items)
    tolerance = 1e-3 if precision == "fp32" else 0.03
    assert probs == pytest.approx(ref_probs, abs=tolerance)
    decisive = [i for i, p in enumerate(ref_probs) if abs(p - 0.5) > tolerance]
    assert len(decisive) > len(items) // 2  # the model is not a coin: the check means something
    assert all(labels[i] == ref_labels[i] for i in decisive)



def stored_and_cpu_reference(db: Path, encoder_dir: Path) -> tuple[list, list, list[float]]:
    """(id, probability) rows `label` stored, (id, text) of every concept, and the CPU's
    P(positive) for those texts: what a CUDA run is compared against."""
    con = connect(db, read_only=True)
    try:
        rows = con.execute("SELECT id, probability FROM predictions ORDER BY id").fetchall()
        ids_text = con.execute(ConceptSource().texts_sql(QUERY, "SELECT cui AS id FROM concepts")
                               + " ORDER BY id").fetchall()
    finally:
        con.close()
    _, ref = EncoderModel(encoder_dir, device="cpu").predict_texts([t or "" for _, t in ids_text])
    return rows, ids_text, ref

def test_label_on_cuda_writes_what_the_cpu_would(cuda: str, encoder_dir: Path,
                                                 loaded_db: Path) -> None:
    result = label(loaded_db, QUERY, ConceptSource(), encoder_dir, device=cuda, progress=False,
                   chunk_size=128)
    assert result.labelled == result.candidates == 300
    rows, ids_text, ref = stored_and_cpu_reference(loaded_db, encoder_dir)
    assert [i for i, _ in rows] == [i for i, _ in ids_text]
    assert [p for _, p in rows] == pytest.approx(ref, abs=0.03)


def test_hf_annotator_loads_onto_the_gpu_and_agrees_with_cpu(cuda: str, llama_dir: Path,
                                                             loaded_db: Path) -> None:
    prompts = [make_prompt(QUERY, str(i), t) for i, t in enumerate(texts(loaded_db)[:12])]
    on_cpu = HFAnnotator(str(llama_dir), AnnotatorOptions(device="cpu", mode="constrained"))
    on_gpu = HFAnnotator(str(llama_dir), AnnotatorOptions(device=cuda, mode="constrained"))
    on_cpu.setup(QUERY)
    on_gpu.setup(QUERY)
    assert {p.device.type for p in on_gpu.lm.parameters()} == {"cuda"}
    assert next(on_gpu.lm.parameters()).dtype == amp_dtype(cuda)
    cpu_scores = [r.score for r in on_cpu.ask(prompts)]
    gpu_scores = [r.score for r in on_gpu.ask(prompts)]
    assert gpu_scores == pytest.approx(cpu_scores, abs=0.05)
    generating = HFAnnotator(str(llama_dir), AnnotatorOptions(device=cuda))
    generating.setup(QUERY)
    replies = generating.ask(prompts)
    assert len(replies) == len(prompts) and all(isinstance(r.raw, str) for r in replies)


@pytest.mark.parametrize("workers,kind", [(0, "process"), (2, "process"), (2, "thread")])
def test_label_pipeline_on_cuda_agrees_across_worker_kinds(
        cuda: str, encoder_dir: Path, loaded_db: Path, tmp_path: Path, workers: int,
        kind: str) -> None:
    """The same chunks through pinned, non-blocking copies and the paced GPU queue: the same
    predictions whichever way the batches were prepared, and close to the CPU's."""
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(loaded_db, db)
    result = label(db, QUERY, ConceptSource(), encoder_dir, device=cuda, progress=False,
                   chunk_size=100, workers=workers, worker_kind=kind)
    assert result.labelled == result.candidates == 300
    rows, _, ref = stored_and_cpu_reference(db, encoder_dir)
    assert [p for _, p in rows] == pytest.approx(ref, abs=0.03)
