"""The fncache command, driven in subprocesses against a cache directory filled by
real compiles: its numbers must match what happened."""
import json
import os
import re
import shutil
import time

import diskcache
import pytest

from helpers import run_cli, run_python

PROGRAM = '''
import sys
import numpy as np, theano.tensor as T
def build(c):
    x = T.dvector("x"); w = theano.shared(np.ones(3), "w")
    return fncache.function([x], (x * w + c).sum(), updates=[(w, w * 0.9)], name="affine")
f = build(float(sys.argv[1]))
result["affine"] = float(f(np.ones(3)))
x = T.dvector("x")
g = fncache.function([x], x * 2, name="double")
result["double"] = g(np.ones(3)).tolist()
result["stats"] = fncache.stats(session_only=True)["compiled"]
'''
PARTS = ["environment", "mode", "rewrites", "options", "inputs", "shared", "outputs", "constants",
         "graph", "c_code"]


def cli(directory, *args, **kwargs):
    """Run ``python -m fncache --dir DIRECTORY ARGS...``; assert its exit status."""
    return run_cli(*args, directory=directory, **kwargs)


def cli_json(directory, *args, **kwargs):
    return json.loads(cli(directory, *args, "--json", **kwargs).stdout)


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A cache after three processes: compile affine(c=0.5) and double; load both;
    load double and miss on affine(c=0.25) (same name and line, other constant)."""
    directory = tmp_path_factory.mktemp("filled") / "fncache"
    env = {"FNCACHE_DIR": str(directory), "FNCACHE_MISS_LOG": "1"}
    runs = [run_python(PROGRAM, env=env, args=(c,))[0] for c in ("0.5", "0.5", "0.25")]
    assert [r["stats"]["compiles"] for r in runs] == [2, 0, 1]
    assert [r["stats"]["hits"] for r in runs] == [0, 2, 1]
    entries = {(e["name"], e["hits"]): e["key"] for e in cli_json(directory, "ls")}
    return directory, {"double": entries["double", 2], "affine": entries["affine", 1],
                       "affine2": entries["affine", 0]}


@pytest.fixture
def copy(filled, tmp_path):
    """A private copy of the filled cache, for commands that change it."""
    directory = tmp_path / "fncache"
    shutil.copytree(filled[0], directory)
    return directory, filled[1]


def test_stats_json_counts_what_happened(filled):
    directory, _ = filled
    data = cli_json(directory, "stats")
    assert data["compiled"]["hits"] == 3 and data["compiled"]["compiles"] == 3
    assert data["tiers"]["disk"]["hits"] == 3 and data["tiers"]["disk"]["entries"] == 3
    assert data["compiled"]["compile_seconds"] > 0 and data["compiled"]["seconds_saved"] > 0
    assert data["total"]["entries_rejected"] == 0 and data["memo"]["seconds_saved"] == 0
    text = cli(directory, "stats").stdout
    assert "compiled functions  3 hits, 3 compiles" in text
    assert "entries rejected    0" in text and "memoized results" in text


def test_ls_lists_each_entry_with_hits_and_place(filled):
    directory, keys = filled
    listed = cli_json(directory, "ls", "--sort", "hits")
    assert [(e["name"], e["hits"]) for e in listed] == [("double", 2), ("affine", 1), ("affine", 0)]
    assert {e["kind"] for e in listed} == {"compiled"}
    assert all(e["where"].startswith("__main__:") and e["size"] > 0 for e in listed)
    assert listed[0]["last_used"] >= listed[0]["created"] and listed[2]["last_used"] is None
    assert listed[0]["saved_seconds"] == pytest.approx(2 * listed[0]["saves_seconds"])
    text = cli(directory, "ls").stdout.splitlines()
    assert text[0].split() == ["key", "name", "where", "kind", "backend", "size", "hits", "saves",
                               "created", "last", "used"]
    assert text[-1].startswith("3 entries")


def test_show_gives_parts_and_graph_summary_by_prefix(filled):
    directory, keys = filled
    double = cli_json(directory, "show", keys["double"][:10])
    assert double["key"] == keys["double"] and list(double["parts"]) == PARTS
    assert double["graph"] == {"nodes": 1, "ops": {"Elemwise{Mul}": 1}, "inputs": 1,
                               "outputs": 1, "shared": 0, "updates": 0}
    affine = cli_json(directory, "show", keys["affine"][:10])["graph"]
    assert [affine[k] for k in ("inputs", "outputs", "shared", "updates")] == [1, 1, 1, 1]
    assert "graph: 1 nodes" in cli(directory, "show", keys["double"][:10]).stdout
    unknown = cli(directory, "show", "ffffffffzz", check=1)
    assert "no entry" in unknown.stderr and "ffffffffzz" in unknown.stderr


def test_explain_last_miss_and_two_keys(filled):
    directory, keys = filled
    data = cli_json(directory, "explain", "--last-miss")
    assert data["miss"]["key"] == keys["affine2"] and data["previous"]["key"] == keys["affine"]
    assert len(data["differences"]) == 1
    assert data["differences"][0].startswith("constants:")
    assert "0.5 vs" in data["differences"][0] and "0.25" in data["differences"][0]
    pair = cli_json(directory, "explain", keys["affine"][:12], keys["affine2"][:12])
    assert pair["differences"] == data["differences"]
    other = cli_json(directory, "explain", keys["affine"][:12], keys["double"][:12])
    assert "graph" in {line.split(":")[0] for line in other["differences"]}
    assert "Usage" in cli(directory, "explain", keys["affine"][:12], check=2).stderr


def test_verify_finds_a_flipped_byte_and_fix_removes_it(copy):
    directory, keys = copy
    assert cli_json(directory, "verify")["ok"] == 3
    entries = diskcache.Cache(str(directory / "entries"))
    data = bytearray(entries[keys["double"]])
    data[len(data) // 2] ^= 0x01
    entries[keys["double"]] = bytes(data)
    entries.close()
    report = json.loads(cli(directory, "verify", "--json", check=1).stdout)
    assert report["checked"] == 3 and report["ok"] == 2
    assert [(d["key"], d["reason"]) for d in report["damaged"]] == [(keys["double"], "corrupt")]
    assert "1 damaged" in cli(directory, "verify", check=1).stdout
    assert json.loads(cli(directory, "verify", "--fix", "--json", check=1).stdout)["removed"] == 1
    clean = cli_json(directory, "verify")
    assert clean == {"checked": 2, "ok": 2, "blobs": clean["blobs"], "damaged": [],
                     "other_version": 0, "stale_records": 0, "removed": 0,
                     "orphan_files_removed": 0} and clean["blobs"] > 0
    # a compiled module carried beside the entries is checked against its digest
    entries = diskcache.Cache(str(directory / "entries"))
    module_key = next(k for k in entries.iterkeys() if k.startswith("cmodule:"))
    data = bytearray(entries[module_key])
    data[100] ^= 0x01
    entries[module_key] = bytes(data)
    entries.close()
    report = json.loads(cli(directory, "verify", "--json", check=1).stdout)
    assert [(d["key"], d["reason"]) for d in report["damaged"]] == [(module_key, "corrupt")]
    assert report["ok"] == 2
    assert {e["key"] for e in cli_json(directory, "ls")} == {keys["affine"], keys["affine2"]}


def test_prune_by_size_then_by_age(copy):
    directory, keys = copy
    listed = {e["key"]: e for e in cli_json(directory, "ls")}
    total = sum(e["size"] for e in listed.values())
    # least recently used first: affine (last used in the second run) goes
    pruned = cli_json(directory, "prune", "--max-size", str(total - 1))
    assert [e["key"] for e in pruned["removed"]] == [keys["affine"]]
    assert pruned["bytes"] == total - listed[keys["affine"]]["size"]
    # age the records as if days had passed
    index = diskcache.Cache(str(directory / "index"))
    now = time.time()
    for key, changes in ((keys["affine2"], {"created": now - 3 * 86400}),
                         (keys["double"], {"last_used": now - 2 * 86400})):
        index["entry:" + key] = json.dumps(dict(json.loads(index["entry:" + key]), **changes))
    index.close()
    assert [e["key"] for e in cli_json(directory, "prune", "--older-than", "2d")["removed"]] \
        == [keys["affine2"]]
    assert cli_json(directory, "prune", "--unused-for", "3d")["removed"] == []
    assert [e["key"] for e in cli_json(directory, "prune", "--unused-for", "1d")["removed"]] \
        == [keys["double"]]
    assert cli_json(directory, "ls") == []


def test_clear_asks_first_and_stats_reset(copy):
    directory, _ = copy
    cli(directory, "clear", check=1, input="n\n")
    assert len(cli_json(directory, "ls")) == 3
    assert "removed 3 entries" in cli(directory, "clear", "--yes").stdout
    assert cli_json(directory, "ls") == []
    assert cli_json(directory, "stats")["compiled"]["hits"] == 3  # statistics are kept
    reset = cli_json(directory, "stats", "--reset")
    assert reset["compiled"]["hits"] == 0 and reset["since"] is not None


def test_export_import_round_trip_serves_hits(filled, tmp_path):
    directory, keys = filled
    bundle = tmp_path / "double.tar"
    assert cli_json(directory, "export", str(bundle), "--name", "double")["entries"] == 1
    clean = tmp_path / "clean"
    refused = json.loads(cli(clean, "import", str(bundle), "--json", check=1).stdout)
    assert refused["imported"] == 0 and [r["reason"] for r in refused["rejected"]] == ["unsigned"]
    assert cli_json(clean, "import", str(bundle), "--trust")["imported"] == 1  # we made it
    assert [e["key"] for e in cli_json(clean, "ls")] == [keys["double"]]
    result, counts, _ = run_python('''
import numpy as np, theano.tensor as T
x = T.dvector("x")
g = fncache.function([x], x * 2, name="double")
result["double"] = g(np.ones(3)).tolist()
result["stats"] = fncache.stats(session_only=True)["compiled"]
''', env={"FNCACHE_DIR": str(clean), "THEANO_FLAGS": ",".join(  # and a fresh compiledir
        [f for f in os.environ["THEANO_FLAGS"].split(",") if not f.startswith("base_compiledir=")]
        + ["base_compiledir=%s" % (tmp_path / "empty-compiledir")])})
    assert counts == {"gcc": 0, "optimize": 0}  # the bundle carried the compiled modules
    assert result["stats"]["hits"] == 1 and result["double"] == [2.0, 2.0, 2.0]
    # everything, as a zip; another team's secret rejects every entry
    everything = tmp_path / "all.zip"
    assert cli_json(directory, "export", str(everything))["entries"] == 3
    assert cli_json(directory, "export", str(tmp_path / "old.tgz"),
                    "--older-than", "1d")["entries"] == 0
    other = tmp_path / "other"
    rejected = cli(other, "import", str(everything), "--json", check=1,
                   env={"FNCACHE_SECRET": "another team"})
    result = json.loads(rejected.stdout)
    assert result["imported"] == 0
    assert {r["reason"] for r in result["rejected"]} == {"unsigned"}  # it has no secret
    assert cli_json(other, "ls") == []
    assert "imported 2 entries, 1 already present" in cli(clean, "import", str(everything),
                                                          "--trust").stdout


TARGETS = '''
import numpy as np, theano, theano.tensor as T
def square():
    x = T.dvector("x")
    theano.function([x], x ** 2, name="square")
def cube():
    x = T.dvector("x")
    theano.function([x], x ** 3, name="cube")
def broken():
    raise RuntimeError("cannot build this one")
'''


def test_warm_compiles_targets_ahead_of_time(tmp_path):
    (tmp_path / "targets.py").write_text(TARGETS)
    directory = tmp_path / "fncache"
    first = cli_json(directory, "warm", "targets:square", "targets:cube", "-j", "2",
                     cwd=tmp_path)
    assert [(r["target"], r["ok"], r["compiles"], r["hits"]) for r in first] \
        == [("targets:square", True, 1, 0), ("targets:cube", True, 1, 0)]
    (tmp_path / "targets.txt").write_text("# warm these\ntargets:square\ntargets:cube\n"
                                          "targets:broken  # fails\n")
    second = cli(directory, "warm", "--file", "targets.txt", "--json", cwd=tmp_path, check=1)
    results = json.loads(second.stdout)
    assert [(r["ok"], r["compiles"], r["hits"]) for r in results] \
        == [(True, 0, 1), (True, 0, 1), (False, 0, 0)]
    assert "cannot build this one" in results[2]["error"]
    assert "MODULE:CALLABLE" in cli(directory, "warm", "nocolon", check=1).stderr


def test_profile_reports_phases_per_function(cache_dir, tmp_path):
    result, _, _ = run_python('''
import io
import numpy as np, theano.tensor as T
x = T.dvector("x")
with fncache.profile() as prof:
    f = fncache.function([x], (x * 3).sum(), name="triple", profile=True)
    f(np.ones(2)); f(np.ones(2))
    fncache.function([x], x * 4, name="unprofiled", profile=False)  # as Keras asks: no profiler
f(np.ones(2))  # outside the context: not counted
row, _ = prof.as_list()
result["row"] = row
result["theano"] = len(prof.theano_profiles())
buf = io.StringIO(); prof.report(file=buf)
result["report"] = buf.getvalue()
''', env={"FNCACHE_DIR": str(cache_dir)})
    row = result["row"]
    assert row["function"] == "triple"
    assert (row["key_count"], row["load_count"], row["compile_count"], row["call_count"]) \
        == (1, 0, 1, 2)
    assert row["compile_seconds"] > 0 and result["theano"] == 1
    assert "Theano profiler, triple:" in result["report"]
    assert "unprofiled:" not in result["report"] and "summary failed" not in result["report"]
    script = tmp_path / "script.py"
    script.write_text("import numpy as np, theano, theano.tensor as T\n"
                      "x = T.dvector('x')\n"
                      "f = theano.function([x], (x * 3).sum(), name='triple')\n"
                      "f(np.ones(2)); f(np.ones(2)); f(np.ones(2))\n")
    proc = cli(cache_dir, "run", "--profile", "--summary", str(script))
    lines = proc.stderr.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("function"))
    assert lines[header].split() == ["function", "key", "load", "compile", "call", "calls"]
    row = re.split(r"\s{2,}", lines[header + 1].strip())
    assert row[0] == "triple" and row[2] == "-" and row[3] != "-" and row[5] == "3"
    assert "compiled 1 functions, 0 loaded" in proc.stderr


def test_bad_arguments_missing_directory_and_empty_miss_log(tmp_path):
    missing = tmp_path / "nowhere"
    proc = cli(missing, "ls", check=1)
    assert "no fncache directory at %s" % missing in proc.stderr
    assert not missing.exists()
    proc = cli(missing, "prune", "--max-size", "5XB", check=2)
    assert "'5XB' is not a size" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(empty, "prune", check=2).stderr.strip().endswith(
        "prune needs --max-size, --older-than or --unused-for")
    assert cli(empty, "ls").stdout.strip() == "no entries"
    assert "miss log" in cli(empty, "explain", "--last-miss", check=1).stderr
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a bundle")
    assert "is not a readable bundle" in cli(empty, "import", str(junk), check=1).stderr


# ---------------------------------------------------------------- forged and foreign bundles
class Planted:
    """Unpickling this creates a directory: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


SQUARE = '''
import theano.tensor as T
x = T.dvector("x")
result["key"] = fncache.graph_key([x], (x ** 2).sum() + 3)
f = fncache.function([x], (x ** 2).sum() + 3)
result["value"] = float(f([1.0, 2.0]))
result["stats"] = fncache.stats(session_only=True)["compiled"]
'''


def _bundle(path, entries, blobs=()):
    """A bundle written by hand, as someone other than fncache could: [(key, bytes)]."""
    import hashlib
    import io
    import tarfile
    manifest = {"format": "fncache-bundle/1", "fncache": "0", "created": 0, "source": "?",
                "entries": [], "blobs": []}
    with tarfile.open(path, "w") as tar:
        def add(name, data, size=None):
            info = tarfile.TarInfo(name)
            info.size = len(data) if size is None else size
            tar.addfile(info, io.BytesIO(data))
        for i, (key, data) in enumerate(entries):
            add("entries/%d.fne" % i, data)
            manifest["entries"].append({"key": key, "file": "entries/%d.fne" % i,
                                        "size": len(data),
                                        "sha256": hashlib.sha256(data).hexdigest(),
                                        "record": {"kind": "compiled", "name": "forged"}})
        for i, (key, data) in enumerate(blobs):
            add("blobs/%d.bin" % i, data)
            manifest["blobs"].append({"key": key, "file": "blobs/%d.bin" % i})
        add("manifest.json", json.dumps(manifest).encode())


def test_a_forged_bundle_is_refused_without_trust_and_its_payload_never_runs(tmp_path):
    """Without a secret, an entry sealed with the empty key proves nothing about who made
    it: import refuses it (saying how to accept it), and the next run compiles."""
    import pickle
    from fncache.store import envelope
    directory = tmp_path / "cache"
    env = {"FNCACHE_DIR": str(directory)}
    key = run_python(SQUARE, env=dict(env, FNCACHE_DISABLE="1"))[0]["key"]
    marker = tmp_path / "payload-ran"
    forged = envelope.seal(key, {"kind": "compiled"}, pickle.dumps(Planted(str(marker))))
    _bundle(tmp_path / "forged.tar", [(key, forged)],
            blobs=[("cmodule:" + "0" * 64, b"not a module")])
    proc = cli(directory, "import", str(tmp_path / "forged.tar"), check=1)
    assert "imported 0 entries, 0 already present, 1 rejected" in proc.stdout
    assert "not signed" in proc.stderr and "--trust" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert cli_json(directory, "ls") == []
    result, _, _ = run_python(SQUARE, env=env)
    assert not marker.exists()
    assert result["value"] == 8.0 and result["stats"]["compiles"] == 1
    # verify names an unsigned entry as such once a secret is set
    disk = diskcache.Cache(str(directory / "entries"))
    disk[key] = forged
    disk.close()
    report = cli_json(directory, "verify", check=1, env={"FNCACHE_SECRET": "ours"})
    assert [(d["key"], d["reason"]) for d in report["damaged"]] == [(key, "unsigned")]
    assert not marker.exists()


def test_a_bundle_member_that_declares_too_much_is_refused_before_it_is_read(tmp_path):
    """A tar member whose header claims 8 GiB (and holds 512 bytes) is refused by its
    declared size: nothing of that size is read or allocated."""
    import io
    import tarfile
    path = tmp_path / "huge.tar"
    key = "f" * 64
    manifest = {"format": "fncache-bundle/1", "entries": [
        {"key": key, "file": "entries/0.fne", "size": 8 << 30, "sha256": "0" * 64}]}
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("manifest.json")
        data = json.dumps(manifest).encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("entries/0.fne")
        info.size = 512
        tar.addfile(info, io.BytesIO(bytes(512)))
    raw = bytearray(path.read_bytes())
    at = raw.index(b"entries/0.fne\0")  # the second header: its size field at offset 124
    raw[at + 124:at + 136] = b"%011o\0" % ((8 << 30) - 1)
    raw[at + 148:at + 156] = b" " * 8
    raw[at + 148:at + 155] = b"%06o\0" % sum(raw[at:at + 512])
    path.write_bytes(bytes(raw[:at + 1024]))
    proc = cli(tmp_path / "cache", "import", str(path), "--json", check=1)
    assert "Traceback" not in proc.stderr, proc.stderr
    rejected = json.loads(proc.stdout)["rejected"]
    assert len(rejected) == 1 and "declares" in rejected[0]["message"]


def test_a_bundle_signed_with_another_secret_needs_that_secret(filled, tmp_path):
    """Team A exports with its secret; team B imports with --secret-file A's secret: the
    entries are stored signed with B's secret, and B's runs hit them."""
    directory = tmp_path / "a"
    env_a = {"FNCACHE_DIR": str(directory), "FNCACHE_SECRET": "team a"}
    run_python(SQUARE, env=env_a)
    cli(directory, "export", str(tmp_path / "a.tar"), env=env_a)
    other = tmp_path / "b"
    env_b = {"FNCACHE_DIR": str(other), "FNCACHE_SECRET": "team b"}
    refused = cli(other, "import", str(tmp_path / "a.tar"), check=1, env=env_b)
    assert "other than this cache's" in refused.stderr and "--secret-file" in refused.stderr
    secret_file = tmp_path / "a.secret"
    secret_file.write_text("team a")
    os.chmod(secret_file, 0o600)
    imported = cli(other, "import", str(tmp_path / "a.tar"), "--secret-file", str(secret_file),
                   env=env_b)
    assert "imported 1 entries" in imported.stdout
    result, counts, _ = run_python(SQUARE, env=env_b)
    assert counts["optimize"] == 0 and result["stats"]["hits"] == 1
    assert cli_json(other, "verify", env=env_b)["damaged"] == []


def test_stats_before_the_first_use_is_an_empty_summary(tmp_path):
    missing = tmp_path / "nowhere"
    text = cli(missing, "stats").stdout
    assert "cache directory     %s" % missing in text
    assert "total               0 hits, 0 misses, hit rate -, 0.0 ms saved" in text
    data = cli_json(missing, "stats")
    assert data["total"]["hits"] == 0 and data["tiers"]["disk"]["entries"] == 0
    assert not missing.exists()  # looking creates nothing


def test_run_profile_of_a_program_that_turns_theanos_profiler_off(cache_dir, tmp_path):
    """Keras passes profile=False: no Theano profiler, and the report says nothing of one."""
    script = tmp_path / "script.py"
    script.write_text("import numpy as np, theano, theano.tensor as T\n"
                      "x = T.dvector('x')\n"
                      "f = theano.function([x], (x * 3).sum(), name='triple', profile=False)\n"
                      "f(np.ones(2))\n")
    proc = cli(cache_dir, "run", "--profile", str(script))
    assert "triple" in proc.stderr
    assert "Theano profiler" not in proc.stderr and "failed" not in proc.stderr, proc.stderr


def test_commands_that_read_the_cache_import_no_graph_library_nor_numpy(copy, tmp_path):
    """stats, ls, show, explain KEY KEY, verify, prune, export, import and clear work on
    bytes and records: they start no backend (``python -X importtime`` lists every import)."""
    directory, keys = copy
    bundle = tmp_path / "bundle.tar"
    commands = [["stats"], ["ls"], ["show", keys["double"][:12]],
                ["explain", keys["affine"], keys["affine2"]], ["verify"],
                ["prune", "--max-size", "10GB"], ["export", bundle], ["import", "--trust", bundle],
                ["clear", "--yes"]]
    for args in commands:
        proc = cli(directory, *args, python_args=("-X", "importtime"))
        imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                    if line.startswith("import time:")}
        assert not imported & {"theano", "pytensor", "numpy", "fncache.backends.theano.backend"}, \
            args
        assert "fncache.cli" in imported  # the listing is real
