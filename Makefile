# One command per developer task, the same locally and in CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SERVE ?= 1
PORT ?= 8765
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench
STAMP_INTEGRATIONS := $(VENV)/.installed-integrations

.PHONY: demo test test-integrations lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24,<27"

$(STAMP_DEMO): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(STAMP_DEMO)

$(STAMP_BENCH): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $@ $(STAMP_TEST) $(STAMP_DEMO)

## make demo: the iteration loop on the bundled digits data, then the dashboard (SERVE=0 skips it)
demo: $(STAMP_DEMO)
ifeq ($(SERVE),0)
	$(BIN)/loopml demo --no-serve
else
	$(BIN)/loopml demo --serve --port $(PORT)
endif

## make test: the layer contracts, then the whole suite (PostgreSQL tests need LOOPML_TEST_POSTGRES_URL)
test: $(STAMP_TEST)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(STAMP_INTEGRATIONS): pyproject.toml $(STAMP_TEST)
	$(BIN)/python -m pip install --quiet -e ".[test,integrations-torch]"
	touch $@

## make test-integrations: every framework integration's tests, torch-based ones included
## (installs torch, Lightning and transformers: a few minutes, so `make test` skips them)
test-integrations: $(STAMP_INTEGRATIONS)
	$(BIN)/python -m pytest tests/integrations_tests $(PYTEST_ARGS)

lint: $(STAMP_TEST)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

typecheck: $(STAMP_TEST)
	$(BIN)/mypy

## make bench: every benchmark, side by side with its anchor
bench: $(STAMP_BENCH)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .loopml .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
