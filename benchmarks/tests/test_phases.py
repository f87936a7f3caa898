"""benchmarks/phases.py, the script behind the per-phase step times in benchmarks/README.md."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
import phases  # noqa: E402


def test_phase_ms_is_minutes_over_steps_inside_each_phase():
    # 10 minutes, windows of 32 then 64 from half-way; one estimate per minute, 100 steps a
    # minute in the first half and 50 in the second (0.6 s and 1.2 s a step).
    curve, step = [], 0
    for minute in range(11):
        curve.append({"minutes": float(minute), "step": step})
        step += 100 if minute < 5 else 50
    result = {"curve": curve, "train_wall_seconds": 600,
              "settings": {"window_schedule": [[0, 32], [0.5, 64]]}}
    first, second = phases.phase_ms(result)
    assert abs(first - 600) < 1e-9 and abs(second - 1200) < 1e-9


def test_a_phase_with_fewer_than_two_estimates_has_no_time():
    result = {"curve": [{"minutes": 1.0, "step": 10}, {"minutes": 9.0, "step": 90}],
              "train_wall_seconds": 600, "settings": {"window_schedule": [[0, 32], [0.5, 64]]}}
    assert phases.phase_ms(result) == [None, None]


def test_scores_read_entries_over_one_or_two_lines_and_the_last_wins(tmp_path):
    def entry(run, bpc):
        return json.dumps({"run": run, "result": {"bits_per_char": bpc}})

    path = tmp_path / "draws-32.txt"
    # the middle entry is spread over two lines, its closing brace alone on the second
    path.write_text(entry("runs/a", 2.5) + "\n" + entry("runs/b", 2.4)[:-1] + "\n}\n" + entry("runs/a", 2.45) + "\n")
    assert phases.scores_32_draws(path) == {"a": 2.45, "b": 2.4}


def test_a_result_without_a_window_schedule_is_refused_by_name(tmp_path, monkeypatch, capsys):
    path = tmp_path / "cpu-5min.json"
    path.write_text(json.dumps({"curve": [], "steps": 10, "settings": {"window_schedule": None}}))
    monkeypatch.setattr(sys, "argv", ["phases.py", str(path)])
    with pytest.raises(SystemExit):
        phases.main()
    assert f"{path} is not a quality.py result of a run with a window_schedule" in capsys.readouterr().err
