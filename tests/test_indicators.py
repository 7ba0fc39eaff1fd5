"""Indicators from pyrt._core against TA-Lib (the ta-lib wheel) and the worked examples in
../shared/data/ta: same values within 1e-9 relative, same warm-up (NaN) positions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrt._core import indicators as ind
from research.data import shared_bars, tiled_bars

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RTOL = 1e-9


def assert_same(ours: np.ndarray[Any, Any], theirs: np.ndarray[Any, Any], label: str) -> None:
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=f"{label}: warm-up")
    mask = ~np.isnan(theirs)
    # Relative to the series' scale: MACD and the like cross zero, where a pure relative test is
    # meaningless.
    scale = max(1.0, float(np.max(np.abs(theirs[mask])))) if mask.any() else 1.0
    np.testing.assert_allclose(
        ours[mask], theirs[mask], rtol=RTOL, atol=RTOL * scale, err_msg=label
    )


def ohlcv(seed: int, n: int) -> tuple[np.ndarray[Any, Any], ...]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    high = close * (1 + np.abs(rng.normal(0, 0.005, n)))
    low = close * (1 - np.abs(rng.normal(0, 0.005, n)))
    volume = rng.integers(100, 10_000, n).astype(float)
    return high, low, close, volume


OHLCV = ("high", "low", "close", "volume")


def orcl() -> pd.DataFrame:
    return pd.read_csv(SHARED / "backtrader" / "orcl-1995-2014.txt")


CASES: list[tuple[str, Callable[..., Any], Callable[..., Any]]] = [
    ("SMA", lambda h, lo, c, v: ind.sma(c, 30), lambda h, lo, c, v: talib.SMA(c, 30)),
    ("EMA", lambda h, lo, c, v: ind.ema(c, 30), lambda h, lo, c, v: talib.EMA(c, 30)),
    ("WMA", lambda h, lo, c, v: ind.wma(c, 30), lambda h, lo, c, v: talib.WMA(c, 30)),
    ("RSI", lambda h, lo, c, v: ind.rsi(c, 14), lambda h, lo, c, v: talib.RSI(c, 14)),
    (
        "MACD",
        lambda h, lo, c, v: ind.macd(c, 12, 26, 9),
        lambda h, lo, c, v: talib.MACD(c, 12, 26, 9),
    ),
    (
        "BBANDS",
        lambda h, lo, c, v: ind.bbands(c, 20, 2.0, 2.0),
        lambda h, lo, c, v: talib.BBANDS(c, 20, 2.0, 2.0),
    ),
    ("ATR", lambda h, lo, c, v: ind.atr(h, lo, c, 14), lambda h, lo, c, v: talib.ATR(h, lo, c, 14)),
    ("ADX", lambda h, lo, c, v: ind.adx(h, lo, c, 14), lambda h, lo, c, v: talib.ADX(h, lo, c, 14)),
    (
        "STOCH",
        lambda h, lo, c, v: ind.stoch(h, lo, c, 5, 3, 3),
        lambda h, lo, c, v: talib.STOCH(h, lo, c, 5, 3, 0, 3, 0),
    ),
    ("OBV", lambda h, lo, c, v: ind.obv(c, v), lambda h, lo, c, v: talib.OBV(c, v)),
]


def compare(name: str, ours: Any, theirs: Any) -> None:
    if isinstance(theirs, tuple):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, f"{name}[{i}]")
    else:
        assert_same(ours, theirs, name)


@pytest.mark.parametrize(("name", "ours", "theirs"), CASES, ids=[c[0] for c in CASES])
def test_equal_to_talib_on_real_orcl_daily_bars(
    name: str, ours: Callable[..., Any], theirs: Callable[..., Any]
) -> None:
    df = orcl()
    cols = [df[k].to_numpy(float) for k in ("High", "Low", "Close", "Volume")]
    compare(name, ours(*cols), theirs(*cols))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 400))
def test_equal_to_talib_on_random_walks(seed: int, n: int) -> None:
    cols = ohlcv(seed, n)
    for name, ours, theirs in CASES:
        compare(name, ours(*cols), theirs(*cols))


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 60), st.integers(0, 2**32 - 1))
def test_any_period_matches_talib(period: int, seed: int) -> None:
    _, _, close, _ = ohlcv(seed, 300)
    assert_same(ind.sma(close, period), talib.SMA(close, period), "SMA")
    assert_same(ind.ema(close, period), talib.EMA(close, period), "EMA")
    assert_same(ind.wma(close, period), talib.WMA(close, period), "WMA")
    assert_same(ind.rsi(close, period), talib.RSI(close, period), "RSI")


def test_equal_to_talib_on_a_long_series() -> None:
    """300,000 bars: long enough for a running sum's drift or a variance's cancellation to pass
    1e-9 (the raw-squares BBANDS and the never-rebuilt WMA sums did; TA-Lib 0.8 avoids both)."""
    bars = tiled_bars(shared_bars("ORCL"), 300_000)
    cols = [np.ascontiguousarray(bars[k].to_numpy(np.float64)) for k in OHLCV]
    for name, ours, theirs in CASES:
        compare(name, ours(*cols), theirs(*cols))


def test_outputs_are_new_arrays_of_their_own() -> None:
    x = np.linspace(10.0, 20.0, 50) + np.sin(np.arange(50))
    outputs = [ind.sma(x, 5), *ind.macd(x, 3, 6, 2), *ind.bbands(x, 5), *ind.stoch(x, x, x)]
    for a in outputs:
        assert a.dtype == np.float64
        assert a.shape == x.shape
        assert a.flags.c_contiguous
        assert a.flags.writeable
        assert a.flags.owndata
        assert not np.shares_memory(a, x)
    for i, a in enumerate(outputs):
        for b in outputs[i + 1 :]:
            assert not np.shares_memory(a, b)
    empty = np.array([], dtype=float)
    assert ind.ema(empty, 3).shape == (0,)
    assert all(a.shape == (0,) for a in ind.bbands(empty, 5))
    assert np.isnan(ind.rsi(x[:14], 14)).all()
    assert all(np.isnan(a).all() for a in ind.macd(x[:6], 3, 6, 2))


def test_worked_examples_where_conventions_agree() -> None:
    ta = SHARED / "ta"
    bb = pd.read_csv(ta / "cs-bbands.csv")
    upper, middle, lower = ind.bbands(bb.Close.to_numpy(float), 20, 2.0, 2.0)
    # The spreadsheet prints 6 to 9 significant digits.
    np.testing.assert_allclose(middle[19:], bb.MiddleBand.to_numpy(float)[19:], rtol=1e-8)
    np.testing.assert_allclose(upper[19:], bb.HighBand.to_numpy(float)[19:], rtol=1e-8)
    np.testing.assert_allclose(lower[19:], bb.LowBand.to_numpy(float)[19:], rtol=1e-8)
    obv = pd.read_csv(ta / "cs-obv.csv")
    ours = ind.obv(obv.Close.to_numpy(float), obv.Volume.fillna(0).to_numpy(float))
    np.testing.assert_array_equal(ours[1:], obv.OBV.to_numpy(float)[1:])
    vw = pd.read_csv(ta / "cs-vwap.csv")
    cols = [vw[k].to_numpy(float) for k in ("High", "Low", "Close", "Volume")]
    np.testing.assert_allclose(ind.vwap(*cols, 14), vw.vwap.to_numpy(float), rtol=1e-9)
    wma = pd.read_csv(ta / "cs-wma.csv")
    np.testing.assert_allclose(
        ind.wma(wma.Close.to_numpy(float), 9)[8:], wma.WMA.to_numpy(float)[8:], rtol=1e-6
    )


def test_stockcharts_seeding_differs_from_talib_and_we_follow_talib() -> None:
    """StockCharts seeds ADX and RSI differently; TA-Lib is the reference, and both TA-Lib and we
    differ from the spreadsheet by the same amount."""
    adx = pd.read_csv(SHARED / "ta" / "cs-adx.csv")
    h, lo, c = (adx[k].to_numpy(float) for k in ("High", "Low", "Close"))
    assert_same(ind.adx(h, lo, c, 14), talib.ADX(h, lo, c, 14), "ADX")
    assert not np.allclose(ind.adx(h, lo, c, 14)[27:], adx.ADX.to_numpy(float)[27:], rtol=1e-3)


def test_rolling_statistics_match_pandas() -> None:
    _, _, close, _ = ohlcv(7, 500)
    s = pd.Series(close)
    z = (s - s.rolling(20).mean()) / s.rolling(20).std(ddof=0)
    np.testing.assert_allclose(ind.zscore(close, 20)[19:], z.to_numpy()[19:], rtol=1e-9)
    vol = np.log(s).diff().rolling(20).std(ddof=1)
    assert_same(ind.volatility(close, 20), vol.to_numpy(), "volatility")


def test_bad_arguments_are_clear_errors() -> None:
    x = np.arange(10, dtype=float)
    with pytest.raises(ValueError, match="SMA period must be at least 1, got 0"):
        ind.sma(x, 0)
    with pytest.raises(ValueError, match="different lengths"):
        ind.atr(x, x[:5], x)
    with pytest.raises(TypeError):
        ind.sma([1.0, 2.0], 2)  # type: ignore[arg-type]
    # Non-contiguous input is read correctly (copied once), not misread.
    strided = np.arange(40, dtype=float)[::2]
    assert_same(ind.sma(strided, 3), talib.SMA(np.ascontiguousarray(strided), 3), "strided")
