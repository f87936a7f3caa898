"""Saving and loading checkpoints: safetensors for tensors, JSON for everything else.

A checkpoint is a directory:

    model.safetensors      the weights
    config.json            model config, training config, step (human-readable)
    tokenizer.json         the vocabulary the ids refer to
    optimizer.safetensors  AdamW moments and random-generator states (only for resuming)

Nothing is ever unpickled: `torch.load` on an untrusted file can run arbitrary code,
safetensors and JSON cannot. A save writes a complete new directory beside the old one and
then swaps the two with renames, so an interrupt at any moment leaves a complete checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .model import Denoiser, ModelConfig
from .tokenizer import CharTokenizer

FORMAT = 1


def _siblings(path: Path) -> tuple[Path, Path]:
    return path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")


def save(path, model, tokenizer: CharTokenizer, meta: dict | None = None, extra_tensors: dict | None = None,
         dtype: torch.dtype | None = None) -> Path:
    """Write a checkpoint directory atomically. `meta` is stored in config.json, `extra_tensors`
    (optimizer and generator state) in optimizer.safetensors; `dtype` casts the weights
    (fp16 for a small shipped file)."""
    path = Path(path)
    tmp, old = _siblings(path)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {k: (v.to(dtype) if dtype and v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in model.state_dict().items()}
    save_file(weights, tmp / "model.safetensors")
    config = {"format": FORMAT, "model": model.cfg.to_dict(), "vocabulary": "".join(tokenizer.chars), **(meta or {})}
    (tmp / "config.json").write_text(json.dumps(config, indent=1))
    tokenizer.save(tmp / "tokenizer.json")
    if extra_tensors:
        save_file({k: v.detach().cpu().contiguous() for k, v in extra_tensors.items()}, tmp / "optimizer.safetensors")
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def _resolve(path) -> Path:
    path = Path(path)
    if not path.exists() and _siblings(path)[1].exists():
        return _siblings(path)[1]  # a save was interrupted between its two renames
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint {path} not found (train one with `dlm train --out {path}`)")
    return path


def read_config(path) -> dict:
    path = _resolve(path)
    try:
        config = json.loads((path / "config.json").read_text())
        ModelConfig(**config["model"])
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path} has no config.json; it is incomplete") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"checkpoint {path}: config.json is corrupt ({e})") from None
    return config


def _load_tensors(file: Path) -> dict:
    try:
        return load_file(file)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {file.parent} has no {file.name}; it is incomplete") from None
    except (SafetensorError, OSError) as e:
        raise ValueError(f"checkpoint {file.parent}: {file.name} is corrupt ({e})") from None


def load(path, device="cpu") -> tuple[Denoiser, CharTokenizer, dict]:
    """Load (model, tokenizer, config) from a checkpoint directory, checking they agree."""
    path = _resolve(path)
    config = read_config(path)
    cfg = ModelConfig(**config["model"])
    tokenizer = CharTokenizer.load(path / "tokenizer.json")
    chars = "".join(tokenizer.chars)
    if tokenizer.vocab_size != cfg.vocab_size or config.get("vocabulary", chars) != chars:
        raise ValueError(f"checkpoint {path}: tokenizer.json does not match the vocabulary the model was "
                         f"trained with (config.json); the files come from different checkpoints")
    model = Denoiser(cfg)
    weights = _load_tensors(path / "model.safetensors")
    try:
        model.load_state_dict({k: v.float() for k, v in weights.items()})
    except RuntimeError as e:
        raise ValueError(f"checkpoint {path}: the weights do not fit config.json "
                         f"({str(e).splitlines()[0]})") from None
    return model.to(device), tokenizer, config


def training_state(model, optimizers, gens: dict) -> dict:
    """What resuming needs beyond the weights, as one flat dict of tensors: the optimizer moments
    by parameter name, and the states of the run's random generators."""
    out = {f"rng.{k}": g.get_state() for k, g in gens.items()}
    out["rng.torch"] = torch.get_rng_state()  # dropout on the CPU draws from the global generator,
    device = next(model.parameters()).device.type
    if device in ("cuda", "mps"):  # on an accelerator from that device's own
        out[f"rng.{device}"] = getattr(torch, device).get_rng_state()
    state = {p: st for opt in optimizers for p, st in opt.state.items()}
    for name, p in model.named_parameters():
        for k, v in state.get(p, {}).items():
            out[f"opt.{name}.{k}"] = v
    return out


def restore_training_state(path, model, optimizers, gens: dict) -> None:
    """Put the `training_state` saved in checkpoint `path` back into fresh optimizers and generators."""
    tensors = _load_tensors(_resolve(path) / "optimizer.safetensors")
    for k, g in gens.items():
        g.set_state(tensors[f"rng.{k}"])
    torch.set_rng_state(tensors["rng.torch"])
    device = next(model.parameters()).device.type
    if f"rng.{device}" in tensors:  # absent when the run moved from another kind of device
        getattr(torch, device).set_rng_state(tensors[f"rng.{device}"])
    owner = {p: opt for opt in optimizers for group in opt.param_groups for p in group["params"]}
    for name, p in model.named_parameters():
        prefix = f"opt.{name}."
        state = {k[len(prefix):]: v.to(p.device) for k, v in tensors.items() if k.startswith(prefix)}
        if "step" in state:
            state["step"] = state["step"].cpu()  # AdamW keeps its step count on the CPU
        if state:
            owner[p].state[p] = state
