# Two entry points for a newcomer: `make demo` (the main job) and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgeseg-installed

.PHONY: demo test lint setup readme clean

demo: $(STAMP)
	$(VENV)/bin/edgeseg demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest

# The linter CI runs before the tests (rules and line length in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .

setup: $(STAMP)

# Regenerate the README's CLI reference from the Typer app (tests/test_readme.py checks it).
readme: $(STAMP)
	$(PY) -m edgeseg.cli.reference README.md

# torch==2.13.0 first and pinned: on the dev/CI machines that is a local CPU build (no multi-GB download).
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) runs .pytest_cache
