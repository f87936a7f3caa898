"""Quality per CPU minute: train a recipe on its wall-clock budget, then measure it.

    python benchmarks/quality.py configs/cpu-5min.json
    python benchmarks/quality.py configs/cpu-25min.json --out runs/25min

Runs `dlm train` (in-process) with the config (or, with --eval-only, takes the checkpoint
already in --out), evaluates the final checkpoint on the whole validation split exactly as
`dlm eval` does (every window, 8 mask draws each), and writes
benchmarks/results/<config name>.json with the machine (with its measured matrix-multiply
peak, which tells machines apart: the same budget buys a faster one more steps), the wall
time, the final NELBO with its standard error, and the training curve (validation estimates
on 64 windows against minutes), plus a PNG of that curve. It prints the curve as a table.
"""

import argparse
import json
import os
import platform
from pathlib import Path

import matplotlib
import torch

from dlm_core import checkpoint, data
from dlm_core.device import pick_device
from dlm_core.evaluate import evaluate
from dlm_core.train import TrainConfig, train
from throughput import matmul_peak

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--out", help="checkpoint directory (default: runs/<config name>)")
    p.add_argument("--data")
    p.add_argument("--eval-only", action="store_true", help="measure an existing checkpoint in --out again")
    args = p.parse_args()
    name = Path(args.config).stem
    out = Path(args.out or f"runs/{name}")
    cfg = TrainConfig.from_json(args.config)
    peak = {kind: round(matmul_peak(dtype, pick_device()) / 1e9)  # GFLOP/s where train() runs, before it
            for kind, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}

    if not args.eval_only:
        train(cfg, out, data_path=args.data, progress=False)
    model, tokenizer, saved = checkpoint.load(out)
    val_ids = tokenizer.encode(data.split(data.load(args.data))[1])
    bpc, se = evaluate(model, val_ids, torch.Generator().manual_seed(0), draws=8)

    record = {
        "config": args.config, "settings": json.loads(Path(args.config).read_text()),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "threads": torch.get_num_threads(), "torch": torch.__version__, "matmul_peak_gflops": peak},
        "params": saved["params"], "steps": saved["step"], "train_wall_seconds": round(saved["elapsed"], 1),
        "val_nelbo_bits_per_char": round(bpc, 4), "val_stderr": round(se, 4),
        "curve": [{"minutes": round(h["elapsed"] / 60, 2), "step": h["step"], "val_bpc_64_windows": round(h["val_bpc"], 4)}
                  for h in saved["history"]],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=1))

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([c["minutes"] for c in record["curve"]], [c["val_bpc_64_windows"] for c in record["curve"]], marker="o")
    ax.set(xlabel="training wall-clock minutes (2 CPU cores)", ylabel="validation NELBO (bits/char)",
           title=f"{name}: {bpc:.3f} ± {se:.3f} bits/char at the end")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=120)

    measure = "next-character loss (exact)" if model.cfg.causal else "NELBO (all windows, 8 draws)"
    print(f"{name}: {saved['params']:,} parameters, {saved['step']} steps in {saved['elapsed'] / 60:.1f} min; "
          f"validation {measure} {bpc:.4f} ± {se:.4f} bits/char\n")
    print("| minutes | step | validation bits/char (64 windows) |\n|---|---|---|")
    for c in record["curve"]:
        print(f"| {c['minutes']:.2f} | {c['step']} | {c['val_bpc_64_windows']:.3f} |")


if __name__ == "__main__":
    main()
