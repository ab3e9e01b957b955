"""Who may write a cache directory: sharing with a group, read-only use, refusal.

A team shares one directory by making it group-writable and setgid (see the
README). fncache follows the directory: when its top folder is group-writable,
every folder and file fncache creates inside is group-readable and
group-writable (the group bits of the umask are cleared while it writes) and
folders are setgid, so they keep the team's group.

Loading an entry runs code, so a directory that someone else can write is
only trusted when entries are signed with a team secret.
"""
import contextlib
import os
import stat
import threading

_umask_lock = threading.RLock()  # the umask is per process: one writer at a time changes it


def is_group_shared(directory):
    """True when the cache's top folder is group-writable: the team set it up to share."""
    try:
        return bool(os.stat(directory).st_mode & stat.S_IWGRP)
    except OSError:
        return False


@contextlib.contextmanager
def group_writable(shared):
    """Files and folders created inside are group-readable and -writable (when ``shared``)."""
    if not shared:
        yield
        return
    with _umask_lock:
        old = os.umask(0o002)
        os.umask(old & ~0o070)
        try:
            yield
        finally:
            os.umask(old)


def make_dirs(path, shared):
    """``os.makedirs``, and for a shared cache: folders group-writable and setgid."""
    with group_writable(shared):
        os.makedirs(path, exist_ok=True)
    if shared:
        mode = os.stat(path).st_mode
        wanted = mode | stat.S_IRWXG | stat.S_ISGID
        if mode != wanted and os.stat(path).st_uid == os.geteuid():
            os.chmod(path, stat.S_IMODE(wanted))


def share_file(path):
    """Make one file group-readable and -writable (SQLite files keep their own mode)."""
    try:
        st = os.stat(path)
        if st.st_uid == os.geteuid() and (st.st_mode & 0o060) != 0o060:
            os.chmod(path, stat.S_IMODE(st.st_mode) | 0o060)
    except OSError:
        pass


def can_write(directory):
    """True if this user can create files in ``directory`` and its existing parts."""
    for path in _trusted_paths(directory):
        if os.path.exists(path) and not os.access(path, os.W_OK):
            return False
    return True


def other_writers(directory):
    """Why someone other than this user can change the cache, or None if nobody can.

    Checks the top folder, the entries and index folders and their databases:
    a writer there could plant an entry.
    """
    me = os.geteuid()
    for path in _trusted_paths(directory):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_uid != me:
            return "%s is owned by uid %d, not by this user (uid %d)" % (path, st.st_uid, me)
        if st.st_mode & stat.S_IWOTH:
            return "%s is writable by everyone" % path
        if st.st_mode & stat.S_IWGRP:
            return "%s is writable by its group" % path
    return None


def _trusted_paths(directory):
    paths = [directory]
    for sub in ("entries", "index"):
        paths += [os.path.join(directory, sub), os.path.join(directory, sub, "cache.db")]
    return paths
