"""Shared fixtures: a venue simulator served on a free loopback port from a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
from aiohttp import web
from alpaca.trading.client import TradingClient
from hypothesis import HealthCheck, settings

from pyrt.sim import SimConfig, Simulator, build
from pyrt.sim.market import Tick

KEY, SECRET = "PKTESTSIM", "test-secret-value"

# These machines are shared and noisy: an example that runs slowly is not a failing one, so no
# property fails on time. Examples stay random, so every run can still find a real failure.
settings.register_profile(
    "pyrt", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("pyrt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Running:
    """A simulator served from a background thread's event loop."""

    def __init__(self, sim: Simulator, port: int | None = None) -> None:
        self.sim = sim
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self.sim.app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.runner = runner
        self.ready.set()
        self.loop.run_forever()

    def tick(
        self,
        symbol: str,
        bid: str,
        ask: str,
        size: str = "1000",
        trade: str | None = None,
        *,
        closes_bar: bool = False,
        day: int = 0,
    ) -> None:
        """One replay step, run on the server's loop so it never races a request handler."""
        t = Tick(
            symbol,
            day,
            Decimal(bid),
            Decimal(ask),
            Decimal(size),
            Decimal(trade or bid),
            closes_bar=closes_bar,
        )
        asyncio.run_coroutine_threadsafe(self.sim.advance(t), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def sim() -> Iterator[Running]:
    running = Running(build(SimConfig(KEY, SECRET), replay=False))
    running.tick("AAPL", "189.99", "190.01")
    running.tick("MSFT", "399.99", "400.01")
    yield running
    running.stop()


@pytest.fixture
def client(sim: Running) -> TradingClient:
    return TradingClient(KEY, SECRET, paper=True, url_override=sim.url)
