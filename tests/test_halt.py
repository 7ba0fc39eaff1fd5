"""The emergency stop against the simulator over real sockets, through broker faults: it must get
through 429 storms and 5xx answers, refuse clearly when the broker says no, and always leave the
kill switch set, even when the broker cannot be reached at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from conftest import KEY, SECRET, Running

from pyrt import _core
from pyrt.session import session_config
from pyrt.sim import Faults, SimConfig, build
from pyrt.supervisor import Layout, SupervisorError, halt


def kill_switch(layout: Layout) -> bool:
    return bool(_core.ControlBlock(str(layout.runtime_dir / "control")).kill_switch)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    layout = Layout.load(session_config(tmp_path / "appliance"))
    layout.runtime_dir.mkdir(parents=True)
    layout.credentials.write_text(json.dumps({"key_id": KEY, "secret_key": SECRET}))
    return layout


@pytest.fixture
def venue(layout: Layout) -> Iterator[Running]:
    running = Running(build(SimConfig(KEY, SECRET), replay=False), port=layout.appliance.sim.port)
    running.tick("AAPL", "189.99", "190.01")
    running.tick("MSFT", "399.99", "400.01")
    yield running
    running.stop()


def open_book(client: TradingClient) -> None:
    """A long, a short and two resting orders."""
    for symbol, side in (("AAPL", OrderSide.BUY), ("MSFT", OrderSide.SELL)):
        client.submit_order(
            MarketOrderRequest(symbol=symbol, qty=5, side=side, time_in_force=TimeInForce.DAY)
        )
    for symbol, price in (("AAPL", 150), ("MSFT", 300)):
        client.submit_order(
            LimitOrderRequest(
                symbol=symbol,
                qty=1,
                side=OrderSide.BUY,
                limit_price=price,
                time_in_force=TimeInForce.GTC,
            )
        )
    assert len(client.get_all_positions()) == 2
    assert len(client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))) == 2


def test_halt_with_flatten_gets_through_a_429_and_5xx_storm(layout: Layout, venue: Running) -> None:
    client = TradingClient(KEY, SECRET, paper=True, url_override=venue.url)
    open_book(client)
    before = venue.sim.requests
    # Every second request throttled and every third failing: most calls need several tries.
    venue.sim.faults = Faults(throttle_every=2, server_error_every=3)
    # alpaca-py itself sleeps 3 s on each 429 it retries: about 15 s of this storm is sleeping,
    # so the stop gets a deadline with room for a slow machine.
    assert halt(layout, flatten=True, timeout_s=90) == {"open_orders": 0, "positions": 0}
    assert kill_switch(layout)
    assert venue.sim.requests - before > 8, "the storm was never met"
    venue.sim.faults = Faults()
    assert client.get_all_positions() == []
    assert client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN)) == []


def test_halt_without_flatten_keeps_positions_and_cancels_orders(
    layout: Layout, venue: Running
) -> None:
    client = TradingClient(KEY, SECRET, paper=True, url_override=venue.url)
    open_book(client)
    assert halt(layout, flatten=False) == {"open_orders": 0, "positions": 2}
    assert len(client.get_all_positions()) == 2


def test_halt_refused_by_the_broker_says_so_and_keeps_the_kill_switch(
    layout: Layout, venue: Running
) -> None:
    layout.credentials.write_text(json.dumps({"key_id": "PKWRONG", "secret_key": "nope"}))
    with pytest.raises(SupervisorError, match="refused cancel all orders"):
        halt(layout, flatten=True)
    assert kill_switch(layout)


def test_halt_with_the_broker_unreachable_fails_within_its_deadline_with_the_switch_set(
    layout: Layout,
) -> None:
    # No server on the configured port.
    with pytest.raises(SupervisorError, match="broker unavailable for cancel all orders"):
        halt(layout, flatten=True, timeout_s=2)
    assert kill_switch(layout)
