# Two commands for a fresh machine with Python 3.11 and gcc:
#   make demo   sets up .venv and runs the main demo
#   make test   sets up .venv, runs the whole test suite, then Theano's own tests under fncache
# and make bench (full benchmarks, about half an hour) or make bench-quick (a few minutes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv demo test bench bench-quick clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools<81' wheel
	$(BIN)/python -m pip install --quiet -e '.[theano,test,redis,bench]'
	touch $(STAMP)

demo: venv
	$(BIN)/python examples/demo.py

test: venv
	$(BIN)/python -m pytest
	$(BIN)/python tests/theano_suite.py

bench: venv
	$(BIN)/python benchmarks/all.py

bench-quick: venv
	$(BIN)/python benchmarks/all.py --quick

clean:
	rm -rf $(VENV) .cache build *.egg-info
