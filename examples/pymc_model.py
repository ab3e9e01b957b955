"""A PyMC model and a seeded ``pm.sample``: the PyMC-style workload of the demo, tests and
benchmarks.

A hierarchical regression (40 groups x 10 rows, NUTS, 2 chains of 30 tuning + 30 draws,
one process). ``pm.sample`` compiles its functions with ``pytensor.function``
(``pymc.pytensorf.compile``): under ``fncache.install()`` or ``fncache run`` every one of
them goes through the cache.

    python examples/pymc_model.py            # prints the seconds and a digest of the draws
"""
import hashlib
import time

import numpy as np


def model(n_groups=40, n_per=10, seed=0):
    import pymc as pm
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), n_per)
    x = rng.normal(size=g.size)
    y = 1.0 + 0.5 * x + rng.normal(size=n_groups)[g] * 0.3 + rng.normal(size=g.size) * 0.5
    with pm.Model() as m:
        mu_a = pm.Normal("mu_a", 0, 5)
        sd_a = pm.HalfNormal("sd_a", 1)
        a = pm.Normal("a", mu_a, sd_a, shape=n_groups)
        b = pm.Normal("b", 0, 1)
        sigma = pm.HalfNormal("sigma", 1)
        pm.Normal("y", a[g] + b * x, sigma, observed=y)
    return m


def sample(draws=30, tune=30, chains=2):
    """(seconds in pm.sample, sha256 of every posterior draw, bit for bit)."""
    import pymc as pm
    m = model()
    started = time.perf_counter()
    with m:
        idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=123,
                          progressbar=False, compute_convergence_checks=False)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256()
    for name in sorted(idata.posterior.data_vars):
        digest.update(np.ascontiguousarray(idata.posterior[name].values).tobytes())
    return seconds, digest.hexdigest()


if __name__ == "__main__":
    seconds, digest = sample()
    print("pm.sample: %.2f s, draws %s" % (seconds, digest[:16]))
