"""`pyrt backtest run | sweep` as a user runs them: a real subprocess, real data, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pyrt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyrt.cli", "backtest", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_run_prints_metrics_and_writes_the_report(tmp_path: Path) -> None:
    done = pyrt(
        "run",
        "--dataset",
        "GOOG",
        "--fast",
        "10",
        "--slow",
        "20",
        "--qty",
        "20",
        "--commission-bps",
        "20",
        "--report",
        str(tmp_path),
        "--title",
        "GOOG crossover",
    )
    assert done.returncode == 0, done.stderr
    assert "sharpe" in done.stdout
    assert "max_drawdown" in done.stdout
    assert "orders / fills / rejected" in done.stdout
    for name in ("report.html", "equity.png", "drawdown.png", "monthly.png", "metrics.json"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_run_under_live_limits_counts_rejects() -> None:
    done = pyrt(
        "run",
        "--dataset",
        "MSFT",
        "--fast",
        "5",
        "--slow",
        "20",
        "--qty",
        "150",
        "--risk-limits",
        str(ROOT / "config" / "risk_limits.toml"),
    )
    assert done.returncode == 0, done.stderr
    # MSFT's max_order_qty is 100: every entry is refused by the live gate.
    assert "rejected: order_qty" in done.stdout


def test_a_python_strategy_by_module_path() -> None:
    done = pyrt(
        "run",
        "--dataset",
        "AAPL",
        "--strategy",
        "tests.test_backtest_parity:PythonCross",
        "--param",
        "fast=5",
        "--param",
        "slow=20",
    )
    assert done.returncode == 0, done.stderr
    assert "n_trades" in done.stdout


def test_sweep_ranks_the_grid(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    done = pyrt(
        "sweep", "--dataset", "ORCL", "--fast", "5:20:5", "--slow", "30,60", "--csv", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "8 crossovers over 5036 bars" in done.stdout
    assert len(out.read_text().splitlines()) == 9


def test_bad_input_exits_2_with_the_reason(tmp_path: Path) -> None:
    unsorted = tmp_path / "bars.csv"
    unsorted.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2020-01-03,10,11,9,10.5,100\n2020-01-03,10,11,9,10.5,100\n"
    )
    done = pyrt("run", "--data", str(unsorted))
    assert done.returncode == 2
    assert "duplicate" in done.stderr
    done = pyrt("run", "--dataset", "NOPE")
    assert done.returncode == 2
    assert "GOOG" in done.stderr  # the known datasets are listed
    done = pyrt("run", "--dataset", "GOOG", "--strategy", "nonsense")
    assert done.returncode == 2
    assert "sma-cross or package.module:Class" in done.stderr
    done = pyrt("sweep", "--dataset", "GOOG", "--fast", "50", "--slow", "20")
    assert done.returncode == 2
    assert "fast < slow" in done.stderr
