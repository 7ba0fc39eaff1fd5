"""The crypto market-data stream (``/v1beta3/crypto/us``), fed by real order books.

The hftbacktest recordings in ../shared/data (Binance spot, 2024-08-08, see its INDEX.md) carry a
REST depth snapshot, depth diffs, best bid/offer and trades. They are replayed as Alpaca's crypto
messages: ``o`` order books (a full book with ``r: true`` first, then changed levels, size 0 =
level removed), ``q`` quotes and ``t`` trades, BTCUSDT as ``BTC/USD`` and ETHUSDT as ``ETH/USD``.
Diffs are sequenced by Binance's spot rules (diffs older than the snapshot dropped, the first
applied one straddling it), so the book a client rebuilds is the exchange's. A client that
subscribes mid-stream first gets the current full book, as Alpaca sends it. The recording loops;
each loop starts again from a full book.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from aiohttp import web

from pyrt.sim.market import DEFAULT_DATA
from pyrt.sim.stream import StreamHub
from pyrt.sim.venue import rfc3339

RECORDINGS = {"BTC/USD": "spot_btcusdt_20240808.gz", "ETH/USD": "spot_ethusdt_20240808.gz"}
CRYPTO_CHANNELS = ("trades", "quotes", "orderbooks", "bars")


def crypto_reply(_subscriptions: dict[str, set[str]]) -> dict[str, list[str]]:
    return {"updatedBars": [], "dailyBars": []}


@dataclass(frozen=True)
class Event:
    ts_ns: int
    symbol: str
    channel: str
    message: dict[str, Any]


def _levels(pairs: list[list[str]]) -> list[dict[str, float]]:
    return [{"p": float(p), "s": float(q)} for p, q in pairs]


def recorded_events(path: Path, symbol: str) -> list[Event]:
    """One recording as Alpaca crypto messages, in receive order."""
    events: list[Event] = []
    early_diffs: list[tuple[int, dict[str, Any]]] = []
    last_update: int | None = None
    with gzip.open(path, "rt") as lines:
        for line in lines:
            stamp, _, payload = line.partition(" ")
            ts, record = int(stamp), json.loads(payload)
            if "lastUpdateId" in record:
                last_update = int(record["lastUpdateId"])
                events.append(
                    Event(
                        ts,
                        symbol,
                        "orderbooks",
                        {
                            "T": "o",
                            "b": _levels(record["bids"]),
                            "a": _levels(record["asks"]),
                            "r": True,
                        },
                    )
                )
                # Spot rule: drop diffs with u <= lastUpdateId; apply the rest after the snapshot.
                for diff_ts, diff in early_diffs:
                    if int(diff["u"]) > last_update:
                        events.append(_diff(max(diff_ts, ts), symbol, diff))
                continue
            data = record["data"]
            stream = record["stream"]
            if stream.endswith("@bookTicker"):
                events.append(
                    Event(
                        ts,
                        symbol,
                        "quotes",
                        {
                            "T": "q",
                            "bp": float(data["b"]),
                            "bs": float(data["B"]),
                            "ap": float(data["a"]),
                            "as": float(data["A"]),
                        },
                    )
                )
            elif stream.endswith("@trade"):
                events.append(
                    Event(
                        ts,
                        symbol,
                        "trades",
                        {
                            "T": "t",
                            "p": float(data["p"]),
                            "s": float(data["q"]),
                            "i": int(data["t"]),
                            # Binance's m: the buyer was the maker, so the taker sold.
                            "tks": "S" if data["m"] else "B",
                        },
                    )
                )
            elif "@depth" in stream:
                if last_update is None:
                    early_diffs.append((ts, data))
                elif int(data["u"]) > last_update:
                    events.append(_diff(ts, symbol, data))
    return events


def _diff(ts: int, symbol: str, data: dict[str, Any]) -> Event:
    return Event(
        ts, symbol, "orderbooks", {"T": "o", "b": _levels(data["b"]), "a": _levels(data["a"])}
    )


@dataclass
class Book:
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)

    def apply(self, message: dict[str, Any]) -> None:
        if message.get("r"):
            self.bids.clear()
            self.asks.clear()
        for side, levels in ((self.bids, message["b"]), (self.asks, message["a"])):
            for level in levels:
                if level["s"] == 0:
                    side.pop(level["p"], None)
                else:
                    side[level["p"]] = level["s"]

    def snapshot(self) -> dict[str, Any]:
        def levels(side: dict[float, float], reverse: bool) -> list[dict[str, float]]:
            return [{"p": p, "s": s} for p, s in sorted(side.items(), reverse=reverse)]

        return {"T": "o", "b": levels(self.bids, True), "a": levels(self.asks, False), "r": True}


class CryptoFeed:
    def __init__(
        self, key_id: str, secret_key: str, data_dir: Path = DEFAULT_DATA, speed: float = 10.0
    ) -> None:
        self.hub = StreamHub(key_id, secret_key, CRYPTO_CHANNELS, crypto_reply)
        self.speed = speed
        folder = data_dir / "hftbacktest"
        events = [
            e
            for symbol, name in RECORDINGS.items()
            if (folder / name).exists()
            for e in recorded_events(folder / name, symbol)
        ]
        self.events = sorted(events, key=lambda e: e.ts_ns)
        self.books: dict[str, Book] = {}
        #: (connection, symbol) pairs that have the current full book.
        self.primed: set[tuple[int, str]] = set()

    def register(self, app: web.Application) -> None:
        app.router.add_get("/v1beta3/crypto/us", self.hub.stream)

    async def prime(self, symbol: str, ns: int) -> None:
        """Sends the current full book to order-book subscribers that do not have it yet."""
        book = self.books.get(symbol)
        if book is None:
            return
        for ws, (packed, subs) in list(self.hub.subscribers.items()):
            key = (id(ws), symbol)
            wants = symbol in subs["orderbooks"] or "*" in subs["orderbooks"]
            if wants and key not in self.primed and not ws.closed:
                snapshot = {"T": "o", "S": symbol, "t": rfc3339(ns), **book.snapshot()}
                if packed:
                    snapshot["t"] = msgpack.Timestamp.from_unix_nano(ns)
                await self.hub.send(ws, packed, [snapshot])
                self.primed.add(key)

    async def run(self) -> None:
        """Replays the recordings forever at ``speed`` times real time."""
        if not self.events:
            return
        while True:
            start_wall = time.monotonic()
            first = self.events[0].ts_ns
            self.books.clear()
            self.primed.clear()
            for event in self.events:
                due = start_wall + (event.ts_ns - first) / 1e9 / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                ns = time.time_ns()
                if event.channel == "orderbooks":
                    book = self.books.setdefault(event.symbol, Book())
                    book.apply(event.message)
                    if event.message.get("r"):
                        # Everyone subscribed gets this full book now.
                        self.primed = {p for p in self.primed if p[1] != event.symbol}
                        await self.deliver_reset(event, ns)
                        continue
                    await self.prime(event.symbol, ns)
                message = {**event.message, "t": rfc3339(ns)}
                await self.hub.deliver(event.symbol, [(event.channel, message)], ns)

    async def deliver_reset(self, event: Event, ns: int) -> None:
        message = {**event.message, "t": rfc3339(ns)}
        await self.hub.deliver(event.symbol, [("orderbooks", message)], ns)
        for ws, (_, subs) in self.hub.subscribers.items():
            if event.symbol in subs["orderbooks"] or "*" in subs["orderbooks"]:
                self.primed.add((id(ws), event.symbol))
