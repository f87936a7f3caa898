"""Scoring a model on a text: bits per character, with an honest standard error.

`evaluate` cuts the text into consecutive windows of the model's context and scores each:
the denoiser by its NELBO, a random quantity (it averages over masks), with several draws per
window; the autoregressive twin by its exact next-character loss, in one pass. The reported
error is the Monte-Carlo standard error of the mean: how far a repeat with other masks would
typically land. Stratifying a window's mask times over [0, 1] lowers the variance, but a
stratified set gives no honest estimate of its own error (its draws are not independent), so
each window gets two independent stratified replicates (or, for an odd number of draws,
independent draws), whose spread measures it.
"""

from __future__ import annotations

import math

import torch

from .data import windows
from .masking import loss_per_sequence, sample_t


def replicate_times(rows: int, strata: int, generator: torch.Generator) -> torch.Tensor:
    """Times for `rows` rows, each run of `strata` consecutive rows (one replicate of one window)
    stratified over [0, 1] on its own: (rows,)."""
    return torch.cat([sample_t(strata, generator) for _ in range(rows // strata)])


@torch.no_grad()
def standard_error(bits: torch.Tensor, all_windows: bool, exact: bool) -> float:
    """Monte-Carlo standard error of the mean of `bits` (windows x replicates, each replicate an
    independent, unbiased estimate of its window's value). With every window scored only the masks
    are random, so the error comes from the spread within windows (none for an exact loss); with a
    random subset of windows, or one replicate per window, from the spread of the window means."""
    n, replicates = bits.shape
    if all_windows and exact:
        return 0.0
    if all_windows and replicates > 1:
        return math.sqrt(bits.var(dim=1).sum().item() / replicates) / n
    return bits.mean(dim=1).std().item() / math.sqrt(n) if n > 1 else float("nan")


@torch.no_grad()
def evaluate(model, data: torch.Tensor, generator: torch.Generator, draws: int = 4,
             max_windows: int | None = None, batch_size: int = 64, **kwargs) -> tuple[float, float]:
    """Bits per character on `data` (1-D ids) and its Monte-Carlo standard error. A tail shorter
    than a window is left out; `max_windows` scores a random subset of the windows instead
    (faster, noisier). `kwargs` (estimator, schedule) go to the NELBO."""
    if draws < 1 or (max_windows is not None and max_windows < 1):
        raise ValueError(f"draws and max_windows must be at least 1, got draws={draws}, max_windows={max_windows}")
    was_training = model.training
    model.eval()
    w = windows(data, model.cfg.block_size + (1 if model.cfg.causal else 0))
    all_windows = max_windows is None or len(w) <= max_windows
    if not all_windows:
        w = w[torch.randperm(len(w), generator=torch.Generator().manual_seed(0))[:max_windows]]
    draws = 1 if model.cfg.causal else draws
    strata = draws // 2 if draws % 2 == 0 else 1  # stratified times per replicate
    device = next(model.parameters(), torch.empty(0)).device  # no parameters (an OnnxDenoiser): the CPU
    per_draw, rows = [], max(1, batch_size // draws)
    for i in range(0, len(w), rows):
        x = w[i: i + rows].to(device).repeat_interleave(draws, dim=0)  # a window's draws are adjacent rows
        t = None if model.cfg.causal else replicate_times(len(x), strata, generator)
        per_draw.append(loss_per_sequence(model, x, generator, t=t, **kwargs).view(-1, draws).cpu())
    model.train(was_training)
    bits = torch.cat(per_draw).double() / math.log(2)  # (windows, draws)
    bits = bits.view(len(bits), -1, strata).mean(dim=2)  # (windows, replicates)
    return bits.mean().item(), standard_error(bits, all_windows, exact=model.cfg.causal)
