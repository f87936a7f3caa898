"""benchmarks/tables.py: the README's tables are what the script renders from the saved results, and
the quantities it derives are right on small exact cases."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
import tables  # noqa: E402


def test_the_pages_tables_are_the_rendered_ones(capsys):
    """Fails when a number in a marked table or value of benchmarks/README.md or recipes.md was
    edited by hand, or when a results file changed without `python benchmarks/tables.py --write`."""
    assert tables.main(["--check"]) == 0, capsys.readouterr().out


def copies(tmp_path, edit: tuple[str, str]) -> list[str]:
    """Both pages copied, one edit made in whichever holds its text; as --pages arguments."""
    paths = []
    for page in tables.PAGES:
        path = tmp_path / page.name
        path.write_text(page.read_text().replace(*edit))
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("edit, named", [
    (("| 0.673 ± 0.010 |", "| 0.674 ± 0.010 |"), "README.md: table samplers differs"),
    (("| L2 | 2 layers | 800 | 3.419 |", "| L2 | 2 layers | 800 | 3.418 |"), "recipes.md: table sweep differs"),
    (("draws-32 -->2.4289", "draws-32 -->2.4290"), "README.md: value draws-32 differs"),
    (("box-b -->8,035 steps", "box-b -->8,036 steps"), "recipes.md: value box-b differs")])
def test_check_names_what_differs_and_write_mends_it(tmp_path, capsys, edit, named):
    pages = copies(tmp_path, edit)
    assert tables.main(["--check", "--pages", *pages]) == 1
    assert named in capsys.readouterr().out
    assert tables.main(["--write", "--pages", *pages]) == 0
    assert [Path(p).read_text() for p in pages] == [page.read_text() for page in tables.PAGES]


def test_values_render_inside_their_markers_only():
    text, changed = tables.render_values("a <!-- value: draws-32 -->old<!-- /value --> b <!-- value: nope -->x<!-- /value -->")
    assert text == f"a <!-- value: draws-32 -->{tables.draws_32()}<!-- /value --> b <!-- value: nope -->x<!-- /value -->"
    assert sorted(changed) == ["value draws-32", "value nope (no such value)"]


def test_every_renderer_has_one_marker():
    texts = [page.read_text() for page in tables.PAGES]
    assert tables.unmarked(texts) == []
    assert tables.unmarked(texts[:1]) == [f"table {name} (no marker)" for name in ("sweep", "windows", "gradient-noise")] \
        + ["value box-b (no marker)", "value box-b-peak (no marker)"]
    assert "table race (marked 2 times)" in tables.unmarked([texts[0], texts[0]])


def test_sweep_log_and_schedules(tmp_path):
    log = tmp_path / "log"
    log.write_text('a {"lr": 1} wall 9s\n   0 0.0 6.0\n   100 5.0 3.5\nb {} wall 2s\n   0 0.0 6.1\n   50 2.0 4.25\n')
    assert tables.sweep_log(log) == {"a": (100, 3.5), "b": (50, 4.25)}
    assert tables.schedule({"preset": "laptop", "model": {"block_size": 256},
                            "window_schedule": [[0, 32], [0.45, 128], [0.7, 256]]}) == ("32, 128 from 0.45, 256 from 0.7", 256)
    assert tables.schedule({"preset": "laptop"}) == (f"{tables.PRESETS['laptop']['block_size']} throughout",
                                                     tables.PRESETS["laptop"]["block_size"])


def test_span_and_error():
    assert tables.span([277.4, 206.6, 220.1], 0) == "207-277"
    assert tables.error([0.6297, 0.0113]) == "0.630 ± 0.011"


def test_throughput_text_is_parsed_back(tmp_path):
    """Runs start at their `device` line; a table's `|---|` line is dropped and cells are stripped."""
    path = tmp_path / "throughput.txt"
    path.write_text("device cpu, compile=False\npeak\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n| c |\n|---|\n| 3 |\n"
                    "device cpu, compile=True\n| a | b |\n|---|---|\n| 4 | 5 |\n")
    assert tables.throughput_runs(path) == [(False, [[["a", "b"], ["1", "2"]], [["c"], ["3"]]]),
                                            (True, [[["a", "b"], ["4", "5"]]])]


def test_table_layout():
    assert tables.table(["x", "y"], [[1, "a"]]) == "| x | y |\n|---|---|\n| 1 | a |"
