"""The quick benchmark run works end to end: every results file, the page and the plots.

Benchmarks report numbers and never fail a build on them, so this checks that each number
was measured (not null, same results across contenders), never how large it is.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="the Redis-hit contender needs redis-server")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "all.py"), "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


def load(out, name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


def test_compile_side_measures_every_contender(quick_run):
    report = load(quick_run, "compile.json")
    assert {"mlp", "rnn", "bayes"} <= set(report["workloads"])
    for name, row in report["workloads"].items():
        for contender in ("stock_warm", "fixed_warm", "fncache_disk", "fncache_memory",
                          "fncache_redis"):
            assert row[contender]["median"] is not None, (name, contender, row[contender])
        assert row["fncache_disk"]["gcc"] == 0, name  # a hit runs no C compiler
        assert row["same_result"], (name, row["results"])
    pad = report["padded_compiledir"]
    assert pad["modules_padded"] > pad["modules_normal"]
    assert pad["hit_padded"]["median"] is not None
    assert report["overhead"]["ratio"] > 0


def test_scaling_memo_and_hashing_results(quick_run):
    keys = load(quick_run, "keys.json")
    assert [r["nodes"] for r in keys["rows"]] == sorted(r["nodes"] for r in keys["rows"])
    for row in keys["rows"]:
        assert row["nodes_per_second"] > 0 and row["disk_hit"]["median"] is not None
    hashing = load(quick_run, "hashing.json")
    assert all(r["fncache_gbps"] > 0 and r["joblib_gbps"] > 0 for r in hashing["results"])
    memo = load(quick_run, "memo.json")
    assert all(c["hit_median_s"] > 0 for r in memo["results"] for c in r["contenders"].values())
    first = load(quick_run, "memo_first.json")
    assert [r["output"] for r in first["results"]] == ["1 kB", "20 MB"]
    for row in first["results"]:
        assert len(row["contenders"]) == 4
        for stats in row["contenders"].values():
            assert stats["first_call"]["median"] > 0 and stats["repeated_hit"]["median"] > 0


def test_page_and_plots(quick_run):
    page = (quick_run / "BENCHMARKS.md").read_text()
    for heading in ("## Aims", "## Compile cache", "## Scaling with graph size", "## Result memo",
                    "## Result memo: a fresh process's first call",
                    "## Hashing for the result memo"):
        assert heading in page
    assert "not measured" not in page  # the quick run measures every aim, small
    for name in ("headline", "scaling", "memo", "hashing"):
        png = quick_run / "plots" / (name + ".png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "plots/%s.png" % name in page
