#!/usr/bin/env bash
# Train the four runs behind the shipped pair (maintainers only): the denoiser of configs/shipped.json
# and its causal twin at dropout 0, 0.1 and 0.2, each into runs/<config name>.
#
#   bash benchmarks/train_pair.sh --device cuda             # all four at once on one GPU
#   JOBS=2 bash benchmarks/train_pair.sh --device cpu       # two at a time, one thread each
#
# Each run is far too small to fill a GPU, so by default all four share it (JOBS=4). A run that
# already has a checkpoint is resumed (--resume); one that finished leaves runs/<name>.done and is
# skipped (Ctrl-C makes `dlm train` save and exit 130, leaving no marker), so the script can be
# stopped and started again at any point. Any other arguments go
# to every `dlm train` (e.g. --max-steps 20 for a quick check); RUNS picks some of the four
# (RUNS="shipped twin-dropout-0.1" JOBS=2 ...: runs that fit in one sitting). Then: bash benchmarks/reship.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
DLM=${DLM:-dlm}  # where dlm_core is not installed: DLM="python3 -m dlm_core.cli"
export DLM_ARGS="$*"

train_one() {  # $1: a config name
  local out=runs/$1
  [ -e "$out.done" ] && { echo "$1: done"; return; }
  if [ -f "$out/optimizer.safetensors" ]; then
    $DLM train --out "$out" --resume $DLM_ARGS
  else
    $DLM train --config "configs/$1.json" --out "$out" $DLM_ARGS
  fi >> "$out.log" 2>&1 && touch "$out.done" && echo "$1: finished" || { echo "$1: failed, see $out.log"; return 1; }
}
export -f train_one
export DLM

mkdir -p runs
printf '%s\n' ${RUNS:-shipped twin-dropout-0 twin-dropout-0.1 twin-dropout-0.2} |
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} xargs -P "${JOBS:-4}" -I{} bash -c 'train_one {}'
