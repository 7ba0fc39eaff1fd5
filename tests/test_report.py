"""research.report: every file written, self-contained and escaped HTML, real PNGs, strict JSON."""

from __future__ import annotations

import html
import json
import math
import struct
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.offline
import pytest

from research.metrics import TRADE_COLUMNS, Metrics, compute_metrics
from research.report import MAX_TRADE_ROWS, ReportFiles, format_metric, write_report

TITLE = "SMA cross <script>alert('x')</script> & $5 to $10"
SYMBOL = "<img src=x onerror=alert(1)>"
N_TRADES = 600
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def synthetic_equity() -> pd.Series:
    rng = np.random.default_rng(7)
    index = pd.date_range("2022-03-01", periods=320, freq="B", tz="UTC")
    values = 10_000 * np.cumprod(1 + rng.normal(0.0004, 0.01, len(index)))
    values[0], values[-1] = 10_000.0, 11_000.0
    return pd.Series(values, index=index)


def synthetic_trades(equity: pd.Series, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    entry = equity.index[rng.integers(0, len(equity) - 5, n)]
    pnl = rng.normal(2.0, 20.0, n)
    return pd.DataFrame(
        {
            "symbol": [SYMBOL if i % 2 else "AAPL" for i in range(n)],
            "side": ["long" if i % 3 else "short" for i in range(n)],
            "qty": np.full(n, 10.0),
            "entry_ts": entry,
            "exit_ts": entry + pd.Timedelta(days=2),
            "entry_price": np.full(n, 100.0),
            "exit_price": 100.0 + pnl / 10,
            "pnl": pnl,
            "fees": np.full(n, 0.5),
            "return_pct": pnl / 1000,
            "bars_held": np.full(n, 2),
        }
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportFiles, Metrics, Path]:
    equity = synthetic_equity()
    trades = synthetic_trades(equity, N_TRADES)
    metrics = compute_metrics(equity, trades)
    out = tmp_path_factory.mktemp("report") / "nested" / "out"
    benchmark = pd.Series(np.linspace(400.0, 450.0, len(equity)), equity.index, name="SPY")
    files = write_report(equity, trades, metrics, out, title=TITLE, benchmark=benchmark)
    return files, metrics, out


def read_html(files: ReportFiles) -> str:
    return files.html.read_text(encoding="utf-8")


def test_every_file_written_and_nothing_else(report: tuple[ReportFiles, Metrics, Path]) -> None:
    files, _, out = report
    paths = [getattr(files, f.name) for f in fields(files)]
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths)
    # No temporary file left behind by the atomic writes.
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)


def test_html_shows_metric_values(report: tuple[ReportFiles, Metrics, Path]) -> None:
    files, metrics, _ = report
    page = read_html(files)
    # Known by construction: 10,000 -> 11,000 with 600 trades paying 0.50 each.
    for text in ("10.00%", "11,000.00", "10,000.00", "<td>600</td>", "300.00"):
        assert text in page, text
    for f in fields(metrics):
        shown = html.escape(format_metric(f.name, getattr(metrics, f.name)))
        assert f"<td>{shown}</td>" in page, f.name


def test_html_is_self_contained(report: tuple[ReportFiles, Metrics, Path]) -> None:
    page = read_html(report[0])
    assert '<script src="http' not in page
    assert "<script src=" not in page
    assert "<link" not in page
    bundle = plotly.offline.get_plotlyjs()
    assert page.count(bundle[:200]) == 1
    assert page.count("Plotly.newPlot(") == 3
    assert '"name":"SPY"' in page


def test_user_strings_are_escaped(report: tuple[ReportFiles, Metrics, Path]) -> None:
    page = read_html(report[0])
    assert "<script>alert" not in page
    assert SYMBOL not in page
    assert f"<title>{html.escape(TITLE)}</title>" in page
    assert f"<h1>{html.escape(TITLE)}</h1>" in page
    assert f"<td>{html.escape(SYMBOL)}</td>" in page


def test_trades_table_truncated_with_note(report: tuple[ReportFiles, Metrics, Path]) -> None:
    files, _, _ = report
    page = read_html(files)
    assert f"Showing the first {MAX_TRADE_ROWS} of {N_TRADES} trades" in page
    assert page.count("<td>long</td>") + page.count("<td>short</td>") == MAX_TRADE_ROWS
    csv = pd.read_csv(files.trades_csv)
    assert len(csv) == N_TRADES
    assert list(csv.columns) == list(TRADE_COLUMNS)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), path
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_pngs(report: tuple[ReportFiles, Metrics, Path]) -> None:
    files, _, _ = report
    for path in (files.equity_png, files.drawdown_png, files.monthly_png):
        assert 5_000 < path.stat().st_size < 2_000_000, path
        width, height = png_size(path)
        assert width == 1000, path
        assert 100 < height < 2000, path
    assert png_size(files.equity_png) == (1000, 450)


def test_metrics_json_round_trips(report: tuple[ReportFiles, Metrics, Path]) -> None:
    files, metrics, _ = report
    text = files.metrics_json.read_text()
    assert "NaN" not in text
    assert "Infinity" not in text
    loaded = json.loads(text)
    expected = metrics.as_dict()
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float) and not math.isfinite(value):
            assert loaded[key] is None, key
        else:
            assert loaded[key] == value, key
    assert loaded["final_equity"] == 11_000.0
    assert loaded["n_trades"] == N_TRADES
    assert math.isnan(metrics.exposure_time)
    assert loaded["exposure_time"] is None
    assert pd.Timestamp(loaded["start"]) == metrics.start
    assert pd.Timedelta(loaded["max_drawdown_duration"]) == metrics.max_drawdown_duration


def test_empty_trades_report(tmp_path: Path) -> None:
    equity = synthetic_equity().iloc[:30]
    trades = pd.DataFrame({c: [] for c in TRADE_COLUMNS})
    metrics = compute_metrics(equity, trades)
    files = write_report(equity, trades, metrics, tmp_path, title="empty")
    page = read_html(files)
    assert "No trades." in page
    assert "<td>n/a</td>" in page
    assert files.trades_csv.read_text().strip() == ",".join(TRADE_COLUMNS)
    assert json.loads(files.metrics_json.read_text())["win_rate"] is None
    for path in (files.equity_png, files.drawdown_png, files.monthly_png):
        png_size(path)
    # Writing again replaces the files in place.
    assert write_report(equity, trades, metrics, tmp_path, title="again") == files
    assert "<h1>again</h1>" in read_html(files)


def test_format_metric() -> None:
    assert format_metric("total_return", 0.1234) == "12.34%"
    assert format_metric("sharpe", 1.23456) == "1.235"
    assert format_metric("profit_factor", math.inf) == "inf"
    assert format_metric("win_rate", math.nan) == "n/a"
    assert format_metric("avg_trade_duration", pd.NaT) == "n/a"
    assert format_metric("final_equity", 1234567.891) == "1,234,567.89"


def test_bad_benchmark_rejected(tmp_path: Path) -> None:
    equity = synthetic_equity().iloc[:10]
    trades = pd.DataFrame({c: [] for c in TRADE_COLUMNS})
    metrics = compute_metrics(equity, trades)
    bad = pd.Series(np.nan, index=equity.index)
    with pytest.raises(ValueError, match="benchmark"):
        write_report(equity, trades, metrics, tmp_path, title="t", benchmark=bad)
