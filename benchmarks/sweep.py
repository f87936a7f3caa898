"""The recipe search behind configs/cpu-5min.json: short runs on a step budget, compared at
equal compute.

    OMP_NUM_THREADS=1 python benchmarks/sweep.py            # every row (about an hour on 1 core)
    OMP_NUM_THREADS=1 python benchmarks/sweep.py L2-muon    # rows whose name starts with this

Step budgets (not wall clock) make each row deterministic and independent of what else the
machine is doing. Rows of the same group cost about the same compute: e.g. 2 layers x 800
steps against 4 layers x 400 steps. Each row prints the validation estimate (64 windows,
2 mask draws) at its last step.
"""

import shutil
import sys
import tempfile

from dlm_core.train import TrainConfig, train

BASE = dict(preset="laptop", warmup_steps=50, eval_interval=10_000, lr=3e-3, batch_size=32)

# (name, group, settings on top of BASE)
ROWS = [
    ("L4-adamw", "depth, AdamW", dict(max_steps=400)),
    ("L3-adamw", "depth, AdamW", dict(max_steps=533, model={"n_layer": 3})),
    ("L2-adamw", "depth, AdamW", dict(max_steps=800, model={"n_layer": 2})),
    ("L4-adamw-b16", "batch size", dict(max_steps=800, batch_size=16)),
    ("L2-muon-3e-3", "optimizer", dict(max_steps=800, model={"n_layer": 2}, optimizer="muon")),
    ("L2-muon-1e-2", "optimizer", dict(max_steps=800, model={"n_layer": 2}, optimizer="muon", lr=1e-2)),
    ("L2-muon-2e-2", "optimizer", dict(max_steps=800, model={"n_layer": 2}, optimizer="muon", lr=2e-2)),
    ("L4-muon-1e-2", "depth, Muon", dict(max_steps=400, optimizer="muon", lr=1e-2)),
    ("L1-muon-1e-2", "depth, Muon", dict(max_steps=1600, model={"n_layer": 1}, optimizer="muon", lr=1e-2)),
    ("L2-d192-muon", "width, Muon", dict(max_steps=380, model={"n_layer": 2, "d_model": 192}, optimizer="muon", lr=1e-2)),
    ("L2-T64-muon", "window, Muon", dict(max_steps=800, model={"n_layer": 2, "block_size": 64}, batch_size=64,
                                         optimizer="muon", lr=1e-2)),
    ("L2-T256-muon", "window, Muon", dict(max_steps=800, model={"n_layer": 2, "block_size": 256}, batch_size=16,
                                          optimizer="muon", lr=1e-2)),
]


def main():
    prefix = sys.argv[1] if len(sys.argv) > 1 else ""
    print("| run | group | steps | validation bits/char |\n|---|---|---|---|")
    for name, group, settings in ROWS:
        if not name.startswith(prefix):
            continue
        out = tempfile.mkdtemp()
        shutil.rmtree(out)
        result = train(TrainConfig(**{**BASE, **settings}), out, progress=False)
        print(f"| {name} | {group} | {result['steps']} | {result['history'][-1]['val_bpc']:.3f} |", flush=True)
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
