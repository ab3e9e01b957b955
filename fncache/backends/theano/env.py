"""The ``environment`` part of a graph key: everything outside the graph
that can change what a compiled function does.

Versions (Theano, numpy, scipy, Python and its ABI, fncache's entry format),
the platform and CPU (compiled C code is built with ``-march=native``), the C
compiler, and every registered ``theano.config`` setting except the explicit
list below of settings that cannot change results. Theano's own
``get_config_hash`` covers only six settings; we iterate the whole registry
(``theano.configparser._config_var_list``), so settings added later (by a
GPU backend or by user code) are keyed too.

The part is cached and recomputed only when a cheap tuple of the current
config values changes, so ``theano.config.floatX = 'float32'`` at run time is
noticed by the next key.
"""
import hashlib
import os
import platform
import sys
import sysconfig

import numpy
import theano
from theano import configparser
from theano.gof import cmodule

from fncache import format as entry_format

#: theano.config settings that cannot change what a compiled function
#: computes, with the reason. Everything else registered is keyed.
EXCLUDED_SETTINGS = {
    # Where things are stored, not what they compute (and keying them would
    # stop two machines from sharing entries).
    "base_compiledir": "location of the compile cache",
    "compiledir": "location of the compile cache",
    "compiledir_format": "location of the compile cache (its platform part is keyed "
                         "separately)",
    "gpuarray.cache_path": "location of the GPU kernel cache",
    # Locking and cache housekeeping.
    "compile.wait": "how often to poll the compiledir lock",
    "compile.timeout": "when to steal the compiledir lock",
    "cmodule.age_thresh_use": "when unused compiled modules are deleted",
    "cmodule.preload_cache": "whether the module index is read at startup (speed only)",
    "cmodule.warn_no_version": "only prints a warning",
    "cmodule.compilation_warning": "only prints compiler warnings",
    "nocleanup": "only keeps temporary build files",
    # Printing and diagnostics.
    "print_global_stats": "prints profiles at exit; that it turns profiling on is keyed "
                          "as profile on/off in the options part",
    "print_active_device": "only prints the device at import",
    "print_test_value": "only changes how test values are printed",
    "exception_verbosity": "detail of error messages",
    "traceback.limit": "how much creation stack is kept for error messages",
    "traceback.compile_limit": "how much creation stack is kept for error messages",
    "optimizer_verbose": "prints what the optimizer does",
    "metaopt.verbose": "prints what the meta-optimizer does",
    "warn_float64": "warns (or raises) while graphs are built, never changes a compiled function",
    "pickle_test_value": "whether test values travel with pickled graphs",
    "unittests.rseed": "seed of Theano's own test suite",
    # Profile display; whether profiling is on at all is keyed in options.
    "profiling.time_thunks": "profile detail only",
    "profiling.n_apply": "profile display",
    "profiling.n_ops": "profile display",
    "profiling.output_line_width": "profile display",
    "profiling.min_memory_size": "profile display",
    "profiling.min_peak_memory": "profile display",
    "profiling.destination": "profile display",
    "profiling.debugprint": "profile display",
    "profiling.ignore_first_call": "profile statistics only",
}

#: Whole sections excluded, with the reason.
EXCLUDED_PREFIXES = {
    "warn.": "warnings about bugs fixed in old Theano versions; never change results",
}


def _excluded(name):
    return name in EXCLUDED_SETTINGS or any(name.startswith(p) for p in EXCLUDED_PREFIXES)


_params_cache = (-1, [])


def _keyed_params():
    """Registered settings minus exclusions (the registry only ever grows)."""
    global _params_cache
    registry = configparser._config_var_list
    if _params_cache[0] != len(registry):
        _params_cache = (len(registry), [cv for cv in registry if not _excluded(cv.fullname)])
    return _params_cache[1]


def _current(cv):
    try:
        return cv.__get__(True, None)
    except Exception as exc:  # a lazily computed default that fails
        return "<error %s>" % type(exc).__name__


def _typed(value):
    """Type-tagged value for the digest (1, 1.0, True and '1' differ)."""
    if value is None or type(value) in (bool, int, float, str):
        return (type(value).__name__, value)
    # Config values are plain Python values; anything else is keyed by type
    # and text (never by id).
    return ("%s.%s" % (type(value).__module__, type(value).__qualname__), str(value))


def _plain(value):
    """A JSON-serialisable value for details."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float and value == value and value not in (float("inf"), float("-inf")):
        return value
    return str(value)


def _cpu_identity():
    try:
        from fncache.backends.theano.compat import probes
        return probes._cpu_identity()
    except Exception:
        return platform.machine() + ":" + platform.processor()


def _libc():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None


def _module_version(name):
    module = sys.modules.get(name)
    if module is None:
        try:
            module = __import__(name)
        except ImportError:
            return None
    return getattr(module, "__version__", None)


_static = None


def _static_part():
    """What cannot change while the process runs."""
    global _static
    if _static is None:
        _static = {
            "fncache.format_version": entry_format.FORMAT_VERSION,
            "theano.version": theano.__version__,
            "numpy.version": numpy.__version__,
            "scipy.version": _module_version("scipy"),
            "python.implementation": sys.implementation.name,
            "python.version": platform.python_version(),
            "python.soabi": sysconfig.get_config_var("SOABI"),
            "python.cache_tag": sys.implementation.cache_tag,
            "platform.system": platform.system(),
            "platform.machine": platform.machine(),
            "platform.byteorder": sys.byteorder,
            "platform.libc": _libc(),
            # -march=native code is only valid on this CPU model/feature set;
            # the flags Theano derives from it follow from this identity.
            "cpu": _cpu_identity(),
            "c.gcc_version": getattr(cmodule, "gcc_version_str", None),
        }
    return _static


_cache = (None, None)


def environment_part():
    """(digest_hex, details) of the environment; cached per config state."""
    global _cache
    params = _keyed_params()
    fingerprint = (tuple(cv.fullname for cv in params),
                   tuple(_current(cv) for cv in params))
    cached_fingerprint, cached = _cache
    if cached is not None and cached_fingerprint == fingerprint:
        return cached
    raw = dict(_static_part())
    for name, value in zip(fingerprint[0], fingerprint[1]):
        raw["config." + name] = value
    payload = tuple(sorted((name, _typed(value)) for name, value in raw.items()))
    text = repr(("environment", payload)).encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(text).hexdigest()
    result = (digest, {name: _plain(value) for name, value in raw.items()})
    _cache = (fingerprint, result)
    return result


def excluded_settings():
    """{setting or prefix: reason} of theano.config settings left out of keys."""
    out = dict(EXCLUDED_SETTINGS)
    out.update({p + "*": why for p, why in EXCLUDED_PREFIXES.items()})
    return out
