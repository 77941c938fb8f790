# Two commands matter: `make run` (the service) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "renewflow needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# On the embedded database (no DATABASE_URL), the demo book is loaded once and a console sign-in
# link printed before serving; `make run DEMO=0` skips both.
run: $(STAMP)
	@if [ -z "$$DATABASE_URL" ] && [ "$(DEMO)" != "0" ]; then \
	  $(BIN)/renewflow demo load --if-missing --sign-in http://$(HOST):$(PORT) \
	    || echo "(the demo book was not loaded: see the error above; serving without it)"; \
	fi
	$(BIN)/renewflow serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/run-tests

test-slow: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/run-tests -m slow

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
