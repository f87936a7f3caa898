"""The checkpoint that ships with the course.

`load()` returns the model, tokenizer and config stored in `dlm_core/checkpoints/shakespeare/`
(fp16 safetensors + JSON, a few MB), so every reader samples from the same model without
training or downloading anything. Its config.json records how it was trained (the config
file, seed, steps, wall time and hardware); `dlm sample` and `dlm eval` use it when no
--checkpoint is given.
"""

from __future__ import annotations

from pathlib import Path

from . import checkpoint
from .device import pick_device

PATH = Path(__file__).parent / "checkpoints" / "shakespeare"


def load(device=None):
    """(model, tokenizer, config) of the shipped checkpoint, on `device` (default: the best available)."""
    if not (PATH / "config.json").exists():
        raise FileNotFoundError(f"the shipped checkpoint is missing from this installation ({PATH}); "
                                f"reinstall the course, or pass --checkpoint DIR of a model you trained")
    return checkpoint.load(PATH, pick_device(device))
