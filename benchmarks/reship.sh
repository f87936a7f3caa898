#!/usr/bin/env bash
# Ship a newly trained pair and regenerate every saved result that depends on it (maintainers only).
#
#   bash benchmarks/reship.sh
#
# Expects the finished runs of configs/shipped.json and configs/twin-dropout-{0,0.1,0.2}.json in
# runs/ (each twin early-stopped, its best weights in runs/twin-dropout-X-best). Run it with
# nothing else on the machine: race.py and the sampler studies time what they measure.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
for run in runs/shipped runs/twin-dropout-{0,0.1,0.2}-best; do
  [ -f "$run/config.json" ] || { echo "reship.sh: $run is missing; train it first: bash benchmarks/train_pair.sh"; exit 1; }
done

# The twin is chosen by its own held-out estimate, never by the validation split that scores it.
dropout=$($py -c '
from benchmarks.epochs import lowest
from dlm_core import checkpoint
best = {d: lowest(checkpoint.read_config(f"runs/twin-dropout-{d}-best")["history"])["val_bpc"] for d in ("0", "0.1", "0.2")}
print(min(best, key=best.get))')
echo "reship.sh: shipping the twin with dropout $dropout"

$py benchmarks/quality.py configs/shipped.json --eval-only --out runs/shipped
$py benchmarks/quality.py "configs/twin-dropout-$dropout.json" --eval-only --out "runs/twin-dropout-$dropout-best"
$py benchmarks/ship.py runs/shipped --command "dlm train --config configs/shipped.json --out runs/shipped"
$py benchmarks/ship.py "runs/twin-dropout-$dropout-best" --run "runs/twin-dropout-$dropout" --twin \
  --command "dlm train --config configs/twin-dropout-$dropout.json --out runs/twin-dropout-$dropout"

.venv/bin/dlm eval --json > benchmarks/results/shipped-eval.json
$py benchmarks/bound.py --windows 128
$py benchmarks/epochs.py denoiser=runs/shipped "twin, dropout 0=runs/twin-dropout-0" \
  "twin, dropout 0.1=runs/twin-dropout-0.1" "twin, dropout 0.2=runs/twin-dropout-0.2"
taskset -c 0,1 $py benchmarks/race.py
OMP_NUM_THREADS=1 $py benchmarks/sampler_study.py --seeds 0 1 2
OMP_NUM_THREADS=1 $py benchmarks/steps_sweep.py
make notebooks
$py benchmarks/tables.py --write
