"""``fncache warm``: compile a list of functions ahead of time, e.g. in a container build.

A target is ``module:callable`` (or ``path/to/file.py:callable``); calling it
builds and compiles functions. Each target runs in its own fresh process
(``python -m fncache.cli.warm TARGET``) with ``fncache.install()`` in force, so plain
``theano.function`` calls are cached too; up to ``jobs`` run at once.
"""
import concurrent.futures
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time

from fncache.errors import FncacheError

RESULT = "FNCACHE-WARM "


class TargetError(FncacheError, ValueError):
    """A warm target is not ``module:callable``."""


def parse_target(target):
    module, sep, attr = target.strip().rpartition(":")
    if not sep or not module or not attr or not all(p.isidentifier() for p in attr.split(".")):
        raise TargetError("warm target %r is not MODULE:CALLABLE (e.g. mypkg.models:build)"
                          % target)
    return module, attr


def read_targets(path):
    """Targets from a file: one per line, blank lines and ``#`` comments ignored."""
    with open(path) as f:
        lines = [line.split("#", 1)[0].strip() for line in f]
    return [line for line in lines if line]


def _load(module):
    if module.endswith(".py"):
        spec = importlib.util.spec_from_file_location("fncache_warm_target", module)
        mod = importlib.util.module_from_spec(spec)
        sys.path.insert(0, os.path.dirname(os.path.abspath(module)))
        spec.loader.exec_module(mod)
        return mod
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # after fncache's own path: see _run_one
    return importlib.import_module(module)


def run_target(target):
    """In the child: import, install, call; print the session's counts."""
    import fncache
    from fncache.observe import counters
    module, attr = parse_target(target)
    fncache.install()
    obj = _load(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TargetError("%s is not callable" % target)
    obj()
    s = counters.session()
    print(RESULT + json.dumps({"compiles": s.get("compile.count", 0),
                               "hits": s.get("compiled.hits", 0),
                               "compile_seconds": s.get("compile_ms", 0) / 1000.0}), flush=True)


def _run_one(target, timeout):
    started = time.perf_counter()
    # -P: the working directory does not shadow fncache (a cache folder there may be named so)
    proc = subprocess.run([sys.executable, "-P", "-m", "fncache.cli.warm", target], capture_output=True,
                          text=True, timeout=timeout)
    result = {"target": target, "ok": proc.returncode == 0, "compiles": 0, "hits": 0,
              "seconds": time.perf_counter() - started, "error": None}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            result.update(json.loads(line[len(RESULT):]))
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        result["error"] = lines[-1] if lines else "exit status %d" % proc.returncode
        result["stderr"] = proc.stderr[-4000:]
    return result


def warm(targets, jobs=None, timeout=3600, progress=None):
    """Run each target in a fresh process, ``jobs`` at a time; results in target order."""
    for target in targets:
        parse_target(target)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(targets) or 1))
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_run_one, t, timeout): i for i, t in enumerate(targets)}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
            if progress:
                progress(results[futures[future]])
    return [results[i] for i in range(len(targets))]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m fncache.cli.warm MODULE:CALLABLE")
    run_target(sys.argv[1])
