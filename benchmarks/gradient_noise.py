"""Gradient noise of the NELBO estimators: how much one batch's gradient scatters around the mean.

    python benchmarks/gradient_noise.py                  # the shipped model, windows of 128
    python benchmarks/gradient_noise.py --batches 100 --window 64
    python benchmarks/gradient_noise.py --same-windows   # only the masks vary: their share of the noise

All estimators of `dlm_core.masking` have the same expectation, so they differ only in how
noisy a batch's gradient is; late in training that noise, not the gradient's direction, limits
progress. For each estimator this draws the same `--batches` batches of training windows,
each with its own masks, and prints the spread of the loss and the total variance of the
gradient (the trace of its covariance over batches), next to the average sum of squared
per-character weights that the `any-order-is` proposal minimises (masking.py).
`--same-windows` draws one batch of windows and only fresh masks for it: what is left of the
variance is the part that the masks cause, the part an estimator can reduce.
"""

import argparse

import torch

from dlm_core import data, masking, pretrained
from dlm_core.masking import ESTIMATORS


def squared_weights(T: int, estimator: str) -> float:
    """masking.mean_squared_weight for the distribution of k that an any-order estimator draws."""
    p = masking.k_proposal(T) if estimator == "any-order-is" else torch.full((T,), 1 / T, dtype=torch.float64)
    return masking.mean_squared_weight(p)


def gradients(model, ids, estimator: str, window: int, batch_size: int, batches: int, same_windows: bool):
    """(batches, parameters) gradients and (batches,) losses; the same windows for every estimator."""
    data_gen, mask_gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    grads, losses = [], []
    fixed = data.get_batch(ids, batch_size, window, data_gen) if same_windows else None
    for _ in range(batches):
        x0 = fixed if same_windows else data.get_batch(ids, batch_size, window, data_gen)
        loss = masking.nelbo_per_sequence(model, x0, mask_gen, estimator).mean()
        model.zero_grad()
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        losses.append(loss.item())
    return torch.stack(grads), torch.tensor(losses)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--window", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--same-windows", action="store_true", help="one batch of windows, fresh masks each time")
    args = p.parse_args()
    torch.manual_seed(0)
    model, tokenizer = pretrained.load()[:2]
    model.train()
    ids = tokenizer.encode(data.split(data.load())[0])
    windows = "the same training windows" if args.same_windows else "training windows"
    print(f"shipped model, {args.batches} batches of {args.batch_size} {windows} of {args.window}\n")
    print("| estimator | mean loss (nats/char) | loss sd | gradient variance | relative to any-order "
          "| sum of squared weights |")
    print("|---|---|---|---|---|---|")
    variance = {}
    for estimator in ESTIMATORS:
        grads, losses = gradients(model, ids, estimator, args.window, args.batch_size, args.batches,
                                  args.same_windows)
        variance[estimator] = (grads - grads.mean(dim=0)).pow(2).sum(dim=1).mean().item()
        weights = "-" if estimator == "continuous" else f"{squared_weights(args.window, estimator):.4f}"
        print(f"| {estimator} | {losses.mean():.4f} | {losses.std():.4f} | {variance[estimator]:.4f} | "
              f"{variance[estimator] / variance.get('any-order', variance[estimator]):.2f} | {weights} |")


if __name__ == "__main__":
    main()
