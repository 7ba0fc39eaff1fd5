"""Conservation at the simulated venue, after any sequence of orders and market moves: positions are
the sum of signed fills, cash moved by exactly minus the traded value and the fees, and the fees are
what the fee model charges each execution."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrt import _core
from pyrt.sim import Asset, Venue, VenueError

orders = st.lists(
    st.tuples(
        st.sampled_from(["AAPL", "MSFT"]),
        st.sampled_from(["buy", "sell"]),
        st.sampled_from(["market", "limit"]),
        st.sampled_from(["day", "gtc", "ioc", "fok"]),
        st.integers(1, 300),
        st.integers(9_800, 10_200),
    ),
    min_size=1,
    max_size=25,
)
market = st.lists(
    st.tuples(st.sampled_from(["AAPL", "MSFT"]), st.integers(9_800, 10_200), st.integers(1, 500)),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(orders, market, st.booleans())
def test_fills_positions_cash_and_fees_balance(
    order_list: list[tuple[str, str, str, str, int, int]],
    ticks: list[tuple[str, int, int]],
    cancel_some: bool,
) -> None:
    clock = iter(range(1, 10**9))
    venue = Venue(
        [Asset("AAPL"), Asset("MSFT")],
        initial_cash=Decimal(10_000_000),
        engine_factory=lambda: _core.FillEngine(max_fill_fraction_bps=5_000, regulatory_fees=True),
        clock=lambda: next(clock),
    )
    for symbol in ("AAPL", "MSFT"):
        venue.on_quote(symbol, Decimal("99.99"), Decimal(100), Decimal("100.01"), Decimal(100))
    ids = []
    for symbol, side, kind, tif, qty, cents in order_list:
        body = {"symbol": symbol, "side": side, "type": kind, "time_in_force": tif, "qty": str(qty)}
        if kind == "limit":
            body["limit_price"] = str(Decimal(cents) / 100)
        refused = None
        try:
            ids.append(venue.submit(body).id)
        except VenueError as exc:
            refused = exc.http_status
        assert refused is None or 400 <= refused < 500
    for symbol, cents, size in ticks:
        price = Decimal(cents) / 100
        venue.on_quote(
            symbol, price - Decimal("0.01"), Decimal(size), price + Decimal("0.01"), Decimal(size)
        )
        venue.on_trade(symbol, price, Decimal(size))
        if cancel_some and ids:
            order = venue.orders[ids.pop()]
            if order.status not in {"filled", "canceled", "expired", "replaced", "rejected"}:
                venue.cancel(order.id)
    position: dict[str, Decimal] = {"AAPL": Decimal(0), "MSFT": Decimal(0)}
    traded = Decimal(0)
    fees = Decimal(0)
    for fill in venue.activities:
        qty, price = Decimal(fill["qty"]), Decimal(fill["price"])
        signed = qty if fill["side"] == "buy" else -qty
        position[fill["symbol"]] += signed
        traded += signed * price
        fees += Decimal(_core.execution_fee(fill["side"], fill["qty"], fill["price"]))
    for symbol, qty in position.items():
        held = venue.positions.get(symbol)
        assert (held.qty if held else Decimal(0)) == qty
    assert venue.fees_paid == fees
    assert venue.cash == Decimal(10_000_000) - traded - fees
    account = venue.account_json()
    assert Decimal(account["equity"]) == Decimal(account["cash"]) + Decimal(
        account["long_market_value"]
    ) + Decimal(account["short_market_value"])
    for order in venue.orders.values():
        assert order.filled_qty <= order.working_qty
