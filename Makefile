# One command for each job a reader or CI needs. Everything runs inside .venv.
#   make setup      create .venv and install the course (torch pinned, editable dlm_core, the book tools)
#   make book       set up, then build the book into _build/html, with the live sampler's model and
#                   ONNX Runtime Web (npm ci) in _build/html/_static/live/; serve it to read it:
#                   python -m http.server -d _build/html
#   make test       unit tests, then the notebooks re-executed against their saved outputs (nbval),
#                   then the book build with warnings as errors, then its interactive views in a browser,
#                   then the live widgets in a real JupyterLab
#   make notebooks  re-execute the chapters in place and save their outputs (after editing one)
#   make clean      remove .venv and build outputs

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0

# Tests and CI use a local copy of the corpus when one sits beside the repository
# (no internet there); on a reader's machine dlm_core downloads it once.
DLM_DATA ?= $(abspath $(wildcard ../shared/data/tinyshakespeare.txt))
export DLM_DATA

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# Warnings are errors (-W) and every cross-reference must resolve (-n, nitpicky).
BOOK_FLAGS := -W -n --keep-going

.PHONY: setup book test unit nbval book-check browser-check jupyterlab-check browser notebooks clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "make: the course needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1 || echo missing)." \
		"Name another, e.g. make PYTHON=python3.12 book"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev,book]"
	touch $@

setup: $(VENV)/.installed

# After the pages, book/live/build.py exports the shipped model to ONNX and copies ONNX Runtime Web
# (the version package-lock.json pins; `npm ci` when node_modules lacks it) beside them. Without
# npm it says so in one line and the pages' live samplers show their replays instead.
LIVE := $(BIN)/python book/live/build.py _build/html

book: setup
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)
	$(LIVE)
	@echo "The book is in _build/html: serve it with python -m http.server -d _build/html and open http://127.0.0.1:8000/"

test: unit nbval book-check browser-check jupyterlab-check

# The unit tests of dlm_core (tests/) and of the benchmark scripts (benchmarks/tests/), the slow
# ones included; `.venv/bin/python -m pytest -m "not slow"` is the quick run while editing.
unit: setup
	$(BIN)/python -m pytest -q tests benchmarks/tests

# nbval runs every notebook top to bottom in a fresh kernel of this environment and compares
# each cell's outputs with the saved ones (text and errors; images are not compared, see
# tests/nbval_sanitize.cfg for what is and what is normalised first).
# Importing pyplot once first builds matplotlib's font cache on a fresh machine, so its one-off
# notice cannot land in a cell's output.
# On an accelerator (CUDA, MPS) only the cells whose output does not depend on its floating
# point are compared (tests/nbval_mode.py says which mode and why; DLM_DEVICE=cpu forces the CPU).
nbval: setup
	$(BIN)/python -c "import matplotlib.pyplot"
	$(BIN)/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $$($(BIN)/python tests/nbval_mode.py) notebooks/

# A fresh build (no cache from an earlier one can hide a warning).
book-check: setup
	rm -rf _build
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)
	$(LIVE)

# The book's kernel-free interactive views (dlm_core.viz twins), opened from _build/html in
# headless Chrome or Chromium (tests/browser/find_browser.py says which), driven and checked; then
# the live sampler, served on 127.0.0.1, run and compared with dlm_core (tests/browser/check_live.py);
# screenshots in _build/browser/. Needs the build: run after book-check.
browser-check: setup
	$(BIN)/python tests/browser/check_twins.py
	$(BIN)/python tests/browser/check_live.py

# The live widgets in a real JupyterLab (on 127.0.0.1): chapters 3 and 7 run, the masking-rate
# slider dragged with the mouse, the unmasking player stepped and played; screenshots beside the
# browser check's.
jupyterlab-check: setup
	$(BIN)/python tests/browser/check_jupyterlab.py

# On a machine without Chrome or Chromium: download Playwright's Chromium (needs the internet;
# CI never runs this, it installs Debian's chromium).
browser: setup
	$(BIN)/python -m playwright install chromium

# Streams are merged after execution (the second CoalesceStreams), and neither timings nor the
# live widgets' state are recorded (the book shows the kernel-free twins instead), so
# re-executing an unchanged chapter leaves its file unchanged, except for the random model id
# of each live widget's output (nbval does not compare those).
notebooks: setup
	for nb in $(NOTEBOOKS); do \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.record_timing=False \
			--ExecutePreprocessor.store_widget_state=False \
			--NotebookExporter.preprocessors='["nbconvert.preprocessors.CoalesceStreamsPreprocessor"]' \
			"$$nb" || exit 1; \
	done

clean:
	rm -rf $(VENV) _build .pytest_cache node_modules
