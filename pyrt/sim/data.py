"""Market Data API v2 of the simulator: historical REST (bars, trades, quotes, latest, snapshots)
and the stock stream (JSON or MessagePack by the upgrade's Content-Type).

Daily bars are the real ones from ../shared/data, exact. Trades, quotes and intraday bars are the
replay's derived ticks, recorded as they are generated (plus the one real page of Alpaca trades in
the shared data); responses say nothing false about them, and docs call them derived.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from pyrt import _core
from pyrt.sim.crypto import CryptoFeed
from pyrt.sim.market import DailyBar, Tick
from pyrt.sim.stream import StreamHub
from pyrt.sim.venue import CODE_VALIDATION, VenueError, int_param, parse_time, rfc3339

MAX_LIMIT = 10_000
STOCK_CHANNELS = ("trades", "quotes", "bars")


def STOCK_REPLY(subscriptions: dict[str, set[str]]) -> dict[str, list[str]]:  # noqa: N802
    """The stock stream's subscription reply beyond the subscribed channels."""
    trades = sorted(subscriptions["trades"])
    return {
        "updatedBars": [],
        "dailyBars": [],
        "statuses": [],
        "lulds": [],
        "corrections": trades,
        "cancelErrors": trades,
    }


def number(value: Decimal) -> float | int:
    """Market data is numeric JSON: prices as numbers, sizes as integers where they are whole."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class BarBuilder:
    """A symbol's stream bar in the making: the replay's trades since its last bar."""

    start_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)
    trades: int = 0
    notional: Decimal = Decimal(0)

    def add(self, price: Decimal, size: Decimal) -> None:
        self.high, self.low, self.close = max(self.high, price), min(self.low, price), price
        self.volume += size
        self.trades += 1
        self.notional += price * size

    def message(self) -> dict[str, Any]:
        """Alpaca's stream bar (``T: b``) without ``S``."""
        return {
            "T": "b",
            "t": rfc3339(self.start_ns),
            "o": number(self.open),
            "h": number(self.high),
            "l": number(self.low),
            "c": number(self.close),
            "v": number(self.volume),
            "n": self.trades,
            "vw": number((self.notional / self.volume).quantize(Decimal("0.0001"))),
        }


@dataclass
class Recorded:
    """What the replay produced, per symbol, for the historical endpoints."""

    trades: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    quotes: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    next_trade_id: int = 1

    def add(self, tick: Tick, ns: int) -> tuple[dict[str, Any], dict[str, Any]]:
        stamp = rfc3339(ns)
        quote = {
            "t": stamp,
            "bx": "V",
            "bp": number(tick.bid),
            "bs": number(tick.size),
            "ax": "V",
            "ap": number(tick.ask),
            "as": number(tick.size),
            "c": ["R"],
            "z": "C",
        }
        trade = {
            "t": stamp,
            "x": "V",
            "p": number(tick.price),
            "s": number(tick.size),
            "c": ["@"],
            "i": self.next_trade_id,
            "z": "C",
        }
        self.next_trade_id += 1
        self.trades[tick.symbol].append(trade)
        self.quotes[tick.symbol].append(quote)
        # Bounded memory: keep the most recent window.
        for book in (self.trades[tick.symbol], self.quotes[tick.symbol]):
            if len(book) > 200_000:
                del book[: len(book) - 100_000]
        return trade, quote


def bar_json(bar: DailyBar) -> dict[str, Any]:
    return {
        "t": rfc3339(bar.timestamp_ns),
        "o": number(bar.open),
        "h": number(bar.high),
        "l": number(bar.low),
        "c": number(bar.close),
        "v": number(bar.volume),
        "n": bar.trade_count,
        "vw": None if bar.vwap is None else number(bar.vwap),
    }


def page(
    items: dict[str, list[dict[str, Any]]], request: web.Request
) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    """Alpaca's pagination: `limit` counts items across symbols; the token is opaque and resumes
    after the last item served; `null` on the last page."""
    limit = int_param(request.query, "limit", default=1000, low=1, high=MAX_LIMIT, status=400)
    token = request.query.get("page_token")
    skip = 0
    if token:
        try:
            skip = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise VenueError(400, CODE_VALIDATION, "invalid page_token") from None
        # Tokens are ours and never negative; a negative one would page from the end.
        if skip < 0:
            raise VenueError(400, CODE_VALIDATION, "invalid page_token")
    flat = [(symbol, item) for symbol in sorted(items) for item in items[symbol]]
    chosen = flat[skip : skip + limit]
    out: dict[str, list[dict[str, Any]]] = {}
    for symbol, item in chosen:
        out.setdefault(symbol, []).append(item)
    end = skip + len(chosen)
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(flat) else None
    return out, next_token


class MarketData:
    """The data endpoints and stream, sharing the simulator's app and replay."""

    def __init__(
        self,
        daily: dict[str, list[DailyBar]],
        key_id: str,
        secret_key: str,
        drop_after: int = 0,
        crypto: CryptoFeed | None = None,
    ) -> None:
        #: The crypto stream on real recorded order books, when the recordings are present.
        self.crypto = crypto
        self.daily = daily
        self.key_id = key_id
        self.secret_key = secret_key
        self.recorded = Recorded()
        self.building: dict[str, BarBuilder] = {}
        self.hub = StreamHub(key_id, secret_key, STOCK_CHANNELS, STOCK_REPLY, drop_after)

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/v2/stocks/bars", self.bars)
        r.add_get("/v2/stocks/trades", self.trades)
        r.add_get("/v2/stocks/quotes", self.quotes)
        r.add_get("/v2/stocks/trades/latest", self.latest_trades)
        r.add_get("/v2/stocks/quotes/latest", self.latest_quotes)
        r.add_get("/v2/stocks/bars/latest", self.latest_bars)
        r.add_get("/v2/stocks/snapshots", self.snapshots)
        r.add_get("/v2/iex", self.stream)
        r.add_get("/v2/sip", self.stream)
        if self.crypto is not None:
            self.crypto.register(app)

    def symbols(self, request: web.Request) -> list[str]:
        raw = request.query.get("symbols", "")
        symbols = [s for s in raw.split(",") if s]
        if not symbols:
            raise VenueError(400, CODE_VALIDATION, "symbols is required")
        return symbols

    def window(self, request: web.Request) -> tuple[int, int]:
        start = parse_time(request.query.get("start"), "start", status=400) or 0
        end = parse_time(request.query.get("end"), "end", status=400) or 2**62
        return start, end

    async def bars(self, request: web.Request) -> web.Response:
        timeframe = request.query.get("timeframe", "")
        if timeframe not in {"1Day", "1D", "1Week", "1Month"}:
            raise VenueError(
                400,
                CODE_VALIDATION,
                "the simulator serves timeframe 1Day, 1Week and 1Month (real daily bars)",
            )
        start, end = self.window(request)
        items: dict[str, list[dict[str, Any]]] = {}
        for symbol in self.symbols(request):
            series = [b for b in self.daily.get(symbol, []) if start <= b.timestamp_ns <= end]
            if timeframe in {"1Week", "1Month"}:
                series = aggregate(series, timeframe)
            if request.query.get("sort", "asc") == "desc":
                series = list(reversed(series))
            if series:
                items[symbol] = [bar_json(b) for b in series]
        body, token = page(items, request)
        return web.json_response({"bars": body, "next_page_token": token})

    def recorded_window(
        self, book: dict[str, list[dict[str, Any]]], request: web.Request
    ) -> dict[str, list[dict[str, Any]]]:
        start, end = self.window(request)
        out = {}
        for symbol in self.symbols(request):
            chosen = [
                i
                for i in book.get(symbol, [])
                if start <= _core.Timestamp(i["t"]).unix_nanos <= end
            ]
            if chosen:
                out[symbol] = chosen
        return out

    async def trades(self, request: web.Request) -> web.Response:
        body, token = page(self.recorded_window(self.recorded.trades, request), request)
        return web.json_response({"trades": body, "next_page_token": token})

    async def quotes(self, request: web.Request) -> web.Response:
        body, token = page(self.recorded_window(self.recorded.quotes, request), request)
        return web.json_response({"quotes": body, "next_page_token": token})

    def latest(self, book: dict[str, list[dict[str, Any]]], request: web.Request) -> dict[str, Any]:
        return {s: book[s][-1] for s in self.symbols(request) if book.get(s)}

    async def latest_trades(self, request: web.Request) -> web.Response:
        return web.json_response({"trades": self.latest(self.recorded.trades, request)})

    async def latest_quotes(self, request: web.Request) -> web.Response:
        return web.json_response({"quotes": self.latest(self.recorded.quotes, request)})

    async def latest_bars(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "bars": {
                    s: bar_json(self.daily[s][-1])
                    for s in self.symbols(request)
                    if self.daily.get(s)
                }
            }
        )

    async def snapshots(self, request: web.Request) -> web.Response:
        out: dict[str, Any] = {}
        for symbol in self.symbols(request):
            series = self.daily.get(symbol)
            if not series:
                continue
            trades, quotes = self.recorded.trades.get(symbol), self.recorded.quotes.get(symbol)
            out[symbol] = {
                "latestTrade": trades[-1] if trades else None,
                "latestQuote": quotes[-1] if quotes else None,
                "minuteBar": bar_json(series[-1]),
                "dailyBar": bar_json(series[-1]),
                "prevDailyBar": bar_json(series[-2]) if len(series) > 1 else None,
            }
        return web.json_response(out)

    # ---- stream -----------------------------------------------------------------------------

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        return await self.hub.stream(request)

    async def publish(self, tick: Tick, ns: int) -> None:
        trade, quote = self.recorded.add(tick, ns)
        await self.hub.deliver(
            tick.symbol, [("quotes", {"T": "q", **quote}), ("trades", {"T": "t", **trade})], ns
        )
        bar = self.building.setdefault(
            tick.symbol, BarBuilder(ns, tick.price, tick.price, tick.price, tick.price)
        )
        bar.add(tick.price, tick.size)
        if tick.closes_bar:
            # The bar of the day just replayed: the real daily bar's prices at cent precision.
            del self.building[tick.symbol]
            await self.hub.deliver(tick.symbol, [("bars", bar.message())], bar.start_ns)

    async def close(self) -> None:
        await self.hub.close()
        if self.crypto is not None:
            await self.crypto.hub.close()


def aggregate(series: list[DailyBar], timeframe: str) -> list[DailyBar]:
    """Weekly or monthly bars from the daily ones (open of the first, close of the last)."""
    groups: dict[tuple[int, int], list[DailyBar]] = {}
    for bar in series:
        moment = datetime.fromtimestamp(bar.timestamp_ns / 1e9)
        key = moment.isocalendar()[:2] if timeframe == "1Week" else (moment.year, moment.month)
        groups.setdefault(key, []).append(bar)
    out = []
    for bars in groups.values():
        out.append(
            DailyBar(
                bars[0].symbol,
                bars[0].timestamp_ns,
                bars[0].open,
                max(b.high for b in bars),
                min(b.low for b in bars),
                bars[-1].close,
                sum((b.volume for b in bars), Decimal(0)),
                None,
                None,
            )
        )
    return out
