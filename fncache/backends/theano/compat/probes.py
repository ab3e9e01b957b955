"""Remember Theano's compiler probes per compiler and CPU.

Every new process, Theano's ``GCC_compiler.compile_args`` runs gcc three times
(``-march=native -E -v``, ``-E -v`` and a compile-and-run test) to find the
flags equivalent to ``-march=native``. That costs ~0.17 s per process, on a
cache hit as much as on a compile. The answer depends only on the compiler,
its flags and the CPU, so we keep it in a small JSON file in the compiledir
and hand it to Theano before it probes again.
"""
import hashlib
import json
import os
import platform


FILE_NAME = "fncache-march-flags.json"
_applied = False
_original = None


def _cpu_identity():
    """Model and feature flags of this CPU: what -march=native depends on."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [l for l in f if l.startswith(("model name", "flags", "Features"))]
        text = "".join(sorted(set(lines)))
    except OSError:
        text = platform.processor()
    return platform.machine() + ":" + hashlib.sha256(text.encode()).hexdigest()[:16]


def probe_key():
    from theano import config  # not at import: this module may be imported before Theano
    from theano.gof import cmodule
    return "|".join([config.cxx, cmodule.gcc_version_str, config.gcc.cxxflags, _cpu_identity()])


def _path():
    from theano import config
    return os.path.join(config.compiledir, FILE_NAME)


def _load_all():
    try:
        with open(_path()) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(key, flags):
    data = _load_all()
    data[key] = flags
    tmp = "%s.tmp%d" % (_path(), os.getpid())
    try:
        os.makedirs(os.path.dirname(_path()), exist_ok=True)
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, _path())
    except OSError:
        pass  # a read-only compiledir only means we probe again next time


def apply():
    global _applied
    from theano import config
    from theano.gof import cmodule
    if _applied or not config.cxx:
        return
    _applied = True
    global _original
    gcc = cmodule.GCC_compiler
    theano_compile_args = _original = gcc.compile_args

    def compile_args(march_flags=True):
        if gcc.march_flags is None and march_flags:
            key = probe_key()
            known = _load_all().get(key)
            if isinstance(known, list) and all(isinstance(x, str) for x in known):
                gcc.march_flags = known
            else:
                args = theano_compile_args(march_flags)
                if gcc.march_flags is not None:
                    _save(key, gcc.march_flags)
                return args
        return theano_compile_args(march_flags)

    gcc.compile_args = staticmethod(compile_args)


def restore_theano_original():
    """Probe as Theano does, every process (benchmarks use it for the stock baseline)."""
    global _applied
    if _applied:
        from theano.gof import cmodule
        cmodule.GCC_compiler.compile_args = staticmethod(_original)
        _applied = False
