"""The live sampler in headless Chromium: how soon the first sample appears, the time per step, and
whether the model the browser gets writes as well as the PyTorch model.

    python benchmarks/browser_sampler.py            # after `make book`; writes results/browser_sampler.json

Timing. Each of --rounds fresh browser contexts (nothing cached) opens the book's first page,
served on 127.0.0.1, and presses play on its live sampler as a reader would: a 128-character line
after "ROMEO:", 32 steps, ancestral sampling. "First sample" is the time from the click to the
finished text: it includes fetching and compiling ONNX Runtime Web's WebAssembly and loading the
model. The page records the load time and each step's time (root.dlmTimes); a second click in the
same page then times a warm run. The budget is the first sample within BUDGET_S seconds.

Quality. With the model loaded, the page's own sampler (twins/sampler.js, through ONNX Runtime
Web) writes --per-prompt samples after each of PROMPTS; `sampler.sample` writes as many with the
PyTorch model, same settings. Both sets are scored with `dlm_core.quality`: the share of real words
(the training split's word list) and of repeated 4-grams, over the characters after the prompt,
as a mean over samples with its standard error. The browser's random numbers are its own, so the
two sets are different draws from (nearly) the same model: expect agreement within the errors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from check_twins import ARGS  # noqa: E402
from find_browser import find_browser  # noqa: E402
from serve import serve  # noqa: E402

from dlm_core import data, pretrained, quality, sampler  # noqa: E402

BUDGET_S = 5.0
PAGE = "book/intro.html"
LENGTH, STEPS, PROMPT = 128, 32, "ROMEO:"
PROMPTS = ("ROMEO:", "JULIET:", "First Citizen:", "KING RICHARD III:", "MENENIUS:", "DUKE VINCENTIO:",
           "QUEEN ELIZABETH:", "GLOUCESTER:")
JS_SAMPLE = """async ([canvas, V, maskId, o]) =>
  (await dlmSampler.sample((await globalThis.dlmLiveModel).denoise, canvas, V, maskId, o)).ids"""


def mean_se(values: list[float]) -> tuple[float, float]:
    """The mean and its standard error (sample standard deviation / sqrt(n))."""
    return statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))


def scores(texts: list[str], prompts: list[str], known: set[str]) -> dict:
    """Real-word and repeated-4-gram shares of each text after its prompt: {name: [mean, se]}."""
    tails = [text[len(prompt):] for text, prompt in zip(texts, prompts)]
    return dict(real_words=mean_se([quality.word_fraction(t, known) for t in tails]),
                repeated_4grams=mean_se([quality.repeated_ngram_fraction(t, 4) for t in tails]))


def play_once(page) -> dict:
    """Press play on the page's first live sampler and wait for its text; the page's timings."""
    root = page.locator(".dlm-live").first
    root.evaluate("(el) => { el.dlmRun = undefined; }")
    start = time.perf_counter()
    root.locator(".live .play").click()
    page.wait_for_function("document.querySelector('.dlm-live').dlmRun !== undefined", timeout=120_000, polling=10)
    total = time.perf_counter() - start
    times = root.evaluate("(el) => el.dlmTimes")
    return dict(total_s=total, load_ms=times["loadMs"], step_ms=times["stepMs"])


def time_rounds(browser, base: str, rounds: int) -> list[dict]:
    out = []
    for _ in range(rounds):
        context = browser.new_context()  # a fresh cache: the runtime and the model are fetched again
        page = context.new_page()
        page.goto(base + PAGE)
        cold, warm = play_once(page), play_once(page)
        out.append(dict(first_sample_s=cold["total_s"], load_ms=cold["load_ms"], step_ms=cold["step_ms"],
                        warm_sample_s=warm["total_s"], warm_step_ms=warm["step_ms"]))
        context.close()
    return out


def browser_samples(browser, base: str, tok, per_prompt: int) -> list[str]:
    page = browser.new_page()
    page.goto(base + PAGE)
    play_once(page)  # loads the model
    options = dict(steps=STEPS, strategy="ancestral", temperature=1.0, topK=None, topP=None, choiceTemperature=0,
                   schedule="linear")
    texts = [tok.decode(page.evaluate(JS_SAMPLE, [sampler.make_canvas(tok, LENGTH, prompt).tolist(), tok.vocab_size,
                                                  tok.mask_id, options]))
             for prompt in PROMPTS for _ in range(per_prompt)]
    page.close()
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=ROOT / "_build")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-prompt", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "browser_sampler.json")
    args = parser.parse_args()
    html_dir = args.build / "html"
    info = json.loads((html_dir / "_static" / "live" / "live.json").read_text())
    model, tok, _ = pretrained.load("cpu")
    known = quality.vocabulary(data.split(data.load())[0])
    prompts = [p for p in PROMPTS for _ in range(args.per_prompt)]
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p, serve(html_dir) as base:
        browser = p.chromium.launch(executable_path=find_browser(p), args=ARGS)
        rounds = time_rounds(browser, base, args.rounds)
        in_browser = browser_samples(browser, base, tok, args.per_prompt)
        version = browser.version
        browser.close()
    in_torch = [t for i, prompt in enumerate(PROMPTS) for t in sampler.sample(
        model, tok, length=LENGTH, steps=STEPS, prompt=prompt, n_samples=args.per_prompt, seed=i).texts]
    steps = [ms for r in rounds for ms in r["step_ms"][1:]]
    result = dict(
        settings=dict(page=PAGE, prompt=PROMPT, length=LENGTH, steps=STEPS, strategy="ancestral", temperature=1.0),
        model=dict(file=info["model"], bytes=info["bytes"], onnxruntime_web=info["ort_version"], dtype="float32"),
        timing=dict(budget_s=BUDGET_S, first_sample_s=[r["first_sample_s"] for r in rounds],
                    within_budget=all(r["first_sample_s"] <= BUDGET_S for r in rounds),
                    load_ms=[r["load_ms"] for r in rounds], first_step_ms=[r["step_ms"][0] for r in rounds],
                    median_step_ms=statistics.median(steps),
                    warm_sample_s=[r["warm_sample_s"] for r in rounds],
                    warm_median_step_ms=statistics.median(ms for r in rounds for ms in r["warm_step_ms"]),
                    rounds=rounds),
        quality=dict(n_samples=len(prompts), prompts=list(PROMPTS), browser=scores(in_browser, prompts, known),
                     pytorch=scores(in_torch, prompts, known), browser_texts=in_browser, pytorch_texts=in_torch),
        machine=dict(cpu_cores=os.cpu_count(), platform=platform.platform(), browser=f"Chromium {version} (headless)",
                     load_average=os.getloadavg()[0], torch=torch.__version__))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    t, q = result["timing"], result["quality"]
    print(f"model {info['model']}: {info['bytes'] / 1e6:.1f} MB (float32), ONNX Runtime Web {info['ort_version']}, "
          f"{result['machine']['browser']}, load average {result['machine']['load_average']:.1f}")
    print(f"first sample ({LENGTH} characters, {STEPS} steps, cold): "
          + ", ".join(f"{s:.2f}" for s in t["first_sample_s"]) + f" s (budget {BUDGET_S} s)")
    print("  of which loading the runtime and model: " + ", ".join(f"{ms / 1000:.2f}" for ms in t["load_ms"]) + " s")
    print(f"per step: first {', '.join(f'{ms:.0f}' for ms in t['first_step_ms'])} ms, then median "
          f"{t['median_step_ms']:.0f} ms; warm run {', '.join(f'{s:.2f}' for s in t['warm_sample_s'])} s, "
          f"median step {t['warm_median_step_ms']:.0f} ms")
    for name in ("browser", "pytorch"):
        (w, w_se), (r, r_se) = q[name]["real_words"], q[name]["repeated_4grams"]
        print(f"{name:>8}: real words {w:.3f} ± {w_se:.3f}, repeated 4-grams {r:.3f} ± {r_se:.3f} "
              f"({q['n_samples']} samples)")
    print(f"wrote {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
