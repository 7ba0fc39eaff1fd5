"""research.bench_backtest: the tiled data, the crossover rule, and a smoke run of the whole
harness (a few hundred bars, once each) whose JSON has the DESIGN §10 shape and whose systems
all traded the same thing. No timing is checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from research import bench_backtest as bench
from research.data import shared_bars, tiled_bars, validate_bars

ROOT = Path(__file__).resolve().parents[1]


def test_tiled_bars_are_valid_positive_and_repeat_the_real_shape() -> None:
    real = shared_bars("ORCL")
    bars = tiled_bars(real, 3 * len(real) + 17)
    validate_bars(bars, name="tiled")
    assert len(bars) == 3 * len(real) + 17
    assert (bars[["open", "high", "low", "close"]].to_numpy() > 0).all()
    # No drift: every copy repeats the first one.
    closes = bars["close"].to_numpy()
    n = len(real)
    np.testing.assert_allclose(closes[n : 2 * n], closes[:n], rtol=1e-6)
    # Within a copy the moves are ORCL's, less one constant (its mean daily return).
    moves = np.diff(np.log(closes[:n])) - np.diff(np.log(real["close"].to_numpy()))
    np.testing.assert_allclose(moves, moves[0], atol=1e-5)
    # Open, high and low keep each real bar's ratio to its close.
    ratio = bars["high"].to_numpy()[:n] / closes[:n]
    np.testing.assert_allclose(ratio, (real["high"] / real["close"]).to_numpy(), rtol=1e-5)


def test_cross_signals_follow_the_last_nonzero_difference() -> None:
    fast = np.array([np.nan, 1.0, 2.0, 2.0, 1.0, 1.0, 3.0, 0.5])
    slow = np.array([np.nan, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    up, down = bench.cross_signals(fast, slow)
    # fast - slow: -1, 0, +1, 0, -1, +1, -1.5. The tie on bar 2 neither makes nor hides the
    # cross on bar 3 (judged against bar 1); the tie on bar 4 does not hide the one on bar 5.
    assert np.flatnonzero(up).tolist() == [3, 6]
    assert np.flatnonzero(down).tolist() == [5, 7]
    # One column per parameter set gives the same answer per column.
    up2, down2 = bench.cross_signals(np.c_[fast, fast], np.c_[slow, slow])
    assert (up2 == up[:, None]).all()
    assert (down2 == down[:, None]).all()


def test_reference_matches_the_engine_on_real_bars() -> None:
    bars = tiled_bars(shared_bars("ORCL"), 3000)
    run = bench.py_rt(bars, "case", 1, 1)
    assert run.outcome is not None
    expected = bench.reference(bars, "open")
    assert run.outcome.closed_trades == expected.closed_trades
    assert run.outcome.final_equity == pytest.approx(expected.final_equity, abs=0.01)


def test_smoke_run_writes_the_design_json_and_systems_agree(tmp_path: Path) -> None:
    out = tmp_path / "backtest.json"
    done = subprocess.run(
        [sys.executable, "-m", "research.bench_backtest", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "DESIGN §9 targets" in done.stdout
    document = json.loads(out.read_text())
    assert document["name"] == "backtest"
    assert set(document["host"]) == {"cpu", "cores"}
    assert isinstance(document["when"], str)
    assert document["when"].endswith("Z")
    results = document["results"]
    assert results
    for entry in results:
        assert {"system", "case", "metric", "value"} <= set(entry)
        assert entry["metric"].endswith(("_per_s", "_per_h", "_ms", "_count", "_usd"))
        assert isinstance(entry["value"], float)
    systems = {e["system"] for e in results}
    assert {"py_rt", "py_rt-python", "backtrader", "backtesting.py", "vectorbt"} <= systems
    skipped = {e["system"] for e in document["not_run"]}
    # NautilusTrader lives in a venv that only `make bench-backtest` creates: run or said so.
    assert "nautilus_trader" in systems | skipped
    assert all(e["reason"] for e in document["not_run"])
    # Every system shares a case with py_rt, where the ratios are taken.
    ours = {e["case"] for e in results if e["system"] == "py_rt"}
    for system in systems:
        assert ours & {e["case"] for e in results if e["system"] == system}, system
    # Same strategy, same bars: the same number of round trips in every system of a case.
    trades: dict[str, set[float]] = {}
    for e in results:
        if e["metric"] == "closed_trades_count":
            trades.setdefault(e["case"], set()).add(e["value"])
    assert trades
    assert all(len(counts) == 1 for counts in trades.values()), trades
    sweep = [e for e in results if e["metric"] == "backtests_per_h"]
    assert {e["system"] for e in sweep} == {"py_rt", "vectorbt", "backtesting.py"}
    assert len({e["case"] for e in sweep}) == 1
