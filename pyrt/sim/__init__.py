"""The embedded venue: an Alpaca-compatible simulator (REST and `trade_updates` so far) backed by
the Rust fill model and market data derived from the real daily bars in ../shared/data."""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path

from pyrt import _core
from pyrt.sim.crypto import CryptoFeed
from pyrt.sim.data import MarketData
from pyrt.sim.market import DEFAULT_DATA, intraday_path, load_daily_bars
from pyrt.sim.server import Faults, SimConfig, Simulator, describe
from pyrt.sim.venue import Asset, Venue, VenueError

__all__ = ["Asset", "Faults", "SimConfig", "Simulator", "Venue", "VenueError", "build", "describe"]


def build(
    config: SimConfig,
    *,
    seed: int = 0,
    data_dir: Path | None = None,
    initial_cash: Decimal = Decimal(100_000),
    latency_ns: int = 0,
    max_fill_fraction_bps: int = 10_000,
    reject_every_nth: int = 0,
    replay: bool = True,
    crypto_speed: float = 10.0,
) -> Simulator:
    """A simulator over the symbols of the real daily bars."""
    bars = load_daily_bars(data_dir or Path(os.environ.get("PYRT_SHARED_DATA", DEFAULT_DATA)))
    assets = [Asset(symbol) for symbol in sorted(bars)]

    def engine() -> _core.FillEngine:
        return _core.FillEngine(
            latency_ns=latency_ns, max_fill_fraction_bps=max_fill_fraction_bps, regulatory_fees=True
        )

    venue = Venue(
        assets, initial_cash=initial_cash, engine_factory=engine, reject_every_nth=reject_every_nth
    )
    faults = config.faults or Faults()
    crypto = CryptoFeed(
        config.key_id,
        config.secret_key,
        data_dir or Path(os.environ.get("PYRT_SHARED_DATA", DEFAULT_DATA)),
        speed=crypto_speed,
    )
    data = MarketData(
        bars,
        config.key_id,
        config.secret_key,
        drop_after=faults.drop_data_stream_after,
        crypto=crypto if replay else None,
    )
    return Simulator(venue, config, intraday_path(bars, seed) if replay else None, data)


def generated_keys() -> tuple[str, str]:
    return "PKSIM" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
