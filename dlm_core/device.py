"""Where to run, and in what precision.

Mixed precision (bf16 autocast) is used where the hardware does bf16 matrix products
natively: CUDA GPUs from Ampere on, and CPUs with AVX-512 BF16 or AMX, where it roughly
doubles the matmul rate. On MPS the course stays in fp32, the safe choice across macOS versions.
"""

from __future__ import annotations

import contextlib
import os

import torch

from .cpu_attention import CPUAttention

PRECISIONS = ("auto", "fp32", "bf16")


def pick_device(name: str | None = None) -> torch.device:
    """The device to run on: `name` if given, else the environment variable DLM_DEVICE if set
    (e.g. `DLM_DEVICE=cpu` on a Mac, to get the CPU's numbers), else CUDA, then MPS, then the CPU.
    A device that is not here is a one-line error naming what is."""
    source = "" if name else " (from DLM_DEVICE)"
    name = name or os.environ.get("DLM_DEVICE") or None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if name is None:
        return torch.device(next(kind for kind in ("cuda", "mps", "cpu") if available[kind]))
    if not available.get(name.split(":")[0], False):
        raise ValueError(f"device {name!r}{source} is not available here; use one of "
                         f"{', '.join(k for k, ok in available.items() if ok)}")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """oneDNN's own check: true on x86 CPUs with AVX-512 (BF16) or AMX, false on Apple silicon."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """What `precision` means on `device`: fp32 or bf16 ("auto": bf16 where the hardware is fast at it)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    fast = (device.type == "cuda" and torch.cuda.is_bf16_supported()) or \
           (device.type == "cpu" and cpu_has_fast_bf16())
    return "bf16" if fast else "fp32"


def autocast(device: torch.device, precision: str = "auto"):
    """A context manager running the forward pass in bf16 where that is chosen, else a no-op."""
    if resolve_precision(device, precision) == "fp32":
        return contextlib.nullcontext()
    if device.type == "cpu":
        return cpu_autocast()
    return torch.autocast(device.type, dtype=torch.bfloat16)


@contextlib.contextmanager
def cpu_autocast():
    """bf16 autocast on the CPU, with attention through the speed path of cpu_attention.py."""
    with torch.autocast("cpu", dtype=torch.bfloat16), CPUAttention():
        yield
