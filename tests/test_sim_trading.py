"""The venue simulator against the official alpaca-py clients, unchanged, over real sockets."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest
import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopOrderRequest,
)
from alpaca.trading.stream import TradingStream
from conftest import KEY, SECRET, Running
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrt.sim import Faults, SimConfig, build
from pyrt.sim.venue import FINAL, LARGEST_AMOUNT


def test_account_clock_calendar_assets(client: TradingClient) -> None:
    account = client.get_account()
    assert account.cash == "100000"
    assert account.status == "ACTIVE"
    clock = client.get_clock()
    assert clock.is_open
    assert clock.next_close < clock.next_open
    assets = client.get_all_assets()
    assert {a.symbol for a in assets} >= {"AAPL", "MSFT", "GOOGL"}
    assert client.get_asset("AAPL").fractionable


def test_market_order_fills_and_the_account_stays_consistent(
    sim: Running, client: TradingClient
) -> None:
    order = client.submit_order(
        MarketOrderRequest(
            symbol="AAPL",
            qty=10,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            client_order_id="t-1",
        )
    )
    assert isinstance(order.id, UUID)
    filled = client.get_order_by_id(order.id)
    assert filled.status == OrderStatus.FILLED
    assert Decimal(filled.filled_avg_price) == Decimal("190.01")
    assert client.get_order_by_client_id("t-1").id == order.id
    position = client.get_open_position("AAPL")
    assert position.qty == "10"
    account = client.get_account()
    assert Decimal(account.cash) == Decimal(100_000) - Decimal("1900.1")
    assert Decimal(account.equity) == Decimal(account.cash) + Decimal(
        account.long_market_value
    ) + Decimal(account.short_market_value)
    # Selling back pays the SEC and FINRA pass-through fees.
    client.submit_order(
        MarketOrderRequest(
            symbol="AAPL", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.DAY
        )
    )
    assert Decimal(client.get_account().cash) < Decimal(100_000) - Decimal("0.2")
    assert client.get_all_positions() == []


def test_limit_orders_rest_replace_and_cancel(sim: Running, client: TradingClient) -> None:
    order = client.submit_order(
        LimitOrderRequest(
            symbol="MSFT", qty=5, side=OrderSide.BUY, limit_price=390, time_in_force=TimeInForce.GTC
        )
    )
    assert client.get_order_by_id(order.id).status == OrderStatus.NEW
    open_orders = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert [o.id for o in open_orders] == [order.id]
    new = client.replace_order_by_id(order.id, ReplaceOrderRequest(limit_price=395))
    assert new.replaces == order.id
    assert client.get_order_by_id(order.id).status == OrderStatus.REPLACED
    client.cancel_order_by_id(new.id)
    assert client.get_order_by_id(new.id).status == OrderStatus.CANCELED
    with pytest.raises(APIError) as caught:
        client.cancel_order_by_id(new.id)
    assert caught.value.status_code == 422
    # A market that comes down to the limit fills a resting order at its limit.
    resting = client.submit_order(
        LimitOrderRequest(
            symbol="MSFT",
            qty=5,
            side=OrderSide.BUY,
            limit_price=399.5,
            time_in_force=TimeInForce.DAY,
        )
    )
    sim.tick("MSFT", "399.00", "399.50")
    done = client.get_order_by_id(resting.id)
    assert done.status == OrderStatus.FILLED
    assert Decimal(done.filled_avg_price) == Decimal("399.5")
    closing = client.close_position("MSFT", ClosePositionRequest(percentage="40"))
    assert closing.qty == "2"


@pytest.mark.parametrize(
    ("request_factory", "status", "code", "text"),
    [
        (
            lambda: MarketOrderRequest(
                symbol="NOPE", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            ),
            422,
            40010001,
            "not found",
        ),
        (
            lambda: MarketOrderRequest(
                symbol="AAPL", qty=100_000, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            ),
            403,
            40310000,
            "insufficient buying power",
        ),
        (
            # 400 shares cost $76,004 at the ask but $100,000 at the stop, where it would buy.
            lambda: StopOrderRequest(
                symbol="AAPL",
                qty=400,
                side=OrderSide.BUY,
                stop_price=250.01,
                time_in_force=TimeInForce.DAY,
            ),
            403,
            40310000,
            "insufficient buying power",
        ),
        (
            lambda: MarketOrderRequest(
                symbol="AAPL", qty=-1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            ),
            422,
            40010001,
            "qty must be > 0",
        ),
        (
            lambda: LimitOrderRequest(
                symbol="AAPL",
                qty=1,
                side=OrderSide.BUY,
                limit_price=190.001,
                time_in_force=TimeInForce.DAY,
            ),
            422,
            42210000,
            "sub-penny",
        ),
        (
            lambda: StopOrderRequest(
                symbol="AAPL",
                qty=0.5,
                side=OrderSide.SELL,
                stop_price=180,
                time_in_force=TimeInForce.DAY,
            ),
            403,
            40310000,
            "short",
        ),
    ],
)
def test_errors_arrive_as_api_errors(
    client: TradingClient, request_factory: object, status: int, code: int, text: str
) -> None:
    with pytest.raises(APIError) as caught:
        client.submit_order(request_factory())  # type: ignore[operator]
    assert caught.value.status_code == status
    assert caught.value.code == code
    assert text in caught.value.message


def test_duplicate_client_order_id_and_unknown_order(client: TradingClient) -> None:
    client.submit_order(
        LimitOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.BUY,
            limit_price=150,
            time_in_force=TimeInForce.DAY,
            client_order_id="dup",
        )
    )
    with pytest.raises(APIError) as caught:
        client.submit_order(
            LimitOrderRequest(
                symbol="AAPL",
                qty=1,
                side=OrderSide.BUY,
                limit_price=150,
                time_in_force=TimeInForce.DAY,
                client_order_id="dup",
            )
        )
    assert (caught.value.status_code, caught.value.code) == (422, 40010001)
    assert "client_order_id must be unique" in caught.value.message
    with pytest.raises(APIError) as caught:
        client.get_order_by_id("00000000-0000-4000-8000-000000000000")
    assert caught.value.status_code == 404
    statuses = client.cancel_orders()
    assert [s.status for s in statuses] == [200]


def test_wrong_keys_and_malformed_requests_get_alpaca_errors(sim: Running) -> None:
    with pytest.raises(APIError) as caught:
        TradingClient("bad", "keys", paper=True, url_override=sim.url).get_account()
    assert caught.value.status_code == 401
    headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
    for method, path, body in [
        ("post", "/v2/orders", "{not json"),
        ("post", "/v2/orders", "[1, 2]"),
        (
            "post",
            "/v2/orders",
            '{"symbol": "AAPL", "qty": "abc", "side": "buy", "type": "market",'
            ' "time_in_force": "day"}',
        ),
        (
            "post",
            "/v2/orders",
            '{"symbol": "AAPL", "qty": "1", "notional": "5", "side": "buy", "type": "market",'
            ' "time_in_force": "day"}',
        ),
        ("get", "/v2/orders?limit=x", None),
        ("get", "/v2/orders?status=weird", None),
        ("get", "/v2/nowhere", None),
        ("patch", "/v2/orders/nope", "{}"),
    ]:
        response = requests.request(method, sim.url + path, data=body, headers=headers, timeout=10)
        assert 400 <= response.status_code < 500, (path, body, response.status_code, response.text)
        assert "message" in response.json()
        assert "code" in response.json()
    # The server is still serving.
    assert requests.get(sim.url + "/v2/account", headers=headers, timeout=10).status_code == 200


def test_rate_limit_answers_429_with_headers() -> None:
    running = Running(build(SimConfig(KEY, SECRET, requests_per_minute=5), replay=False))
    try:
        headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
        codes = [
            requests.get(running.url + "/v2/clock", headers=headers, timeout=10) for _ in range(7)
        ]
        assert [r.status_code for r in codes] == [200] * 5 + [429] * 2
        assert codes[0].headers["X-Ratelimit-Limit"] == "5"
        assert codes[4].headers["X-Ratelimit-Remaining"] == "0"
        assert int(codes[6].headers["X-Ratelimit-Reset"]) >= int(time.time())
    finally:
        running.stop()


def test_injected_429_storm_is_alpaca_shaped_and_lifts_within_a_second() -> None:
    running = Running(build(SimConfig(KEY, SECRET, faults=Faults(throttle_every=2)), replay=False))
    try:
        headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
        answers = [
            requests.get(running.url + "/v2/clock", headers=headers, timeout=10) for _ in range(4)
        ]
        assert [r.status_code for r in answers] == [200, 429, 200, 429]
        throttled = answers[1]
        assert throttled.json()["code"] == 42900000
        assert throttled.headers["X-Ratelimit-Remaining"] == "0"
        assert int(throttled.headers["X-Ratelimit-Reset"]) <= int(time.time()) + 1
        stats = requests.get(running.url + "/_sim/stats", headers=headers, timeout=10).json()
        assert stats["throttled"] == 2
    finally:
        running.stop()


def test_injected_server_errors_and_rejects() -> None:
    running = Running(
        build(
            SimConfig(KEY, SECRET, faults=Faults(server_error_every=3)),
            replay=False,
            reject_every_nth=2,
        )
    )
    try:
        headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
        codes = [
            requests.get(running.url + "/v2/clock", headers=headers, timeout=10).status_code
            for _ in range(6)
        ]
        assert codes == [200, 200, 503, 200, 200, 503]
        body = {
            "symbol": "AAPL",
            "qty": "1",
            "side": "buy",
            "type": "limit",
            "limit_price": "100",
            "time_in_force": "day",
        }
        statuses = [
            requests.post(running.url + "/v2/orders", json=body, headers=headers, timeout=10)
            for _ in range(3)
        ]
        accepted = [r.json()["status"] for r in statuses if r.status_code == 200]
        assert "rejected" in accepted
    finally:
        running.stop()


def test_a_lost_ack_still_books_the_order_and_stats_count_submissions() -> None:
    running = Running(build(SimConfig(KEY, SECRET, faults=Faults(lost_ack_every=2)), replay=False))
    try:
        headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
        body = {
            "symbol": "AAPL",
            "qty": "1",
            "side": "buy",
            "type": "limit",
            "limit_price": "100",
            "time_in_force": "day",
        }
        codes = []
        for n in range(1, 4):
            body["client_order_id"] = f"c{n}"
            codes.append(
                requests.post(
                    running.url + "/v2/orders", json=body, headers=headers, timeout=10
                ).status_code
            )
        assert codes == [200, 504, 200]
        lost = requests.get(
            running.url + "/v2/orders:by_client_order_id",
            params={"client_order_id": "c2"},
            headers=headers,
            timeout=10,
        )
        assert lost.status_code == 200, "the order behind the lost ack exists"
        body["client_order_id"] = "c2"
        again = requests.post(running.url + "/v2/orders", json=body, headers=headers, timeout=10)
        assert again.status_code == 422
        stats = requests.get(running.url + "/_sim/stats", headers=headers, timeout=10).json()
        assert stats["accepted_orders"] == 3
        assert stats["order_submissions"] == {"c1": 1, "c2": 2, "c3": 1}
    finally:
        running.stop()


def test_trade_updates_stream_delivers_fills(sim: Running, client: TradingClient) -> None:
    received: list[object] = []
    stream = TradingStream(
        KEY, SECRET, paper=True, url_override=f"ws://127.0.0.1:{sim.port}/stream"
    )

    async def on_update(update: object) -> None:
        received.append(update)

    stream.subscribe_trade_updates(on_update)
    thread = threading.Thread(target=stream.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not sim.sim.streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.sim.streams, "the stream never subscribed"
    client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    while len(received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stream.stop()
    events = [u.event for u in received]  # type: ignore[attr-defined]
    assert events[:2] == ["new", "fill"]
    fill = received[1]
    assert fill.qty == 3  # type: ignore[attr-defined]
    assert fill.position_qty == 3  # type: ignore[attr-defined]


def test_day_orders_expire_when_the_replayed_day_closes(
    sim: Running, client: TradingClient
) -> None:
    def rest(tif: TimeInForce) -> str:
        order = client.submit_order(
            LimitOrderRequest(
                symbol="AAPL", qty=1, side=OrderSide.BUY, limit_price=150, time_in_force=tif
            )
        )
        return str(order.id)  # type: ignore[union-attr]

    day, gtc = rest(TimeInForce.DAY), rest(TimeInForce.GTC)
    sim.tick("AAPL", "189.99", "190.01")  # the same day: nothing changes
    assert client.get_order_by_id(day).status == OrderStatus.NEW  # type: ignore[union-attr]
    sim.tick("AAPL", "191.99", "192.01", day=1)
    assert client.get_order_by_id(day).status == OrderStatus.EXPIRED  # type: ignore[union-attr]
    assert client.get_order_by_id(gtc).status == OrderStatus.NEW  # type: ignore[union-attr]
    expired = [u for u in sim.sim.venue.orders.values() if u.status == "expired"]
    assert [o.time_in_force for o in expired] == ["day"]
    # The account no longer holds buying power for it.
    held = Decimal(str(client.get_account().buying_power))  # type: ignore[union-attr]
    assert held == Decimal(100_000) - 150


@pytest.fixture
def roomy() -> Iterator[Running]:
    """A simulator whose rate limit a fuzz run (and its shrinking) cannot spend."""
    running = Running(build(SimConfig(KEY, SECRET, requests_per_minute=10**9), replay=False))
    running.tick("AAPL", "189.99", "190.01")
    running.tick("MSFT", "399.99", "400.01")
    yield running
    running.stop()


HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
#: A string strategy's marker for a JSON number written out verbatim: json.dumps cannot emit 1e400
#: or a 5000-digit integer as a number.
RAW = "=raw="
ABSURD_TEXT = [
    "1e999999",
    "-1e999999",
    "1e99999999999999999999",
    "1e-999",
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "-0",
    "1" + "0" * 400,
    "9223372037",
    "0.0000000001",
    "1_000",
    " 1",
    "0x10",
    "\u0661",
]
ABSURD_JSON = [
    RAW + n
    for n in (
        "1e400",
        "-1e400",
        "1e-400",
        "1e99999999999999999999",
        "1" + "0" * 400,
        "1" + "0" * 5000,
        "NaN",
        "Infinity",
        "-0",
        "-0.0",
    )
]
number_text = (
    st.sampled_from(ABSURD_TEXT)
    | st.decimals().map(str)
    | st.integers().map(str)
    | st.floats().map(repr)
    | st.text(max_size=12)
)
numbers = (
    number_text
    | st.sampled_from(ABSURD_JSON)
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
)


def encode(body: object) -> str:
    return re.sub(f'"{RAW}([^"]*)"', r"\1", json.dumps(body))


def send(running: Running, method: str, path: str, body: object = None) -> requests.Response:
    data = None if body is None else encode(body)
    return requests.request(method, running.url + path, data=data, headers=HEADERS, timeout=10)


def assert_alpaca_refusal(response: requests.Response, statuses: set[int]) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) >= {"code", "message"}, body
        assert isinstance(body["code"], int)


def working(running: Running) -> tuple[int, int]:
    """Open orders as the books see them and as the fill engines hold them; equal when every
    refusal left the venue as it was."""
    venue = running.sim.venue
    books = sum(1 for o in venue.orders.values() if o.status not in FINAL)
    return books, sum(engine.open_orders() for engine in venue.engines.values())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
order_fields = st.fixed_dictionaries(
    {},
    optional={
        "symbol": st.sampled_from(["AAPL", "MSFT", "", "aapl", "ZZZ"]) | json_values,
        "qty": st.sampled_from(["1", "0", "-1", "1.5", "1e3", "abc", ""]) | numbers | json_values,
        "notional": st.sampled_from(["100", "0.000000001", "1e-12"]) | numbers | json_values,
        "side": st.sampled_from(["buy", "sell", "BUY"]) | json_values,
        "type": st.sampled_from(["market", "limit", "stop", "stop_limit", "bracket"]) | json_values,
        "time_in_force": st.sampled_from(["day", "gtc", "ioc", "fok", "opg"]) | json_values,
        "limit_price": st.sampled_from(["190", "190.001", "-5", "0.0001"]) | numbers | json_values,
        "stop_price": st.sampled_from(["180", "0"]) | numbers | json_values,
        "trail_price": st.none() | numbers,
        "trail_percent": st.none() | numbers,
        "client_order_id": st.text(max_size=140) | json_values,
    },
)
replace_fields = st.fixed_dictionaries(
    {},
    optional={
        "qty": st.sampled_from(["3", "1", "0.5"]) | numbers | json_values,
        "limit_price": st.sampled_from(["101", "100.001"]) | numbers | json_values,
        "stop_price": st.sampled_from(["260"]) | numbers | json_values,
        "time_in_force": st.sampled_from(["day", "gtc", "opg"]) | json_values,
        "client_order_id": st.text(max_size=140) | json_values,
        "trail": st.none() | numbers,
    },
)
RESTING = {
    "limit": {"limit_price": "100"},
    "stop": {"stop_price": "250"},
    "stop_limit": {"stop_price": "250", "limit_price": "251"},
}


def resting_order(running: Running, kind: str) -> str:
    body = {"symbol": "AAPL", "qty": "2", "side": "buy", "type": kind, "time_in_force": "gtc"}
    response = send(running, "post", "/v2/orders", body | RESTING[kind])
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(body=order_fields | json_values)
def test_malformed_orders_get_alpaca_4xx_never_500(roomy: Running, body: object) -> None:
    booked = len(roomy.sim.venue.orders)
    response = send(roomy, "post", "/v2/orders", body)
    assert_alpaca_refusal(response, {200, 400, 403, 422})
    assert len(roomy.sim.venue.orders) == booked + (response.status_code == 200)
    assert working(roomy)[0] == working(roomy)[1]


@FUZZ
@given(kind=st.sampled_from(sorted(RESTING)), body=replace_fields | json_values)
def test_malformed_replacements_leave_the_order_working(
    roomy: Running, kind: str, body: object
) -> None:
    order_id = resting_order(roomy, kind)
    booked = len(roomy.sim.venue.orders)
    response = send(roomy, "patch", f"/v2/orders/{order_id}", body)
    assert_alpaca_refusal(response, {200, 400, 403, 422})
    replaced = response.status_code == 200
    assert len(roomy.sim.venue.orders) == booked + replaced
    assert roomy.sim.venue.orders[order_id].status == ("replaced" if replaced else "new")
    books, engines = working(roomy)
    assert books == engines
    assert replaced or books == 1
    # A replacement may have filled: selling it back keeps the cash for the next example.
    assert send(roomy, "delete", "/v2/positions?cancel_orders=true").status_code == 207


@FUZZ
@given(params=st.fixed_dictionaries({}, optional={"qty": number_text, "percentage": number_text}))
def test_malformed_position_closes_book_nothing(roomy: Running, params: dict[str, str]) -> None:
    buy = {"symbol": "AAPL", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day"}
    assert send(roomy, "post", "/v2/orders", buy).status_code == 200
    venue = roomy.sim.venue
    booked, held = len(venue.orders), venue.positions["AAPL"].qty
    response = requests.delete(
        roomy.url + "/v2/positions/AAPL", params=params, headers=HEADERS, timeout=10
    )
    assert_alpaca_refusal(response, {200, 403, 404, 422})
    if response.status_code == 200:
        # Taken only as an amount the venue can hold, never clamped from an absurd one.
        # An empty parameter is an absent one.
        assert all(0 < Decimal(v) <= LARGEST_AMOUNT for v in params.values() if v), params
    else:
        assert (len(venue.orders), venue.positions["AAPL"].qty) == (booked, held)
    assert send(roomy, "delete", "/v2/positions/AAPL").status_code in {200, 404}
    assert venue.positions["AAPL"].qty == 0


@pytest.mark.parametrize(
    "value",
    ["1e999999", RAW + "1e400", "NaN", "Infinity", "-0", RAW + "1" + "0" * 400, "1e-999"],
)
def test_absurd_numbers_are_refused_by_name_and_book_nothing(roomy: Running, value: str) -> None:
    venue = roomy.sim.venue
    resting = resting_order(roomy, "limit")
    buy = {"symbol": "AAPL", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day"}
    assert send(roomy, "post", "/v2/orders", buy).status_code == 200
    market = {"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day"}
    stop_limit = market | {"type": "stop_limit", "qty": "1", "time_in_force": "gtc"}
    attempts: list[tuple[str, str, dict[str, str] | None, str]] = [
        ("post", "/v2/orders", market | {"qty": value}, "qty"),
        ("post", "/v2/orders", market | {"notional": value}, "notional"),
        (
            "post",
            "/v2/orders",
            stop_limit | {"stop_price": "250", "limit_price": value},
            "limit_price",
        ),
        (
            "post",
            "/v2/orders",
            stop_limit | {"limit_price": "251", "stop_price": value},
            "stop_price",
        ),
        ("patch", f"/v2/orders/{resting}", {"qty": value}, "qty"),
        ("post", "/v2/orders", market | {"qty": "1", "trail_price": value}, "trail_price"),
        ("patch", f"/v2/orders/{resting}", {"limit_price": value}, "limit_price"),
        ("patch", f"/v2/orders/{resting}", {"trail": value}, "trail"),
    ]
    # A query string has no JSON numbers: there the value is the number's text.
    text = value.removeprefix(RAW)
    attempts += [
        ("delete", f"/v2/positions/AAPL?{name}={text}", None, name)
        for name in ("qty", "percentage")
    ]
    booked, held = len(venue.orders), venue.positions["AAPL"].qty
    for method, path, body, field in attempts:
        response = send(roomy, method, path, body)
        assert response.status_code == 422, (method, path, body, response.text)
        assert response.json()["code"] == 40010001
        assert field in response.json()["message"], (path, body, response.text)
    assert (len(venue.orders), venue.positions["AAPL"].qty) == (booked, held)
    assert venue.orders[resting].status == "new"
    assert working(roomy) == (1, 1)


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/v2/orders?limit=1e400", {422}),
        ("/v2/orders?limit=" + "9" * 5000, {422}),
        ("/v2/orders?limit=1_0", {422}),
        ("/v2/orders?limit=-1", {422}),
        ("/v2/orders?after=0001-01-01T00:00:00", {422}),
        ("/v2/orders?until=not-a-time", {422}),
        ("/v2/orders?after=9999-12-31T23:59:59%2B14:00&status=all", {200}),
        ("/v2/account/activities?page_size=-3", {422}),
        ("/v2/account/activities?page_size=1e999999", {422}),
        ("/v2/account/activities?page_size=100000", {200}),
        ("/v2/stocks/bars?symbols=AAPL&timeframe=1Day&limit=" + "9" * 400, {400}),
        ("/v2/stocks/bars?symbols=AAPL&timeframe=1Day&page_token=LTU=", {400}),
        ("/v2/calendar?start=9999-12-20", {200}),
        ("/v2/calendar?start=9999-01-01&end=9999-12-31", {200}),
    ],
)
def test_absurd_query_parameters_get_alpaca_answers_never_500(
    roomy: Running, path: str, statuses: set[int]
) -> None:
    assert_alpaca_refusal(send(roomy, "get", path), statuses)


def test_order_window_is_applied_before_the_limit(roomy: Running) -> None:
    """`after` and `until` are exclusive (the reference's GET /v2/orders row); sorting and `limit`
    come after them, so a window past the first `limit` orders is not emptied."""
    venue = roomy.sim.venue
    start = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
    now = [start]
    venue.clock = lambda: now[0]
    client = TradingClient(KEY, SECRET, paper=True, url_override=roomy.url)
    ids = []
    for n in range(60):
        now[0] = start + n * 10**9
        ids.append(
            client.submit_order(
                LimitOrderRequest(
                    symbol="AAPL",
                    qty=1,
                    side=OrderSide.BUY,
                    limit_price=100,
                    time_in_force=TimeInForce.GTC,
                )
            ).id
        )

    def submitted(n: int) -> datetime:
        """When the n-th order (from 1) was submitted."""
        return datetime.fromtimestamp(start / 1e9 + n - 1, UTC)

    def query(limit: int, direction: Sort, **window: datetime) -> list[UUID]:
        request = GetOrdersRequest(
            status=QueryOrderStatus.ALL, limit=limit, direction=direction, **window
        )
        return [o.id for o in client.get_orders(request)]

    assert query(50, Sort.ASC, after=submitted(55)) == ids[55:]
    assert query(50, Sort.DESC, after=submitted(55)) == ids[:54:-1]
    assert query(50, Sort.DESC, until=submitted(6)) == ids[4::-1]
    assert query(50, Sort.ASC, until=submitted(6)) == ids[:5]
    # Orders 11 to 20: the 10th and the 21st sit on the bounds, which exclude them.
    between = {"after": submitted(10), "until": submitted(21)}
    assert query(3, Sort.ASC, **between) == ids[10:13]
    assert query(3, Sort.DESC, **between) == ids[19:16:-1]
    assert query(500, Sort.ASC, **between) == ids[10:20]
    assert query(50, Sort.ASC, after=submitted(60)) == []


def test_calendar_filters_activities_and_close_all(sim: Running, client: TradingClient) -> None:
    days = client.get_calendar(GetCalendarRequest(start=date(2025, 1, 6), end=date(2025, 1, 12)))
    assert [d.date.isoformat() for d in days] == [f"2025-01-{d:02d}" for d in range(6, 11)]
    assert days[0].open.hour == 9
    client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    client.submit_order(
        MarketOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    client.submit_order(
        LimitOrderRequest(
            symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=300, time_in_force=TimeInForce.GTC
        )
    )
    msft_only = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=["MSFT"]))
    assert {o.symbol for o in msft_only} == {"MSFT"}
    assert len(client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))) == 2
    headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
    fills = requests.get(
        sim.url + "/v2/account/activities/FILL?direction=asc", headers=headers, timeout=10
    ).json()
    assert [(f["symbol"], f["qty"], f["type"]) for f in fills] == [
        ("AAPL", "2", "fill"),
        ("MSFT", "1", "fill"),
    ]
    page = requests.get(
        sim.url + f"/v2/account/activities/FILL?direction=asc&page_token={fills[0]['id']}",
        headers=headers,
        timeout=10,
    ).json()
    assert [f["symbol"] for f in page] == ["MSFT"]
    closed = client.close_all_positions(cancel_orders=True)
    assert sorted(c.symbol for c in closed) == ["AAPL", "MSFT"]
    assert client.get_all_positions() == []
    assert client.get_orders() == []
