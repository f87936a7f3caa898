"""The denoiser: shapes, the SUBS parameterisation, bidirectional vs causal attention, configs."""

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_config
from dlm_core.cpu_attention import SHORT_WINDOW, CPUAttention, written_out_attention
from dlm_core.device import autocast
from dlm_core.model import PRESETS, Denoiser, KVCache, ModelConfig, preset


def make(causal=False, seed=0):
    torch.manual_seed(seed)
    return Denoiser(tiny_config(causal=causal)).eval()


def random_xt(B=3, T=20, p_mask=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randint(65, (B, T), generator=g)
    return torch.where(torch.rand(B, T, generator=g) < p_mask, 65, x0)


def test_output_shape_and_no_mask_prediction():
    """Logits are (B, T, V) and the [MASK] logit is -inf everywhere: clean text has no masks."""
    logits = make()(random_xt())
    assert logits.shape == (3, 20, 66) and logits.dtype == torch.float32
    assert torch.all(logits[..., 65] == float("-inf"))
    assert torch.all(torch.isfinite(logits[..., :65]).any(dim=-1))  # a real distribution at every position


def test_unmasked_positions_are_carried_over():
    """SUBS: at a visible position the distribution is a point mass on the character already there."""
    xt = random_xt()
    logp = make()(xt).log_softmax(-1)
    visible = xt != 65
    assert visible.any() and (~visible).any()
    assert torch.all(logp[visible].gather(-1, xt[visible][:, None]) == 0)
    assert torch.all(logp[~visible][:, :65] > -10)  # masked positions spread their probability


def test_denoiser_is_bidirectional():
    """Changing the character at position j changes the predictions at masked positions i < j."""
    model = make()
    xt = torch.full((1, 16), 65)
    xt[0, 10] = 20
    other = xt.clone()
    other[0, 10] = 40
    a, b = model(xt), model(other)
    assert not torch.allclose(a[0, :10, :65], b[0, :10, :65])


def test_causal_twin_only_looks_left():
    """causal=True: changing position j leaves positions < j exactly unchanged, and changes j itself."""
    model = make(causal=True)
    x = random_xt(B=1, p_mask=0.0)
    other = x.clone()
    j = 12
    other[0, j] = (x[0, j] + 1) % 65
    a, b = model(x), model(other)
    assert torch.equal(a[0, :j], b[0, :j])
    assert not torch.allclose(a[0, j], b[0, j])
    assert torch.all(a[..., 65] == float("-inf"))  # the twin never predicts [MASK] either


def test_sequence_longer_than_context_rejected():
    """More than block_size characters is an error naming both lengths."""
    with pytest.raises(ValueError, match="length 33 is longer than the model's context \\(32\\)"):
        make()(torch.zeros(1, 33, dtype=torch.long))


def test_config_validation():
    """d_model must divide by n_head, and [MASK] must be inside the vocabulary."""
    with pytest.raises(ValueError, match="not divisible by n_head"):
        ModelConfig(d_model=30, n_head=4)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        ModelConfig(vocab_size=66, mask_id=66)


def test_preset_names_and_overrides():
    """preset() knows tiny/laptop/small, applies overrides, and rejects other names."""
    assert preset("tiny", d_model=64).d_model == 64
    assert preset("laptop").block_size == 128
    with pytest.raises(ValueError, match="unknown model preset 'huge'"):
        preset("huge")


def test_small_preset_parameter_count():
    """`small` is nanoGPT's baby-GPT size: 2 V d + n_layer (12 d^2 + 2 d) + d = 10,672,512 parameters."""
    cfg = preset("small")
    V, d, n = cfg.vocab_size, cfg.d_model, cfg.n_layer
    with torch.device("meta"):  # count without allocating
        model = Denoiser(cfg)
    assert model.num_params() == 2 * V * d + n * (12 * d * d + 2 * d) + d == 10_672_512
    assert 10_000_000 < model.num_params() < 11_500_000
    assert set(PRESETS) == {"tiny", "laptop", "small"}


def test_kv_cache_gives_the_full_forward_logits():
    """Feeding a prefix, then one character at a time through the cache, gives exactly the
    logits of one full causal pass (up to float rounding)."""
    model = make(causal=True)
    x = torch.randint(0, 65, (3, 20), generator=torch.Generator().manual_seed(1))
    full = model(x)
    cache = KVCache(model.cfg.n_layer)
    parts = [model(x[:, :7], cache)] + [model(x[:, i:i + 1], cache) for i in range(7, 17)] + [model(x[:, 17:], cache)]
    assert len(cache) == 20
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


def test_kv_cache_refuses_a_denoiser_and_an_overlong_sequence():
    with pytest.raises(ValueError, match="needs a causal model"):
        make()(torch.zeros(1, 4, dtype=torch.long), KVCache(2))
    model, cache = make(causal=True), KVCache(2)
    model(torch.zeros(1, 30, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="length 33 is longer than the model's context \\(32\\)"):
        model(torch.zeros(1, 3, dtype=torch.long), cache)


@pytest.mark.parametrize("causal,length", [(False, 1), (False, 16), (False, SHORT_WINDOW), (False, SHORT_WINDOW + 1),
                                           (True, 16), (True, SHORT_WINDOW + 1)])
def test_cpu_attention_under_bf16_autocast_is_attention(causal, length):
    """The CPU speed path (cpu_attention.py), switched on by device.autocast, computes the same
    attention as PyTorch's fp32 kernel, to bf16's precision, for short and long windows, causal
    or not, and so do the gradients."""
    g = torch.Generator().manual_seed(0)
    leaves = [torch.randn(2, 4, length, 8, generator=g).bfloat16().requires_grad_() for _ in range(3)]
    with autocast(torch.device("cpu"), "bf16"):
        y = F.scaled_dot_product_attention(*leaves, is_causal=causal)
    exact_leaves = [z.detach().float().requires_grad_() for z in leaves]
    exact = F.scaled_dot_product_attention(*exact_leaves, is_causal=causal)
    torch.testing.assert_close(y.float(), exact, atol=2e-2, rtol=2e-2)
    w = torch.randn(exact.shape, generator=g)
    (y.float() * w).sum().backward()
    (exact * w).sum().backward()
    for z, exact_z in zip(leaves, exact_leaves):
        torch.testing.assert_close(z.grad.float(), exact_z.grad, atol=5e-2, rtol=5e-2)


def test_cpu_attention_leaves_other_calls_alone():
    """Outside autocast the mode changes nothing: attention is PyTorch's, bit for bit."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 16, 8, generator=g) for _ in range(3))
    with CPUAttention():
        y = F.scaled_dot_product_attention(q, k, v)
    assert torch.equal(y, F.scaled_dot_product_attention(q, k, v))


def test_written_out_attention_is_the_fused_kernel_in_fp32():
    """In fp32 the written-out formula is exact attention: it matches PyTorch's kernel to fp32
    rounding, so the short-window path differs from it only by bf16 products."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 16, 8, generator=g) for _ in range(3))
    torch.testing.assert_close(written_out_attention(q, k, v), F.scaled_dot_product_attention(q, k, v))
