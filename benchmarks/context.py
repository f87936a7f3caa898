"""How much context a trained denoiser uses: its validation NELBO on windows of several lengths.

    python benchmarks/context.py runs/cpu-25min runs/F --lengths 64 128 256

Each checkpoint is scored on the whole validation split cut into windows of each length (as
`dlm eval` does at the model's own length), with `draws` masks per window (8, as `quality.py`
uses) and the same seed.
Rotary positions have no learned table, so a model can be scored on windows longer than it was
trained on; its positions beyond that were never seen, and the table shows what that costs.
A shorter window leaves each character less text around it, and more characters near an edge.
"""

import argparse
import dataclasses

import torch

from dlm_core import checkpoint, data
from dlm_core.evaluate import evaluate
from dlm_core.model import Denoiser


def at_length(model: Denoiser, length: int) -> Denoiser:
    """The same weights with a context of `length` characters."""
    resized = Denoiser(dataclasses.replace(model.cfg, block_size=length))
    resized.load_state_dict(model.state_dict())
    return resized


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--draws", type=int, default=8)
    p.add_argument("--data")
    args = p.parse_args()
    val_text = data.split(data.load(args.data))[1]
    print("| checkpoint | trained context | " + " | ".join(f"windows of {n}" for n in args.lengths) + " |")
    print("|---|---|" + "---|" * len(args.lengths))
    for path in args.checkpoints:
        model, tokenizer, _ = checkpoint.load(path)
        val_ids = tokenizer.encode(val_text)  # each checkpoint's own vocabulary
        cells = []
        for n in args.lengths:
            bpc, se = evaluate(at_length(model, n), val_ids, torch.Generator().manual_seed(0),
                               draws=args.draws)
            cells.append(f"{bpc:.3f} ± {se:.3f}")
        print(f"| {path} | {model.cfg.block_size} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
