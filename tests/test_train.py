"""Training: the loss falls, the schedule, budgets, and exact resumption after an interrupt.

These tests train `tiny` models on the real corpus (DLM_DATA) for a few seconds at most.
"""

import math
import os
import signal

import pytest
import torch
from safetensors.torch import load_file

from conftest import interrupt_after
from dlm_core import checkpoint, data
from dlm_core import train as train_module
from dlm_core.evaluate import evaluate
from dlm_core.tokenizer import CharTokenizer
from dlm_core.train import TrainConfig, best_path, estimates_since_best, lr_at, train, window_at


def quick_config(**overrides) -> TrainConfig:
    """A few steps of a tiny model in fp32 (bit-for-bit reproducible on a CPU)."""
    return TrainConfig(**{**dict(preset="tiny", max_steps=12, batch_size=8, warmup_steps=4, eval_interval=1000,
                                 eval_windows=8, ckpt_interval=1000, precision="fp32", seed=0), **overrides})


def tensors(path, name="model.safetensors") -> dict:
    return load_file(path / name)


# --- the learning-rate schedule ----------------------------------------------------------


def test_lr_warmup_then_cosine():
    """Linear warm-up to lr over warmup_steps, then a cosine down to lr * min_lr_ratio at max_steps."""
    cfg = TrainConfig(lr=1e-3, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(10, cfg) == pytest.approx(1e-3)
    assert lr_at(35, cfg) == pytest.approx(1e-4 + 0.9e-3 * (1 + math.cos(math.pi / 4)) / 2)  # a quarter in
    assert lr_at(60, cfg) == pytest.approx(0.55e-3)  # half way: the mean of lr and lr * min_lr_ratio
    assert lr_at(110, cfg) == pytest.approx(1e-4)
    assert lr_at(500, cfg) == pytest.approx(1e-4)  # and it stays there
    decay = [lr_at(s, cfg) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))


def test_lr_follows_the_clock_with_a_time_budget():
    """With a time budget the cosine runs over elapsed seconds, whatever the step: peak at 0 s,
    the mean of peak and floor half way, the floor when the time is up."""
    cfg = TrainConfig(lr=2e-3, warmup_steps=4, max_steps=None, time_budget=10, min_lr_ratio=0.1)
    assert lr_at(3, cfg, elapsed=9.0) == pytest.approx(2e-3)  # still warming up
    assert lr_at(12, cfg, elapsed=0.0) == pytest.approx(2e-3)
    assert lr_at(12, cfg, elapsed=5.0) == lr_at(5000, cfg, elapsed=5.0) == pytest.approx(1.1e-3)
    assert lr_at(12, cfg, elapsed=10.0) == lr_at(12, cfg, elapsed=99.0) == pytest.approx(2e-4)


def test_window_schedule_keeps_the_characters_per_step():
    """The last entry reached sets the window length; the number of windows makes up the
    difference, so every step trains on batch_size * block_size characters."""
    cfg = TrainConfig(batch_size=8, window_schedule=[[0, 8], [0.5, 16], [0.75, 32]])
    assert window_at(0.0, cfg, 32) == window_at(0.49, cfg, 32) == (32, 8)
    assert window_at(0.5, cfg, 32) == (16, 16)
    assert window_at(0.75, cfg, 32) == window_at(1.0, cfg, 32) == (8, 32)
    assert window_at(0.3, TrainConfig(batch_size=8), 32) == (8, 32)  # no schedule: the full context
    with pytest.raises(ValueError, match="at most the model's context"):
        window_at(0.0, TrainConfig(batch_size=8, window_schedule=[[0, 64]]), 32)
    with pytest.raises(ValueError, match="divide batch_size"):
        window_at(0.0, TrainConfig(batch_size=3, window_schedule=[[0, 8]]), 12)


def test_training_follows_the_window_schedule(tmp_path, corpus_path, monkeypatch):
    """A step budget of 20 with 4 warm-up steps: progress (step - 4) / 16 reaches 0.5 at step 12."""
    real, shapes = data.get_batch, []

    def get_batch(ids, batch_size, block_size, generator):
        shapes.append((batch_size, block_size))
        return real(ids, batch_size, block_size, generator)

    monkeypatch.setattr(data, "get_batch", get_batch)
    cfg = quick_config(max_steps=20, window_schedule=[[0, 16], [0.5, 32]])
    train(cfg, tmp_path / "run", data_path=corpus_path, device="cpu", progress=False)
    assert shapes == [(16, 16)] * 12 + [(8, 32)] * 8


def test_a_window_schedule_that_does_not_fit_the_model_fails_before_training(tmp_path, corpus_path):
    with pytest.raises(ValueError, match="at most the model's context"):
        train(quick_config(window_schedule=[[0, 16], [0.5, 64]]), tmp_path / "run", data_path=corpus_path,
              device="cpu", progress=False)
    assert not (tmp_path / "run").exists()


# --- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(preset="huge"), "unknown model preset 'huge'"),
    (dict(estimator="exact"), "unknown estimator 'exact'"),
    (dict(max_steps=None, time_budget=None), "give a step budget"),
    (dict(batch_size=0), "batch_size must be at least 1"),
    (dict(eval_interval=0), "eval_interval must be at least 1"),
    (dict(lr=0.0), "lr must be positive"),
    (dict(lr=-1e-3), "lr must be positive"),
    (dict(lr=float("nan")), "lr must be positive"),
    (dict(patience=0), "patience must be at least 1"),
    (dict(holdout_fraction=0.5), "holdout_fraction must be at least 0 and below 0.5"),
    (dict(holdout_fraction=-0.1), "holdout_fraction must be at least 0 and below 0.5"),
    (dict(lr="fast"), "setting lr must be float, got 'fast'"),
    (dict(model=[1]), "setting model must be dict"),
    (dict(keep_best=1), "setting keep_best must be bool"),
    (dict(batch_size=True), "setting batch_size must be int"),
    (dict(window_schedule=[[0.1, 64]]), "progress starting at 0"),
    (dict(window_schedule=[[0, 64], [0.5, 128], [0.5, 256]]), "rising below 1"),
    (dict(window_schedule=[[0, 64], [1.0, 128]]), "rising below 1"),
    (dict(window_schedule=[[0, 64, 128]]), r"\[\[progress, length\], ...\]"),
    (dict(window_schedule=[64, 128]), r"\[\[progress, length\], ...\]"),
    (dict(window_schedule=[[0, 0]]), "lengths must be positive whole numbers"),
    (dict(window_schedule=[[0, 64.5]]), "lengths must be positive whole numbers"),
])
def test_train_config_rejects_bad_settings(kwargs, message):
    """Every bad setting is a ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_train_config_rejects_zero_steps():
    """max_steps must be at least 1, like batch_size: a run of 0 steps would save nothing."""
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(max_steps=0)


# --- a real (short) run -------------------------------------------------------------------


def test_loss_falls(trained_checkpoint):
    """200 steps take the validation NELBO from about log2(65) bits/char (uniform) down by over 1 bit."""
    _, result = trained_checkpoint
    first, last = result["history"][0], result["history"][-1]
    assert (first["step"], last["step"], result["steps"]) == (0, 200, 200)
    assert abs(first["val_bpc"] - math.log2(65)) < 0.3
    assert first["val_bpc"] - last["val_bpc"] > 1.0


def test_checkpoint_holds_the_trained_model(trained_checkpoint, corpus):
    """Reloaded, the checkpoint reproduces the run's last validation number exactly, and records the run."""
    path, result = trained_checkpoint
    model, tok, config = checkpoint.load(path)
    assert tok == CharTokenizer.from_text(corpus)
    val_ids = tok.encode(data.split(corpus)[1])
    bpc, _ = evaluate(model, val_ids, torch.Generator().manual_seed(1234), draws=2, max_windows=64,
                      estimator="any-order")
    assert bpc == pytest.approx(result["history"][-1]["val_bpc"], abs=1e-9)
    assert config["step"] == 200 and config["train"]["max_steps"] == 200
    assert config["params"] == model.num_params() == result["params"]
    assert config["history"] == result["history"]


def test_refuses_to_overwrite_a_checkpoint(trained_checkpoint, corpus_path):
    """Training into a directory that already holds a checkpoint, without resume, is an error."""
    path, _ = trained_checkpoint
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        train(quick_config(), path, data_path=corpus_path, device="cpu", progress=False)


def test_resume_with_another_vocabulary_rejected(trained_checkpoint, corpus, monkeypatch, tmp_path):
    """Resuming on a text whose characters differ would shift every id: ValueError."""
    import shutil
    path = shutil.copytree(trained_checkpoint[0], tmp_path / "copy")
    monkeypatch.setattr(data, "load", lambda path=None: corpus.replace("$", "S"))  # 64 characters
    with pytest.raises(ValueError, match="different vocabulary"):
        train(quick_config(), path, resume=True, device="cpu", progress=False)


# --- resuming ------------------------------------------------------------------------------


def run_interrupted_and_resumed(cfg, out, corpus_path, monkeypatch, capsys):
    """Train cfg.max_steps steps with a Ctrl-C half way, then resume to the end."""
    real = data.get_batch
    interrupt_after(monkeypatch, cfg.max_steps // 2)
    train(cfg, out, data_path=corpus_path, device="cpu", progress=False)
    assert f"interrupted at step {cfg.max_steps // 2}" in capsys.readouterr().out
    assert checkpoint.read_config(out)["step"] == cfg.max_steps // 2
    monkeypatch.setattr(data, "get_batch", real)
    return train(cfg, out, data_path=corpus_path, resume=True, device="cpu", progress=False)


def assert_same_run(a, b):
    for name in ("model.safetensors", "optimizer.safetensors"):  # weights, AdamW moments, generator states
        ta, tb = tensors(a, name), tensors(b, name)
        assert ta.keys() == tb.keys()
        for k in ta:
            assert torch.equal(ta[k], tb[k]), k


def test_resume_is_exact(tmp_path, corpus_path, monkeypatch, capsys):
    """12 steps in one go, and 6 steps + Ctrl-C + resume for 6 more, end with identical weights,
    optimizer moments and random generators."""
    cfg = quick_config()
    whole = train(cfg, tmp_path / "whole", data_path=corpus_path, device="cpu", progress=False)
    resumed = run_interrupted_and_resumed(cfg, tmp_path / "split", corpus_path, monkeypatch, capsys)
    assert whole["steps"] == resumed["steps"] == 12
    assert_same_run(tmp_path / "whole", tmp_path / "split")
    assert resumed["history"][-1]["val_bpc"] == whole["history"][-1]["val_bpc"]


def test_resume_is_exact_with_a_window_schedule(tmp_path, corpus_path, monkeypatch, capsys):
    """The window length follows the restored step, so a resumed run switches where it would have."""
    cfg = quick_config(window_schedule=[[0, 16], [0.75, 32]])
    train(cfg, tmp_path / "whole", data_path=corpus_path, device="cpu", progress=False)
    run_interrupted_and_resumed(cfg, tmp_path / "split", corpus_path, monkeypatch, capsys)
    assert_same_run(tmp_path / "whole", tmp_path / "split")


def test_resume_is_exact_with_dropout(tmp_path, corpus_path, monkeypatch, capsys):
    """Resumption is exact for a model with dropout too (the `small` preset uses dropout 0.1)."""
    cfg = quick_config(model={"dropout": 0.1})
    train(cfg, tmp_path / "whole", data_path=corpus_path, device="cpu", progress=False)
    run_interrupted_and_resumed(cfg, tmp_path / "split", corpus_path, monkeypatch, capsys)
    assert_same_run(tmp_path / "whole", tmp_path / "split")


# --- time budgets --------------------------------------------------------------------------


def test_time_budget(tmp_path, corpus_path):
    """With time_budget and no max_steps, the run ends on time, with a final estimate and checkpoint."""
    budget = 2.0
    cfg = quick_config(max_steps=None, time_budget=budget)
    result = train(cfg, tmp_path / "run", data_path=corpus_path, device="cpu", progress=False)
    assert budget - 0.5 < result["elapsed"] < budget + 1.0
    saved = checkpoint.read_config(tmp_path / "run")
    assert saved["step"] == result["steps"] == result["history"][-1]["step"] > 10


def test_time_budget_with_a_step_cap(tmp_path, corpus_path):
    """max_steps caps a time-budget run: whichever comes first ends it."""
    result = train(quick_config(max_steps=7, time_budget=60.0), tmp_path / "run", data_path=corpus_path,
                   device="cpu", progress=False)
    assert result["steps"] == 7 and result["elapsed"] < 60


def test_tiny_time_budget_still_saves(tmp_path, corpus_path):
    """A budget used up before the first step still leaves a checkpoint and an estimate."""
    result = train(quick_config(max_steps=None, time_budget=0.001), tmp_path / "run", data_path=corpus_path,
                   device="cpu", progress=False)
    assert checkpoint.read_config(tmp_path / "run")["step"] == result["steps"] == 0


# --- early stopping ------------------------------------------------------------------------


def test_estimates_since_best():
    """Counted from the history: 0 when the last estimate is the best; ties keep the first best."""
    history = lambda *values: [{"val_bpc": v} for v in values]  # noqa: E731
    assert estimates_since_best([]) == 0
    assert estimates_since_best(history(5.0, 4.0, 3.0)) == 0
    assert estimates_since_best(history(5.0, 3.0, 3.5, 4.0)) == 2
    assert estimates_since_best(history(5.0, 3.0, 3.0)) == 1


def scripted_validation(monkeypatch, values):
    """Make the run's validation estimates the given numbers, one per estimate, in order."""
    values = iter(values)
    monkeypatch.setattr(train_module, "evaluate", lambda *args, **kwargs: (next(values), 0.0))


def test_patience_stops_and_keep_best_keeps_the_best_weights(tmp_path, corpus_path, monkeypatch):
    """Estimates after steps 0..4 of 5, 4, 3, 3.5, 3.6: with patience 2 the run stops at step 4,
    and <out>-best holds the weights of step 2, exactly those of a run that ends at step 2."""
    scripted_validation(monkeypatch, [5.0, 4.0, 3.0, 3.5, 3.6, 9.9, 9.9])
    cfg = quick_config(eval_interval=1, keep_best=True, patience=2)
    result = train(cfg, tmp_path / "run", data_path=corpus_path, device="cpu", progress=False)
    assert result["steps"] == 4 and [h["step"] for h in result["history"]] == [0, 1, 2, 3, 4]
    assert checkpoint.read_config(tmp_path / "run")["step"] == 4
    best = best_path(tmp_path / "run")
    assert best == tmp_path / "run-best" and checkpoint.read_config(best)["step"] == 2
    assert not (best / "optimizer.safetensors").exists()  # for sampling and evaluating, not resuming
    scripted_validation(monkeypatch, [5.0, 4.0, 3.0])
    train(quick_config(max_steps=2, eval_interval=1), tmp_path / "short", data_path=corpus_path,
          device="cpu", progress=False)
    ta, tb = tensors(best), tensors(tmp_path / "short")
    assert all(torch.equal(ta[k], tb[k]) for k in tb)


def test_holdout_validates_on_the_training_splits_tail(tmp_path, corpus, corpus_path, monkeypatch):
    """With holdout_fraction=0.05 the estimates see the last 5% of the training split and the
    batches only the first 95%; the validation split is seen by neither."""
    seen, real_get_batch = {}, data.get_batch

    def fake_evaluate(model, ids, *args, **kwargs):
        seen["val"] = ids
        return 0.0, 0.0

    def get_batch(ids, *args):
        seen["train"] = ids
        return real_get_batch(ids, *args)

    monkeypatch.setattr(train_module, "evaluate", fake_evaluate)
    monkeypatch.setattr(data, "get_batch", get_batch)
    train(quick_config(max_steps=2, holdout_fraction=0.05), tmp_path / "run", data_path=corpus_path,
          device="cpu", progress=False)
    tok, (train_text, _) = CharTokenizer.from_text(corpus), data.split(corpus)
    cut = int(0.95 * len(train_text))
    assert torch.equal(seen["train"], tok.encode(train_text[:cut]))
    assert torch.equal(seen["val"], tok.encode(train_text[cut:]))


def test_ctrl_c_mid_step_lets_the_step_finish(tmp_path, corpus_path, monkeypatch, capsys):
    """A real SIGINT during step 4's batch: step 4 completes, the run saves at step 4, and its
    weights and optimizer are those of a run that stopped cleanly after 4 steps."""
    cfg = quick_config(max_steps=4)
    train(cfg, tmp_path / "clean", data_path=corpus_path, device="cpu", progress=False)
    real, calls = data.get_batch, []

    def ctrl_c_in_step_4(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "get_batch", ctrl_c_in_step_4)
    before = signal.getsignal(signal.SIGINT)  # Python's default, or "ignore" in a shell's background job
    result = train(quick_config(max_steps=12), tmp_path / "cut", data_path=corpus_path, device="cpu",
                   progress=False)
    assert result["interrupted"] and "interrupted at step 4" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGINT) is before  # Ctrl-C does afterwards what it did before
    for name in ("model.safetensors", "optimizer.safetensors"):
        a, b = tensors(tmp_path / "clean", name), tensors(tmp_path / "cut", name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_diverged_run_stops_and_keeps_its_last_good_checkpoint(tmp_path, corpus_path, monkeypatch):
    """A nan loss at step 5 stops the run with a one-line error before the nan reaches the weights;
    the checkpoint saved at step 4 is left as it was, not overwritten with dead weights."""
    real, calls = train_module.batch_loss, []

    def nan_at_step_5(*args, **kwargs):
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) == 6 else loss

    monkeypatch.setattr(train_module, "batch_loss", nan_at_step_5)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=f"training diverged: the gradient norm is nan at step 5; {out} keeps "
                                         "its last good checkpoint, step 4"):
        train(quick_config(ckpt_interval=2), out, data_path=corpus_path, device="cpu", progress=False)
    assert checkpoint.read_config(out)["step"] == 4
    assert all(torch.isfinite(w).all() for w in tensors(out).values())


def kill_weights_at(monkeypatch, step: int) -> None:
    """Make AdamW's update of `step` (counted from 1) turn every weight it updates into nan."""
    real, calls = torch.optim.AdamW.step, []

    def dead_at_step(opt, *args, **kwargs):
        calls.append(1)
        real(opt, *args, **kwargs)
        if len(calls) == step:
            for p in (p for group in opt.param_groups for p in group["params"]):
                p.data.fill_(float("nan"))

    monkeypatch.setattr(torch.optim.AdamW, "step", dead_at_step)


def test_dead_weights_are_never_saved(tmp_path, corpus_path, monkeypatch):
    """Weights that went nan in the update of a step that is then saved are refused."""
    kill_weights_at(monkeypatch, 2)
    with pytest.raises(ValueError, match="the weights are not finite at step 2"):
        train(quick_config(ckpt_interval=2), tmp_path / "run", data_path=corpus_path, device="cpu", progress=False)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_dead_weights_at_the_last_step_are_a_one_line_error(tmp_path, corpus_path, monkeypatch):
    """The last step's update goes through the final save, not a periodic one: weights that went
    nan there give the same one-line error, and the checkpoint of step 2 stays."""
    kill_weights_at(monkeypatch, 3)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=f"training diverged: the weights are not finite at step 3; {out} "
                                         "keeps its last good checkpoint, step 2"):
        train(quick_config(ckpt_interval=2, max_steps=3), out, data_path=corpus_path, device="cpu",
              progress=False)
    assert checkpoint.read_config(out)["step"] == 2


def test_patience_counts_across_a_resume(tmp_path, corpus_path, monkeypatch, capsys):
    """The count since the best is read from the history, so a resumed run stops where a
    straight run stops."""
    cfg = quick_config(eval_interval=1, patience=2)
    scripted_validation(monkeypatch, [5.0, 4.0, 3.0, 3.5])
    interrupt_after(monkeypatch, 3)
    train(cfg, tmp_path / "run", data_path=corpus_path, device="cpu", progress=False)
    assert "interrupted at step 3" in capsys.readouterr().out
    monkeypatch.undo()
    scripted_validation(monkeypatch, [3.6, 9.9])
    result = train(cfg, tmp_path / "run", data_path=corpus_path, resume=True, device="cpu", progress=False)
    assert result["steps"] == 4
