"""The pure functions behind the widgets, and the kernel-free HTML twins (dlm_core.viz)."""

from __future__ import annotations

import json
import re
import tomllib
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import pytest
import torch

from dlm_core import sampler, viz
from dlm_core.sampler import Samples

G, M = viz.GIVEN_COLOUR, viz.MASKED_COLOUR
EARLY, LATE = viz.STEP_RAMP


@pytest.fixture
def run() -> Samples:
    """A hand-made run of 2 steps over "ab\\nc": 'a' given, 'c' revealed at step 1, 'b' and
    the newline at step 2, with known confidences."""
    return Samples(texts=["ab\nc"], ids=torch.tensor([[0, 1, 2, 3]]), revealed_at=torch.tensor([[0, 2, 2, 1]]),
                   confidence=torch.tensor([[1.0, 0.5, 0.0, 1.0]]), steps=2, mask_id=9)


def test_masked_view_hides_exactly_the_positions_below_the_mask_rate():
    u = [0.1, 0.5, 0.9, 0.3]
    assert viz.masked_view("abcd", 0.4, "linear", u) == ("▒bc▒", 2, pytest.approx(1.6))
    # cosine at t = 0.5: sin(pi/4) = 0.7071, so every u but 0.9 is below it
    shown, n, expected = viz.masked_view("abcd", 0.5, "cosine", u)
    assert (shown, n) == ("▒▒c▒", 3) and expected == pytest.approx(4 * 0.70711, abs=1e-4)
    assert viz.masked_view("abcd", 0.0, "linear", u)[:2] == ("abcd", 0)
    assert viz.masked_view("abcd", 1.0, "linear", u)[:2] == ("▒▒▒▒", 4)


def test_masks_only_grow_as_t_rises():
    text = "Good morrow, neighbour Baptista."
    u = viz.fixed_uniforms(len(text), seed=3)
    previous = set()
    for t in torch.linspace(0, 1, 41).tolist():
        shown, n, _ = viz.masked_view(text, t, "cosine", u)
        hidden = {i for i, c in enumerate(shown) if c == viz.MASK_GLYPH}
        assert previous <= hidden and len(hidden) == n
        assert all(shown[i] == text[i] for i in range(len(text)) if i not in hidden)
        previous = hidden
    assert len(previous) == len(text)


@pytest.mark.parametrize("t, schedule, uniforms, message", [
    (1.5, "linear", [0.1, 0.2], r"t must lie in \[0, 1\]"),
    (-0.1, "linear", [0.1, 0.2], r"t must lie in \[0, 1\]"),
    (0.5, "square", [0.1, 0.2], "unknown schedule 'square'"),
    (0.5, "linear", [0.1], "the text has 2, uniforms have shape"),
])
def test_masked_view_rejects_bad_input(t, schedule, uniforms, message):
    with pytest.raises(ValueError, match=message):
        viz.masked_view("ab", t, schedule, uniforms)


def test_ramp_interpolates_in_rgb():
    assert viz.ramp(0.0, ("#000000", "#ffffff")) == "#000000"
    assert viz.ramp(0.5, ("#000000", "#ff8000")) == "#804000"
    assert viz.ramp(1.0, viz.STEP_RAMP) == LATE


def test_frame_cells_show_what_was_revealed_by_step_k(run):
    assert viz.frame_cells(run, 0) == [("a", G), ("▒", M), ("▒", M), ("▒", M)]
    assert viz.frame_cells(run, 1) == [("a", G), ("▒", M), ("▒", M), ("c", EARLY)]
    assert viz.frame_cells(run, 2) == [("a", G), ("b", LATE), ("⏎", LATE), ("c", EARLY)]


def test_frame_cells_colour_by_confidence(run):
    half = viz.ramp(0.5, viz.CONFIDENCE_RAMP)
    assert viz.frame_cells(run, 2, "confidence") == [
        ("a", G), ("b", half), ("⏎", viz.CONFIDENCE_RAMP[0]), ("c", viz.CONFIDENCE_RAMP[1])]


def test_frame_caption(run):
    assert viz.frame_caption(run, 0) == "step 0 of 2, t = 1.000, 3 masked"
    assert viz.frame_caption(run, 1) == "step 1 of 2, t = 0.500, 2 masked"
    assert viz.frame_caption(run, 2) == "step 2 of 2, t = 0.000, 0 masked"


def test_frame_cells_reject_bad_input(run):
    with pytest.raises(ValueError, match=r"step k must lie in 0..2 for this run, got 3"):
        viz.frame_cells(run, 3)
    with pytest.raises(ValueError, match="unknown colour_by 'rainbow'"):
        viz.frame_cells(run, 1, "rainbow")


def test_frames_of_a_real_run_match_samples_frame(model, tok):
    s = sampler.sample(model, tok, length=24, steps=6, prompt="AB", seed=1)
    for k in range(s.steps + 1):
        expected = tok.decode(s.frame(k)[0], mask_char=viz.MASK_GLYPH).replace("\n", viz.NEWLINE_GLYPH)
        assert "".join(c for c, _ in viz.frame_cells(s, k)) == expected


def test_cells_html_escapes_characters():
    out = viz.cells_html([("<", "#ffffff"), ("&", "#000000")])
    assert '<span style="background:#ffffff">&lt;</span><span style="background:#000000">&amp;</span>' in out


def _payload(twin) -> dict:
    """The data embedded in a twin's script."""
    return json.loads(re.search(r"const data = (\{.*\});\n", twin._repr_html_()).group(1).replace("<\\/", "</"))


def test_masking_twin_embeds_the_uniforms_and_has_a_content_hash_id():
    u = viz.fixed_uniforms(4, seed=0)
    twin = viz.masking_twin("abcd", u, t=0.25, schedule="cosine")
    data = _payload(twin)
    assert data["u"] == u.tolist() and data["text"] == list("abcd")
    assert (data["t"], data["schedule"], data["glyph"]) == (0.25, "cosine", "▒")
    assert twin._repr_html_() == viz.masking_twin("abcd", u, t=0.25, schedule="cosine")._repr_html_()
    ids = {re.search(r'id="(dlm-[0-9a-f]{12})"', t._repr_html_()).group(1)
           for t in (twin, viz.masking_twin("abce", u, t=0.25, schedule="cosine"))}
    assert len(ids) == 2  # different content, different id
    assert repr(twin) == "<masking-rate slider: an HTML view, shown by the notebook or the book>"


def test_masking_twin_checks_its_input_like_the_widget():
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        viz.masking_twin("abcd", [0.1] * 4, t=2.0)


def test_player_twin_embeds_every_run(run, model, tok):
    real = sampler.sample(model, tok, length=16, steps=4, seed=0)
    data = _payload(viz.player_twin({"hand-made": run, "tiny model": real}))
    assert [r["label"] for r in data["runs"]] == ["hand-made", "tiny model"]
    assert data["runs"][0]["steps"] == 2
    assert data["runs"][0]["cells"] == [
        ["a", 0, {"step": G, "confidence": G}],
        ["b", 2, {"step": LATE, "confidence": viz.ramp(0.5, viz.CONFIDENCE_RAMP)}],
        ["⏎", 2, {"step": LATE, "confidence": viz.CONFIDENCE_RAMP[0]}],
        ["c", 1, {"step": EARLY, "confidence": viz.CONFIDENCE_RAMP[1]}]]
    assert "".join(c[0] for c in data["runs"][1]["cells"]) == real.texts[0].replace("\n", "⏎")
    assert [c[1] for c in data["runs"][1]["cells"]] == real.revealed_at[0].tolist()


def test_twins_are_self_contained(run):
    for twin in (viz.player_twin({"run": run}), viz.masking_twin("ab</script>", [0.5] * 11)):
        page = twin._repr_html_()
        assert not re.search(r"https?:|src=|href=|import\(|require\(", page)
        assert page.count("</script>") == 1  # embedded text cannot close the script early


def test_player_twin_rejects_bad_input(run):
    with pytest.raises(ValueError, match="at least one run"):
        viz.player_twin({})
    with pytest.raises(ValueError, match="start='begin' or 'end'"):
        viz.player_twin({"run": run}, start="middle")


def test_twin_files_ship_with_the_package():
    """The twins' HTML and JavaScript live in files: each must be in the package and declared
    as package data, or dlm_core.viz would not even import from an installed wheel."""
    package = resources.files("dlm_core")
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["setuptools"]["package-data"]["dlm_core"]
    for name in viz.TWIN_FILES:
        assert (package / "twins" / name).read_text(encoding="utf-8").strip(), f"twins/{name} is missing or empty"
        assert any(fnmatch(f"twins/{name}", pattern) for pattern in shipped), f"twins/{name} is not package data"
