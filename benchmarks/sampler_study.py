"""Which sampler should `dlm sample` use by default? Candidates measured as a new user meets them.

    python benchmarks/sampler_study.py                       # the shipped denoiser, all candidates
    python benchmarks/sampler_study.py --seeds 0 1 --only ancestral-64 confidence-64

Every candidate writes what `dlm sample --prompt "ROMEO:" --length 256 -n 8 --seed S` writes
(8 texts of 256 characters after the same prompt) for each seed S, and is judged by
`dlm_core.quality`: the share of real words (words of the training split) and the share of
repeated character 4-grams, next to real validation text cut the same way (8 windows of 256
characters per seed). Time is the wall clock of one call (8 texts together) on this machine,
the median over the seeds. The table gives the mean over seeds and its standard error.
A default must reach 88% real words, repeat at most 1.5 times as much as real text, and take
at most 1.5 times as long as today's default (ancestral, 64 steps, temperature 1).
"""

import argparse
import contextlib
import json
import math
import platform
import statistics
import time
from pathlib import Path
from unittest import mock

import torch

from dlm_core import checkpoint, data, pretrained, sampler
from dlm_core.quality import repeated_ngram_fraction, vocabulary, word_fraction

PROMPT, LENGTH, N_TEXTS = "ROMEO:", 256, 8
BASELINE = "ancestral-64"  # the default the study replaced: time is measured against it
BARS = {"words": 0.88, "repeats_x_real": 1.5, "time_x_baseline": 1.5}  # what the new default must meet

# name -> the keyword arguments of sampler.sample that differ from its defaults; "method" picks one of
# METHODS instead of sampler.sample: remedies from the literature tried here, outside the library.
CANDIDATES = {
    "ancestral-64": {},
    "ancestral-64, float32 noise": {"method": "float32-noise"},
    "ancestral-64, MD4 cosine": {"schedule": "cosine"},
    "ancestral-64, T 0.8": {"temperature": 0.8},
    "ancestral-64, top-p 0.9": {"top_p": 0.9},
    "ancestral-64, top-p 0.8": {"top_p": 0.8},
    "ancestral-64, T 0.8, top-p 0.9": {"temperature": 0.8, "top_p": 0.9},
    "ancestral-96, top-p 0.9": {"steps": 96, "top_p": 0.9},
    "ReMDM-cap 0.02, top-p 0.9": {"method": "remdm", "eta": 0.02, "top_p": 0.9},
    "ReMDM-cap 0.05, top-p 0.9": {"method": "remdm", "eta": 0.05, "top_p": 0.9},
    "confidence-64": {"strategy": "confidence"},
    "confidence-64, choice T 1": {"strategy": "confidence", "choice_temperature": 1.0},
    "confidence-64, choice T 1.5": {"strategy": "confidence", "choice_temperature": 1.5},
    "confidence-64, choice T 1.75": {"strategy": "confidence", "choice_temperature": 1.75},
    "confidence-64, choice T 2": {"strategy": "confidence", "choice_temperature": 2.0},
    "confidence-64, choice T 4.5": {"strategy": "confidence", "choice_temperature": 4.5},
    "confidence-64, choice T 1.5, top-p 0.95": {"strategy": "confidence", "choice_temperature": 1.5, "top_p": 0.95},
    "confidence-64, choice T 2, MD4 cosine": {"strategy": "confidence", "choice_temperature": 2.0, "schedule": "cosine"},
    "confidence-64, choice T 2, blocks of 32": {"strategy": "confidence", "choice_temperature": 2.0, "block_length": 32},
    "confidence-64, blocks of 32": {"strategy": "confidence", "block_length": 32},
}


def draw_float32(logits, temperature, generator):
    """sampler.draw as it was: float32 Gumbel noise, cut off at about 16.6 (see sampler.draw)."""
    probs = (logits / temperature).softmax(dim=-1)
    u = torch.rand(logits.shape, generator=generator).clamp_min(1e-20)
    x0_hat = (probs.log() - (-u.log()).log()).argmax(dim=-1)
    return x0_hat, probs.gather(-1, x0_hat.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def remdm(model, tokenizer, eta: float, steps: int = 64, top_p=None, temperature: float = 1.0, seed: int = 0,
          **canvas) -> list[str]:
    """ReMDM-cap (Wang et al. 2025): the ancestral step, except that a character already written
    (not a given one) is masked again with probability sigma_t = min(eta, (1 - alpha_s) / alpha_t),
    and a masked one is revealed with probability (alpha_s - (1 - sigma_t) alpha_t) / (1 - alpha_t),
    which keeps the share of visible characters at alpha_s. Linear schedule."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    xt = sampler.make_canvas(tokenizer, **canvas).repeat(N_TEXTS, 1)  # (B, T)
    given = xt != tokenizer.mask_id
    for j in range(steps):
        t, s = 1 - j / steps, 1 - (j + 1) / steps
        a_t, a_s = 1 - t, 1 - s
        sigma = min(eta, (1 - a_s) / a_t) if a_t > 0 else 0.0
        x0_hat, _ = sampler.draw(sampler.filter_logits(model(xt).float(), None, top_p), temperature, gen)
        u = torch.rand(xt.shape, generator=gen)
        masked = xt == tokenizer.mask_id
        reveal = masked & (u < (a_s - (1 - sigma) * a_t) / (1 - a_t))
        remask = ~masked & ~given & (u < sigma)
        xt = torch.where(reveal, x0_hat, torch.where(remask, tokenizer.mask_id, xt))
    return [tokenizer.decode(row) for row in xt]


def run_candidate(model, tokenizer, kwargs: dict, seed: int, canvas: dict | None = None) -> list[str]:
    """The 8 texts of one candidate for one seed; `canvas` (length, prompt) defaults to the study's."""
    kwargs, method = dict(kwargs), kwargs.get("method", "sample")
    kwargs.pop("method", None)
    canvas = canvas or dict(length=LENGTH, prompt=PROMPT)
    if method == "remdm":
        return remdm(model, tokenizer, seed=seed, **kwargs, **canvas)
    with mock.patch.object(sampler, "draw", draw_float32) if method == "float32-noise" else contextlib.nullcontext():
        return sampler.sample(model, tokenizer, n_samples=N_TEXTS, seed=seed, **kwargs, **canvas).texts


def mean_and_error(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0)


def real_text(val_text: str, seeds: list[int], known: set, length: int = LENGTH) -> dict:
    """Real validation text cut like the samples: per seed, 8 random windows of `length` characters."""
    scores = {"words": [], "repeats": []}
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        starts = torch.randint(len(val_text) - length, (N_TEXTS,), generator=g).tolist()
        texts = [val_text[s: s + length] for s in starts]
        scores["words"].append(word_fraction(texts, known))
        scores["repeats"].append(repeated_ngram_fraction(texts))
    return {k: mean_and_error(v) for k, v in scores.items()}


def measure(model, tokenizer, kwargs: dict, seeds: list[int], known: set, canvas: dict | None = None) -> dict:
    """Quality (mean and error over seeds) and the median time of one call."""
    words, repeats, seconds = [], [], []
    for seed in seeds:
        start = time.perf_counter()
        texts = run_candidate(model, tokenizer, kwargs, seed, canvas)
        seconds.append(time.perf_counter() - start)
        words.append(word_fraction(texts, known))
        repeats.append(repeated_ngram_fraction(texts))
    return {"kwargs": kwargs, "words": mean_and_error(words), "repeats": mean_and_error(repeats),
            "seconds": statistics.median(seconds), "sample": texts[0]}


def against_bars(candidates: dict, real: dict) -> None:
    """Adds to each candidate its repetition as a multiple of real text's, its time as a multiple
    of the baseline's and whether it meets the bars (the last two only when the baseline ran)."""
    base = candidates.get(BASELINE)
    for c in candidates.values():
        c["repeats_x_real"] = c["repeats"][0] / real["repeats"][0]
        if base:
            c["time_x_baseline"] = c["seconds"] / base["seconds"]
            c["meets_bars"] = (c["words"][0] >= BARS["words"] and c["repeats_x_real"] <= BARS["repeats_x_real"]
                               and c["time_x_baseline"] <= BARS["time_x_baseline"])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="the denoiser (default: the shipped one)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--only", nargs="+", choices=list(CANDIDATES), help="measure only these candidates")
    parser.add_argument("--data", help="path to tinyshakespeare.txt (default: $DLM_DATA, the cache, or download)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sampler-study.json"))
    args = parser.parse_args(argv)
    model, tokenizer, _ = checkpoint.load(args.checkpoint, "cpu") if args.checkpoint else pretrained.load("cpu")
    train_text, val_text = data.split(data.load(args.data))
    known = vocabulary(train_text)
    real = real_text(val_text, args.seeds, known)
    print(f"{'real text':>30}: words {real['words'][0]:.3f} ± {real['words'][1]:.3f}, "
          f"repeats {real['repeats'][0]:.3f} ± {real['repeats'][1]:.3f}")
    results = {}
    for name in args.only or CANDIDATES:  # progress: a full study takes many minutes
        r = results[name] = measure(model, tokenizer, CANDIDATES[name], args.seeds, known)
        print(f"{name:>30}: words {r['words'][0]:.3f} ± {r['words'][1]:.3f}, "
              f"repeats {r['repeats'][0]:.3f} ± {r['repeats'][1]:.3f}, {r['seconds']:.1f} s")
    against_bars(results, real)
    for name, r in results.items():
        verdict = (f", {r['time_x_baseline']:.2f}x the baseline's time, meets the bars: {r['meets_bars']}"
                   if "meets_bars" in r else "")  # times compare only when the baseline ran
        print(f"{name:>30}: {r['repeats_x_real']:.2f}x real text's repeats{verdict}")
    result = {"real": real, "candidates": results, "baseline": BASELINE, "bars": BARS, "seeds": args.seeds,
              "checkpoint": args.checkpoint or "shipped", "machine": platform.platform(),
              "threads": torch.get_num_threads(), "torch": torch.__version__}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
