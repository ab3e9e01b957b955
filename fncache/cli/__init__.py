"""The fncache command: a window onto the cache for people.

Thin on purpose: the work is in fncache.cli.inventory, bundle, warm, misslog and
profiling, which Python users can call too. Every command that prints data
takes ``--json``. Errors are one line on stderr and a non-zero exit status:
2 for bad arguments, 1 for everything else (missing directory, unknown key,
damage found by ``verify``).
"""
import datetime
import functools
import io
import json
import os
import runpy
import sqlite3
import sys
import time

import click

from fncache.errors import FncacheError


# ------------------------------------------------------------------ formatting
def _human_bytes(n):
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1000.0


def _human_seconds(s):
    if s is None:
        return "-"
    return "%.1f ms" % (s * 1000) if s < 1 else "%.2f s" % s


def _ago(ts, now=None):
    if not ts:
        return "-"
    age = max(0.0, (now or time.time()) - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if age >= size:
            return "%d %s ago" % (age // size, unit)
    return "%d s ago" % age


def _date(ts):
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _table(headers, rows, left=(0,)):
    """Aligned columns: text columns (indexes in ``left``) left, numbers right."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(headers)] + [line(r) for r in rows])


def _echo_json(data):
    click.echo(json.dumps(data, indent=1, default=str))


# ------------------------------------------------------------------ plumbing
def _errors(command):
    """fncache's own errors become one clear line and exit status 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except FncacheError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException("%s: %s" % (type(exc).__name__, exc)) from None
        except sqlite3.Error as exc:  # a full disk fails reads too; damage is repaired on open
            from fncache.config import settings
            raise click.ClickException("cannot use the cache database in %s (%s: %s)"
                                       % (settings.directory, type(exc).__name__, exc)) from None
    return wrapper


def _cache(must_exist=True):
    from fncache.config import settings
    from fncache.store import current
    if must_exist and not os.path.isdir(settings.directory):
        raise click.ClickException("no fncache directory at %s (set FNCACHE_DIR or pass --dir)"
                                   % settings.directory)
    return current()


def _size(ctx, param, value):
    from fncache.config import ConfigError, parse_size
    if value is None:
        return None
    try:
        return parse_size(value, param.opts[0])
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


def _duration(ctx, param, value):
    from fncache.config import ConfigError, parse_duration
    if value is None:
        return None
    try:
        return parse_duration(value, param.opts[0])
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


def _progress(total, what, unit="entry", unit_scale=False):
    from tqdm import tqdm
    return tqdm(total=total, desc=what, unit=unit, unit_scale=unit_scale, file=sys.stderr,
                disable=None, leave=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dir", "directory", default=None,
              help="Cache directory (default: $FNCACHE_DIR or ~/.cache/fncache).")
def main(directory):
    """fncache: compiled-function cache for Theano."""
    from fncache.config import settings
    if settings.env_errors:  # a program carries on with defaults; a person asked about this cache
        raise click.ClickException("; ".join(settings.env_errors))
    if directory:
        os.environ["FNCACHE_DIR"] = directory  # for the processes we start
        from fncache.config import settings
        settings.update(directory=directory)


# ------------------------------------------------------------------ run
@main.command("run", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.option("--summary", is_flag=True, help="Print a one-line summary at exit.")
@click.option("--profile", "profile", is_flag=True,
              help="Print where each function's time went (key, load, compile, call) at exit.")
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run_command(summary, profile, script, args):
    """Run SCRIPT with every theano.function call going through the cache."""
    import contextlib
    import fncache
    from fncache.observe import counters
    fncache.install()
    sys.argv = [script] + list(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    prof = fncache.profile() if profile else contextlib.nullcontext()
    try:
        with prof:
            runpy.run_path(script, run_name="__main__")
    finally:
        if profile:
            prof.report(file=sys.stderr)
        if summary:
            s = counters.session()
            click.echo("fncache: compiled %d functions, %d loaded from cache, %s saved"
                       % (s.get("compile.count", 0), s.get("compiled.hits", 0),
                          _human_seconds(s.get("saved.compile_ms", 0) / 1000.0)), err=True)


# ------------------------------------------------------------------ stats
@main.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--reset", is_flag=True, help="Set the totals back to zero.")
@_errors
def stats_command(as_json, reset):
    """Hits, misses, sizes and seconds saved, per tier and in total."""
    import fncache
    from fncache.observe import stats as summary
    from fncache.config import settings
    if not os.path.isdir(settings.directory):
        data = summary.empty(settings.directory)  # like ccache -s before the first use
    else:
        _cache()
        if reset:
            summary.reset()
        data = fncache.stats()
    if as_json:
        _echo_json(data)
        return
    click.echo("cache directory     %s" % data["directory"])
    click.echo("totals since        %s" % (
        "- (this process only: the index cannot be read)" if data["totals"] != "directory"
        else _date(data["since"]) if data["since"] else "first use"))
    rows = []
    for name, tier in data["tiers"].items():
        rate = "-" if tier["hit_rate"] is None else "%.0f%%" % (100 * tier["hit_rate"])
        rows.append([name, tier["hits"], tier["misses"], rate,
                     tier.get("entries", "-"),
                     _human_bytes(tier["bytes"]) if "bytes" in tier else "-", tier["errors"]])
    click.echo()
    click.echo(_table(["tier", "hits", "misses", "hit rate", "entries", "size", "errors"], rows))
    click.echo()
    c, m, t = data["compiled"], data["memo"], data["total"]
    click.echo("compiled functions  %d hits, %d compiles (%s compiling, %s loading), %s saved"
               % (c["hits"], c["compiles"], _human_seconds(c["compile_seconds"]),
                  _human_seconds(c["load_seconds"]), _human_seconds(c["seconds_saved"])))
    click.echo("memoized results    %d hits, %d misses, %s saved"
               % (m["hits"], m["misses"], _human_seconds(m["seconds_saved"])))
    rate = "-" if t["hit_rate"] is None else "%.0f%%" % (100 * t["hit_rate"])
    click.echo("total               %d hits, %d misses, hit rate %s, %s saved"
               % (t["hits"], t["misses"], rate, _human_seconds(t["seconds_saved"])))
    rejected = ", ".join("%s %d" % kv for kv in sorted(data["rejected"].items()))
    click.echo("entries rejected    %d%s" % (t["entries_rejected"],
                                             " (%s)" % rejected if rejected else ""))
    if data["uncacheable"]:
        click.echo("not cacheable       " + ", ".join(
            "%s %d" % kv for kv in sorted(data["uncacheable"].items())))
    if data.get("unloadable"):
        click.echo("unloadable keys     %d (compiled without storing; fncache show KEY says why)"
                   % len(data["unloadable"]))


# ------------------------------------------------------------------ ls / show
@main.command("ls")
@click.option("--sort", type=click.Choice(["size", "hits", "saved", "age", "used", "name"]),
              default="size", show_default=True, help="Order of the rows.")
@click.option("--name", "name", default=None, help="Only entries whose name matches this glob.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_errors
def ls_command(sort, name, as_json):
    """One row per entry: name, where it was defined, kind, size, hits, time saved, age."""
    from fncache.cli import inventory
    listed = inventory.entries(_cache(), sort=sort, name=name)
    if as_json:
        _echo_json([{k: v for k, v in e.items() if k not in ("graph", "parts")} for e in listed])
        return
    if not listed:
        click.echo("no entries")
        return
    now = time.time()
    rows = [[_short_key(e["key"])[:12], e["name"] or "-", e["where"], e["kind"], e["backend"],
             _human_bytes(e["size"]), e["hits"], _human_seconds(e["saves_seconds"]),
             _ago(e["created"], now), _ago(e["last_used"], now)] for e in listed]
    click.echo(_table(["key", "name", "where", "kind", "backend", "size", "hits", "saves",
                       "created", "last used"], rows, left=(0, 1, 2, 3, 4, 8, 9)))
    click.echo("%d entries, %s" % (len(listed), _human_bytes(sum(e["size"] for e in listed))))


@main.command("show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_errors
def show_command(key, as_json):
    """An entry's key parts, graph summary and sizes (KEY may be a prefix)."""
    from fncache.cli import inventory
    from fncache.compiled import unloadable
    cache = _cache()
    e = inventory.entry(cache, inventory.find(cache, key))
    memo = unloadable.recall(cache, e["key"])
    if memo is not None:
        e["unloadable"] = memo
    if as_json:
        _echo_json(e)
        return
    if memo is not None:
        click.echo("cannot be loaded by %s: %s (%s; since %s)\n"
                   % ("this fncache and Theano" if memo["current"] else
                      "fncache %s, Theano %s" % (memo.get("fncache"), memo.get("theano")),
                      memo.get("reason"), "compiled without storing" if memo["current"]
                      else "this version will try again", _date(memo.get("time"))))
    click.echo(_table(["field", "value"], [
        ["key", e["key"]], ["name", e["name"] or "-"], ["where", e["where"]],
        ["kind", e["kind"]], ["backend", e["backend"]], ["size", _human_bytes(e["size"])],
        ["hits", e["hits"]],
        ["saves per hit", _human_seconds(e["saves_seconds"])],
        ["saved in all", _human_seconds(e["saved_seconds"])],
        ["created", _date(e["created"])], ["last used", _date(e["last_used"])]], left=(0, 1)))
    g = e["graph"]
    if g:
        click.echo("\ngraph: %d nodes, %d inputs, %d outputs, %d shared variables, %d updates"
                   % (g["nodes"], g["inputs"], g["outputs"], g["shared"], g["updates"]))
        click.echo(_table(["op", "count"], sorted(g["ops"].items(), key=lambda kv: -kv[1])))
    if e["parts"]:
        click.echo()
        click.echo(_table(["key part", "digest"], [[k, v[:16]] for k, v in e["parts"].items()],
                          left=(0, 1)))


# ------------------------------------------------------------------ explain
@main.command("explain")
@click.argument("keys", nargs=-1)
@click.option("--last-miss", is_flag=True,
              help="Explain the last logged miss (compile or memo) against the nearest earlier "
                   "key of the same function (needs FNCACHE_MISS_LOG=1 when it happened).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_errors
def explain_command(keys, last_miss, as_json):
    """Why two keys differ, part by part (KEY1 KEY2 may be prefixes)."""
    from fncache.cli import inventory
    from fncache.observe import misslog
    from fncache.keys import explain as ex
    cache = _cache()
    logged = misslog.misses(cache)
    if last_miss:
        if keys:
            raise click.UsageError("give either KEY1 KEY2 or --last-miss, not both")
        if not logged:
            raise click.ClickException(
                "the miss log of %s is empty: set FNCACHE_MISS_LOG=1 (or configure(miss_log=True))"
                " in the program, then ask again after a miss" % cache.directory)
        miss = logged[-1]
        previous = _previous_key(cache, logged, miss)
        if previous is None:
            notes = _unloadable_notes(cache, [miss["key"]])
            data = {"miss": _brief(miss), "previous": None, "differences": [],
                    "unloadable": notes}
            if as_json:
                _echo_json(data)
            elif notes:
                click.echo("last miss: %s at %s (%s): %s" % (miss["name"] or "-", miss["where"],
                                                            miss["key"][:16], notes[miss["key"]]))
            else:
                click.echo("last miss: %s at %s (%s): no earlier key of this function is known, "
                           "so it was compiled for the first time"
                           % (miss["name"] or "-", miss["where"], miss["key"][:16]))
            return
        key_a, key_b = previous["key"], miss["key"]
    else:
        if len(keys) != 2:
            raise click.UsageError("explain needs two keys (or --last-miss)")
        key_a, key_b = (inventory.find(cache, k) for k in keys)
        previous = miss = None
    for key in (key_a, key_b):
        parts, details = _parts_of(cache, logged, key)
        if parts is None:
            raise click.ClickException("no key parts are recorded for %s (an entry written by "
                                       "an older fncache?)" % key[:16])
        ex.register(key, parts, details)
    buf = io.StringIO()
    lines = ex.explain(key_a, key_b, file=buf)
    notes = _unloadable_notes(cache, [key_a, key_b])
    if as_json:
        _echo_json({"a": key_a, "b": key_b, "differences": lines,
                    "miss": _brief(miss) if miss else None,
                    "previous": _brief(previous) if previous else None, "unloadable": notes})
        return
    if miss:
        click.echo("last miss: %s at %s, key %s" % (miss["name"] or "-", miss["where"],
                                                     _short_key(miss["key"])))
        click.echo("previous:  key %s\n" % _short_key(previous["key"]))
    click.echo(buf.getvalue().rstrip())
    for key, note in notes.items():
        click.echo("%s: %s" % (key[:16], note))


def _short_key(key):
    """16 characters of a key that tell it apart (a memo key's digest, not its prefix)."""
    return key.rsplit(":", 1)[-1][:16]


def _unloadable_notes(cache, keys):
    """{key: sentence} for the keys remembered as unloadable by this fncache and Theano."""
    from fncache.compiled import unloadable
    notes = {}
    for key in keys:
        why = unloadable.reason(cache, key)
        if why is not None:
            notes[key] = ("its entry cannot be loaded here (%s), so it is compiled without "
                          "storing until fncache or Theano changes" % why)
    return notes


def _brief(m):
    return {k: m.get(k) for k in ("key", "name", "where", "kind", "time", "created")}


def _previous_key(cache, logged, miss):
    """The newest earlier key of the same function (same name and place) than ``miss``."""
    same = [m for m in logged[:-1] if m["key"] != miss["key"]
            and (m["name"], m["where"]) == (miss["name"], miss["where"])]
    if same:
        return same[-1]
    records = [dict(r, key=k) for k, r in cache.records()
               if k != miss["key"] and r.get("parts")
               and (r.get("name") or "", r.get("where") or "?") == (miss["name"], miss["where"])]
    if miss.get("kind") == "memo":  # stored results of the same function carry their parts
        records += [dict(h, key=k) for k, h in _memo_headers(cache, miss["key"])
                    if k != miss["key"] and h.get("parts")]
    return max(records, key=lambda r: r.get("created") or 0.0) if records else None


def _memo_headers(cache, key):
    """(key, header) of the stored results of the function whose memo key is ``key``."""
    from fncache.store import envelope
    prefix = key.rsplit(":", 1)[0] + ":"
    for k in cache.disk.keys():
        if k.startswith(prefix):
            data = cache.disk.get(k)
            try:
                yield k, envelope.read_header(data) if data is not None else {}
            except (FncacheError, ValueError):
                continue


def _parts_of(cache, logged, key):
    for m in reversed(logged):
        if m["key"] == key:
            return m["parts"], m.get("details")
    if key.startswith("memo:"):
        for k, header in _memo_headers(cache, key):
            if k == key:
                return header.get("parts"), header.get("details")
    from fncache.cli import inventory
    e = inventory.entry(cache, key)
    return e["parts"], None


# ------------------------------------------------------------------ verify / prune / clear
@main.command("verify")
@click.option("--fix", is_flag=True, help="Remove damaged entries (and records of evicted ones).")
@click.option("--deep", is_flag=True, help="Also load each entry, in a child process, as a hit "
              "would; report (with --fix: remove and remember) those that cannot load.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_errors
def verify_command(fix, deep, as_json):
    """Check every entry's integrity and signature; exit status 1 if any is damaged.

    Nothing is unpickled: each entry's envelope and HMAC are checked with the
    current secret. With --fix the damaged entries are removed (the exit status
    still says damage was found). --deep also rebuilds each entry in a child
    process (never in this one) and reports those that cannot load.
    """
    from fncache.cli import deepverify, inventory
    from fncache.config import settings
    cache = _cache()
    report = inventory.verify(cache, secret=settings.secret, fix=fix)
    if deep:
        deepverify.verify(cache, report, secret=settings.secret, fix=fix)
    if as_json:
        _echo_json(report)
    else:
        if report["damaged"]:
            click.echo(_table(["key", "problem", "detail"],
                              [[d["key"] if d["reason"] == "damaged-database" else d["key"][:16],
                                d["reason"], d["message"]]
                               for d in report["damaged"]], left=(0, 1, 2)))
        if report.get("cannot_load"):
            click.echo(_table(["key", "name", "cannot load"],
                              [[d["key"][:16], d["name"] or "-", d["reason"]]
                               for d in report["cannot_load"]], left=(0, 1, 2)))
        click.echo("%d entries checked%s: %d ok, %d damaged%s%s%s; %d stale records%s"
                   % (report["checked"],
                      " and loaded in a child process" if deep else " (bytes and signatures "
                      "only; --deep also loads each entry)",
                      report["ok"] - len(report.get("cannot_load", ())), len(report["damaged"]),
                      ", %d cannot load" % len(report["cannot_load"]) if deep else "",
                      " (%d removed)" % report["removed"] if fix else "",
                      ", %d of another fncache format (kept)" % report["other_version"]
                      if report["other_version"] else "",
                      report["stale_records"], " removed" if fix and report["stale_records"]
                      else ""))
        if report["orphan_files_removed"]:
            click.echo("%d value files that no entry names removed"
                       % report["orphan_files_removed"])
    if report["damaged"] or report.get("cannot_load"):
        sys.exit(1)  # all was not well, even when --fix has removed the damage


@main.command("prune")
@click.option("--max-size", callback=_size, help="Keep at most this much, e.g. 5GB "
              "(least recently used entries go first).")
@click.option("--older-than", callback=_duration,
              help="Remove entries created longer ago, e.g. 30d.")
@click.option("--unused-for", callback=_duration, help="Remove entries not used for, e.g. 7d.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed, remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_errors
def prune_command(max_size, older_than, unused_for, dry_run, as_json):
    """Remove entries by size, age or disuse."""
    from fncache.cli import inventory
    if max_size is None and older_than is None and unused_for is None:
        raise click.UsageError("prune needs --max-size, --older-than or --unused-for")
    result = inventory.prune(_cache(), max_size=max_size, older_than=older_than,
                             unused_for=unused_for, dry_run=dry_run)
    if as_json:
        _echo_json({"removed": [{k: e[k] for k in ("key", "name", "where", "kind", "size")}
                                for e in result["removed"]],
                    "freed": result["freed"], "kept": result["kept"], "bytes": result["bytes"],
                    "dry_run": dry_run})
        return
    for e in result["removed"]:
        click.echo("%s %s  %s  %s" % ("would remove" if dry_run else "removed", e["key"][:12],
                                      e["name"] or e["where"], _human_bytes(e["size"])))
    click.echo("%s %d entries (%s); %d entries (%s) kept"
               % ("would remove" if dry_run else "removed", len(result["removed"]),
                  _human_bytes(result["freed"]), result["kept"], _human_bytes(result["bytes"])))


@main.command("clear")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_errors
def clear_command(yes):
    """Remove every entry of the local cache (statistics are kept)."""
    from fncache.cli import inventory
    cache = _cache()
    if not yes:
        click.confirm("Remove every entry in %s?" % cache.directory, abort=True)
    n = inventory.clear(cache)
    click.echo("removed %d entries from %s" % (n, cache.directory))


# ------------------------------------------------------------------ warm
@main.command("warm")
@click.argument("targets", nargs=-1)
@click.option("--file", "target_file", type=click.Path(exists=True, dir_okay=False),
              help="A file of MODULE:CALLABLE targets, one per line.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Processes at once (default: the number of cores).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_errors
def warm_command(targets, target_file, jobs, as_json):
    """Import and call MODULE:CALLABLE targets that build functions, so they are cached."""
    from fncache.cli import warm
    targets = list(targets) + (warm.read_targets(target_file) if target_file else [])
    if not targets:
        raise click.UsageError("give MODULE:CALLABLE targets or --file")
    _cache(must_exist=False)
    bar = _progress(len(targets), "warming", unit="target")
    with bar:
        results = warm.warm(targets, jobs=jobs, progress=lambda r: bar.update(1))
    if as_json:
        _echo_json(results)
    else:
        click.echo(_table(["target", "status", "compiles", "hits", "time"],
                          [[r["target"], "ok" if r["ok"] else "FAILED", r["compiles"], r["hits"],
                            _human_seconds(r["seconds"])] for r in results], left=(0, 1)))
        for r in results:
            if not r["ok"]:
                click.echo("%s: %s" % (r["target"], r["error"]), err=True)
    if not all(r["ok"] for r in results):
        sys.exit(1)


# ------------------------------------------------------------------ bundles
@main.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--name", "name", default=None, help="Only entries whose name matches this glob.")
@click.option("--older-than", callback=_duration, help="Only entries created longer ago, e.g. 1d.")
@click.option("--newer-than", callback=_duration, help="Only entries created within, e.g. 7d.")
@click.option("--memo", is_flag=True, help="Also memoized results, with their arrays.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_errors
def export_command(file, name, older_than, newer_than, memo, as_json):
    """Write entries to FILE (.tar, .tar.gz or .zip) with a manifest."""
    from fncache.cli import bundle
    cache = _cache()
    bar = _progress(None, "exporting", unit="B", unit_scale=True)
    with bar:
        manifest = bundle.export_bundle(cache, file, name=name, older_than=older_than,
                                        newer_than=newer_than, progress=bar.update, memo=memo)
    size = sum(e["size"] for e in manifest["entries"])
    if as_json:
        _echo_json({"file": file, "entries": len(manifest["entries"]), "bytes": size})
    else:
        click.echo("exported %d entries (%s) to %s" % (len(manifest["entries"]),
                                                      _human_bytes(size), file))


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--secret-file", type=click.Path(dir_okay=False),
              help="The secret the bundle was signed with, if not this cache's (mode 0600).")
@click.option("--trust", is_flag=True,
              help="Also import entries sealed without a secret (anyone could have made them; "
                   "loading an entry runs its code).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_errors
def import_command(file, secret_file, trust, as_json):
    """Verify each entry of the bundle FILE and store it, signed with this cache's secret.

    Entries must be signed with this cache's secret or the one in --secret-file;
    entries sealed without a secret are refused unless --trust is given.
    """
    from fncache.cli import bundle
    from fncache.config import read_secret_file, settings
    bundle_secret = read_secret_file(secret_file) if secret_file else None
    cache = _cache(must_exist=False)
    bar = _progress(None, "importing")
    with bar:
        result = bundle.import_bundle(cache, file, secret=settings.secret,
                                      bundle_secret=bundle_secret, trust=trust,
                                      progress=bar.update,
                                      on_start=lambda n: setattr(bar, "total", n))
    if as_json:
        _echo_json(result)
    else:
        for r in result["rejected"]:
            click.echo("rejected %s: %s" % (_short_key(r["key"] or "?"), r["message"]), err=True)
        click.echo("imported %d entries, %d already present, %d rejected"
                   % (result["imported"], result["skipped_present"], len(result["rejected"])))
        reasons = {r["reason"] for r in result["rejected"]}
        if "unsigned" in reasons:
            click.echo("%s holds entries sealed without a secret: they prove only that they are "
                       "whole, not who made them, and loading an entry runs its code. If you "
                       "trust whoever made the bundle, import again with --trust" % file,
                       err=True)
        if "bad-signature" in reasons:
            click.echo("%s holds entries signed with a secret %s; give it with --secret-file "
                       "FILE (mode 0600)" % (file, "other than this cache's" if settings.secret
                                             else "this cache does not have"), err=True)
    if result["rejected"]:
        sys.exit(1)
