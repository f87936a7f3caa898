"""The forward process q(xt | x0) and the NELBO: schedules, masks, estimators.

The centre of this file is an exact check of the objective. For a 3-character sequence
and a fixed toy predictor, the continuous-time NELBO can be computed exactly by
enumerating the 2^3 possible maskings; both Monte-Carlo estimators of
`masking.nelbo_per_sequence` must average to that number.

Statistical tests use fixed seeds and a tolerance of 5 standard errors.
"""

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

from dlm_core import masking
from dlm_core.model import carry_over_unmasked

# --- schedules ---------------------------------------------------------------------------


def test_linear_schedule_values():
    """Linear: alpha_t = 1 - t and w(t) = 1/t."""
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert torch.allclose(masking.alpha(t, "linear"), torch.tensor([1.0, 0.75, 0.5, 0.0]))
    assert torch.allclose(masking.elbo_weight(t[1:], "linear"), torch.tensor([4.0, 2.0, 1.0]))


def test_cosine_schedule_values():
    """Cosine (MaskGIT, MD4): alpha_t = 1 - sin(pi t / 2), exact at both ends, where the sampler needs it."""
    t = torch.tensor([0.0, 1 / 3, 0.5, 1.0])
    assert torch.allclose(masking.alpha(t, "cosine"), torch.tensor([1.0, 0.5, 1 - math.sqrt(0.5), 0.0]), atol=1e-7)
    assert torch.allclose(masking.mask_rate(t, "cosine"), torch.tensor([0.0, 0.5, math.sqrt(0.5), 1.0]), atol=1e-7)
    assert masking.alpha(0.0, "cosine").item() == 1.0 and masking.alpha(1.0, "cosine").item() == 0.0
    assert masking.mask_rate(0.0, "cosine").item() == 0.0 and masking.mask_rate(1.0, "cosine").item() == 1.0


def test_cosine_masks_quickly_early_and_slowly_late():
    """Half the characters are hidden by t = 1/3 (linear: t = 1/2); the last 10% of t hides about 1%."""
    assert masking.mask_rate(1 / 3, "cosine").item() == pytest.approx(0.5, abs=1e-7)
    late = (masking.mask_rate(1.0, "cosine") - masking.mask_rate(0.9, "cosine")).item()
    assert late == pytest.approx(1 - math.cos(math.pi / 20), abs=1e-6) and late < 0.013


def test_cosine_weight_values():
    """w(t) = (pi/2) / tan(pi t / 2): (pi/2) sqrt(3) at t = 1/3, pi/2 at t = 1/2, 0 at t = 1."""
    w = masking.elbo_weight(torch.tensor([1 / 3, 0.5, 1.0]), "cosine")
    assert torch.allclose(w, torch.tensor([math.pi / 2 * math.sqrt(3), math.pi / 2, 0.0]), atol=1e-6)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_elbo_weight_is_minus_alpha_prime_over_one_minus_alpha(schedule):
    """w(t) = -alpha'(t) / (1 - alpha(t)), alpha' taken by a central finite difference."""
    t, h = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9]), 1e-2
    d_alpha = (masking.alpha(t + h, schedule) - masking.alpha(t - h, schedule)) / (2 * h)
    expected = -d_alpha / (1 - masking.alpha(t, schedule))
    assert torch.allclose(masking.elbo_weight(t, schedule), expected, rtol=1e-3)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_weight_times_mask_rate_integrates_to_one(schedule):
    """w(t) (1 - alpha_t) = -alpha'_t, so its integral over [0, 1] is alpha_0 - alpha_1 = 1: the weight
    has the right sign and scale (a w off by a factor, or the mirrored schedule's w, fails this).
    64-point Gauss-Legendre quadrature of the library's own float32 functions."""
    nodes, weights = np.polynomial.legendre.leggauss(64)
    t = torch.tensor((nodes + 1) / 2, dtype=torch.float32)
    f = (masking.elbo_weight(t, schedule) * masking.mask_rate(t, schedule)).double().numpy()
    assert float(np.sum(weights / 2 * f)) == pytest.approx(1.0, abs=1e-6)


def test_cosine_weight_accurate_near_both_ends():
    """Near t = 0 and t = 1 the cosine weight stays accurate in float32: (pi/2) / tan(pi t / 2),
    computed in float64 from the same float32 times."""
    t = torch.tensor([1e-6, 1e-4, 1e-2, 0.99, 1 - 1e-4, 1 - 1e-6])
    expected = (math.pi / 2) / torch.tan(math.pi / 2 * t.double())
    assert torch.allclose(masking.elbo_weight(t, "cosine").double(), expected, rtol=1e-5, atol=0)


def test_cosine_alpha_accurate_near_one():
    """Near t = 1 alpha_t is tiny; computed as 2 sin^2(pi (1 - t) / 4) it keeps its relative accuracy."""
    t = torch.tensor([0.99, 1 - 1e-4, 1 - 1e-6])
    expected = 1 - torch.sin(math.pi / 2 * t.double())
    assert torch.allclose(masking.alpha(t, "cosine").double(), expected, rtol=1e-4, atol=0)


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), [0.5, 2.0]])
def test_time_outside_unit_interval_rejected(bad):
    """t must lie in [0, 1]; NaN is not a time."""
    for fn in (masking.alpha, masking.elbo_weight):
        with pytest.raises(ValueError, match="must lie in"):
            fn(bad)


def test_unknown_schedule_rejected():
    """Only 'linear' and 'cosine' exist."""
    for fn in (masking.alpha, masking.elbo_weight):
        with pytest.raises(ValueError, match="unknown schedule 'cubic'"):
            fn(0.5, "cubic")


# --- the forward process -----------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_forward_process_masks_at_rate_one_minus_alpha(schedule, t):
    """Over 200,000 positions the masked fraction is 1 - alpha_t within 5 standard errors,
    masked positions hold [MASK] and the others keep their character."""
    x0 = torch.randint(65, (200, 1000), generator=torch.Generator().manual_seed(0))
    xt, masked = masking.forward_process(x0, t, 65, torch.Generator().manual_seed(1), schedule)
    p = 1 - masking.alpha(t, schedule).item()
    se = math.sqrt(p * (1 - p) / x0.numel())
    assert abs(masked.float().mean().item() - p) < 5 * se
    assert torch.equal(xt, torch.where(masked, 65, x0))


def test_forward_process_time_per_row():
    """With one t per row, each row is masked at its own rate."""
    x0 = torch.zeros(3, 50_000, dtype=torch.long)
    t = torch.tensor([0.2, 0.6, 1.0])
    _, masked = masking.forward_process(x0, t, 65, torch.Generator().manual_seed(0))
    rates = masked.float().mean(dim=1)
    se = torch.sqrt(t * (1 - t) / 50_000)
    assert torch.all((rates - t).abs() <= 5 * se)
    assert rates[2] == 1.0


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_same_uniforms_raising_t_only_adds_masks(schedule):
    """With the same uniforms u, the masked set grows with t: nothing at t = 0, everything at t = 1."""
    x0 = torch.randint(65, (4, 500), generator=torch.Generator().manual_seed(0))
    u = torch.rand(x0.shape, generator=torch.Generator().manual_seed(1))
    previous = None
    for t in torch.linspace(0, 1, 21):
        xt, masked = masking.mask_from_uniforms(x0, u, t, 65, schedule)
        if previous is None:
            assert not masked.any() and torch.equal(xt, x0)  # t = 0
        else:
            assert torch.all(masked >= previous)
        previous = masked
    assert masked.all() and torch.all(xt == 65)  # t = 1


# --- drawing times and exact masks -------------------------------------------------------


def test_stratified_times_one_per_stratum():
    """Stratified: exactly one t in each of the n intervals ((i-1)/n, i/n]."""
    n = 64
    t = masking.sample_t(n, torch.Generator().manual_seed(0))
    assert torch.equal(torch.ceil(t * n).sort().values, torch.arange(1, n + 1).float())


def test_times_lie_in_zero_one():
    """Times lie in (0, 1] (t = 0 would have an infinite weight) and are uniform on average."""
    t = masking.sample_t(10_000, torch.Generator().manual_seed(0))
    assert t.shape == (10_000,) and torch.all(t > 0) and torch.all(t <= 1)
    assert abs(t.mean().item() - 0.5) < 5 * math.sqrt(1 / 12 / 10_000)


def test_times_stay_positive_at_the_extreme_uniform(monkeypatch):
    """Even for the largest uniform torch.rand can return (1 - 2^-24), t stays above 0."""
    monkeypatch.setattr(masking, "_rand", lambda shape, generator, device: torch.full(shape, 1 - 2 ** -24))
    t = masking.sample_t(32, torch.Generator())
    assert torch.all(t > 0), t


def test_mask_exactly_masks_k_positions_uniformly():
    """Row b gets exactly k[b] masks, and with k = 3 of 8 every position is masked 3/8 of the time."""
    B, T = 20_000, 8
    x0 = torch.randint(65, (B, T), generator=torch.Generator().manual_seed(0))
    k = torch.arange(B) % (T + 1)  # 0..8 masks
    xt, masked = masking.mask_exactly(x0, k, 65, torch.Generator().manual_seed(1))
    assert torch.equal(masked.sum(dim=1), k)
    assert torch.equal(xt, torch.where(masked, 65, x0))

    _, masked = masking.mask_exactly(x0, torch.full((B,), 3), 65, torch.Generator().manual_seed(2))
    p, se = 3 / 8, math.sqrt(3 / 8 * 5 / 8 / B)
    assert torch.all((masked.float().mean(dim=0) - p).abs() < 5 * se)


# --- THE EXACT NELBO TEST ----------------------------------------------------------------

MASK_ID, L = 4, 3  # 4 characters (ids 0..3) and [MASK] = 4; sequences of 3 characters
X0 = torch.tensor([2, 0, 3])


class ToyPredictor(nn.Module):
    """A fixed denoiser whose logits are a random table indexed by the whole visible pattern:
    every prediction depends on which other positions are visible and what they hold.
    [MASK] is never predicted and visible characters are carried over (SUBS), like the real model."""

    def __init__(self, seed=0):
        super().__init__()
        self.cfg = SimpleNamespace(mask_id=MASK_ID, causal=False, block_size=L)
        V = MASK_ID + 1
        self.register_buffer("table", 2 * torch.randn(V ** L, L, V, generator=torch.Generator().manual_seed(seed)))
        self.register_buffer("place", V ** torch.arange(L))  # xt (as base-V digits) -> row of the table

    def forward(self, xt):
        logits = self.table[(xt * self.place).sum(-1)].clone()  # (B, T, V)
        logits[..., MASK_ID] = -math.inf
        return carry_over_unmasked(logits, xt, MASK_ID)


def maskings():
    """All 2^L subsets M of positions, as tuples."""
    return [M for k in range(L + 1) for M in itertools.combinations(range(L), k)]


def masked_ce_sum(model, x0, M) -> float:
    """sum over i in M of -log p(x0_i | x0 with the positions M masked), in float64."""
    xt = x0.clone()
    xt[list(M)] = MASK_ID
    logp = model(xt[None])[0].double().log_softmax(-1)
    return sum(-logp[i, x0[i]].item() for i in M)


def beta(a, b):
    """B(a, b) = int_0^1 t^(a-1) (1-t)^(b-1) dt."""
    return math.gamma(a) * math.gamma(b) / math.gamma(a + b)


def exact_nelbo(model, x0) -> float:
    """Linear schedule: int_0^1 (1/t) sum_M t^|M| (1-t)^(L-|M|) CE(M) dt = sum_M B(|M|, L-|M|+1) CE(M)."""
    return sum(beta(len(M), L - len(M) + 1) * masked_ce_sum(model, x0, M) for M in maskings() if M)


def any_order_nelbo(model, x0) -> float:
    """sum over k = 1..L of the mean over |M| = k of (1/k) CE(M): the mean masked CE, summed over k."""
    return sum(np.mean([masked_ce_sum(model, x0, M) / k for M in itertools.combinations(range(L), k)])
               for k in range(1, L + 1))


def quadrature_nelbo(model, x0, schedule) -> float:
    """int_0^1 w(t) E_{xt ~ q(.|x0)}[sum of masked CE] dt, the expectation over xt by enumeration
    and the integral by 64-point Gauss-Legendre quadrature, all in float64."""
    nodes, weights = np.polynomial.legendre.leggauss(64)
    t, dt = (nodes + 1) / 2, weights / 2
    if schedule == "linear":
        a, w = 1 - t, 1 / t
    else:
        a, w = 1 - np.sin(np.pi / 2 * t), (np.pi / 2) * np.cos(np.pi / 2 * t) / np.sin(np.pi / 2 * t)
    expected_ce = sum((1 - a) ** len(M) * a ** (L - len(M)) * masked_ce_sum(model, x0, M) for M in maskings())
    return float(np.sum(dt * w * expected_ce))


def test_exact_nelbo_equals_any_order_sum():
    """The Beta-weighted sum over all 8 maskings equals the any-order form (sum over k of mean masked CE)."""
    model = ToyPredictor()
    nelbo = exact_nelbo(model, X0)
    assert nelbo == pytest.approx(any_order_nelbo(model, X0), rel=1e-12)
    assert nelbo > 1.0  # nontrivial: not a near-zero accident


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_exact_nelbo_equals_integral_over_time(schedule):
    """The exact value is the time integral of w(t) E[masked CE], and it is the same for both schedules."""
    model = ToyPredictor()
    assert quadrature_nelbo(model, X0, schedule) == pytest.approx(exact_nelbo(model, X0), rel=1e-9)


def estimates(estimator, schedule="linear", n=100_000, seed=0):
    """n one-draw estimates of NELBO(X0) / L in nats per character, stratified t."""
    gen = torch.Generator().manual_seed(seed)
    return masking.nelbo_per_sequence(ToyPredictor(), X0.repeat(n, 1), gen, estimator, schedule).double()


@pytest.mark.parametrize("estimator, schedule", [("any-order", "linear"), ("any-order-is", "linear"),
                                                 ("continuous", "linear"), ("continuous", "cosine")])
def test_estimators_average_to_exact_nelbo(estimator, schedule):
    """All estimators are unbiased for NELBO / L: 200,000 draws land within 5 standard errors.
    (The plain standard error ignores the stratification of t, so it is conservative; but the linear
    continuous estimator is heavy-tailed, its variance growing like log(1 / smallest t).)"""
    exact = exact_nelbo(ToyPredictor(), X0) / L
    est = estimates(estimator, schedule, n=200_000)
    se = est.std().item() / math.sqrt(len(est))
    assert abs(est.mean().item() - exact) < 5 * se
    assert se < 0.01 * exact  # sharp enough to see a 5% error


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_any_order_estimator_has_lower_variance(schedule):
    """Fixing the number of masks removes binomial noise and the 1/t blow-up: lower variance."""
    assert estimates("any-order").var() < estimates("continuous", schedule).var()


def test_k_proposal_is_inverse_square_root():
    p = masking.k_proposal(5)
    assert p.sum().item() == pytest.approx(1.0, abs=1e-15)
    torch.testing.assert_close(p / p[0], torch.tensor([1, 2, 3, 4, 5], dtype=torch.float64).rsqrt())


def test_importance_sampled_k_follows_the_proposal_with_matching_weights():
    """any-order-is masks k positions with probability p(k) and weighs each by 1 / (T p(k) k)."""
    B, T = 40_000, 8
    x0 = torch.randint(65, (B, T), generator=torch.Generator().manual_seed(0))
    _, masked, weight = masking.corrupt(x0, 65, torch.Generator().manual_seed(1), "any-order-is")
    k, p = masked.sum(dim=1), masking.k_proposal(T)
    assert k.min() >= 1 and k.max() <= T
    freq = torch.bincount(k, minlength=T + 1)[1:].double() / B
    assert torch.all((freq - p).abs() < 5 * (p * (1 - p) / B).sqrt())
    torch.testing.assert_close(weight.double(), 1 / (T * p[k - 1] * k), rtol=1e-6, atol=0)


def test_importance_sampled_k_puts_less_weight_on_few_characters():
    """The sum over a row's masked characters of their squared weights, averaged over rows, is
    sum_k 1 / (T^2 p(k) k): 1/T times the harmonic number for uniform k, and smaller for
    p(k) proportional to 1/sqrt(k). Measured from the draws, not only from the formula."""
    B, T = 40_000, 64
    x0 = torch.zeros(B, T, dtype=torch.long)
    squared = {}
    for estimator in ("any-order", "any-order-is"):
        _, masked, weight = masking.corrupt(x0, 65, torch.Generator().manual_seed(0), estimator)
        squared[estimator] = (masked.sum(dim=1) * weight.double() ** 2).mean().item()
    k = torch.arange(1, T + 1, dtype=torch.float64)
    uniform = torch.full((T,), 1 / T, dtype=torch.float64)
    assert masking.mean_squared_weight(uniform) == pytest.approx((1 / k).sum().item() / T, rel=1e-12)
    assert squared["any-order"] == pytest.approx((1 / k).sum().item() / T, rel=0.01)
    assert squared["any-order-is"] == pytest.approx(masking.mean_squared_weight(masking.k_proposal(T)), rel=0.01)
    assert squared["any-order-is"] < 0.75 * squared["any-order"]


def test_unknown_estimator_rejected():
    """Only 'any-order', 'any-order-is' and 'continuous' exist."""
    with pytest.raises(ValueError, match="unknown estimator 'exact'"):
        masking.nelbo_per_sequence(ToyPredictor(), X0[None], torch.Generator(), estimator="exact")


# --- the autoregressive twin's loss --------------------------------------------------------


class Bigram(nn.Module):
    """A causal toy model: the next character's distribution depends only on the current one."""

    P = torch.tensor([[1 / 2, 1 / 4, 1 / 4],
                      [1 / 8, 3 / 8, 1 / 2],
                      [1 / 3, 1 / 3, 1 / 3]])

    def __init__(self):
        super().__init__()
        self.cfg = SimpleNamespace(causal=True, block_size=8)

    def forward(self, x):
        return self.P[x].log()  # (B, T, 3)


def test_next_char_loss_by_hand():
    """Mean of -log p(x_{i+1} | x_i): row 0 is (ln 4 + ln 2) / 2, row 1 is (ln 3 + ln 3) / 2."""
    x = torch.tensor([[0, 1, 2], [2, 2, 0]])
    expected = torch.tensor([1.5 * math.log(2), math.log(3)])
    assert torch.allclose(masking.next_char_per_sequence(Bigram(), x), expected, atol=1e-6)
    assert torch.allclose(masking.loss_per_sequence(Bigram(), x, torch.Generator()), expected, atol=1e-6)
