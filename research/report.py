"""Backtest reports: one self-contained HTML page (plotly) plus PNG charts, CSV and JSON.

``write_report`` puts into ``out_dir``:

* ``report.html``: metrics table, equity curve (benchmark overlaid, linear/log toggle),
  drawdown, monthly-returns heatmap and the first :data:`MAX_TRADE_ROWS` trades. plotly.js is
  embedded once, inline, so the page opens offline.
* ``equity.png``, ``drawdown.png``, ``monthly.png``: the same charts drawn by matplotlib's Agg
  renderer (plotly's own PNG export needs kaleido and a browser).
* ``trades.csv``: every trade.
* ``metrics.json``: :meth:`Metrics.as_dict`, as strict JSON (RFC 8259 has no NaN or
  Infinity, so non-finite numbers are written as ``null``).

Each file is written to a temporary name in ``out_dir`` and renamed into place, so a reader
never sees half a file; the HTML is written last.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from research.metrics import FloatArray, Metrics, drawdown, monthly_returns, validate_equity

MAX_TRADE_ROWS = 500
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PNG_DPI = 100


@dataclass(frozen=True)
class ReportFiles:
    """Paths of the files written by :func:`write_report`."""

    html: Path
    equity_png: Path
    drawdown_png: Path
    monthly_png: Path
    trades_csv: Path
    metrics_json: Path


def _pct(v: float) -> str:
    return f"{v:.2%}"


def _money(v: float) -> str:
    return f"{v:,.2f}"


def _ratio(v: float) -> str:
    return f"{v:.3f}"


def _plain(v: Any) -> str:  # noqa: ANN401 - counts, timestamps and durations alike
    return str(v)


# Every Metrics field with its label and format; a field missing here fails the report loudly.
METRIC_FORMATS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "start": ("Start", _plain),
    "end": ("End", _plain),
    "duration": ("Duration", _plain),
    "n_bars": ("Bars", _plain),
    "periods_per_year": ("Bars per year", lambda v: f"{v:g}"),
    "risk_free_rate": ("Risk-free rate", _pct),
    "initial_equity": ("Initial equity", _money),
    "final_equity": ("Final equity", _money),
    "total_return": ("Total return", _pct),
    "annual_return": ("Annual return (CAGR)", _pct),
    "annual_volatility": ("Annual volatility", _pct),
    "sharpe": ("Sharpe ratio", _ratio),
    "sortino": ("Sortino ratio", _ratio),
    "max_drawdown": ("Max drawdown", _pct),
    "max_drawdown_duration": ("Max drawdown duration", _plain),
    "calmar": ("Calmar ratio", _ratio),
    "var_95": ("VaR 95% (1 bar)", _pct),
    "cvar_95": ("CVaR 95% (1 bar)", _pct),
    "exposure_time": ("Exposure time", _pct),
    "n_trades": ("Trades", _plain),
    "win_rate": ("Win rate", _pct),
    "profit_factor": ("Profit factor", _ratio),
    "avg_trade_return": ("Avg trade return", _pct),
    "best_trade": ("Best trade", _pct),
    "worst_trade": ("Worst trade", _pct),
    "avg_trade_duration": ("Avg trade duration", _plain),
    "expectancy": ("Expectancy (per trade)", _money),
    "total_fees": ("Total fees", _money),
}


def format_metric(name: str, value: Any) -> str:  # noqa: ANN401 - Metrics fields vary
    """The text shown for one metric: ``n/a`` for NaN and NaT, ``inf`` for infinities."""
    if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return METRIC_FORMATS[name][1](value)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; a report is meant to be read by others.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _naive_utc(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    # Naive UTC wall time is drawn as is by both libraries, matching the axes' "UTC" label
    # whatever the viewer's or matplotlib's configured time zone.
    return index.tz_convert("UTC").tz_localize(None)


def _rebased(benchmark: pd.Series, initial: float) -> pd.Series:
    values = validate_equity(benchmark, "benchmark")
    return pd.Series(values / values[0] * initial, index=benchmark.index)


def _mpl_text(text: str) -> str:
    # matplotlib reads text between two "$" as mathtext, and a title like "$5 to $10" would
    # render as math or fail to parse at draw time.
    return text.replace("$", r"\$")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI)
    return buf.getvalue()


def _equity_png(equity: pd.Series, bench: pd.Series | None, bench_name: str, title: str) -> bytes:
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(_naive_utc(equity.index), equity.to_numpy(), label="strategy", lw=1.2)
    if bench is not None:
        ax.plot(
            _naive_utc(bench.index),
            bench.to_numpy(),
            label=_mpl_text(bench_name),
            lw=1.0,
            alpha=0.8,
        )
    ax.set_title(f"{_mpl_text(title)}: equity", loc="left")
    ax.set_ylabel(r"equity (\$)")
    ax.set_xlabel("UTC")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _png(fig)


def _drawdown_png(dd: pd.Series, title: str) -> bytes:
    fig = Figure(figsize=(10, 3), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(_naive_utc(dd.index), dd.to_numpy() * 100.0, 0.0, color="tab:red", alpha=0.4)
    ax.set_title(f"{_mpl_text(title)}: drawdown", loc="left")
    ax.set_ylabel("drawdown (%)")
    ax.set_xlabel("UTC")
    ax.grid(alpha=0.3)
    return _png(fig)


def _heat_limit(z: FloatArray) -> float:
    finite = np.abs(z[np.isfinite(z)])
    # A symmetric scale centres the colours on 0; an all-zero table still needs a range.
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _monthly_png(monthly: pd.DataFrame, title: str) -> bytes:
    z = monthly.to_numpy(dtype=np.float64) * 100.0
    fig = Figure(figsize=(10, 1.2 + 0.35 * len(monthly)), layout="constrained")
    ax = fig.subplots()
    lim = _heat_limit(z)
    image = ax.imshow(
        np.ma.masked_invalid(z),
        cmap="RdYlGn",
        norm=TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim),
        aspect="auto",
    )
    for (row, col), value in np.ndenumerate(z):
        if np.isfinite(value):
            ax.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(12), MONTHS)
    ax.set_yticks(range(len(monthly)), [str(y) for y in monthly.index])
    ax.set_title(f"{_mpl_text(title)}: monthly returns (%)", loc="left")
    fig.colorbar(image, ax=ax, label="%")
    return _png(fig)


def _plotly_div(fig: go.Figure) -> str:
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            config={"displaylogo": False, "responsive": True},
        )
    )


def _equity_div(equity: pd.Series, bench: pd.Series | None, bench_name: str) -> str:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=_naive_utc(equity.index), y=equity.to_numpy(), name="strategy"))
    if bench is not None:
        fig.add_trace(go.Scatter(x=_naive_utc(bench.index), y=bench.to_numpy(), name=bench_name))
    scale = [
        {"label": kind, "method": "relayout", "args": [{"yaxis.type": kind}]}
        for kind in ("linear", "log")
    ]
    fig.update_layout(
        title="Equity",
        height=450,
        xaxis_title="UTC",
        yaxis_title="equity ($)",
        updatemenus=[
            {"type": "buttons", "direction": "right", "x": 1, "y": 1.15, "buttons": scale}
        ],
    )
    return _plotly_div(fig)


def _drawdown_div(dd: pd.Series) -> str:
    fig = go.Figure(
        go.Scatter(
            x=_naive_utc(dd.index),
            y=dd.to_numpy() * 100.0,
            fill="tozeroy",
            line={"color": "firebrick"},
            name="drawdown",
        )
    )
    fig.update_layout(title="Drawdown", height=300, xaxis_title="UTC", yaxis_title="drawdown (%)")
    return _plotly_div(fig)


def _monthly_div(monthly: pd.DataFrame) -> str:
    z = monthly.to_numpy(dtype=np.float64) * 100.0
    lim = _heat_limit(z)
    fig = go.Figure(
        go.Heatmap(
            z=np.where(np.isfinite(z), z, None),
            x=list(MONTHS),
            y=[str(y) for y in monthly.index],
            colorscale="RdYlGn",
            zmin=-lim,
            zmax=lim,
            texttemplate="%{z:.1f}",
            hovertemplate="%{y} %{x}: %{z:.2f}%<extra></extra>",
            colorbar={"title": {"text": "%"}},
        )
    )
    fig.update_layout(
        title="Monthly returns (%)",
        height=max(250, 80 + 30 * len(monthly)),
        yaxis={"type": "category", "autorange": "reversed"},
    )
    return _plotly_div(fig)


def _metrics_table(metrics: Metrics) -> str:
    rows = "\n".join(
        f"<tr><th>{html.escape(METRIC_FORMATS[f.name][0])}</th>"
        f"<td>{html.escape(format_metric(f.name, getattr(metrics, f.name)))}</td></tr>"
        for f in fields(metrics)
    )
    return f'<table class="metrics">\n{rows}\n</table>'


def _cell(value: Any) -> str:  # noqa: ANN401 - any trade column
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _trades_table(trades: pd.DataFrame) -> str:
    if trades.empty:
        return "<p>No trades.</p>"
    shown = trades.head(MAX_TRADE_ROWS)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in shown.itertuples(index=False, name=None)
    )
    note = ""
    if len(trades) > MAX_TRADE_ROWS:
        note = (
            f'<p class="note">Showing the first {MAX_TRADE_ROWS} of {len(trades)} trades; '
            "all of them are in trades.csv.</p>"
        )
    return f'{note}<table class="trades">\n<tr>{head}</tr>\n{body}\n</table>'


CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; }
table.metrics th { text-align: left; font-weight: normal; color: #555; }
table.metrics td, table.trades td { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #a60; }
"""


def _page(title: str, sections: list[tuple[str, str]]) -> str:
    safe = html.escape(title)
    body = "\n".join(f"<h2>{html.escape(h)}</h2>\n{content}" for h, content in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{safe}</title>\n<style>{CSS}</style>\n"
        f"<script>{plotly.offline.get_plotlyjs()}</script>\n"
        f"</head>\n<body>\n<h1>{safe}</h1>\n{body}\n</body>\n</html>\n"
    )


def _strict_json(metrics: Metrics) -> bytes:
    plain = {
        k: None if isinstance(v, float) and not math.isfinite(v) else v
        for k, v in metrics.as_dict().items()
    }
    return (json.dumps(plain, indent=2, allow_nan=False) + "\n").encode()


def write_report(
    equity: pd.Series,
    trades: pd.DataFrame,
    metrics: Metrics,
    out_dir: Path,
    *,
    title: str,
    benchmark: pd.Series | None = None,
) -> ReportFiles:
    """Write the report of one backtest into ``out_dir`` (created if missing).

    ``benchmark`` (prices or equity, any positive scale) is rebased to the strategy's initial
    equity and overlaid on the equity charts; its Series name, if any, labels it.
    """
    validate_equity(equity)
    bench = None if benchmark is None else _rebased(benchmark, float(equity.iloc[0]))
    bench_name = str(benchmark.name) if benchmark is not None and benchmark.name else "benchmark"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(
        html=out_dir / "report.html",
        equity_png=out_dir / "equity.png",
        drawdown_png=out_dir / "drawdown.png",
        monthly_png=out_dir / "monthly.png",
        trades_csv=out_dir / "trades.csv",
        metrics_json=out_dir / "metrics.json",
    )
    dd = drawdown(equity)
    monthly = monthly_returns(equity)

    _write_atomic(files.metrics_json, _strict_json(metrics))
    _write_atomic(files.trades_csv, trades.to_csv(index=False).encode())
    _write_atomic(files.equity_png, _equity_png(equity, bench, bench_name, title))
    _write_atomic(files.drawdown_png, _drawdown_png(dd, title))
    _write_atomic(files.monthly_png, _monthly_png(monthly, title))
    page = _page(
        title,
        [
            ("Metrics", _metrics_table(metrics)),
            ("Equity", _equity_div(equity, bench, bench_name)),
            ("Drawdown", _drawdown_div(dd)),
            ("Monthly returns", _monthly_div(monthly)),
            ("Trades", _trades_table(trades)),
        ],
    )
    _write_atomic(files.html, page.encode())
    return files
