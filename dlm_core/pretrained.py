"""The checkpoints that ship with the course.

`load()` returns the model, tokenizer and config stored in `dlm_core/checkpoints/shakespeare/`
(fp16 safetensors + JSON, a few MB), so every reader samples from the same model without
training or downloading anything. Its config.json records how it was trained (the config
file, seed, steps, wall time and hardware; `benchmarks/ship.py` writes it); `dlm sample` and `dlm eval` use it when no
--checkpoint is given. `load(twin=True)` gives its autoregressive twin (chapter 10): the
same network with a causal mask, trained on the same budget, in `checkpoints/shakespeare-twin/`.
"""

from __future__ import annotations

from pathlib import Path

from . import checkpoint
from .device import pick_device

PATH = Path(__file__).parent / "checkpoints" / "shakespeare"
TWIN_PATH = Path(__file__).parent / "checkpoints" / "shakespeare-twin"


def load(device=None, twin: bool = False):
    """(model, tokenizer, config) of the shipped denoiser, or of its autoregressive twin, on
    `device` (default: the best available)."""
    path = TWIN_PATH if twin else PATH
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"the shipped checkpoint is missing from this installation ({path}); "
                                f"reinstall the course, or pass --checkpoint DIR of a model you trained")
    return checkpoint.load(path, pick_device(device))
