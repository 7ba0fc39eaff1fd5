"""research.metrics: hand-computed examples, properties, edge cases, bad input, and a cross-check
on real daily GOOG prices against a direct numpy computation."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research.metrics import (
    TRADE_COLUMNS,
    Metrics,
    compute_metrics,
    drawdown,
    monthly_returns,
    periods_per_year,
)

SHARED = Path(
    os.environ.get("PYRT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared/data")
)
DAY = pd.Timedelta(days=1)


def curve(values: list[float], start: str = "2024-01-01", freq: str = "D") -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq=freq, tz="UTC")
    return pd.Series(values, index=index, dtype=float)


def no_trades() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in TRADE_COLUMNS})


def trades(pnl: list[float], ret: list[float], hours: list[float]) -> pd.DataFrame:
    n = len(pnl)
    entry = pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "symbol": ["AAPL"] * n,
            "side": ["long"] * n,
            "qty": [10.0] * n,
            "entry_ts": entry,
            "exit_ts": entry + pd.to_timedelta(hours, unit="h"),
            "entry_price": [100.0] * n,
            "exit_price": [100.0 + p / 10 for p in pnl],
            "pnl": pnl,
            "fees": [1.0] * n,
            "return_pct": ret,
            "bars_held": [1] * n,
        }
    )


# Five daily bars, 2024-01-01 .. 2024-01-05: returns +10 %, -10 %, 0, +10 %.
FIVE = [100.0, 110.0, 99.0, 99.0, 108.9]
R5 = np.array([0.1, -0.1, 0.0, 0.1])


def five(**kwargs: float) -> Metrics:
    return compute_metrics(curve(FIVE), no_trades(), periods=252, **kwargs)


def test_returns_and_risk_by_hand() -> None:
    m = five()
    assert m.start == pd.Timestamp("2024-01-01", tz="UTC")
    assert m.end == pd.Timestamp("2024-01-05", tz="UTC")
    assert m.duration == 4 * DAY
    assert m.n_bars == 5
    assert m.initial_equity == 100.0
    assert m.final_equity == 108.9
    assert m.total_return == pytest.approx(0.089, rel=1e-12)
    # 1.089 over 4 days of a 365.25-day year.
    assert m.annual_return == pytest.approx(1.089 ** (365.25 / 4) - 1, rel=1e-12)
    # mean 0.025; deviations .075, -.125, -.025, .075; squares sum to .0275; ddof=1 -> /3.
    std = math.sqrt(0.0275 / 3)
    assert m.annual_volatility == pytest.approx(std * math.sqrt(252), rel=1e-12)
    assert m.sharpe == pytest.approx(0.025 / std * math.sqrt(252), rel=1e-12)
    # Downside: only -0.1 is below 0, over all 4 bars: sqrt(0.01 / 4) = 0.05.
    assert m.sortino == pytest.approx(0.025 / 0.05 * math.sqrt(252), rel=1e-12)
    # Peak 110 on day 2, trough 99: -10 %, never recovered: day 2 .. day 5.
    assert m.max_drawdown == pytest.approx(-0.1, rel=1e-12)
    assert m.max_drawdown_duration == 3 * DAY
    assert m.calmar == pytest.approx((1.089 ** (365.25 / 4) - 1) / 0.1, rel=1e-12)
    # Sorted -0.1, 0, 0.1, 0.1; the 5 % quantile sits at 0.05 * 3 = 0.15 of the first gap.
    assert m.var_95 == pytest.approx(0.1 - 0.15 * 0.1, rel=1e-12)
    assert m.cvar_95 == pytest.approx(0.1, rel=1e-12)
    assert math.isnan(m.exposure_time)


def test_risk_free_rate_is_compounded_per_bar() -> None:
    m = five(risk_free_rate=0.05)
    rf = 1.05 ** (1 / 252) - 1
    x = R5 - rf
    std = math.sqrt(float(np.sum((x - x.mean()) ** 2)) / 3)
    downside = math.sqrt(float(np.sum(np.minimum(x, 0) ** 2)) / 4)
    assert m.sharpe == pytest.approx(x.mean() / std * math.sqrt(252), rel=1e-12)
    assert m.sortino == pytest.approx(x.mean() / downside * math.sqrt(252), rel=1e-12)
    assert m.annual_volatility == five().annual_volatility
    assert m.risk_free_rate == 0.05


def test_drawdown_series_and_recovered_duration() -> None:
    # Peak 100 (day 1), recovered on day 4 (3 days); peak 120 (day 5), unrecovered to day 8.
    equity = curve([100, 90, 95, 100, 120, 110, 108, 115])
    dd = drawdown(equity)
    expected = [0, -0.1, -0.05, 0, 0, -10 / 120, -12 / 120, -5 / 120]
    np.testing.assert_allclose(dd.to_numpy(), expected, rtol=1e-12, atol=1e-15)
    assert dd.index.equals(equity.index)
    m = compute_metrics(equity, no_trades())
    assert m.max_drawdown == pytest.approx(-0.1, rel=1e-12)
    assert m.max_drawdown_duration == 3 * DAY

    longer = curve([100, 90, 100, 120, 110, 108, 115, 119, 121])
    assert compute_metrics(longer, no_trades()).max_drawdown_duration == 5 * DAY


def test_trade_statistics_by_hand() -> None:
    t = trades([50.0, -20.0, 30.0, 0.0], [0.05, -0.02, 0.03, 0.0], [1, 2, 3, 6])
    m = compute_metrics(curve(FIVE), t)
    assert m.n_trades == 4
    assert m.win_rate == 0.5
    assert m.profit_factor == pytest.approx(80 / 20, rel=1e-12)
    assert m.avg_trade_return == pytest.approx(0.015, rel=1e-12)
    assert m.best_trade == 0.05
    assert m.worst_trade == -0.02
    assert m.avg_trade_duration == pd.Timedelta(hours=3)
    assert m.expectancy == pytest.approx(15.0, rel=1e-12)
    assert m.total_fees == 4.0


def test_profit_factor_without_losses() -> None:
    assert compute_metrics(curve(FIVE), trades([5.0], [0.005], [1])).profit_factor == math.inf
    assert math.isnan(compute_metrics(curve(FIVE), trades([0.0], [0.0], [1])).profit_factor)


def test_exposure_time() -> None:
    equity = curve(FIVE)
    exposure = pd.Series([0.0, 0.5, 1.0, 0.0, -0.3], index=equity.index)
    assert compute_metrics(equity, no_trades(), exposure).exposure_time == 0.6


def test_empty_trades() -> None:
    m = compute_metrics(curve(FIVE), no_trades())
    assert m.n_trades == 0
    assert m.total_fees == 0.0
    assert m.avg_trade_duration is pd.NaT
    for name in ("win_rate", "profit_factor", "avg_trade_return", "best_trade", "worst_trade"):
        assert math.isnan(getattr(m, name)), name
    assert math.isnan(m.expectancy)
    d = m.as_dict()
    assert d["avg_trade_duration"] is None
    assert d["n_trades"] == 0


def test_undefined_values_are_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = compute_metrics(
            curve([100.0] * 6), no_trades(), pd.Series(0.0, curve([0] * 6).index)
        )
        two = compute_metrics(curve([100.0, 101.0]), no_trades())
        # A constant 1 % per bar: the std is rounding noise, not volatility.
        geometric = compute_metrics(curve(list(100 * 1.01 ** np.arange(30))), no_trades())
        wiped = compute_metrics(curve([100.0, 50.0, 0.0, 0.0]), no_trades())
    for name in ("sharpe", "sortino", "calmar"):
        assert math.isnan(getattr(flat, name)), name
    assert flat.annual_volatility == 0.0
    assert flat.max_drawdown == 0.0
    assert flat.max_drawdown_duration == pd.Timedelta(0)
    assert flat.total_return == 0.0
    assert flat.annual_return == 0.0
    assert flat.exposure_time == 0.0
    assert math.isnan(two.annual_volatility)
    assert math.isnan(two.sharpe)
    assert math.isnan(geometric.sharpe)
    assert math.isnan(geometric.sortino)
    assert geometric.annual_volatility == pytest.approx(0.0, abs=1e-12)
    # After the account hits 0 the next return is undefined and left out.
    assert wiped.annual_return == -1.0
    assert wiped.max_drawdown == -1.0
    # Returns -0.5 and -1 (0 -> 0 is undefined): the 5 % quantile is -1 + 0.05 * 0.5.
    assert wiped.var_95 == pytest.approx(1.0 - 0.05 * 0.5, rel=1e-12)
    assert wiped.cvar_95 == 1.0


def test_as_dict_is_plain() -> None:
    d = compute_metrics(curve(FIVE), trades([1.0], [0.001], [2])).as_dict()
    assert d["start"] == "2024-01-01T00:00:00+00:00"
    assert d["duration"] == "P4DT0H0M0S"
    assert pd.Timedelta(str(d["max_drawdown_duration"])) == 3 * DAY
    assert pd.Timedelta(str(d["avg_trade_duration"])) == pd.Timedelta(hours=2)
    assert d["n_trades"] == 1
    for key, value in d.items():
        assert type(value) in (float, int, str), key


def test_monthly_returns() -> None:
    index = pd.DatetimeIndex(
        ["2023-11-10", "2023-11-30", "2024-01-05", "2024-01-31", "2024-02-15"], tz="UTC"
    )
    table = monthly_returns(pd.Series([100.0, 110.0, 99.0, 121.0, 108.9], index=index))
    assert list(table.index) == [2023, 2024]
    assert list(table.columns) == list(range(1, 13))
    assert table.loc[2023, 11] == pytest.approx(0.1, rel=1e-12)
    # December has no bars; January compounds from November's last equity.
    assert math.isnan(table.loc[2023, 12])
    assert table.loc[2024, 1] == pytest.approx(0.1, rel=1e-12)
    assert table.loc[2024, 2] == pytest.approx(-0.1, rel=1e-12)
    assert table.loc[2024, 3:].isna().all()
    assert table.loc[2023, :10].isna().all()


def test_periods_per_year() -> None:
    def idx(start: str, periods: int, freq: str) -> pd.DatetimeIndex:
        return pd.date_range(start, periods=periods, freq=freq, tz="UTC")

    assert periods_per_year(idx(start="2024-01-01", periods=300, freq="B")) == 252
    assert periods_per_year(idx(start="2024-01-01", periods=300, freq="D")) == 365
    assert periods_per_year(idx(start="2024-01-07", periods=100, freq="W")) == 52
    assert periods_per_year(idx(start="2024-01-01", periods=40, freq="ME")) == 12
    assert periods_per_year(idx(start="2024-01-01", periods=40, freq="QE")) == 4
    assert periods_per_year(idx(start="2000-01-01", periods=10, freq="YE")) == 1
    # US equity session 13:30-20:00 UTC: 390 one-minute bars on each of 20 trading days.
    days = idx(start="2024-03-11", periods=20, freq="B")
    minutes = (
        days.repeat(390)
        + pd.Timedelta(hours=13, minutes=30)
        + pd.to_timedelta(np.tile(np.arange(390), 20), unit="min")
    )
    assert periods_per_year(minutes) == 252 * 390
    assert periods_per_year(idx(start="2024-01-01", periods=24 * 30, freq="h")) == 365 * 24
    with pytest.raises(ValueError, match="at least two"):
        periods_per_year(idx(start="2024-01-01", periods=1, freq="D"))


@pytest.mark.parametrize(
    ("equity", "match"),
    [
        (curve([100.0, 101.0, 102.0]).iloc[[0, 2, 1]], "sorted"),
        (curve([100.0, 101.0, 102.0]).iloc[[0, 1, 1]], "duplicate"),
        (curve([100.0, np.nan, 102.0]), "NaN"),
        (curve([100.0, np.inf, 102.0]), "infinite"),
        (curve([0.0, 101.0, 102.0]), "positive"),
        (curve([-5.0, 101.0, 102.0]), "positive"),
        (curve([100.0, 101.0]).tz_localize(None), "tz-aware"),
        (pd.Series([100.0, 101.0]), "DatetimeIndex"),
        (curve([]), "empty"),
        (curve([100.0]), "two points"),
    ],
)
def test_bad_equity(equity: pd.Series, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compute_metrics(equity, no_trades())


def test_bad_trades_and_exposure() -> None:
    with pytest.raises(ValueError, match="missing columns: pnl, fees"):
        compute_metrics(curve(FIVE), no_trades().drop(columns=["pnl", "fees"]))
    equity = curve(FIVE)
    with pytest.raises(ValueError, match="same index"):
        compute_metrics(equity, no_trades(), pd.Series(0.5, index=equity.index[:-1]))
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics(equity, no_trades(), pd.Series([0.5, np.nan, 1, 1, 1], equity.index))
    with pytest.raises(ValueError, match="periods"):
        compute_metrics(equity, no_trades(), periods=0)
    with pytest.raises(ValueError, match="risk_free_rate"):
        compute_metrics(equity, no_trades(), risk_free_rate=math.nan)


# Whole basis points: sub-ulp moves (1e-300) would make drawdowns that rescaling rounds away.
returns_lists = st.lists(st.integers(-5000, 5000).map(lambda bp: bp / 1e4), min_size=1, max_size=60)


def from_returns(returns: list[float], initial: float = 1000.0) -> pd.Series:
    return curve(list(initial * np.cumprod([1.0, *(1.0 + np.array(returns))])))


@settings(deadline=None, max_examples=60)
@given(returns_lists)
def test_drawdown_bounds_and_total_return(returns: list[float]) -> None:
    equity = from_returns(returns)
    m = compute_metrics(equity, no_trades())
    assert -1.0 <= m.max_drawdown <= 0.0
    assert (drawdown(equity) <= 0).all()
    assert m.total_return == pytest.approx(equity.iloc[-1] / equity.iloc[0] - 1, rel=1e-12)
    assert pd.Timedelta(0) <= m.max_drawdown_duration <= m.duration
    assert (m.max_drawdown == 0) == (m.max_drawdown_duration == pd.Timedelta(0))


SCALE_FREE = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "var_95",
    "cvar_95",
)


@settings(deadline=None, max_examples=60)
@given(returns_lists, st.floats(1e-3, 1e3))
def test_scaling_equity_leaves_return_metrics_unchanged(returns: list[float], k: float) -> None:
    base = compute_metrics(from_returns(returns), no_trades())
    scaled = compute_metrics(from_returns(returns) * k, no_trades())
    for name in SCALE_FREE:
        a, b = getattr(base, name), getattr(scaled, name)
        assert math.isnan(a) == math.isnan(b), name
        if not math.isnan(a):
            assert b == pytest.approx(a, rel=1e-6, abs=1e-9), name
    assert scaled.max_drawdown_duration == base.max_drawdown_duration


def test_cvar_does_not_jump_when_rounding_moves_a_tie_across_the_cutoff() -> None:
    # Found by CI: the tail returns tie, and scaling the curve moves one of them across the 5 %
    # quantile by a rounding error; a threshold-based tail changed CVaR by 2 %.
    returns = [0.0] * 18 + [-0.0081, -0.0081, -0.0082]
    base = compute_metrics(from_returns(returns), no_trades())
    scaled = compute_metrics(from_returns(returns) * 0.001, no_trades())
    assert scaled.cvar_95 == pytest.approx(base.cvar_95, rel=1e-9)
    # The worst ceil(5 % of 21) = 2 returns.
    assert base.cvar_95 == pytest.approx((0.0082 + 0.0081) / 2, rel=1e-9)
    assert base.cvar_95 >= base.var_95


@settings(deadline=None, max_examples=60)
@given(st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=1, max_size=60))
def test_rising_curve_has_no_drawdown(steps: list[float]) -> None:
    equity = curve(list(100.0 + np.cumsum([0.0, *steps])))
    m = compute_metrics(equity, no_trades())
    assert m.max_drawdown == 0.0
    assert m.max_drawdown_duration == pd.Timedelta(0)
    assert math.isnan(m.calmar)


@settings(deadline=None, max_examples=60)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_trade_rates_bounded(pnl: list[float]) -> None:
    m = compute_metrics(curve(FIVE), trades(pnl, [p / 1000 for p in pnl], [1.0] * len(pnl)))
    assert 0.0 <= m.win_rate <= 1.0
    assert math.isnan(m.profit_factor) or m.profit_factor >= 0
    slack = 1e-12 * max(abs(m.worst_trade), abs(m.best_trade))
    assert m.worst_trade - slack <= m.avg_trade_return <= m.best_trade + slack
    assert m.n_trades == len(pnl)


def test_goog_buy_and_hold_against_numpy() -> None:
    path = SHARED / "backtesting_py" / "GOOG.csv"
    if not path.exists():
        pytest.skip(f"{path} not found (set PYRT_SHARED_DATA)")
    df = pd.read_csv(path, index_col=0, parse_dates=True)
    close = df["Close"].to_numpy(dtype=float)
    index = pd.DatetimeIndex(df.index).tz_localize("UTC")
    equity = pd.Series(10_000 * close / close[0], index=index)
    m = compute_metrics(equity, no_trades())

    e = equity.to_numpy()
    r = e[1:] / e[:-1] - 1
    assert m.periods_per_year == 252
    assert m.annual_volatility == pytest.approx(np.std(r, ddof=1) * np.sqrt(252), rel=1e-12)
    assert m.max_drawdown == pytest.approx(np.min(e / np.maximum.accumulate(e) - 1), rel=1e-12)
    assert m.total_return == pytest.approx(close[-1] / close[0] - 1, rel=1e-12)
