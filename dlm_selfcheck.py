"""Self-checks for the exercises: run the reader's function and say, in one line, whether it works.

This module is course tooling beside the library, not part of it: `dlm_core` is what the chapters
teach; this is what checks the code you write in their exercises (`import dlm_selfcheck as selfcheck`).

Each `check_*` function calls the code the reader wrote on a few inputs whose answers are
known (from the library, or from first principles), prints

    PASS check_mask_rate: ...what was checked...
    FAIL check_mask_rate: ...the first thing that went wrong, and what was expected...

and returns None, so it can be the last line of a notebook cell without echoing a value.
The matching `diagnose_*` function does the work and returns the reason for a failure, or
None when everything passed: use it to test programmatically (`assert diagnose_x(fn) is None`).

A check never raises because of the reader's code: an exception inside it becomes a FAIL
that names the exception. The checks are small on purpose (milliseconds on a CPU) and
seeded, so they say the same thing on every run.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Callable

import torch
import torch.nn.functional as F

from dlm_core import masking

__all__ = [
    "check_alpha", "check_mask_rate", "check_elbo_weight", "check_forward_process",
    "check_unigram_entropy", "check_round_trip", "check_attention", "check_param_count",
    "check_bits_per_char",
    "diagnose_alpha", "diagnose_mask_rate", "diagnose_elbo_weight", "diagnose_forward_process",
    "diagnose_unigram_entropy", "diagnose_round_trip", "diagnose_attention", "diagnose_param_count",
    "diagnose_bits_per_char",
]

_TIMES = [0.0, 0.05, 0.1, 0.25, 0.3, 0.5, 0.7, 0.75, 0.9, 0.95, 1.0]


def _report(name: str, passed_what: str, problem: str | None) -> None:
    if problem is None:
        print(f"PASS {name}: {passed_what}")
    else:
        print(f"FAIL {name}: {problem}")


def _call(fn: Callable, *args, **kwargs):
    """Call the reader's function; return (result, None) or (None, a sentence about the exception)."""
    try:
        return fn(*args, **kwargs), None
    except Exception as e:  # noqa: BLE001 - any mistake in the reader's code is a FAIL, not a crash
        return None, f"your function raised {type(e).__name__}: {e}"


def _as_float_tensor(value, what: str):
    """The reader may return a tensor, a NumPy array, a float or a list: accept them all."""
    if value is None:
        return None, f"{what} returned None; did you forget a `return`?"
    try:
        return torch.as_tensor(value, dtype=torch.float64), None
    except (TypeError, ValueError, RuntimeError):
        return None, f"{what} returned {type(value).__name__}, which is not a number or a tensor of numbers"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


# --- schedules (chapters 3 and 5) -------------------------------------------------------------


def _diagnose_schedule_fn(fn, reference, schedule: str, quantity: str, times) -> str | None:
    t_all = torch.tensor(times, dtype=torch.float32)
    for t in times:
        got, err = _call(fn, torch.tensor(t), schedule)
        if err:
            return f"at t = {t}: {err}"
        got, err = _as_float_tensor(got, f"at t = {t}, your function")
        if err:
            return err
        if got.numel() != 1:
            return f"at t = {t} (a single time) your function returned {got.numel()} numbers; expected one"
        want = reference(torch.tensor(t), schedule).double()
        if not torch.isclose(got.reshape(()), want, rtol=1e-4, atol=1e-6):
            return (f"at t = {t} your function gives {_fmt(got.item())}, expected {_fmt(want.item())} "
                    f"({quantity}, {schedule} schedule)")
    got, err = _call(fn, t_all, schedule)
    if err:
        return (f"on a tensor of {len(times)} times {err}; it should work elementwise on a tensor "
                f"(use torch operations such as torch.cos, not math.cos)")
    got, err = _as_float_tensor(got, "on a tensor of times, your function")
    if err:
        return err
    if got.shape != t_all.shape:
        return (f"given a tensor of shape {tuple(t_all.shape)} your function returned shape {tuple(got.shape)}; "
                f"it should work elementwise (use torch operations such as torch.cos, not math.cos)")
    return None


def diagnose_alpha(fn, schedule: str = "linear") -> str | None:
    """fn(t, schedule) should return alpha_t, the probability that a character is still visible."""
    return _diagnose_schedule_fn(fn, masking.alpha, schedule, "alpha_t, the probability of staying visible", _TIMES)


def check_alpha(fn, schedule: str = "linear") -> None:
    """Check the reader's alpha_t against the library at 11 times in [0, 1], one by one and as a tensor."""
    _report("check_alpha", f"alpha_t is right at {len(_TIMES)} times in [0, 1] ({schedule} schedule), "
            f"for single times and for a tensor of times", diagnose_alpha(fn, schedule))


def diagnose_mask_rate(fn, schedule: str = "linear") -> str | None:
    """fn(t, schedule) should return 1 - alpha_t, the probability that a character is masked at time t."""
    return _diagnose_schedule_fn(fn, masking.mask_rate, schedule,
                                 "the masking probability 1 - alpha_t", _TIMES)


def check_mask_rate(fn, schedule: str = "linear") -> None:
    """Check the reader's mask_rate (1 - alpha_t) at 11 times in [0, 1], one by one and as a tensor."""
    _report("check_mask_rate", f"1 - alpha_t is right at {len(_TIMES)} times in [0, 1] ({schedule} schedule), "
            f"for single times and for a tensor of times", diagnose_mask_rate(fn, schedule))


def diagnose_elbo_weight(fn, schedule: str = "linear") -> str | None:
    """fn(t, schedule) should return w(t) = -alpha'_t / (1 - alpha_t) for t in (0, 1]."""
    return _diagnose_schedule_fn(fn, masking.elbo_weight, schedule,
                                 "w(t) = -alpha'_t / (1 - alpha_t)", _TIMES[1:])


def check_elbo_weight(fn, schedule: str = "linear") -> None:
    """Check the reader's ELBO weight w(t) at 10 times in (0, 1] (t = 0 is left out: w is infinite there)."""
    _report("check_elbo_weight", f"w(t) is right at {len(_TIMES) - 1} times in (0, 1] ({schedule} schedule)",
            diagnose_elbo_weight(fn, schedule))


# --- the forward process (chapter 3) ----------------------------------------------------------


def diagnose_forward_process(fn) -> str | None:
    """fn(x0, t, mask_id, generator) should return xt: x0 with each position independently replaced
    by mask_id with probability t (the linear schedule). A pair (xt, masked) is accepted too."""
    mask_id = 65
    gen_x = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, mask_id, (64, 256), generator=gen_x)  # (B, T), no [MASK] in clean text
    for t in (0.0, 0.3, 0.8, 1.0):
        out, err = _call(fn, x0.clone(), t, mask_id, torch.Generator().manual_seed(1))
        if err:
            return f"at t = {t}: {err}"
        xt = out[0] if isinstance(out, tuple) else out
        if not isinstance(xt, torch.Tensor):
            return f"at t = {t} your function returned {type(xt).__name__}; expected a tensor of ids"
        if xt.shape != x0.shape:
            return f"at t = {t} xt has shape {tuple(xt.shape)}; it must have x0's shape {tuple(x0.shape)}"
        masked = xt == mask_id
        changed = (xt != x0) & ~masked
        if changed.any():
            return (f"at t = {t} some positions hold a character that differs from x0 and is not [MASK]; "
                    f"a position is either kept exactly or replaced by mask_id")
        frac, n = masked.double().mean().item(), x0.numel()
        if t in (0.0, 1.0):
            if frac != t:
                return f"at t = {t} the masked fraction is {_fmt(frac)}; it must be exactly {t}"
            continue
        se = math.sqrt(t * (1 - t) / n)
        if abs(frac - t) > 5 * se:
            return (f"at t = {t} you masked a fraction {_fmt(frac)} of {n} positions; expected {t} "
                    f"(within {_fmt(5 * se)}). Mask a position when its uniform is below t")
        rows = masked.double().mean(dim=1)
        if rows.std().item() < 1e-9:
            return (f"at t = {t} every row has exactly the same number of masks; the positions should be "
                    f"masked independently, so the count varies from row to row")
    a, _ = _call(fn, x0.clone(), 0.5, mask_id, torch.Generator().manual_seed(7))
    b, _ = _call(fn, x0.clone(), 0.5, mask_id, torch.Generator().manual_seed(7))
    a, b = (z[0] if isinstance(z, tuple) else z for z in (a, b))
    if not torch.equal(a, b):
        return ("two calls with generators seeded alike gave different masks; draw the uniforms with "
                "torch.rand(..., generator=generator)")
    return None


def check_forward_process(fn) -> None:
    """Check the reader's forward process on 64 x 256 random ids at t = 0, 0.3, 0.8 and 1."""
    _report("check_forward_process", "masks only with [MASK], keeps the rest, masks the right fraction "
            "(t = 0, 0.3, 0.8, 1) independently per position, and is reproducible with a seeded generator",
            diagnose_forward_process(fn))


# --- characters (chapter 2) -------------------------------------------------------------------


def _entropy_bits(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


_ENTROPY_CASES = ["aaaa", "abab", "abcd", "aab", "To be, or not to be, that is the question:\n"]


def diagnose_unigram_entropy(fn) -> str | None:
    """fn(text) should return the entropy, in bits per character, of the character frequencies of text."""
    for text in _ENTROPY_CASES:
        got, err = _call(fn, text)
        if err:
            return f"on {text!r}: {err}"
        got, err = _as_float_tensor(got, f"on {text!r} your function")
        if err:
            return err
        want = _entropy_bits(text)
        if abs(got.item() - want) > 1e-6:
            hint = ""
            if want > 0 and abs(got.item() - want * math.log(2)) < 1e-6:
                hint = " (that is the answer in nats: use log base 2 for bits)"
            return f"on {text!r} your function gives {_fmt(got.item())}, expected {_fmt(want)} bits/char{hint}"
    return None


def check_unigram_entropy(fn) -> None:
    """Check the reader's unigram entropy (bits per character) on five short texts with known answers."""
    _report("check_unigram_entropy", f"right on {len(_ENTROPY_CASES)} texts, from 0 bits ('aaaa') to a line of Hamlet",
            diagnose_unigram_entropy(fn))


def diagnose_round_trip(encode, decode, text: str) -> str | None:
    """encode(text) -> list or tensor of ints; decode(ids) -> text. decode(encode(text)) must be text."""
    ids, err = _call(encode, text)
    if err:
        return f"encode: {err}"
    if isinstance(ids, torch.Tensor):
        ids = ids.tolist()
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) for i in ids):
        return "encode should return a list (or a tensor) of integer ids"
    if len(ids) != len(text):
        return f"encode gave {len(ids)} ids for {len(text)} characters; a character tokenizer gives one id per character"
    back, err = _call(decode, ids)
    if err:
        return f"decode: {err}"
    if back != text:
        first = next((i for i, (a, b) in enumerate(zip(back, text)) if a != b), min(len(back), len(text)))
        return f"decode(encode(text)) differs from text first at position {first}"
    return None


def check_round_trip(encode, decode, text: str) -> None:
    """Check that decode(encode(text)) gives text back, one id per character."""
    _report("check_round_trip", f"decode(encode(text)) == text for {len(text):,} characters, one id each",
            diagnose_round_trip(encode, decode, text))


# --- attention and parameters (chapter 4) -----------------------------------------------------


def diagnose_attention(fn) -> str | None:
    """fn(q, k, v, causal) with q, k, v of shape (B, H, T, D) should return softmax(q k^T / sqrt(D)) v,
    with future positions hidden when causal=True; compared with F.scaled_dot_product_attention."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 8, generator=gen, dtype=torch.float64) for _ in range(3))
    for causal in (False, True):
        got, err = _call(fn, q, k, v, causal)
        if err:
            return f"with causal={causal}: {err}"
        if not isinstance(got, torch.Tensor):
            return f"with causal={causal} your function returned {type(got).__name__}; expected a tensor"
        if got.shape != q.shape:
            return f"with causal={causal} the output has shape {tuple(got.shape)}; expected {tuple(q.shape)}"
        want = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        if not torch.allclose(got.double(), want, atol=1e-5):
            other = F.scaled_dot_product_attention(q, k, v, is_causal=not causal)
            if torch.allclose(got.double(), other, atol=1e-5):
                return f"with causal={causal} you computed the {'bidirectional' if causal else 'causal'} attention"
            unscaled = torch.softmax(q @ k.transpose(-2, -1) + (torch.full((7, 7), -math.inf).triu(1) if causal else 0),
                                     dim=-1) @ v
            if torch.allclose(got.double(), unscaled, atol=1e-5):
                return "the scores are not divided by sqrt(D) (D = the last dimension of q)"
            return (f"with causal={causal} the output differs from F.scaled_dot_product_attention by up to "
                    f"{_fmt((got.double() - want).abs().max().item())}; check the softmax dimension (the keys, -1)")
    return None


def check_attention(fn) -> None:
    """Check the reader's attention against PyTorch's, bidirectional and causal, on (2, 3, 7, 8) inputs."""
    _report("check_attention", "matches F.scaled_dot_product_attention, bidirectional and causal",
            diagnose_attention(fn))


def diagnose_param_count(fn) -> str | None:
    """fn(cfg: ModelConfig) should return the number of parameters of Denoiser(cfg), by formula."""
    from dlm_core.model import Denoiser, preset

    for name in ("tiny", "laptop"):
        for overrides in ({}, {"n_layer": 3, "d_model": 48, "n_head": 3}):
            cfg = preset(name, **overrides)
            got, err = _call(fn, cfg)
            if err:
                return f"for the {name} preset {overrides or ''}: {err}"
            with torch.random.fork_rng(devices=[]):  # building a model draws weights: keep the reader's RNG
                want = Denoiser(cfg).num_params()
            if not isinstance(got, int) and not (isinstance(got, float) and got.is_integer()):
                return f"your function returned {got!r}; expected a whole number of parameters"
            if int(got) != want:
                return (f"for the {name} preset {overrides or ''} your formula gives {int(got):,}, "
                        f"num_params() gives {want:,} (a difference of {int(got) - want:+,})")
    return None


def check_param_count(fn) -> None:
    """Check the reader's parameter-count formula against num_params() on four model configurations."""
    _report("check_param_count", "your formula equals num_params() on four configurations",
            diagnose_param_count(fn))


# --- units (chapter 5) ------------------------------------------------------------------------


def diagnose_bits_per_char(fn) -> str | None:
    """fn(total_nats, n_chars) should return bits per character: total_nats / n_chars / ln 2."""
    for nats, n in ((math.log(65) * 10, 10), (12.0, 4), (0.0, 3)):
        got, err = _call(fn, nats, n)
        if err:
            return f"with total_nats={_fmt(nats)}, n_chars={n}: {err}"
        got, err = _as_float_tensor(got, "your function")
        if err:
            return err
        want = nats / n / math.log(2)
        if abs(got.item() - want) > 1e-9 * max(1, want):
            return (f"with total_nats={_fmt(nats)}, n_chars={n} your function gives {_fmt(got.item())}, "
                    f"expected {_fmt(want)} bits/char")
    return None


def check_bits_per_char(fn) -> None:
    """Check the reader's conversion from a total in nats to bits per character."""
    _report("check_bits_per_char", "total nats -> bits per character is right on three cases",
            diagnose_bits_per_char(fn))
