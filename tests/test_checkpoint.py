"""Checkpoints: safetensors + JSON, exact round trips, atomic saves, clear errors."""

import json
import struct

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_config
from dlm_core import checkpoint
from dlm_core.model import Denoiser


@pytest.fixture
def saved(tmp_path, tok):
    """A freshly initialised tiny model saved to tmp_path/ckpt; returns (path, model, some input)."""
    torch.manual_seed(0)
    model = Denoiser(tiny_config()).eval()
    path = checkpoint.save(tmp_path / "ckpt", model, tok, meta={"step": 7})
    xt = torch.randint(66, (2, 32), generator=torch.Generator().manual_seed(0))
    return path, model, xt


def test_round_trip_gives_identical_logits(saved, tok):
    """load(save(model)) computes exactly the same logits, with the same config and vocabulary."""
    path, model, xt = saved
    loaded, loaded_tok, config = checkpoint.load(path)
    assert torch.equal(loaded.eval()(xt), model(xt))
    assert loaded.cfg == model.cfg and loaded_tok == tok
    assert config["step"] == 7 and config["format"] == checkpoint.FORMAT


def test_weights_are_plain_safetensors(saved):
    """model.safetensors is an 8-byte header length, a JSON header and raw tensors: nothing to unpickle,
    and safetensors alone reads back the model's state dict."""
    path, model, _ = saved
    raw = (path / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert set(header) - {"__metadata__"} == set(model.state_dict())
    weights = load_file(path / "model.safetensors")
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_fp16_save_rounds_the_weights(tmp_path, saved, tok):
    """dtype=float16 stores half-precision weights; loading gives exactly the rounded values in fp32."""
    _, model, _ = saved
    path = checkpoint.save(tmp_path / "half", model, tok, dtype=torch.float16)
    assert all(v.dtype == torch.float16 for v in load_file(path / "model.safetensors").values())
    loaded, _, _ = checkpoint.load(path)
    for (name, p), q in zip(model.named_parameters(), loaded.parameters()):
        assert q.dtype == torch.float32 and torch.equal(q, p.detach().half().float()), name


def test_save_replaces_and_leaves_no_siblings(saved, tok):
    """Saving over a checkpoint replaces it and leaves no .tmp / .old directories behind."""
    path, model, _ = saved
    checkpoint.save(path, model, tok, meta={"step": 8})
    assert checkpoint.read_config(path)["step"] == 8
    assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt"]


def test_interrupted_save_still_loads(saved):
    """A save interrupted between its two renames leaves only `.NAME.old`; loading NAME finds it."""
    path, model, xt = saved
    path.rename(path.with_name(f".{path.name}.old"))
    assert not path.exists()
    loaded, _, _ = checkpoint.load(path)
    assert torch.equal(loaded.eval()(xt), model(xt))


def test_missing_checkpoint(tmp_path):
    """No directory: FileNotFoundError that says how to make one."""
    with pytest.raises(FileNotFoundError, match="not found \\(train one with `dlm train"):
        checkpoint.load(tmp_path / "nothing")


def test_corrupt_weights(saved):
    """Garbage in model.safetensors: ValueError saying the file is corrupt."""
    path, _, _ = saved
    (path / "model.safetensors").write_bytes(b"\x13\x37garbage" * 100)
    with pytest.raises(ValueError, match="model.safetensors is corrupt"):
        checkpoint.load(path)


def test_truncated_weights(saved):
    """A half-written weights file is also reported as corrupt."""
    path, _, _ = saved
    raw = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        checkpoint.load(path)


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_missing_file_in_checkpoint(saved, name):
    """A checkpoint without its weights or config is called incomplete."""
    path, _, _ = saved
    (path / name).unlink()
    with pytest.raises(FileNotFoundError, match="incomplete"):
        checkpoint.load(path)


def test_corrupt_config(saved):
    """Unreadable config.json: ValueError saying it is corrupt."""
    path, _, _ = saved
    (path / "config.json").write_text('{"model": ')
    with pytest.raises(ValueError, match="config.json is corrupt"):
        checkpoint.load(path)


def test_tokenizer_from_another_vocabulary(saved):
    """A tokenizer.json with a different number of characters does not fit the model: ValueError."""
    path, _, _ = saved
    vocab = json.loads((path / "tokenizer.json").read_text())
    vocab["chars"] = vocab["chars"][:-1]
    vocab["mask_id"] = len(vocab["chars"])
    (path / "tokenizer.json").write_text(json.dumps(vocab))
    with pytest.raises(ValueError, match="different checkpoints"):
        checkpoint.load(path)


def test_weights_that_do_not_fit_the_config(saved):
    """Weights of another shape than config.json describes: ValueError, not a PyTorch traceback."""
    path, _, _ = saved
    config = json.loads((path / "config.json").read_text())
    config["model"]["d_model"] = 64
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not fit config.json"):
        checkpoint.load(path)
