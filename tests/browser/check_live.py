"""The live sampler in a real browser: the shipped model run by ONNX Runtime Web, checked against dlm_core.

`make browser-check` runs this after check_twins.py, on the book `make book-check` built (with
book/live/build.py's _static/live/). It serves _build/html on 127.0.0.1 (serve.py) and, in
headless Chrome or Chromium (find_browser.py):

1. on every page with a live sampler, types a prompt, then an infill template, as a reader
   would, presses play and checks the result: the given characters kept, no mask left, only
   vocabulary characters, every cell coloured as `viz.cell_colour` says, the replay slider
   showing `Samples.frame`'s canvas; a character outside the vocabulary gets the library's message;
2. compares the page's JavaScript (twins/sampler.js) with dlm_core on exact cases: masking.alpha
   and the reveal probabilities of both schedules, make_canvas, filter_logits, draw and every
   strategy, given the same logits and PyTorch's own uniforms;
3. compares the browser's logits for fixed canvases with the PyTorch model's (within TOLERANCE,
   the same -inf entries), and whole runs of the browser's sampler, fed the uniforms PyTorch's
   generator draws, with `sampler.sample`'s runs (the same text, revealed at the same steps);
4. opens a page from a file, where the view must say why in one line and show its replay.

It fails on any JavaScript error, any failed load and any request that leaves the machine.
Screenshots go to _build/browser/. Usage: `python tests/browser/check_live.py [BUILD]`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch
from playwright.sync_api import sync_playwright

from check_twins import ARGS, _css_rgb, set_range, watch
from dlm_core import masking, pretrained, sampler, viz
from find_browser import find_browser
from serve import serve

PAGES = {"book/intro": 1, "notebooks/07_sampling": 1, "notebooks/09_infilling": 1}  # page: how many live samplers it shows
MAX_MODEL_BYTES = 12_000_000  # the most a reader should download for the model (book/live/build.py)
TOLERANCE = 1e-4  # largest |browser logit - PyTorch logit| accepted: float32 rounding, not a different model
INFILL = "To be, or ___ to be, that is the question"
# Whole runs compared with sampler.sample: each strategy, both schedules, top-k and top-p, a template.
RUNS = [dict(prompt="ROMEO:", length=64, steps=16, strategy="ancestral", temperature=1.0, seed=0),
        dict(template=INFILL, steps=3, strategy="confidence", temperature=0.0),
        dict(prompt="JULIET:\n", length=48, steps=12, strategy="ancestral", temperature=0.8, top_k=20, top_p=0.9,
             schedule="cosine", seed=1),
        dict(prompt="KING:", length=40, steps=8, strategy="confidence", temperature=1.0, seed=2),
        dict(prompt="\n", length=64, steps=16, strategy="confidence", temperature=1.0, choice_temperature=1.5, seed=3)]


def js_options(run: dict) -> dict:
    """sampler.sample's keyword arguments as sampler.js's options."""
    return dict(steps=run["steps"], strategy=run["strategy"], temperature=run["temperature"],
                topK=run.get("top_k"), topP=run.get("top_p"), choiceTemperature=run.get("choice_temperature", 0.0),
                schedule=run.get("schedule", "linear"))


def torch_uniforms(run: dict, canvas: torch.Tensor, tok) -> list[float]:
    """The uniforms `sampler.sample` draws for `run`, in order: per step, T * V for the Gumbel noise
    (temperature > 0, float64), then T for the ancestral reveals, or T for confidence decoding's
    choice noise (float64, where its scale is not 0); one sample, no blocks."""
    gen, out, V, T, n = torch.Generator().manual_seed(run.get("seed", 0)), [], tok.vocab_size, len(canvas), run["steps"]
    for j in range(n if (canvas == tok.mask_id).any() else 0):
        if run["temperature"] > 0:
            out += torch.rand((1, T, V), generator=gen, dtype=torch.float64).flatten().tolist()
        if run["strategy"] == "ancestral":
            out += torch.rand((1, T), generator=gen).flatten().tolist()
        elif run.get("choice_temperature", 0.0) * (1 - j / n) != 0:
            out += torch.rand((1, T), generator=gen, dtype=torch.float64).flatten().tolist()
    return out


# JavaScript run in the page: the uniforms come from a list, -inf travels as null.
JS_RUN = """async ([canvas, V, maskId, o, u]) => {
  let i = 0;
  const model = await globalThis.dlmLiveModel;
  const out = await dlmSampler.sample(model.denoise, canvas, V, maskId, o, () => u[i++]);
  return {...out, used: i};
}"""
JS_LOGITS = """async (ids) => Array.from(await (await globalThis.dlmLiveModel).denoise(ids),
  (x) => x === -Infinity ? null : x)"""


def as_float(values: list) -> torch.Tensor:
    """Numbers from the page as float32 (JSON writes 1.0 as 1)."""
    return torch.tensor(values, dtype=torch.float32)


def check_functions(page, tok) -> None:
    """sampler.js against dlm_core, function by function, on the same inputs (exact, or to float32's last digit)."""
    ts = torch.linspace(0, 1, 101).tolist()
    for schedule in masking.SCHEDULES:
        js = page.evaluate("([ts, s]) => ts.map((t) => dlmSampler.alpha(t, s))", [ts, schedule])
        assert torch.allclose(as_float(js), masking.alpha(ts, schedule), atol=1e-6, rtol=0), f"alpha, {schedule}"
        assert js[0] == 1 and js[-1] == 0, f"alpha_0 = 1 and alpha_1 = 0 exactly ({schedule})"
        for n in (1, 3, 32):  # the reveal probability of every step, (alpha_s - alpha_t) / (1 - alpha_t)
            a = [masking.alpha(1 - j / n, schedule).item() for j in range(n + 1)]
            a_js = page.evaluate("([n, s]) => [...Array(n + 1).keys()].map((j) => dlmSampler.alpha(1 - j / n, s))",
                                 [n, schedule])
            p, p_js = ([(x[j + 1] - x[j]) / (1 - x[j]) for j in range(n)] for x in (a, a_js))
            assert max(abs(x - y) for x, y in zip(p, p_js)) < 1e-6 and p_js[-1] == 1, (schedule, n)
    halves = [0.5, 1.5, 2.5, 3.5, -0.5, 2.4, 2.6]
    rounded = page.evaluate("(xs) => xs.map(dlmSampler.roundHalfEven)", halves)
    assert rounded == torch.round(torch.tensor(halves)).tolist(), "halves to the even neighbour, as torch.round"
    assert page.evaluate("() => Object.keys(dlmSampler.STRATEGIES)") == list(sampler.STRATEGIES), "the same strategies"
    for text, length in (("ROMEO:", 10), (INFILL, 0), ("To be — or", 20), ("ROMEO:", 3), ("", 0)):
        try:
            kind = dict(template=text) if "_" in text else dict(prompt=text, length=length)
            want = sampler.make_canvas(tok, **kind).tolist()
        except ValueError as e:
            want = str(e)
        got = page.evaluate("""([t, n, chars, m]) => {
          try { return dlmSampler.makeCanvas(t, n, chars, m); } catch (e) { return e.message; } }""",
                            [text, length, tok.chars, tok.mask_id])
        assert got == want, (text, got, want)

    V, T = tok.vocab_size, 6
    logits = torch.randn((1, T, V), generator=torch.Generator().manual_seed(0)) * 3
    logits[..., tok.mask_id] = -torch.inf  # as SUBS gives: never [MASK]
    logits[0, 0] = torch.where(torch.arange(V) == 5, 0.0, -torch.inf)  # a given position: a point mass
    flat = logits.flatten().tolist()
    for top_k, top_p in ((None, None), (5, None), (None, 0.9), (10, 0.5), (1, None)):
        want = sampler.filter_logits(logits, top_k, top_p)
        got = page.evaluate("""([l, V, k, p]) => Array.from(dlmSampler.filterLogits(Float32Array.from(l, (x) =>
          x === null ? -Infinity : x), V, k, p), (x) => x === -Infinity ? null : x)""",
                            [[None if x == -float("inf") else x for x in flat], V, top_k, top_p])
        assert [x is None for x in got] == torch.isinf(want).flatten().tolist(), ("filter_logits", top_k, top_p)
        for temperature in (0.0, 1.0, 0.7):
            x0_hat, conf = sampler.draw(want, temperature, torch.Generator().manual_seed(3))
            u = torch.rand(want.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64).flatten()
            js = page.evaluate("""([l, V, temp, u]) => { let i = 0; return dlmSampler.draw(Float32Array.from(l,
              (x) => x === null ? -Infinity : x), V, temp, () => u[i++]); }""", [got, V, temperature, u.tolist()])
            assert js["x0Hat"] == x0_hat[0].tolist(), ("draw", top_k, top_p, temperature)
            assert torch.allclose(as_float(js["conf"]), conf[0], atol=1e-6), ("draw's confidence", temperature)

    active = torch.tensor([[True, True, False, True, True, True, False, True]])
    conf = torch.tensor([[0.5, 1.0, 1.0, 1.0, 0.25, 1.0, 0.1, 0.75]])  # ties at 1: the leftmost go first
    cases = ((0.5, 0.0, 5, 0.0), (0.5, 0.25, 6, 0.0), (0.0, 0.5, 6, 1.5), (0.9, 0.75, 7, 3.0))
    for a_s, a_t, n_masked0, choice in cases:  # 5 * (1 - 0.5) = 2.5 keeps 2 masked: halves go to even
        t = 0.5  # confidence decoding's choice noise has the scale choice * t
        u32 = torch.rand(active.shape, generator=torch.Generator().manual_seed(4))  # reveal_ancestral's
        u64 = torch.rand(active.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)  # choice noise
        ancestral = sampler.reveal_ancestral(active, a_s, a_t, torch.Generator().manual_seed(4))
        noise = sampler.choice_noise(active.shape, choice * t, torch.Generator().manual_seed(4), "cpu")
        confident = sampler.reveal_confidence(active, conf, torch.tensor([n_masked0]), a_s, noise)
        js = page.evaluate("""([active, conf, nMasked0, aS, aT, t, choiceTemperature, u]) => {
          const reveal = (name, us) => { let i = 0; return dlmSampler.STRATEGIES[name](
            {active, conf, nMasked0, aS, aT, t, choiceTemperature, uniform: () => us[i++]}); };
          return {ancestral: reveal("ancestral", u[0]), confidence: reveal("confidence", u[1])}; }""",
                           [active[0].tolist(), conf[0].tolist(), n_masked0, a_s, a_t, t, choice,
                            [u32[0].tolist(), u64[0].tolist()]])
        assert js == dict(ancestral=ancestral[0].tolist(), confidence=confident[0].tolist()), (a_s, a_t, n_masked0, js)


def check_model(page, model, tok) -> str:
    """The browser's logits and whole runs against PyTorch's; returns a line saying how close."""
    worst = 0.0
    for canvas in (sampler.make_canvas(tok, 128, prompt="ROMEO:"), sampler.make_canvas(tok, template=INFILL)):
        with torch.no_grad():
            want = model(canvas.unsqueeze(0))[0].float().flatten()
        got = page.evaluate(JS_LOGITS, canvas.tolist())
        assert [x is None for x in got] == torch.isinf(want).tolist(), "the -inf logits (SUBS) differ"
        finite = ~torch.isinf(want)
        worst = max(worst, (torch.tensor([x for x in got if x is not None]) - want[finite]).abs().max().item())
    assert worst < TOLERANCE, f"browser logits differ from PyTorch's by up to {worst:.2e} (tolerance {TOLERANCE})"
    for run in RUNS:
        s = sampler.sample(model, tok, **run)
        canvas = sampler.make_canvas(tok, run.get("length"), run.get("prompt", ""), run.get("template"))
        u = torch_uniforms(run, canvas, tok)
        js = page.evaluate(JS_RUN, [canvas.tolist(), tok.vocab_size, tok.mask_id, js_options(run), u])
        assert js["used"] == len(u), f"the browser drew {js['used']} uniforms, PyTorch {len(u)}: {run}"
        assert tok.decode(js["ids"]) == s.texts[0], (run, tok.decode(js["ids"]), s.texts[0])
        assert js["revealedAt"] == s.revealed_at[0].tolist() and js["steps"] == s.steps, ("reveal steps", run)
        assert torch.allclose(as_float(js["confidence"]), s.confidence[0], atol=1e-5), ("confidences", run)
    return f"logits within {worst:.1e} of PyTorch's; {len(RUNS)} runs identical to sampler.sample's"


def play(page, root: str, text: str, length: int, steps: int, strategy: str, temperature: float) -> dict | None:
    """Type the settings, press play, wait for the run; its result (None if the page said no)."""
    page.fill(f"{root} .live .text", text)
    settings = (("steps", steps), ("temperature", temperature)) + ((("length", length),) if "_" not in text else ())
    for name, value in settings:  # a template sets its own length: the page disables that box
        page.fill(f"{root} .live .{name}", str(value))
    page.select_option(f"{root} .live .strategy", strategy)
    page.locator(root).evaluate("(el) => { el.dlmRun = undefined; }")
    page.click(f"{root} .live .play")
    page.wait_for_function(f"!document.querySelector('{root} .live .play').disabled", timeout=120_000)
    return page.locator(root).evaluate("(el) => el.dlmRun ?? null")


def check_canvas(page, root: str, run: dict, chars: list[str]) -> None:
    """What the page shows is the run: its text, and each cell's colour as viz.cell_colour says."""
    shown = run["text"].replace("\n", viz.NEWLINE_GLYPH)
    assert page.inner_text(f"{root} .live .canvas") == shown, "the canvas shows the run's text"
    assert all(c in chars for c in run["text"]), "only vocabulary characters"
    for by in viz.COLOUR_BY:
        page.select_option(f"{root} .live .colour-by", by)
        spans = page.locator(f"{root} .live .canvas span")
        backgrounds = spans.evaluate_all("spans => spans.map(s => s.style.background)")
        wanted = [_css_rgb(viz.cell_colour(r, p, run["steps"], by))
                  for r, p in zip(run["revealedAt"], run["confidence"])]
        assert backgrounds == wanted, f"colours by {by}"
    k = run["steps"] // 2  # the replay: a position shows once revealed_at <= k
    set_range(page, f"{root} .live .k", k)
    frame = "".join(c if r <= k else viz.MASK_GLYPH for c, r in zip(shown, run["revealedAt"]))
    assert page.inner_text(f"{root} .live .canvas") == frame, "the replay slider"
    set_range(page, f"{root} .live .k", run["steps"])


def check_view(page, root: str, tok) -> None:
    """A reader's runs: a prompt, then a template with holes, then a character the model never saw."""
    run = play(page, root, "ROMEO:", 128, 32, "ancestral", 1.0)
    assert run is not None, "no run: " + page.inner_text(f"{root} .status")
    assert len(run["text"]) == 128 and run["text"].startswith("ROMEO:") and run["steps"] == 32
    assert all((r == 0) == (i < 6) for i, r in enumerate(run["revealedAt"])), "only the prompt is given"
    check_canvas(page, root, run, tok.chars)
    run = play(page, root, INFILL, 0, 3, "confidence", 0)
    assert run is not None, "no run: " + page.inner_text(f"{root} .status")
    holes = [i for i, c in enumerate(INFILL) if c == "_"]
    assert all(run["text"][i] == c for i, c in enumerate(INFILL) if i not in holes), "a given character changed"
    assert all((run["revealedAt"][i] > 0) == (i in holes) for i in range(len(INFILL))), "only the holes were written"
    check_canvas(page, root, run, tok.chars)
    assert play(page, root, "To be — or ___", 0, 3, "confidence", 0) is None
    try:
        sampler.make_canvas(tok, template="To be — or ___")
    except ValueError as e:
        assert page.inner_text(f"{root} .status") == str(e), "the library's message for a bad character"


def check_page(browser, base: str, name: str, n_views: int, shots: Path, model, tok, first: bool) -> list[str]:
    problems = []
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    watch(page, problems, local=r"data:|blob:|" + re.escape(base))
    page.goto(base + name + ".html")
    roots = ["#" + uid for uid in page.locator(".dlm-live").evaluate_all("els => els.map(e => e.id)")]
    if len(roots) != n_views:
        problems.append(f"{len(roots)} live samplers on the page; expected {n_views}")
    for root in roots:
        try:
            check_view(page, root, tok)
            if first:  # the model is loaded now: compare the page's code and numbers with dlm_core's
                check_functions(page, tok)
                print(f"     {check_model(page, model, tok)}")
                first = False
        except AssertionError as e:
            problems.append(f"{root}: {e}")
        page.locator(root).screenshot(path=str(shots / f"live-{name.replace('/', '-')}-{root[1:]}.png"))
    page.close()
    return problems


def check_file_page(browser, html_dir: Path, name: str, shots: Path) -> list[str]:
    """Opened from a file, the view says why it cannot run and shows its replay instead."""
    problems = []
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    watch(page, problems)
    page.goto((html_dir / f"{name}.html").resolve().as_uri())
    view = page.locator(".dlm-live").first
    status = view.locator(".status").inner_text()
    if not status.startswith("This page was opened from a file") or "\n" in status:
        problems.append(f"the fallback's line: {status!r}")
    if view.locator(".live").is_visible() or not view.locator(".fallback .dlm-twin .canvas").is_visible():
        problems.append("the fallback should hide the controls and show the replay")
    view.screenshot(path=str(shots / f"live-fallback-{name.replace('/', '-')}.png"))
    page.close()
    return problems


def main(build: Path) -> int:
    html_dir = build / "html"
    live = html_dir / "_static" / "live" / "live.json"
    info = json.loads(live.read_text()) if live.is_file() else {}
    if not info.get("ort"):
        print(f"need the built book with its live sampler ({live}: {info.get('missing', 'missing')}); "
              "run `make book-check` with Node.js and npm installed", file=sys.stderr)
        return 2
    size = (live.parent / info["model"]).stat().st_size
    verdict = "ok  " if size <= MAX_MODEL_BYTES else "FAIL"
    print(f"{verdict} the model file: {size:,} bytes (at most {MAX_MODEL_BYTES:,})")
    failed = size > MAX_MODEL_BYTES
    shots = build / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    model, tok, _ = pretrained.load("cpu")
    with sync_playwright() as p, serve(html_dir) as base:
        try:
            browser = p.chromium.launch(executable_path=find_browser(p), args=ARGS)
        except ValueError as e:
            print(f"browser check: {e}", file=sys.stderr)
            return 2
        for i, (name, n_views) in enumerate(PAGES.items()):
            problems = check_page(browser, base, name, n_views, shots, model, tok, first=i == 0)
            problems += check_file_page(browser, html_dir, name, shots)
            print(f"{'FAIL' if problems else 'ok  '} {name}: live, then opened from a file")
            for problem in problems:
                print(f"     {problem}")
            failed |= bool(problems)
        browser.close()
    print(f"screenshots in {shots}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "_build")))  # the build folder
