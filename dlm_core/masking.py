"""The forward process q(xt | x0) and the training objective (the negative ELBO).

Forward process. At time t in [0, 1] each character of x0 is kept with probability alpha_t
and replaced by `[MASK]` otherwise, independently of the others: alpha_0 = 1 (clean text),
alpha_1 = 0 (all masks). The schedule is the shape of alpha_t in between: linear (1 - t) or
cosine (MaskGIT, MD4: 1 - sin(pi t / 2)), which masks quickly at first and slowly near t = 1,
so the sampler reveals few characters at its first steps and many at its last.

Objective. For a denoiser with the SUBS parameterisation, the continuous-time negative ELBO
(MDLM, MD4), an upper bound on -log p(x0), is

    NELBO(x0) = E_{t ~ U(0,1)} E_{xt ~ q(.|x0)} [ w(t) * sum over masked i of -log p(x0_i | xt) ],
    w(t) = -alpha'_t / (1 - alpha_t)          (= 1/t for the linear schedule).

Its value does not depend on the schedule (substitute u = 1 - alpha_t), only its variance
does. Divided by the length T it is in nats per character; divided again by ln 2, in bits.
Conditioning on the number k of masked positions gives the any-order autoregressive form of
the same quantity (Hoogeboom et al. 2022; Ou et al. 2024), the average over k of the mean
cross-entropy of k randomly masked characters, with lower variance (no binomial noise in how
many positions get masked, and no 1/t blow-up at small t):

    NELBO(x0) / T = E_{k ~ U{1..T}} E_{M: |M| = k} [ (1/k) sum over i in M of -log p(x0_i | x0 outside M) ].

Importance sampling k. Under uniform k a row with k = 1 puts all its weight on one character
and a row with k = T spreads it over T, so most of a batch's characters count for little.
Drawing k from p(k) proportional to 1/sqrt(k), with weight 1 / (T p(k) k) on each masked
character, keeps the expectation and minimises the squared weights an estimate's variance
grows with (`mean_squared_weight`): the `any-order-is` estimator.

References: Austin et al. 2021, D3PM; Sahoo et al. 2024, MDLM; Shi et al. 2024, MD4;
Ou et al. 2024, RADD (the any-order view); Kingma et al. 2021, VDM (low-discrepancy t).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SCHEDULES = ("linear", "cosine")
ESTIMATORS = ("any-order", "any-order-is", "continuous")


def _as_t(t, schedule: str) -> torch.Tensor:
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    t = torch.as_tensor(t, dtype=torch.float32)
    if torch.any((t < 0) | (t > 1)) or torch.any(torch.isnan(t)):
        raise ValueError(f"masking rate / time t must lie in [0, 1], got {t.tolist()}")
    return t


def alpha(t, schedule: str = "linear") -> torch.Tensor:
    """Probability that a character is still visible at time t. Cosine: 1 - sin(pi t / 2),
    written for t >= 1/2 as 2 sin^2(pi (1 - t) / 4), the same number, which keeps its digits
    near t = 1, where 1 - sin would lose them in float32. The sampler needs both ends exact:
    alpha_1 = 0 and alpha_0 = 1 make its last step reveal everything."""
    t = _as_t(t, schedule)
    if schedule == "linear":
        return 1 - t
    return torch.where(t < 0.5, 1 - torch.sin(math.pi / 2 * t), 2 * torch.sin(math.pi / 4 * (1 - t)) ** 2)


def mask_rate(t, schedule: str = "linear") -> torch.Tensor:
    """1 - alpha_t, the probability that a character is masked at time t. Cosine: sin(pi t / 2),
    accurate in float32 at every t (no subtraction), 0 at t = 0 and exactly 1 at t = 1."""
    t = _as_t(t, schedule)
    return t if schedule == "linear" else torch.sin(math.pi / 2 * t)


def elbo_weight(t, schedule: str = "linear") -> torch.Tensor:
    """w(t) = -alpha'_t / (1 - alpha_t): the weight of the masked cross-entropy at time t.
    Linear: 1 / t. Cosine: (pi/2) / tan(pi t/2), like 1/t near t = 0 and 0 at t = 1 (a fully
    masked line carries no weight), computed for t >= 1/2 as (pi/2) tan(pi (1 - t) / 2), the
    same number, because tan(pi t/2) near its pole at t = 1 is inaccurate in float32."""
    t = _as_t(t, schedule)
    if schedule == "linear":
        return 1 / t
    return (math.pi / 2) * torch.where(t < 0.5, 1 / torch.tan(math.pi / 2 * t), torch.tan(math.pi / 2 * (1 - t)))


def _rand(shape, generator: torch.Generator, device) -> torch.Tensor:
    """Uniforms drawn on the generator's device, then moved: seeded draws do not depend on the model's."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def sample_t(n: int, generator: torch.Generator, device="cpu") -> torch.Tensor:
    """n stratified times in (0, 1], one uniform draw in each of n equal strata: covering [0, 1]
    evenly within a batch lowers the variance of the batch loss without changing its expectation."""
    u = _rand((n,), generator, device)  # [0, 1)
    t = (n - torch.arange(n, device=device) - u) / n  # row i in stratum ((n-1-i)/n, (n-i)/n]
    return t.clamp_min(1e-6)  # t = 0 (probability ~0, but float32 rounds) would have an infinite weight


def mask_from_uniforms(x0, u, t, mask_id: int, schedule: str = "linear"):
    """Mask position i of x0 when u_i < 1 - alpha_t. With the same uniforms u, raising t
    only ever adds masks: this is the picture of the forward process the widgets show."""
    t = _as_t(t, schedule).to(x0.device)
    masked = u < mask_rate(t, schedule).to(x0.device).reshape(*t.shape, *[1] * (x0.dim() - t.dim()))
    return torch.where(masked, mask_id, x0), masked


def forward_process(x0, t, mask_id: int, generator: torch.Generator, schedule: str = "linear"):
    """Draw xt ~ q(xt | x0): each position masked independently with probability 1 - alpha_t.
    x0: (B, T) ids, t: (B,) or a scalar. Returns xt and the boolean mask, both (B, T)."""
    return mask_from_uniforms(x0, _rand(x0.shape, generator, x0.device), t, mask_id, schedule)


def mask_exactly(x0, k, mask_id: int, generator: torch.Generator):
    """Mask exactly k[b] positions of row b, chosen uniformly at random: (B, T) xt and mask."""
    u = _rand(x0.shape, generator, x0.device)
    rank = u.argsort(dim=1).argsort(dim=1)  # a uniformly random permutation of 0..T-1 per row
    masked = rank < k.unsqueeze(1)
    return torch.where(masked, mask_id, x0), masked


def k_proposal(T: int) -> torch.Tensor:
    """p(k) proportional to 1/sqrt(k) for k = 1..T, float64 on the CPU: (T,)."""
    p = torch.arange(1, T + 1, dtype=torch.float64).rsqrt()
    return p / p.sum()


def mean_squared_weight(p: torch.Tensor) -> float:
    """The average over rows of the sum of a row's squared character weights when k ~ p on 1..T:
    sum_k p(k) k (1 / (T p(k) k))^2 = sum_k 1 / (T^2 p(k) k). Uniform p gives H_T / T; the
    proposal of `k_proposal` gives the smallest value of all."""
    T = len(p)
    k = torch.arange(1, T + 1, dtype=torch.float64)
    return (1 / (T ** 2 * p * k)).sum().item()


def corrupt(x0, mask_id: int, generator: torch.Generator, estimator: str = "any-order",
            schedule: str = "linear", t: torch.Tensor | None = None):
    """Draw the noise of one NELBO estimate per row: (xt, masked, weight), shapes (B, T), (B, T), (B,).
    Every estimator derives its draw from times t (B,), stratified over the batch unless given:
    `any-order`: k ~ U{1..T}, exactly k masks, weight 1/k.
    `any-order-is`: k ~ p(k) of `k_proposal`, exactly k masks, weight 1/(T p(k) k).
    `continuous`: independent masks with rate 1 - alpha_t, weight w(t)/T.
    """
    B, T = x0.shape
    t = sample_t(B, generator, x0.device) if t is None else t.to(x0.device)
    if estimator == "any-order":
        k = torch.ceil(t * T).long().clamp(1, T)  # t in (0, 1] -> k in {1..T}, uniform if t is
        xt, masked = mask_exactly(x0, k, mask_id, generator)
        return xt, masked, 1 / k.float()
    if estimator == "any-order-is":
        p = k_proposal(T)
        k = torch.searchsorted(p.cumsum(0), t.cpu().double()).clamp(max=T - 1) + 1  # inverse CDF: (B,)
        xt, masked = mask_exactly(x0, k.to(x0.device), mask_id, generator)
        return xt, masked, (1 / (T * p[k - 1] * k)).float().to(x0.device)
    if estimator == "continuous":
        xt, masked = forward_process(x0, t, mask_id, generator, schedule)
        return xt, masked, elbo_weight(t.cpu(), schedule).to(x0.device) / T
    raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")


def weighted_masked_ce(logits, x0, masked, weight) -> torch.Tensor:
    """weight * (sum over masked positions of -log p(x0_i | xt)) for each row: (B,)."""
    ce = F.cross_entropy(logits[masked], x0[masked], reduction="none")  # (number masked,)
    ce_sum = torch.zeros(len(x0), device=x0.device).index_put((masked.nonzero()[:, 0],), ce, accumulate=True)
    return weight * ce_sum


def nelbo_per_sequence(model, x0, generator: torch.Generator, estimator: str = "any-order",
                       schedule: str = "linear", t: torch.Tensor | None = None) -> torch.Tensor:
    """One unbiased estimate of NELBO(x0) / T in nats per character for each row: (B,)."""
    xt, masked, weight = corrupt(x0, model.cfg.mask_id, generator, estimator, schedule, t)
    return weighted_masked_ce(model(xt), x0, masked, weight)


def next_char_per_sequence(model, x) -> torch.Tensor:
    """The autoregressive twin's loss: mean -log p(x_{i+1} | x_{<=i}) per row, nats: (B,).
    x: (B, T+1); the model reads the first T characters and predicts the last T."""
    logits = model(x[:, :-1])  # (B, T, V)
    return F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none").mean(dim=1)


def loss_per_sequence(model, x, generator, **kwargs) -> torch.Tensor:
    """The loss of either model per row: the NELBO for the denoiser, next-character CE for the twin."""
    if model.cfg.causal:
        return next_char_per_sequence(model, x)
    return nelbo_per_sequence(model, x, generator, **kwargs)
