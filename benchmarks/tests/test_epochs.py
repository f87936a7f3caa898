"""benchmarks/epochs.py: steps become characters and epochs of what the run trained on."""

import json
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from dlm_core import checkpoint, data
from dlm_core.model import Denoiser
from dlm_core.train import TrainConfig

sys.path.insert(0, str(Path(__file__).parents[1]))
import epochs  # noqa: E402

HISTORY = [{"step": 0, "val_bpc": 6.0}, {"step": 100, "val_bpc": 2.5, "train_bpc": 2.6},
           {"step": 200, "val_bpc": 2.4, "train_bpc": 2.3}, {"step": 300, "val_bpc": 2.45, "train_bpc": 2.1}]


def fake_run(path, tok, **train):
    cfg = TrainConfig(preset="tiny", batch_size=8, **train)
    return checkpoint.save(path, Denoiser(tiny_config()), tok, {"train": asdict(cfg), "history": HISTORY})


@pytest.mark.parametrize("holdout", [0.0, 0.1])
def test_steps_become_epochs_of_the_characters_trained_on(tmp_path, tok, corpus, corpus_path, holdout):
    torch.manual_seed(0)
    run = fake_run(tmp_path / "run", tok, holdout_fraction=holdout)
    curves = epochs.main([str(run), "--data", str(corpus_path), "--out", str(tmp_path / "e.json")])
    trained_on = int((1 - holdout) * len(data.split(corpus)[0])) if holdout else len(data.split(corpus)[0])
    block = tiny_config().block_size
    points = curves["run"]["points"]
    assert curves["run"]["validated_on"] == ("held-out 10% of the training split" if holdout else "validation split")
    assert [p["characters"] for p in points] == [0, 100 * 8 * block, 200 * 8 * block, 300 * 8 * block]
    assert points[2]["epochs"] == pytest.approx(200 * 8 * block / trained_on)
    assert epochs.lowest(points)["step"] == 200
    assert json.loads((tmp_path / "e.json").read_text())["run"]["points"] == points and (tmp_path / "e.png").exists()


def test_a_shipped_best_checkpoint_shows_its_whole_run(tmp_path, tok, corpus_path):
    """ship.py keeps the whole run's curve as "run" beside the best step's: the curve is the whole run's."""
    cfg = TrainConfig(preset="tiny", batch_size=8)
    whole = {"step": 400, "history": HISTORY + [{"step": 400, "val_bpc": 2.6, "train_bpc": 2.0}]}
    best = checkpoint.save(tmp_path / "best", Denoiser(tiny_config()), tok,
                           {"train": asdict(cfg), "history": HISTORY[:3], "run": whole})
    curves = epochs.main([f"twin={best}", "--data", str(corpus_path), "--out", str(tmp_path / "e.json")])
    assert [p["step"] for p in curves["twin"]["points"]] == [0, 100, 200, 300, 400]
