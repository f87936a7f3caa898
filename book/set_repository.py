"""Point the course at its repository: `repository.url` and `branch` in _config.yml are the one place.

    python book/set_repository.py          # after changing them in _config.yml

The book's Colab, Binder and repository buttons read _config.yml. The chapters' Colab install
cells and the set-up page's `git clone` cannot (Colab opens one notebook, without the rest of the
repository), so this script writes the URL into them; tests/test_repository.py fails while any of
them disagrees with _config.yml.
"""

import argparse
import re
from pathlib import Path

import yaml

# Each place that names the repository: a pattern whose group 1 is the part to rewrite.
PLACES = {
    "install": re.compile(r'(?:git\+|repo = \\")(https://github\.com/[^/"\\]+/[^/"\\]+)'),  # the Colab cells
    "raw": re.compile(r'(https://raw\.githubusercontent\.com/[^/"]+/[^/"]+/[^/"]+)/'),    # a file of the repository
    "clone": re.compile(r'git clone (https://github\.com/\S+)'),                             # the set-up page
}


def repository(root: Path) -> tuple[str, str]:
    """(url, branch) from _config.yml."""
    config = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    return config["url"].rstrip("/"), config.get("branch", "main")


def expected(place: str, url: str, branch: str) -> str:
    return url.replace("https://github.com/", "https://raw.githubusercontent.com/") + f"/{branch}" if place == "raw" else url


def files(root: Path) -> list[Path]:
    return sorted(root.glob("notebooks/*.ipynb")) + [root / "book" / "setup.md"]


def mentions(root: Path):
    """Every (file, place, URL found) in the files that name the repository."""
    for path in files(root):
        text = path.read_text()
        for place, pattern in PLACES.items():
            for found in pattern.findall(text):
                yield path, place, found


def rewrite(root: Path) -> int:
    """Write _config.yml's repository into every mention; the number of files changed."""
    url, branch = repository(root)
    changed = 0
    for path in files(root):
        text = path.read_text()
        new = text
        for place, pattern in PLACES.items():
            new = pattern.sub(lambda m: m.group(0).replace(m.group(1), expected(place, url, branch)), new)
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    print(f"{rewrite(parser.parse_args().root)} files now name {repository(parser.parse_args().root)[0]}")
