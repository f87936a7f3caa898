# One command for each job a reader or CI needs. Everything runs inside .venv.
#   make setup   create .venv and install the course (torch pinned, editable dlm_core)
#   make test    unit tests (CPU)
#   make clean   remove .venv and build outputs

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0

# Tests and CI use a local copy of the corpus when one sits beside the repository
# (no internet there); on a reader's machine dlm_core downloads it once.
DLM_DATA ?= $(abspath $(wildcard ../shared/data/tinyshakespeare.txt))
export DLM_DATA

.PHONY: setup test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) _build .pytest_cache
