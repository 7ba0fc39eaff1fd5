"""The backtest core's accounting, order handling and refusals.

Accounting invariants run as hypothesis properties over random bar series and random order
streams (market, limit, stop, stop-limit; buys and sells; day, gtc, ioc): equity is cash plus the
marked positions at every bar, every fill belongs to an order and never overfills it, fees are
charged on every fill, and cash is exactly the initial cash minus what fills cost.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from research.backtest import BacktestConfig, Fill, SmaCross, Strategy, run_backtest
from research.data import recorded_ticks, shared_bars

ROOT = Path(__file__).resolve().parents[1]


def bars_from(closes: list[float], start: str = "2024-01-02") -> pd.DataFrame:
    """Bars around `closes` with a consistent high-low range, one per business day."""
    close = np.asarray(closes, dtype=float)
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    index = pd.bdate_range(start, periods=len(close), tz="America/New_York") + pd.Timedelta(
        hours=16
    )
    return (
        pd.DataFrame(
            {
                "open": open_.round(2),
                "high": high.round(2),
                "low": low.round(2),
                "close": close.round(2),
                "volume": np.full(len(close), 1e6),
            },
            index=index.tz_convert("UTC").as_unit("ns"),
        )
        .assign(high=lambda f: f[["open", "high", "close"]].max(axis=1))
        .assign(low=lambda f: f[["open", "low", "close"]].min(axis=1))
    )


order_kinds = st.sampled_from(["market", "limit", "stop", "stop_limit"])


class RandomOrders(Strategy):
    """Places a scripted order (if any) on each bar and checks the account as it goes."""

    def __init__(self, script: list[tuple[str, str, int, float, str] | None]) -> None:
        self.script = script
        self.fills: list[Fill] = []
        self.violations: list[str] = []

    def init(self, data: Any) -> None:
        self.close = next(iter(data.values()))["close"].to_numpy()

    def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
        marked = ctx.cash + ctx.position(symbol) * self.close[i]
        if abs(ctx.equity - marked) > 1e-6 * max(1.0, abs(marked)):
            self.violations.append(f"bar {i}: equity {ctx.equity} != {marked}")
        step = self.script[i % len(self.script)]
        if step is None:
            return
        side, kind, qty, offset, tif = step
        price = self.close[i] * (1 + offset)
        place = ctx.buy if side == "buy" else ctx.sell
        limit = round(price, 2) if kind in ("limit", "stop_limit") else None
        stop = round(self.close[i] * (1 - offset), 2) if kind in ("stop", "stop_limit") else None
        place(symbol, qty, limit=limit, stop=stop, tif=tif)

    def on_fill(self, ctx: Any, fill: Fill) -> None:
        self.fills.append(fill)


scripts = st.lists(
    st.one_of(
        st.none(),
        st.tuples(
            st.sampled_from(["buy", "sell"]),
            order_kinds,
            st.integers(1, 50),
            st.floats(-0.03, 0.03),
            st.sampled_from(["gtc", "day", "ioc"]),
        ),
    ),
    min_size=1,
    max_size=30,
)
walks = st.lists(st.floats(-0.05, 0.05), min_size=5, max_size=120).map(
    lambda r: list(100.0 * np.cumprod(1.0 + np.asarray(r)))
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(walk=walks, script=scripts, commission=st.integers(1, 50))
def test_accounting_invariants(walk: list[float], script: Any, commission: int) -> None:
    bars = bars_from(walk)
    strategy = RandomOrders(script)
    result = run_backtest(bars, strategy, BacktestConfig(commission_bps=commission))
    assert strategy.violations == []
    # Cash plus marked position equals equity at the end as well.
    position = sum(f.qty if f.side == "buy" else -f.qty for f in strategy.fills)
    marked = float(result.cash.iloc[-1]) + position * float(bars["close"].iloc[-1])
    assert float(result.equity.iloc[-1]) == pytest.approx(marked, rel=1e-12, abs=1e-6)
    # No fill without an order, none beyond its quantity, every one charged.
    orders = result.orders.set_index("id")
    fills = result.fills
    assert set(fills["order_id"]) <= set(orders.index)
    filled = fills.groupby("order_id")["qty"].sum()
    assert (filled <= orders.loc[filled.index, "qty"] + 1e-9).all()
    np.testing.assert_allclose(filled, orders.loc[filled.index, "filled"])
    assert (fills["fee"] > 0).all()
    np.testing.assert_allclose(
        fills["fee"], fills["qty"] * fills["price"] * commission / 10_000, rtol=1e-9, atol=1e-9
    )
    # Cash is the initial cash minus the signed notional and fees of every fill.
    sign = np.where(fills["side"] == "buy", 1.0, -1.0)
    spent = float((sign * fills["qty"] * fills["price"]).sum() + fills["fee"].sum())
    assert float(result.cash.iloc[-1]) == pytest.approx(100_000 - spent, abs=1e-6)
    assert Decimal(result.summary["fees"]) == pytest.approx(Decimal(fills["fee"].sum()))
    # Fills happen only on bars after the order was placed.
    placed = orders.loc[fills["order_id"], "ts"].to_numpy()
    assert (fills["ts"].to_numpy() > placed).all()


def test_limit_and_stop_orders_fill_where_the_bar_reaches_them() -> None:
    bars = bars_from([100.0, 100.0, 100.0, 100.0])
    bars.iloc[2] = [99.0, 101.0, 95.0, 100.0, 1e6]  # range 95..101, opens at 99

    class Orders(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            if i == 1:
                ctx.buy(symbol, 1, limit=96.5)  # reached inside the range: fills at 96.5
                ctx.buy(symbol, 1, limit=99.5)  # open already below: fills at the open
                ctx.buy(symbol, 1, stop=100.5)  # range reaches 100.5: fills at the stop
                ctx.sell(symbol, 1, stop=99.5)  # the open gapped below: fills at the open
                ctx.buy(symbol, 1, limit=94.0)  # never reached
                ctx.buy(symbol, 1, limit=94.0, tif="day")  # expires after its session

    result = run_backtest(bars, Orders())
    fills = result.fills.set_index("order_id")
    assert fills.loc[1, "price"] == 96.5
    assert fills.loc[2, "price"] == 99.0
    assert fills.loc[3, "price"] == 100.5
    assert fills.loc[4, "price"] == 99.0
    assert 5 not in fills.index
    assert list(result.orders["state"]) == [
        "filled",
        "filled",
        "filled",
        "filled",
        "open",
        "canceled",
    ]


def test_slippage_and_regulatory_fees() -> None:
    bars = bars_from([100.0] * 6)
    config = BacktestConfig(slippage_bps=10, regulatory_fees=True)

    class RoundTrip(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            if i == 1:
                ctx.buy(symbol, 100)
            if i == 3:
                ctx.sell(symbol, 100)

    fills = run_backtest(bars, RoundTrip(), config).fills
    assert list(fills["price"]) == [100.1, 99.9]
    # Buys pay no regulatory fee; the sell pays SEC (27.80 per $1M, rounded up to the cent) and
    # FINRA TAF (0.000166 per share, rounded up): $0.28 + $0.02.
    assert list(fills["fee"]) == [0.0, pytest.approx(0.3)]


def test_dividends_are_paid_and_splits_applied_when_asked() -> None:
    bars = bars_from([50.0] * 5).assign(dividend=0.0, split=1.0)
    bars.iloc[3, bars.columns.get_loc("dividend")] = 0.5
    bars.iloc[4, bars.columns.get_loc("split")] = 2.0

    class Hold(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            if i == 0:
                ctx.buy(symbol, 10)

    held = run_backtest(bars, Hold(), BacktestConfig(apply_splits=True))
    assert held.summary["dividends"] == "5"
    assert held.summary["positions"] == {"ASSET": "20"}
    adjusted = run_backtest(bars, Hold(), BacktestConfig(apply_splits=False))
    assert adjusted.summary["positions"] == {"ASSET": "10"}


def test_working_gtc_orders_follow_a_split() -> None:
    # Unadjusted prices: 50, then a 2-for-1 split on day 3 and trading near 25, dipping to 19.
    bars = bars_from([50.0, 50.0, 50.0, 25.0, 25.0, 19.0]).assign(dividend=0.0, split=1.0)
    bars.iloc[3, bars.columns.get_loc("split")] = 2.0

    class BidBelow(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            if i == 0:
                ctx.buy(symbol, 10, limit=45)

    result = run_backtest(bars, BidBelow(), BacktestConfig(apply_splits=True))
    # Unadjusted, the 45 limit would have bought 10 on the split day, when the price fell
    # through it. Adjusted it is 20 shares at 22.50 and waits for the dip.
    fills = result.fills
    assert list(fills["qty"]) == [20.0]
    assert list(fills["price"]) == [22.5]
    assert fills["ts"].iloc[0] == bars.index[5]
    assert result.orders["qty"].iloc[0] == 10.0, "the order record keeps what was asked"


def test_buys_beyond_the_cash_are_refused_like_the_venue_does() -> None:
    bars = bars_from([100.0] * 6)

    class Greedy(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            if i == 0:
                ctx.buy(symbol, 600, limit=90)  # $54,000 of $100,000 held back
                ctx.buy(symbol, 600, limit=89)  # $53,400 more: refused
            if i == 1:
                ctx.buy(symbol, 2_000)  # $200,000 at the market: refused
                ctx.buy(symbol, 400)  # $40,000 fits beside the working 600 @ 90

    result = run_backtest(bars, Greedy())
    orders = result.orders
    assert list(orders["state"]) == ["open", "rejected", "rejected", "filled"]
    assert list(orders["reject_reason"]) == [
        "",
        "insufficient_buying_power",
        "insufficient_buying_power",
        "",
    ]
    assert result.summary["rejects"] == {"insufficient_buying_power": 2}
    assert Decimal(result.summary["cash"]) > 0
    # Without the check (other engines' convention) cash simply goes negative.
    loose = run_backtest(bars, Greedy(), BacktestConfig(check_buying_power=False))
    assert list(loose.orders["state"]) == ["open", "open", "filled", "filled"]
    assert Decimal(loose.summary["cash"]) < 0


def test_several_symbols_share_one_account_and_clock() -> None:
    a = bars_from([10.0, 11.0, 12.0, 13.0])
    b = bars_from([20.0, 19.0, 18.0, 17.0, 16.0], start="2024-01-03")

    class Both(Strategy):
        def __init__(self) -> None:
            self.seen: list[tuple[int, str]] = []

        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            self.seen.append((ctx.ts, symbol))
            if i == 0:
                ctx.buy(symbol, 10)

    strategy = Both()
    result = run_backtest({"AAA": a, "BBB": b}, strategy)
    assert strategy.seen == sorted(strategy.seen)
    assert len(result.equity) == 6  # the union of both calendars
    assert result.summary["positions"] == {"AAA": "10", "BBB": "10"}
    assert float(result.equity.iloc[-1]) == pytest.approx(
        100_000 - 10 * 11.0 - 10 * 19.0 + 10 * 13.0 + 10 * 16.0
    )


def test_live_risk_limits_gate_every_order() -> None:
    bars = shared_bars("AAPL")
    config = BacktestConfig(risk_limits=ROOT / "config" / "risk_limits.toml")

    class Big(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            if i == 5:
                ctx.buy(symbol, 300)  # AAPL max_order_qty is 200
            if i == 6:
                ctx.buy(symbol, 150)

    result = run_backtest(bars, Big(), config)
    orders = result.orders
    assert list(orders["state"]) == ["rejected", "filled"]
    assert orders["reject_reason"].iloc[0] == "order_qty"
    assert result.summary["rejects"] == {"order_qty": 1}


def test_sma_cross_matches_a_plain_python_reference() -> None:
    """Independent of the engine: recompute the crossover's trades by hand from closes and opens."""
    bars = shared_bars("MSFT")
    result = run_backtest(bars, SmaCross(5, 20, 10))
    close, open_ = bars["close"].to_numpy(), bars["open"].to_numpy()
    fast = pd.Series(close).rolling(5).mean().to_numpy()
    slow = pd.Series(close).rolling(20).mean().to_numpy()
    entries, exits, long, last = [], [], False, 0
    for i in range(len(close) - 1):
        if np.isnan(slow[i]) or fast[i] == slow[i]:
            continue
        sign = 1 if fast[i] > slow[i] else -1
        if last and sign != last:
            if sign > 0 and not long:
                entries.append(open_[i + 1])
                long = True
            elif sign < 0 and long:
                exits.append(open_[i + 1])
                long = False
        last = sign
    assert list(result.trades["entry_price"]) == entries[: len(exits)]
    assert list(result.trades["exit_price"]) == exits


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.iloc[::-1], "is not after the previous row"),
        (lambda f: pd.concat([f.iloc[:3], f.iloc[2:]]), "is not after the previous row"),
        (lambda f: f.assign(close=f["close"].where(f.index != f.index[4])), "row 4: close"),
        (lambda f: f.assign(low=f["low"].mask(f.index == f.index[2], -1.0)), "must be positive"),
        (lambda f: f.assign(open=f["open"].mask(f.index == f.index[1], 0.0)), "must be positive"),
        (
            lambda f: f.assign(high=f["high"].mask(f.index == f.index[3], 1.0)),
            "row 3: the high-low range",
        ),
        (lambda f: f.assign(volume=-1.0), "volume = -1"),
        (lambda f: f.drop(columns=["volume"]), "lack the columns ['volume']"),
        (lambda f: f.tz_localize(None), "tz-aware"),
    ],
)
def test_bad_bars_are_refused_with_the_row_and_rule(mutate: Any, message: str) -> None:
    bars = mutate(bars_from([10.0, 11.0, 12.0, 11.5, 11.0, 10.5]))
    with pytest.raises(ValueError, match=re.escape(message)):
        run_backtest(bars, SmaCross(2, 3, 1))


def test_gaps_in_the_calendar_are_traded_through() -> None:
    """A missing session is not an error: working orders meet the next bar that exists."""
    bars = bars_from([10.0, 11.0, 12.0, 13.0, 14.0])
    gapped = bars.drop(bars.index[2])

    class Buy(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            if i == 1:
                ctx.buy(symbol, 1)

    fills = run_backtest(gapped, Buy()).fills
    assert list(fills["ts"]) == [gapped.index[2]]


def test_strategy_errors_stop_the_run_with_their_own_exception() -> None:
    class Broken(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            if i == 3:
                raise KeyError("no such column")

    with pytest.raises(KeyError, match="no such column"):
        run_backtest(bars_from([1.0, 2.0, 3.0, 4.0, 5.0]), Broken())

    class Unknown(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            ctx.buy("NOPE", 1)

    with pytest.raises(ValueError, match='unknown symbol "NOPE"'):
        run_backtest(bars_from([1.0, 2.0, 3.0]), Unknown())

    class Negative(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            ctx.buy(symbol, -5)

    with pytest.raises(ValueError, match="qty must be positive"):
        run_backtest(bars_from([1.0, 2.0, 3.0]), Negative())


def test_bad_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="extra"):
        BacktestConfig(commision_bps=5)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="greater than 0"):
        BacktestConfig(initial_cash=Decimal(0))
    bad = tmp_path / "risk_limits.toml"
    bad.write_text((ROOT / "config" / "risk_limits.toml").read_text().replace("300", "-3"))
    with pytest.raises(ValueError, match="price_collar_bps"):
        run_backtest(bars_from([1.0, 2.0]), SmaCross(1, 2, 1), BacktestConfig(risk_limits=bad))


def test_ticks_of_a_real_recording_fill_at_the_touch_and_in_the_queue() -> None:
    """Quotes and trades of the recorded Binance BTCUSDT stream: a market buy takes the next
    quote's ask; a resting limit sell above the market fills at its limit, as maker, only once the
    market reaches it."""
    ticks = recorded_ticks()
    quotes = ticks.quotes.iloc[:6000]
    trades = ticks.trades[ticks.trades.index <= quotes.index[-1]]
    target = float(quotes["ask"].iloc[200]) + 5.0

    class Ticker(Strategy):
        def on_quote(self, ctx: Any, symbol: str, i: int) -> None:
            if i == 100:
                ctx.buy(symbol, 0.5)
            if i == 200:
                ctx.sell(symbol, 0.5, limit=target)

    result = run_backtest({}, Ticker(), quotes={"BTCUSD": quotes}, trades={"BTCUSD": trades})
    fills = result.fills
    buy, sell = fills.iloc[0], fills.iloc[-1]
    assert buy["side"] == "buy"
    assert buy["liquidity"] == "taker"
    assert buy["ts"] == quotes.index[101]
    assert buy["price"] == quotes["ask"].iloc[101]
    assert fills[fills["side"] == "buy"]["qty"].sum() == pytest.approx(0.5)
    assert sell["side"] == "sell"
    assert sell["price"] == target
    assert sell["liquidity"] == "maker"
    placed = quotes.index[200]
    reached = min(
        trades.index[(trades.index > placed) & (trades["price"] >= target)].min(),
        quotes.index[(quotes.index > placed) & (quotes["bid"] >= target)].min(),
    )
    assert sell["ts"] >= reached
    last = quotes.iloc[-1]
    position = result.summary["positions"].get("BTCUSD", "0")
    mid = (last["bid"] + last["ask"]) / 2
    assert float(result.equity.iloc[-1]) == pytest.approx(
        float(result.cash.iloc[-1]) + float(position) * mid, abs=1e-6
    )


def test_real_dividends_of_a_held_position_are_credited_on_each_ex_date() -> None:
    """AAPL 2012-2014 (zipline csvdir): ten cash dividends, prices already split-adjusted, so the
    7:1 split of 2014-06-09 must not be applied again."""
    bars = shared_bars("AAPL-zipline")

    class Hold(Strategy):
        def on_bar(self, ctx: Any, symbol: str, i: int) -> None:
            if i == 0:
                ctx.buy(symbol, 100)

    result = run_backtest(bars, Hold())
    paid = bars["dividend"].iloc[2:]  # the position exists from bar 1's open
    assert (paid > 0).sum() == 10
    assert float(result.summary["dividends"]) == pytest.approx(100 * paid.sum(), abs=1e-6)
    assert result.summary["positions"] == {"AAPL": "100"}
    fill = result.fills["price"].iloc[0]
    expected = 100_000 - 100 * fill + 100 * paid.sum() + 100 * bars["close"].iloc[-1]
    assert float(result.equity.iloc[-1]) == pytest.approx(expected, abs=1e-6)
