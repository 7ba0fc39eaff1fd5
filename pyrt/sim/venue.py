"""The simulated venue's books: orders through Alpaca's state machine, account, positions, fills.

Matching is the Rust fill model (`pyrt._core.FillEngine`, shared with the backtester); this module
keeps the Alpaca-side state and renders it in Alpaca's JSON shapes (decimal strings, RFC 3339 times,
UUID ids). Every failure is a :class:`VenueError` carrying Alpaca's HTTP status, code and message.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from pyrt import _core

CODE_VALIDATION = 40010001
CODE_FORBIDDEN = 40310000
CODE_NOT_FOUND = 40410000
CODE_UNPROCESSABLE = 42210000

ORDER_TYPES = {"market", "limit", "stop", "stop_limit"}
TIME_IN_FORCE = {"day", "gtc", "ioc", "fok"}
FINAL = {"filled", "canceled", "expired", "replaced", "rejected", "done_for_day"}
NINE_PLACES = Decimal("0.000000001")
#: The fill engine's fixed point (i64 counts of 10^-9) spans 10^-9 to about 9.2e9. A price, quantity
#: or notional outside it could not be matched, and bounding every client number here also keeps
#: quantizing to nine places within Decimal's 28 digits, where it would otherwise raise.
SMALLEST_AMOUNT = NINE_PLACES
LARGEST_AMOUNT = Decimal("9223372036")
#: Plain decimal text as Alpaca's (Go) decoder takes it: Python's Decimal() alone would also accept
#: "1_000", surrounding spaces and non-ASCII digits.
DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,18}")


class VenueError(Exception):
    """An Alpaca-shaped refusal: HTTP status, 8-digit code, message."""

    def __init__(self, http_status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


def rfc3339(ns: int) -> str:
    return str(_core.Timestamp.from_unix_nanos(ns))


def text(value: Decimal | None) -> str | None:
    """Alpaca's decimal string: no exponent, no trailing zeros ("100", "187.23")."""
    if value is None:
        return None
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class Asset:
    symbol: str
    exchange: str = "NASDAQ"
    asset_class: str = "us_equity"
    fractionable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    marginable: bool = True
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": self.asset_class,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "name": self.symbol,
            "status": "active",
            "tradable": True,
            "marginable": self.marginable,
            "shortable": self.shortable,
            "easy_to_borrow": self.easy_to_borrow,
            "fractionable": self.fractionable,
            "maintenance_margin_requirement": 30,
            "attributes": [],
        }


@dataclass
class Order:
    id: str
    client_order_id: str
    asset: Asset
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    extended_hours: bool
    created_ns: int
    engine_id: int
    status: str = "new"
    filled_qty: Decimal = Decimal(0)
    filled_value: Decimal = Decimal(0)
    updated_ns: int = 0
    filled_ns: int | None = None
    canceled_ns: int | None = None
    expired_ns: int | None = None
    replaced_ns: int | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    working_qty: Decimal = Decimal(0)

    @property
    def leaves(self) -> Decimal:
        return self.working_qty - self.filled_qty

    def to_json(self) -> dict[str, Any]:
        avg = (
            None
            if self.filled_qty == 0
            else (self.filled_value / self.filled_qty).quantize(NINE_PLACES)
        )

        def stamp(ns: int | None) -> str | None:
            return None if ns is None else rfc3339(ns)

        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": rfc3339(self.created_ns),
            "updated_at": rfc3339(self.updated_ns or self.created_ns),
            "submitted_at": rfc3339(self.created_ns),
            "filled_at": stamp(self.filled_ns),
            "expired_at": stamp(self.expired_ns),
            "canceled_at": stamp(self.canceled_ns),
            "failed_at": None,
            "replaced_at": stamp(self.replaced_ns),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": self.asset.id,
            "symbol": self.asset.symbol,
            "asset_class": self.asset.asset_class,
            "notional": text(self.notional),
            "qty": text(self.qty),
            "filled_qty": text(self.filled_qty),
            "filled_avg_price": text(avg),
            "order_class": "simple",
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": None,
            "time_in_force": self.time_in_force,
            "limit_price": text(self.limit_price),
            "stop_price": text(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }


@dataclass
class Position:
    asset: Asset
    qty: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)


def activity_stamp(ns: int) -> str:
    """The `yyyymmddhhmmssmmm` prefix of activity ids, which doubles as the paging token."""
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y%m%d%H%M%S%f")[:17]


def invalid(name: str, problem: str = "") -> VenueError:
    return VenueError(422, CODE_VALIDATION, f"{name} {problem}" if problem else f"invalid {name}")


def check_amount(number: Decimal, name: str) -> Decimal:
    """`number` if the fill engine can hold it; a 422 naming `name` otherwise."""
    if not number.is_finite():
        raise invalid(name)
    if number and not SMALLEST_AMOUNT <= abs(number) <= LARGEST_AMOUNT:
        raise invalid(name, f"is out of range ({text(SMALLEST_AMOUNT)} to {LARGEST_AMOUNT})")
    return number


def decimal_field(source: Mapping[str, Any], name: str) -> Decimal | None:
    """A client's number, from a JSON body or a query string, exactly; None when absent. Every
    such number goes through here, so none can reach the arithmetic below unbounded."""
    value = source.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid(name)
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(str(value))
    elif isinstance(value, str) and DECIMAL_TEXT.fullmatch(value):
        try:
            number = Decimal(value)
        except InvalidOperation:
            # An exponent too large even for Decimal's own range.
            raise invalid(name) from None
    else:
        raise invalid(name)
    return check_amount(number, name)


def int_param(
    query: Mapping[str, str],
    name: str,
    *,
    default: int,
    low: int,
    high: int | None = None,
    status: int = 422,
) -> int:
    """An integer query parameter within [low, high]; trading answers 422, market data 400."""
    raw = query.get(name, "")
    if raw == "":
        return default
    if not INTEGER_TEXT.fullmatch(raw):
        raise VenueError(status, CODE_VALIDATION, f"{name} must be an integer")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise VenueError(status, CODE_VALIDATION, f"{name} must be {bounds}")
    return value


def parse_time(text: str | None, name: str, status: int = 422) -> int | None:
    """An RFC 3339 time, or a date as its midnight UTC, in Unix nanoseconds; None when absent."""
    if not text:
        return None
    try:
        if len(text) == 10:
            return _core.Timestamp(f"{text}T00:00:00Z").unix_nanos
        return _core.Timestamp(text).unix_nanos
    except ValueError:
        # Beyond the years nanoseconds in an i64 hold, or without an offset: still a time.
        with contextlib.suppress(ValueError):
            return int(datetime.fromisoformat(text).timestamp() * 1e9)
    raise VenueError(status, CODE_VALIDATION, f"invalid {name}: expected RFC 3339 or YYYY-MM-DD")


def check_tick(price: Decimal, name: str) -> None:
    places = 2 if price >= 1 else 4
    if price != price.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN):
        raise VenueError(
            422,
            CODE_UNPROCESSABLE,
            f"invalid {name} {price}. "
            "sub-penny increment does not fulfill minimum pricing criteria",
        )


def order_prices(body: dict[str, Any], order_type: str) -> tuple[Decimal | None, Decimal | None]:
    """limit_price and stop_price: present exactly when the order type needs them, positive, and on
    the tick grid (cents at or above $1, hundredths of a cent below). trail_price and trail_percent
    never: the simulator has no trailing stops, and a trail silently dropped would be worse."""
    needs = {
        "limit_price": order_type in {"limit", "stop_limit"},
        "stop_price": order_type in {"stop", "stop_limit"},
        "trail_price": False,
        "trail_percent": False,
    }
    prices = {name: decimal_field(body, name) for name in needs}
    for name, price in prices.items():
        needed = needs[name]
        if needed != (price is not None):
            state = "required" if needed else "not allowed"
            raise VenueError(422, CODE_VALIDATION, f"{name} is {state} for {order_type} orders")
        if price is not None:
            if price <= 0:
                raise VenueError(422, CODE_VALIDATION, f"{name} must be > 0")
            check_tick(price, name)
    return prices["limit_price"], prices["stop_price"]


@dataclass(frozen=True)
class OrderRequest:
    asset: Asset
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit: Decimal | None
    stop: Decimal | None


class Venue:
    """One paper account at the simulated venue."""

    def __init__(
        self,
        assets: list[Asset],
        *,
        initial_cash: Decimal = Decimal(100_000),
        engine_factory: Callable[[], _core.FillEngine] | None = None,
        clock: Callable[[], int] = time.time_ns,
        account_number: str = "PA0000SIM01",
        reject_every_nth: int = 0,
    ) -> None:
        self.assets = {a.symbol: a for a in assets}
        self.assets_by_id = {a.id: a for a in assets}
        self.cash = initial_cash
        self.clock = clock
        self.account_id = str(uuid.uuid5(uuid.NAMESPACE_OID, account_number))
        self.account_number = account_number
        self.engines = {s: (engine_factory or _core.FillEngine)() for s in self.assets}
        self.orders: dict[str, Order] = {}
        self.by_client_id: dict[str, str] = {}
        self.by_engine_id: dict[int, str] = {}
        self.positions: dict[str, Position] = {}
        self.quotes: dict[str, tuple[Decimal, Decimal]] = {}
        self.quote_sizes: dict[str, tuple[Decimal, Decimal]] = {}
        self.last_trade: dict[str, Decimal] = {}
        self.activities: list[dict[str, Any]] = []
        self.fees_paid = Decimal(0)
        self.updates: list[dict[str, Any]] = []
        self.next_engine_id = 1
        self.submissions = 0
        self.reject_every_nth = reject_every_nth

    # ---- lookups ----------------------------------------------------------------------------

    def asset(self, symbol_or_id: str) -> Asset:
        asset = self.assets.get(symbol_or_id.split(":", maxsplit=1)[0]) or self.assets_by_id.get(
            symbol_or_id
        )
        if asset is None:
            raise VenueError(404, CODE_NOT_FOUND, f"asset not found: {symbol_or_id}")
        return asset

    def order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise VenueError(404, CODE_NOT_FOUND, "order not found")
        return order

    def order_by_client_id(self, client_order_id: str) -> Order:
        order_id = self.by_client_id.get(client_order_id)
        if order_id is None:
            raise VenueError(404, CODE_NOT_FOUND, "order not found")
        return self.orders[order_id]

    def mark(self, symbol: str) -> Decimal | None:
        quote = self.quotes.get(symbol)
        if quote is not None and quote[0] > 0 and quote[1] > 0:
            return (quote[0] + quote[1]) / 2
        return self.last_trade.get(symbol)

    # ---- account ---------------------------------------------------------------------------

    def market_values(self) -> tuple[Decimal, Decimal]:
        long = short = Decimal(0)
        for symbol, position in self.positions.items():
            price = self.mark(symbol) or (
                position.cost / position.qty if position.qty else Decimal(0)
            )
            value = position.qty * price
            if value >= 0:
                long += value
            else:
                short += value
        return long, short

    def reserved(self) -> Decimal:
        """Cash held for open buy orders at their limit, else their stop, else the ask."""
        total = Decimal(0)
        for order in self.orders.values():
            if order.status in FINAL or order.side != "buy":
                continue
            price = (
                order.limit_price
                or order.stop_price
                or (self.quotes.get(order.asset.symbol, (Decimal(0), Decimal(0)))[1])
            )
            total += order.leaves * price
        return total

    def buying_power(self) -> Decimal:
        return max(Decimal(0), self.cash - self.reserved())

    def account_json(self) -> dict[str, Any]:
        cent = Decimal("0.01")
        long, short = (v.quantize(cent) for v in self.market_values())
        # Round the parts, then add: equity = cash + long + short holds exactly in the JSON.
        equity = self.cash.quantize(cent) + long + short

        def money(value: Decimal) -> str | None:
            return text(value.quantize(cent))

        return {
            "id": self.account_id,
            "account_number": self.account_number,
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": "USD",
            "cash": money(self.cash),
            "buying_power": money(self.buying_power()),
            "regt_buying_power": money(self.buying_power()),
            "daytrading_buying_power": money(self.buying_power()),
            "non_marginable_buying_power": money(self.buying_power()),
            "effective_buying_power": money(self.buying_power()),
            "portfolio_value": money(equity),
            "equity": money(equity),
            "last_equity": money(equity),
            "long_market_value": money(long),
            "short_market_value": money(short),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "multiplier": "1",
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "trade_suspended_by_user": False,
            "shorting_enabled": True,
            "daytrade_count": 0,
            "created_at": rfc3339(0),
        }

    def position_json(self, position: Position) -> dict[str, Any]:
        price = self.mark(position.asset.symbol)
        avg = position.cost / position.qty if position.qty else Decimal(0)
        market_value = position.qty * price if price is not None else None
        unrealized = None if market_value is None else market_value - position.cost
        return {
            "asset_id": position.asset.id,
            "symbol": position.asset.symbol,
            "exchange": position.asset.exchange,
            "asset_class": position.asset.asset_class,
            "avg_entry_price": text(avg.quantize(NINE_PLACES)),
            "qty": text(position.qty),
            "qty_available": text(position.qty),
            "side": "long" if position.qty > 0 else "short",
            "market_value": text(market_value),
            "cost_basis": text(position.cost),
            "unrealized_pl": text(unrealized),
            "current_price": text(price),
        }

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.qty != 0]

    def position(self, symbol_or_id: str) -> Position:
        asset = self.asset(symbol_or_id)
        position = self.positions.get(asset.symbol)
        if position is None or position.qty == 0:
            raise VenueError(404, CODE_NOT_FOUND, "position does not exist")
        return position

    # ---- orders ----------------------------------------------------------------------------

    def parse_order(self, body: dict[str, Any]) -> OrderRequest:
        """Checks a submit body as Alpaca does and returns its typed form."""
        if not isinstance(body, dict):
            raise VenueError(422, CODE_VALIDATION, "request body must be a JSON object")
        symbol = body.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise VenueError(422, CODE_VALIDATION, "symbol is required")
        asset = self.assets.get(symbol)
        if asset is None:
            raise VenueError(422, CODE_VALIDATION, f'asset "{symbol}" not found')
        side = body.get("side")
        if side not in {"buy", "sell"}:
            raise VenueError(422, CODE_VALIDATION, "side must be buy or sell")
        order_type = body.get("type") or body.get("order_type")
        if order_type not in ORDER_TYPES:
            raise VenueError(422, CODE_VALIDATION, f"invalid order type {order_type!r}")
        tif = body.get("time_in_force")
        if tif not in TIME_IN_FORCE:
            raise VenueError(422, CODE_VALIDATION, f"invalid time_in_force {tif!r}")
        if (body.get("order_class") or "simple") != "simple":
            raise VenueError(
                422, CODE_VALIDATION, "only simple orders are supported by the simulator"
            )
        qty = decimal_field(body, "qty")
        notional = decimal_field(body, "notional")
        if (qty is None) == (notional is None):
            raise VenueError(400, CODE_VALIDATION, "must specify exactly one of qty or notional")
        amount = qty if qty is not None else notional
        assert amount is not None
        if amount <= 0:
            raise VenueError(
                422,
                CODE_VALIDATION,
                "qty must be > 0" if qty is not None else "notional must be > 0",
            )
        if amount != amount.quantize(NINE_PLACES, rounding=ROUND_DOWN):
            name = "qty" if qty is not None else "notional"
            raise VenueError(422, CODE_VALIDATION, f"{name} must have at most 9 decimal places")
        if qty is not None and qty != qty.to_integral() and not asset.fractionable:
            raise VenueError(422, CODE_VALIDATION, "requested asset is not fractionable")
        limit, stop = order_prices(body, order_type)
        if notional is not None and (order_type != "market" or tif != "day"):
            raise VenueError(422, CODE_VALIDATION, "notional orders must be market day orders")
        return OrderRequest(asset, side, order_type, tif, qty, notional, limit, stop)

    def submit(self, body: dict[str, Any]) -> Order:
        parsed = self.parse_order(body)
        asset, side, order_type, tif = parsed.asset, parsed.side, parsed.type, parsed.time_in_force
        qty, notional, limit, stop = parsed.qty, parsed.notional, parsed.limit, parsed.stop
        symbol = asset.symbol
        client_order_id = body.get("client_order_id") or str(uuid.uuid4())
        if not isinstance(client_order_id, str) or len(client_order_id) > 128:
            raise VenueError(
                422, CODE_VALIDATION, "client_order_id must be a string of at most 128 characters"
            )
        if client_order_id in self.by_client_id:
            raise VenueError(422, CODE_VALIDATION, "client_order_id must be unique")
        ask = self.quotes.get(symbol, (Decimal(0), Decimal(0)))[1]
        working = qty
        if working is None:
            if ask <= 0:
                raise VenueError(422, CODE_VALIDATION, "no market price to size the notional order")
            working = (notional / ask).quantize(NINE_PLACES, rounding=ROUND_DOWN)  # type: ignore[operator]
            # Sized at the ask, a valid notional can come to no share at all (an order that could
            # never fill) or, at a tiny ask, to more shares than the engine holds.
            if working == 0:
                raise invalid("notional", "is too small to buy any shares at the ask")
            check_amount(working, "notional")
        # A buy stop triggers above the market: costed at its stop, as the backtester does.
        self.check_buying_power(asset, side, working, limit or stop or ask)
        now = self.clock()
        order = Order(
            id=str(uuid.uuid4()),
            client_order_id=client_order_id,
            asset=asset,
            side=side,
            type=order_type,
            time_in_force=tif,
            qty=qty,
            notional=notional,
            limit_price=limit,
            stop_price=stop,
            extended_hours=bool(body.get("extended_hours", False)),
            created_ns=now,
            engine_id=self.next_engine_id,
            working_qty=working,
        )
        self.next_engine_id += 1
        self.orders[order.id] = order
        self.by_client_id[client_order_id] = order.id
        self.by_engine_id[order.engine_id] = order.id
        self.submissions += 1
        if self.reject_every_nth and self.submissions % self.reject_every_nth == 0:
            order.status = "rejected"
            self.emit("rejected", order, now)
            return order
        self.engines[symbol].submit(
            order.engine_id,
            side,
            order_type,
            tif,
            text(working) or "0",
            text(limit),
            text(stop),
            now,
        )
        self.emit("new", order, now)
        # The order meets the market as it stands now, not only the next quote.
        if symbol in self.quotes:
            bid, ask = self.quotes[symbol]
            bid_size, ask_size = self.quote_sizes[symbol]
            self.on_quote(symbol, bid, bid_size, ask, ask_size)
        return order

    def check_buying_power(self, asset: Asset, side: str, qty: Decimal, price: Decimal) -> None:
        position = self.positions.get(asset.symbol, Position(asset)).qty
        if side == "buy":
            if price > 0 and qty * price > self.buying_power():
                raise VenueError(403, CODE_FORBIDDEN, "insufficient buying power")
            return
        if qty > max(position, Decimal(0)):
            if not (asset.shortable and asset.easy_to_borrow):
                raise VenueError(403, CODE_FORBIDDEN, "asset is not shortable")
            if qty != qty.to_integral():
                raise VenueError(403, CODE_FORBIDDEN, "fractional orders cannot be sold short")

    def cancel(self, order_id: str) -> Order:
        order = self.order(order_id)
        if order.status in FINAL:
            raise VenueError(422, CODE_UNPROCESSABLE, f'order is already in "{order.status}" state')
        self.engines[order.asset.symbol].cancel(order.engine_id)
        now = self.clock()
        order.status = "canceled"
        order.canceled_ns = order.updated_ns = now
        self.emit("canceled", order, now)
        return order

    def cancel_all(self) -> list[dict[str, Any]]:
        results = []
        for order in list(self.orders.values()):
            if order.status in FINAL:
                continue
            self.cancel(order.id)
            results.append({"id": order.id, "status": 200, "body": order.to_json()})
        return results

    def replace(self, order_id: str, body: dict[str, Any]) -> Order:
        old = self.order(order_id)
        if old.status in FINAL:
            raise VenueError(422, CODE_UNPROCESSABLE, f'order is already in "{old.status}" state')
        if not isinstance(body, dict):
            raise VenueError(422, CODE_VALIDATION, "request body must be a JSON object")
        if decimal_field(body, "trail") is not None:
            raise invalid("trail", "applies only to trailing stops, which the simulator lacks")
        qty = decimal_field(body, "qty")
        if qty is None:
            qty = old.qty or old.working_qty
        if qty <= old.filled_qty:
            raise VenueError(422, CODE_VALIDATION, "qty must be greater than the filled quantity")
        request = {
            "symbol": old.asset.symbol,
            "side": old.side,
            "type": old.type,
            "time_in_force": body.get("time_in_force") or old.time_in_force,
            "qty": str(qty - old.filled_qty),
            "limit_price": body.get("limit_price")
            if body.get("limit_price") is not None
            else text(old.limit_price),
            "stop_price": body.get("stop_price")
            if body.get("stop_price") is not None
            else text(old.stop_price),
            "client_order_id": body.get("client_order_id") or None,
        }
        # Checked while the old order still works: the restore below undoes only refusals that
        # need the old order out of the way first (its buying power, its client_order_id).
        self.parse_order(request)
        self.engines[old.asset.symbol].cancel(old.engine_id)
        old.status = "replaced"
        try:
            new = self.submit(request)
        except VenueError:
            old.status = "new" if old.filled_qty == 0 else "partially_filled"
            self.engines[old.asset.symbol].submit(
                old.engine_id,
                old.side,
                old.type,
                old.time_in_force,
                text(old.leaves) or "0",
                text(old.limit_price),
                text(old.stop_price),
                self.clock(),
            )
            raise
        now = self.clock()
        new.replaces = old.id
        old.replaced_by = new.id
        old.replaced_ns = old.updated_ns = now
        self.emit("replaced", old, now)
        return new

    def close_position(
        self, symbol_or_id: str, qty: Decimal | None, percentage: Decimal | None
    ) -> Order:
        position = self.position(symbol_or_id)
        if qty is not None and percentage is not None:
            # Alpaca's qty "cannot work with percentage"; taking one would silently drop the other.
            raise VenueError(422, CODE_VALIDATION, "give qty or percentage, not both")
        amount = abs(position.qty)
        if qty is not None:
            if qty <= 0:
                raise VenueError(422, CODE_VALIDATION, "qty must be > 0")
            amount = min(amount, qty)
        elif percentage is not None:
            if not 0 < percentage <= 100:
                raise VenueError(422, CODE_VALIDATION, "percentage must be between 0 and 100")
            amount = (amount * percentage / 100).quantize(NINE_PLACES, rounding=ROUND_DOWN)
        side = "sell" if position.qty > 0 else "buy"
        return self.submit(
            {
                "symbol": position.asset.symbol,
                "side": side,
                "type": "market",
                "time_in_force": "day",
                "qty": str(amount),
            }
        )

    def close_all(self, cancel_orders: bool) -> list[dict[str, Any]]:
        if cancel_orders:
            self.cancel_all()
        results = []
        for position in self.open_positions():
            try:
                order = self.close_position(position.asset.symbol, None, None)
                results.append(
                    {"symbol": position.asset.symbol, "status": 200, "body": order.to_json()}
                )
            except VenueError as exc:
                results.append(
                    {"symbol": position.asset.symbol, "status": exc.http_status, "body": exc.body()}
                )
        return results

    def list_orders(
        self,
        status: str = "open",
        limit: int = 50,
        direction: str = "desc",
        symbols: set[str] | None = None,
        side: str | None = None,
        *,
        after_ns: int | None = None,
        until_ns: int | None = None,
    ) -> list[Order]:
        """Alpaca's order query: filter, then sort, then truncate to `limit`, so a window given by
        `after`/`until` is never emptied by orders outside it. Both bounds are exclusive, on the
        submission time (the reference's GET /v2/orders row)."""
        if status not in {"open", "closed", "all"}:
            raise VenueError(422, CODE_VALIDATION, "status must be open, closed or all")
        if direction not in {"asc", "desc"}:
            raise VenueError(422, CODE_VALIDATION, "direction must be asc or desc")
        chosen = [
            o
            for o in self.orders.values()
            if (status == "all" or (status == "open") == (o.status not in FINAL))
            and (symbols is None or o.asset.symbol in symbols)
            and (side is None or o.side == side)
            and (after_ns is None or o.created_ns > after_ns)
            and (until_ns is None or o.created_ns < until_ns)
        ]
        chosen.sort(key=lambda o: o.created_ns, reverse=direction == "desc")
        return chosen[:limit]

    # ---- market ----------------------------------------------------------------------------

    def on_quote(
        self, symbol: str, bid: Decimal, bid_size: Decimal, ask: Decimal, ask_size: Decimal
    ) -> None:
        self.quotes[symbol] = (bid, ask)
        self.quote_sizes[symbol] = (bid_size, ask_size)
        events = self.engines[symbol].on_quote(
            str(bid), str(bid_size), str(ask), str(ask_size), self.clock()
        )
        self.apply(events)

    def on_trade(self, symbol: str, price: Decimal, size: Decimal) -> None:
        self.last_trade[symbol] = price
        self.apply(self.engines[symbol].on_trade(str(price), str(size), self.clock()))

    def apply(self, events: list[tuple[str, int, str, str, str, str, str, int]]) -> None:
        for kind, engine_id, price_s, qty_s, _leaves, fee_s, _liq, ts in events:
            order = self.orders[self.by_engine_id[engine_id]]
            if kind == "canceled":
                if order.status not in FINAL:
                    order.status = "canceled"
                    order.canceled_ns = order.updated_ns = ts
                    self.emit("canceled", order, ts)
                continue
            price, qty, fee = Decimal(price_s), Decimal(qty_s), Decimal(fee_s or "0")
            signed = qty if order.side == "buy" else -qty
            position = self.positions.setdefault(order.asset.symbol, Position(order.asset))
            self.book_fill(position, signed, price)
            self.cash -= signed * price + fee
            self.fees_paid += fee
            order.filled_qty += qty
            order.filled_value += qty * price
            order.updated_ns = ts
            done = order.filled_qty >= order.working_qty
            order.status = "filled" if done else "partially_filled"
            if done:
                order.filled_ns = ts
            execution_id = str(uuid.uuid4())
            self.activities.append(
                {
                    "id": f"{activity_stamp(ts)}::{execution_id}",
                    "activity_type": "FILL",
                    "transaction_time": rfc3339(ts),
                    "type": "fill" if done else "partial_fill",
                    "price": text(price),
                    "qty": text(qty),
                    "side": order.side,
                    "symbol": order.asset.symbol,
                    "leaves_qty": text(order.leaves),
                    "cum_qty": text(order.filled_qty),
                    "order_id": order.id,
                    "order_status": order.status,
                }
            )
            self.emit(
                "fill" if done else "partial_fill",
                order,
                ts,
                price=price,
                qty=qty,
                position_qty=position.qty,
                execution_id=execution_id,
            )

    @staticmethod
    def book_fill(position: Position, signed: Decimal, price: Decimal) -> None:
        """Average cost: a fill in the direction of the position adds cost; against it, removes the
        closed share of the cost; a flip opens the rest at this price."""
        if position.qty == 0 or (position.qty > 0) == (signed > 0):
            position.cost += signed * price
            position.qty += signed
            return
        closing = min(abs(signed), abs(position.qty))
        position.cost -= position.cost * closing / abs(position.qty)
        position.qty += signed
        rest = abs(signed) - closing
        if rest > 0:
            position.cost = (rest if signed > 0 else -rest) * price

    def end_of_session(self) -> None:
        """Day orders that did not fill expire at the close."""
        now = self.clock()
        for order in self.orders.values():
            if order.status not in FINAL and order.time_in_force == "day":
                self.engines[order.asset.symbol].cancel(order.engine_id)
                order.status = "expired"
                order.expired_ns = order.updated_ns = now
                self.emit("expired", order, now)

    def emit(self, event: str, order: Order, ts: int, **extra: Decimal | str) -> None:
        update: dict[str, Any] = {
            "event": event,
            "order": order.to_json(),
            "timestamp": rfc3339(ts),
        }
        for key, value in extra.items():
            update[key] = text(value) if isinstance(value, Decimal) else value
        self.updates.append(update)

    def take_updates(self) -> list[dict[str, Any]]:
        updates, self.updates = self.updates, []
        return updates
