"""Which Chrome or Chromium the browser checks drive, on Linux, macOS or CI.

In order: the browser named by DLM_BROWSER; a `chromium` or Chrome on the PATH (Debian's
`chromium`, which CI installs with apt); Google Chrome or Chromium installed as a macOS app;
the Chromium that `make browser` downloads through Playwright (readers have the internet; CI
never downloads a browser). Without any, the checks stop with one line saying how to get one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
MAC_APPS = ("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
            "/Applications/Chromium.app/Contents/MacOS/Chromium")
HOW = ("no Chrome or Chromium found: install Google Chrome, or run `make browser` (downloads "
       "Playwright's Chromium), or `apt-get install chromium`, or point DLM_BROWSER at one")


def find_browser(playwright) -> str:
    """The path of the browser to launch; a ValueError saying how to get one when there is none."""
    named = os.environ.get("DLM_BROWSER")
    if named:
        if not Path(named).is_file():
            raise ValueError(f"DLM_BROWSER={named} is not a file; point it at a Chrome or Chromium executable")
        return named
    for name in NAMES:
        if shutil.which(name):
            return shutil.which(name)
    for app in MAC_APPS:
        if Path(app).is_file():
            return app
    bundled = playwright.chromium.executable_path  # where `playwright install chromium` puts it
    if bundled and Path(bundled).is_file():
        return bundled
    raise ValueError(HOW)
