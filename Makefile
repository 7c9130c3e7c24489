# One command per task; CI runs `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install lint test test-sqlite test-postgres serve clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

test-sqlite: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: install
	CYBERATLAS_DATABASE_URL="$$(scripts/test-postgres-url)" $(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint test-sqlite test-postgres

serve: install
	$(BIN)/cyberatlas serve

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
