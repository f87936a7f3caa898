"""The recipe searches behind configs/cpu-5min.json and configs/cpu-25min.json: short runs on
a step budget, compared at equal compute.

    OMP_NUM_THREADS=1 python benchmarks/sweep.py            # every row (about 3 hours on 1 core)
    OMP_NUM_THREADS=1 python benchmarks/sweep.py L2-muon    # rows whose name starts with this
    OMP_NUM_THREADS=1 python benchmarks/sweep.py r25        # the 25-minute recipe's rows (13 minutes each)

Step budgets (not wall clock) make each row deterministic and independent of what else the
machine is doing. Rows of the same group cost about the same compute: e.g. 2 layers x 800
steps against 4 layers x 400 steps. Each row prints the validation estimate (64 windows,
2 mask draws; 256 windows for the r25 rows) at its last step.

The r25 rows are the 25-minute recipe before its window schedule (windows of 128 throughout) on
1,200 steps (its cosine over those steps, no compile), each changing one setting; `results/recipe-search-25min.log` holds their curves.
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

# The 25-minute recipe as it was before its window schedule (windows of 128 throughout) on a
# step budget, one change per row.
BASE_25 = dict(preset="laptop", optimizer="muon", lr=1e-2, min_lr_ratio=0.0, warmup_steps=50, batch_size=64,
               estimator="any-order-is", max_steps=1200, eval_interval=10_000, eval_windows=256)
ROWS_25 = [
    ("r25-base", "25-minute recipe", dict()),
    ("r25-wd0", "weight decay", dict(weight_decay=0.0)),
    ("r25-wd0.2", "weight decay", dict(weight_decay=0.2)),
    ("r25-heads2", "heads", dict(model={"n_head": 2})),
]


def main():
    prefix = sys.argv[1] if len(sys.argv) > 1 else ""
    print("| run | group | steps | validation bits/char |\n|---|---|---|---|")
    rows = [(name, group, {**BASE, **settings}) for name, group, settings in ROWS] + \
           [(name, group, {**BASE_25, **settings}) for name, group, settings in ROWS_25]
    for name, group, settings in rows:
        if not name.startswith(prefix):
            continue
        out = tempfile.mkdtemp()
        shutil.rmtree(out)
        result = train(TrainConfig(**settings), out, progress=False)
        print(f"| {name} | {group} | {result['steps']} | {result['history'][-1]['val_bpc']:.3f} |", flush=True)
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
