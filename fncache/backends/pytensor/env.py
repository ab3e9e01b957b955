"""The ``environment`` part of a PyTensor graph key: everything outside the graph that
changes what a compiled function does.

Versions (PyTensor, numpy, scipy, Numba, llvmlite, Python and its ABI, fncache's entry
format), the platform and CPU (C modules are built with ``-march=native``, Numba's object
code for the host CPU), the C compiler, Numba's own code settings, and every registered
``pytensor.config`` setting (``config._config_var_dict``) except the listed ones that
cannot change results. Recomputed only when a setting changes.
"""
import hashlib
import os
import platform
import sys
import sysconfig

import numpy
import pytensor
from pytensor import config

from fncache.format import FORMAT_VERSION

#: pytensor.config settings that cannot change what a compiled function computes.
EXCLUDED_SETTINGS = {
    "base_compiledir": "location of the compile caches (keying it stops sharing entries)",
    "compiledir": "location of the compile cache",
    "compiledir_format": "location of the compile cache (its platform part is keyed apart)",
    "generated_src_dir": "where generated Numba source is written for debugging",
    "compile__wait": "how often to poll the compiledir lock",
    "compile__timeout": "when to steal the compiledir lock",
    "cmodule__age_thresh_use": "when unused compiled modules are deleted",
    "cmodule__preload_cache": "whether the module index is read at startup (speed only)",
    "cmodule__warn_no_version": "only prints a warning",
    "cmodule__compilation_warning": "only prints compiler warnings",
    "nocleanup": "only keeps temporary build files",
    "compiler_verbose": "only prints",
    "exception_verbosity": "detail of error messages",
    "traceback__limit": "how much creation stack is kept for error messages",
    "traceback__compile_limit": "how much creation stack is kept for error messages",
    "optimizer_verbose": "prints what the rewriter does",
    "optimizer_verbose_ignore": "prints what the rewriter does",
    "print_global_stats": "prints profiles at exit (profile on/off is keyed in options)",
    "warn_float64": "warns while graphs are built, never changes a compiled function",
    "unpickle_function": "how pickled functions are read, not how they compute",
    "check_stack_trace": "only checks that rewrites copy creation traces",
    "gcc_version_str": "keyed as c.gcc_version",
}
EXCLUDED_PREFIXES = {
    "profiling__": "profile display; whether profiling is on is keyed in options",
}


def _excluded(name):
    return name in EXCLUDED_SETTINGS or name.startswith(tuple(EXCLUDED_PREFIXES))


def _current(name):
    if name == "blas__ldflags" and config._config_var_dict[name].is_default:
        return _blas_default()
    try:
        return getattr(config, name)
    except Exception as exc:  # a lazily computed default that fails
        return "<error %s>" % type(exc).__name__


_blas = []


def _blas_default():
    """What PyTensor's default ``blas__ldflags`` is computed from, not the value: computing
    it links test programs with gcc (0.6-0.8 s), which a hit must not pay. The default is a
    function of the BLAS libraries in the compiler's library folders (and of the compiler,
    CPU and platform, keyed apart)."""
    if not _blas:
        import re
        from pytensor.link.c import cmodule
        found = []
        for folder in cmodule._get_cxx_library_dirs() + [sysconfig.get_config_var("LIBDIR")]:
            try:
                names = os.listdir(folder)
            except (OSError, TypeError):
                continue
            found += sorted(n for n in names if re.search(r"(blas|lapack|mkl|iomp|gomp)", n))
        _blas.append("default from %s" % ",".join(found))
    return _blas[0]


def _typed(value):
    """Type-tagged value for the digest (1, 1.0, True and '1' differ)."""
    if value is None or type(value) in (bool, int, float, str):
        return (type(value).__name__, value)
    return ("%s.%s" % (type(value).__module__, type(value).__qualname__), str(value))


def _plain(value):
    if value is None or type(value) in (bool, int, str):
        return value
    return str(value)


def _version(name):
    """A distribution's version, without importing it (importing Numba takes 0.3 s)."""
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _numba_settings():
    """Numba's settings that change its object code: its NUMBA_* environment variables
    (numba.core.config reads them; its defaults follow from the CPU, keyed apart), read
    without importing Numba."""
    return {"numba.env." + k: v for k, v in sorted(os.environ.items())
            if k.startswith("NUMBA_")}


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "flags")):
                    return platform.machine() + ":" + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() + ":" + platform.processor()


_static = None


def _static_part():
    global _static
    if _static is None:
        from pytensor.link.c import cmodule
        _static = {
            "fncache.format_version": FORMAT_VERSION,
            "pytensor.version": pytensor.__version__,
            "numpy.version": numpy.__version__,
            "scipy.version": _version("scipy"),
            "numba.version": _version("numba"),
            "llvmlite.version": _version("llvmlite"),
            "python.implementation": sys.implementation.name,
            "python.version": platform.python_version(),
            "python.soabi": sysconfig.get_config_var("SOABI"),
            "platform.system": platform.system(),
            "platform.machine": platform.machine(),
            "platform.byteorder": sys.byteorder,
            "platform.libc": os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None,
            "cpu": _cpu(),
            "c.gcc_version": getattr(cmodule, "gcc_version_str", None),
            **_numba_settings(),
        }
    return _static


_cache = (None, None)


def environment_part():
    """(digest_hex, details) of the environment; cached per config state."""
    global _cache
    names = tuple(sorted(n for n in config._config_var_dict if not _excluded(n)))
    fingerprint = (names, tuple(_current(n) for n in names))
    if _cache[1] is not None and _cache[0] == fingerprint:
        return _cache[1]
    raw = dict(_static_part())
    raw.update(("config." + n, v) for n, v in zip(*fingerprint))
    payload = tuple(sorted((name, _typed(value)) for name, value in raw.items()))
    digest = hashlib.sha256(repr(("environment", payload)).encode("utf-8", "surrogatepass"))
    result = (digest.hexdigest(), {name: _plain(value) for name, value in raw.items()})
    _cache = (fingerprint, result)
    return result


def excluded_settings():
    """{setting or prefix: reason} of pytensor.config settings left out of keys."""
    out = dict(EXCLUDED_SETTINGS)
    out.update({p + "*": why for p, why in EXCLUDED_PREFIXES.items()})
    return out
