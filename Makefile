# The README's two commands: `make run` (set up and serve) and `make test` (set up and pass every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NEXTPAPER := $(VENV)/bin/nextpaper
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
# `make run` serves the home every nextpaper command uses: NEXTPAPER_HOME when it is set (also
# as `make run NEXTPAPER_HOME=DIR`: make passes it on), else the per-user data folder.

.PHONY: run test test-js test-py lint bench clean

$(PY):
	@echo "==> Creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

# `make run` installs what serving needs; `make test` adds the test tools and the spark extra
# (pyspark, for `nextpaper train --engine spark` and its tests), and so covers run.
$(RUN_STAMP): pyproject.toml | $(PY)
	@echo "==> Installing NextPaper and its dependencies into $(VENV) (a minute or two the first time)"
	$(PY) -m pip install -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,spark]'
	touch $(STAMP) $(RUN_STAMP)

# Development tools from npm (web-ext, to lint the Firefox variant; axe-core, for the web app's
# accessibility checks); the extension has no npm deps.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

run: $(RUN_STAMP)
	@echo "==> Initialising the home (NEXTPAPER_HOME, else your per-user data folder)"
	$(NEXTPAPER) init
	@echo "==> Starting the server on http://$(HOST):$(PORT) (loading takes a few seconds)"
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
