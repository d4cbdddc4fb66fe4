# Two commands on a fresh machine (Python 3.11, pip, make, git):
#   make demo   - create .venv, install, seed the demo collection, open the app
#   make test   - create .venv, install the dev extras, run the whole suite (including the
#                 integration suite against a real Go Milvus server, started by the tests)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-realserver run bench lint wheel-check clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,realserver]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/milvus-tui demo

run: $(STAMP)
	$(BIN)/milvus-tui

# Headless Chromium for tests/test_serve.py (`milvus-tui serve` in a real browser): Debian's
# package, installed when missing and apt-get is there (CI runs as root on a fresh machine).
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser test ..."; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	fi

test: $(STAMP) browser
	MILVUS_TUI_REALSERVER=1 $(BIN)/python -m pytest -q --durations=25

# Only the integration suite against a real Go Milvus (standalone 2.3.5 from PyPI, started and
# stopped by the tests; ~10 s to install, ~3 min to run). `make test` runs it too.
test-realserver: $(STAMP)
	$(BIN)/python -m pytest -q tests/realserver

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check tui tests

clean:
	rm -rf $(VENV) build dist *.egg-info
