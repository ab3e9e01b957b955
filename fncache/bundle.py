"""Bundles: a warm cache in one file, for CI or a node without a network path.

A bundle is a tar (``.tar``, ``.tar.gz``/``.tgz``) or zip archive holding
``entries/<n>.fne``, each an entry exactly as it was sealed, and
``manifest.json`` (format, fncache version, and per entry its key, record,
size and sha256). Import trusts nothing in it: each entry must open with the
*importing* side's secret (``envelope.open_envelope``) before it is stored, so
a bundle cannot carry code into a cache whose secret it was not signed with.
"""
import hashlib
import io
import json
import os
import tarfile
import time
import zipfile

import fncache
from fncache.errors import EntryRejected, FncacheError
from fncache.inventory import _writable, entries as list_entries
from fncache.store import MODULE_PREFIX, blob_intact, envelope, is_blob

FORMAT = "fncache-bundle/1"
MANIFEST = "manifest.json"


class BundleError(FncacheError, ValueError):
    """The file is not a readable fncache bundle."""


def _is_zip(path):
    return str(path).lower().endswith(".zip")


class _Writer:
    def __init__(self, path):
        self.zip = _is_zip(path)
        if self.zip:
            self.archive = zipfile.ZipFile(path, "w", zipfile.ZIP_STORED)
        else:
            lower = str(path).lower()
            mode = "w:gz" if lower.endswith((".tar.gz", ".tgz")) else "w"
            self.archive = tarfile.open(path, mode)

    def add(self, name, data):
        if self.zip:
            self.archive.writestr(name, data)
        else:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            self.archive.addfile(info, io.BytesIO(data))

    def close(self):
        self.archive.close()


class _Reader:
    def __init__(self, path):
        try:
            if zipfile.is_zipfile(path):
                self.zip = True
                self.archive = zipfile.ZipFile(path)
            else:
                self.zip = False
                self.archive = tarfile.open(path, "r:*")
        except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
            raise BundleError("%s is not a readable bundle: %s" % (path, exc)) from None

    def read(self, name):
        try:
            if self.zip:
                return self.archive.read(name)
            member = self.archive.extractfile(name)
            if member is None:
                raise KeyError(name)
            return member.read()
        except KeyError:
            raise BundleError("the bundle has no member %s" % name) from None

    def close(self):
        self.archive.close()


def export_bundle(cache, path, name=None, older_than=None, newer_than=None, progress=None):
    """Write the entries of ``cache`` (filtered by name glob and age in seconds) to ``path``.

    ``progress`` is called once per entry written. Returns the manifest.
    """
    now = time.time()
    chosen = []
    for e in list_entries(cache, sort="age", name=name):
        created = e["created"]
        if older_than is not None and (created is None or created > now - older_than):
            continue
        if newer_than is not None and (created is None or created < now - newer_than):
            continue
        chosen.append(e)
    records = dict(cache.records())
    manifest = {"format": FORMAT, "fncache": fncache.__version__, "created": now,
                "source": cache.directory, "entries": []}
    writer = _Writer(path)
    blobs = {}  # blob key -> member: the compiled modules the chosen entries load
    try:
        for i, e in enumerate(chosen):
            data = cache.disk.get(e["key"])
            if data is None:
                continue  # evicted meanwhile
            member = "entries/%d.fne" % i
            writer.add(member, data)
            manifest["entries"].append({
                "key": e["key"], "file": member, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "record": _jsonable(records.get(e["key"], {}))})
            for blob_key in _blobs_of(data):
                blob = cache.disk.get(blob_key)
                if blob is not None and blob_key not in blobs:
                    blobs[blob_key] = "blobs/%d.bin" % len(blobs)
                    writer.add(blobs[blob_key], blob)
            if progress:
                progress(len(data))
        manifest["blobs"] = [{"key": k, "file": f} for k, f in blobs.items()]
        writer.add(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"))
    except BaseException:
        writer.close()
        os.unlink(path)
        raise
    writer.close()
    return manifest


def _blobs_of(data):
    """Blob keys an entry lists in its header (its compiled C modules)."""
    try:
        listed = envelope.read_header(data).get("modules") or []
    except (EntryRejected, ValueError, AttributeError):
        return []
    return [MODULE_PREFIX + m["sha256"] for m in listed
            if isinstance(m, dict) and isinstance(m.get("sha256"), str)]


def _jsonable(record):
    return json.loads(json.dumps(record, default=lambda o: None))


def read_manifest(path):
    reader = _Reader(path)
    try:
        return _manifest(reader, path)
    finally:
        reader.close()


def _manifest(reader, path):
    try:
        manifest = json.loads(reader.read(MANIFEST))
    except ValueError:
        raise BundleError("%s: the manifest is not valid JSON" % path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError("%s is not an fncache bundle (format %r)"
                          % (path, manifest.get("format") if isinstance(manifest, dict) else None))
    return manifest


def import_bundle(cache, path, secret=None, progress=None, on_start=None):
    """Verify each entry of the bundle at ``path`` with ``secret`` and store the good ones.

    Returns ``{"imported", "skipped_present", "rejected": [{key, reason, message}]}``.
    """
    _writable(cache)
    reader = _Reader(path)
    try:
        manifest = _manifest(reader, path)
        items = manifest.get("entries") or []
        if on_start:
            on_start(len(items))
        imported, present, rejected = 0, 0, []
        for item in items:
            key = item.get("key")
            try:
                if not isinstance(key, str) or not key:
                    raise EntryRejected("corrupt", "manifest entry without a key")
                data = reader.read(item.get("file", ""))
                if hashlib.sha256(data).hexdigest() != item.get("sha256"):
                    raise EntryRejected("corrupt", "entry bytes do not match the manifest")
                envelope.open_envelope(key, data, secret)
            except (EntryRejected, BundleError) as exc:
                rejected.append({"key": key, "reason": getattr(exc, "reason", "corrupt"),
                                 "message": str(exc)})
            else:
                if cache.disk.get(key) is not None:
                    present += 1
                else:
                    cache.disk.put(key, data)
                    record = {k: v for k, v in (item.get("record") or {}).items()
                              if k not in ("hits", "last_used")}  # hits count here anew
                    record.update(size=len(data), imported=time.time())
                    record.setdefault("created", time.time())
                    cache.set_record(key, record)
                    imported += 1
            if progress:
                progress(1)
        for item in manifest.get("blobs") or []:
            if not isinstance(item, dict):
                continue
            key = item.get("key")
            try:
                data = reader.read(item.get("file", ""))
            except BundleError:
                continue
            # a blob is named by its digest: one that does not match is dropped
            if isinstance(key, str) and is_blob(key) and blob_intact(key, data):
                cache.disk.put(key, data)
        return {"imported": imported, "skipped_present": present, "rejected": rejected,
                "entries": len(items)}
    finally:
        reader.close()
