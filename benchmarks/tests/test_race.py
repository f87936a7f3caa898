"""benchmarks/race.py, the script behind chapter 10's numbers, run on two tiny untrained models."""

import json
import math
import statistics
import sys
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from dlm_core import checkpoint
from dlm_core.cli import DEFAULT_SAMPLER
from dlm_core.model import Denoiser

sys.path.insert(0, str(Path(__file__).parents[1]))
import race  # noqa: E402


@pytest.fixture(scope="module")
def pair(tmp_path_factory, tok):
    """A denoiser and its causal twin, untrained, as checkpoints."""
    tmp = tmp_path_factory.mktemp("race")
    paths = {}
    for causal in (False, True):
        torch.manual_seed(0)
        paths[causal] = checkpoint.save(tmp / f"causal-{causal}", Denoiser(tiny_config(causal=causal)), tok)
    return paths[False], paths[True]


def test_race_writes_what_chapter_10_reads(pair, corpus_path, tmp_path, monkeypatch, capsys):
    out = tmp_path / "race.json"
    monkeypatch.setattr(sys, "argv", ["race.py", "--diffusion", str(pair[0]), "--twin", str(pair[1]),
                                      "--out", str(out), "--data", str(corpus_path), "--samples", "3",
                                      "--repeats", "1", "--batch-repeats", "1", "--draws", "1"])
    race.main()
    record = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert out.with_suffix(".png").exists() and "| real text |" in printed
    assert out.with_suffix(".txt").read_text() == printed  # the tables, kept beside the JSON
    assert record["length"] == 32 and record["samples"] == 3
    rows = {(r["model"], r["strategy"], r["steps"]): r for r in record["rows"]}
    expected = {("diffusion", s, n) for s in ("ancestral", "confidence") for n in (8, 16, 32)}
    expected |= {("diffusion", "default", DEFAULT_SAMPLER["steps"])}
    expected |= {("autoregressive", "kv-cache", 31), ("autoregressive", "no cache", 31)}
    assert set(rows) == expected
    cached, uncached = rows[("autoregressive", "kv-cache", 31)], rows[("autoregressive", "no cache", 31)]
    assert cached["first_text"] == uncached["first_text"] and len(cached["first_text"]) == 32
    assert cached["forward_passes"] == uncached["forward_passes"] == 31
    assert all(1 <= rows[k]["forward_passes"] <= k[2] for k in rows if k[0] == "diffusion")
    for r in [*rows.values(), record["real_text"]]:  # each measure with its error over the texts
        assert 0 <= r["word_fraction_se"] <= 0.5 and 0 <= r["repeated_4grams_se"] <= 0.5
    # Untrained models are near-uniform over 65 characters: about log2(65) = 6.02 bits each
    lk = record["likelihood"]
    assert abs(lk["twin_bpc"] - 6.02) < 0.1 and abs(lk["diffusion_bpc"] - 6.02) < 0.1
    assert lk["twin_se"] == 0  # every window scored exactly: no Monte-Carlo error
    assert lk["ratio_se"] == pytest.approx(lk["diffusion_se"] / lk["twin_bpc"], abs=1e-4)
    assert lk["ratio"] == pytest.approx(lk["diffusion_bpc"] / lk["twin_bpc"], abs=1e-3)


def test_race_refuses_two_different_networks(tok):
    torch.manual_seed(0)
    denoiser = Denoiser(tiny_config())
    with pytest.raises(SystemExit, match="different networks"):
        race.check_twins(denoiser, Denoiser(tiny_config(causal=True, n_layer=1)))
    with pytest.raises(SystemExit, match="must be a denoiser"):
        race.check_twins(denoiser, denoiser)


def test_training_record_of_an_early_stopped_twin_covers_the_whole_run():
    """The shipped twin's weights are its best (step 2), but chapter 10 plots the whole run (to step 4)."""
    curve = [{"step": 0, "val_bpc": 5.0}, {"step": 2, "val_bpc": 3.0}, {"step": 4, "val_bpc": 3.5}]
    shipped = {"step": 2, "elapsed": 60.0, "history": curve[:2], "run": {"step": 4, "elapsed": 120.0, "history": curve}}
    record = race.training_record(shipped)
    assert (record["steps"], record["run_steps"], record["minutes"]) == (2, 4, 2.0)
    assert [p["step"] for p in record["curve"]] == [0, 2, 4]
    plain = race.training_record({"step": 4, "elapsed": 120.0, "history": curve})
    assert (plain["steps"], plain["run_steps"]) == (4, 4) and len(plain["curve"]) == 3


def test_jackknife_se_of_a_mean_is_the_textbook_one():
    """For the mean of per-text values the jackknife gives s / sqrt(n) exactly; every text here has
    four 4-grams, so the pooled share of repeats is the mean of the texts' shares."""
    texts = ["abababa", "abcdefg", "aaaaaaa", "abcabca", "qrstuvw"]  # 2, 0, 3, 1, 0 of four 4-grams repeat
    shares = [2 / 4, 0, 3 / 4, 1 / 4, 0]
    expected = statistics.stdev(shares) / math.sqrt(len(shares))
    assert race.jackknife_se(lambda ts: race.repeated_ngram_fraction(ts, 4), texts) == pytest.approx(expected)
    assert race.jackknife_se(len, ["only one"]) == 0.0
