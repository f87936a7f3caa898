"""Live widgets (ipywidgets 8) to watch the forward and reverse processes in a notebook.

Each widget is a thin layer over the pure functions of `dlm_core.viz`: it reads its controls,
calls one of them and shows the result in an `HTML` output, so everything it shows can be
tested without a browser (set a control's `value` or `click()` a button, read the output's
`value`). The sampling widgets load the shipped checkpoint unless given a model and tokenizer.
"""

from __future__ import annotations

import html
import time

import ipywidgets as w

from . import masking, sampler, viz


def _error_html(e: Exception) -> str:
    return f'<pre style="color:#b00020;white-space:pre-wrap">{html.escape(str(e))}</pre>'


class MaskingSlider(w.VBox):
    """A line at time t: characters with uniforms[i] < 1 - alpha_t are masked."""

    def __init__(self, text: str, uniforms=None, t: float = 0.5, schedule: str = "linear", seed: int = 0):
        self.text = text
        self.uniforms = viz.fixed_uniforms(len(text), seed) if uniforms is None else uniforms
        self.t = w.FloatSlider(value=t, min=0, max=1, step=0.01, description="t", continuous_update=True)
        self.schedule = w.Dropdown(options=list(masking.SCHEDULES), value=schedule, description="schedule")
        self.canvas, self.stats = w.HTML(), w.HTML()
        super().__init__([w.HBox([self.t, self.schedule]), self.canvas, self.stats])
        for control in (self.t, self.schedule):
            control.observe(self.draw, "value")
        self.draw()

    def draw(self, change=None):
        shown, n_masked, expected = viz.masked_view(self.text, self.t.value, self.schedule.value, self.uniforms)
        self.canvas.value = f'<div style="{viz.CANVAS_STYLE}">{html.escape(shown)}</div>'
        self.stats.value = f"{n_masked} of {len(self.text)} masked; expected T(1 - alpha_t) = {expected:.1f}"

    def __repr__(self):
        return f"MaskingSlider(t={self.t.value}, schedule={self.schedule.value!r}): {self.stats.value}"


class UnmaskingPlayer(w.VBox):
    """Replay a `sampler.Samples` run (its first sample): play/pause, step back and forward, or drag."""

    def __init__(self, samples=None, interval_ms: int = 200):
        self.play = w.Play(interval=interval_ms, description="play")
        self.step = w.IntSlider(description="step")
        w.link((self.play, "value"), (self.step, "value"))  # kept in sync by the kernel, so tests see it too
        self.back, self.next = w.Button(description="◀ step"), w.Button(description="step ▶")
        self.colour_by = w.ToggleButtons(options=[("when revealed", "step"), ("confidence", "confidence")])
        self.caption, self.canvas, self.legend = w.Label(), w.HTML(), w.HTML()
        super().__init__([w.HBox([self.play, self.back, self.next, self.step]), self.colour_by,
                          self.caption, self.canvas, self.legend])
        self.play.observe(self._rewind, "playing")
        self.back.on_click(lambda _: self._move(-1))
        self.next.on_click(lambda _: self._move(+1))
        self.step.observe(self.draw, "value")
        self.colour_by.observe(self.draw, "value")
        self.samples = None
        if samples is not None:
            self.load(samples)

    def load(self, samples):
        """Show a new run, from its finished text (step = steps)."""
        self.samples = samples
        for control in (self.play, self.step):
            control.max = samples.steps
            control.value = samples.steps
        self.draw()

    def _rewind(self, change):
        """Play pressed on a finished replay: start again from step 0 (Play itself would just stop)."""
        if change.new and self.step.value == self.step.max:
            self.step.value = 0

    def _move(self, by: int):
        self.step.value = min(max(self.step.value + by, 0), self.step.max)

    def draw(self, change=None):
        if self.samples is None:
            return
        k, by = self.step.value, self.colour_by.value
        self.caption.value = viz.frame_caption(self.samples, k)
        self.canvas.value = viz.cells_html(viz.frame_cells(self.samples, k, by))
        self.legend.value = f"<small>{viz.LEGEND[by]}</small>"

    def __repr__(self):
        return f"UnmaskingPlayer({self.caption.value})"


def _shipped(model, tokenizer):
    """The model and tokenizer to sample from: the ones given, or the shipped checkpoint."""
    if model is None or tokenizer is None:
        from . import pretrained
        model, tokenizer, _ = pretrained.load()
    return model, tokenizer


class SamplerLab(w.VBox):
    """Choose the sampler's settings, press "sample", and replay the run in the player."""

    def __init__(self, model=None, tokenizer=None, length: int = 128, prompt: str = "ROMEO:\n",
                 steps: int = 32, run: bool = True):
        self.model, self.tokenizer = _shipped(model, tokenizer)
        self.length = min(length, self.model.cfg.block_size)
        self.strategy = w.Dropdown(options=list(sampler.STRATEGIES), description="strategy")
        self.steps = w.IntSlider(value=steps, min=1, max=self.length, description="steps")
        self.temperature = w.FloatSlider(value=1.0, min=0, max=2, step=0.05, description="temperature")
        self.top_p = w.FloatSlider(value=1.0, min=0.05, max=1, step=0.05, description="top-p")
        self.choice = w.FloatSlider(value=0.0, min=0, max=5, step=0.25, description="choice noise")  # confidence only
        self.block_length = w.IntSlider(value=0, min=0, max=self.length, description="block")  # 0: one block
        self.seed = w.IntText(value=0, description="seed")
        self.prompt = w.Textarea(value=prompt, description="prompt")
        self.button = w.Button(description="sample", button_style="primary")
        self.status, self.player = w.HTML(), UnmaskingPlayer()
        super().__init__([w.HBox([self.strategy, self.steps]), w.HBox([self.temperature, self.top_p]),
                          w.HBox([self.choice, self.block_length]),
                          w.HBox([self.prompt, w.VBox([self.seed, self.button])]), self.status, self.player])
        self.button.on_click(lambda _: self.run())
        if run:
            self.run()

    def run(self):
        """Sample with the current settings, and say how long it took (or what was wrong)."""
        start = time.perf_counter()
        try:
            samples = sampler.sample(self.model, self.tokenizer, length=self.length, steps=self.steps.value,
                                     strategy=self.strategy.value, prompt=self.prompt.value,
                                     temperature=self.temperature.value,
                                     top_p=self.top_p.value if self.top_p.value < 1 else None,  # 1: keep all
                                     choice_temperature=self.choice.value,
                                     block_length=self.block_length.value or None, seed=self.seed.value)
        except ValueError as e:
            self.status.value = _error_html(e)
            return
        self.status.value = f"sampled {self.length} characters in {time.perf_counter() - start:.2f} s"
        self.player.load(samples)

    def __repr__(self):
        return f"SamplerLab({self.strategy.value}, {self.steps.value} steps): {self.status.value}"


class InfillingPlayground(w.VBox):
    """Type a line with holes (_) and watch them fill; a bad line shows the library's message."""

    def __init__(self, model=None, tokenizer=None, template: str = "To be, or ___ to be, that is the question",
                 run: bool = True):
        self.model, self.tokenizer = _shipped(model, tokenizer)
        self.template = w.Text(value=template, description="line", layout=w.Layout(width="40em"))
        self.strategy = w.Dropdown(options=list(sampler.STRATEGIES), description="strategy")
        self.temperature = w.FloatSlider(value=1.0, min=0, max=2, step=0.05, description="temperature")
        self.seed = w.IntText(value=0, description="seed")
        self.button = w.Button(description="fill", button_style="primary")
        self.status, self.player = w.HTML(), UnmaskingPlayer()
        super().__init__([self.template, w.HBox([self.strategy, self.temperature]),
                          w.HBox([self.seed, self.button]), self.status, self.player])
        self.button.on_click(lambda _: self.run())
        if run:
            self.run()

    def __repr__(self):
        return f"InfillingPlayground({self.template.value!r}): {self.player.caption.value}"

    def run(self):
        """Fill the holes, one sampling step per hole."""
        line = self.template.value
        try:
            if "_" not in line:
                raise ValueError("the line has no holes: mark each character to fill with _")
            samples = sampler.sample(self.model, self.tokenizer, template=line, steps=line.count("_"),
                                     strategy=self.strategy.value, temperature=self.temperature.value,
                                     seed=self.seed.value)
        except ValueError as e:
            self.status.value = _error_html(e)
            self.player.layout.display = "none"  # no stale run under an error
            return
        self.status.value = f"filled {line.count('_')} of {len(line)} characters"
        self.player.layout.display = None
        self.player.load(samples)
