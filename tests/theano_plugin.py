"""pytest plugin for running Theano 1.0.5's own test files on current pytest.

Loaded by tests/theano_suite.py with ``-p theano_plugin``. It does four things:

- imports fncache first, which makes Theano work on this Python (and, with
  FNCACHE_INSTALL=1 in the environment, routes every theano.function through
  the cache);
- runs nose-style yield tests (``def test_x(): yield check, arg``; pytest 4
  dropped them): each yielded call becomes one test, ``test_x[0]``, ``test_x[1]``...;
- calls ``setUp``/``tearDown`` on test classes that are not unittest.TestCase,
  as nose did (pytest 8 dropped that too);
- with THEANO_SUITE_OUTCOMES=FILE, writes each test's outcome there as JSON:
  {node id: [outcome, seconds]}, the outcome "passed", "skipped", "failed TYPE"
  or "error TYPE" (TYPE: the exception's class name; error: outside the test's call).
"""
import inspect
import unittest

import pytest

import fncache  # noqa: F401  (first: Theano needs its fixes before it is imported)


class YieldCase(pytest.Function):
    """One call yielded by a yield-style test function."""


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector, name, obj):
    """A yield-style test function is collected by running it, as nose did: one test,
    ``test_x[k]``, per call it yields."""
    if not (isinstance(collector, pytest.Module) and collector.funcnamefilter(name)
            and inspect.isgeneratorfunction(obj)):
        return None
    items = []
    for k, case in enumerate(obj()):
        func, args = case[0], tuple(case[1:])
        items.append(YieldCase.from_parent(collector, name="%s[%d]" % (name, k),
                                           callobj=lambda func=func, args=args: func(*args)))
    return items


@pytest.fixture(autouse=True)
def _nose_style_setup(request):
    """setUp/tearDown of plain (non-unittest) test classes, as nose called them."""
    instance = request.instance
    plain = instance is not None and not isinstance(instance, unittest.TestCase)
    if plain and callable(getattr(instance, "setUp", None)):
        instance.setUp()
    yield
    if plain and callable(getattr(instance, "tearDown", None)):
        instance.tearDown()


from suite_outcomes import (  # noqa: E402,F401  (the outcome recorder)
    pytest_collectreport, pytest_runtest_logreport, pytest_sessionfinish)
