"""ONNX export: the graph computes what the PyTorch denoiser computes, at any batch size and
length; the sampler runs on it unchanged; `dlm export` writes it; mistakes give one-line errors.

The model is an untrained `tiny` denoiser with a sharpened output layer (as in test_sampler),
exported once for the module. The tests that need onnx / onnxruntime are skipped without
them (`pip install -e ".[dev]"` installs them; in CI a missing package is a failure).
"""

import contextlib
import importlib.util
import io
import math
import os
import sys

import pytest
import torch

from dlm_core import checkpoint
from dlm_core.cli import main
from dlm_core.export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, OnnxDenoiser, export_onnx, load_onnx, tokenizer_path
from dlm_core.sampler import sample

INSTALL_HINT = 'pip install "dlm-course[onnx]"'
MISSING = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]


def require_onnx():
    if MISSING:
        reason = f"{', '.join(MISSING)} not installed: {INSTALL_HINT} to run the ONNX tests"
        if os.environ.get("CI"):  # in CI the dev extra installs them; a skip would hide a broken export
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def exported(model, tok, tmp_path_factory):
    """`model` saved as a checkpoint and exported with `dlm export`, once for the module (an export
    takes seconds): (ONNX file, what the command printed, exit status)."""
    require_onnx()
    tmp = tmp_path_factory.mktemp("onnx")
    ckpt = checkpoint.save(tmp / "ckpt", model, tok)
    path, stdout = tmp / "exported" / "tiny.onnx", io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["export", "--onnx", str(path), "--checkpoint", str(ckpt)])
    return path, stdout.getvalue(), code


@pytest.fixture(scope="module")
def onnx_model(exported):
    return OnnxDenoiser(exported[0])


def test_export_is_quiet(model, tok, tmp_path, recwarn, capfd):
    """The exporter's notices about torchvision and its own deprecations do not reach the reader."""
    require_onnx()
    export_onnx(model, tok, tmp_path / "quiet.onnx")
    assert [str(w.message) for w in recwarn.list] == []
    assert capfd.readouterr().err == ""


def random_xt(batch, length, mask_id, seed):
    """Random characters, about half of them masked."""
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randint(mask_id, (batch, length), generator=gen)
    return torch.where(torch.rand(batch, length, generator=gen) < 0.5, mask_id, x0)


@pytest.mark.parametrize("batch, length", [(1, 7), (3, 32)])
def test_logits_match_torch(model, onnx_model, tok, batch, length):
    """Other batch sizes and lengths than the traced (2, 32): -inf exactly where PyTorch has it, the rest within 1e-4."""
    xt = random_xt(batch, length, tok.mask_id, seed=batch)
    with torch.no_grad():
        want = model(xt)
    got = onnx_model(xt)
    assert got.dtype == torch.float32 and got.shape == (batch, length, tok.vocab_size)
    assert torch.all(got[..., tok.mask_id] == -math.inf)  # SUBS: [MASK] is never predicted
    assert torch.equal(got == -math.inf, want == -math.inf) and not torch.any(torch.isnan(got))
    finite = torch.isfinite(want)
    torch.testing.assert_close(got[finite], want[finite], rtol=0, atol=1e-4)


@pytest.mark.parametrize("strategy", ["ancestral", "confidence"])
@pytest.mark.parametrize("given", [dict(prompt="ROMEO:", length=32), dict(template="To be, or ___ to be, ___ is _")])
def test_sampling_matches_torch(model, onnx_model, tok, strategy, given):
    """The unchanged sampler on the ONNX graph: the same seed gives the same characters, in the same order."""
    kw = dict(steps=8, strategy=strategy, n_samples=3, seed=0, **given)
    want, got = sample(model, tok, **kw), sample(onnx_model, tok, **kw)
    assert got.texts == want.texts and torch.equal(got.revealed_at, want.revealed_at)


def test_longer_than_context(onnx_model, tok):
    """Like the PyTorch model, the wrapper names the problem instead of failing inside the graph."""
    with pytest.raises(ValueError, match="longer than the model's context"):
        onnx_model(torch.full((1, 33), tok.mask_id))


def test_cli_round_trip(exported, model, tok):
    """`dlm export` writes the graph and the vocabulary beside it; they load back to the same model."""
    path, stdout, code = exported
    assert code == 0 and f"wrote {path} (ONNX opset {DEFAULT_OPSET})" in stdout and str(tokenizer_path(path)) in stdout
    assert tokenizer_path(path).name == "tiny.tokenizer.json"
    onnx_model, onnx_tok = load_onnx(path)
    assert onnx_tok == tok and onnx_model.cfg == model.cfg


def one_line_error(capsys, *argv):
    """Run `dlm export argv...`, check it failed with exit status 2 and one line on stderr; return that line."""
    code = main(["export", *map(str, argv)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("dlm export: error: ")
    return err


@pytest.mark.parametrize("missing", ["onnx", "onnxscript", "onnxruntime"])
def test_error_not_installed(model, tok, tmp_path, monkeypatch, capsys, missing):
    """Without the extra, export and load say how to install it (no onnx needed to run this test)."""
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import missing` fail
    if missing == "onnxruntime":  # needed to run the graph
        with pytest.raises(ValueError, match="onnxruntime is not installed") as e:
            OnnxDenoiser(tmp_path / "tiny.onnx")
        assert INSTALL_HINT in str(e.value)
    else:  # needed to write it
        ckpt = checkpoint.save(tmp_path / "ckpt", model, tok)
        assert INSTALL_HINT in one_line_error(capsys, "--onnx", tmp_path / "tiny.onnx", "--checkpoint", ckpt)
        assert not (tmp_path / "tiny.onnx").exists()


@pytest.mark.parametrize("opset", [MIN_OPSET - 1, MAX_OPSET + 1])
def test_error_unsupported_opset(model, tok, tmp_path, capsys, opset):
    """An opset outside the range is refused before any work, naming the range."""
    with pytest.raises(ValueError, match=f"from {MIN_OPSET} to {MAX_OPSET}"):
        export_onnx(model, tok, tmp_path / "tiny.onnx", opset=opset)
    ckpt = checkpoint.save(tmp_path / "ckpt", model, tok)
    assert f"opset {opset} is not supported" in one_line_error(
        capsys, "--onnx", tmp_path / "tiny.onnx", "--checkpoint", ckpt, "--opset", opset)
    assert not (tmp_path / "tiny.onnx").exists()


def test_error_wrong_paths(model, tok, tmp_path, capsys):
    """A checkpoint to export or an ONNX file to load that does not exist; a directory to export to."""
    assert "not found" in one_line_error(capsys, "--onnx", tmp_path / "tiny.onnx", "--checkpoint", tmp_path / "nope")
    require_onnx()
    with pytest.raises(FileNotFoundError, match="dlm export --onnx"):
        OnnxDenoiser(tmp_path / "nope.onnx")
    with pytest.raises(ValueError, match="is a directory; give a file name"):
        export_onnx(model, tok, tmp_path)


def test_corrupt_onnx_file_is_a_clear_error(tmp_path):
    """A file that is not an ONNX graph gives a one-line ValueError, not ONNX Runtime's own exception."""
    require_onnx()
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        OnnxDenoiser(bad)
