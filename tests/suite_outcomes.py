"""Outcome recorder shared by tests/theano_plugin.py and tests/pytensor_plugin.py.

With THEANO_SUITE_OUTCOMES=FILE, writes each test's outcome there as JSON:
{node id: [outcome, seconds]}, the outcome "passed", "skipped", "failed TYPE"
or "error TYPE" (TYPE: the exception's class name; error: outside the test's call).
"""
import json
import os
import re


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
