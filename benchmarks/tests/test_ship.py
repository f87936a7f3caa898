"""benchmarks/ship.py, which makes a trained run the shipped checkpoint."""

import sys
from pathlib import Path

import torch

from dlm_core import checkpoint
from dlm_core.model import Denoiser, preset

sys.path.insert(0, str(Path(__file__).parents[1]))
from ship import ship  # noqa: E402


def test_ship_writes_fp16_weights_that_behave_like_the_source(tmp_path, tok):
    """ship halves the weights' precision but not the model: logits agree to fp16 rounding."""
    torch.manual_seed(0)
    model = Denoiser(preset("tiny"))
    checkpoint.save(tmp_path / "run", model, tok, {"train": {}, "step": 3, "elapsed": 1.0, "history": [], "params": 1},
                    extra_tensors={"rng.data": torch.zeros(1)})
    ship(tmp_path / "run", "python train-it.py", dest=tmp_path / "shipped")
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
    ship(tmp_path / "run-best", "dlm train", dest=tmp_path / "shipped", run=tmp_path / "run")
    shipped, _, config = checkpoint.load(tmp_path / "shipped")
    assert config["step"] == 2 and config["history"] == curve[:2]
    assert config["run"] == {"step": 4, "elapsed": 2.0, "history": curve}
    xt = torch.full((1, 8), tok.mask_id)
    torch.testing.assert_close(shipped(xt), best(xt), atol=2e-2, rtol=1e-2)
