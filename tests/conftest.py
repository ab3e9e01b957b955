"""One Theano compiledir for the whole test session, shared by every subprocess.

A cold compiledir makes each new graph cost tens of seconds of gcc; sharing
one across the session (and, locally, across runs: it lives in .cache/) keeps
the suite fast. Set FNCACHE_TEST_COMPILEDIR to use another one.
"""
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMPILEDIR = os.environ.get("FNCACHE_TEST_COMPILEDIR", str(ROOT / ".cache" / "theano"))
os.makedirs(COMPILEDIR, exist_ok=True)
_flags = [f for f in os.environ.get("THEANO_FLAGS", "").split(",")
          if f and not f.startswith("base_compiledir=")]
os.environ["THEANO_FLAGS"] = ",".join(_flags + ["base_compiledir=" + COMPILEDIR])
os.environ.setdefault("FNCACHE_DIR", str(ROOT / ".cache" / "fncache-default"))

import pytest  # noqa: E402


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh, empty fncache directory for this test (also for its subprocesses)."""
    directory = tmp_path / "fncache"
    monkeypatch.setenv("FNCACHE_DIR", str(directory))
    import fncache
    fncache.configure(directory=str(directory))
    yield directory
