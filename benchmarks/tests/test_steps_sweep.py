"""benchmarks/steps_sweep.py writes one row per strategy and number of steps, with errors over seeds."""

import sys
from pathlib import Path

import torch

from conftest import tiny_config
from dlm_core import checkpoint
from dlm_core.model import Denoiser

sys.path.insert(0, str(Path(__file__).parents[1]))
import steps_sweep  # noqa: E402


def test_the_script_writes_its_json(corpus_path, tok, tmp_path, monkeypatch):
    monkeypatch.setattr(steps_sweep, "LENGTH", 32)
    torch.manual_seed(0)
    path = checkpoint.save(tmp_path / "run", Denoiser(tiny_config()), tok)
    out = tmp_path / "sweep.json"
    result = steps_sweep.main(["--checkpoint", str(path), "--seeds", "0", "1", "--steps", "2", "4",
                               "--data", str(corpus_path), "--out", str(out)])
    assert out.exists() and len(result["rows"]) == 2 * len(steps_sweep.STRATEGIES)
    row = result["rows"][0]
    assert row["steps"] == 2 and row["kwargs"]["steps"] == 2 and len(row["sample"]) == 32
    assert row["words"][1] >= 0 and 0 < result["real"]["words"][0] <= 1
