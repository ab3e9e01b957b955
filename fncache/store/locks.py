"""Single flight across processes: one compiles a key, the others wait for it.

An advisory ``flock`` on a per-key lock file. The kernel drops the lock when
its holder exits, even on SIGKILL, so a crashed compiler never blocks the
others for longer than it lived. Waiters give up after a timeout and compile
themselves. Lock files are opened without following a symlink below the
cache directory (``shared.open_below``).
"""
import contextlib
import errno
import fcntl
import os
import time

from fncache.store.shared import group_writable, is_group_shared, open_below

POLL_SECONDS = 0.05
_disabled = set()  # directories this process only reads: it takes no locks there


def disable(directory):
    """Take no locks in ``directory`` (read-only or refused: this process stores nothing there)."""
    _disabled.add(directory)


@contextlib.contextmanager
def key_lock(directory, key, timeout):
    """Hold the lock of ``key`` (yield True), or yield False after ``timeout`` seconds.

    Yields None when no lock can be taken at all (read-only directory).
    """
    if directory in _disabled:
        yield None
        return
    try:
        with group_writable(is_group_shared(directory)):
            fd = open_below(directory, _relative(key), os.O_RDWR | os.O_CREAT, make_dirs=True)
    except OSError:
        yield None
        return
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                acquired = True
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if time.monotonic() >= deadline:
                acquired = False
                break
            time.sleep(POLL_SECONDS)
        try:
            yield acquired
        finally:
            if acquired:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_locked(directory, key):
    """True if some process holds ``key``'s lock right now (it is compiling it)."""
    try:
        fd = open_below(directory, _relative(key), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _relative(key):
    return "locks/%s/%s.lock" % (key[:2], key)
