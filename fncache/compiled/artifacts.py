"""Compiled artifacts travel with entries: a machine with an empty compiledir compiles nothing.

An entry's header lists the artifact files its function loads (C modules; paths relative
to the backend's ``artifact_root()``, Theano's compiledir, each with its sha256), and each
file is stored once in the tiers under ``cmodule:<sha256>``. Loading an entry writes the
listed files that this machine lacks, after checking each against the digest in the
signed header, so a tampered module is never written. The backend's companion files
(Theano's ``key.pkl``) travel with each artifact, so the library's own module cache
reuses it for later compiles too. Matching is the key's job: its environment part
(platform, CPU, Python ABI, compiler and flags) keeps an entry, and so its artifacts, to
machines where they run.
"""
import hashlib
import logging
import os
import tempfile

from fncache.names import MODULE_PREFIX

_log = logging.getLogger("fncache.modules")
PREFIX = MODULE_PREFIX  # tier key prefix of artifact files, by content digest
_stored = set()  # digests this process has already put in the tiers


def _digest(data):
    return hashlib.sha256(data).hexdigest()


def _persistent(cache):
    """The tiers that outlive the process (a module file has no business in memory)."""
    return [tier for tier in cache.store.tiers if tier.name != "memory"]


def store(cache, backend, module_paths):
    """Put each artifact (and its companions) in the cache; the records an entry header lists."""
    records = []
    root = backend.artifact_root()
    for module_path in sorted(set(module_paths) | set(backend.helper_artifacts)):
        if os.path.isabs(module_path):
            continue  # built outside the artifact root: not portable
        folder = os.path.dirname(module_path)
        for path in [module_path] + [os.path.join(folder, c) for c in backend.artifact_companions]:
            try:
                with open(os.path.join(root, path), "rb") as f:
                    data = f.read()
            except OSError:
                continue
            digest = _digest(data)
            if digest not in _stored:
                for tier in _persistent(cache):
                    if tier.writable:
                        try:
                            tier.put(PREFIX + digest, data)
                        except Exception as exc:  # the entry still works where modules exist
                            _log.info("fncache: cannot store module %s in %s (%s)",
                                      path, tier.name, exc)
                _stored.add(digest)
            records.append({"path": path, "sha256": digest})
    return records


def install(cache, backend, records):
    """Write the listed files that this machine lacks; return how many were written.

    A file that no tier holds (or that fails its digest) is skipped: the load
    then builds that node's module as the library would.
    """
    written = 0
    root = os.path.realpath(backend.artifact_root())
    companions = set(backend.artifact_companions)
    records = [r for r in records if isinstance(r, dict) and isinstance(r.get("path"), str)]
    # within a module's folder, the module before its key file: Theano's
    # ModuleCache ignores a folder without key.pkl but deletes one without its module
    for record in sorted(records, key=lambda r: (os.path.dirname(r["path"]),
                                                  os.path.basename(r["path"]) in companions)):
        path = _inside(root, record["path"])
        digest = record.get("sha256")
        if path is None or not isinstance(digest, str) or os.path.exists(path):
            continue
        data = _fetch(cache, digest)
        if data is None:
            continue
        try:
            _write_atomically(path, data)
        except OSError as exc:
            _log.info("fncache: cannot write module %s (%s)", path, exc)
            continue
        written += 1
    return written


def _fetch(cache, digest):
    for tier in _persistent(cache):
        try:
            data = tier.get(PREFIX + digest)
        except Exception:
            continue  # a tier that fails here fails loudly on the entry itself
        if data is not None and _digest(data) == digest:
            return data
    return None


def _inside(root, relative):
    """The absolute path for a listed file, or None for a path that leaves ``root``."""
    if not isinstance(relative, str) or os.path.isabs(relative):
        return None
    path = os.path.realpath(os.path.join(root, relative))
    return path if path.startswith(root + os.sep) else None


def _write_atomically(path, data):
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".fncache-")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.chmod(temporary, 0o755 if path.endswith(".so") else 0o644)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
