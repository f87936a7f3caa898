"""Shared fixtures for the tests of dlm_core (tests/) and of the benchmark scripts (benchmarks/tests/).

The tests never touch the network. The corpus comes from the DLM_DATA environment
variable (CI points it at an offline copy of tinyshakespeare.txt); tests that need it
are skipped, with a reason, when it is not set. Everything else runs on the 65
characters of Tiny Shakespeare written out below, and on tiny models.
"""

from __future__ import annotations

import math
import os
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from dlm_core import data
from dlm_core.model import ModelConfig, carry_over_unmasked
from dlm_core.tokenizer import CharTokenizer

torch.set_num_threads(1)  # the CI machine is small and shared

# The 65 distinct characters of Tiny Shakespeare, in sorted order (test_tokenizer checks this).
SHAKESPEARE_CHARS = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Every test runs offline, with an empty cache, whatever the machine has."""
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in the tests")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def corpus_path() -> Path:
    """The offline copy of Tiny Shakespeare named by DLM_DATA (the test is skipped without it)."""
    value = os.environ.get("DLM_DATA")
    path = Path(value) if value else None
    if path is None or not path.is_file():
        reason = f"DLM_DATA={value!r} is not a file: point it at tinyshakespeare.txt to run the tests that need the corpus"
        if os.environ.get("CI"):  # in CI a skipped half of the suite would pass unnoticed
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def corpus(corpus_path) -> str:
    return data.load(corpus_path)


@pytest.fixture(scope="session")
def tok() -> CharTokenizer:
    """The Tiny Shakespeare tokenizer (66 ids, [MASK] = 65), built without reading the corpus."""
    return CharTokenizer(list(SHAKESPEARE_CHARS))


def interrupt_after(monkeypatch, n_batches):
    """Make the n_batches+1-th call of data.get_batch raise KeyboardInterrupt (Ctrl-C mid-run)."""
    real, calls = data.get_batch, []

    def get_batch(*args, **kwargs):
        if len(calls) == n_batches:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "get_batch", get_batch)


def tiny_config(**overrides) -> ModelConfig:
    """A model small enough to run hundreds of times per second on one CPU thread."""
    return ModelConfig(**{**dict(vocab_size=66, mask_id=65, block_size=32, n_layer=2, n_head=2, d_model=32),
                          **overrides})


class UniformModel(nn.Module):
    """Predicts every character with probability 1/65 (SUBS carry-over unless causal)."""

    def __init__(self, block_size=16, causal=False):
        super().__init__()
        self.cfg = SimpleNamespace(mask_id=65, vocab_size=66, block_size=block_size, causal=causal)
        self.dummy = nn.Parameter(torch.zeros(()))  # evaluate() asks for the model's device

    def forward(self, xt):
        logits = torch.zeros(*xt.shape, 66)
        logits[..., 65] = -math.inf
        return logits if self.cfg.causal else carry_over_unmasked(logits, xt, 65)


@pytest.fixture(scope="session")
def trained_checkpoint(corpus_path, tmp_path_factory) -> tuple[Path, dict]:
    """A `tiny` denoiser trained for 200 steps (a few seconds), shared by several tests.
    Tests that modify it must copy it first."""
    from dlm_core.train import TrainConfig, train
    out = tmp_path_factory.mktemp("trained") / "tiny"
    cfg = TrainConfig(preset="tiny", max_steps=200, batch_size=32, warmup_steps=20, eval_interval=200,
                      precision="fp32", seed=0)
    result = train(cfg, out, data_path=corpus_path, device="cpu", progress=False)
    return out, result


@pytest.fixture(scope="module")
def model():
    """A tiny denoiser with sharpened logits: confident, position-dependent predictions, so that
    sampling tests see real differences between strategies and seeds."""
    from dlm_core.model import Denoiser

    torch.manual_seed(0)
    m = Denoiser(tiny_config()).eval()
    with torch.no_grad():
        m.head.weight.mul_(30)
    return m
