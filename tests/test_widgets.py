"""The live widgets, driven without a browser: set a control, read what the output now shows."""

from __future__ import annotations

import html
import os
import re

import pytest
import torch

from dlm_core import sampler, viz
from dlm_core.sampler import Samples

if os.environ.get("CI"):  # CI installs the book tools: a skipped file there would hide a broken widget
    from dlm_core import widgets
else:  # ipywidgets comes with the book tools (the `book` extra)
    widgets = pytest.importorskip("dlm_core.widgets")


def _canvas_text(html_widget) -> str:
    """The characters an HTML output shows, without the tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_widget.value))


@pytest.fixture
def run() -> Samples:
    """"ab\\nc" in 2 steps: 'a' given, 'c' revealed at step 1, 'b' and the newline at step 2."""
    return Samples(texts=["ab\nc"], ids=torch.tensor([[0, 1, 2, 3]]), revealed_at=torch.tensor([[0, 2, 2, 1]]),
                   confidence=torch.tensor([[1.0, 0.5, 0.0, 1.0]]), steps=2, mask_id=9)


def test_masking_slider_shows_the_masked_line_and_the_count():
    slider = widgets.MaskingSlider("abcd", uniforms=[0.1, 0.5, 0.9, 0.3], t=0.0)
    assert _canvas_text(slider.canvas) == "abcd"
    slider.t.value = 0.4
    assert _canvas_text(slider.canvas) == "▒bc▒"
    assert slider.stats.value == "2 of 4 masked; expected T(1 - alpha_t) = 1.6"
    slider.schedule.value = "cosine"  # sin(0.2 pi) = 0.588: u = 0.1, 0.5 and 0.3 are below it
    assert _canvas_text(slider.canvas) == "▒▒c▒"
    assert slider.stats.value == "3 of 4 masked; expected T(1 - alpha_t) = 2.4"


def test_raising_the_slider_only_adds_masks():
    text = "Good morrow, neighbour Baptista."
    slider = widgets.MaskingSlider(text, seed=3, t=0.0)
    previous = set()
    for step in range(101):
        slider.t.value = step / 100
        hidden = {i for i, c in enumerate(_canvas_text(slider.canvas)) if c == "▒"}
        assert previous <= hidden
        assert slider.stats.value.startswith(f"{len(hidden)} of {len(text)} masked")
        previous = hidden
    assert len(previous) == len(text)


def test_player_steps_through_the_run(run):
    player = widgets.UnmaskingPlayer(run)
    assert player.step.value == 2 and _canvas_text(player.canvas) == "ab⏎c"  # opens on the finished text
    player.step.value = 1
    assert _canvas_text(player.canvas) == "a▒▒c"
    assert player.caption.value == "step 1 of 2, t = 0.500, 2 masked"
    assert f'<span style="background:{viz.STEP_RAMP[0]}">c</span>' in player.canvas.value
    player.back.click()
    assert player.step.value == 0 and _canvas_text(player.canvas) == "a▒▒▒"
    player.back.click()  # already at the start: stays there
    assert player.step.value == 0
    player.next.click()
    player.next.click()
    assert player.caption.value == "step 2 of 2, t = 0.000, 0 masked"
    player.play.playing = True  # play pressed at the last step replays from the start
    assert player.step.value == 0 and _canvas_text(player.canvas) == "a▒▒▒"
    player.play.value = 1  # what the Play button does as it ticks
    assert player.step.value == 1 and _canvas_text(player.canvas) == "a▒▒c"


def test_player_colours_by_confidence(run):
    player = widgets.UnmaskingPlayer(run)
    player.colour_by.value = "confidence"
    assert (f'<span style="background:{viz.ramp(0.5, viz.CONFIDENCE_RAMP)}">b</span>'
            f'<span style="background:{viz.CONFIDENCE_RAMP[0]}">⏎</span>') in player.canvas.value
    assert "red unsure" in player.legend.value


def test_sampler_lab_samples_with_its_settings(model, tok):
    lab = widgets.SamplerLab(model, tok, length=32, prompt="AB", steps=8)
    expected = sampler.sample(model, tok, length=32, steps=8, prompt="AB", seed=0)
    assert lab.player.samples.texts == expected.texts
    assert re.fullmatch(r"sampled 32 characters in \d+\.\d\d s", lab.status.value)
    lab.strategy.value, lab.steps.value, lab.temperature.value, lab.top_p.value, lab.seed.value = (
        "confidence", 4, 0.5, 0.9, 7)
    lab.button.click()
    expected = sampler.sample(model, tok, length=32, steps=4, prompt="AB", strategy="confidence",
                              temperature=0.5, top_p=0.9, seed=7)
    assert lab.player.samples.texts == expected.texts
    assert torch.equal(lab.player.samples.revealed_at, expected.revealed_at)
    assert lab.player.caption.value.startswith("step 4 of 4, t = 0.000")
    lab.choice.value, lab.block_length.value = 1.5, 8  # choice noise, blocks of 8 filled left to right
    lab.button.click()
    expected = sampler.sample(model, tok, length=32, steps=4, prompt="AB", strategy="confidence", temperature=0.5,
                              top_p=0.9, choice_temperature=1.5, block_length=8, seed=7)
    assert lab.player.samples.texts == expected.texts
    assert lab.player.samples.revealed_at[0, 2:8].eq(1).all() and lab.player.samples.revealed_at[0, 24:].eq(4).all()
    lab.strategy.value = "ancestral"  # choice noise ranks confidence decoding's choices only: one line says so
    lab.button.click()
    assert "use it with strategy='confidence'" in html.unescape(lab.status.value)


def test_sampler_lab_shows_a_bad_prompt_as_a_message(model, tok):
    lab = widgets.SamplerLab(model, tok, length=32, prompt="AB")
    lab.prompt.value = "To be — or"
    lab.button.click()
    assert ("character '—' at position 6 is not in the vocabulary (65 characters of the training text); "
            "remove or replace it") in html.unescape(lab.status.value)


def test_infilling_playground_fills_only_the_holes(model, tok):
    line = "To be, or ___ to be"
    playground = widgets.InfillingPlayground(model, tok, template=line)
    filled = playground.player.samples.texts[0]
    assert len(filled) == len(line) and "_" not in filled
    assert all(a == b for a, b in zip(filled, line) if b != "_")
    assert playground.status.value == "filled 3 of 19 characters"
    playground.player.step.value = 0
    assert _canvas_text(playground.player.canvas) == "To be, or ▒▒▒ to be"


@pytest.mark.parametrize("line, message", [
    ("To be — or _", "character '—' at position 6 is not in the vocabulary"),
    ("To be, or ___ to be. " * 2, "length 42 is longer than the model's context (32)"),
    ("To be, or not to be", "the line has no holes: mark each character to fill with _"),
])
def test_infilling_playground_shows_bad_input_as_a_message(model, tok, line, message):
    playground = widgets.InfillingPlayground(model, tok)
    playground.template.value = line
    playground.button.click()
    assert message in html.unescape(playground.status.value)
    assert "Traceback" not in playground.status.value
    assert playground.player.layout.display == "none"
    playground.template.value = "A_"  # a good line brings the player back
    playground.button.click()
    assert playground.status.value == "filled 1 of 2 characters" and playground.player.layout.display is None
