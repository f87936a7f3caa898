"""The live widgets in a real JupyterLab: start it on 127.0.0.1, open chapters, run them, move the controls.

`make jupyterlab-check` (part of `make test`) copies chapters 3 and 7 to a temporary folder,
starts JupyterLab on a free port of 127.0.0.1 with a random token, and drives it in headless
Chrome or Chromium (`find_browser.py`) the way a reader would:

- chapter 3: run all cells, drag the masking-rate slider of `widgets.MaskingSlider` with the
  mouse, and check that the masked line and the count are what `viz.masked_view` gives for the
  slider's value (the line and its uniforms are read from the twin below it in the same page);
- chapter 7: run all cells, press "◀ step", "step ▶" and play on `widgets.UnmaskingPlayer`,
  and check each frame and caption against the run embedded in the twin beside it.

It fails on a kernel error in any cell, and on any request that leaves the machine (JupyterLab's
news and update checks are switched off). Screenshots go to _build/browser/. Usage:
`python tests/browser/check_jupyterlab.py [BUILD]`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from dlm_core import viz
from find_browser import find_browser

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-sync", "--disable-extensions", "--disable-component-update", "--disable-default-apps"]
RUN_TIMEOUT_MS = 150_000  # running a whole chapter on a slow, shared 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Settings for this lab only (a fresh settings folder): every cell stays in the page, so that the
# check can read them all (JupyterLab otherwise renders only the cells in view), and no news.
SETTINGS = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"}}


def start_lab(folder: Path, port: int, token: str) -> subprocess.Popen:
    """JupyterLab serving `folder` on 127.0.0.1 only, with nothing that reaches the internet."""
    settings = folder / ".settings"
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--LabApp.user_settings_dir={settings}",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly", "--ServerApp.open_browser=False",
           "--allow-root"]  # CI runs as root; harmless otherwise
    lab = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
            return lab
        except OSError:
            time.sleep(0.5)
    lab.kill()
    raise RuntimeError("JupyterLab did not start within 90 s")


def embedded_twins(page) -> dict[str, dict]:
    """{twin id: its data}, read from the twins' scripts in the page's outputs."""
    found = {}
    for script in page.locator("script").all_text_contents():
        for uid, payload in re.findall(r'getElementById\("(dlm-[0-9a-f]{12})"\);\nconst data = (\{.*\});\n', script):
            found[uid] = json.loads(payload.replace("<\\/", "</"))
    return found


def menu(page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def run_all(page, problems: list[str]) -> None:
    """Clear the stored outputs, Run > Run All Cells, and wait until every code cell has run."""
    menu(page, "Edit", "Clear Outputs of All Cells")
    menu(page, "Run", "Run All Cells")
    page.wait_for_function("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
                           ".some(p => p.textContent.includes('*'))", timeout=30_000)
    page.wait_for_function("() => ![...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
                           ".some(p => p.textContent.includes('*'))", timeout=RUN_TIMEOUT_MS)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] .ansi-red-fg")
    tracebacks = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    if tracebacks.count() or errors.count():
        problems.append(f"a cell raised: {(tracebacks.first if tracebacks.count() else errors.first).inner_text()[:300]}")


def open_notebook(browser, port: int, token: str, name: str, problems: list[str]):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))

    def remote(route):
        problems.append(f"remote request: {route.request.url}")
        route.abort()
    page.route(re.compile(rf"^(?!http://127\.0\.0\.1:{port}/|data:|blob:)"), remote)
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{name}.ipynb?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    for button in ("Select",):  # the kernel dialog: Python 3
        try:
            page.get_by_role("button", name=button, exact=True).click(timeout=10_000)
        except PlaywrightTimeout:
            pass
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", state="attached", timeout=120_000)
    try:
        run_all(page, problems)
    except Exception:
        page.screenshot(path="/tmp/jl-fail.png")
        raise
    return page


def drag_slider_to(page, slider, fraction: float) -> float:
    """Drag a noUiSlider handle with the mouse to `fraction` of its track; return the value shown."""
    track = slider.locator(".noUi-target").bounding_box()
    handle = slider.locator(".noUi-handle").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] + fraction * track["width"], track["y"] + track["height"] / 2, steps=8)
    page.mouse.up()
    return float(slider.locator(".widget-readout").inner_text())


def check_masking_slider(page, problems: list[str]) -> None:
    twin = next((d for d in embedded_twins(page).values() if "u" in d), None)
    widget = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator(".widget-hslider")).first
    if twin is None or widget.count() == 0:
        problems.append("chapter 3: the masking slider or its twin did not render")
        return
    line, u = "".join(twin["text"]), twin["u"]
    slider, shown = widget.locator(".widget-hslider").first, widget.locator(".widget-html-content")
    seen = set()
    for fraction in (0.0, 0.2, 0.55, 0.8, 1.0):
        t = drag_slider_to(page, slider, fraction)
        want, n_masked, expected = viz.masked_view(line, t, "linear", u)
        page.wait_for_timeout(200)  # the kernel answers the move
        canvas, stats = shown.nth(0).inner_text(), shown.nth(1).inner_text()
        wanted_stats = f"{n_masked} of {len(line)} masked; expected T(1 - alpha_t) = {expected:.1f}"
        if canvas != want or stats != wanted_stats:
            problems.append(f"chapter 3 at t = {t}: shows {canvas!r} / {stats!r}, expected {want!r} / {wanted_stats!r}")
        seen.add(n_masked)
    if len(seen) < 3:
        problems.append(f"chapter 3: dragging the slider changed the count only to {sorted(seen)}")


def frame_text(run: dict, k: int) -> str:
    return "".join(c if r <= k else viz.MASK_GLYPH for c, r, _ in run["cells"])


def check_player(page, problems: list[str]) -> None:
    run = next((d["runs"][0] for d in embedded_twins(page).values() if "runs" in d), None)
    player = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator(".widget-play")).first
    if run is None or player.count() == 0:
        problems.append("chapter 7: the unmasking player or its twin did not render")
        return
    n = run["steps"]
    caption = player.get_by_text(re.compile(r"^step \d+ of \d+, t = "))
    canvas = player.locator(".widget-html-content").first

    def reach(k: int, what: str, timeout_s: float = 10.0) -> None:
        """Wait for the caption of step k, then check the caption and the frame."""
        deadline = time.time() + timeout_s
        while not caption.inner_text().startswith(f"step {k} of {n}, t = {1 - k / n:.3f}") and time.time() < deadline:
            page.wait_for_timeout(100)
        if not caption.inner_text().startswith(f"step {k} of {n}, t = {1 - k / n:.3f}") \
                or canvas.inner_text() != frame_text(run, k):
            problems.append(f"chapter 7 after {what}: {caption.inner_text()!r} / {canvas.inner_text()!r}, "
                            f"expected step {k}")

    reach(n, "loading")
    player.get_by_role("button", name="◀ step").click()
    reach(n - 1, "◀ step")
    player.get_by_role("button", name="◀ step").click()
    reach(n - 2, "◀ step twice")
    player.get_by_role("button", name="step ▶").click()
    reach(n - 1, "step ▶")
    player.locator(".widget-play button").first.click()  # play runs on from here to the end
    reach(n, "play", timeout_s=30)


CHECKS = {"03_forward_process": check_masking_slider, "07_sampling": check_player}


def main(build: Path) -> int:
    (build / "browser").mkdir(parents=True, exist_ok=True)
    failed = False
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        for name in CHECKS:
            shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", folder)  # the lab may autosave: never the originals
        try:
            executable = find_browser(p)
        except ValueError as e:
            print(f"jupyterlab check: {e}", file=sys.stderr)
            return 2
        port, token = free_port(), secrets.token_hex(16)
        lab = start_lab(Path(folder), port, token)
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        try:
            for name, check in CHECKS.items():
                problems = []
                page = open_notebook(browser, port, token, name, problems)
                check(page, problems)
                page.screenshot(path=str(build / "browser" / f"jupyterlab-{name}.png"))
                print(f"{'FAIL' if problems else 'ok  '} JupyterLab {name}")
                for problem in problems:
                    print(f"     {problem}")
                failed |= bool(problems)
                page.close()
        finally:
            browser.close()
            lab.terminate()
            lab.wait(timeout=30)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "_build")))  # the build folder
