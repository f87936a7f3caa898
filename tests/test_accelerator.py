"""The CPU against whichever accelerator this machine has (CUDA, else MPS); skipped where there is none.

Both run the shipped denoiser in float32 (no autocast). The logits may differ by rounding only;
the stated tolerance is 1e-3 in a logit (they are of order 10). Sampling draws all its random
numbers on the CPU, so the same seed makes the same draws on both devices: the texts can part
only where two characters were nearly tied and the rounding tipped the choice, after which that
sample continues differently. The measured share of identical characters is printed (run with
`pytest -s`) and must stay high. Last, a resumed run on the accelerator gets its generator back.
"""

import pytest
import torch

from conftest import tiny_config
from dlm_core import checkpoint, pretrained, sampler
from dlm_core.model import Denoiser

ACCELERATOR = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else None
pytestmark = pytest.mark.skipif(ACCELERATOR is None, reason="no CUDA or MPS device on this machine")
LOGIT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def pair():
    cpu, tokenizer, _ = pretrained.load("cpu")
    accelerated, _, _ = pretrained.load(ACCELERATOR)
    return cpu.eval(), accelerated.eval(), tokenizer


def test_logits_agree_within_rounding(pair):
    """The same canvas gives the same logits on both devices, to LOGIT_TOLERANCE; -inf in the same places."""
    cpu, accelerated, tokenizer = pair
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, tokenizer.mask_id, (4, cpu.cfg.block_size), generator=generator)
    xt = torch.where(torch.rand(x0.shape, generator=generator) < 0.5, tokenizer.mask_id, x0)
    with torch.no_grad():
        want, got = cpu(xt), accelerated(xt.to(ACCELERATOR)).cpu()
    assert torch.equal(torch.isinf(want), torch.isinf(got))
    finite = torch.isfinite(want)
    gap = (want[finite] - got[finite]).abs().max().item()
    print(f"\nlargest logit difference, cpu vs {ACCELERATOR}: {gap:.2e}")
    assert gap < LOGIT_TOLERANCE


def test_same_seed_same_sample_apart_from_near_ties(pair):
    """8 samples of 128 characters at 32 steps: the share of identical characters, measured and printed."""
    cpu, accelerated, tokenizer = pair
    kwargs = dict(length=128, steps=32, prompt="ROMEO:\n", n_samples=8, seed=0)
    a, b = sampler.sample(cpu, tokenizer, **kwargs), sampler.sample(accelerated, tokenizer, **kwargs)
    same = (a.ids == b.ids).float().mean().item()
    print(f"\nidentical characters, cpu vs {ACCELERATOR}: {same:.1%}")
    assert a.ids[:, :7].eq(b.ids[:, :7]).all()  # the prompt
    assert same > 0.5  # a tipped near-tie re-rolls the rest of that sample, but not most of all eight


def test_resuming_restores_the_accelerators_generator(tok, tmp_path):
    """Dropout on an accelerator draws from that device's generator, not the CPU's: the training
    state saves it, so a resumed run draws the same dropout masks as one never stopped."""
    model = Denoiser(tiny_config(dropout=0.1)).to(ACCELERATOR)
    optimizer = torch.optim.AdamW(model.parameters())
    state = checkpoint.training_state(model, [optimizer], {})
    checkpoint.save(tmp_path / "run", model, tok, extra_tensors=state)
    first = torch.rand(8, device=ACCELERATOR).cpu()
    checkpoint.restore_training_state(tmp_path / "run", model, [optimizer], {})
    assert torch.equal(torch.rand(8, device=ACCELERATOR).cpu(), first)
