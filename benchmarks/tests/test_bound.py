"""benchmarks/bound.py: the left-to-right likelihood is a proper distribution, and the three
scores agree where the answer is known."""

import itertools
import math
import sys
from pathlib import Path

import torch

from conftest import tiny_config
from dlm_core import checkpoint
from dlm_core.model import Denoiser, ModelConfig

sys.path.insert(0, str(Path(__file__).parents[1]))
import bound  # noqa: E402


def test_left_to_right_likelihood_sums_to_one_over_all_texts():
    """Over all 3^4 texts of 4 characters from a 3-letter vocabulary, the probabilities that
    the left-to-right order gives an untrained denoiser sum to 1: it is a distribution."""
    torch.manual_seed(0)
    model = Denoiser(ModelConfig(vocab_size=4, mask_id=3, block_size=4, n_layer=2, n_head=2, d_model=16)).eval()
    texts = torch.tensor(list(itertools.product(range(3), repeat=4)))  # (81, 4)
    bits = bound.left_to_right_bits(model, texts).sum(1).double()
    assert math.isclose((2 ** -bits).sum().item(), 1.0, rel_tol=1e-5)


class Recorder(torch.nn.Module):
    """Uniform logits over the characters (never [MASK]), remembering the canvases it was shown."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg, self.seen, self.w = cfg, [], torch.nn.Parameter(torch.zeros(1))

    def forward(self, xt):
        self.seen.append(xt.clone())
        logits = torch.zeros(*xt.shape, self.cfg.vocab_size) + 0 * self.w
        logits[..., self.cfg.mask_id] = -math.inf
        return logits


def test_step_i_reveals_exactly_the_characters_before_i():
    cfg = ModelConfig(vocab_size=5, mask_id=4, block_size=6, n_layer=1, n_head=1, d_model=8)
    model, x0 = Recorder(cfg), torch.tensor([[0, 1, 2, 3, 0, 1]])
    bits = bound.left_to_right_bits(model, x0)
    (canvases,) = model.seen
    for i in range(6):
        assert canvases[i, :i].tolist() == x0[0, :i].tolist() and (canvases[i, i:] == 4).all()
    assert torch.allclose(bits, torch.full((1, 6), math.log2(4)))  # uniform over the 4 characters


def test_a_uniform_model_scores_log2_v_everywhere(corpus, tok):
    """A model that knows nothing pays log2(65) bits for every character under all three scores,
    so the differences are zero (the NELBO's plain any-order estimator, weight 1/k for k masks,
    is exact for it: every masked character costs the same)."""
    cfg = ModelConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id, block_size=16, n_layer=1, n_head=1, d_model=8)
    twin = Recorder(ModelConfig(**{**cfg.to_dict(), "causal": True}))
    result = bound.measure(Recorder(cfg), twin, tok.encode(corpus[:2000]), n_windows=3, draws=4, seed=0,
                           estimator="any-order")
    expected = math.log2(tok.vocab_size - 1)
    for name in ("nelbo", "left_to_right", "twin"):
        assert math.isclose(result[name]["mean"], expected, rel_tol=1e-6)
    assert abs(result["nelbo_minus_left_to_right"]["mean"]) < 1e-6 and result["windows"] == 3


def test_the_script_writes_its_json(corpus_path, tok, tmp_path):
    paths = []
    for causal in (False, True):
        torch.manual_seed(0)
        paths.append(checkpoint.save(tmp_path / f"causal-{causal}", Denoiser(tiny_config(causal=causal)), tok))
    out = tmp_path / "bound.json"
    result = bound.main(["--checkpoint", str(paths[0]), "--twin", str(paths[1]), "--windows", "2", "--draws", "2",
                         "--data", str(corpus_path), "--out", str(out)])
    assert out.exists() and result["windows"] == 2 and result["nelbo"]["mean"] > 0
