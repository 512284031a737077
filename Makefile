# Two commands: `make run` and `make test`. Both work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= config.toml

.PHONY: run test lint wheel-check bench clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "HouseRules needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# setup.py and the C source: the optional compiled fast path is rebuilt when they change.
$(VENV)/.installed-run: pyproject.toml setup.py agent/dns/_fastpath.c agent/lists/_scan.c | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml setup.py agent/dns/_fastpath.c agent/lists/_scan.c | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

$(CONFIG):
	cp config.example.toml $(CONFIG)

run: $(VENV)/.installed-run $(CONFIG)
	$(VENV)/bin/houserules --config $(CONFIG) init
	$(VENV)/bin/houserules --config $(CONFIG) run

test: $(VENV)/.installed-test
	$(PY) -m pytest

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check agent dashboard houserules tests bench
	$(VENV)/bin/ruff format --check agent dashboard houserules tests bench

# A wheel installed into a fresh virtualenv, run from another folder (CI runs it too).
wheel-check:
	PYTHON=$(PYTHON) .ci/wheel-check

bench: $(VENV)/.installed-run
	$(PY) bench/dns_bench.py

clean:
	rm -rf $(VENV) data
