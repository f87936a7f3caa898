"""Make a trained run the checkpoint that ships with the course (maintainers only).

    python benchmarks/ship.py runs/shipped --command "dlm train --config configs/shipped.json --out runs/shipped"
    python benchmarks/ship.py runs/twin-best --run runs/twin --twin --command "..."

Copies the checkpoint to dlm_core/checkpoints/shakespeare/ (or shakespeare-twin/ with --twin)
as fp16 weights (half the size), the vocabulary, and a config.json that records the command
that trained it, the machine, the steps, the wall time and the curve. No optimizer state: the
shipped model is for sampling and evaluating, not resuming.

When the source is the best checkpoint an early-stopped run kept (`keep_best`), pass the run's
own directory as --run: its last step and whole validation curve, which go on past the best,
are recorded too (as "run"), so the shipped config shows why training stopped.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import torch

from dlm_core import checkpoint, pretrained


def ship(source, command: str, dest, run=None) -> Path:
    model, tokenizer, saved = checkpoint.load(source)
    meta = {k: saved[k] for k in ("train", "step", "elapsed", "history", "params")}
    if run is not None:
        whole = checkpoint.read_config(run)
        meta["run"] = {"step": whole["step"], "elapsed": whole["elapsed"], "history": whole["history"]}
    meta["provenance"] = {"command": command, "machine": platform.platform(), "cpu_cores": os.cpu_count(),
                          "torch": torch.__version__}
    return checkpoint.save(dest, model, tokenizer, meta, dtype=torch.float16)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", help="the checkpoint to ship")
    p.add_argument("--command", required=True, help="the command that trained it, recorded as provenance")
    p.add_argument("--run", help="the whole run, when source is its best checkpoint")
    p.add_argument("--twin", action="store_true", help="ship as the autoregressive twin")
    args = p.parse_args()
    dest = pretrained.TWIN_PATH if args.twin else pretrained.PATH
    print(f"shipped {ship(args.source, args.command, dest, args.run)}")


if __name__ == "__main__":
    main()
