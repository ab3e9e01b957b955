"""Bad input to every public function and command: a clear error naming the
problem, of an fncache type that is also the built-in a caller would catch,
raised from fncache's own code (not from deep inside Theano), and no damage to
the cache. A ``theano.function`` call Theano rejects gets Theano's own error,
as without fncache."""
import json
import os
import subprocess
import sys
import traceback

import numpy as np
import pytest

import fncache
import theano
import theano.tensor as T
from fncache.cli import inventory
from fncache.errors import FncacheError
from fncache.store import current

FNCACHE_DIR = os.path.dirname(os.path.abspath(fncache.__file__))


class HoldsLambda(theano.Op):
    """An op fncache cannot fingerprint (a lambda in its state): compiled, never cached."""

    def __init__(self):
        self.fn = lambda a: a

    def make_node(self, a):
        return theano.Apply(self, [a], [a.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0]


def _calls():
    x = T.dvector("x")
    w = theano.shared(np.zeros(2), "w")
    built = fncache.cached_function(lambda a: a * 2)
    memoized = fncache.memoize(lambda a: a)
    return [  # (label, call, built-in expected, words the message must contain)
        ("function: memoize option", lambda: fncache.function([x], x.sum(), memoize="bogus"),
         ValueError, "bogus"),
        ("graph_key: non-Theano", lambda: fncache.graph_key([1], 2), TypeError, "input 0"),
        ("graph_key: unknown keyword", lambda: fncache.graph_key([x], x.sum(), bogus=1),
         TypeError, "bogus"),
        ("graph_key: unsupported op", lambda: fncache.graph_key([x], HoldsLambda()(x)), ValueError,
         "lambda"),
        ("cached_function: not callable", lambda: fncache.cached_function(3), TypeError, "int"),
        ("cached_function: unknown keyword",
         lambda: fncache.cached_function(lambda a: a, bogus=1), TypeError, "bogus"),
        ("cached_function: arity", lambda: built(1.0, 2.0), TypeError, "takes 1 arguments"),
        ("cached_function: str argument", lambda: built("abc"), TypeError, "str values"),
        ("cached_function: object array", lambda: built(np.array([object()])), TypeError,
         "dtype object"),
        ("memoize: not callable", lambda: fncache.memoize(3), ValueError, "not int"),
        ("memoize: mode", lambda: fncache.memoize(mode="bad"), ValueError, "mode"),
        ("memoize: negative max_bytes", lambda: fncache.memoize(lambda a: a, max_bytes=-1),
         ValueError, "max_bytes"),
        ("memoized: unhashable argument", lambda: memoized(object()), TypeError, "argument 0"),
        ("memoized: arity", lambda: memoized(1, 2), TypeError, "too many"),
        ("explain: wrong types", lambda: fncache.explain(1, 2), TypeError, "got int"),
        ("explain: unknown keys", lambda: fncache.explain("abc", "def"), KeyError, "'abc'"),
        ("configure: unknown setting", lambda: fncache.configure(bogus=1), ValueError, "bogus"),
        ("configure: negative size", lambda: fncache.configure(size_limit=-1), ValueError,
         "negative"),
        ("configure: size words", lambda: fncache.configure(memory_limit="lots"), ValueError,
         "'lots'"),
        ("configure: redis scheme", lambda: fncache.configure(redis_url="http://h"), ValueError,
         "redis_url"),
        ("configure: redis port", lambda: fncache.configure(redis_url="redis://h:99999/0"),
         ValueError, "Port out of range"),
        ("configure: secret file", lambda: fncache.configure(secret_file="/nonexistent/s"),
         ValueError, "/nonexistent/s"),
        ("configure: secret type", lambda: fncache.configure(secret=3), ValueError, "secret"),
        ("configure: flag type", lambda: fncache.configure(readonly="yes"), ValueError, "'yes'"),
        ("configure: timeout", lambda: fncache.configure(redis_timeout=-1), ValueError,
         "positive"),
        ("clear: not memoized", lambda: fncache.clear(3), ValueError, "memoized function"),
    ]


CALLS = [c[0] for c in _calls()]


def _theano_rejects():
    x = T.dvector("x")
    w = theano.shared(np.zeros(2), "w")
    return {  # label: a call of theano.function's arguments that Theano rejects
        "inputs not a list": lambda f: f(x, x.sum()),
        "non-Theano input": lambda f: f([1], x.sum()),
        "non-Theano output": lambda f: f([x], "x"),
        "update target": lambda f: f([x], x.sum(), updates=[(1, x)]),
        "update type": lambda f: f([x], x.sum(), updates=[(w, x.sum())]),
        "givens not pairs": lambda f: f([x], x.sum(), givens=3),
        "unknown mode": lambda f: f([x], x.sum(), mode="NoSuchMode"),
        "missing input": lambda f: f([], x.sum()),
        "unused input": lambda f: f([x, T.dvector("y")], x.sum()),
        "duplicate input": lambda f: f([x, x], x.sum()),
        "output dict with int keys": lambda f: f([x], {1: x.sum()}),
        "givens replaces an input": lambda f: f([x], x.sum(), givens=[(x, x * 2)]),
        "constant input": lambda f: f([T.constant(1.0)], x.sum()),
        "shared variable as input": lambda f: f([w], w.sum()),
    }


@pytest.mark.parametrize("label", sorted(_theano_rejects()))
def test_a_call_theano_rejects_raises_theanos_own_error(label, filled):
    """fncache.function (and theano.function under install()) raise exactly what
    theano.function raises: the same type and message."""
    from fncache import backends
    theano_function = backends.get("theano").library_function()
    call = _theano_rejects()[label]
    with pytest.raises(Exception) as plain:
        call(theano_function)
    with pytest.raises(Exception) as cached:
        call(fncache.function)
    assert type(cached.value) is type(plain.value)
    assert str(cached.value) == str(plain.value)
    report = inventory.verify(current())
    assert report["damaged"] == [] and report["checked"] == 1


def test_a_call_fncache_cannot_key_but_theano_accepts_is_compiled(filled):
    """Old-style tuple inputs: Theano compiles them, so fncache does too (uncached)."""
    x = T.dvector("x")
    f = fncache.function([(x, np.ones(2))], x.sum())
    assert f() == 2.0 and f([1.0, 3.0]) == 4.0
    assert fncache.stats(session_only=True)["uncacheable"].get("unkeyable", 0) >= 1


@pytest.fixture
def filled(cache_dir):
    """A cache directory holding one entry (to check nothing damages it)."""
    x = T.dvector("x")
    f = fncache.function([x], (x ** 2).sum() + 11)
    yield f.fncache_key
    fncache.configure(directory=str(cache_dir), redis_url=None, secret=None, readonly=False)


@pytest.mark.parametrize("label", CALLS)
def test_bad_call_is_a_clear_fncache_error_raised_from_fncache(label, filled):
    _, call, builtin, words = {c[0]: c for c in _calls()}[label]
    with pytest.raises(FncacheError) as info:
        call()
    assert isinstance(info.value, builtin)
    assert words in str(info.value)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].filename.startswith(FNCACHE_DIR), frames[-1]  # fncache's own frame
    assert info.value.__cause__ is None and (info.value.__context__ is None
                                             or info.value.__suppress_context__)
    report = inventory.verify(current())
    assert report["damaged"] == [] and report["checked"] == 1


def test_wrong_arity_of_public_functions_is_pythons_own_type_error(filled):
    """Missing or extra arguments fail at the call, before any fncache code runs."""
    for call in (lambda: fncache.function(), lambda: fncache.graph_key(),
                 lambda: fncache.explain(), lambda: fncache.configure(1),
                 lambda: fncache.stats(1, 2), lambda: fncache.clear(), lambda: fncache.install(1)):
        with pytest.raises(TypeError, match="argument"):
            call()


def test_unsupported_op_is_compiled_without_the_cache(filled):
    x = T.dvector("x")
    f = fncache.function([x], HoldsLambda()(x) * 2)
    assert f([1.0, 2.0]).tolist() == [2.0, 4.0]
    assert fncache.stats(session_only=True)["uncacheable"].get("unkeyable", 0) >= 1


# ------------------------------------------------------------------ the command
BAD_COMMANDS = [  # (arguments, words on stderr)
    (["nosuchcommand"], "No such command"),
    (["ls", "--sort", "weight"], "'weight' is not one of"),
    (["show"], "Missing argument"),
    (["show", "ffff0000"], "ffff0000"),
    (["explain", "abc"], "two keys"),
    (["prune", "--max-size", "-5GB"], "-5GB"),
    (["prune", "--older-than", "soon"], "soon"),
    (["prune", "--max-size", "1e999"], "finite"),
    (["prune", "--max-size", "1e30"], "out of range"),
    (["prune", "--unused-for", "9" * 400], "finite"),
    (["import", "/nonexistent.tar"], "does not exist"),
    (["warm", "-j", "0"], "0"),
    (["export"], "Missing argument"),
]
BAD_SETTINGS = [({"FNCACHE_SIZE_LIMIT": "-5"}, "FNCACHE_SIZE_LIMIT '-5' is not a size"),
                ({"FNCACHE_REDIS_URL": "http://h"}, "redis_url 'http://h' is malformed"),
                ({"FNCACHE_SECRET_FILE": "/nonexistent/s"}, "cannot read the secret file")]

SWEEP = """
import json, sys
from click.testing import CliRunner
from fncache.cli import main
out = []
for args, _ in json.loads(sys.argv[1]):
    r = CliRunner().invoke(main, args)
    out.append([r.exit_code, r.stderr, None if isinstance(r.exception, SystemExit)
                else repr(r.exception)])
print(json.dumps(out))
"""


def test_bad_commands_exit_non_zero_with_one_clear_line_and_no_traceback(tmp_path):
    """Bad arguments through click's runner in one interpreter (the real command's code),
    bad settings through the real command, one process each."""
    directory = tmp_path / "cache"
    env = dict(os.environ, FNCACHE_DIR=str(directory))
    x = T.dvector("x")
    fncache.configure(directory=str(directory))
    fncache.function([x], (x ** 2).sum() + 11)
    current().flush_stats()
    proc = subprocess.run([sys.executable, "-c", SWEEP, json.dumps(BAD_COMMANDS)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    for (args, words), (status, stderr, unexpected) in zip(BAD_COMMANDS, results):
        assert status != 0 and unexpected is None, (args, status, unexpected)
        assert "Traceback" not in stderr and words in stderr, (args, stderr)
    for settings, words in BAD_SETTINGS:
        proc = subprocess.run([sys.executable, "-m", "fncache", "stats"], capture_output=True,
                              text=True, env=dict(env, **settings))
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("Error: ")
        assert words in proc.stderr.strip().splitlines()[-1]
    verify = subprocess.run([sys.executable, "-m", "fncache", "verify", "--json"],
                            capture_output=True, text=True, env=env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["damaged"] == []


def test_a_bad_setting_in_the_environment_warns_and_the_program_runs(tmp_path):
    code = """
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fncache, theano.tensor as T
x = T.dvector("x")
print(float(fncache.function([x], (x ** 2).sum() + 11)([1.0, 2.0])))
print(fncache._settings.size_limit)
print([str(c.message) for c in caught if issubclass(c.category, fncache.FncacheWarning)])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, FNCACHE_DIR=str(tmp_path / "c"),
                                   FNCACHE_SIZE_LIMIT="-5GB"))
    assert proc.returncode == 0, proc.stderr
    value, limit, caught = proc.stdout.splitlines()
    assert value == "16.0" and limit == str(10 ** 10)
    assert "FNCACHE_SIZE_LIMIT '-5GB'" in caught and "using the default" in caught


# ------------------------------------------------------------------ every setting, odd numbers
ODD = [float("inf"), float("-inf"), float("nan"), 1e300, 10 ** 400, -1, "1e999", "9" * 400,
       "a\0b", b"bytes", None, True]
NUMBERS = ["size_limit", "memory_limit", "redis_ttl", "wait_timeout", "redis_timeout"]
PATHS = ["directory", "secret_file"]
ACCEPTED = {  # (setting, value) that are fine values of that setting
    ("redis_url", None), ("secret", None), ("secret", "a\0b"), ("secret", b"bytes"),
    ("secret", "1e999"), ("secret", "9" * 400), ("secret_file", None), ("redis_prefix", "1e999"),
    ("redis_prefix", "9" * 400), ("directory", "1e999"), ("directory", "9" * 400),
    ("readonly", True), ("disabled", True), ("miss_log", True), ("redis_compress", True)}


@pytest.mark.parametrize("name", sorted(s.name for s in fncache.config.SETTINGS))
def test_every_setting_rejects_odd_values_with_a_config_error_naming_it(name, cache_dir):
    """inf, nan, huge, negative, NUL, wrong types: a ConfigError naming the setting, raised by
    configure() itself; or, for values the setting can hold, a cache that still works."""
    for value in ODD:
        if (name, value) in ACCEPTED or (name, value) == ("secret_file", None):
            continue
        with pytest.raises(fncache.ConfigError) as info:
            fncache.configure(**{name: value})
        assert name in str(info.value) or name.replace("_", " ") in str(info.value), (
            name, value, str(info.value))
        assert info.value.__context__ is None or info.value.__suppress_context__
    for accepted_name, value in ACCEPTED:
        if accepted_name == name and name != "directory":
            fncache.configure(**{name: value})
    x = T.dvector("x")
    fncache.configure(directory=str(cache_dir), redis_url=None, secret=None)
    assert float(fncache.function([x], (x ** 2).sum() + 11)([1.0, 2.0])) == 16.0
    fncache._settings.reset()


def test_odd_numbers_in_the_environment_warn_and_keep_the_defaults(tmp_path):
    env = dict(os.environ, FNCACHE_DIR=str(tmp_path / "c"), FNCACHE_SIZE_LIMIT="1e999",
               FNCACHE_MEMORY_LIMIT="1e30", FNCACHE_REDIS_TTL="9" * 400,
               FNCACHE_REDIS_TIMEOUT="inf")
    code = """
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fncache, theano.tensor as T
x = T.dvector("x")
s = fncache._settings
print(float(fncache.function([x], (x ** 2).sum() + 11)([1.0, 2.0])))
print([s.size_limit, s.memory_limit, s.redis_ttl, s.redis_timeout])
print(sorted(str(c.message).split()[1] for c in caught if issubclass(c.category, fncache.FncacheWarning)))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    value, limits, names = proc.stdout.splitlines()
    assert value == "16.0" and limits == str([10 ** 10, 256 * 10 ** 6, 30 * 86400, 0.5])
    assert names == str(["FNCACHE_MEMORY_LIMIT", "FNCACHE_REDIS_TIMEOUT", "FNCACHE_REDIS_TTL",
                         "FNCACHE_SIZE_LIMIT"])
