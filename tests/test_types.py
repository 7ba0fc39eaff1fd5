"""The Rust domain types as Python sees them: exact decimals, checked arithmetic, timestamps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrt import _core

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
NANO = Decimal("1e-9")

decimals_9dp = st.decimals(
    min_value=Decimal("-9223372036.854775808"),
    max_value=Decimal("9223372036.854775807"),
    places=9,
    allow_nan=False,
    allow_infinity=False,
)


@given(decimals_9dp)
def test_decimal_strings_round_trip_exactly(value: Decimal) -> None:
    price = _core.Price(str(value))
    assert price.to_decimal() == value
    assert Decimal(str(price)) == value
    assert price.raw == int(value / NANO)
    # The printed form is canonical: no exponent, no trailing fractional zeros.
    text = str(price)
    assert "e" not in text.lower()
    assert not ("." in text and text.endswith("0"))


@given(st.integers(min_value=I64_MIN, max_value=I64_MAX))
def test_raw_values_round_trip(raw: int) -> None:
    assert _core.Qty(str(_core.Qty.from_raw(raw))).raw == raw


@given(st.decimals(min_value=Decimal(-1000), max_value=Decimal(1000), places=12))
def test_more_than_nine_places_is_refused_not_rounded(value: Decimal) -> None:
    exact = value.quantize(NANO) == value
    if exact:
        assert _core.Price(str(value)).to_decimal() == value
    else:
        with pytest.raises(ValueError, match="more than 9 decimal places"):
            _core.Price(str(value))


@given(
    st.integers(min_value=I64_MIN, max_value=I64_MAX),
    st.integers(min_value=I64_MIN, max_value=I64_MAX),
)
def test_addition_is_checked(a: int, b: int) -> None:
    x, y = _core.Notional.from_raw(a), _core.Notional.from_raw(b)
    if I64_MIN <= a + b <= I64_MAX:
        assert (x + y).raw == a + b
    else:
        with pytest.raises(OverflowError):
            _ = x + y


def test_alpaca_examples_and_errors() -> None:
    assert str(_core.Price("187.23")) == "187.23"
    assert str(_core.Qty("0.001")) == "0.001"
    assert _core.Price("187.23").notional(_core.Qty("3.5")) == _core.Notional("655.305")
    assert _core.Price(Decimal("1.50")) == _core.Price("1.5")
    assert repr(_core.Qty(7)) == "Qty('7')"
    with pytest.raises(TypeError, match="floats are inexact"):
        _core.Price(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bool"):
        _core.Price(True)
    with pytest.raises(OverflowError):
        _core.Price(10**10)
    with pytest.raises(OverflowError):
        _core.Price("9223372037")
    with pytest.raises(ValueError, match="invalid character"):
        _core.Price("1,5")
    with pytest.raises(OverflowError):
        _ = -_core.Price.from_raw(I64_MIN)
    assert sorted([_core.Price("2"), _core.Price("-1"), _core.Price("0.5")]) == [
        _core.Price("-1"),
        _core.Price("0.5"),
        _core.Price("2"),
    ]
    assert len({_core.Price("1.0"), _core.Price("1")}) == 1


@given(
    st.datetimes(
        min_value=dt.datetime(1700, 1, 1),
        max_value=dt.datetime(2250, 12, 31),
        timezones=st.sampled_from(
            [dt.UTC, dt.timezone(dt.timedelta(hours=-4)), dt.timezone(dt.timedelta(minutes=330))]
        ),
    ),
    st.integers(min_value=0, max_value=999),
)
def test_timestamps_parse_to_the_same_instant_as_datetime(
    moment: dt.datetime, extra_ns: int
) -> None:
    text = moment.isoformat(timespec="microseconds")
    with_nanos = text[:26] + f"{extra_ns:03d}" + text[26:]
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    delta = moment - epoch
    expected = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000 + extra_ns
    parsed = _core.Timestamp(with_nanos)
    assert parsed.unix_nanos == expected
    assert _core.Timestamp(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2024-02-30T00:00:00Z", "day"),
        ("2024-01-01T00:00:00", "problem at byte 19"),
        ("2024-01-01T00:00:00.1234567890Z", "more than 9 digits"),
        ("2400-01-01T00:00:00Z", "outside the years"),
    ],
)
def test_bad_timestamps_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        _core.Timestamp(text)


def test_enums_use_alpaca_wire_names() -> None:
    assert _core.OrderType.StopLimit.wire == "stop_limit"
    assert _core.TimeInForce.from_wire("ioc") == _core.TimeInForce.Ioc
    assert str(_core.OrderStatus.PartiallyFilled) == "partially_filled"
    with pytest.raises(ValueError, match="unknown side"):
        _core.Side.from_wire("BUY")


def test_symbol_table_and_event_layout() -> None:
    table = _core.SymbolTable(["AAPL", "MSFT"])
    assert table.intern("GOOGL") == 2
    assert table.get("MSFT") == 1
    assert table.name(0) == "AAPL"
    assert "AAPL" in table
    assert len(table) == 3
    with pytest.raises(ValueError, match="character outside"):
        table.intern("aapl")
    layouts = _core.event_layouts()
    assert set(layouts) >= {
        "Quote",
        "Trade",
        "Bar",
        "BookDelta",
        "Signal",
        "OrderIntent",
        "OrderAck",
        "Fill",
    }
    for fields in layouts.values():
        name, _ty, offset, size = fields[-1]
        assert offset + size == _core.EVENT_SIZE == 64, name
    assert _core.LAYOUT_HASH != 0
