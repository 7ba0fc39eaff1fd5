"""Backtests on the appliance's own Rust core (``pyrt._core.backtest``).

The event loop, the fill model (the venue simulator's), the risk gate (the risk daemon's) and the
accounting are Rust, in fixed-point money; this module turns pandas frames into columns, runs a
strategy and turns the results back into frames with metrics.

Conventions, the same as backtrader's and backtesting.py's defaults:

* A bar's timestamp is when it is known (its close). A strategy sees bar ``i`` after it closed;
  an order it places then works from bar ``i + 1``: a market order fills at that bar's open, a
  limit or stop where the bar reaches it (see ``pyrt-fill``).
* Orders are good-till-canceled unless ``tif`` says otherwise; ``day`` orders expire after the
  last bar of the New York session they went live in.
* Prices and sizes become fixed point (10⁻⁹) on the way in: the decimal each float prints as, or
  the nearest 10⁻⁹ for floats with more digits than that (binary noise of arithmetic).
* Commission is ``commission_bps`` of each fill's notional plus ``per_share``, charged on entry
  and exit; ``regulatory_fees`` adds the SEC and FINRA TAF fees on sells; ``slippage_bps`` moves
  every taker fill against the order.

Where py_rt follows the venue rather than those engines:

* A buy the cash cannot pay for is refused when placed (``insufficient_buying_power``), as the
  simulator refuses it for a cash account: costed at its limit, else its stop, else the last ask
  or close, against the cash that working buys do not already hold. Sells, and so shorts, are not
  limited. ``check_buying_power=False`` lets cash go negative instead.
* With ``apply_splits`` a split adjusts positions and working orders alike, as brokers adjust
  open GTC orders: quantities multiply, prices divide, rounded so no order becomes more
  aggressive (buy limits and sell stops down, sell limits and buy stops up).

Strategies:

* :class:`SmaCross` runs natively in Rust (fast: sweeps and benchmarks).
* A subclass of :class:`Strategy` runs in Python: ``init(data)`` gets the bar frames (compute
  indicators there, e.g. with ``pyrt._core.indicators``), then ``on_bar(ctx, symbol, i)`` is
  called after each bar and ``on_fill(ctx, fill)`` after each execution; ``ctx.buy`` /
  ``ctx.sell`` / ``ctx.close`` / ``ctx.cancel`` place orders, ``ctx.position(symbol)``,
  ``ctx.cash`` and ``ctx.equity`` read the account.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from pyrt._core import backtest as core
from research.metrics import Metrics, compute_metrics
from research.report import ReportFiles, write_report

if TYPE_CHECKING:
    from pyrt._core import _BacktestContext as Context
    from pyrt._core import _BacktestEngine as Engine
else:
    # What a Python strategy's callbacks get (its interface is in pyrt/_core.pyi).
    Context = core.Context

__all__ = [
    "BAR_COLUMNS",
    "BacktestConfig",
    "BacktestResult",
    "Context",
    "Fill",
    "SmaCross",
    "Strategy",
    "run_backtest",
    "sweep_sma_cross",
]

NY = "America/New_York"
DAY_NS = 86_400_000_000_000
BAR_COLUMNS = ("open", "high", "low", "close", "volume")


class BacktestConfig(BaseModel):
    """Costs, latency and limits of a backtest. Money is decimal, never float."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_cash: Decimal = Field(default=Decimal(100_000), gt=0)
    commission_bps: int = Field(default=0, ge=0, le=10_000)
    per_share: Decimal = Field(default=Decimal(0), ge=0)
    regulatory_fees: bool = False
    slippage_bps: int = Field(default=0, ge=0, le=10_000)
    latency_ns: int = Field(default=0, ge=0)
    bar_volume_cap_bps: int = Field(default=0, ge=0, le=10_000)
    apply_splits: bool = False
    #: Refuse buys the cash cannot cover (the simulator's cash-account rule); off reproduces
    #: engines that let cash go negative.
    check_buying_power: bool = True
    risk_limits: Path | None = None

    def engine(self, *, record: bool = True) -> Engine:
        limits = self.risk_limits.read_text() if self.risk_limits else None
        return core.Engine(
            initial_cash=str(self.initial_cash),
            commission_bps=self.commission_bps,
            per_share=str(self.per_share),
            regulatory_fees=self.regulatory_fees,
            slippage_bps=self.slippage_bps,
            latency_ns=self.latency_ns,
            bar_volume_cap_bps=self.bar_volume_cap_bps,
            apply_splits=self.apply_splits,
            check_buying_power=self.check_buying_power,
            risk_limits=limits,
            record=record,
        )


class Fill(NamedTuple):
    order_id: int
    symbol: str
    ts: int
    side: str
    qty: float
    price: float
    fee: float
    liquidity: str


class Strategy:
    """Base of Python strategies; override what you need."""

    def init(self, data: Mapping[str, pd.DataFrame]) -> None:
        """Called once before the run with every symbol's bars."""


class _Adapter:
    """Gives the engine tuples as Fills and only the callbacks the strategy defines."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        for name in ("on_bar", "on_quote", "on_trade"):
            if hasattr(strategy, name):
                setattr(self, name, getattr(strategy, name))
        if hasattr(strategy, "on_fill"):
            on_fill: Callable[[Context, Fill], None] = strategy.on_fill

            def deliver(ctx: Context, raw: tuple[Any, ...]) -> None:
                on_fill(ctx, Fill(*raw))

            self.on_fill = deliver


@dataclass(frozen=True)
class SmaCross:
    """Moving-average crossover in Rust: long ``qty`` when the fast SMA crosses above the slow,
    flat (or short ``qty`` with ``allow_short``) when it crosses below."""

    fast: int
    slow: int
    qty: float | str
    symbol: str | None = None
    allow_short: bool = False


@dataclass(frozen=True)
class BacktestResult:
    equity: pd.Series
    cash: pd.Series
    exposure: pd.Series
    orders: pd.DataFrame
    fills: pd.DataFrame
    trades: pd.DataFrame
    summary: dict[str, Any]
    metrics: Metrics
    config: BacktestConfig

    def report(
        self, out_dir: Path, *, title: str, benchmark: pd.Series | None = None
    ) -> ReportFiles:
        return write_report(
            self.equity, self.trades, self.metrics, out_dir, title=title, benchmark=benchmark
        )


def _ns(index: pd.DatetimeIndex) -> np.ndarray[Any, np.dtype[np.int64]]:
    if index.tz is None:
        raise ValueError("bar timestamps must be tz-aware (UTC); see research.data.load_csv")
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def _sessions(index: pd.DatetimeIndex) -> np.ndarray[Any, np.dtype[np.int64]]:
    """New York trading date of each bar, as days since the epoch."""
    local = index.tz_convert(NY).tz_localize(None).normalize()
    return np.asarray(local.as_unit("ns").asi8 // DAY_NS, dtype=np.int64)


def _column(df: pd.DataFrame, name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.ascontiguousarray(df[name].to_numpy(dtype=np.float64))


def _add_bars(engine: Engine, symbol: str, bars: pd.DataFrame) -> None:
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"{symbol}: bars lack the columns {missing}")
    index = pd.DatetimeIndex(bars.index)
    open_, high, low, close, volume = (_column(bars, c) for c in BAR_COLUMNS)
    engine.add_bars(
        symbol,
        _ns(index),
        open_,
        high,
        low,
        close,
        volume,
        session=_sessions(index),
        dividend=_column(bars, "dividend") if "dividend" in bars.columns else None,
        split=_column(bars, "split") if "split" in bars.columns else None,
    )


def _frames(
    bars: pd.DataFrame | Mapping[str, pd.DataFrame], symbol: str
) -> dict[str, pd.DataFrame]:
    if isinstance(bars, pd.DataFrame):
        return {str(bars.attrs.get("symbol") or symbol): bars}
    return dict(bars)


def _add_ticks(
    engine: Engine,
    quotes: Mapping[str, pd.DataFrame],
    trades: Mapping[str, pd.DataFrame],
) -> None:
    for name, frame in quotes.items():
        engine.add_quotes(
            name,
            _ns(pd.DatetimeIndex(frame.index)),
            *(_column(frame, c) for c in ("bid", "ask", "bid_size", "ask_size")),
        )
    for name, frame in trades.items():
        engine.add_trades(
            name,
            _ns(pd.DatetimeIndex(frame.index)),
            _column(frame, "price"),
            _column(frame, "size"),
        )


def _utc(ns: np.ndarray[Any, Any]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(ns, dtype=np.int64), unit="ns", utc=True))


def _result(engine: Engine, config: BacktestConfig) -> BacktestResult:
    curve = engine.curve()
    index = _utc(curve["ts"])
    index.name = "ts"
    equity = pd.Series(curve["equity"], index=index, name="equity")
    cash = pd.Series(curve["cash"], index=index, name="cash")
    exposure = pd.Series(
        np.divide(
            curve["gross_exposure"],
            curve["equity"],
            out=np.zeros_like(curve["equity"]),
            where=curve["equity"] > 0,
        ),
        index=index,
        name="exposure",
    )
    fills = pd.DataFrame(engine.fills())
    fills["ts"] = _utc(fills["ts"].to_numpy())
    orders = pd.DataFrame(engine.orders())
    orders["ts"] = _utc(orders["ts"].to_numpy())
    raw = engine.trades()
    trades = pd.DataFrame(raw)
    entry = np.asarray(raw["entry_ts"], dtype=np.int64)
    exit_ = np.asarray(raw["exit_ts"], dtype=np.int64)
    trades["entry_ts"] = _utc(entry)
    trades["exit_ts"] = _utc(exit_)
    trades["return_pct"] = trades["pnl"] / (trades["entry_price"] * trades["qty"])
    ts = np.asarray(curve["ts"], dtype=np.int64)
    trades["bars_held"] = np.searchsorted(ts, exit_) - np.searchsorted(ts, entry)
    metrics = compute_metrics(equity, trades, exposure)
    return BacktestResult(
        equity=equity,
        cash=cash,
        exposure=exposure,
        orders=orders,
        fills=fills,
        trades=trades,
        summary=dict(engine.summary()),
        metrics=metrics,
        config=config,
    )


def run_backtest(
    bars: pd.DataFrame | Mapping[str, pd.DataFrame],
    strategy: Strategy | SmaCross,
    config: BacktestConfig | None = None,
    *,
    symbol: str = "ASSET",
    progress: bool = False,
    quotes: Mapping[str, pd.DataFrame] | None = None,
    trades: Mapping[str, pd.DataFrame] | None = None,
) -> BacktestResult:
    """Runs `strategy` over `bars` (one frame, or one per symbol, in the canonical bar layout of
    :mod:`research.data`) and any `quotes` (bid, ask, bid_size, ask_size) and `trades` (price,
    size) per symbol, and returns every record with its metrics."""
    config = config or BacktestConfig()
    frames = _frames(bars, symbol)
    if not frames and not quotes and not trades:
        raise ValueError("no market data given")
    engine = config.engine()
    for name, frame in frames.items():
        _add_bars(engine, name, frame)
    _add_ticks(engine, quotes or {}, trades or {})
    if isinstance(strategy, SmaCross):
        target = strategy.symbol or next(iter(frames))
        engine.run_sma_cross(
            target, strategy.fast, strategy.slow, strategy.qty, allow_short=strategy.allow_short
        )
        return _result(engine, config)
    strategy.init(frames)
    adapter = _Adapter(strategy)
    if not progress:
        engine.run(adapter)
        return _result(engine, config)
    columns = (TextColumn("backtest"), BarColumn(), TextColumn("{task.completed:,} events"))
    events = sum(len(f) for group in (frames, quotes or {}, trades or {}) for f in group.values())
    with Progress(*columns, TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("backtest", total=events)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        engine.run(adapter, progress=advance)
    return _result(engine, config)


def sweep_sma_cross(
    bars: pd.DataFrame,
    pairs: list[tuple[int, int]],
    qty: float | str,
    config: BacktestConfig | None = None,
    *,
    threads: int = 2,
    symbol: str = "ASSET",
    allow_short: bool = False,
) -> pd.DataFrame:
    """Every ``(fast, slow)`` crossover over `bars`, on `threads` cores; one summary row each."""
    config = config or BacktestConfig()
    engine = config.engine(record=False)
    _add_bars(engine, symbol, bars)
    rows = engine.sweep_sma_cross(symbol, pairs, qty, threads=threads, allow_short=allow_short)
    frame = pd.DataFrame(rows)
    frame["final_equity"] = frame["final_equity"].map(Decimal)
    return frame
