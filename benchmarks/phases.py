"""Time per training step in each phase of a window schedule, from quality.py's result files.

    python benchmarks/phases.py benchmarks/results/ablations-25min/short-attn-*.json

A result's curve records the wall-clock minutes and the step of every validation estimate, so
the time per step between the first and last estimate inside a phase is that phase's cost,
estimates included. The phases are the fractions of the run's own wall time at which its
`window_schedule` changes the window. With each run's 32-draw score from `draws-32.txt` beside
the result files (the `dlm eval --draws 32` outputs, tagged by run directory), the last line
gives the mean steps and the mean score, with the standard error of that mean from the spread
between runs: on a shared machine runs of the same settings scatter far more than one score's
own error.
"""

import argparse
import json
import re
import statistics
from pathlib import Path


def phase_ms(result) -> list[float | None]:
    """Milliseconds per step in each phase of the run's window schedule (None: fewer than two
    estimates fell inside that phase)."""
    curve, wall = result["curve"], result["train_wall_seconds"] / 60
    edges = [fraction * wall for fraction, _ in result["settings"]["window_schedule"]] + [wall]
    ms = []
    for start, end in zip(edges[:-1], edges[1:]):
        inside = [p for p in curve if start < p["minutes"] <= end]
        if len(inside) < 2:
            ms.append(None)
            continue
        first, last = inside[0], inside[-1]
        ms.append((last["minutes"] - first["minutes"]) * 60_000 / (last["step"] - first["step"]))
    return ms


def scores_32_draws(path: Path) -> dict[str, float]:
    """Bits per character with 32 draws, by run name (the last entry wins). The file holds one
    JSON object per entry, some of them spread over two lines, so it splits before each "{"
    that starts a line."""
    entries = [json.loads(chunk) for chunk in re.split(r"\n(?=\{)", path.read_text().strip())]
    return {Path(entry["run"]).name: entry["result"]["bits_per_char"] for entry in entries}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", type=Path, help="quality.py result files (JSON)")
    args = p.parse_args()
    results = {path.stem: json.loads(path.read_text()) for path in args.results}
    for path, result in zip(args.results, results.values()):
        if "curve" not in result or not result.get("settings", {}).get("window_schedule"):
            p.error(f"{path} is not a quality.py result of a run with a window_schedule: "
                    "pass the results of such runs, e.g. results/ablations-25min/short-attn-a.json")
    draws = args.results[0].parent / "draws-32.txt"
    scores = scores_32_draws(draws) if draws.exists() else {}
    windows = [w for _, w in next(iter(results.values()))["settings"]["window_schedule"]]
    print(f"| run | steps | {' | '.join(f'windows of {w} (ms)' for w in windows)} | 32 draws |")
    print("|---" * (len(windows) + 3) + "|")
    for name, result in results.items():
        ms = " | ".join("-" if m is None else f"{m:.0f}" for m in phase_ms(result))
        score = f"{scores[name]:.4f}" if name in scores else "-"
        print(f"| {name} | {result['steps']:,} | {ms} | {score} |")
    steps = [r["steps"] for r in results.values()]
    scored = [scores[name] for name in results if name in scores]
    line = f"\n{len(steps)} runs: mean {statistics.mean(steps):,.0f} steps"
    if len(scored) > 1:
        error = statistics.stdev(scored) / len(scored) ** 0.5
        line += f"; {len(scored)} scored with 32 draws: mean {statistics.mean(scored):.4f} ± {error:.4f}"
    print(line)


if __name__ == "__main__":
    main()
