"""Who may write a cache directory: sharing with a group, read-only use, refusal.

A team shares one directory by making it group-writable and setgid (see the
README). fncache follows the directory: when its top folder is group-writable,
every folder and file fncache creates inside is group-readable and
group-writable (the group bits of the umask are cleared while it writes) and
folders are setgid, so they keep the team's group. A group that is the
user's own private group (named after the user, with no other member) shares
nothing: a directory made group-writable by ``umask 002`` stays private.

Loading an entry runs code, so a directory that someone else can write is
only trusted when entries are signed with a team secret. Whoever can write it
can also plant symbolic links, so inside it fncache follows none: the folder
and database paths are checked with ``lstat`` (a directory whose parts are
symlinks, while others can write it, is refused), files are opened one path
component at a time with ``O_NOFOLLOW``, and permissions are changed through an
open file descriptor, only on files this user owns.
"""
import contextlib
import functools
import grp
import os
import pwd
import stat
import threading

_umask_lock = threading.RLock()  # the umask is per process: one writer at a time changes it
PARTS = ("entries", "index", "locks")  # the folders fncache keeps in a cache directory
DB_FILES = ("cache.db", "cache.db-wal", "cache.db-shm", "cache.db-journal")  # SQLite's, per folder


def private_group(gid):
    """Why the group ``gid`` is not this user's own private group, or None when it is.

    Private: the user's primary group, named after the user, with no other
    member and nobody else's primary group (the per-user groups of ``useradd
    --user-group``, where ``umask 002`` is the norm).
    """
    return _private_group(os.geteuid(), gid)


@functools.lru_cache(maxsize=None)
def _private_group(uid, gid):
    try:
        me = pwd.getpwuid(uid)
        group = grp.getgrgid(gid)
    except KeyError:
        return "gid %d has no name here" % gid
    if gid != me.pw_gid or group.gr_name != me.pw_name:
        return "is not the private group of %s" % me.pw_name
    members = sorted(set(group.gr_mem) - {me.pw_name})
    members += sorted(u.pw_name for u in pwd.getpwall() if u.pw_gid == gid and u.pw_uid != uid)
    if members:
        return "has other members (%s)" % ", ".join(members)
    return None


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def identity():
    """Who this process is to the file system: what every decision here depends on."""
    return os.geteuid(), os.getegid(), tuple(sorted(os.getgroups()))


def may_change_identity():
    """True if this process can still become another user or group (root, a set-id program,
    or one with CAP_SETUID or CAP_SETGID): a program that drops privileges does so after
    its imports, so what is decided about a directory before then may not hold later."""
    if os.geteuid() == 0:
        return True
    for ids in (getattr(os, "getresuid", None), getattr(os, "getresgid", None)):
        if ids is not None and len(set(ids())) > 1:
            return True
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapPrm:"):
                    return bool(int(line.split()[1], 16) & (1 << 6 | 1 << 7))  # SETGID, SETUID
    except (OSError, ValueError):
        pass
    return False


def is_group_shared(directory):
    """True when the cache's top folder is writable by a group other than the user's own."""
    try:
        st = os.stat(directory)  # the top folder is the user's choice: a symlink to it is fine
    except OSError:
        return False
    return bool(st.st_mode & stat.S_IWGRP) and private_group(st.st_gid) is not None


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
    """``os.makedirs``, and for a shared cache: the folder group-writable and setgid.

    The mode is changed through a descriptor opened with ``O_NOFOLLOW``, so a
    symlink planted in the folder's place fails (ELOOP) instead of having its
    target changed, and only when this user owns the folder.
    """
    with group_writable(shared):
        os.makedirs(path, exist_ok=True)
    if shared:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            _add_mode(fd, stat.S_IRWXG | stat.S_ISGID)
        finally:
            os.close(fd)


def share_file(path):
    """Make one file group-readable and -writable (SQLite files keep their own mode)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            _add_mode(fd, 0o060)
    finally:
        os.close(fd)


def _add_mode(fd, bits):
    st = os.fstat(fd)
    if st.st_uid == os.geteuid() and (st.st_mode & bits) != bits:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) | bits)


def open_below(directory, relative, flags, mode=0o666, make_dirs=False):
    """A descriptor for ``directory/relative``, following no symlink below ``directory``.

    Each folder on the way is opened with ``O_NOFOLLOW`` (and created first when
    ``make_dirs``), then the file itself, so a symlink planted anywhere below the
    folder is an OSError (ELOOP or ENOTDIR), never a write elsewhere.
    """
    names = relative.split("/")
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names[:-1]:
            if make_dirs:
                try:
                    os.mkdir(name, dir_fd=fd)
                except FileExistsError:
                    pass
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = sub
        return os.open(names[-1], flags | os.O_NOFOLLOW, mode, dir_fd=fd)
    finally:
        os.close(fd)


def remove_below(directory, relative):
    """Unlink ``directory/relative`` and its folders once empty, following no symlink."""
    names = relative.split("/")
    fds = [os.open(directory, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for name in names[:-1]:
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
        os.unlink(names[-1], dir_fd=fds[-1])
        for parent, name in reversed(list(zip(fds[:-1], names[:-1]))):
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError:
                break  # not empty (or already gone): the folders above are not empty either
    finally:
        for fd in fds:
            os.close(fd)


def can_write(directory):
    """True if this user can create files in ``directory`` and its existing parts."""
    for path in _trusted_paths(directory):
        if os.path.exists(path) and not os.access(path, os.W_OK):
            return False
    return True


def other_writers(directory):
    """Why someone other than this user can change the cache, or None if nobody can.

    Checks the top folder, its entries, index and locks folders and their
    databases: a writer there could plant an entry. A part that is a symlink
    counts as written by whoever made the link, and then by whoever can write
    what it points to.
    """
    me = os.geteuid()
    for path in _trusted_paths(directory):
        try:
            st = os.stat(path) if path == directory else os.lstat(path)  # the top: your choice
            if stat.S_ISLNK(st.st_mode):
                if st.st_uid != me:
                    return "%s is a symlink made by uid %d, not by this user (uid %d)" % (
                        path, st.st_uid, me)
                st = os.stat(path)
        except OSError:
            continue
        if st.st_uid != me:
            return "%s is owned by uid %d, not by this user (uid %d)" % (path, st.st_uid, me)
        if st.st_mode & stat.S_IWOTH:
            return "%s is writable by everyone" % path
        if st.st_mode & stat.S_IWGRP:
            why = private_group(st.st_gid)
            if why is not None:
                return "%s is writable by its group %s, which %s" % (path, _group_name(st.st_gid),
                                                                      why)
    return None


def planted_link(directory):
    """The first part of the cache directory that is a symlink, said plainly, or None.

    fncache never makes a symlink there; in a directory others can write, one
    is how a writer would redirect another user's files (and chmods) elsewhere.
    """
    top = os.path.realpath(directory)
    for path in _trusted_paths(directory)[1:]:
        try:
            if not stat.S_ISLNK(os.lstat(path).st_mode):
                continue
        except OSError:
            continue
        target = os.path.realpath(path)
        where = ("outside the cache directory" if os.path.commonpath([top, target]) != top
                 else "inside the cache directory")
        return "%s is a symlink to %s (%s); fncache makes none there" % (path, target, where)
    return None


def _trusted_paths(directory):
    paths = [directory]
    for sub in PARTS:
        paths.append(os.path.join(directory, sub))
        if sub != "locks":
            paths += [os.path.join(directory, sub, name) for name in DB_FILES]
    return paths
