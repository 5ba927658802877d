# The README's two commands: `make run` (set up and serve) and `make test` (set up and pass every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NEXTPAPER := $(VENV)/bin/nextpaper
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-js test-py lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Development tools from npm (web-ext, to lint the Firefox variant; axe-core, for the web app's
# accessibility checks); the extension has no npm deps.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

run: $(STAMP)
	$(NEXTPAPER) init
	$(NEXTPAPER) serve --host $(HOST) --port $(PORT)

test: $(STAMP) $(NODE_STAMP) test-js test-py

test-js:
	node --test tests/js/

test-py: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check server recommender tests bench
	$(VENV)/bin/ruff format --check server recommender tests bench

clean:
	rm -rf $(VENV) node_modules build .pytest_cache
