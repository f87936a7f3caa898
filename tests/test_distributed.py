"""Distributed training: processes that split a global batch compute the single-process result."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from dlm_core.distributed import shard_loss
from dlm_core.masking import nelbo_per_sequence
from dlm_core.model import Denoiser, ModelConfig
from dlm_core.train import batch_loss


@pytest.mark.parametrize("causal", [False, True])
def test_row_shards_average_to_the_whole_batch(causal):
    """Two halves of a batch, each scored with the noise drawn for the whole batch, average to
    the whole batch's loss: this is what lets DDP's gradient averaging reproduce one process."""
    torch.manual_seed(0)
    model = Denoiser(ModelConfig(vocab_size=6, mask_id=5, block_size=12, n_layer=1, n_head=2, d_model=8, causal=causal))
    x = torch.randint(5, (8, 12 + causal))
    halves = [shard_loss(model, model.cfg, x, torch.Generator().manual_seed(3), rank, 2) for rank in (0, 1)]
    whole = batch_loss(model, x, torch.Generator().manual_seed(3))
    torch.testing.assert_close((halves[0] + halves[1]) / 2, whole)
    if not causal:
        assert whole == nelbo_per_sequence(model, x, torch.Generator().manual_seed(3)).mean()


def _dlm_train(out, corpus_path, nproc: int | None = None, extra=()):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] \
        if nproc else [sys.executable]
    settings = () if "--resume" in extra else ("--preset", "tiny", "--max-steps", "6", "--batch-size", "8",
                                                 "--precision", "fp32")  # a resumed run keeps its own
    cmd = [*launcher, "-m", "dlm_core.cli", "train", *settings, "--device", "cpu", "--quiet",
           "--data", str(corpus_path), "--out", str(out), *extra]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("optimizer, schedule", [("adamw", None), ("muon", None), ("adamw", [[0, 16], [0.5, 32]])])
def test_two_gloo_processes_match_one(tmp_path, corpus_path, optimizer, schedule):
    """torchrun with 2 CPU processes (gloo) trains to the same weights as 1 process on the same
    global batch, also when a window schedule changes the number of windows per step, and only
    rank 0 reports and writes the checkpoint."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"optimizer": optimizer, "window_schedule": schedule}))
    _dlm_train(tmp_path / "one", corpus_path, extra=("--config", str(config)))
    stdout = _dlm_train(tmp_path / "two", corpus_path, nproc=2, extra=("--config", str(config)))
    assert stdout.count("trained") == 1
    one, two = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    assert one.keys() == two.keys()
    for name in one:
        if optimizer == "muon":
            # Muon's Newton-Schulz iteration amplifies the rounding of a different all-reduce order
            # in a few elements (one was seen 1.2e-4 apart), so each tensor's RMS difference is
            # compared: rounding leaves it near 4e-6, while a wrong split of the batch changes every
            # update, and the last update alone moves each tensor by 4e-5 RMS or more.
            assert (two[name] - one[name]).pow(2).mean().sqrt() < 2e-5, name
        else:
            torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5)
    saved = json.loads((tmp_path / "two" / "config.json").read_text())
    assert saved["step"] == 6 and saved["history"][-1]["step"] == 6


@pytest.mark.slow
def test_two_processes_resume_a_run_exactly(tmp_path, corpus_path, monkeypatch):
    """A run interrupted at step 3 and resumed under torchrun with 2 processes ends where an
    uninterrupted single-process run of 6 steps ends."""
    from dlm_core import data
    from dlm_core.train import TrainConfig, train

    calls, get_batch = [], data.get_batch

    def interrupting_get_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return get_batch(*args, **kwargs)

    monkeypatch.setattr(data, "get_batch", interrupting_get_batch)
    cfg = TrainConfig(preset="tiny", max_steps=6, batch_size=8, precision="fp32")
    train(cfg, tmp_path / "resumed", data_path=corpus_path, device="cpu", progress=False)
    assert json.loads((tmp_path / "resumed" / "config.json").read_text())["step"] == 3
    _dlm_train(tmp_path / "resumed", corpus_path, nproc=2, extra=("--resume",))
    _dlm_train(tmp_path / "straight", corpus_path)
    one = load_file(tmp_path / "straight" / "model.safetensors")
    two = load_file(tmp_path / "resumed" / "model.safetensors")
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5)
