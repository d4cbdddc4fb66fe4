# Two commands on a fresh machine (Python 3.11, pip, make, git):
#   make demo   - create .venv, install, seed the demo collection, open the app
#   make test   - create .venv, install the dev extras, run the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test run bench lint wheel-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/milvus-tui demo

run: $(STAMP)
	$(BIN)/milvus-tui

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check tui tests

clean:
	rm -rf $(VENV) build dist *.egg-info
