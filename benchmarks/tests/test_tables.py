"""benchmarks/tables.py: the README's tables are what the script renders from the saved results, and
the quantities it derives are right on small exact cases."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
import tables  # noqa: E402


def test_the_readme_tables_are_the_rendered_ones(capsys):
    """Fails when a number in a marked table of benchmarks/README.md was edited by hand, or when a
    results file changed without `python benchmarks/tables.py --write`."""
    assert tables.main(["--check"]) == 0, capsys.readouterr().out


def test_check_names_a_table_that_differs(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(tables.README.read_text().replace("| 0.673 ± 0.010 |", "| 0.674 ± 0.010 |"))
    assert tables.main(["--check", "--readme", str(readme)]) == 1
    assert "table samplers differs" in capsys.readouterr().out
    assert tables.main(["--write", "--readme", str(readme)]) == 0
    assert readme.read_text() == tables.README.read_text()


def test_check_names_a_value_that_differs(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(tables.README.read_text().replace("draws-32 -->2.4289", "draws-32 -->2.4290"))
    assert tables.main(["--check", "--readme", str(readme)]) == 1
    assert "value draws-32 differs" in capsys.readouterr().out
    assert tables.main(["--write", "--readme", str(readme)]) == 0
    assert readme.read_text() == tables.README.read_text()


def test_values_render_inside_their_markers_only():
    text, changed = tables.render_values("a <!-- value: draws-32 -->old<!-- /value --> b <!-- value: nope -->x<!-- /value -->")
    assert text == f"a <!-- value: draws-32 -->{tables.draws_32()}<!-- /value --> b <!-- value: nope -->x<!-- /value -->"
    assert "value draws-32" in changed and "value nope (no such value)" in changed
    assert "value sampler-bars (no marker)" in changed


def test_every_table_is_marked_once():
    names = [name for name, _, _ in tables.marked(tables.README.read_text().split("\n"))]
    assert sorted(names) == sorted(tables.TABLES)


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
