"""The kernel-free twins in a real browser: open the built book in headless Chromium and drive them.

`make browser-check` runs this after `make book-check` has built _build/html. For each chapter
with twins it opens the page, checks that every twin rendered, moves its controls the way a
reader would (a slider set and its input event dispatched, buttons clicked, menus changed) and
checks that the page then shows exactly what the Python side computes from the data embedded in
the twin (`viz.masked_view` for the masking slider, `Samples.frame`'s rule for the player). It
also fails on any JavaScript error, any failed resource load and any request that leaves the
machine. Screenshots go to _build/browser/ (kept by CI as artefacts). Usage:
`python tests/browser/check_twins.py [BUILD]`, BUILD being the book's build folder (_build).

The browser is an installed Chrome or Chromium (`find_browser.py` says which; CI uses Debian's
`chromium`, installed with apt when missing, see .ci/run), driven by Playwright; nothing is
downloaded at run time.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from dlm_core import viz
from find_browser import find_browser

CHAPTERS = {"03_forward_process": 1, "07_sampling": 2, "09_infilling": 1, "10_diffusion_vs_autoregression": 1}  # chapter: how many twins it shows
# No network here: the browser must not try to reach one (updates, sync, safe browsing, ...).
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-sync", "--disable-extensions", "--disable-component-update", "--disable-default-apps"]
# The book loads nothing from outside (MathJax is copied into the build by sphinx-mathjax-offline):
# any request that leaves the machine is an error.
# Two messages the book theme logs on every page, whatever the chapter shows: sphinx-thebe's
# settings script is included twice, and a fresh browser has no stored light/dark mode. They are
# not the twins' doing; any other error fails the check.
KNOWN_THEME_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",
                      "Got invalid theme mode: . Resetting to auto.")


def embedded_data(html_path: Path) -> dict[str, dict]:
    """{twin id: the data its script embeds}, read from the built page's HTML."""
    found = re.findall(r'getElementById\("(dlm-[0-9a-f]{12})"\);\nconst data = (\{.*\});\n', html_path.read_text())
    return {uid: json.loads(payload.replace("<\\/", "</")) for uid, payload in found}


def set_range(page, selector: str, value) -> None:
    """What dragging a slider does: set its value and dispatch the input event."""
    page.locator(selector).evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", str(value))


def check_masking(page, uid: str, data: dict) -> None:
    root = f"#{uid}"
    text = "".join(data["text"])
    for schedule in ("linear", "cosine"):
        page.select_option(f"{root} .schedule", schedule)
        hidden_before = set()
        for t in (0.0, 0.1, 0.3, 0.5, 0.75, 0.9, 1.0):
            set_range(page, f"{root} .t", t)
            shown, n_masked, expected = viz.masked_view(text, t, schedule, data["u"])
            assert page.inner_text(f"{root} .canvas") == shown, (schedule, t)
            stats = f"{n_masked} of {len(text)} masked; expected T(1 - alpha_t) = {expected:.1f}"
            assert page.inner_text(f"{root} .stats") == stats, (page.inner_text(f"{root} .stats"), stats)
            hidden = {i for i, c in enumerate(shown) if c == viz.MASK_GLYPH}
            assert hidden_before <= hidden, "masks must only grow as t rises"
            hidden_before = hidden
    set_range(page, f"{root} .t", 0.5)


def frame_text(run: dict, k: int) -> str:
    return "".join(c if r <= k else viz.MASK_GLYPH for c, r, _ in run["cells"])


def check_player(page, uid: str, data: dict) -> None:
    root = f"#{uid}"
    caption = lambda: page.inner_text(f"{root} .caption")  # noqa: E731
    first = data["runs"][0]
    k = first["steps"] if data["start"] == "end" else 0
    assert caption().startswith(f"step {k} of {first['steps']}"), caption()
    assert page.inner_text(f"{root} .canvas") == frame_text(first, k), "the opening frame"
    for index, run in enumerate(data["runs"]):
        if len(data["runs"]) > 1:
            page.select_option(f"{root} .run", str(index))
        n = run["steps"]
        set_range(page, f"{root} .k", 0)
        assert caption().startswith(f"step 0 of {n}, t = 1.000"), caption()
        page.click(f"{root} .next")
        assert caption().startswith(f"step 1 of {n}, t = {1 - 1 / n:.3f}"), caption()
        assert page.inner_text(f"{root} .canvas") == frame_text(run, 1)
        page.click(f"{root} .back")
        assert page.inner_text(f"{root} .canvas") == frame_text(run, 0)
        set_range(page, f"{root} .k", n // 2)
        assert page.inner_text(f"{root} .canvas") == frame_text(run, n // 2)
    run = data["runs"][-1]  # the menu now shows the last run, at step n // 2
    page.select_option(f"{root} .colour-by", "confidence")
    backgrounds = page.locator(f"{root} .canvas span").evaluate_all("spans => spans.map(s => s.style.background)")
    wanted = [colours["confidence"] if r <= run["steps"] // 2 else data["masked"] for _, r, colours in run["cells"]]
    assert backgrounds == [_css_rgb(c) for c in wanted], "confidence colours"
    page.click(f"{root} .play")
    page.wait_for_function(f"document.querySelector('{root} .caption').textContent.startsWith('step {run['steps']} of')",
                           timeout=60_000)
    assert page.inner_text(f"{root} .canvas") == frame_text(run, run["steps"])
    assert page.inner_text(f"{root} .play") == "play", "the player stops itself at the last step"


def _css_rgb(hex_colour: str) -> str:
    """#rrggbb as the browser reports a style colour: rgb(r, g, b)."""
    r, g, b = bytes.fromhex(hex_colour[1:])
    return f"rgb({r}, {g}, {b})"


def watch(page, problems: list[str], local: str = "file:|data:") -> None:
    """Record JavaScript errors, failed loads and remote requests (which are all blocked): any
    request whose address does not start with one of the `local` patterns."""
    def console(message):
        if message.type == "error" and message.text not in KNOWN_THEME_ERRORS:
            problems.append(f"console error: {message.text} ({message.location.get('url')})")

    def failed(request):
        problems.append(f"failed to load {request.url}: {request.failure}")

    def remote(route):
        problems.append(f"remote request: {route.request.url}")
        route.abort()

    def error(exception):
        if exception.message not in KNOWN_THEME_ERRORS:
            problems.append(f"JavaScript error: {exception}")

    page.on("pageerror", error)
    page.on("console", console)
    page.on("requestfailed", failed)
    page.route(re.compile(f"^(?!{local})"), remote)


def check_chapter(browser, build: Path, name: str, n_twins: int) -> list[str]:
    """Open one chapter, drive its twins; return the problems seen (empty: all good)."""
    problems = []
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    watch(page, problems)
    html_path = build / "html" / "notebooks" / f"{name}.html"
    page.goto(html_path.resolve().as_uri())
    twins = embedded_data(html_path)
    try:  # every one of these chapters has maths: MathJax, from the build itself, must typeset it
        page.wait_for_selector("mjx-container", state="attached", timeout=15_000)
    except PlaywrightTimeout:
        problems.append("MathJax typeset no formula")
    rendered = page.locator(".dlm-twin .canvas").count()
    if rendered != len(twins) or len(twins) != n_twins:
        problems.append(f"{len(twins)} twins embedded and {rendered} rendered; expected {n_twins}")
    for uid, data in twins.items():
        try:
            (check_masking if "u" in data else check_player)(page, uid, data)
        except AssertionError as e:
            problems.append(f"twin {uid}: {e}")
        page.locator(f"#{uid}").screenshot(path=str(build / "browser" / f"{name}-{uid}.png"))
    page.close()
    return problems


def main(build: Path) -> int:
    missing = [name for name in CHAPTERS if not (build / "html" / "notebooks" / f"{name}.html").exists()]
    if missing:
        print(f"need the built book ({', '.join(missing)} missing: run `make book-check`)", file=sys.stderr)
        return 2
    (build / "browser").mkdir(parents=True, exist_ok=True)
    failed = False
    with sync_playwright() as p:
        try:
            executable = find_browser(p)
        except ValueError as e:
            print(f"browser check: {e}", file=sys.stderr)
            return 2
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        for name, n_twins in CHAPTERS.items():
            problems = check_chapter(browser, build, name, n_twins)
            print(f"{'FAIL' if problems else 'ok  '} {name}")
            for problem in problems:
                print(f"     {problem}")
            failed |= bool(problems)
        browser.close()
    print(f"screenshots in {build / 'browser'}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "_build")))  # the build folder
