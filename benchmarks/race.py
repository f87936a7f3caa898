"""Diffusion against autoregression: the shipped denoiser and its causal twin, side by side.

    python benchmarks/race.py                          # the shipped denoiser and its shipped twin
    python benchmarks/race.py --diffusion runs/mine --twin runs/mine-twin --out results/race-mine.json

Both checkpoints must be the same network (chapter 10 explains why that makes the race fair;
each shipped checkpoint's config.json records the command that trained it). The script
measures, on this machine's CPU:

1. Likelihood on the whole validation split: the denoiser's NELBO (an upper bound on its
   negative log-likelihood, 8 mask draws per window) and the twin's exact next-character loss,
   both in bits per character with their Monte-Carlo standard errors (the twin's is 0: its loss
   is exact, with no masks to draw), and their ratio with its error.
2. Speed against quality: every model writes `--samples` texts of the models' full context
   (after the same one-character prompt, a line break), the denoiser at several step counts and
   both strategies, and with `dlm sample`'s default sampler (`cli.DEFAULT_SAMPLER`), the twin
   one character per step with and without its key-value cache.
   Wall time is the median of `--repeats` runs for one text alone, and of `--batch-repeats`
   runs for the whole batch (a batch takes seconds, long enough to time in one run).
   Quality is judged on the texts by `dlm_core.quality` (the share of real words, the share of
   repeated 4-grams, each with its standard error over the texts), next to the same measures for
   real validation text of the same length.

It prints the tables and writes them beside `--out` (TXT), with the numbers and one sample per
setting in `--out` itself (JSON) and the speed/quality plot (PNG). Chapter 10 reads these files.
Run it on an otherwise idle machine: the timings are wall-clock.
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import matplotlib
import torch

from dlm_core import checkpoint, data, pretrained
from dlm_core.cli import DEFAULT_SAMPLER
from dlm_core.evaluate import evaluate
from dlm_core.quality import repeated_ngram_fraction, vocabulary, word_fraction
from dlm_core.sampler import generate, sample

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

RESULTS = Path(__file__).parent / "results"
PROMPT = "\n"  # both models start after a line break, as a speech does


def check_twins(diffusion, twin) -> int:
    """The race is fair only between the same network: same sizes, one causal, one not."""
    a, b = diffusion.cfg.to_dict(), twin.cfg.to_dict()
    if a.pop("causal") or not b.pop("causal"):
        raise SystemExit("--diffusion must be a denoiser and --twin a causal=True checkpoint")
    if a != b:
        raise SystemExit(f"the two checkpoints are different networks: {a} != {b}")
    return a["block_size"]


def timed(write, model, repeats: int):
    """The median wall time of `repeats` runs of `write()`, the model's forward passes in one run,
    and the last run's result. (The denoiser skips a pass when a step revealed nothing, so its
    passes can be fewer than its steps.)"""
    calls = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = write()
        seconds.append(time.perf_counter() - start)
    hook.remove()
    return statistics.median(seconds), len(calls) // repeats, out


def training_record(saved: dict) -> dict:
    """A checkpoint's training steps and its run's validation curve: for the best weights of an
    early-stopped run, the whole run, which went on for `run_steps` (see pretrained.ship)."""
    run = saved.get("run", saved)
    return {"steps": saved.get("step"), "run_steps": run.get("step"), "minutes": round(run.get("elapsed", 0) / 60, 1),
            "curve": [{"step": h["step"], "val_bpc_64_windows": round(h["val_bpc"], 4)} for h in run.get("history", [])]}


def jackknife_se(measure, texts: list[str]) -> float:
    """The standard error of a pooled measure of `texts`, from the spread of its values with one
    text left out in turn (the jackknife: for a plain mean it gives exactly s / sqrt(n))."""
    n = len(texts)
    if n < 2:
        return 0.0
    left_out = [measure(texts[:i] + texts[i + 1:]) for i in range(n)]
    mean = statistics.fmean(left_out)
    return ((n - 1) / n * sum((v - mean) ** 2 for v in left_out)) ** 0.5


def judge(texts, known_words) -> dict:
    """The two quality measures of chapter 8, pooled over the texts, each with its standard error
    over the texts, so that two rows can be told apart from the luck of the draw."""
    measures = {"word_fraction": lambda ts: word_fraction(ts, known_words),
                "repeated_4grams": lambda ts: repeated_ngram_fraction(ts, 4)}
    result = {}
    for name, measure in measures.items():
        result[name] = round(measure(texts), 4)
        result[f"{name}_se"] = round(jackknife_se(measure, list(texts)), 4)
    return result


def run_settings(diffusion, twin, tokenizer, length, args):
    """Every (model, strategy, steps) setting: its timings, its quality and its first text."""
    settings = [("diffusion", strategy, {"steps": steps, "strategy": strategy})
                for strategy in ("ancestral", "confidence") for steps in args.steps]
    settings += [("diffusion", "default", DEFAULT_SAMPLER),
                 ("autoregressive", "kv-cache", {"steps": length - 1, "use_cache": True}),
                 ("autoregressive", "no cache", {"steps": length - 1, "use_cache": False})]
    for model_name, strategy, options in settings:
        def write(n):
            if model_name == "diffusion":
                return sample(diffusion, tokenizer, length, prompt=PROMPT, n_samples=n, seed=args.seed, **options)
            return generate(twin, tokenizer, length, prompt=PROMPT, n_samples=n, seed=args.seed,
                            use_cache=options["use_cache"])
        model = diffusion if model_name == "diffusion" else twin
        batch_s, passes, out = timed(lambda: write(args.samples), model, args.batch_repeats)
        single_s, _, _ = timed(lambda: write(1), model, args.repeats)
        yield {"model": model_name, "strategy": strategy, "steps": options["steps"], "forward_passes": passes,
               "batch_seconds": round(batch_s, 4), "single_seconds": round(single_s, 4),
               "chars_per_second": round(args.samples * (length - len(PROMPT)) / batch_s, 1),
               "texts": out.texts}


def real_text_reference(val_text, length, n, seed):
    """`n` windows of validation text of the generated length: what the quality measures give Shakespeare."""
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(val_text) - length, (n,), generator=gen).tolist()
    return [val_text[s: s + length] for s in starts]


def plot(record, path):
    """Share of real words against wall time, for a batch and for one text (chapter 10 shows it)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
    for ax, key, what in ((axes[0], "batch_seconds", f"{record['samples']} texts at once"),
                          (axes[1], "single_seconds", "one text")):
        for strategy, marker in (("ancestral", "o"), ("confidence", "s")):
            rows = [r for r in record["rows"] if r["strategy"] == strategy]
            ax.plot([r[key] for r in rows], [r["word_fraction"] for r in rows], marker=marker,
                    label=f"diffusion, {strategy}")
            for r in rows:
                ax.annotate(str(r["steps"]), (r[key], r["word_fraction"]), xytext=(4, -10),
                            textcoords="offset points", fontsize=8)
        for r in record["rows"]:
            if r["strategy"] == "default":
                ax.plot(r[key], r["word_fraction"], marker="D", markersize=8, linestyle="none",
                        label=f"diffusion, dlm sample's default ({r['steps']} steps)")
            if r["model"] == "autoregressive":
                ax.plot(r[key], r["word_fraction"], marker="*" if r["strategy"] == "kv-cache" else "x",
                        markersize=11, linestyle="none", label=f"twin, {r['strategy']}")
        ax.axhline(record["real_text"]["word_fraction"], color="grey", linestyle="--", label="real text")
        ax.set(xscale="log", xlabel=f"seconds for {what} (log scale)", title=what)
        ax.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks would overlap
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of real words")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8)  # below: no point hidden
    fig.suptitle("Speed against quality on a CPU (labels: diffusion steps)")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=120)


def tables(record) -> str:
    """The likelihoods, and every setting's speed and quality, as markdown tables."""
    lk, ref = record["likelihood"], record["real_text"]
    lines = ["| model | validation bits/char | kind |", "|---|---|---|",
             f"| diffusion | {lk['diffusion_bpc']:.4f} ± {lk['diffusion_se']:.4f} | NELBO (upper bound) |",
             f"| autoregressive twin | {lk['twin_bpc']:.4f} ± {lk['twin_se']:.4f} | exact next-character loss |",
             "", f"diffusion / twin = {lk['ratio']:.3f} ± {lk['ratio_se']:.3f}", "",
             f"| model | strategy | steps | forward passes | {record['samples']} texts (s) | 1 text (s) | chars/s "
             "| real words | repeated 4-grams |", "|---|---|---|---|---|---|---|---|---|"]
    for r in [*record["rows"], {"model": "real text", **ref}]:
        timing = (f"{r['strategy']} | {r['steps']} | {r['forward_passes']} | {r['batch_seconds']:.3f} | "
                  f"{r['single_seconds']:.3f} | {r['chars_per_second']:.0f}") if "steps" in r else "- | - | - | - | - | -"
        lines.append(f"| {r['model']} | {timing} | {r['word_fraction']:.3f} ± {r['word_fraction_se']:.3f} | "
                     f"{r['repeated_4grams']:.3f} ± {r['repeated_4grams_se']:.3f} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--diffusion", help="denoiser checkpoint (default: the shipped one)")
    p.add_argument("--twin", help="the causal twin's checkpoint (default: the shipped twin)")
    p.add_argument("--out", default=str(RESULTS / "race.json"))
    p.add_argument("--data")
    p.add_argument("--steps", type=int, nargs="+",
                   help="the denoiser's step counts (default: 8, 16, 32, ... up to the context length)")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="timed runs of one text (the median is kept)")
    p.add_argument("--batch-repeats", type=int, default=1, help="timed runs of the whole batch")
    p.add_argument("--draws", type=int, default=8, help="mask draws per window for the NELBO")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    diffusion, tokenizer, saved = (checkpoint.load(args.diffusion, "cpu") if args.diffusion
                                   else pretrained.load("cpu"))
    twin, twin_tokenizer, twin_saved = checkpoint.load(args.twin, "cpu") if args.twin else pretrained.load("cpu", twin=True)
    if twin_tokenizer.chars != tokenizer.chars:
        raise SystemExit("the two checkpoints have different vocabularies")
    length = check_twins(diffusion, twin)
    args.steps = args.steps or [2 ** k for k in range(3, 12) if 2 ** k <= length]
    train_text, val_text = data.split(data.load(args.data))
    val_ids = tokenizer.encode(val_text)

    diffusion_bpc, diffusion_se = evaluate(diffusion, val_ids, torch.Generator().manual_seed(args.seed),
                                           draws=args.draws)
    twin_bpc, twin_se = evaluate(twin, val_ids, torch.Generator().manual_seed(args.seed))
    known = vocabulary(train_text)
    rows = [{**row, **judge(row["texts"], known)} for row in run_settings(diffusion, twin, tokenizer, length, args)]
    reference = judge(real_text_reference(val_text, length, args.samples, args.seed), known)

    record = {
        "diffusion_checkpoint": args.diffusion or "shipped", "twin_checkpoint": args.twin or "shipped twin",
        "params": diffusion.num_params(), "length": length,
        "training": {"diffusion": training_record(saved), "twin": training_record(twin_saved)},
        "prompt": PROMPT, "samples": args.samples, "repeats": args.repeats,
        "batch_repeats": args.batch_repeats,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "load_average_after": round(os.getloadavg()[0], 2)},
        "likelihood": {"diffusion_bpc": round(diffusion_bpc, 4), "diffusion_se": round(diffusion_se, 4),
                       "twin_bpc": round(twin_bpc, 4), "twin_se": round(twin_se, 4),
                       "ratio": round(diffusion_bpc / twin_bpc, 4), "ratio_se": round(diffusion_se / twin_bpc, 4),
                       "draws": args.draws},
        "real_text": reference,
        "rows": [{**{k: v for k, v in r.items() if k != "texts"}, "first_text": r["texts"][0]} for r in rows],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    plot(record, out.with_suffix(".png"))
    text = tables(record)
    out.with_suffix(".txt").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
