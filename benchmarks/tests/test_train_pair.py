"""benchmarks/train_pair.sh: trains the four runs, skips finished ones, resumes a stopped one."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dlm_core import checkpoint

ROOT = Path(__file__).parents[2]
RUNS = ("shipped", "twin-dropout-0", "twin-dropout-0.1", "twin-dropout-0.2")


def train_pair(repo: Path, corpus_path: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DLM_DATA": str(corpus_path), "DLM": f"{sys.executable} -m dlm_core.cli", "JOBS": "2",
           **extra_env}
    return subprocess.run(["bash", "benchmarks/train_pair.sh", "--device", "cpu", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)


def copy_scripts(repo: Path) -> None:
    """A repository of its own, so the test's runs/ is not the one real runs use."""
    shutil.copytree(ROOT / "configs", repo / "configs")
    (repo / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks" / "train_pair.sh", repo / "benchmarks")


@pytest.mark.slow
def test_trains_skips_and_resumes(tmp_path, corpus_path):
    copy_scripts(tmp_path)
    runs = tmp_path / "runs"

    first = train_pair(tmp_path, corpus_path, "--max-steps", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    assert {checkpoint.read_config(runs / name)["step"] for name in RUNS} == {2}
    assert checkpoint.read_config(runs / "twin-dropout-0.1")["train"]["model"]["dropout"] == 0.1

    (runs / "shipped.done").unlink()  # as if the denoiser had been stopped at step 2
    second = train_pair(tmp_path, corpus_path, "--max-steps", "3")
    assert second.returncode == 0, second.stdout + second.stderr
    resumed = checkpoint.read_config(runs / "shipped")
    assert resumed["step"] == 3 and [h["step"] for h in resumed["history"]] == [0, 2, 3]  # went on from step 2
    assert {checkpoint.read_config(runs / name)["step"] for name in RUNS[1:]} == {2}  # finished: skipped
    assert sorted(second.stdout.split("\n")) == sorted(["", "shipped: finished", *(f"{n}: done" for n in RUNS[1:])])


@pytest.mark.slow
def test_a_failed_run_is_named_and_fails_the_script(tmp_path, corpus_path):
    copy_scripts(tmp_path)
    (tmp_path / "configs" / "twin-dropout-0.2.json").write_text('{"lr": "fast"}')
    for name in RUNS[:3]:  # finished already, so only the broken one runs
        (tmp_path / "runs").mkdir(exist_ok=True)
        (tmp_path / "runs" / f"{name}.done").touch()
    result = train_pair(tmp_path, corpus_path)
    assert result.returncode != 0
    assert "twin-dropout-0.2: failed, see runs/twin-dropout-0.2.log" in result.stdout
    assert "setting lr must be float" in (tmp_path / "runs" / "twin-dropout-0.2.log").read_text()


@pytest.mark.slow
def test_runs_picks_which_to_train(tmp_path, corpus_path):
    copy_scripts(tmp_path)
    result = train_pair(tmp_path, corpus_path, "--max-steps", "1", RUNS="twin-dropout-0.1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "twin-dropout-0.1: finished\n"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == \
        ["twin-dropout-0.1", "twin-dropout-0.1-best", "twin-dropout-0.1.done", "twin-dropout-0.1.log"]
