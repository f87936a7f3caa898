"""The repository URL is set in one place, _config.yml: every chapter's Colab install cell and the
set-up page name the same repository, and book/set_repository.py rewrites them when it changes."""

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
import set_repository  # noqa: E402


def test_every_mention_matches_the_config():
    url, branch = set_repository.repository(ROOT)
    found = list(set_repository.mentions(ROOT))
    assert {p.name for p, place, _ in found if place == "install"} >= {p.name for p in ROOT.glob("notebooks/*.ipynb")}
    wrong = [(p.name, place, u) for p, place, u in found if u != set_repository.expected(place, url, branch)]
    assert not wrong, f"run python book/set_repository.py: {wrong}"


def test_a_new_url_in_the_config_reaches_every_mention(tmp_path):
    for part in ("notebooks", "book"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("*.py", "live"))
    config = (ROOT / "_config.yml").read_text()
    old, _ = set_repository.repository(ROOT)
    (tmp_path / "_config.yml").write_text(config.replace(old, "https://github.com/someone/fork").replace(
        "branch: main", "branch: trunk"))
    assert set_repository.rewrite(tmp_path) == len(set_repository.files(tmp_path))
    found = list(set_repository.mentions(tmp_path))
    assert found and all(u in ("https://github.com/someone/fork",
                               "https://raw.githubusercontent.com/someone/fork/trunk") for _, _, u in found)
