"""The reverse process: from a canvas of `[MASK]` to text, a few characters at a time.

Time runs backwards from t = 1 (everything masked) to t = 0 in `steps` equal steps. At each
step the denoiser predicts every masked character at once; the sampler draws a guess x0_hat
for each, then decides which guesses to *reveal* (write into the canvas); revealed and given
characters never change again. Two rules decide what to reveal:
- `ancestral`: the exact reverse of the forward process: from t to s, each masked position is
  revealed with probability (t - s) / t for the linear schedule, 1 at the last step (s = 0).
- `confidence`: the same expected number of positions, those whose guess the model is most
  sure of (LLaDA's "low-confidence remasking").
With `block_length`, the canvas is filled left to right one block at a time (semi-autoregressive,
as in LLaDA and block diffusion). `generate` is the autoregressive twin's sampler: one character
per step, from a key-value cache, returning the same `Samples` so its runs replay alike.

All randomness is drawn on the CPU from a seeded `torch.Generator` and then moved to the
model's device, so a seed means the same thing on CPU, CUDA and MPS (and nothing relies on
`torch.multinomial`, which has known bugs on MPS).

References: Austin et al. 2021, D3PM; Sahoo et al. 2024, MDLM; Zheng et al. 2024 (float64 Gumbel
noise); Nie et al. 2025, LLaDA; Arriola et al. 2025, block diffusion; Holtzman et al. 2020 (top-p).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .masking import alpha
from .model import KVCache

STRATEGIES = ("ancestral", "confidence")


@dataclass
class Samples:
    """What a sampling run produced, with enough to replay it."""
    texts: list[str]
    ids: torch.Tensor          # (B, T) the final canvas
    revealed_at: torch.Tensor  # (B, T) the step (1..steps) after which a position was revealed; 0: given
    confidence: torch.Tensor   # (B, T) the probability the model gave it at that moment; 1: given
    steps: int
    mask_id: int

    def frame(self, step: int) -> torch.Tensor:
        """The canvas after `step` steps (0: before the first): (B, T) ids."""
        return torch.where(self.revealed_at <= step, self.ids, self.mask_id)


def make_canvas(tokenizer, length: int | None = None, prompt: str = "",
                template: str | None = None, hole: str = "_") -> torch.Tensor:
    """The starting sequence (T,): given characters where known, `[MASK]` elsewhere. `prompt`
    fixes the first characters; `template` a whole line with holes, e.g. "To be, or ___ to be"."""
    if template is not None:
        if prompt:
            raise ValueError("give either a prompt or an infill template, not both")
        if not template or (length is not None and length != len(template)):
            raise ValueError(f"the template has {len(template)} characters but length={length}")
        return tokenizer.encode(template, hole=hole)
    if length is None:
        raise ValueError("give a length (or an infill template)")
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    if len(prompt) > length:
        raise ValueError(f"the prompt has {len(prompt)} characters, more than length={length}; "
                         f"shorten it or raise --length")
    canvas = torch.full((length,), tokenizer.mask_id, dtype=torch.long)
    canvas[: len(prompt)] = tokenizer.encode(prompt)
    return canvas


def filter_logits(logits, top_k: int | None = None, top_p: float | None = None):
    """Keep the top_k most likely characters and/or the smallest set whose probability reaches
    top_p (nucleus); the rest get -inf. logits: (..., V)."""
    if top_k is not None:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p is not None:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        drop_sorted = cum - sorted_logits.softmax(dim=-1) >= top_p  # the mass before this one already reaches top_p
        logits = logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), -math.inf)
    return logits


def draw(logits, temperature: float, generator: torch.Generator):
    """Gumbel-max sampling: argmax(logits / T + Gumbel noise) is a draw from softmax(logits / T).
    Returns the drawn ids and their probabilities under that distribution, both (B, T).

    The noise and the sum are float64 on the CPU (MPS has no float64). In float32, -log(-log u) is
    cut off at about 16.6 (u is a multiple of 2^-24), so a character far less likely than the best
    could never win: float32 noise samples at a lower temperature than asked (Zheng et al. 2024).
    float64 moves the cut-off to about 36.7, probabilities near 1e-16 that no run would miss."""
    if temperature == 0:
        probs = logits.softmax(dim=-1)
        x0_hat = logits.argmax(dim=-1)
    else:
        probs = (logits / temperature).softmax(dim=-1)
        u = torch.rand(logits.shape, generator=generator, dtype=torch.float64).clamp_min(1e-300)
        x0_hat = (probs.cpu().double().log() - (-u.log()).log()).argmax(dim=-1).to(logits.device)
    return x0_hat, probs.gather(-1, x0_hat.unsqueeze(-1)).squeeze(-1)


def _check(model, length: int, causal: bool, temperature: float, top_k: int | None, top_p: float | None,
           steps: int = 1, strategy: str = STRATEGIES[0], block_length: int | None = None,
           choice_temperature: float = 0.0) -> None:
    """The argument checks of `sample` (causal=False) and `generate` (causal=True), in one place."""
    if model.cfg.causal and not causal:
        raise ValueError("this is the autoregressive twin (causal=True): generate() writes with it; "
                         "the diffusion sampler needs a denoiser")
    if causal and not model.cfg.causal:
        raise ValueError("generate() needs the autoregressive twin (causal=True); sample() runs a denoiser")
    if length > model.cfg.block_size:
        raise ValueError(f"length {length} is longer than the model's context ({model.cfg.block_size})")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
    if not choice_temperature >= 0:
        raise ValueError(f"choice_temperature must be >= 0, got {choice_temperature}")
    if choice_temperature and strategy != "confidence":
        raise ValueError("choice_temperature ranks confidence decoding's choices; use it with strategy='confidence'")
    if block_length is not None and block_length < 1:
        raise ValueError(f"block_length must be >= 1, got {block_length}")


def _blocks(masked, steps: int, block_length: int | None):
    """Split the canvas into left-to-right blocks that contain masks, and share the steps out:
    [((lo, hi), steps for that block), ...]. One block, the whole canvas, without block_length."""
    T = masked.shape[-1]
    edges = [(lo, min(lo + block_length, T)) for lo in range(0, T, block_length)] if block_length else [(0, T)]
    edges = [(lo, hi) for lo, hi in edges if masked[:, lo:hi].any()]
    if steps < len(edges):
        raise ValueError(f"steps={steps} is fewer than the {len(edges)} blocks to fill; raise steps or block_length")
    share = [steps // len(edges) + (b < steps % len(edges)) for b in range(len(edges))] if edges else []
    return list(zip(edges, share))


def reveal_ancestral(active, a_s: float, a_t: float, gen: torch.Generator):
    """Which masked positions to reveal from t to s: each `active` one (B, T), independently, with
    probability (alpha_s - alpha_t) / (1 - alpha_t). Draws one uniform per position from `gen`."""
    u = torch.rand(active.shape, generator=gen).to(active.device)
    return active & (u < (a_s - a_t) / (1 - a_t))


def reveal_confidence(active, conf, n_masked0, a_s: float, noise=None):
    """Which masked positions to reveal from t to s: those whose guess has the highest confidence
    `conf` (B, T), as many as leave round(n_masked0 * (1 - alpha_s)) of the block's n_masked0 (B,)
    masked, the expected number under ancestral sampling. `noise` (B, T) is added to the
    log-confidences before they are ranked (MaskGIT's choice noise)."""
    keep_masked = torch.round(n_masked0 * (1 - a_s)).long()
    n_reveal = active.sum(dim=1) - keep_masked  # (B,)
    score = conf.clamp_min(1e-30).log() + (0 if noise is None else noise)  # finite for every active position
    score = torch.where(active, score, -math.inf)  # so positions not active sort last
    # The argsort of the argsort is each position's rank (0: the most confident). stable=True
    # breaks ties (e.g. several guesses with probability 1) left first, the same on every device.
    rank = score.argsort(dim=1, descending=True, stable=True).argsort(dim=1)
    return active & (rank < n_reveal.unsqueeze(1))


def choice_noise(shape, scale: float, gen: torch.Generator, device):
    """Gumbel noise times `scale` (B, T), or None for scale 0. Confidence decoding ranks by
    log-confidence plus this noise, with the scale falling linearly to 0 as t does (MaskGIT's
    annealed "choice temperature"): early steps, which fix the text's shape, choose less greedily."""
    if scale == 0:
        return None
    u = torch.rand(shape, generator=gen, dtype=torch.float64).clamp_min(1e-300)
    return (-(-u.log()).log() * scale).float().to(device)


@torch.no_grad()
def sample(model, tokenizer, length: int | None = None, steps: int = 64, strategy: str = "ancestral",
           prompt: str = "", template: str | None = None, n_samples: int = 1, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, block_length: int | None = None,
           schedule: str = "linear", choice_temperature: float = 0.0, seed: int = 0) -> Samples:
    """Generate `n_samples` texts by running the reverse process for `steps` steps.
    `choice_temperature` > 0 adds annealed noise to confidence decoding's choice (`choice_noise`)."""
    canvas = make_canvas(tokenizer, length, prompt, template)
    _check(model, canvas.shape[-1], causal=False, temperature=temperature, top_k=top_k, top_p=top_p,
           steps=steps, strategy=strategy, block_length=block_length, choice_temperature=choice_temperature)
    was_training = model.training
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device  # no parameters (an OnnxDenoiser): the CPU
    gen = torch.Generator().manual_seed(seed)  # CPU: the same draws on every device
    xt = canvas.to(device).repeat(n_samples, 1)  # (B, T)
    revealed_at, confidence = torch.zeros_like(xt), torch.ones(xt.shape, device=device)
    positions = torch.arange(xt.shape[1], device=device)
    step, logits, logits_for = 0, None, None
    for (lo, hi), n in _blocks(xt == tokenizer.mask_id, steps, block_length):
        in_block = (lo <= positions) & (positions < hi)  # (T,)
        n_masked0 = ((xt == tokenizer.mask_id) & in_block).sum(dim=1)  # (B,)
        for j in range(n):  # one reverse step, from t to s
            t, s = 1 - j / n, 1 - (j + 1) / n
            if logits_for is None or not torch.equal(logits_for, xt):  # the model ignores t: reuse if xt is unchanged
                logits, logits_for = filter_logits(model(xt).float(), top_k, top_p), xt.clone()
            x0_hat, conf = draw(logits, temperature, gen)  # a guess everywhere
            a_t, a_s = alpha(t, schedule).item(), alpha(s, schedule).item()
            active = (xt == tokenizer.mask_id) & in_block  # the masked positions this step may reveal
            if strategy == "ancestral":
                reveal = reveal_ancestral(active, a_s, a_t, gen)
            else:
                noise = choice_noise(xt.shape, choice_temperature * t, gen, device)
                reveal = reveal_confidence(active, conf, n_masked0, a_s, noise)
            step += 1
            xt = torch.where(reveal, x0_hat, xt)
            revealed_at = torch.where(reveal, step, revealed_at)
            confidence = torch.where(reveal, conf, confidence)
    model.train(was_training)
    texts = [tokenizer.decode(row) for row in xt.cpu()]
    return Samples(texts, xt.cpu(), revealed_at.cpu(), confidence.cpu(), step, tokenizer.mask_id)


@torch.no_grad()
def generate(model, tokenizer, length: int, prompt: str = "\n", n_samples: int = 1, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int = 0,
             use_cache: bool = True) -> Samples:
    """Write `length` characters (prompt included) with the causal twin, one per step.

    The twin predicts the *next* character, so it needs at least one to start from (a line
    break by default, as a speech starts). With `use_cache`, each step feeds only the newest
    character; without, it re-reads the whole text so far (the same result, more work)."""
    if not prompt:
        raise ValueError("the autoregressive twin needs a prompt of at least one character, e.g. '\\n'")
    prompt_ids = make_canvas(tokenizer, length, prompt)[: len(prompt)]  # make_canvas checks the prompt and length
    _check(model, length, causal=True, temperature=temperature, top_k=top_k, top_p=top_p)
    steps = length - len(prompt)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)  # CPU: the same draws on every device
    x = prompt_ids.to(device).repeat(n_samples, 1)  # (B, P)
    cache = KVCache(model.cfg.n_layer) if use_cache else None
    confidence = [torch.ones(x.shape, device=device)]
    for _ in range(steps):
        new = x if cache is None else x[:, len(cache):]  # the characters the model has not read yet
        logits = filter_logits(model(new, cache)[:, -1:].float(), top_k, top_p)  # (B, 1, V)
        x_next, conf = draw(logits, temperature, gen)  # (B, 1) each
        x = torch.cat([x, x_next], dim=1)
        confidence.append(conf)
    model.train(was_training)
    # step i writes position P + i - 1
    revealed_at = (torch.arange(length) - len(prompt) + 1).clamp_min(0).repeat(n_samples, 1)
    texts = [tokenizer.decode(row) for row in x.cpu()]
    return Samples(texts, x.cpu(), revealed_at, torch.cat(confidence, dim=1).cpu(), steps, tokenizer.mask_id)
