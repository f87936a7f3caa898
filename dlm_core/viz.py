"""Pictures of the forward and reverse processes: pure functions, and kernel-free HTML views.

1. Pure functions compute what a view shows (`masked_view`, `frame_cells`, `frame_caption`).
   The live widgets (`dlm_core.widgets`) only display their results, so all of it is testable.
2. Twins. The online book has no kernel, so `masking_twin` and `player_twin` write small
   self-contained HTML + JavaScript views (files in dlm_core/twins/) with the data embedded,
   which replay the same pictures in the browser. Element ids are a hash of the content, so
   a re-executed notebook stores the same output and nbval can compare it.
3. `live_sampler` runs the real model in the reader's browser (ONNX Runtime Web, with the
   model file `make book` exports beside the pages), and falls back to a player twin.
"""

from __future__ import annotations

import hashlib
import html
import json
from importlib import resources

import torch

from . import masking, sampler

MASK_GLYPH = "▒"  # one character per position, so that masked text stays aligned
NEWLINE_GLYPH = "⏎"
MASKED_COLOUR = "#f4f4f4"  # background of a position that is still masked
GIVEN_COLOUR = "#d9d9d9"  # a prompt or template character: never revealed, always there
# Background ramps, light enough for black text. When revealed: early yellow, late blue.
# Confidence: an unsure guess is red, a sure one pale green, so the doubtful ones stand out.
STEP_RAMP = ("#fde725", "#7fc8f8")
CONFIDENCE_RAMP = ("#f08080", "#e6f5e6")
COLOUR_BY = ("step", "confidence")
CANVAS_STYLE = ("font-family:monospace;font-size:15px;line-height:1.5;white-space:pre-wrap;"
                "word-break:break-all;color:#000;background:#fff;padding:4px;border:1px solid #ccc")
LEGEND = {"step": "colour: the step a character appeared at (yellow early, blue late); grey: given",
          "confidence": "colour: the probability the model gave the character (red unsure, green sure); "
                        "grey: given"}


# --- The forward process: one uniform per position, so raising t only ever adds masks


def fixed_uniforms(n: int, seed: int = 0) -> torch.Tensor:
    """n uniforms in [0, 1), one per position, from a seeded generator: (n,)."""
    return torch.rand(n, generator=torch.Generator().manual_seed(seed))


def masked_view(text: str, t: float, schedule: str, uniforms) -> tuple[str, int, float]:
    """`text` at time t: (the line with hidden characters drawn as ▒, how many are hidden,
    the expected number T * (1 - alpha_t)). Position i is hidden when uniforms[i] < 1 - alpha_t
    (`masking.mask_from_uniforms`), so with fixed uniforms the masks only grow with t."""
    u = torch.as_tensor(uniforms, dtype=torch.float32)
    if u.shape != (len(text),):
        raise ValueError(f"need one uniform per character: the text has {len(text)}, "
                         f"uniforms have shape {tuple(u.shape)}")
    codes = torch.tensor([ord(c) for c in text], dtype=torch.long)  # characters as ids: no tokenizer needed
    xt, masked = masking.mask_from_uniforms(codes, u, t, ord(MASK_GLYPH), schedule)
    expected = len(text) * masking.mask_rate(t, schedule).item()
    return "".join(map(chr, xt.tolist())), int(masked.sum()), expected


# --- The reverse process: a sampling run, replayed step by step


def ramp(x: float, stops: tuple[str, str]) -> str:
    """The colour a fraction x in [0, 1] of the way from stops[0] to stops[1], as #rrggbb."""
    a, b = (bytes.fromhex(s[1:]) for s in stops)
    return "#" + "".join(f"{round(ca + (cb - ca) * x):02x}" for ca, cb in zip(a, b))


def cell_colour(revealed_at: int, confidence: float, steps: int, colour_by: str) -> str:
    """The background of a revealed (or given) position: by its step, or by the model's confidence then."""
    if colour_by not in COLOUR_BY:
        raise ValueError(f"unknown colour_by {colour_by!r}; choose one of {', '.join(COLOUR_BY)}")
    if revealed_at == 0:
        return GIVEN_COLOUR
    if colour_by == "step":
        return ramp((revealed_at - 1) / max(steps - 1, 1), STEP_RAMP)
    return ramp(confidence, CONFIDENCE_RAMP)


def run_cells(samples, colour_by: str) -> list[tuple[str, str, int]]:
    """Every position of the run's first sample when it is over: (character, colour, revealed_at)."""
    text = samples.texts[0].replace("\n", NEWLINE_GLYPH)
    revealed_at = samples.revealed_at[0].tolist()
    confidence = samples.confidence[0].tolist()
    return [(c, cell_colour(r, p, samples.steps, colour_by), r)
            for c, r, p in zip(text, revealed_at, confidence)]


def frame_cells(samples, k: int, colour_by: str = "step") -> list[tuple[str, str]]:
    """(character, colour) of every position after k steps; one not yet revealed is (▒, MASKED_COLOUR)."""
    if not 0 <= k <= samples.steps:
        raise ValueError(f"step k must lie in 0..{samples.steps} for this run, got {k}")
    return [(c, colour) if r <= k else (MASK_GLYPH, MASKED_COLOUR)
            for c, colour, r in run_cells(samples, colour_by)]


def frame_caption(samples, k: int) -> str:
    """Where the replay is: the step, the time t = 1 - k/steps, and the masks left."""
    left = int((samples.revealed_at[0] > k).sum())
    return f"step {k} of {samples.steps}, t = {1 - k / samples.steps:.3f}, {left} masked"


def cells_html(cells) -> str:
    """One <span> per position, in a wrapping monospace block."""
    spans = "".join(f'<span style="background:{colour}">{html.escape(c)}</span>' for c, colour in cells)
    return f'<div style="{CANVAS_STYLE}">{spans}</div>'


# --- Twins: the same views as self-contained HTML + JavaScript, for a page without a kernel


class Twin:
    """An HTML view that notebooks display through `_repr_html_`; its repr names it briefly."""

    def __init__(self, kind: str, body: str):
        self.kind, self.html = kind, body

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<{self.kind}: an HTML view, shown by the notebook or the book>"


# The pages of the twins and of the live sampler, shipped as package data (pyproject.toml).
TWIN_FILES = ("masking.html", "masking.js", "player.html", "player.js")
LIVE_FILES = ("live.html", "live.js", "sampler.js")


def _read_twin_file(name: str) -> str:
    """A file of dlm_core/twins/ without its first line, a comment for whoever edits the file."""
    return (resources.files(__package__) / "twins" / name).read_text(encoding="utf-8").split("\n", 1)[1]


_FILE_TEXT = {name: _read_twin_file(name) for name in TWIN_FILES + LIVE_FILES}  # read once, at import


def _page(kind: str, name: str, script: str, data: dict, live: bool = False, **fields) -> Twin:
    """twins/<name>.html's controls (`fields` filled in, no final newline) in a root element, then
    `script`, which finds its elements inside that root, run on `data`. The root's id hashes all that
    is embedded, so the same data always gives the same HTML (`live`: the live sampler's id and class)."""
    controls = _FILE_TEXT[f"{name}.html"].rstrip("\n").format(canvas_style=CANVAS_STYLE, **fields)
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True).replace("</", "<\\/")  # no early </script>
    salt, prefix, css_class = ("", "dlm-live-", "dlm-live") if live else (kind, "dlm-", "dlm-twin")
    uid = prefix + hashlib.sha1((salt + payload + controls + script).encode()).hexdigest()[:12]
    body = (f'<div id="{uid}" class="{css_class}" style="margin:0.5em 0">{controls}</div>\n'
            f'<script>(function () {{\nconst root = document.getElementById("{uid}");\n'
            f'const data = {payload};\n{script}}})();</script>')
    return Twin(kind, body)


def masking_twin(text: str, uniforms, t: float = 0.5, schedule: str = "linear") -> Twin:
    """The masking-rate slider, computed in the browser from the stored uniforms."""
    masked_view(text, t, schedule, uniforms)  # the same checks as the widget, before writing HTML
    data = dict(text=list(text), u=torch.as_tensor(uniforms, dtype=torch.float32).tolist(),
                t=t, schedule=schedule, glyph=MASK_GLYPH)
    return _page("masking-rate slider", "masking", _FILE_TEXT["masking.js"], data)


def player_twin(runs: dict, start: str = "end", interval_ms: int = 200) -> Twin:
    """The unmasking player over precomputed runs ({label: Samples}, with a menu when there are
    several), opening on the finished text (`start="end"`) or the empty canvas (`start="begin"`)."""
    if not runs or start not in ("begin", "end"):
        raise ValueError("give at least one run, and start='begin' or 'end'")
    data = dict(glyph=MASK_GLYPH, masked=MASKED_COLOUR, legend=LEGEND, start=start, interval=interval_ms, runs=[
        dict(label=label, steps=s.steps, cells=[
            [c, r, dict(step=by_step, confidence=by_conf)]
            for (c, by_step, r), (_, by_conf, _) in zip(run_cells(s, "step"), run_cells(s, "confidence"))])
        for label, s in runs.items()])
    return _page("unmasking player", "player", _FILE_TEXT["player.js"], data)


# --- The live sampler: the real model in the reader's browser, the player twin where it cannot run


def live_sampler(fallback: dict, text: str = "ROMEO:", length: int = 128, steps: int = 32,
                 strategy: str = "ancestral", temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, choice_temperature: float = 0.0,
                 schedule: str = "linear") -> Twin:
    """A view that runs the shipped denoiser in the reader's browser: type a prompt (padded with
    masks to `length`) or a template whose `_` are holes, choose the settings, press play.

    twins/sampler.js is `sampler.sample` in JavaScript, running the ONNX graph `make book` exports.
    Where it cannot run (a page opened from a file, JupyterLab, no WebAssembly) one line says why
    and the player twin replays the precomputed `fallback` runs ({label: Samples}) instead. The
    arguments are the settings it opens with, checked as `sampler.sample` checks them."""
    if strategy not in sampler.STRATEGIES or schedule not in masking.SCHEDULES:
        raise ValueError(f"choose a strategy from {', '.join(sampler.STRATEGIES)} and a schedule from "
                         f"{', '.join(masking.SCHEDULES)}; got {strategy!r} and {schedule!r}")
    replay = player_twin(fallback, start="end")
    data = dict(text=text, length=length, steps=steps, strategy=strategy, temperature=temperature, top_k=top_k,
                top_p=top_p, choice_temperature=choice_temperature, schedule=schedule, glyph=MASK_GLYPH,
                newline=NEWLINE_GLYPH, masked=MASKED_COLOUR, given=GIVEN_COLOUR,
                ramps=dict(step=STEP_RAMP, confidence=CONFIDENCE_RAMP), legend=LEGEND)
    script = _FILE_TEXT["sampler.js"] + _FILE_TEXT["live.js"]
    return _page("live sampler", "live", script, data, live=True, fallback=replay.html)
