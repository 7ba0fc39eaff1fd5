"""The simulator's HTTP and websocket server: Alpaca's Trading API v2 and `trade_updates` stream
over real sockets, so the official clients and py_rt's own Rust client cannot tell it from Alpaca.

Every malformed request gets an Alpaca-shaped 4xx (`{"code", "message"}`), never a 500; faults are
injected only when configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.typedefs import Handler

from pyrt.sim.data import MarketData
from pyrt.sim.market import Tick
from pyrt.sim.venue import (
    CODE_NOT_FOUND,
    CODE_VALIDATION,
    Venue,
    VenueError,
    decimal_field,
    int_param,
    parse_time,
    rfc3339,
)

CODE_MALFORMED = 40010000
CODE_RATE_LIMIT = 42900000
CODE_INTERNAL = 50010000


@dataclass
class Faults:
    """Fault injection, all off by default."""

    #: Answer every n-th REST request with 503 (0 = never).
    server_error_every: int = 0
    #: Answer every n-th REST request with 429 as if the rate limit were spent (0 = never): a
    #: 429 storm without waiting a minute for a real window to fill.
    throttle_every: int = 0
    #: Delay every order acknowledgement by this many milliseconds.
    ack_delay_ms: int = 0
    #: Close each trade_updates connection after this many events (0 = never).
    drop_stream_after: int = 0
    #: Accept every n-th order but answer 504, as if the acknowledgement were lost (0 = never).
    lost_ack_every: int = 0
    #: Close each market-data stream connection after this many messages (0 = never).
    drop_data_stream_after: int = 0


@dataclass
class SimConfig:
    key_id: str
    secret_key: str
    requests_per_minute: int = 200
    ticks_per_second: float = 20.0
    faults: Faults | None = None


def error(status: int, code: int | None, message: str) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if code is not None:
        body["code"] = code
    return web.json_response(body, status=status)


class RateLimiter:
    """Requests per key in a sliding minute, with Alpaca's X-Ratelimit-* headers."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = {}

    def check(self, key: str) -> tuple[bool, dict[str, str]]:
        now = time.monotonic()
        window = self.seen.setdefault(key, deque())
        while window and now - window[0] >= 60:
            window.popleft()
        allowed = len(window) < self.per_minute
        if allowed:
            window.append(now)
        reset = int(time.time() + (60 - (now - window[0]) if window else 60))
        headers = {
            "X-Ratelimit-Limit": str(self.per_minute),
            "X-Ratelimit-Remaining": str(max(0, self.per_minute - len(window))),
            "X-Ratelimit-Reset": str(reset),
        }
        return allowed, headers


def query_bool(value: str | None) -> bool:
    return (value or "").lower() in {"true", "1"}


def exact(number: str) -> Decimal | str:
    """A JSON number (or NaN/Infinity literal) as an exact Decimal. Python's int() would refuse
    one of more than 4300 digits, and Decimal one past its exponent range, before the field holding
    it could be named; such a number stays text for that field's own check to refuse."""
    try:
        return Decimal(number)
    except InvalidOperation:
        return number


class Simulator:
    def __init__(
        self,
        venue: Venue,
        config: SimConfig,
        ticks: Iterator[Tick] | None = None,
        data: MarketData | None = None,
    ) -> None:
        self.venue = venue
        self.config = config
        self.faults = config.faults or Faults()
        self.limiter = RateLimiter(config.requests_per_minute)
        self.ticks = ticks
        self.data = data
        self.requests = 0
        self.throttled = 0
        self.accepted = 0
        self.submissions: dict[str, int] = {}
        self.streams: set[web.WebSocketResponse] = set()
        self.sockets: set[web.WebSocketResponse] = set()
        #: The replayed day of the last tick: when it changes, that day's session has closed.
        self.day: int | None = None
        self.app = self.build()

    # ---- middleware -----------------------------------------------------------------------

    def authorized(self, request: web.Request) -> bool:
        return (
            request.headers.get("APCA-API-KEY-ID") == self.config.key_id
            and request.headers.get("APCA-API-SECRET-KEY") == self.config.secret_key
        )

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # Websockets authenticate in-band.
        if request.path in {"/stream", "/v2/iex", "/v2/sip", "/v1beta3/crypto/us"}:
            response: web.StreamResponse = await handler(request)
            return response
        if not self.authorized(request):
            return error(401, None, "unauthorized.")
        allowed, headers = self.limiter.check(self.config.key_id)
        # Every authenticated request counts, refused or not, so fault periods stay predictable.
        self.requests += 1
        throttle, fail = self.faults.throttle_every, self.faults.server_error_every
        if not allowed:
            self.throttled += 1
            response = error(429, CODE_RATE_LIMIT, "rate limit exceeded")
        elif throttle and self.requests % throttle == 0:
            self.throttled += 1
            response = error(429, CODE_RATE_LIMIT, "rate limit exceeded")
            headers |= {
                "X-Ratelimit-Remaining": "0",
                "X-Ratelimit-Reset": str(int(time.time()) + 1),
            }
        elif fail and self.requests % fail == 0:
            response = error(503, None, "service unavailable (injected fault)")
        else:
            response = await self.dispatch(request, handler)
        response.headers.update(headers)
        return response

    @staticmethod
    async def dispatch(request: web.Request, handler: Handler) -> web.StreamResponse:
        """The route's answer, with every failure mapped to an Alpaca-shaped error body."""
        try:
            return await handler(request)
        except VenueError as exc:
            return web.json_response(exc.body(), status=exc.http_status)
        except web.HTTPException as exc:
            code = CODE_NOT_FOUND if exc.status == 404 else CODE_MALFORMED
            return error(exc.status, code, exc.reason)
        except (ValueError, TypeError, KeyError) as exc:
            return error(422, CODE_VALIDATION, f"invalid request: {exc.__class__.__name__}")

    async def body(self, request: web.Request) -> dict[str, Any]:
        try:
            parsed = await request.json(
                loads=lambda b: json.loads(
                    b, parse_float=exact, parse_int=exact, parse_constant=exact
                )
            )
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise VenueError(400, CODE_MALFORMED, "request body is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise VenueError(422, CODE_VALIDATION, "request body must be a JSON object")
        return parsed

    # ---- routes ---------------------------------------------------------------------------

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        r = app.router
        r.add_get("/v2/account", self.account)
        r.add_get("/v2/clock", self.clock)
        r.add_get("/v2/calendar", self.calendar)
        r.add_get("/v2/assets", self.assets)
        r.add_get("/v2/assets/{symbol}", self.asset)
        r.add_post("/v2/orders", self.submit)
        r.add_get("/v2/orders", self.list_orders)
        r.add_delete("/v2/orders", self.cancel_all)
        r.add_get("/v2/orders:by_client_order_id", self.order_by_client_id)
        r.add_get("/v2/orders/{order_id}", self.get_order)
        r.add_patch("/v2/orders/{order_id}", self.replace)
        r.add_delete("/v2/orders/{order_id}", self.cancel)
        r.add_get("/v2/positions", self.positions)
        r.add_delete("/v2/positions", self.close_all)
        r.add_get("/v2/positions/{symbol}", self.position)
        r.add_delete("/v2/positions/{symbol}", self.close_position)
        r.add_get("/v2/account/activities", self.activities)
        r.add_get("/v2/account/activities/{kind}", self.activities)
        r.add_get("/stream", self.trade_updates)
        r.add_get("/_sim/stats", self.stats)
        if self.data is not None:
            self.data.register(app)
        app.on_startup.append(self.start_market)
        app.on_cleanup.append(self.stop_market)
        app.on_shutdown.append(self.close_sockets)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        return app

    async def not_found(self, request: web.Request) -> web.Response:
        return error(404, CODE_NOT_FOUND, f"endpoint not found: {request.method} {request.path}")

    async def account(self, request: web.Request) -> web.Response:
        return web.json_response(self.venue.account_json())

    async def clock(self, request: web.Request) -> web.Response:
        # The simulated market is always in session; the next close is always before the next open.
        now = datetime.now(UTC)
        return web.json_response(
            {
                "timestamp": now.isoformat(),
                "is_open": True,
                "next_close": (now + timedelta(hours=6)).isoformat(),
                "next_open": (now + timedelta(days=1)).isoformat(),
            }
        )

    async def calendar(self, request: web.Request) -> web.Response:
        try:
            start = date.fromisoformat(request.query.get("start", date.today().isoformat())[:10])
            # Counted in ordinals: date arithmetic past date.max raises OverflowError.
            default_end = date.fromordinal(min(start.toordinal() + 30, date.max.toordinal()))
            end = date.fromisoformat(request.query.get("end", default_end.isoformat())[:10])
        except ValueError:
            raise VenueError(
                422, CODE_VALIDATION, "start and end must be dates (YYYY-MM-DD)"
            ) from None
        days: list[dict[str, str]] = []
        for ordinal in range(start.toordinal(), end.toordinal() + 1):
            if len(days) >= 5000:
                break
            day = date.fromordinal(ordinal)
            if day.weekday() < 5:
                days.append(
                    {
                        "date": day.isoformat(),
                        "open": "09:30",
                        "close": "16:00",
                        "session_open": "0400",
                        "session_close": "2000",
                        "settlement_date": day.isoformat(),
                    }
                )
        return web.json_response(days)

    async def assets(self, request: web.Request) -> web.Response:
        return web.json_response([a.to_json() for a in self.venue.assets.values()])

    async def asset(self, request: web.Request) -> web.Response:
        return web.json_response(self.venue.asset(request.match_info["symbol"]).to_json())

    async def submit(self, request: web.Request) -> web.Response:
        body = await self.body(request)
        client_order_id = body.get("client_order_id")
        if isinstance(client_order_id, str):
            self.submissions[client_order_id] = self.submissions.get(client_order_id, 0) + 1
        order = self.venue.submit(body)
        self.accepted += 1
        if self.faults.ack_delay_ms:
            await asyncio.sleep(self.faults.ack_delay_ms / 1000)
        await self.flush_updates()
        every = self.faults.lost_ack_every
        if every and self.accepted % every == 0:
            return error(504, None, "gateway timeout (injected fault: order accepted, ack lost)")
        return web.json_response(order.to_json())

    async def stats(self, request: web.Request) -> web.Response:
        """Not part of Alpaca's API: what the venue saw, for exactly-once tests."""
        return web.json_response(
            {
                "requests": self.requests,
                "throttled": self.throttled,
                "accepted_orders": self.accepted,
                "order_submissions": self.submissions,
            }
        )

    async def list_orders(self, request: web.Request) -> web.Response:
        q = request.query
        orders = self.venue.list_orders(
            q.get("status", "open"),
            int_param(q, "limit", default=50, low=1, high=500),
            q.get("direction", "desc"),
            set(q["symbols"].split(",")) if q.get("symbols") else None,
            q.get("side"),
            after_ns=parse_time(q.get("after"), "after"),
            until_ns=parse_time(q.get("until"), "until"),
        )
        return web.json_response([o.to_json() for o in orders])

    async def get_order(self, request: web.Request) -> web.Response:
        return web.json_response(self.venue.order(request.match_info["order_id"]).to_json())

    async def order_by_client_id(self, request: web.Request) -> web.Response:
        return web.json_response(
            self.venue.order_by_client_id(request.query.get("client_order_id", "")).to_json()
        )

    async def replace(self, request: web.Request) -> web.Response:
        order = self.venue.replace(request.match_info["order_id"], await self.body(request))
        await self.flush_updates()
        return web.json_response(order.to_json())

    async def cancel(self, request: web.Request) -> web.Response:
        self.venue.cancel(request.match_info["order_id"])
        await self.flush_updates()
        return web.Response(status=204)

    async def cancel_all(self, request: web.Request) -> web.Response:
        results = self.venue.cancel_all()
        await self.flush_updates()
        return web.json_response(results, status=207)

    async def positions(self, request: web.Request) -> web.Response:
        return web.json_response([self.venue.position_json(p) for p in self.venue.open_positions()])

    async def position(self, request: web.Request) -> web.Response:
        return web.json_response(
            self.venue.position_json(self.venue.position(request.match_info["symbol"]))
        )

    async def close_position(self, request: web.Request) -> web.Response:
        q = request.query
        order = self.venue.close_position(
            request.match_info["symbol"], decimal_field(q, "qty"), decimal_field(q, "percentage")
        )
        await self.flush_updates()
        return web.json_response(order.to_json())

    async def close_all(self, request: web.Request) -> web.Response:
        results = self.venue.close_all(query_bool(request.query.get("cancel_orders")))
        await self.flush_updates()
        return web.json_response(results, status=207)

    async def activities(self, request: web.Request) -> web.Response:
        kind = request.match_info.get("kind") or request.query.get("activity_types", "FILL")
        if "FILL" not in kind.split(","):
            return web.json_response([])
        items = self.venue.activities
        if request.query.get("direction", "desc") == "desc":
            items = list(reversed(items))
        token = request.query.get("page_token")
        if token:
            ids = [a["id"] for a in items]
            items = items[ids.index(token) + 1 :] if token in ids else []
        # Larger pages are served at Alpaca's maximum of 100 rather than refused.
        size = min(100, int_param(request.query, "page_size", default=100, low=1))
        return web.json_response(items[:size])

    # ---- trade_updates --------------------------------------------------------------------

    async def trade_updates(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        self.sockets.add(ws)
        authorized = False
        listening = False
        async for message in ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            try:
                data = json.loads(message.data)
            except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
                await ws.send_json({"stream": "error", "data": {"error": "invalid syntax"}})
                continue
            if not isinstance(data, dict):
                continue
            action = data.get("action")
            if action in {"authenticate", "auth"}:
                inner: dict[str, Any] = data["data"] if isinstance(data.get("data"), dict) else data
                key = inner.get("key_id") or inner.get("key")
                secret = inner.get("secret_key") or inner.get("secret")
                authorized = key == self.config.key_id and secret == self.config.secret_key
                status = "authorized" if authorized else "unauthorized"
                await ws.send_bytes(
                    json.dumps(
                        {
                            "stream": "authorization",
                            "data": {"status": status, "action": "authenticate"},
                        }
                    ).encode()
                )
                if not authorized:
                    break
            elif action == "listen":
                if not authorized:
                    await ws.send_bytes(
                        json.dumps(
                            {
                                "stream": "authorization",
                                "data": {"status": "unauthorized", "action": "listen"},
                            }
                        ).encode()
                    )
                    continue
                streams = (
                    data.get("data", {}).get("streams", [])
                    if isinstance(data.get("data"), dict)
                    else []
                )
                listening = "trade_updates" in streams
                if listening:
                    self.streams.add(ws)
                else:
                    self.streams.discard(ws)
                await ws.send_bytes(
                    json.dumps(
                        {
                            "stream": "listening",
                            "data": {"streams": ["trade_updates"] if listening else []},
                        }
                    ).encode()
                )
        self.streams.discard(ws)
        self.sockets.discard(ws)
        return ws

    async def close_sockets(self, app: web.Application) -> None:
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"server shutdown")
        if self.data is not None:
            await self.data.close()

    async def flush_updates(self) -> None:
        updates = self.venue.take_updates()
        if not updates or not self.streams:
            return
        for ws in list(self.streams):
            for update in updates:
                if ws.closed:
                    break
                try:
                    await ws.send_bytes(
                        json.dumps({"stream": "trade_updates", "data": update}).encode()
                    )
                except ConnectionResetError:
                    # Gone mid-write: the client reconciles over REST when it reconnects.
                    self.streams.discard(ws)
                    break
                count = getattr(ws, "_pyrt_sent", 0) + 1
                ws._pyrt_sent = count  # type: ignore[attr-defined]
                if self.faults.drop_stream_after and count >= self.faults.drop_stream_after:
                    self.streams.discard(ws)
                    await ws.close()
                    break

    # ---- market replay ----------------------------------------------------------------------

    async def start_market(self, app: web.Application) -> None:
        if self.ticks is not None:
            app["market"] = asyncio.create_task(self.run_market())
            if self.data is not None and self.data.crypto is not None:
                app["crypto"] = asyncio.create_task(self.data.crypto.run())

    async def stop_market(self, app: web.Application) -> None:
        for name in ("market", "crypto"):
            task = app.get(name)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def run_market(self) -> None:
        interval = 1.0 / self.config.ticks_per_second if self.config.ticks_per_second > 0 else 0.0
        if self.ticks is None:
            return
        for tick in self.ticks:
            await self.advance(tick)
            await asyncio.sleep(interval)

    async def advance(self, tick: Tick) -> None:
        """One replay step: the venue matches against it, data subscribers see it, and order
        events go out on trade_updates. The first tick of a new replayed day closes the previous
        day's session first: its day orders expire, as Alpaca's do at the close."""
        if self.day is not None and tick.bar != self.day:
            self.venue.end_of_session()
        self.day = tick.bar
        self.venue.on_quote(tick.symbol, tick.bid, tick.size, tick.ask, tick.size)
        self.venue.on_trade(tick.symbol, tick.price, tick.size)
        if self.data is not None:
            await self.data.publish(tick, self.venue.clock())
        await self.flush_updates()


def masked(secret: str) -> str:
    """Enough of a secret to tell which one is loaded, never enough to use it."""
    return (secret[:4] if len(secret) >= 16 else "") + "*" * 12


def describe(host: str, port: int, config: SimConfig, keys_from: str | None = None) -> str:
    """How to reach the simulator. `keys_from` says where the keys came from when they were not
    generated for this run: that secret is a real credential someone keeps elsewhere, and a
    terminal, a journal or a CI log is no place for it."""
    if keys_from is None:
        secret = header = config.secret_key
        origin = "  (keys generated for this run)\n"
    else:
        secret, header = masked(config.secret_key), "$APCA_API_SECRET_KEY"
        origin = f"  (keys from {keys_from}; the secret is masked)\n"
    return (
        f"py_rt venue simulator on http://{host}:{port}\n"
        f"  trading REST:     http://{host}:{port}/v2/...\n"
        f"  trade_updates ws: ws://{host}:{port}/stream\n"
        f"  APCA_API_KEY_ID={config.key_id}\n"
        f"  APCA_API_SECRET_KEY={secret}\n"
        f"{origin}"
        f"  try: curl -H 'APCA-API-KEY-ID: {config.key_id}'"
        f' -H "APCA-API-SECRET-KEY: {header}" http://{host}:{port}/v2/account\n'
        f"  market data REST: http://{host}:{port}/v2/stocks/bars?symbols=AAPL&timeframe=1Day\n"
        f"  market data ws:   ws://{host}:{port}/v2/iex (JSON or MessagePack)\n"
        "  daily bars are real; trades and quotes are derived from them (see pyrt/sim/market.py)\n"
        f"  started {rfc3339(time.time_ns())}"
    )
