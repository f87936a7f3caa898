"""The live sampler's Python side: the view `viz.live_sampler` writes, and book/live/build.py,
which puts the model and ONNX Runtime Web beside the built book. Its JavaScript is checked
against dlm_core in a real browser by tests/browser/check_live.py (`make browser-check`)."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from dlm_core import sampler, viz
from dlm_core.model import Denoiser
from dlm_core.sampler import Samples

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "book" / "live"))
import build  # noqa: E402  (book/live/build.py)


@pytest.fixture
def runs() -> dict:
    """One hand-made run of 2 steps over "ab": 'a' given, 'b' revealed at step 2."""
    return {"hand-made": Samples(texts=["ab"], ids=torch.tensor([[0, 1]]), revealed_at=torch.tensor([[0, 2]]),
                                 confidence=torch.tensor([[1.0, 0.5]]), steps=2, mask_id=9)}


def _payloads(view) -> dict[str, dict]:
    """{id: embedded data} of every view in the HTML, the live one and its fallback twin."""
    found = re.findall(r'getElementById\("(dlm-[a-z0-9-]+)"\);\nconst data = (\{.*\});\n', view._repr_html_())
    return {uid: json.loads(payload.replace("<\\/", "</")) for uid, payload in found}


def test_live_sampler_embeds_its_settings_and_a_replay(runs):
    view = viz.live_sampler(runs, text="To be, or ___ to be", steps=3, strategy="confidence", temperature=0,
                            top_k=5, top_p=0.9, choice_temperature=1.5, schedule="cosine")
    payloads = _payloads(view)
    (live_id,), (twin_id,) = ([uid for uid in payloads if uid.startswith("dlm-live-") == live] for live in (True, False))
    live, twin = payloads[live_id], payloads[twin_id]
    assert re.fullmatch(r"dlm-live-[0-9a-f]{12}", live_id) and re.fullmatch(r"dlm-[0-9a-f]{12}", twin_id)
    settings = ("text", "steps", "strategy", "temperature", "top_k", "top_p", "choice_temperature", "schedule")
    assert {k: live[k] for k in settings} == dict(text="To be, or ___ to be", steps=3, strategy="confidence",
                                                  temperature=0, top_k=5, top_p=0.9, choice_temperature=1.5,
                                                  schedule="cosine")
    assert (live["glyph"], live["given"], live["ramps"]["step"]) == (viz.MASK_GLYPH, viz.GIVEN_COLOUR, list(viz.STEP_RAMP))
    assert [r["label"] for r in twin["runs"]] == ["hand-made"] and twin["runs"][0]["cells"][1][:2] == ["b", 2]
    html = view._repr_html_()
    assert html.index(f'id="{live_id}"') < html.index('class="fallback" hidden') < html.index(f'id="{twin_id}"')
    assert twin["start"] == "end"  # the replay opens on the finished text
    assert repr(view) == "<live sampler: an HTML view, shown by the notebook or the book>"


def test_live_sampler_id_is_a_hash_of_its_content(runs):
    ids = [re.search(r'id="(dlm-live-[0-9a-f]{12})"', viz.live_sampler(runs, text=t)._repr_html_()).group(1)
           for t in ("ROMEO:", "ROMEO:", "JULIET:")]
    assert ids[0] == ids[1] != ids[2]


def test_live_sampler_loads_only_from_the_book(runs):
    """The page's own files (_static/live/, found from Sphinx's data-content_root), never an address
    elsewhere; embedded text cannot close a script early."""
    page = viz.live_sampler(runs, text="</script>")._repr_html_()
    assert not re.search(r"https?://|//cdn|unpkg|jsdelivr", page)
    assert "_static/live/" in page
    assert page.count("</script>") == 2  # the fallback twin's, and the live sampler's


@pytest.mark.parametrize("kwargs, message", [
    (dict(strategy="random"), "choose a strategy from ancestral, confidence"),
    (dict(schedule="square"), "and a schedule from linear, cosine"),
])
def test_live_sampler_rejects_unknown_settings(runs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        viz.live_sampler(runs, **kwargs)
    with pytest.raises(ValueError, match="at least one run"):
        viz.live_sampler({})


def test_live_files_ship_with_the_package():
    package = resources.files("dlm_core")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["setuptools"]["package-data"]["dlm_core"]
    for name in viz.LIVE_FILES:
        assert (package / "twins" / name).read_text(encoding="utf-8").strip(), f"twins/{name} is missing or empty"
        assert any(fnmatch(f"twins/{name}", pattern) for pattern in shipped), f"twins/{name} is not package data"


def test_the_runtime_is_pinned_to_one_version_in_package_json_and_its_lock():
    pinned = build.pinned_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"pin an exact version, not {pinned!r}"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == pinned
    assert lock["packages"][""]["dependencies"]["onnxruntime-web"] == pinned


@pytest.fixture
def tiny_book(tmp_path, monkeypatch, tok):
    """A built book's folder, and a tiny model standing in for the shipped one."""
    (tmp_path / "index.html").write_text("<html></html>")
    tiny = Denoiser(tiny_config()).eval()
    monkeypatch.setattr(build.pretrained, "load", lambda device: (tiny, tok, {}))
    return tmp_path


def test_build_without_npm_says_so_in_one_line_and_still_writes_the_model(tiny_book, monkeypatch, tmp_path, capsys, tok):
    monkeypatch.setattr(build, "ROOT", tmp_path / "repo")  # no node_modules there
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    assert build.main(tiny_book) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == build.MISSING and len(out) == 2 and out[1].startswith("live sampler: shakespeare.onnx")
    info = json.loads((tiny_book / "_static" / "live" / "live.json").read_text())
    assert info["ort"] is None and "Node.js and npm" in info["missing"]
    assert (info["vocabulary"], info["mask_id"], info["block_size"]) == (tok.chars, 65, 32)
    assert info["bytes"] == (tiny_book / "_static" / "live" / "shakespeare.onnx").stat().st_size


def test_build_refuses_a_model_over_the_limit(tiny_book, monkeypatch):
    monkeypatch.setattr(build, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(SystemExit, match="over the 1,000 a reader should download"):
        build.main(tiny_book)


def test_build_needs_a_built_book(tmp_path, capsys):
    assert build.main(tmp_path) == 2
    assert "holds no built book" in capsys.readouterr().err
