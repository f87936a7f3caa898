"""The GitHub workflows (.github/workflows/) pass actionlint: syntax, expressions, the inputs and
versions of the actions they use, permissions. One finding fails the test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def actionlint() -> str:
    """The actionlint of this environment (the dev extra installs it beside Python), else the PATH's."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.is_file() else shutil.which("actionlint")
    if found is None:
        pytest.fail('actionlint is not installed: pip install -e ".[dev]" (the dev extra has it)')
    return found


def test_there_is_a_workflow_that_publishes_the_book():
    assert ROOT / ".github" / "workflows" / "pages.yml" in WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow):
    done = subprocess.run([actionlint(), "-no-color", "-oneline", str(workflow)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_finds_a_fault(tmp_path):
    """The check can fail: a workflow with an undefined job output is reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: echo ${{ needs.nothing.outputs.x }}\n")
    done = subprocess.run([actionlint(), "-no-color", "-oneline", str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and 'property "nothing" is not defined' in done.stdout
