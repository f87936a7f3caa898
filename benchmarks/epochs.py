"""What do epochs do? Validation loss against the characters a run has trained on, in epochs.

    python benchmarks/epochs.py runs/shipped runs/twin-dropout-0 runs/twin-dropout-0.1 runs/twin-dropout-0.2
    python benchmarks/epochs.py denoiser=dlm_core/checkpoints/shakespeare twin=dlm_core/checkpoints/shakespeare-twin

A run is a checkpoint directory, or label=directory to name its curves.

Reads the validation history that training keeps in each checkpoint's config.json (an estimate
every eval_interval steps, with the smoothed training loss beside it; for a shipped best
checkpoint, its whole run's history, recorded as "run") and puts both on one axis:
characters seen = steps x batch_size x block_size (a window schedule keeps the characters per
step the same), in epochs of the characters the run trained on (the training split, less a
held-out tail where there is one, which is then what it was validated on). A run starts to
overfit where its validation loss turns up while its training loss still falls. Writes the
curves as JSON and as a PNG.
"""

import argparse
import json
from pathlib import Path

import matplotlib

from dlm_core import checkpoint, data

RESULTS = Path(__file__).parent / "results"


def curve(config: dict, train_characters: int) -> list[dict]:
    """One run's history (the whole run's, for a best checkpoint) with characters seen and epochs added."""
    per_step = config["train"]["batch_size"] * config["model"]["block_size"]
    return [{**entry, "characters": entry["step"] * per_step, "epochs": entry["step"] * per_step / train_characters}
            for entry in config.get("run", config)["history"]]


def load_curve(run, train_text: str) -> dict:
    """A run's curve and the split its validation estimates came from."""
    config = checkpoint.read_config(run)
    holdout = config["train"].get("holdout_fraction", 0.0)
    trained_on = data.split(train_text, 1 - holdout)[0] if holdout else train_text
    return {"validated_on": f"held-out {holdout:.0%} of the training split" if holdout else "validation split",
            "points": curve(config, len(trained_on))}


def lowest(points: list[dict]) -> dict:
    """The estimate with the lowest validation loss: where early stopping would have stopped."""
    return min(points, key=lambda p: p["val_bpc"])


def plot(curves: dict, path: Path) -> None:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (label, run), colour in zip(curves.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        points = run["points"][1:]  # the untrained model's estimate is far off the scale
        ax.plot([p["epochs"] for p in points], [p["val_bpc"] for p in points], color=colour,
                label=f"{label}: {run['validated_on']}")
        ax.plot([p["epochs"] for p in points if "train_bpc" in p], [p["train_bpc"] for p in points if "train_bpc" in p],
                color=colour, linestyle=":", label=f"{label}: training (smoothed)")
    ax.set(xscale="log", xlabel="epochs (characters seen / training characters)", ylabel="bits per character")
    for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):  # 2, 3, 20, not 2 x 10^0
        axis(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="checkpoint directories (their config.json holds the history), "
                        "each as a directory or label=directory")
    parser.add_argument("--data", help="path to tinyshakespeare.txt (default: $DLM_DATA, the cache, or download)")
    parser.add_argument("--out", default=str(RESULTS / "epochs.json"))
    args = parser.parse_args(argv)
    train_text = data.split(data.load(args.data))[0]
    named = [run.split("=", 1) if "=" in run else (Path(run).name, run) for run in args.runs]
    curves = {label: load_curve(run, train_text) for label, run in named}
    for label, run in curves.items():
        best, last = lowest(run["points"]), run["points"][-1]
        print(f"{label:>22}: lowest {best['val_bpc']:.3f} bits/char at step {best['step']} ({best['epochs']:.1f} "
              f"epochs), last {last['val_bpc']:.3f} at {last['epochs']:.1f} epochs ({run['validated_on']})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(curves, indent=1) + "\n")
    plot(curves, out.with_suffix(".png"))
    return curves


if __name__ == "__main__":
    main()
