"""Parity of the Rust backtest core with backtesting.py and backtrader on real daily data.

The same long-only moving-average crossover (buy 100 shares when the fast SMA crosses above the
slow one, close when it crosses below) runs in each peer, configured with its own defaults, and in
py_rt, both as the Rust ``SmaCross`` and as a Python strategy. All three share one convention,
which is py_rt's bar convention: a signal on bar i's close becomes a market order that fills at
bar i + 1's open; commission is a fraction of each fill's notional, charged on entry and exit;
the final equity marks the open position at the last close; an open trade at the end is not in
the trade list (backtesting.py's ``finalize_trades=False``). The trade lists (entry and exit
dates and prices, size, P&L net of commission) and the final equity must be equal; prices are
exact, money agrees to a micro-dollar (py_rt's money is 10⁻⁹ fixed point, the peers' float).

A second strategy enters with limit orders, exits with stop orders and cancels orders left
waiting, against backtesting.py (whose limit and stop fills follow the same open / high / low
rule). Stop-limit orders are left out: when the stop and the limit are both inside one bar,
backtesting.py assumes the limit was touched first and skips the fill, py_rt fills it.
"""

from __future__ import annotations

from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest
from backtesting import Strategy as BtpyStrategy
from backtesting.lib import crossover

from pyrt._core import indicators
from research.backtest import BacktestConfig, SmaCross, Strategy, run_backtest
from research.data import shared_bars

CASH = 100_000.0
COMMISSION = 0.002
SIZE = 20
# GOOG and ORCL are stocks; BT2006 is backtrader's own reference series, an index near 4,000
# (hence the small fixed size: every entry must be affordable in each peer).
CASES = [("GOOG", 10, 20), ("ORCL", 20, 50), ("BT2006", 5, 15)]


def peer_frame(bars: pd.DataFrame) -> pd.DataFrame:
    """The bars as the peers want them: naive session dates, capitalised OHLCV."""
    frame = bars[["open", "high", "low", "close", "volume"]].copy()
    frame.index = pd.DatetimeIndex(bars.index.tz_convert("America/New_York").date)
    frame.columns = ["Open", "High", "Low", "Close", "Volume"]
    return frame


def ours(name: str, fast: int, slow: int) -> pd.DataFrame:
    result = run_backtest(
        shared_bars(name), SmaCross(fast, slow, SIZE), BacktestConfig(commission_bps=20)
    )
    return our_trades(result)


def our_trades(result: Any) -> pd.DataFrame:
    """py_rt's trades with session dates, as the peers report them."""
    t = result.trades
    return normalise(
        t["entry_ts"].dt.tz_convert("America/New_York").dt.date,
        t["exit_ts"].dt.tz_convert("America/New_York").dt.date,
        t,
        float(result.equity.iloc[-1]),
    )


def normalise(entry: Any, exit_: Any, trades: pd.DataFrame, final: float) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "entry": pd.to_datetime(list(entry)),
            "exit": pd.to_datetime(list(exit_)),
            "size": trades["qty"].to_numpy(dtype=float),
            "entry_price": trades["entry_price"].to_numpy(dtype=float),
            "exit_price": trades["exit_price"].to_numpy(dtype=float),
            "pnl": trades["pnl"].to_numpy(dtype=float),
        }
    )
    frame.attrs["final_equity"] = final
    return frame


def backtesting_py_trades(stats: Any) -> pd.DataFrame:
    t = stats["_trades"]
    trades = pd.DataFrame(
        {
            "qty": t["Size"].abs(),
            "entry_price": t["EntryPrice"],
            "exit_price": t["ExitPrice"],
            "pnl": t["PnL"],
        }
    )
    return normalise(t["EntryTime"], t["ExitTime"], trades, float(stats["Equity Final [$]"]))


def backtesting_py(name: str, fast: int, slow: int) -> pd.DataFrame:
    class Cross(BtpyStrategy):
        def init(self) -> None:
            close = self.data.Close
            self.fast = self.I(lambda c: pd.Series(c).rolling(fast).mean(), close)
            self.slow = self.I(lambda c: pd.Series(c).rolling(slow).mean(), close)

        def next(self) -> None:
            if crossover(self.fast, self.slow) and not self.position:
                self.buy(size=SIZE)
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    frame = peer_frame(shared_bars(name))
    stats = Backtest(frame, Cross, cash=CASH, commission=COMMISSION).run()
    return backtesting_py_trades(stats)


def backtrader_run(name: str, fast: int, slow: int) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []

    class Cross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.cross = bt.ind.CrossOver(bt.ind.SMA(period=fast), bt.ind.SMA(period=slow))
            self.entry: tuple[Any, float] | None = None

        def next(self) -> None:
            if not self.position and self.cross > 0:
                self.buy(size=SIZE)
            elif self.position and self.cross < 0:
                self.close()

        def notify_order(self, order: Any) -> None:
            if order.status != order.Completed:
                return
            when = bt.num2date(order.executed.dt).date()
            if order.isbuy():
                self.entry = (when, order.executed.price, order.executed.comm)
                return
            assert self.entry is not None
            day, price, comm = self.entry
            exit_price = order.executed.price
            pnl = SIZE * (exit_price - price) - comm - order.executed.comm
            rows.append(
                {
                    "entry": day,
                    "exit": when,
                    "qty": float(SIZE),
                    "entry_price": price,
                    "exit_price": exit_price,
                    "pnl": pnl,
                }
            )
            self.entry = None

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=peer_frame(shared_bars(name))))
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=COMMISSION)
    cerebro.run()
    trades = pd.DataFrame(
        rows, columns=["entry", "exit", "qty", "entry_price", "exit_price", "pnl"]
    )
    return normalise(trades["entry"], trades["exit"], trades, float(cerebro.broker.getvalue()))


def assert_same_trades(mine: pd.DataFrame, theirs: pd.DataFrame, peer: str) -> None:
    assert len(mine) > 5, "the case must trade to prove anything"
    assert len(mine) == len(theirs), f"{peer}: {len(theirs)} trades, py_rt {len(mine)}"
    for column in ("entry", "exit"):
        pd.testing.assert_series_equal(mine[column], theirs[column], check_names=False)
    for column in ("size", "entry_price", "exit_price"):
        np.testing.assert_allclose(mine[column], theirs[column], rtol=1e-12, err_msg=column)
    np.testing.assert_allclose(mine["pnl"], theirs["pnl"], rtol=0, atol=1e-6, err_msg="pnl")
    assert mine.attrs["final_equity"] == pytest.approx(theirs.attrs["final_equity"], abs=1e-6)


@pytest.mark.parametrize(("name", "fast", "slow"), CASES)
def test_trades_and_equity_equal_backtesting_py(name: str, fast: int, slow: int) -> None:
    assert_same_trades(ours(name, fast, slow), backtesting_py(name, fast, slow), "backtesting.py")


@pytest.mark.parametrize(("name", "fast", "slow"), CASES)
def test_trades_and_equity_equal_backtrader(name: str, fast: int, slow: int) -> None:
    assert_same_trades(ours(name, fast, slow), backtrader_run(name, fast, slow), "backtrader")


class PythonCross(Strategy):
    """The crossover as a Python strategy, on pyrt's own (TA-Lib-equal) SMA."""

    def __init__(self, fast: int, slow: int) -> None:
        self.periods = (fast, slow)
        self.last = 0

    def init(self, data: Any) -> None:
        close = next(iter(data.values()))["close"].to_numpy()
        self.fast = indicators.sma(close, self.periods[0])
        self.slow = indicators.sma(close, self.periods[1])

    def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
        fast, slow = self.fast[i], self.slow[i]
        if np.isnan(slow) or fast == slow:
            return
        sign = 1 if fast > slow else -1
        if self.last and sign != self.last:
            if sign > 0 and ctx.position(symbol) == 0:
                ctx.buy(symbol, SIZE)
            elif sign < 0 and ctx.position(symbol) > 0:
                ctx.close(symbol)
        self.last = sign


@pytest.mark.parametrize(("name", "fast", "slow"), CASES)
def test_python_strategy_equals_rust_strategy(name: str, fast: int, slow: int) -> None:
    config = BacktestConfig(commission_bps=20)
    rust = run_backtest(shared_bars(name), SmaCross(fast, slow, SIZE), config)
    python = run_backtest(shared_bars(name), PythonCross(fast, slow), config)
    pd.testing.assert_frame_equal(rust.trades, python.trades)
    pd.testing.assert_series_equal(rust.equity, python.equity)
    assert rust.summary["final_equity"] == python.summary["final_equity"]


# Limit entries and stop exits: on a cross up, a flat book bids 0.5 % under the close (good till
# canceled); on a cross down the unfilled bid is canceled and a long is protected by a sell stop
# 1 % under the close; a cross up cancels a stop still waiting. Both peers fill a limit at the
# open when the bar opens through it, else at the limit when the range reaches it, and a stop the
# same way from the other side: py_rt's bar convention.
def entry_price(close: float) -> float:
    # float() first: numpy's round and Python's round disagree on ties such as 18.905.
    return round(float(close) * 0.995, 2)


def exit_price(close: float) -> float:
    return round(float(close) * 0.99, 2)


def crosses(close: np.ndarray[Any, Any], fast: int, slow: int) -> np.ndarray[Any, Any]:
    """+1 / -1 on the bars where the fast SMA crosses above / below the slow one, else 0."""
    f = pd.Series(close).rolling(fast).mean().to_numpy()
    s = pd.Series(close).rolling(slow).mean().to_numpy()
    out = np.zeros(len(close), dtype=int)
    out[1:] = np.where((f[:-1] < s[:-1]) & (f[1:] > s[1:]), 1, 0)
    out[1:] -= np.where((f[:-1] > s[:-1]) & (f[1:] < s[1:]), 1, 0)
    return out


class LimitStop(Strategy):
    def __init__(self, signal: np.ndarray[Any, Any]) -> None:
        self.signal = signal
        self.entry: int | None = None
        self.exit: int | None = None

    def init(self, data: Any) -> None:
        self.close = next(iter(data.values()))["close"].to_numpy()

    def on_fill(self, ctx: Any, fill: Any) -> None:
        if fill.order_id == self.entry:
            self.entry = None
        if fill.order_id == self.exit:
            self.exit = None

    def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
        long = ctx.position(symbol) > 0
        if self.signal[i] > 0:
            if self.exit is not None:
                ctx.cancel(self.exit)
                self.exit = None
            if not long and self.entry is None:
                self.entry = ctx.buy(symbol, SIZE, limit=entry_price(self.close[i]))
        elif self.signal[i] < 0:
            if self.entry is not None:
                ctx.cancel(self.entry)
                self.entry = None
            if long and self.exit is None:
                self.exit = ctx.sell(symbol, SIZE, stop=exit_price(self.close[i]))


def ours_limit_stop(name: str, fast: int, slow: int) -> pd.DataFrame:
    bars = shared_bars(name)
    signal = crosses(bars["close"].to_numpy(), fast, slow)
    result = run_backtest(bars, LimitStop(signal), BacktestConfig(commission_bps=20))
    kinds = set(result.orders["type"])
    assert kinds == {"limit", "stop"}
    assert (result.orders["state"] == "canceled").any(), "the case must exercise cancels"
    return our_trades(result)


def backtesting_py_limit_stop(name: str, fast: int, slow: int) -> pd.DataFrame:
    frame = peer_frame(shared_bars(name))
    signal = crosses(frame["Close"].to_numpy(), fast, slow)

    class Peer(BtpyStrategy):
        def init(self) -> None:
            self.entry: Any = None
            self.exit: Any = None

        def next(self) -> None:
            i = len(self.data) - 1
            close = float(self.data.Close[-1])
            pending = set(map(id, self.orders))
            if self.entry is not None and id(self.entry) not in pending:
                self.entry = None
            if self.exit is not None and id(self.exit) not in pending:
                self.exit = None
            long = self.position.size > 0
            if signal[i] > 0:
                if self.exit is not None:
                    self.exit.cancel()
                    self.exit = None
                if not long and self.entry is None:
                    self.entry = self.buy(size=SIZE, limit=entry_price(close))
            elif signal[i] < 0:
                if self.entry is not None:
                    self.entry.cancel()
                    self.entry = None
                if long and self.exit is None:
                    self.exit = self.sell(size=SIZE, stop=exit_price(close))

    stats = Backtest(frame, Peer, cash=CASH, commission=COMMISSION).run()
    return backtesting_py_trades(stats)


@pytest.mark.parametrize(("name", "fast", "slow"), CASES)
def test_limit_and_stop_orders_equal_backtesting_py(name: str, fast: int, slow: int) -> None:
    assert_same_trades(
        ours_limit_stop(name, fast, slow),
        backtesting_py_limit_stop(name, fast, slow),
        "backtesting.py",
    )
