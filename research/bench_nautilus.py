"""NautilusTrader's part of `make bench-backtest`, run by the separate venv's Python (its wheel
needs pandas < 3, the project's env has pandas 3): never imports pyrt or research.

Reads the bars `research.bench_backtest` wrote (Parquet: ``ts`` in ns, then open, high, low,
close, volume), runs a long-only SMA crossover in a `BacktestEngine` on 1-DAY LAST EXTERNAL
bars for the first ``n`` bars of each requested size, best of ``--repeat`` timed ``run()``
calls, and prints one JSON object on stdout.

Convention: the venue processes each bar's open, high, low and close before the strategy sees
the bar, so a market order placed in ``on_bar`` fills at once at that bar's close (there is no
"next open" mode for bars). Trade count is unaffected; fill prices differ from the next-open
systems, which the harness accounts for.
"""

# NautilusTrader is not installed in the env mypy checks: everything from it is unknown.
# mypy: disable-error-code="import-untyped,import-not-found,misc,call-arg"

from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal
from typing import Any

import pandas as pd
from nautilus_trader import __version__ as nautilus_version
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.events import PositionClosed
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import Equity
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.trading.strategy import Strategy

VENUE = "XNAS"
# The harness rounds prices to 6 decimals; the instrument must carry them exactly.
PRICE_PRECISION = 6


class CrossConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType
    fast: int = 10
    slow: int = 30
    qty: int = 100


class SmaCrossLongOnly(Strategy):
    """Long ``qty`` when the fast SMA crosses above the slow, flat when it crosses below; a cross
    is judged against the last bar on which the averages differed (backtrader's CrossOver), the
    rule every system in the benchmark uses."""

    def __init__(self, config: CrossConfig) -> None:
        super().__init__(config)
        self.fast = SimpleMovingAverage(config.fast)
        self.slow = SimpleMovingAverage(config.slow)
        self.last_sign = 0
        self.closed = 0
        self.last_close = 0.0

    def on_start(self) -> None:
        self.register_indicator_for_bars(self.config.bar_type, self.fast)
        self.register_indicator_for_bars(self.config.bar_type, self.slow)
        self.subscribe_bars(self.config.bar_type)

    def on_reset(self) -> None:
        self.fast.reset()
        self.slow.reset()
        self.last_sign = 0
        self.closed = 0

    def on_bar(self, bar: Bar) -> None:
        self.last_close = bar.close.as_double()
        if not self.slow.initialized:
            return
        diff = self.fast.value - self.slow.value
        if diff == 0.0:
            return
        sign = 1 if diff > 0.0 else -1
        crossed = self.last_sign not in (0, sign)
        self.last_sign = sign
        if not crossed:
            return
        instrument = self.config.instrument_id
        if sign > 0 and self.portfolio.is_flat(instrument):
            order = self.order_factory.market(
                instrument, OrderSide.BUY, Quantity.from_int(self.config.qty)
            )
            self.submit_order(order)
        elif sign < 0 and self.portfolio.is_net_long(instrument):
            self.close_all_positions(instrument)

    def on_position_closed(self, event: PositionClosed) -> None:
        self.closed += 1


def instrument() -> Equity:
    return Equity(
        instrument_id=InstrumentId(Symbol("ORCL"), Venue(VENUE)),
        raw_symbol=Symbol("ORCL"),
        currency=USD,
        price_precision=PRICE_PRECISION,
        price_increment=Price.from_str("0." + "0" * (PRICE_PRECISION - 1) + "1"),
        lot_size=Quantity.from_int(1),
        ts_event=0,
        ts_init=0,
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
    )


def run_case(
    frame: pd.DataFrame, *, fast: int, slow: int, qty: int, repeat: int, cash: int
) -> dict[str, Any]:
    equity = instrument()
    bar_type = BarType.from_str(f"{equity.id}-1-DAY-LAST-EXTERNAL")
    started = time.perf_counter()
    bars = BarDataWrangler(bar_type, equity).process(frame)
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("BENCH-001"),
            logging=LoggingConfig(bypass_logging=True),
            # Post-run statistics grow pandas Series one position at a time: not the event loop.
            run_analysis=False,
        )
    )
    engine.add_venue(
        venue=Venue(VENUE),
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=USD,
        starting_balances=[Money(cash, USD)],
    )
    engine.add_instrument(equity)
    engine.add_data(bars)
    strategy = SmaCrossLongOnly(
        CrossConfig(instrument_id=equity.id, bar_type=bar_type, fast=fast, slow=slow, qty=qty)
    )
    engine.add_strategy(strategy)
    load_s = time.perf_counter() - started
    times: list[float] = []
    outcome: dict[str, Any] = {}
    for i in range(repeat):
        if i:
            engine.reset()
        started = time.perf_counter()
        engine.run()
        times.append(time.perf_counter() - started)
        account = engine.portfolio.account(Venue(VENUE))
        position = engine.portfolio.net_position(equity.id)
        cash_now = float(account.balance_total(USD).as_decimal())
        outcome = {
            "closed_trades": strategy.closed,
            "fills": len(engine.cache.orders_closed()),
            "final_equity": cash_now + float(position) * strategy.last_close,
            "open_qty": float(position),
        }
    return {
        "bars": len(frame),
        "times_s": times,
        "best_s": min(times),
        "load_s": load_s,
        **outcome,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bars", help="Parquet file written by research.bench_backtest")
    parser.add_argument("--sizes", default="100000", help="comma-separated bar counts")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=30)
    parser.add_argument("--qty", type=int, default=100)
    parser.add_argument("--cash", type=int, default=100_000)
    args = parser.parse_args(argv)
    table = pd.read_parquet(args.bars)
    frame = pd.DataFrame(
        {c: table[c].to_numpy() for c in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime(table["ts"].to_numpy(), unit="ns", utc=True),
    )
    cases = [
        run_case(
            frame.iloc[: int(n)],
            fast=args.fast,
            slow=args.slow,
            qty=args.qty,
            repeat=args.repeat,
            cash=args.cash,
        )
        for n in args.sizes.split(",")
    ]
    json.dump(
        {
            "version": nautilus_version,
            "python": sys.version.split()[0],
            "pandas": pd.__version__,
            "cases": cases,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
