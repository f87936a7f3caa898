"""benchmarks/sampler_study.py: its ReMDM sampler reduces to ancestral sampling where it should,
keeps what is given, and the script writes its JSON."""

import sys
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from dlm_core import checkpoint, sampler
from dlm_core.model import Denoiser

sys.path.insert(0, str(Path(__file__).parents[1]))
import sampler_study  # noqa: E402


def test_remdm_without_remasking_is_ancestral_sampling(model, tok, monkeypatch):
    """With eta = 0 nothing is masked again and a masked character is revealed with probability
    (alpha_s - alpha_t) / (1 - alpha_t): ReMDM draws its random numbers as sample() does, so with
    the same seed it writes the same texts."""
    monkeypatch.setattr(sampler_study, "N_TEXTS", 3)
    texts = sampler_study.remdm(model, tok, eta=0.0, steps=8, seed=4, length=32, prompt="ROMEO:")
    assert texts == sampler.sample(model, tok, length=32, prompt="ROMEO:", steps=8, n_samples=3, seed=4).texts


def test_remdm_keeps_the_prompt_and_fills_every_hole(model, tok, monkeypatch):
    """Remasking touches only what the sampler wrote, and the last step reveals everything."""
    monkeypatch.setattr(sampler_study, "N_TEXTS", 4)
    texts = sampler_study.remdm(model, tok, eta=0.5, steps=8, seed=0, length=32, prompt="ROMEO:")
    assert all(t.startswith("ROMEO:") and len(t) == 32 and tok.decode(tok.encode(t)) == t for t in texts)
    assert texts != sampler_study.remdm(model, tok, eta=0.0, steps=8, seed=0, length=32, prompt="ROMEO:")


def test_candidates_against_the_bars():
    """Repetition against real text's mean, time against the baseline's median time; a candidate
    exactly on every bar meets them, one a little past any bar does not."""
    real = {"words": [0.9, 0.01], "repeats": [0.08, 0.01]}
    candidates = {sampler_study.BASELINE: {"words": [0.7, 0.0], "repeats": [0.02, 0.0], "seconds": 10.0},
                  "on the bars": {"words": [0.88, 0.0], "repeats": [0.12, 0.0], "seconds": 15.0},
                  "too slow": {"words": [0.95, 0.0], "repeats": [0.04, 0.0], "seconds": 15.1},
                  "too repetitive": {"words": [0.95, 0.0], "repeats": [0.121, 0.0], "seconds": 5.0}}
    sampler_study.against_bars(candidates, real)
    assert candidates["on the bars"]["repeats_x_real"] == pytest.approx(1.5)
    assert candidates["on the bars"]["time_x_baseline"] == pytest.approx(1.5)
    assert candidates[sampler_study.BASELINE]["repeats_x_real"] == pytest.approx(0.25)
    assert {name: c["meets_bars"] for name, c in candidates.items()} == {
        sampler_study.BASELINE: False, "on the bars": True, "too slow": False, "too repetitive": False}


def test_without_the_baseline_nothing_is_timed_against_it():
    candidates = {"confidence-64": {"words": [0.9, 0.0], "repeats": [0.04, 0.0], "seconds": 3.0}}
    sampler_study.against_bars(candidates, {"words": [0.9, 0.01], "repeats": [0.08, 0.01]})
    assert candidates["confidence-64"] == {"words": [0.9, 0.0], "repeats": [0.04, 0.0], "seconds": 3.0,
                                           "repeats_x_real": 0.5}


def test_the_script_writes_its_json(corpus_path, tok, tmp_path, monkeypatch):
    monkeypatch.setattr(sampler_study, "LENGTH", 32)
    torch.manual_seed(0)
    path = checkpoint.save(tmp_path / "run", Denoiser(tiny_config()), tok)
    out = tmp_path / "study.json"
    result = sampler_study.main(["--checkpoint", str(path), "--seeds", "0", "1", "--data", str(corpus_path),
                                 "--only", "ancestral-64", "ReMDM-cap 0.02, top-p 0.9", "--out", str(out)])
    assert out.exists() and set(result["candidates"]) == {"ancestral-64", "ReMDM-cap 0.02, top-p 0.9"}
    assert 0 < result["real"]["words"][0] <= 1 and result["candidates"]["ancestral-64"]["seconds"] > 0
    assert result["candidates"]["ancestral-64"]["time_x_baseline"] == 1.0 and result["bars"] == sampler_study.BARS
