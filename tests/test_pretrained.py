"""The checkpoint shipped with the course, and the step that ships one."""

from __future__ import annotations

import json

import torch

from dlm_core import checkpoint, cli, pretrained
from dlm_core.model import Denoiser, preset


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


def test_ship_writes_fp16_weights_that_behave_like_the_source(tmp_path, tok):
    """ship() halves the weights' precision but not the model: logits agree to fp16 rounding."""
    torch.manual_seed(0)
    model = Denoiser(preset("tiny"))
    checkpoint.save(tmp_path / "run", model, tok, {"train": {}, "step": 3, "elapsed": 1.0, "history": [], "params": 1},
                    extra_tensors={"rng.data": torch.zeros(1)})
    pretrained.ship(tmp_path / "run", "python train-it.py", dest=tmp_path / "shipped")
    shipped, _, config = checkpoint.load(tmp_path / "shipped")
    assert config["provenance"]["command"] == "python train-it.py" and config["step"] == 3
    assert not (tmp_path / "shipped" / "optimizer.safetensors").exists()
    xt = torch.randint(tok.vocab_size, (2, 16))
    a, b = model(xt), shipped(xt)
    finite = a.isfinite()
    assert torch.equal(finite, b.isfinite())
    torch.testing.assert_close(b[finite], a[finite], atol=2e-2, rtol=1e-2)


def test_ship_of_an_early_stopped_run_records_the_whole_run(tmp_path, tok):
    """Shipping a run's best checkpoint with run=<the run>: the best's weights and step, and the
    run's last step and whole curve beside them."""
    torch.manual_seed(0)
    best, last = Denoiser(preset("tiny")), Denoiser(preset("tiny"))
    curve = [{"step": 0, "val_bpc": 5.0}, {"step": 2, "val_bpc": 3.0}, {"step": 4, "val_bpc": 3.5}]
    checkpoint.save(tmp_path / "run-best", best, tok, {"train": {}, "step": 2, "elapsed": 1.0, "history": curve[:2], "params": 1})
    checkpoint.save(tmp_path / "run", last, tok, {"train": {}, "step": 4, "elapsed": 2.0, "history": curve, "params": 1})
    pretrained.ship(tmp_path / "run-best", "dlm train", dest=tmp_path / "shipped", run=tmp_path / "run")
    shipped, _, config = checkpoint.load(tmp_path / "shipped")
    assert config["step"] == 2 and config["history"] == curve[:2]
    assert config["run"] == {"step": 4, "elapsed": 2.0, "history": curve}
    xt = torch.full((1, 8), tok.mask_id)
    torch.testing.assert_close(shipped(xt), best(xt), atol=2e-2, rtol=1e-2)


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
