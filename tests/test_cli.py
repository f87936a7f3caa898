"""The `dlm` command, run in-process: train -> eval -> sample, and one-line errors with exit status 2."""

import json

import pytest
import torch

from conftest import interrupt_after, tiny_config
from dlm_core import checkpoint
from dlm_core.cli import _options, _train_config, build_parser, main
from dlm_core.model import Denoiser


def run(capsys, *argv):
    """Run `dlm argv...`; return (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(result, command, *fragments):
    """Exit status 2 and exactly one line on stderr, 'dlm <command>: error: ...', no traceback."""
    code, out, err = result
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dlm {command}: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def untrained(tmp_path, tok):
    """A checkpoint of an untrained tiny model (no corpus needed)."""
    torch.manual_seed(0)
    return checkpoint.save(tmp_path / "untrained", Denoiser(tiny_config()), tok)


def test_train_eval_sample(tmp_path, corpus_path, capsys):
    """`dlm train` writes a checkpoint, `dlm eval --json` scores it, `dlm sample --json --infill` fills holes."""
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "train", "--out", out, "--data", corpus_path, "--preset", "tiny",
                          "--max-steps", 20, "--batch-size", 8, "--precision", "fp32", "--quiet")
    assert code == 0 and "for 20 steps" in stdout and f"checkpoint in {out}" in stdout
    assert checkpoint.read_config(out)["step"] == 20

    code, stdout, _ = run(capsys, "eval", "--checkpoint", out, "--data", corpus_path,
                          "--windows", 16, "--draws", 2, "--json")
    result = json.loads(stdout)
    assert code == 0 and result["source"] == "val split" and result["draws"] == 2
    assert 3.0 < result["bits_per_char"] < 7.0 and 0 < result["stderr"] < 0.5

    template = "To be, or ___ to be"
    code, stdout, _ = run(capsys, "sample", "--checkpoint", out, "--infill", template, "--steps", 3, "-n", 2,
                          "--json")
    result = json.loads(stdout)
    assert code == 0 and len(result["texts"]) == 2 and result["steps"] == 3
    for text, revealed in zip(result["texts"], result["revealed_at"]):
        assert len(text) == len(template) and "_" not in text
        assert all(c == t for c, t in zip(text, template) if t != "_")
        assert [r > 0 for r in revealed] == [t == "_" for t in template]

    assert_one_line_error(run(capsys, "train", "--out", out, "--data", corpus_path, "--preset", "tiny"),
                          "train", "already holds a checkpoint")


def test_eval_text_file(untrained, tmp_path, capsys):
    """`dlm eval --text FILE` scores that file; an untrained model is near log2(65) = 6.02 bits/char."""
    text = tmp_path / "verse.txt"
    text.write_text("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate.\n" * 4)
    code, stdout, _ = run(capsys, "eval", "--checkpoint", untrained, "--text", text, "--json")
    result = json.loads(stdout)
    assert code == 0 and result["source"] == str(text)
    assert abs(result["bits_per_char"] - 6.02) < 0.3


def test_sample_plain_output(untrained, capsys):
    """Without --json, each sample is printed under a header and starts with the prompt."""
    code, stdout, _ = run(capsys, "sample", "--checkpoint", untrained, "--prompt", "ROMEO:", "--length", 20,
                          "--steps", 4, "-n", 2)
    lines = stdout.splitlines()
    assert code == 0 and lines[0] == "--- sample 0 ---" and lines[1].startswith("ROMEO:")
    assert "--- sample 1 ---" in lines


def test_sample_defaults_to_the_models_context(untrained, capsys):
    """Without --length, a sample fills the model's whole context (32 characters for `tiny`)."""
    code, stdout, _ = run(capsys, "sample", "--checkpoint", untrained, "--steps", 4, "--json")
    assert code == 0 and len(json.loads(stdout)["texts"][0]) == 32


def test_sample_without_flags_uses_the_default_sampler(untrained, capsys):
    """No flags: DEFAULT_SAMPLER (confidence decoding with choice noise, 64 steps), the same texts as
    sampler.sample called with it. --strategy ancestral drops the choice noise; asking for choice
    noise with ancestral sampling is a one-line error."""
    from dlm_core import sampler
    from dlm_core.cli import DEFAULT_SAMPLER

    model, tok, _ = checkpoint.load(untrained, "cpu")
    as_json = lambda *flags: json.loads(run(capsys, "sample", "--checkpoint", untrained, "-n", 2, "--json", *flags)[1])
    out = as_json()
    assert out["steps"] == DEFAULT_SAMPLER["steps"] == 64
    assert out["texts"] == sampler.sample(model, tok, length=32, n_samples=2, **DEFAULT_SAMPLER).texts
    ancestral = sampler.sample(model, tok, length=32, n_samples=2, steps=64).texts
    assert as_json("--strategy", "ancestral")["texts"] == ancestral != out["texts"]
    assert_one_line_error(run(capsys, "sample", "--checkpoint", untrained, "--strategy", "ancestral",
                              "--choice-temperature", 1), "sample", "choice_temperature", "strategy='confidence'")


def test_sample_from_an_autoregressive_twin(tmp_path, tok, capsys):
    """A causal checkpoint writes left to right, one character per step, after the prompt."""
    torch.manual_seed(0)
    twin = checkpoint.save(tmp_path / "twin", Denoiser(tiny_config(causal=True)), tok)
    code, stdout, _ = run(capsys, "sample", "--checkpoint", twin, "--prompt", "ROMEO:", "--length", 20, "--json")
    result = json.loads(stdout)
    assert code == 0 and result["steps"] == 14 and result["texts"][0].startswith("ROMEO:")
    assert result["revealed_at"][0] == [0] * 6 + list(range(1, 15))
    assert_one_line_error(run(capsys, "sample", "--checkpoint", twin, "--infill", "To ___"),
                          "sample", "cannot fill holes")


def test_config_file_and_overrides(tmp_path):
    """--config fills TrainConfig (a 'comment' is allowed), flags override it, --minutes sets a time budget."""
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps({"comment": "a test", "preset": "tiny", "max_steps": 5, "lr": 1e-3}))
    args = build_parser().parse_args(["train", "--out", "x", "--config", str(cfg_file), "--lr", "2e-3"])
    cfg = _train_config(args)
    assert (cfg.preset, cfg.max_steps, cfg.lr) == ("tiny", 5, 2e-3)
    args = build_parser().parse_args(["train", "--out", "x", "--config", str(cfg_file), "--minutes", "1.5"])
    cfg = _train_config(args)
    assert cfg.time_budget == 90 and cfg.max_steps is None


def test_error_missing_checkpoint(tmp_path, capsys):
    """A checkpoint that does not exist."""
    assert_one_line_error(run(capsys, "sample", "--checkpoint", tmp_path / "nope"), "sample", "nope", "not found")
    assert_one_line_error(run(capsys, "eval", "--checkpoint", tmp_path / "nope"), "eval", "not found")


def test_error_unknown_character_in_prompt(untrained, capsys):
    """A prompt character the model has never seen: named, with its position."""
    assert_one_line_error(run(capsys, "sample", "--checkpoint", untrained, "--prompt", "Ro\tmeo", "--length", 20),
                          "sample", "'\\t' at position 2")


def test_error_prompt_longer_than_length(untrained, capsys):
    """A prompt longer than --length."""
    assert_one_line_error(run(capsys, "sample", "--checkpoint", untrained, "--prompt", "ROMEO:", "--length", 4),
                          "sample", "more than length=4")


def test_error_missing_text_file(untrained, tmp_path, capsys):
    """`dlm eval --text` of a file that does not exist."""
    assert_one_line_error(run(capsys, "eval", "--checkpoint", untrained, "--text", tmp_path / "gone.txt"),
                          "eval", "gone.txt not found")


@pytest.mark.parametrize("content, fragment", [
    ('{"preset": "tiny", "learning_rate": 0.1}', "unknown setting(s) learning_rate"),
    ('{"preset": "tiny",', "is not valid JSON"),
    ('{"preset": "huge"}', "unknown model preset 'huge'"),
    ('{"lr": "fast"}', "setting lr must be float, got 'fast'"),
    ('{"max_steps": 2.5}', "setting max_steps must be int or None, got 2.5"),
    ('{"compile": "yes"}', "setting compile must be bool, got 'yes'"),
])
def test_error_bad_config_file(tmp_path, capsys, content, fragment):
    """A config file with an unknown key, broken JSON or a bad value (checked before any data is read)."""
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(content)
    assert_one_line_error(run(capsys, "train", "--out", tmp_path / "run", "--config", cfg_file), "train", fragment)


def test_resume_applies_a_new_step_budget_and_refuses_other_changes(tmp_path, corpus_path, capsys):
    """`--resume --max-steps N` continues the run to N steps; a setting that would change what was
    computed (here --lr) or a --config beside --resume is refused in one line, and nothing is lost."""
    out = tmp_path / "run"
    assert run(capsys, "train", "--out", out, "--data", corpus_path, "--preset", "tiny", "--max-steps", 3,
               "--device", "cpu", "--quiet")[0] == 0
    assert_one_line_error(run(capsys, "train", "--out", out, "--data", corpus_path, "--resume", "--lr", 0.5),
                          "train", "lr cannot change when resuming")
    assert_one_line_error(run(capsys, "train", "--out", out, "--resume", "--config", tmp_path / "c.json"),
                          "train", "--config cannot be combined with --resume")
    assert run(capsys, "train", "--out", out, "--data", corpus_path, "--resume", "--max-steps", 5,
               "--device", "cpu", "--quiet")[0] == 0
    saved = checkpoint.read_config(out)
    assert saved["step"] == 5 and saved["train"]["max_steps"] == 5 and saved["train"]["lr"] == 3e-3
    assert saved["train"]["compile"] is False
    assert _options(build_parser().parse_args(["train", "--out", str(out), "--resume", "--no-compile"])) == \
        {"compile": False}  # a run resumed with --compile can be switched back


def test_interrupted_train_exits_130(tmp_path, corpus_path, capsys, monkeypatch):
    """Ctrl-C mid-run saves the checkpoint but exits 130, not 0, so a script that runs `dlm train`
    (benchmarks/train_pair.sh marks a run finished on status 0) does not take the run as done."""
    interrupt_after(monkeypatch, 2)
    code, stdout, _ = run(capsys, "train", "--out", tmp_path / "run", "--data", corpus_path, "--preset", "tiny",
                          "--max-steps", 5, "--device", "cpu", "--quiet")
    assert code == 130 and "interrupted at step 2" in stdout and "trained" not in stdout
    assert checkpoint.read_config(tmp_path / "run")["step"] == 2


def test_error_device_from_the_environment_that_is_not_here(monkeypatch, capsys):
    """DLM_DEVICE naming a device this machine lacks: one line naming it and what is available."""
    monkeypatch.setenv("DLM_DEVICE", "xpu")
    assert_one_line_error(run(capsys, "sample", "--steps", 2), "sample", "'xpu' (from DLM_DEVICE)", "use one of cpu")


def test_error_missing_config_file(tmp_path, capsys):
    """A config file that does not exist."""
    assert_one_line_error(run(capsys, "train", "--out", tmp_path / "run", "--config", tmp_path / "no.json"),
                          "train", "no.json not found")


@pytest.mark.parametrize("draws", [0, -1])
def test_error_bad_number_of_draws(untrained, tmp_path, capsys, draws):
    """`dlm eval --draws 0` (or negative) is an input mistake: one line, exit status 2."""
    text = tmp_path / "verse.txt"
    text.write_text("Shall I compare thee to a summer's day?\n" * 4)
    assert_one_line_error(run(capsys, "eval", "--checkpoint", untrained, "--text", text, "--draws", draws),
                          "eval", "draws")
