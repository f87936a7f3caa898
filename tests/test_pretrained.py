"""The checkpoints shipped with the course."""

from __future__ import annotations

import json

from dlm_core import cli, pretrained


def test_shipped_checkpoint_loads_with_one_call():
    """pretrained.load() gives a denoiser over the 66-id vocabulary, with how it was trained recorded."""
    model, tokenizer, config = pretrained.load("cpu")
    assert tokenizer.vocab_size == model.cfg.vocab_size == 66 and not model.cfg.causal
    assert config["provenance"]["command"] == "dlm train --config configs/cpu-long.json --out runs/cpu-long"
    assert config["step"] == config["history"][-1]["step"] > 0


def test_shipped_checkpoint_is_small_and_for_inference_only():
    """At most 20 MB, fp16 weights, and no optimizer state (nothing to resume, nothing to unpickle)."""
    files = {p.name: p.stat().st_size for p in pretrained.PATH.iterdir()}
    assert set(files) == {"model.safetensors", "config.json", "tokenizer.json"}
    assert sum(files.values()) < 20 * 2 ** 20
    header_size = int.from_bytes((pretrained.PATH / "model.safetensors").read_bytes()[:8], "little")
    header = json.loads((pretrained.PATH / "model.safetensors").read_bytes()[8:8 + header_size])
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"F16"}


def test_cli_uses_the_shipped_checkpoint_by_default(capsys):
    """`dlm sample` without --checkpoint samples from the shipped model; given characters stay."""
    assert cli.main(["sample", "--device", "cpu", "--infill", "To be, or ___ to be", "--steps", "4", "--json"]) == 0
    text = json.loads(capsys.readouterr().out)["texts"][0]
    assert text.startswith("To be, or ") and text.endswith(" to be") and "_" not in text


def test_shipped_twin_is_the_same_network_trained_autoregressively():
    """pretrained.load(twin=True): the denoiser's network with causal=True, the same vocabulary, the
    same recipe and step budget; it stopped early and ships its best weights, recording the whole run."""
    model, tokenizer, config = pretrained.load("cpu")
    twin, twin_tokenizer, twin_config = pretrained.load("cpu", twin=True)
    assert twin.cfg.causal and {**twin.cfg.to_dict(), "causal": False} == model.cfg.to_dict()
    assert twin_tokenizer.chars == tokenizer.chars
    ta, tb = config["train"], twin_config["train"]
    differ = {k for k in ta.keys() | tb.keys() if ta.get(k) != tb.get(k)}
    assert differ <= {"causal", "eval_interval", "keep_best", "patience"}  # none of these changes a step
    assert tb["causal"] and tb["max_steps"] == config["step"]
    run = twin_config["run"]
    assert twin_config["step"] == min(run["history"], key=lambda h: h["val_bpc"])["step"] < run["step"] <= tb["max_steps"]
    assert twin_config["provenance"]["command"] == "dlm train --config configs/ar-twin-long.json --out runs/ar-twin-long"
    files = {p.name for p in pretrained.TWIN_PATH.iterdir()}
    assert files == {"model.safetensors", "config.json", "tokenizer.json"}
