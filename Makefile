# One command per task; CI runs `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install lint browser test test-sqlite test-postgres serve demo clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

browser:
	scripts/ensure-chromium

test-sqlite: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: install browser
	CYBERATLAS_DATABASE_URL="$$(scripts/test-postgres-url)" $(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint test-sqlite test-postgres

serve: install
	$(BIN)/cyberatlas serve

demo: install
	$(BIN)/cyberatlas demo
	$(BIN)/cyberatlas serve

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis
