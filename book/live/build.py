"""Put the live sampler's files beside the built book; `make book` runs this after jupyter-book.

    python book/live/build.py _build/html

fills _build/html/_static/live/, where the pages' live samplers (`dlm_core.viz.live_sampler`)
load them from:

- shakespeare.onnx: the shipped denoiser, exported by `dlm_core.export.export_onnx` in float32.
  Its 2.7M parameters fit under MAX_MODEL_BYTES, so the browser gets the PyTorch model's own
  numbers, not a compressed copy (benchmarks/browser_sampler.py compares their samples);
- ONNX Runtime Web's script, its WebAssembly and the module that loads it, copied from
  node_modules/onnxruntime-web, the version pinned in package.json and package-lock.json
  (`npm ci` installs it when it is missing or another version). Nothing comes from a CDN;
- live.json: what a page reads first: those files' names, the vocabulary, the [MASK] id and the
  model's context.

Without npm, one line says what to install; live.json then says the runtime is missing, the
pages show their replays, and the book itself still builds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from dlm_core import export, pretrained

ROOT = Path(__file__).resolve().parents[2]  # the repository: package.json, node_modules/
MODEL = "shakespeare.onnx"
MAX_MODEL_BYTES = 12_000_000  # what a reader downloads once; the WebAssembly runtime comes on top
# The WebAssembly (CPU) backend only: its script, the module that loads the .wasm, and the .wasm.
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MISSING = ("make book: no npm, so the book's live sampler will show its replay instead; "
           "install Node.js 18 or newer with npm (nodejs.org) and run make book again")


def pinned_version() -> str:
    return json.loads((ROOT / "package.json").read_text())["dependencies"]["onnxruntime-web"]


def onnxruntime_web() -> Path | None:
    """node_modules/onnxruntime-web/dist at the pinned version, after `npm ci` if needed; None,
    with one line said, where npm is missing or fails."""
    package = ROOT / "node_modules" / "onnxruntime-web"
    installed = package / "package.json"
    if installed.is_file() and json.loads(installed.read_text())["version"] == pinned_version():
        return package / "dist"
    npm = shutil.which("npm")
    if npm is None:
        print(MISSING)
        return None
    # --ignore-scripts: the runtime's files are prebuilt; no package needs to run code to install.
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], cwd=ROOT)
    if done.returncode != 0:
        print("make book: `npm ci` failed (see above), so the book's live sampler will show its replay instead")
        return None
    return package / "dist"


def export_model(out: Path) -> dict:
    """Export the shipped denoiser to out/MODEL; what live.json says about it."""
    model, tokenizer, _ = pretrained.load("cpu")
    size = export.export_onnx(model, tokenizer, out / MODEL).stat().st_size
    if size > MAX_MODEL_BYTES:
        raise SystemExit(f"{MODEL} is {size:,} bytes, over the {MAX_MODEL_BYTES:,} a reader should download")
    return dict(model=MODEL, bytes=size, vocabulary=tokenizer.chars, mask_id=tokenizer.mask_id,
                block_size=model.cfg.block_size)


def main(html_dir: Path) -> int:
    if not (html_dir / "index.html").is_file():
        print(f"{html_dir} holds no built book: run jupyter-book build first", file=sys.stderr)
        return 2
    out = html_dir / "_static" / "live"
    out.mkdir(parents=True, exist_ok=True)
    info = export_model(out)
    dist = onnxruntime_web()
    if dist is None:
        info.update(ort=None, missing="the book was built without ONNX Runtime Web (it needs Node.js and npm)")
    else:
        for name in ORT_FILES:
            shutil.copy2(dist / name, out / name)
        info.update(ort=ORT_FILES[0], ort_version=pinned_version())
    (out / "live.json").write_text(json.dumps(info, ensure_ascii=False, indent=1))
    runtime = f"ONNX Runtime Web {info['ort_version']}" if info["ort"] else "no runtime"
    print(f"live sampler: {MODEL} ({info['bytes'] / 1e6:.1f} MB) and {runtime} in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")))
