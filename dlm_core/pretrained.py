"""The checkpoints that ship with the course.

Every reader samples from the same model without training or downloading anything: fp16
safetensors + JSON, a few MB, with a config.json that records how it was trained (`benchmarks/ship.py`).
Its autoregressive twin (chapter 10) is the same network with a causal mask, trained on the
same budget.
"""

from __future__ import annotations

from pathlib import Path

from . import checkpoint
from .device import pick_device

PATH = Path(__file__).parent / "checkpoints" / "shakespeare"
TWIN_PATH = Path(__file__).parent / "checkpoints" / "shakespeare-twin"


def load(device=None, twin: bool = False):
    """(model, tokenizer, config) of the shipped denoiser, or of its twin, on `device` (default: the best)."""
    path = TWIN_PATH if twin else PATH
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"the shipped checkpoint is missing from this installation ({path}); "
                                f"reinstall the course, or pass --checkpoint DIR of a model you trained")
    return checkpoint.load(path, pick_device(device))
