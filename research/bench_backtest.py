"""`make bench-backtest`: py_rt's backtester against its peers, in one run, on the same bars, with
the same strategy, timed and never asserted.

The strategy, everywhere: a long-only SMA crossover, fast 10 / slow 30 on the close, 100 shares,
market orders, zero commission, 100,000 USD of cash. A cross is judged against the last bar on
which the two averages differed (backtrader's ``CrossOver``, py_rt's ``SmaCross``): every peer
implements that same rule so their trades can be compared one for one. An order placed after bar
``i`` fills at bar ``i + 1``'s open (backtrader's and backtesting.py's default), except in
NautilusTrader, whose venue has already moved through the bar's open, high, low and close when
the strategy sees it, so its market order fills at once at that bar's close; its trades are
checked against an independent reference with that convention instead.

Systems:

* ``py_rt``: ``research.backtest.run_backtest`` with the Rust ``SmaCross``, end to end (frames
  to columns, the Rust run, result frames and metrics); ``engine_events_per_s`` is the Rust run
  alone (``Engine.run_sma_cross``), what the DESIGN §9 per-core target is about.
* ``py_rt-python``: a Python ``Strategy`` subclass, its averages from
  ``pyrt._core.indicators.sma`` in ``init``, called back after every bar by the Rust engine.
* ``backtrader``: ``bt.ind.CrossOver`` of two ``bt.ind.SMA``; ``stdstats=False`` (no plotting
  observers), preloaded, ``runonce`` indicators.
* ``backtesting.py``: ``self.I`` rolling means, the crossover rule in ``next``; its ``run``
  includes computing its statistics, as it always does.
* ``vectorbt``: ``vbt.MA`` averages, the crossover rule in numpy, then
  ``Portfolio.from_signals(close, entries, exits, price=open, size=100, size_type="amount",
  direction="longonly")`` with entries and exits shifted one bar later, so a signal on bar ``i``
  executes on bar ``i + 1`` at that bar's open while positions are valued at the close. The
  numba kernels are compiled by an untimed warm-up first.
* ``nautilus_trader``: its ``BacktestEngine`` on 1-DAY LAST EXTERNAL bars, a ``Strategy`` with
  its ``SimpleMovingAverage`` indicators, market orders; run by `research.bench_nautilus` in a
  separate venv (its wheel needs pandas < 3), only its ``run()`` calls timed, its post-run
  analysis off (it grows pandas Series one position at a time).

The data: ORCL's 5,036 real daily bars (1995 to 2014, from the shared data) chained end to end to
any length. Each copy replays ORCL's close-to-close log returns with their mean removed, so a copy
ends where it started and a million bars neither explode nor vanish; open, high and low keep each
real bar's ratio to its close, so bars stay consistent (low ≤ open, close ≤ high) and prices
positive; every price is rounded to 6 decimals so each system reads exactly the same numbers.
The level is set so that the copies' geometric-mean close equals real ORCL's. Volumes repeat.
A million daily bars would run past pandas' year-2262 limit, so the bars are stamped one hour
apart from 2000-01-01 UTC; nothing here reads the calendar (orders are good till canceled).

Cases: events per second (bars / wall time of the best of N runs; N = 20 for py_rt's Rust run
alone, which lasts milliseconds and shows this VM's noise most) on 1,000,000 bars for the fast
systems and 100,000 bars (the first 100,000 of the same series) for all of them, so every peer
shares a case with py_rt; a 100-pair (fast, slow) sweep on 100,000 bars in backtests per hour:
py_rt on 2 threads, vectorbt's multi-column run, and backtesting.py's ``Backtest.optimize`` (its
process pool on every core) on 10 of the pairs, extrapolated and labelled as such.

Prints tables with ratios and DESIGN §9 targets and writes ``bench-results/backtest.json``
(DESIGN §10); ``--smoke`` runs everything on a few hundred bars once (for the tests).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import backtesting
import backtrader as bt
import numpy as np
import numpy.typing as npt
import pandas as pd
import vectorbt as vbt
from rich.console import Console
from rich.table import Table
from vectorbt._engine import is_rust_available

from pyrt import bench_results
from pyrt._core import indicators
from research.backtest import (
    BAR_COLUMNS,
    BacktestConfig,
    Context,
    SmaCross,
    Strategy,
    run_backtest,
    sweep_sma_cross,
)
from research.data import shared_bars, tiled_bars

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench-results"
NAUTILUS_PYTHON = RESULTS / ".venv-nautilus" / "bin" / "python"
NAUTILUS_RUNNER = Path(__file__).with_name("bench_nautilus.py")
NAUTILUS_LOG = RESULTS / "nautilus-install.log"

PEERS = ("backtrader", "backtesting", "vectorbt", "numba", "pandas", "numpy")
FAST, SLOW, QTY, CASH = 10, 30, 100, 100_000
SYMBOL = "ORCL"
# Equity differences below this are float noise (py_rt books in 9-decimal fixed point).
EQUITY_TOLERANCE = 0.01

Floats = np.ndarray[Any, np.dtype[np.float64]]


# ---- data ----------------------------------------------------------------------------------


def _sma(values: Floats, period: int) -> Floats:
    out = np.full(len(values), np.nan)
    if len(values) >= period:
        sums = np.cumsum(np.concatenate([[0.0], values]))
        out[period - 1 :] = (sums[period:] - sums[:-period]) / period
    return out


def cross_signals(fast: Floats, slow: Floats) -> tuple[Any, Any]:
    """Up and down crosses, judged against the last bar on which fast and slow differed; works on
    one column or on one column per parameter set (axis 0 is time)."""
    sign = np.sign(np.nan_to_num(fast - slow, nan=0.0))
    rows = np.arange(len(sign)).reshape((-1,) + (1,) * (sign.ndim - 1))
    last = np.maximum.accumulate(np.where(sign != 0, rows, 0), axis=0)
    held = np.take_along_axis(sign, last, axis=0)
    before = np.concatenate([np.zeros_like(held[:1]), held[:-1]])
    changed = (held != before) & (before != 0)
    return changed & (held > 0), changed & (held < 0)


@dataclass(frozen=True)
class Outcome:
    closed_trades: int
    final_equity: float


def reference(bars: pd.DataFrame, fill: str) -> Outcome:
    """An independent simulation of the strategy: fills at the next bar's open (``fill="open"``)
    or at the signal bar's close (``"close"``), 100 shares, no costs."""
    close = bars["close"].to_numpy()
    up, down = cross_signals(_sma(close, FAST), _sma(close, SLOW))
    prices = bars["open"].to_numpy() if fill == "open" else close
    shift = 1 if fill == "open" else 0
    cash, held, closed = float(CASH), 0, 0
    for i in np.flatnonzero(up | down):
        at = i + shift
        if at >= len(close):
            break
        if up[i] and held == 0:
            cash -= QTY * prices[at]
            held = QTY
        elif down[i] and held:
            cash += QTY * prices[at]
            held, closed = 0, closed + 1
    return Outcome(closed, cash + held * float(close[-1]))


# ---- measurements --------------------------------------------------------------------------


@dataclass
class Run:
    """One system on one case: wall times of each repetition and what it traded."""

    system: str
    case: str
    bars: int
    times: list[float] = field(default_factory=list)
    outcome: Outcome | None = None
    convention: str = "open"
    tolerance: float = EQUITY_TOLERANCE
    not_run: str | None = None
    extra: dict[str, float] = field(default_factory=dict)
    # Repetitions behind py_rt's engine_events_per_s, when measured.
    engine_n: int = 0

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def events_per_s(self) -> float:
        return self.bars / self.best


def timed(system: str, case: str, bars: int, repeat: int, once: Callable[[], Outcome]) -> Run:
    run = Run(system, case, bars)
    for _ in range(repeat):
        started = time.perf_counter()
        run.outcome = once()
        run.times.append(time.perf_counter() - started)
    return run


def py_rt(bars: pd.DataFrame, case: str, repeat: int, engine_repeat: int) -> Run:
    def once() -> Outcome:
        result = run_backtest(bars, SmaCross(FAST, SLOW, QTY))
        return Outcome(len(result.trades), float(result.equity.iloc[-1]))

    run = timed("py_rt", case, len(bars), repeat, once)
    engine = BacktestConfig(initial_cash=CASH).engine()
    o, h, lo, c, v = (np.ascontiguousarray(bars[k].to_numpy()) for k in BAR_COLUMNS)
    engine.add_bars(SYMBOL, np.asarray(bars.index.asi8, dtype=np.int64), o, h, lo, c, v)
    times = []
    for _ in range(engine_repeat):
        started = time.perf_counter()
        engine.run_sma_cross(SYMBOL, FAST, SLOW, QTY)
        times.append(time.perf_counter() - started)
    run.extra["engine_events_per_s"] = len(bars) / min(times)
    run.engine_n = engine_repeat
    return run


class PythonSmaCross(Strategy):
    """The crossover as a Python strategy on the Rust engine."""

    def __init__(self, fast: int, slow: int, qty: int) -> None:
        self.fast, self.slow, self.qty = fast, slow, qty
        self.diff: list[float] = []
        self.last_sign = 0

    def init(self, data: Mapping[str, pd.DataFrame]) -> None:
        (frame,) = data.values()
        close = np.ascontiguousarray(frame["close"].to_numpy(dtype=np.float64))
        # A list: indexing it is several times cheaper than a numpy scalar per bar.
        self.diff = (indicators.sma(close, self.fast) - indicators.sma(close, self.slow)).tolist()
        self.last_sign = 0

    def on_bar(self, ctx: Context, symbol: str, i: int) -> None:
        diff = self.diff[i]
        if not diff or math.isnan(diff):
            return
        sign = 1 if diff > 0 else -1
        crossed = self.last_sign and sign != self.last_sign
        self.last_sign = sign
        if not crossed:
            return
        held = ctx.position(symbol)
        if sign > 0 and not held:
            ctx.buy(symbol, self.qty)
        elif sign < 0 and held > 0:
            ctx.close(symbol)


def py_rt_python(bars: pd.DataFrame, case: str, repeat: int) -> Run:
    def once() -> Outcome:
        result = run_backtest(bars, PythonSmaCross(FAST, SLOW, QTY))
        return Outcome(len(result.trades), float(result.equity.iloc[-1]))

    return timed("py_rt-python", case, len(bars), repeat, once)


class BacktraderCross(bt.Strategy):  # type: ignore[misc]
    """backtrader's own crossover indicator, which judges a cross as every system here does."""

    params = (("fast", FAST), ("slow", SLOW), ("qty", QTY))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(
            bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow)
        )
        self.closed = 0

    def next(self) -> None:
        if not self.position:
            if self.cross[0] > 0:
                self.buy(size=self.p.qty)
        elif self.cross[0] < 0:
            self.close()

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isclosed:
            self.closed += 1


def backtrader(bars: pd.DataFrame, case: str, repeat: int) -> Run:
    frame = bars.tz_localize(None)

    def once() -> Outcome:
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(bt.feeds.PandasData(dataname=frame))
        cerebro.broker.setcash(CASH)
        cerebro.addstrategy(BacktraderCross)
        (strategy,) = cerebro.run()
        return Outcome(strategy.closed, float(cerebro.broker.getvalue()))

    return timed("backtrader", case, len(bars), repeat, once)


def _rolling_mean(values: npt.ArrayLike, period: int) -> Floats:
    return _sma(np.asarray(values, dtype=np.float64), period)


class BacktestingCross(backtesting.Strategy):  # type: ignore[misc]
    """backtesting.py's ``crossover`` helper only compares the last two bars, so the rule is
    spelled out; the attributes are what ``Backtest.optimize`` varies."""

    fast = FAST
    slow = SLOW

    def init(self) -> None:
        self.f = self.I(_rolling_mean, self.data.Close, self.fast)
        self.s = self.I(_rolling_mean, self.data.Close, self.slow)
        self.last_sign = 0

    def next(self) -> None:
        if not self.last_sign and len(self.f) > 1:
            # next() starts one bar after the averages exist; that bar's sign counts too.
            before = self.f[-2] - self.s[-2]
            if before and not math.isnan(before):
                self.last_sign = 1 if before > 0 else -1
        diff = self.f[-1] - self.s[-1]
        if not diff or math.isnan(diff):
            return
        sign = 1 if diff > 0 else -1
        crossed = self.last_sign and sign != self.last_sign
        self.last_sign = sign
        if not crossed:
            return
        if sign > 0 and not self.position:
            self.buy(size=QTY)
        elif sign < 0 and self.position:
            self.position.close()


def _backtesting_frame(bars: pd.DataFrame) -> pd.DataFrame:
    frame = bars[["open", "high", "low", "close", "volume"]].tz_localize(None)
    frame.columns = ["Open", "High", "Low", "Close", "Volume"]
    return frame


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """backtesting.py warns about open trades at the end and prints progress bars."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def backtesting_py(bars: pd.DataFrame, case: str, repeat: int) -> Run:
    frame = _backtesting_frame(bars)

    def once() -> Outcome:
        with _quiet():
            stats = backtesting.Backtest(frame, BacktestingCross, cash=CASH, commission=0.0).run()
        return Outcome(int(stats["# Trades"]), float(stats["Equity Final [$]"]))

    return timed("backtesting.py", case, len(bars), repeat, once)


def _vectorbt_signals(close: pd.Series, fast: list[int], slow: list[int]) -> tuple[Any, Any]:
    fast_ma = vbt.MA.run(close, window=fast).ma.to_numpy()
    slow_ma = vbt.MA.run(close, window=slow).ma.to_numpy()
    up, down = cross_signals(fast_ma, slow_ma)
    # Executed one bar after the signal, at that bar's open.
    pad = np.zeros_like(up[:1])
    return np.concatenate([pad, up[:-1]]), np.concatenate([pad, down[:-1]])


def _vectorbt_portfolio(
    bars: pd.DataFrame, fast: list[int], slow: list[int], engine: str | None = None
) -> vbt.Portfolio:
    index = bars.index.tz_localize(None)
    close = pd.Series(bars["close"].to_numpy(), index=index)
    entries, exits = _vectorbt_signals(close, fast, slow)
    return vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        price=pd.Series(bars["open"].to_numpy(), index=index),
        size=float(QTY),
        size_type="amount",
        direction="longonly",
        init_cash=float(CASH),
        fees=0.0,
        engine=engine,
    )


def vectorbt(bars: pd.DataFrame, case: str, repeat: int, engine: str | None = None) -> Run:
    def once(frame: pd.DataFrame = bars) -> Outcome:
        pf = _vectorbt_portfolio(frame, [FAST], [SLOW], engine)
        closed = pf.trades.closed.count()
        final = pf.final_value()
        return Outcome(int(np.ravel(closed)[0]), float(np.ravel(final)[0]))

    # numba compiles each kernel on its first call: not part of a backtest's cost.
    once(bars.iloc[:200])
    name = "vectorbt" if engine is None else f"vectorbt-{engine}"
    return timed(name, case, len(bars), repeat, once)


def vectorbt_rust_missing() -> str | None:
    return None if is_rust_available() else "vectorbt-rust is not installed in the env"


def nautilus(
    bars: pd.DataFrame, sizes: list[int], repeat: int, python: Path, work: Path
) -> list[Run]:
    cases = [f"ORCL tiled {n:,} bars" for n in sizes]

    def missing(reason: str) -> list[Run]:
        return [
            Run("nautilus_trader", c, n, not_run=reason) for c, n in zip(cases, sizes, strict=True)
        ]

    if NAUTILUS_LOG.exists():
        # mk/backtest.mk leaves the log only when the install failed.
        lines = [x.strip() for x in NAUTILUS_LOG.read_text().splitlines() if x.strip()]
        return missing(
            f"NautilusTrader could not be installed: {lines[-1][:200] if lines else 'no output'}"
            f" (see {NAUTILUS_LOG.relative_to(ROOT)})"
        )
    if not python.exists():
        return missing(f"no NautilusTrader venv at {python.parent.parent} (make bench-backtest)")
    path = work / "bars.parquet"
    pd.DataFrame(
        {"ts": bars.index.asi8, **{c: bars[c].to_numpy() for c in bars.columns}}
    ).to_parquet(path)
    command = [
        str(python),
        str(NAUTILUS_RUNNER),
        str(path),
        "--sizes",
        ",".join(str(n) for n in sizes),
        "--repeat",
        str(repeat),
        *("--fast", str(FAST), "--slow", str(SLOW), "--qty", str(QTY), "--cash", str(CASH)),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    except subprocess.TimeoutExpired:
        return missing("the NautilusTrader run took over 30 minutes")
    if done.returncode != 0:
        lines = [x for x in done.stderr.splitlines() if x.strip()] or ["no output"]
        return missing(f"the NautilusTrader runner failed: {lines[-1][:200]}")
    report = json.loads(done.stdout)
    runs = []
    for case, figures in zip(cases, report["cases"], strict=True):
        run = Run(
            f"nautilus_trader {report['version']}",
            case,
            int(figures["bars"]),
            times=[float(t) for t in figures["times_s"]],
            outcome=Outcome(int(figures["closed_trades"]), float(figures["final_equity"])),
            convention="close",
            # Its USD balances are in cents: each fill's notional is rounded.
            tolerance=max(EQUITY_TOLERANCE, 0.005 * int(figures["fills"])),
        )
        run.extra["load_ms"] = float(figures["load_s"]) * 1000
        runs.append(run)
    return runs


# ---- sweeps --------------------------------------------------------------------------------


@dataclass
class Sweep:
    system: str
    case: str
    backtests: int
    wall: float
    note: str = ""
    agrees: str = ""

    @property
    def per_hour(self) -> float:
        return self.backtests / self.wall * 3600


def grid(smoke: bool) -> list[tuple[int, int]]:
    if smoke:
        return [(f, s) for f in (2, 10) for s in (20, 30)]
    return [(f, s) for f in range(2, 21, 2) for s in range(30, 121, 10)]


def sweeps(bars: pd.DataFrame, pairs: list[tuple[int, int]], threads: int) -> list[Sweep]:
    case = f"sweep {len(pairs)} pairs x {len(bars):,} bars"
    out = []
    started = time.perf_counter()
    ours = sweep_sma_cross(bars, pairs, QTY, BacktestConfig(initial_cash=CASH), threads=threads)
    wall = time.perf_counter() - started
    ours_equity = {
        (int(r.fast), int(r.slow)): (int(r.closed_trades), float(r.final_equity))
        for r in ours.itertuples()
    }
    out.append(
        Sweep("py_rt", case, len(pairs), wall, note=f"{threads} threads, bars loaded once (timed)")
    )

    fast, slow = [p[0] for p in pairs], [p[1] for p in pairs]

    def vectorbt_grid(frame: pd.DataFrame) -> tuple[Any, Any]:
        pf = _vectorbt_portfolio(frame, fast, slow)
        return np.ravel(pf.trades.closed.count().to_numpy()), np.ravel(pf.final_value().to_numpy())

    vectorbt_grid(bars.iloc[:200])
    started = time.perf_counter()
    closed, final = vectorbt_grid(bars)
    wall = time.perf_counter() - started
    theirs = {p: (int(c), float(v)) for p, c, v in zip(pairs, closed, final, strict=True)}
    out.append(
        Sweep(
            "vectorbt",
            case,
            len(pairs),
            wall,
            note="one multi-column run, 1 thread",
            agrees=_agreement(ours_equity, theirs),
        )
    )

    subset = pairs[:: max(1, len(pairs) // 10)][:10]
    wanted = set(subset)
    backtest = backtesting.Backtest(_backtesting_frame(bars), BacktestingCross, cash=CASH)
    started = time.perf_counter()
    with _quiet():
        _, heatmap = backtest.optimize(
            fast=sorted({f for f, _ in subset}),
            slow=sorted({s for _, s in subset}),
            constraint=lambda p: (p.fast, p.slow) in wanted,
            maximize="Equity Final [$]",
            return_heatmap=True,
        )
    wall = time.perf_counter() - started
    theirs_bt = {(int(f), int(s)): (-1, float(v)) for (f, s), v in heatmap.items()}
    # optimize() ends by running the best pair once more: that run is counted too.
    out.append(
        Sweep(
            "backtesting.py",
            case,
            len(heatmap) + 1,
            wall,
            note=(
                f"Backtest.optimize on {len(heatmap)} of the {len(pairs)} pairs (+1 re-run of"
                f" the best), {os.cpu_count()} processes; rate extrapolated"
            ),
            agrees=_agreement(ours_equity, theirs_bt),
        )
    )
    return out


def _agreement(
    ours: Mapping[tuple[int, int], tuple[int, float]],
    theirs: Mapping[tuple[int, int], tuple[int, float]],
) -> str:
    """How many pairs the peer traded as py_rt did (trade count, when it gives one, and final
    equity); names the first that differs."""
    same, first = 0, ""
    for pair, (count, equity) in theirs.items():
        mine = ours[pair]
        if (count < 0 or count == mine[0]) and abs(equity - mine[1]) <= EQUITY_TOLERANCE:
            same += 1
        elif not first:
            first = f"; first differing {pair}: {count} trades {equity:,.2f} vs {mine}"
    return f"{same}/{len(theirs)} pairs agree with py_rt{first}"


# ---- report --------------------------------------------------------------------------------


def agreement(run: Run, references: Mapping[tuple[int, str], Outcome]) -> str:
    if run.outcome is None:
        return ""
    expected = references[(run.bars, run.convention)]
    got = run.outcome
    problems = []
    if got.closed_trades != expected.closed_trades:
        problems.append(f"trades {got.closed_trades} vs {expected.closed_trades}")
    if abs(got.final_equity - expected.final_equity) > run.tolerance:
        problems.append(f"equity off by {got.final_equity - expected.final_equity:+,.2f}")
    label = "" if run.convention == "open" else " (close-fill reference)"
    return ("MISMATCH: " + ", ".join(problems) if problems else "same") + label


def versions(runs: list[Run]) -> dict[str, str]:
    """What was measured, so that figures from different runs can be told apart."""
    found = {name: metadata.version(name) for name in PEERS}
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found["py_rt"] = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    for run in runs:
        name, _, version = run.system.partition(" ")
        if version:
            found[name] = version
    return found


def fmt_rate(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:,.2f} {unit}"
    return f"{value:,.1f}"


@dataclass(frozen=True)
class Plan:
    big: int
    small: int
    sweep_bars: int
    repeat_fast: int
    repeat_slow: int
    # The Rust run alone takes tens of milliseconds: more samples to ride out a noisy VM.
    repeat_engine: int
    smoke: bool


def plan(smoke: bool) -> Plan:
    if smoke:
        return Plan(
            big=600,
            small=300,
            sweep_bars=400,
            repeat_fast=1,
            repeat_slow=1,
            repeat_engine=1,
            smoke=True,
        )
    return Plan(
        big=1_000_000,
        small=100_000,
        sweep_bars=100_000,
        repeat_fast=5,
        repeat_slow=2,
        repeat_engine=20,
        smoke=False,
    )


@dataclass
class Measured:
    bars: pd.DataFrame
    runs: list[Run]
    sweeps: list[Sweep]


def measure(p: Plan, console: Console, nautilus_python: Path) -> Measured:
    bars = tiled_bars(shared_bars(SYMBOL), max(p.big, p.small, p.sweep_bars))
    big, small = bars.iloc[: p.big], bars.iloc[: p.small]
    case_big, case_small = f"ORCL tiled {p.big:,} bars", f"ORCL tiled {p.small:,} bars"
    runs: list[Run] = []

    def step(what: str, make: Callable[[], Run | list[Run]]) -> None:
        started = time.perf_counter()
        made = make()
        runs.extend(made if isinstance(made, list) else [made])
        console.print(f"[dim]ran {what} in {time.perf_counter() - started:.1f} s[/dim]")

    step(f"py_rt on {p.big:,} bars", lambda: py_rt(big, case_big, p.repeat_fast, p.repeat_engine))
    step(
        f"py_rt-python on {p.big:,} bars",
        lambda: py_rt_python(big, case_big, p.repeat_slow + 1),
    )
    step(f"vectorbt on {p.big:,} bars", lambda: vectorbt(big, case_big, p.repeat_fast))
    step(
        f"py_rt on {p.small:,} bars",
        lambda: py_rt(small, case_small, p.repeat_fast, p.repeat_engine),
    )
    step(
        f"py_rt-python on {p.small:,} bars",
        lambda: py_rt_python(small, case_small, p.repeat_fast),
    )
    step(f"vectorbt on {p.small:,} bars", lambda: vectorbt(small, case_small, p.repeat_fast))
    rust_missing = vectorbt_rust_missing()
    if rust_missing:
        runs.append(Run("vectorbt-rust", case_small, p.small, not_run=rust_missing))
    else:
        step(
            f"vectorbt-rust on {p.small:,} bars",
            lambda: vectorbt(small, case_small, p.repeat_fast, engine="rust"),
        )
    step(f"backtrader on {p.small:,} bars", lambda: backtrader(small, case_small, p.repeat_slow))
    step(
        f"backtesting.py on {p.small:,} bars",
        lambda: backtesting_py(small, case_small, p.repeat_slow),
    )
    with tempfile.TemporaryDirectory(prefix="pyrt-bench-") as work:
        step(
            f"nautilus_trader on {p.small:,} bars",
            lambda: nautilus(small, [p.small], p.repeat_slow, nautilus_python, Path(work)),
        )
    started = time.perf_counter()
    swept = sweeps(bars.iloc[: p.sweep_bars], grid(p.smoke), threads=2)
    took = time.perf_counter() - started
    console.print(f"[dim]ran the sweeps on {p.sweep_bars:,} bars in {took:.1f} s[/dim]")
    return Measured(bars, runs, swept)


def _verdict(ok: bool) -> str:
    return "[green]yes[/green]" if ok else "[red]NO[/red]"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:,.1f}x"


def speed_table(m: Measured, console: Console) -> list[dict[str, Any]]:
    sizes = {r.bars for r in m.runs}
    references = {
        (n, fill): reference(m.bars.iloc[:n], fill) for n in sizes for fill in ("open", "close")
    }
    ours = {r.case: r for r in m.runs if r.system == "py_rt"}
    results: list[dict[str, Any]] = []
    table = Table(
        title=(
            f"Backtest events/s: SMA {FAST}/{SLOW} crossover, long-only, {QTY} shares, market"
            " orders at the next open, no commission; best of N runs"
        )
    )
    columns = (
        "case",
        "system",
        "N",
        "best s",
        "events/s",
        "py_rt / it",
        "py_rt Rust / it",
        "closed trades",
        "final equity $",
        "vs reference",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in {"case", "system"} else "right")
    for run in m.runs:
        if run.not_run:
            table.add_row(run.case, run.system, "", "", f"not run: {run.not_run}", *[""] * 5)
            continue
        assert run.outcome is not None
        mine = ours[run.case]
        engine = mine.extra["engine_events_per_s"]
        peer = run is not mine
        table.add_row(
            run.case,
            run.system,
            str(len(run.times)),
            f"{run.best:.3f}",
            fmt_rate(run.events_per_s),
            _ratio(mine.events_per_s, run.events_per_s) if peer else "",
            _ratio(engine, run.events_per_s) if peer else "",
            f"{run.outcome.closed_trades:,}",
            f"{run.outcome.final_equity:,.2f}",
            agreement(run, references),
        )
        if not peer:
            table.add_row(
                run.case,
                "py_rt, Rust run only",
                str(run.engine_n),
                f"{run.bars / engine:.3f}",
                fmt_rate(engine),
                *[""] * 5,
            )
        metrics = {
            "events_per_s": run.events_per_s,
            "best_ms": run.best * 1000,
            "closed_trades_count": float(run.outcome.closed_trades),
            "final_equity_usd": run.outcome.final_equity,
            **run.extra,
        }
        results += [
            {
                "system": run.system.split()[0],
                "case": run.case,
                "metric": metric,
                "value": value,
                "repetitions": run.engine_n if metric == "engine_events_per_s" else len(run.times),
            }
            for metric, value in metrics.items()
        ]
    console.print(table)
    loads = [r for r in m.runs if "load_ms" in r.extra]
    console.print(
        "py_rt is research.backtest.run_backtest end to end (DataFrame to Rust columns, the run,"
        " result frames and metrics); its Rust run only is Engine.run_sma_cross on data already"
        " loaded. py_rt / it and py_rt Rust / it: py_rt's events/s, end to end and Rust run only,"
        " over the system's.\n"
        "vs reference: trade count and final equity against an independent numpy simulation of"
        f" the same rule (equity within ${EQUITY_TOLERANCE} is the same). NautilusTrader fills"
        " at the signal bar's close (its venue has processed the whole bar when on_bar runs; it"
        " has no next-open mode for bars), so it is held to a close-fill reference, within half a"
        " cent per fill (its USD amounts are in cents)"
        + "".join(
            f"; its untimed loading (Bar objects, add_data) took {r.extra['load_ms'] / 1000:.1f} s"
            f" on {r.case}"
            for r in loads
        )
        + "."
    )
    return results


def sweep_table(m: Measured, console: Console) -> list[dict[str, Any]]:
    table = Table(title="Parameter sweep in backtests/hour (ratio: py_rt's rate / the system's)")
    for column in ("case", "system", "backtests", "wall s", "backtests/h", "py_rt / it", "note"):
        table.add_column(column, justify="right" if column in {"backtests", "wall s"} else "left")
    mine = next(s for s in m.sweeps if s.system == "py_rt")
    results: list[dict[str, Any]] = []
    for s in m.sweeps:
        table.add_row(
            s.case,
            s.system,
            str(s.backtests),
            f"{s.wall:.2f}",
            fmt_rate(s.per_hour),
            "" if s is mine else _ratio(mine.per_hour, s.per_hour),
            "; ".join(x for x in (s.note, s.agrees) if x),
        )
        entry: dict[str, Any] = {
            "system": s.system,
            "case": s.case,
            "metric": "backtests_per_h",
            "value": s.per_hour,
        }
        if s.note:
            entry["note"] = s.note
        results.append(entry)
    console.print(table)
    return results


def targets_table(m: Measured, console: Console) -> None:
    """py_rt's figures beside the DESIGN §9 targets, met or not."""
    measured = [r for r in m.runs if not r.not_run]
    ours = {r.case: r for r in measured if r.system == "py_rt"}
    table = Table(title="DESIGN §9 targets")
    for column in ("target", "py_rt", "met"):
        table.add_column(column)
    for run in sorted(ours.values(), key=lambda r: -r.bars):
        engine = run.extra["engine_events_per_s"]
        table.add_row(
            "≥ 20 M events/s per core",
            f"{fmt_rate(engine)} events/s Rust run on 1 thread, {fmt_rate(run.events_per_s)}"
            f" events/s through run_backtest end to end ({run.case})",
            f"{_verdict(engine >= 20e6)} Rust run, {_verdict(run.events_per_s >= 20e6)} end to end",
        )
    for peer, need, label in (
        ("backtrader", 100.0, "≥ 100x backtrader"),
        ("nautilus_trader", 1.0, "faster than NautilusTrader"),
    ):
        theirs = [r for r in measured if r.system.split()[0] == peer]
        if not theirs:
            reason = next((r.not_run for r in m.runs if r.system.split()[0] == peer), "no run")
            table.add_row(label, f"not run: {reason}", "[yellow]unknown[/yellow]")
            continue
        for r in theirs:
            end_to_end = ours[r.case].events_per_s / r.events_per_s
            alone = ours[r.case].extra["engine_events_per_s"] / r.events_per_s
            table.add_row(
                label,
                f"{end_to_end:,.1f}x end to end, {alone:,.1f}x Rust run alone ({r.case})",
                f"{_verdict(end_to_end >= need)} end to end, {_verdict(alone >= need)} Rust run",
            )
    mine = next(s for s in m.sweeps if s.system == "py_rt")
    table.add_row(
        "≥ 1 M backtests/hour of 100 k bars on 2 cores",
        f"{fmt_rate(mine.per_hour)} backtests/h ({mine.case}, {mine.note})",
        _verdict(mine.per_hour >= 1e6),
    )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make bench-backtest (see the module docstring)")
    parser.add_argument("--smoke", action="store_true", help="a few hundred bars, once each")
    parser.add_argument("--out", type=Path, default=RESULTS / "backtest.json")
    parser.add_argument("--nautilus-python", type=Path, default=NAUTILUS_PYTHON)
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 200)
    started = time.perf_counter()
    measured = measure(plan(args.smoke), console, args.nautilus_python)
    results = speed_table(measured, console) + sweep_table(measured, console)
    targets_table(measured, console)
    found = versions(measured.runs)
    console.print("versions: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    written = bench_results.write(
        "backtest",
        results,
        args.out,
        {
            "versions": found,
            "not_run": [
                {"system": r.system, "case": r.case, "reason": r.not_run}
                for r in measured.runs
                if r.not_run
            ],
        },
    )
    console.print(f"wrote {written} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
