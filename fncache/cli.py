"""The fncache command: a window onto the cache for people."""
import json
import os
import runpy
import sys

import click


def _human_bytes(n):
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1000.0


def _human_seconds(s):
    return "%.1f ms" % (s * 1000) if s < 1 else "%.2f s" % s


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dir", "directory", envvar="FNCACHE_DIR", default=None,
              help="Cache directory (default: $FNCACHE_DIR or ~/.cache/fncache).")
def main(directory):
    """fncache: compiled-function cache for Theano."""
    if directory:
        os.environ["FNCACHE_DIR"] = directory


@main.command("run", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.option("--summary", is_flag=True, help="Print a one-line summary at exit.")
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run_command(summary, script, args):
    """Run SCRIPT with every theano.function call going through the cache."""
    import fncache
    from fncache import counters
    fncache.install()
    sys.argv = [script] + list(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        if summary:
            s = counters.session()
            click.echo("fncache: compiled %d functions, %d loaded from cache, %s saved"
                       % (s.get("compile.count", 0), s.get("compiled.hits", 0),
                          _human_seconds(s.get("saved.compile_ms", 0) / 1000.0)), err=True)


@main.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--reset", is_flag=True, help="Set the totals back to zero.")
def stats_command(as_json, reset):
    """Hits, misses, sizes and seconds saved, per tier."""
    import fncache
    from fncache import counters
    from fncache.store import current
    if reset:
        counters.reset(current().index)
    data = fncache.stats()
    if as_json:
        click.echo(json.dumps(data, indent=1, sort_keys=True))
        return
    click.echo("cache directory   %s" % data["directory"])
    for name, tier in data["tiers"].items():
        rate = "-" if tier["hit_rate"] is None else "%.0f%%" % (100 * tier["hit_rate"])
        extra = ""
        if "entries" in tier:
            extra = "  %d entries, %s" % (tier["entries"], _human_bytes(tier["bytes"]))
        click.echo("%-7s hits %6d  misses %6d  hit rate %5s%s"
                   % (name, tier["hits"], tier["misses"], rate, extra))
    c = data["compiled"]
    click.echo("compiled functions: %d hits, %d compiles (%s), %s saved"
               % (c["hits"], c["compiles"], _human_seconds(c["compile_seconds"]),
                  _human_seconds(c["seconds_saved"])))
    if data["rejected"]:
        click.echo("rejected entries: " + ", ".join("%s %d" % kv for kv in sorted(data["rejected"].items())))
    if data["uncacheable"]:
        click.echo("not cacheable: " + ", ".join("%s %d" % kv for kv in sorted(data["uncacheable"].items())))
