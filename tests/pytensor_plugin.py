"""pytest plugin for running PyTensor's own test files under fncache.

Loaded by tests/pytensor_suite.py with ``-p pytensor_plugin``. With
FNCACHE_INSTALL=1 it imports fncache before the tests import PyTensor, so every
``pytensor.function`` goes through the cache; without it, PyTensor runs plain.
It writes each test's outcome to THEANO_SUITE_OUTCOMES as theano_plugin does
(tests/suite_outcomes.py, shared with it).
"""
import os

if os.environ.get("FNCACHE_INSTALL"):
    import fncache  # noqa: F401  (FNCACHE_INSTALL=1: install() at import)

from suite_outcomes import (  # noqa: E402,F401  (the outcome recorder, shared)
    pytest_collectreport, pytest_runtest_logreport, pytest_sessionfinish)
