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
    trades = result.trades
    return normalise(
        trades["entry_ts"].dt.tz_convert("America/New_York").dt.date,
        trades["exit_ts"].dt.tz_convert("America/New_York").dt.date,
        trades,
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
