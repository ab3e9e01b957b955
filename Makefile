# Two commands for a fresh machine with Python 3.11, a Python 3.12+ (pyenv's is found) and gcc:
#   make demo   sets up .venv (Theano) and .venv-pytensor (PyTensor, PyMC) and runs both demos
#   make test   sets up both, runs the test suite in each, then Theano's and PyTensor's own
#               tests under fncache
# and make bench (full benchmarks, about 45 minutes) or make bench-quick (a few minutes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# PyTensor 3.3 needs Python 3.12 or later: the oldest such pyenv version, else python3.12.
ifeq ($(origin PYTHON312), undefined)
PYENV_312 := $(shell pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9]|[2-9][0-9])(\.[0-9]+)?$$' | sort -V | head -n 1)
PYTHON312 := $(if $(PYENV_312),$(shell pyenv prefix $(PYENV_312))/bin/python3,python3.12)
endif
PT_VENV := .venv-pytensor
PT_BIN := $(PT_VENV)/bin
PT_STAMP := $(PT_VENV)/.installed-stamp

.PHONY: venv venv-pytensor demo test test-theano test-pytensor bench bench-quick clean

venv: $(STAMP)

venv-pytensor: $(PT_STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools<81' wheel
	$(BIN)/python -m pip install --quiet -e '.[theano,test,redis,bench]'
	touch $(STAMP)

$(PT_STAMP): setup.cfg pyproject.toml
	$(PYTHON312) -m venv $(PT_VENV)
	$(PT_BIN)/python -m pip install --quiet --upgrade pip 'setuptools<81' wheel
	$(PT_BIN)/python -m pip install --quiet -e '.[pytensor,pymc,test-pytensor,redis]'
	touch $(PT_STAMP)

demo: venv venv-pytensor
	$(BIN)/python examples/demo.py
	$(PT_BIN)/python examples/demo_pytensor.py

test: test-theano test-pytensor

test-theano: venv
	$(BIN)/python -m pytest
	$(BIN)/python tests/theano_suite.py

test-pytensor: venv-pytensor
	$(PT_BIN)/python -m pytest
	$(PT_BIN)/python tests/pytensor_suite.py

bench: venv venv-pytensor
	$(PT_BIN)/python benchmarks/bench_pytensor.py
	$(BIN)/python benchmarks/all.py

bench-quick: venv venv-pytensor
	$(PT_BIN)/python benchmarks/bench_pytensor.py --quick
	$(BIN)/python benchmarks/all.py --quick

clean:
	rm -rf $(VENV) $(PT_VENV) .cache build *.egg-info
