# The README's two commands: `make run` (set up and serve) and `make test` (set up and pass every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NEXTPAPER := $(VENV)/bin/nextpaper
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-js test-py lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(NEXTPAPER) init
	$(NEXTPAPER) serve --host $(HOST) --port $(PORT)

test: $(STAMP) test-js test-py

test-js:
	node --test tests/js/

test-py: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check server recommender tests bench
	$(VENV)/bin/ruff format --check server recommender tests bench

clean:
	rm -rf $(VENV) .pytest_cache
