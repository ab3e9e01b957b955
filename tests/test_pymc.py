"""PyMC under fncache: ``pm.sample`` twice in fresh processes with ``install()``.

The second run's ``pytensor.function`` calls are all hits (no rewrite, no gcc, no Numba
compile) and its draws equal, bit for bit, those of a plain run with warm caches (a cold
Numba build can differ from a cached one in the last bits, so plain runs first, twice).
"""
import pytest

import backends

pytest.importorskip("pymc", reason="PyMC is installed in .venv-pytensor only")

SAMPLE = '''
sys.path.insert(0, %(examples)r)
if %(install)r:
    fncache.install()
import pymc_model
with backend.compiler_counters() as counts:
    seconds, draws = pymc_model.sample()
result["counts"] = dict(counts)
result["draws"] = draws
result["compiled"] = fncache.stats(session_only=True)["compiled"]
result["uncacheable"] = fncache.stats(session_only=True).get("uncacheable")
'''


def sample(install, env):
    return backends.run_child(backends.PYTENSOR, SAMPLE % {"examples": backends.EXAMPLES,
                                                           "install": install}, env=env)


def test_pm_sample_second_run_is_all_hits_and_draws_equal_plain(cache_dir):
    env = {"FNCACHE_DIR": str(cache_dir)}
    sample(False, env)  # warms PyTensor's own caches (Numba, C)
    plain = sample(False, env)
    first = sample(True, env)
    second = sample(True, env)
    assert first["compiled"]["compiles"] >= 4, first
    calls = first["compiled"]["compiles"] + first["compiled"]["hits"]  # hits: one graph twice
    assert second["compiled"] == dict(second["compiled"], compiles=0, hits=calls), second
    assert backends.PYTENSOR.compiled(second["counts"]) == backends.PYTENSOR.nothing_compiled
    assert second["counts"]["numba_objmode"] == plain["counts"]["numba_objmode"]
    assert second["draws"] == plain["draws"]
    assert first["draws"] == plain["draws"]
