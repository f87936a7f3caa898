"""What do epochs do? Validation loss against the characters a run has trained on, in epochs.

    python benchmarks/epochs.py runs/shipped runs/twin-dropout-0 runs/twin-dropout-0.1 runs/twin-dropout-0.2

Reads the validation history that training keeps in each checkpoint's config.json (an estimate
every eval_interval steps, with the smoothed training loss beside it) and puts both on one axis:
characters seen = steps x batch_size x block_size (a window schedule keeps the characters per
step the same), in epochs of the characters the run trained on (the training split, less a
held-out tail where there is one). A run starts to overfit where its validation loss turns up
while its training loss still falls. Writes the table as JSON and the curves as a PNG.
"""

import argparse
import json
from pathlib import Path

import matplotlib

from dlm_core import checkpoint, data

RESULTS = Path(__file__).parent / "results"


def curve(config: dict, train_characters: int) -> list[dict]:
    """One run's history with characters seen and epochs added."""
    cfg = config["train"]
    per_step = cfg["batch_size"] * config["model"]["block_size"]
    return [{**entry, "characters": entry["step"] * per_step, "epochs": entry["step"] * per_step / train_characters}
            for entry in config["history"]]


def lowest(points: list[dict]) -> dict:
    """The estimate with the lowest validation loss: where early stopping would have stopped."""
    return min(points, key=lambda p: p["val_bpc"])


def plot(curves: dict, path: Path) -> None:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (label, points), colour in zip(curves.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        points = points[1:]  # the untrained model's estimate is far off the scale
        ax.plot([p["epochs"] for p in points], [p["val_bpc"] for p in points], color=colour, label=f"{label}: validation")
        ax.plot([p["epochs"] for p in points if "train_bpc" in p], [p["train_bpc"] for p in points if "train_bpc" in p],
                color=colour, linestyle=":", label=f"{label}: training (smoothed)")
    ax.set(xscale="log", xlabel="epochs (characters seen / training characters)", ylabel="bits per character")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="checkpoint directories (their config.json holds the history)")
    parser.add_argument("--data", help="path to tinyshakespeare.txt (default: $DLM_DATA, the cache, or download)")
    parser.add_argument("--out", default=str(RESULTS / "epochs.json"))
    args = parser.parse_args(argv)
    train_text = data.split(data.load(args.data))[0]
    curves = {}
    for run in args.runs:
        config = checkpoint.read_config(run)
        holdout = config["train"].get("holdout_fraction", 0.0)
        curves[Path(run).name] = curve(config, len(data.split(train_text, 1 - holdout)[0]) if holdout else len(train_text))
    for label, points in curves.items():
        best = lowest(points)
        print(f"{label:>22}: lowest validation {best['val_bpc']:.3f} bits/char at step {best['step']} "
              f"({best['epochs']:.1f} epochs); last {points[-1]['val_bpc']:.3f} at {points[-1]['epochs']:.1f} epochs")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(curves, indent=1) + "\n")
    plot(curves, out.with_suffix(".png"))
    return curves


if __name__ == "__main__":
    main()
