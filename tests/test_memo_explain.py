"""Memo misses that explain themselves: in process (fncache.explain), after the fact from
another process (fncache explain --last-miss), and a warning for a global that changes on
every call."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fncache
import theano
import theano.tensor as T

from helpers import run_python

SCALE = 2.0
CALLS = []


def _helper(a):
    return a * SCALE


def _lines(fn):
    return fncache.explain(fn, file=open(os.devnull, "w"))


def test_explain_names_the_argument_the_global_the_code_and_the_closure_cell(cache_dir):
    global SCALE, _helper
    k = 1

    @fncache.memoize(min_seconds=0)
    def f(a, offset=0.0):
        return _helper(a) + offset + k

    f(np.arange(3.0))
    f(np.arange(3.0), offset=1.0)
    assert _lines(f) == ["argument 'offset': 0.0 vs 1.0"]
    f(np.arange(4.0), offset=1.0)
    assert _lines(f) == ["argument 'a': float64 array of shape (3,) vs float64 array of "
                         "shape (4,)"]
    SCALE = 3.0
    try:
        f(np.arange(4.0), offset=1.0)
        assert _lines(f) == ["global 'SCALE' of _helper: 2.0 vs 3.0"]
        k = 2
        f(np.arange(4.0), offset=1.0)
        assert _lines(f) == ["closure variable 'k' of " + f.func.__qualname__ + ": 1 vs 2"]
    finally:
        SCALE = 2.0
    f(np.arange(4.0), offset=1.0)
    original = _helper

    def _helper(a):  # new code, same numbers (a global: its name stays _helper)
        return a * SCALE + 0
    try:
        f(np.arange(4.0), offset=1.0)
        assert _lines(f) == ["code: code of global '_helper' of %s changed" % f.func.__qualname__]
    finally:
        _helper = original
    # the two keys by value, as listed or logged, explain the same way
    before, after = f.explain_last_miss()
    assert fncache.explain(before.key, after.key, file=open(os.devnull, "w")) == _lines(f)


def test_explain_names_a_shared_variable_whose_value_changed(cache_dir):
    x = T.dmatrix("x")
    W = theano.shared(np.ones((4, 3)), "W")
    f = fncache.function([x], T.dot(x, W).sum(axis=1), memoize={"min_seconds": 0})
    a = np.ones((2, 4))
    f(a)
    W.set_value(np.full((4, 3), 2.0))
    f(a)
    assert _lines(f) == ["shared variable 'W': value changed (float64 array of shape (4, 3))"]
    f(np.ones((5, 4)))
    assert _lines(f) == ["argument 'x': float64 array of shape (2, 4) vs float64 array of "
                         "shape (5, 4)"]


def test_a_first_call_has_nothing_to_be_compared_with(cache_dir):
    @fncache.memoize(min_seconds=0)
    def g(a):
        return a + 1
    g(1)
    with pytest.raises(fncache.UnknownKeyError, match="first call"):
        fncache.explain(g)


SCRIPT = '''
import sys, numpy as np, fncache
SCALE = float(sys.argv[1])

@fncache.memoize(min_seconds=0)
def scaled(a, offset=0.0):
    return a * SCALE + offset

scaled(np.arange(3.0))
'''


def test_explain_last_miss_names_the_global_across_processes(cache_dir, tmp_path):
    (tmp_path / "prog").mkdir()  # not beside the cache directory "fncache": it would shadow us
    script = tmp_path / "prog" / "scaled.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, FNCACHE_DIR=str(cache_dir))

    def run(*args, **extra):
        proc = subprocess.run([sys.executable, *args], env=dict(env, **extra),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    cli = [os.path.join(os.path.dirname(sys.executable), "fncache")]
    run(str(script), "2")  # no miss log: the stored result's entry carries its key's parts
    run(str(script), "3", FNCACHE_MISS_LOG="1")
    out = subprocess.run(cli + ["explain", "--last-miss"], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert "last miss: __main__.scaled at __main__:5" in out
    assert out.strip().endswith("global 'SCALE' of scaled: 2.0 vs 3.0")
    digest = out.split("previous:  key ")[1].split()[0]  # listings name memo keys by digest
    shown = subprocess.run(cli + ["show", digest], env=env, capture_output=True, text=True,
                           timeout=300, check=True).stdout
    assert "global 'SCALE' of scaled" in shown and "argument 'offset'" in shown


def test_a_global_that_changes_on_every_call_warns_once_naming_it(cache_dir):
    @fncache.memoize(min_seconds=0)
    def counted(a):
        return a * 2 + len(CALLS)  # reads the global: every call changes its value

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(6):
            CALLS.append(1)
            counted(5)
    found = [str(w.message) for w in caught if issubclass(w.category, fncache.FncacheWarning)]
    assert len(found) == 1
    assert "global 'CALLS' of" in found[0] and "ignore=('CALLS',)" in found[0]
    assert caught[0].filename == __file__  # it points at the call

    @fncache.memoize(min_seconds=0, ignore=("CALLS",))
    def ignoring(a):
        CALLS.append(1)
        return a * 2

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            ignoring(5)
    assert not [w for w in caught if issubclass(w.category, fncache.FncacheWarning)]
    assert fncache.stats(session_only=True)["memo"]["hits"] >= 3
    _a_global_changed_once_or_changing_arguments_do_not_warn()


def _a_global_changed_once_or_changing_arguments_do_not_warn():
    global SCALE

    @fncache.memoize(min_seconds=0)
    def f(a):
        return _helper(a)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f(1.0)
        SCALE = 5.0  # a setting changed once, deliberately
        try:
            f(1.0)
            f(1.0)
            for i in range(5):  # new arguments each time: ordinary misses
                f(float(i))
        finally:
            SCALE = 2.0
    assert not [str(w.message) for w in caught if issubclass(w.category, fncache.FncacheWarning)]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
