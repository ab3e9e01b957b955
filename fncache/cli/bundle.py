"""Bundles: a warm cache in one file, for CI or a node without a network path.

A bundle is a tar (``.tar``, ``.tar.gz``/``.tgz``) or zip archive holding
``entries/<n>.fne``, each an entry exactly as it was sealed, and
``manifest.json`` (format, fncache version, and per entry its key, record,
size and sha256), and ``blobs/<n>.bin``, the compiled modules they list and,
with ``memo=True``, the large arrays of memoized results (memo entries are
left out otherwise).

Import trusts nothing in it. An entry is stored only if its signature opens
with the secret the bundle was signed with (the importing side's own, or one
given for the bundle); an entry sealed without a secret proves only that it is
whole, not who made it, and loading an entry runs its code, so such entries
are refused unless the caller says it trusts the bundle (``trust=True``).
Stored entries carry the importing side's signature. A blob is stored only if
a stored entry lists it and its bytes match its digest. Member sizes are
checked before they are read (at most ``MAX_MEMBER_BYTES``, and the manifest
``MAX_MANIFEST_BYTES``). Memo keys and memo blob names are digests keyed by the
secret they were made under, so a memo entry is imported only when that secret
(the one it is sealed with) is the importing side's: under another, it could
never be hit and its blobs could not be checked.
"""
import hashlib
import io
import json
import os
import tarfile
import time
import zipfile
import zlib

import fncache
from fncache.errors import EntryRejected, FncacheError
from fncache.cli.inventory import _writable, entries as list_entries
from fncache.store import MEMO_BLOB_PREFIX, MODULE_PREFIX, blob_intact, envelope, is_blob

FORMAT = "fncache-bundle/1"
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 256 << 20
MAX_MEMBER_BYTES = envelope.MAX_PAYLOAD_BYTES


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
                try:
                    self.archive.getmembers()
                except (tarfile.TarError, EOFError, zlib.error):
                    pass  # truncated: the members before the damage are still readable
                self.members = {m.name: m for m in self.archive.members}
        except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise BundleError("%s is not a readable bundle: %s" % (path, exc)) from None

    def read(self, name, limit=MAX_MEMBER_BYTES):
        """A member's bytes; its declared size is checked against ``limit`` first."""
        try:
            if self.zip:
                size = self.archive.getinfo(name).file_size
            else:
                info = self.members[name]
                size = info.size if info.isfile() else None
        except (KeyError, TypeError):
            size = None
        if size is None:
            raise BundleError("the bundle has no member %r" % (name,))
        if size > limit:
            raise BundleError("the bundle member %s declares %d bytes (at most %d)"
                              % (name, size, limit))
        try:
            if self.zip:
                return self.archive.read(name)
            return self.archive.extractfile(info).read()
        except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise BundleError("cannot read the bundle member %s: %s" % (name, exc)) from None

    def close(self):
        self.archive.close()


def export_bundle(cache, path, name=None, older_than=None, newer_than=None, progress=None,
                  memo=False):
    """Write the entries of ``cache`` (filtered by name glob and age in seconds) to ``path``.

    ``memo``: memoized results too, with their blobs (left out otherwise).
    ``progress`` is called once per entry written. Returns the manifest.
    """
    now = time.time()
    chosen = []
    for e in list_entries(cache, sort="age", name=name):
        if e["kind"] == "memo" and not memo:
            continue
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
    """Blob keys an entry lists in its header (its compiled C modules, a result's arrays)."""
    try:
        header = envelope.read_header(data)
        listed = header.get("modules") or []
        layout = header.get("layout") if header.get("kind") == "memo" else None
        layout = layout if isinstance(layout, list) else []
    except (EntryRejected, ValueError, AttributeError):
        return []
    keys = [MODULE_PREFIX + m["sha256"] for m in listed
            if isinstance(m, dict) and isinstance(m.get("sha256"), str)]
    return keys + [MEMO_BLOB_PREFIX + part[2] for part in layout[1:]
                   if isinstance(part, list) and len(part) == 3 and part[0] == "blob"
                   and isinstance(part[2], str)]


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
        manifest = json.loads(reader.read(MANIFEST, MAX_MANIFEST_BYTES))
    except ValueError:
        raise BundleError("%s: the manifest is not valid JSON" % path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError("%s is not an fncache bundle (format %r)"
                          % (path, manifest.get("format") if isinstance(manifest, dict) else None))
    return manifest


def import_bundle(cache, path, secret=None, bundle_secret=None, trust=False, progress=None,
                  on_start=None):
    """Verify each entry of the bundle at ``path`` and store the good ones, signed with ``secret``.

    An entry is good when its signature opens with ``bundle_secret`` (default:
    ``secret``), or, with ``trust``, when it was sealed without a secret and is
    whole. Returns ``{"imported", "skipped_present", "entries",
    "rejected": [{key, reason, message}]}``; reasons: 'unsigned', 'bad-signature',
    'corrupt', 'version-mismatch'.
    """
    _writable(cache)
    opener = bundle_secret or secret
    reader = _Reader(path)
    try:
        manifest = _manifest(reader, path)
        items = manifest.get("entries") or []
        if not isinstance(items, list):
            raise BundleError("%s: the manifest's entries are not a list" % path)
        if on_start:
            on_start(len(items))
        imported, present, rejected, wanted = 0, 0, [], set()
        for item in items:
            item = item if isinstance(item, dict) else {}
            key = item.get("key")
            try:
                if not isinstance(key, str) or not key:
                    raise EntryRejected("corrupt", "manifest entry without a key")
                size = item.get("size")
                data = reader.read(item.get("file", ""), size if isinstance(size, int)
                                   and 0 <= size <= MAX_MEMBER_BYTES else MAX_MEMBER_BYTES)
                if hashlib.sha256(data).hexdigest() != item.get("sha256"):
                    raise EntryRejected("corrupt", "entry bytes do not match the manifest")
                sealed_with = _check(key, data, opener, trust)
                if key.startswith("memo:") and sealed_with != (secret or None):
                    raise EntryRejected("other-secret", "a memoized result made under another "
                                        "secret: its key and blob names are keyed by that "
                                        "secret, so it could never be hit here")
            except (EntryRejected, BundleError) as exc:
                rejected.append({"key": key, "reason": getattr(exc, "reason", "corrupt"),
                                 "message": str(exc)})
            else:
                if sealed_with != (secret or None):
                    data = envelope.reseal(key, data, secret)  # ours now: we vouch for it
                wanted.update(_blobs_of(data))
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
            if not isinstance(item, dict) or item.get("key") not in wanted:
                continue  # only what a stored entry's signed header lists
            key = item["key"]
            try:
                data = reader.read(item.get("file", ""))
            except BundleError:
                continue
            # a blob is named by its digest: one that does not match is dropped
            if is_blob(key) and blob_intact(key, data):
                cache.disk.put(key, data)
        return {"imported": imported, "skipped_present": present, "rejected": rejected,
                "entries": len(items)}
    finally:
        reader.close()


def _check(key, data, secret, trust):
    """The secret ``data`` is sealed with (None: none) if it may be imported, else EntryRejected."""
    try:
        envelope.read_header(data)  # the format and layout first: version-mismatch, corrupt
    except ValueError:
        raise EntryRejected("corrupt", "entry header is not valid JSON") from None
    if secret and envelope.mac_matches(key, data, secret):
        envelope.open_envelope(key, data, secret)
        return secret
    if envelope.mac_matches(key, data, None):
        if not trust:
            raise EntryRejected("unsigned", "entry is not signed (sealed without a secret), so "
                                            "anyone could have made it; import it only with "
                                            "--trust, if you trust whoever made the bundle")
        envelope.open_envelope(key, data, None)
        return None
    raise EntryRejected("bad-signature", "entry is signed with a secret %s (or damaged); give "
                                         "the bundle's secret with --secret-file"
                        % ("other than this side's" if secret else "this side does not have"))
