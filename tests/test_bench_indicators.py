"""research.bench_indicators: the numpy reference it times, and a small run of the whole harness
whose JSON has the DESIGN §10 shape and whose systems agree with TA-Lib. No timing is checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import talib

from research import bench_indicators as bench

ROOT = Path(__file__).resolve().parents[1]


def test_numpy_sma_is_talibs_up_to_rounding() -> None:
    values = np.random.default_rng(7).normal(100, 5, 5000)
    ours, theirs = bench.numpy_sma(values, 200), talib.SMA(values, 200)
    assert np.isnan(ours[:199]).all()
    np.testing.assert_allclose(ours[199:], theirs[199:], rtol=1e-10)


def test_agreement_reports_the_worst_relative_difference_and_nan_mismatch() -> None:
    reference = np.array([np.nan, 1.0, 2.0, 4.0])
    worst, nans = bench.agreement(np.array([np.nan, 1.0, 2.2, 4.0]), reference)
    assert worst == 0.1 or abs(worst - 0.1) < 1e-12
    assert nans
    assert not bench.agreement(np.array([0.0, 1.0, 2.0, 4.0]), reference)[1]


def test_a_small_run_writes_the_design_json_with_talib_equal_values(tmp_path: Path) -> None:
    out = tmp_path / "indicators.json"
    args = ["--points", "3000", "--repeat", "1", "--calls", "200", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "research.bench_indicators", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "DESIGN §9 target" in done.stdout
    document = json.loads(out.read_text())
    assert document["name"] == "indicators"
    assert set(document["host"]) == {"cpu", "cores"}
    assert document["when"].endswith("Z")
    results = document["results"]
    for entry in results:
        assert {"system", "case", "metric", "value"} <= set(entry)
        assert isinstance(entry["value"], float)
    # py_rt's indicators equal TA-Lib's (issue 8: within 1e-9 relative).
    diffs = [
        r["value"]
        for r in results
        if r["system"] == "py_rt" and r["metric"] == "max_rel_diff_vs_talib"
    ]
    assert len(diffs) == 7
    assert max(diffs) < 1e-9
    calls = {r["system"] for r in results if r["case"].startswith("call:")}
    assert {"py_rt (PyO3)", "Python", "CPython builtin", "TA-Lib (Cython)"} <= calls
