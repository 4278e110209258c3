# TrialWatch: `make run` brings the pipeline up on embedded defaults, `make test` checks everything.
# Both create ./.venv and install what they need on first use (Python 3.11+, pip, gcc, git, make).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run demo test lint typecheck contracts unit integration e2e bench bench-quick docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed  ## the whole pipeline on embedded Tansu + SQLite (make run ARGS=--demo)
	$(BIN)/trialwatch run $(ARGS)

demo: $(VENV)/.installed
	$(BIN)/trialwatch run --demo $(ARGS)

test: $(VENV)/.installed-dev  ## lint, types, import contracts, then every test suite
	$(BIN)/ruff check .
	$(BIN)/mypy shared services
	$(BIN)/lint-imports
	$(BIN)/python -m pytest tests $(ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy shared services

contracts: $(VENV)/.installed-dev
	$(BIN)/lint-imports

unit: $(VENV)/.installed-dev
	$(BIN)/python -m pytest tests/unit $(ARGS)

integration: $(VENV)/.installed-dev
	$(BIN)/python -m pytest tests/integration $(ARGS)

e2e: $(VENV)/.installed-dev
	$(BIN)/python -m pytest tests/e2e $(ARGS)

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run_all.py $(ARGS)

bench-quick: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run_all.py --quick $(ARGS)

docs: $(VENV)/.installed
	$(BIN)/trialwatch asyncapi --out docs/asyncapi.json

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
