"""Where a model runs and in which precision: the one rule for training and inference.

torch is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from umlsgraph.errors import ModelError
from umlsgraph.settings import PRECISIONS


def resolve_device(name: str = "auto") -> str:
    """'auto' -> cuda when available, else mps, else cpu; anything else is checked and kept."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"--device {name}: CUDA is not available here; use --device cpu or auto")
    return name


def amp_dtype(device: str, precision: str = "auto") -> Any:
    """The half-precision dtype for `device`, or None for plain fp32.

    The one rule for training autocast, the GradScaler (on exactly when this is fp16) and
    labelling in half precision: on CUDA bf16 where the GPU supports it, else fp16; never on
    CPU or MPS, where half precision is slower or unsupported.
    """
    import torch

    if precision not in PRECISIONS:
        raise ModelError(f"--precision {precision}: choose from {', '.join(PRECISIONS)}")
    if not device.startswith("cuda") or precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ModelError("--precision bf16: this GPU has no bf16; use --precision fp16 or auto")
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: str, precision: str = "auto") -> contextlib.AbstractContextManager[Any]:
    """Autocast to `amp_dtype(device, precision)` on CUDA; a no-op elsewhere or in fp32."""
    import torch

    dtype = amp_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)
