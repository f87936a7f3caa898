"""Real words and repetition against the number of sampling steps, per strategy, with error bars.

    python benchmarks/steps_sweep.py                         # the shipped denoiser
    python benchmarks/steps_sweep.py --seeds 0 1 --steps 16 64

Chapter 8 plots this. Each point is `--seeds` runs of 8 texts of 128 characters from an empty
canvas (as the chapter samples), measured by `dlm_core.quality` as in sampler_study.py: the mean
over seeds of the share of real words and of repeated 4-grams, with its standard error, next to
real validation text cut the same way. The strategies are those chapter 8 compares, and the
default of `dlm sample`.
"""

import argparse
import json
import platform
from pathlib import Path

import torch

from dlm_core import checkpoint, data, pretrained
from dlm_core.cli import DEFAULT_SAMPLER
from dlm_core.quality import vocabulary
from sampler_study import measure, real_text

LENGTH = 128
STRATEGIES = {
    "ancestral": {},
    "ancestral, top-p 0.9": {"top_p": 0.9},
    "confidence": {"strategy": "confidence"},
    "confidence, blocks of 32": {"strategy": "confidence", "block_length": 32},
    "dlm sample's default": {k: v for k, v in DEFAULT_SAMPLER.items() if k != "steps"},
}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="the denoiser (default: the shipped one)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--data", help="path to tinyshakespeare.txt (default: $DLM_DATA, the cache, or download)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "steps-sweep.json"))
    args = parser.parse_args(argv)
    model, tokenizer, _ = checkpoint.load(args.checkpoint, "cpu") if args.checkpoint else pretrained.load("cpu")
    train_text, val_text = data.split(data.load(args.data))
    known = vocabulary(train_text)
    result = {"real": real_text(val_text, args.seeds, known, LENGTH), "length": LENGTH, "texts_per_seed": 8,
              "seeds": args.seeds, "steps": args.steps, "checkpoint": args.checkpoint or "shipped",
              "machine": platform.platform(), "threads": torch.get_num_threads(), "rows": []}
    canvas = dict(length=LENGTH, prompt="")
    for name, kwargs in STRATEGIES.items():
        for steps in args.steps:
            r = measure(model, tokenizer, {**kwargs, "steps": steps}, args.seeds, known, canvas)
            result["rows"].append({"strategy": name, "steps": steps, **r})
            print(f"{name:>26} {steps:4d} steps: words {r['words'][0]:.3f} ± {r['words'][1]:.3f}, "
                  f"repeats {r['repeats'][0]:.3f} ± {r['repeats'][1]:.3f}", flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
