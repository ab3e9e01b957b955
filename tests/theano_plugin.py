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
import json
import os
import re
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


_outcomes = {}


def _exception_type(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    match = re.match(r"[\w.]+(?=:|$)", crash.message if crash is not None else "")
    return match.group(0) if match else "?"


def _record(nodeid, outcome, seconds):
    """A test's reports (setup, call, teardown) in order: its outcome is the first that is
    not "passed"."""
    previous = _outcomes.get(nodeid)
    if previous is None:
        _outcomes[nodeid] = [outcome, seconds]
    else:
        if previous[0] == "passed":
            previous[0] = outcome
        previous[1] += seconds


def pytest_runtest_logreport(report):
    if report.failed:
        kind = "failed" if report.when == "call" else "error"
        outcome = "%s %s" % (kind, _exception_type(report))
    else:
        outcome = "skipped" if report.skipped else "passed"
    _record(report.nodeid, outcome, report.duration)


def pytest_collectreport(report):
    if report.failed:
        _record(report.nodeid, "error %s" % _exception_type(report), 0.0)


def pytest_sessionfinish(session):
    path = os.environ.get("THEANO_SUITE_OUTCOMES")
    if path:
        with open(path, "w") as out:
            json.dump(_outcomes, out, indent=0, sort_keys=True)
