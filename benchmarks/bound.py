"""How tight is the denoiser's bound? Three scores of the same characters, in bits per character:

1. the denoiser's NELBO (what it is trained on and scored by: an upper bound on -log p(x) that
   averages over the orders in which characters are revealed);
2. the denoiser's exact negative log-likelihood along one fixed order, left to right, one
   character per step: sum_i -log p(x_i | x_<i revealed, x_>=i masked). That order defines a
   proper distribution over texts (the chain rule), so this is an exact likelihood, of that
   distribution; the NELBO is the average of such sums over random orders (chapter 5), so the
   gap between the two says how much the left-to-right order is better than a random one;
3. the autoregressive twin's exact next-character loss.

    python benchmarks/bound.py --windows 64
    python benchmarks/bound.py --checkpoint runs/shipped --twin runs/twin-dropout-0.1-best --windows 0

The windows are validation windows of 257 characters: every score is of their last 256
characters; the twin reads the first one as context (it predicts a character from the ones
before it), the denoiser scores the 256 alone (its context is 256). With `--windows N` a random
subset of N windows is scored (0: all of them) and the errors are standard errors over windows;
the differences are paired (the same windows), so their errors are smaller than either score's.
"""

import argparse
import json
import math
import platform
from pathlib import Path

import torch
import torch.nn.functional as F

from dlm_core import checkpoint, data, pretrained
from dlm_core.data import windows
from dlm_core.masking import nelbo_per_sequence

LN2 = math.log(2)


@torch.no_grad()
def left_to_right_bits(model, x0) -> torch.Tensor:
    """-log2 p(x0_i | x0_<i revealed, the rest masked) for every position of every row: (B, T).
    Step i of the order shows the model the canvas whose first i characters are revealed, and
    reads its prediction at position i; the T canvases of one window are one batch."""
    B, T = x0.shape
    steps = torch.arange(T, device=x0.device)
    revealed = steps[None, :] < steps[:, None]  # (T, T): row i reveals the positions before i
    bits = torch.empty(B, T)
    for b in range(B):
        canvases = torch.where(revealed, x0[b], model.cfg.mask_id)  # (T, T)
        logits = model(canvases)[steps, steps]  # (T, V): step i's logits at position i
        bits[b] = (F.cross_entropy(logits, x0[b], reduction="none") / LN2).cpu()
    return bits


@torch.no_grad()
def nelbo_bits(model, x0, draws: int, seed: int, estimator: str) -> torch.Tensor:
    """The NELBO of each row in bits per character, averaged over `draws` masks: (B,)."""
    generator = torch.Generator().manual_seed(seed)
    rows = x0.repeat_interleave(draws, dim=0)
    return (nelbo_per_sequence(model, rows, generator, estimator=estimator) / LN2).view(-1, draws).mean(1).cpu()


@torch.no_grad()
def twin_bits(twin, w) -> torch.Tensor:
    """The twin's exact loss on the last T characters of each window (B, T + 1), bits: (B,)."""
    logits = twin(w[:, :-1])
    return (F.cross_entropy(logits.transpose(1, 2), w[:, 1:], reduction="none").mean(1) / LN2).cpu()


def mean_and_error(values: torch.Tensor) -> dict:
    """Mean over windows and its standard error (the spread of the window values)."""
    values = values.double()
    error = values.std().item() / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return {"mean": values.mean().item(), "standard_error": error}


def measure(model, twin, val_ids, n_windows: int, draws: int, seed: int, estimator: str = "any-order-is") -> dict:
    """The three scores (and their paired differences) on `n_windows` random validation windows
    (0: all). The NELBO uses the training's lower-variance estimator by default."""
    T = model.cfg.block_size
    w = windows(val_ids, T + 1)
    if n_windows:
        w = w[torch.randperm(len(w), generator=torch.Generator().manual_seed(seed))[:n_windows]]
    device = next(model.parameters()).device
    nelbo, l2r, ar = [], [], []
    for i in range(len(w)):
        x = w[i: i + 1].to(device)
        nelbo.append(nelbo_bits(model, x[:, 1:], draws, seed + i, estimator))
        l2r.append(left_to_right_bits(model, x[:, 1:]).mean(1))
        ar.append(twin_bits(twin, x))
    nelbo, l2r, ar = torch.cat(nelbo), torch.cat(l2r), torch.cat(ar)
    return {"windows": len(w), "characters_per_window": T, "draws": draws,
            "nelbo": mean_and_error(nelbo), "left_to_right": mean_and_error(l2r), "twin": mean_and_error(ar),
            "nelbo_minus_left_to_right": mean_and_error(nelbo - l2r),
            "left_to_right_minus_twin": mean_and_error(l2r - ar),
            "nelbo_over_twin": (nelbo.mean() / ar.mean()).item()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="the denoiser (default: the shipped one)")
    parser.add_argument("--twin", help="its autoregressive twin (default: the shipped one)")
    parser.add_argument("--windows", type=int, default=64, help="random validation windows to score (0: all)")
    parser.add_argument("--draws", type=int, default=16, help="mask draws per window for the NELBO")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", help="path to tinyshakespeare.txt (default: $DLM_DATA, the cache, or download)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bound.json"))
    args = parser.parse_args(argv)
    if args.windows < 0 or args.draws < 1:
        parser.error(f"--windows must be 0 or more and --draws at least 1, got {args.windows} and {args.draws}")
    model, tokenizer, _ = checkpoint.load(args.checkpoint, "cpu") if args.checkpoint else pretrained.load("cpu")
    twin, _, _ = checkpoint.load(args.twin, "cpu") if args.twin else pretrained.load("cpu", twin=True)
    if not twin.cfg.causal or model.cfg.causal or twin.cfg.block_size != model.cfg.block_size:
        parser.error("--checkpoint must be a denoiser and --twin a causal model of the same context")
    text = data.load(args.data)
    val_ids = tokenizer.encode(data.split(text)[1])
    result = measure(model.eval(), twin.eval(), val_ids, args.windows, args.draws, args.seed)
    result.update(checkpoint=args.checkpoint or "shipped", twin_checkpoint=args.twin or "shipped",
                  machine=platform.platform(), torch=torch.__version__)
    for name in ("nelbo", "left_to_right", "twin", "nelbo_minus_left_to_right", "left_to_right_minus_twin"):
        print(f"{name:>26}: {result[name]['mean']:.4f} ± {result[name]['standard_error']:.4f} bits/char")
    print(f"{'NELBO / twin':>26}: {result['nelbo_over_twin']:.4f}   ({result['windows']} windows)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
