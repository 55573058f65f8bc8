# Two commands do all setup on a fresh machine: `make up` (train, export, serve) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv up test lint bench bench-check loadtest clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

venv: $(STAMP)

up: $(STAMP)
	$(BIN)/wig80 up

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

bench-check: $(STAMP)
	$(BIN)/python -m benchmarks.regression

loadtest: $(STAMP)
	$(BIN)/python -m benchmarks.loadtest

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
