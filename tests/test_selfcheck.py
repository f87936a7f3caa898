"""The exercise self-checks: right answers pass, typical mistakes fail with a reason that helps.

Each check is tried on a correct solution and on the mistakes a reader is most likely to
make; the failure message must point at the mistake, and a crash inside the reader's code
must become a FAIL line, not an exception.
"""

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

import dlm_selfcheck as selfcheck
from dlm_core import masking
from dlm_core.model import Denoiser

# --- printing ------------------------------------------------------------------------------


def test_check_prints_one_pass_line_and_returns_none(capsys):
    """A check prints exactly one line starting PASS and returns None (no echo in a notebook)."""
    assert selfcheck.check_mask_rate(masking.mask_rate) is None
    out = capsys.readouterr().out
    assert out.startswith("PASS check_mask_rate:") and out.count("\n") == 1


def test_check_prints_fail_with_reason(capsys):
    selfcheck.check_mask_rate(masking.alpha)
    out = capsys.readouterr().out
    assert out.startswith("FAIL check_mask_rate:") and "expected" in out


def test_exception_in_reader_code_becomes_a_fail(capsys):
    def broken(t, schedule="linear"):
        raise ZeroDivisionError("oops")
    selfcheck.check_alpha(broken)
    assert "raised ZeroDivisionError: oops" in capsys.readouterr().out


# --- schedules -----------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_library_schedules_pass(schedule):
    assert selfcheck.diagnose_alpha(masking.alpha, schedule) is None
    assert selfcheck.diagnose_mask_rate(masking.mask_rate, schedule) is None
    assert selfcheck.diagnose_elbo_weight(masking.elbo_weight, schedule) is None


def test_reader_cosine_mask_rate_passes():
    def mask_rate(t, schedule="cosine"):
        return torch.sin(math.pi / 2 * t)  # MD4 and MaskGIT: 1 - alpha_t = sin(pi t / 2)
    assert selfcheck.diagnose_mask_rate(mask_rate, "cosine") is None


def test_alpha_instead_of_mask_rate_fails():
    problem = selfcheck.diagnose_mask_rate(masking.alpha, "linear")
    assert "at t = 0.0" in problem and "expected 0" in problem


def test_math_instead_of_torch_fails_on_tensor_with_hint():
    def mask_rate(t, schedule="cosine"):
        return math.sin(math.pi / 2 * float(t))
    assert "elementwise" in selfcheck.diagnose_mask_rate(mask_rate, "cosine")


def test_missing_return_is_named():
    def mask_rate(t, schedule="linear"):
        t * 1
    assert "forget a `return`" in selfcheck.diagnose_mask_rate(mask_rate)


def test_elbo_weight_sign_error_fails():
    def w(t, schedule="linear"):
        return -1 / t
    assert "expected" in selfcheck.diagnose_elbo_weight(w)


# --- forward process -----------------------------------------------------------------------


def good_forward(x0, t, mask_id, generator):
    u = torch.rand(x0.shape, generator=generator)
    return torch.where(u < t, mask_id, x0)


def test_forward_process_pass_and_pair_accepted():
    assert selfcheck.diagnose_forward_process(good_forward) is None
    assert selfcheck.diagnose_forward_process(
        lambda x0, t, m, g: masking.forward_process(x0, t, m, g)) is None


def test_forward_process_inverted_rate_fails():
    def bad(x0, t, mask_id, generator):
        return good_forward(x0, 1 - t, mask_id, generator)
    assert "must be exactly" in selfcheck.diagnose_forward_process(bad)


def test_forward_process_exact_count_fails():
    def bad(x0, t, mask_id, generator):  # exactly round(t T) masks in every row: not independent
        k = torch.full((x0.shape[0],), round(t * x0.shape[1]))
        return masking.mask_exactly(x0, k, mask_id, generator)[0]
    assert "independently" in selfcheck.diagnose_forward_process(bad)


def test_forward_process_unseeded_fails():
    def bad(x0, t, mask_id, generator):
        return torch.where(torch.rand(x0.shape) < t, mask_id, x0)
    assert "generator" in selfcheck.diagnose_forward_process(bad)


def test_forward_process_wrong_replacement_fails():
    def bad(x0, t, mask_id, generator):
        u = torch.rand(x0.shape, generator=generator)
        return torch.where(u < t, 0, x0)  # replaces with id 0, not [MASK]
    assert "not [MASK]" in selfcheck.diagnose_forward_process(bad)


# --- characters ----------------------------------------------------------------------------


def entropy_bits(text):
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def test_unigram_entropy_pass_and_nats_hint():
    assert selfcheck.diagnose_unigram_entropy(entropy_bits) is None
    assert "nats" in selfcheck.diagnose_unigram_entropy(lambda s: entropy_bits(s) * math.log(2))


def test_round_trip(tok):
    text = "First Citizen:\nBefore we proceed any further, hear me speak."
    assert selfcheck.diagnose_round_trip(tok.encode, tok.decode, text) is None
    assert "position 0" in selfcheck.diagnose_round_trip(tok.encode, lambda ids: tok.decode(ids).lower(), text)
    assert "one id per character" in selfcheck.diagnose_round_trip(lambda s: [0], tok.decode, text)


# --- attention and parameters --------------------------------------------------------------


def attention(q, k, v, causal):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        T = q.shape[-2]
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), -math.inf)
    return scores.softmax(dim=-1) @ v


def test_attention_pass_and_typical_mistakes():
    assert selfcheck.diagnose_attention(attention) is None
    assert "causal attention" in selfcheck.diagnose_attention(lambda q, k, v, c: attention(q, k, v, True))
    assert "sqrt(D)" in selfcheck.diagnose_attention(
        lambda q, k, v, c: attention(q * math.sqrt(q.shape[-1]), k, v, c))
    assert "softmax dimension" in selfcheck.diagnose_attention(
        lambda q, k, v, c: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-2) @ v)


def test_param_count():
    assert selfcheck.diagnose_param_count(lambda cfg: Denoiser(cfg).num_params()) is None
    problem = selfcheck.diagnose_param_count(lambda cfg: Denoiser(cfg).num_params() - cfg.d_model)
    assert f"{-32:+,}" in problem


def test_bits_per_char():
    assert selfcheck.diagnose_bits_per_char(lambda nats, n: nats / n / math.log(2)) is None
    assert "expected" in selfcheck.diagnose_bits_per_char(lambda nats, n: nats / n)


def test_checks_are_fast_and_leave_global_rng_alone():
    """The checks draw from their own generators: the reader's global random state is untouched."""
    torch.manual_seed(123)
    before = torch.get_rng_state()
    selfcheck.check_forward_process(good_forward)
    selfcheck.check_attention(lambda q, k, v, c: F.scaled_dot_product_attention(q, k, v, is_causal=c))
    selfcheck.check_param_count(lambda cfg: 0)
    assert torch.equal(before, torch.get_rng_state())
