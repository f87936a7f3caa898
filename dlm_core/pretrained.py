"""The checkpoints that ship with the course.

`load()` returns the model, tokenizer and config stored in `dlm_core/checkpoints/shakespeare/`
(fp16 safetensors + JSON, a few MB), so every reader samples from the same model without
training or downloading anything. Its config.json records how it was trained (the config
file, seed, steps, wall time and hardware); `dlm sample` and `dlm eval` use it when no
--checkpoint is given. `load(twin=True)` gives its autoregressive twin (chapter 10): the
same network with a causal mask, trained on the same budget, in `checkpoints/shakespeare-twin/`.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

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


def ship(source, command: str, dest=PATH, run=None) -> Path:
    """Copy the checkpoint in `source` to `dest` as the shipped one: fp16 weights (half the
    size; the NELBO is measured again on them), the vocabulary, and a config.json that records
    `command` (how it was trained), the machine, the steps, the wall time and the curve.
    No optimizer state: the shipped model is for sampling and evaluating, not resuming.

    When `source` is the best checkpoint an early-stopped run kept (`keep_best`), pass the
    run's own directory as `run`: its last step and whole validation curve, which go on past
    the best, are recorded too (as "run"), so the shipped config shows why training stopped."""
    model, tokenizer, saved = checkpoint.load(source)
    meta = {k: saved[k] for k in ("train", "step", "elapsed", "history", "params")}
    if run is not None:
        whole = checkpoint.read_config(run)
        meta["run"] = {"step": whole["step"], "elapsed": whole["elapsed"], "history": whole["history"]}
    meta["provenance"] = {"command": command, "machine": platform.platform(), "cpu_cores": os.cpu_count(),
                          "torch": torch.__version__}
    return checkpoint.save(dest, model, tokenizer, meta, dtype=torch.float16)
