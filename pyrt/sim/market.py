"""Market data for the simulator, from the real daily bars in ../shared/data.

There is no real intraday equity data in the shared set, so each real daily bar is walked as a short
intraday path through its own open, high, low and close (high first or low first, chosen by a seeded
coin per bar), with a one-cent quote around each point. The bars themselves stay exact; the path
between them is derived, deterministic for a given seed, and labelled as such wherever it is served.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pyrt import _core

CENT = Decimal("0.01")
DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass(frozen=True)
class DailyBar:
    symbol: str
    timestamp_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    vwap: Decimal | None
    trade_count: int | None


@dataclass(frozen=True)
class Tick:
    """One step of the derived intraday path: a quote and the trade that follows it."""

    symbol: str
    bar: int
    bid: Decimal
    ask: Decimal
    size: Decimal
    price: Decimal
    #: The last tick of its symbol's day: the stream's bar of that day is complete.
    closes_bar: bool = False


def load_daily_bars(data_dir: Path = DEFAULT_DATA) -> dict[str, list[DailyBar]]:
    """Alpaca v2 daily bars (seed_alpaca_daily/*.csv): real, exact."""
    folder = data_dir / "seed_alpaca_daily"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no market data at {folder} (set PYRT_SHARED_DATA or sim.data_dir)"
        )
    bars: dict[str, list[DailyBar]] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                bar = DailyBar(
                    symbol=row["symbol"],
                    timestamp_ns=_core.Timestamp(row["timestamp"]).unix_nanos,
                    open=Decimal(row["open"]),
                    high=Decimal(row["high"]),
                    low=Decimal(row["low"]),
                    close=Decimal(row["close"]),
                    volume=Decimal(row["volume"]),
                    vwap=Decimal(row["vwap"]) if row.get("vwap") else None,
                    trade_count=int(float(row["trade_count"])) if row.get("trade_count") else None,
                )
                bars.setdefault(bar.symbol, []).append(bar)
    return bars


def intraday_path(bars: dict[str, list[DailyBar]], seed: int) -> Iterator[Tick]:
    """Endless derived ticks: for each day, every symbol's O → (H, L or L, H) → C, round robin."""
    # A seeded generator for a reproducible replay, not for anything secret.
    rng = random.Random(seed)  # noqa: S311
    length = min(len(v) for v in bars.values())
    day = 0
    while True:
        for symbol, series in bars.items():
            bar = series[day % length]
            extremes = [bar.high, bar.low] if rng.random() < 0.5 else [bar.low, bar.high]
            size = max(Decimal(1), (bar.volume / 1_000_000).to_integral_value())
            points = (bar.open, *extremes, bar.close)
            for i, point in enumerate(points):
                price = point.quantize(CENT)
                yield Tick(
                    symbol,
                    day % length,
                    price - CENT,
                    price + CENT,
                    size * 100,
                    price,
                    closes_bar=i == len(points) - 1,
                )
        day += 1
