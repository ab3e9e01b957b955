"""``fncache.profile()``: where the time of each function went.

Inside the context, ``compiled.function`` reports its phases here (key: graph
keying; load: rebuilding a cached function; compile: Theano's compile on a
miss) and the functions it returns are wrapped so their calls are timed too.
Outside it, nothing is wrapped and the hooks cost one list check. Functions
compiled with ``profile=True`` also carry Theano's own profiler, whose
summary the report includes.
"""
import io
import sys
import threading
import time

PHASES = ("key", "load", "compile", "call")
_active = []  # open Profile objects, innermost last
_lock = threading.Lock()


def active():
    return bool(_active)


def note(fkey, label, phase, seconds):
    """Add ``seconds`` of ``phase`` to the function ``fkey`` in every open profile."""
    for prof in list(_active):
        prof._add(fkey, label, phase, seconds)


def wrap(fn, fkey, label):
    """``fn`` with timed calls while a profile is open (``fn`` itself otherwise)."""
    if not _active:
        return fn
    return _Timed(fn, fkey, label, list(_active))


class _Timed:
    """A compiled function whose calls are timed into the profiles open when it was made."""

    def __init__(self, fn, fkey, label, profiles):
        self.__dict__.update(_fn=fn, _fkey=fkey, _label=label, _profiles=profiles)
        for prof in profiles:
            prof._functions.setdefault(fkey, fn)

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._fn(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - started
            for prof in self._profiles:
                if prof in _active:
                    prof._add(self._fkey, self._label, "call", seconds)

    def __getattr__(self, name):
        return getattr(self._fn, name)

    def __setattr__(self, name, value):
        setattr(self._fn, name, value)


class Profile:
    """Per-function seconds and counts of each phase; use as ``with fncache.profile() as p``."""

    def __init__(self):
        self.rows = {}  # fkey -> {"function": label, "<phase>_seconds": s, "<phase>_count": n}
        self._functions = {}

    def __enter__(self):
        with _lock:
            _active.append(self)
        return self

    def __exit__(self, *exc):
        with _lock:
            if self in _active:
                _active.remove(self)
        return False

    def _add(self, fkey, label, phase, seconds):
        with _lock:
            row = self.rows.get(fkey)
            if row is None:
                row = self.rows[fkey] = {"function": label, "key": fkey}
                for p in PHASES:
                    row[p + "_seconds"] = 0.0
                    row[p + "_count"] = 0
            row[phase + "_seconds"] += seconds
            row[phase + "_count"] += 1

    def as_list(self):
        return sorted((dict(r) for r in self.rows.values()),
                      key=lambda r: -sum(r[p + "_seconds"] for p in PHASES))

    def theano_profiles(self):
        """Theano's own ProfileStats of the functions compiled with ``profile=True``
        (``profile=False``, as Keras passes it, leaves ``fn.profile`` False)."""
        return {k: fn.profile for k, fn in self._functions.items()
                if callable(getattr(getattr(fn, "profile", None), "summary", None))}

    def report(self, file=None):
        """Print a table of the phases per function, then Theano's profiler summaries."""
        out = sys.stderr if file is None else file
        rows = self.as_list()
        headers = ["function"] + list(PHASES) + ["calls"]
        table = [[r["function"]] + [_ms(r[p + "_seconds"]) if r[p + "_count"] else "-"
                                    for p in PHASES] + [str(r["call_count"])] for r in rows]
        widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h)
                  for i, h in enumerate(headers)]
        print("fncache profile (seconds per phase, summed over calls)", file=out)
        print("  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                        for i, (h, w) in enumerate(zip(headers, widths))), file=out)
        for t in table:
            print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                            for i, (c, w) in enumerate(zip(t, widths))), file=out)
        for fkey, stats in self.theano_profiles().items():
            buf = io.StringIO()
            try:
                stats.summary(file=buf)
            except Exception as exc:  # Theano's summary must not break the report
                buf.write("(Theano's profiler summary failed: %s)\n" % exc)
            print("\nTheano profiler, %s:" % self.rows.get(fkey, {}).get("function", fkey),
                  file=out)
            out.write(buf.getvalue())


def _ms(seconds):
    return "%.1f ms" % (seconds * 1000) if seconds < 1 else "%.2f s" % seconds


def profile():
    """A context manager that profiles the cached functions made and called inside it."""
    return Profile()
