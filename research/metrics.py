"""Performance metrics of a backtest: returns, risk, drawdowns and trade statistics.

Inputs follow the backtest engine's contract:

* ``equity``: float dollars per bar, indexed by a tz-aware, strictly increasing
  :class:`pandas.DatetimeIndex`; the first value is the initial cash (or the equity after bar 0)
  and must be positive.
* ``trades``: one row per closed round trip with the columns in :data:`TRADE_COLUMNS`; may be
  empty.
* ``exposure``: optional gross market value / equity per bar, on the equity's index.

Conventions (stated because every library picks differently):

* Per-bar simple returns ``r_t = E_t / E_{t-1} - 1``. After the account is wiped out
  (``E_{t-1} <= 0``) a return is undefined and is left out of every return statistic.
* ``periods`` (bars per year, see :func:`periods_per_year`) annualises the per-bar statistics;
  calendar time annualises the growth rate (CAGR).
* The risk-free rate is annual and compounded: per bar ``rf = (1 + risk_free_rate) ** (1 /
  periods) - 1``.
* Undefined values (zero volatility, no trades, a zero denominator) are NaN, never an exception
  or a floating-point warning. The one infinity is a profit factor with profits and no losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]

TRADE_COLUMNS = (
    "symbol",
    "side",
    "qty",
    "entry_ts",
    "exit_ts",
    "entry_price",
    "exit_price",
    "pnl",
    "fees",
    "return_pct",
    "bars_held",
)

TRADING_DAYS = 252
CALENDAR_DAYS = 365
YEAR = pd.Timedelta(days=365.25)
# A 24/7 market (crypto) puts 2/7 of its bars on weekends, an exchange calendar none; a tenth
# leaves room for the odd weekend session without mistaking one calendar for the other.
WEEKEND_SHARE_24_7 = 0.1
# A deviation below this fraction of the mean absolute return is rounding noise of a constant
# return (a geometric curve): dividing by it would print a meaningless huge ratio. Real
# returns agree to nine digits only when they are the same number.
ZERO_STD = 1e-9
VAR_LEVEL = 0.95


def validate_equity(equity: pd.Series, name: str = "equity") -> FloatArray:
    """Check a curve against the input contract and return its values as float64.

    Raises ``ValueError`` for an empty series, an index that is not a tz-aware DatetimeIndex,
    duplicate or decreasing timestamps, NaN or infinite values, or a non-positive first value.
    """
    if not isinstance(equity, pd.Series):
        raise TypeError(f"{name} must be a pandas Series, not {type(equity).__name__}")
    index = equity.index
    if len(equity) == 0:
        raise ValueError(f"{name} is empty")
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(f"{name} must be indexed by a DatetimeIndex, not {type(index).__name__}")
    if index.tz is None:
        raise ValueError(f"{name} index must be tz-aware (UTC)")
    if index.hasnans:
        raise ValueError(f"{name} index contains NaT")
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        raise ValueError(f"{name} index has duplicate timestamps (first: {dup})")
    if not index.is_monotonic_increasing:
        raise ValueError(f"{name} index is not sorted ascending")
    values: FloatArray = equity.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{name} has NaN or infinite values (first at {index[bad.argmax()]})")
    if values[0] <= 0:
        raise ValueError(f"{name} must start positive, got {values[0]}")
    return values


def periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per year, inferred from the median spacing ``d`` of ``index``.

    * ``d < 20h`` (intraday): ``days * bars per session``, where bars per session is the median
      number of bars per calendar date (in the index's time zone).
    * ``d <= 4 days`` (daily; weekends and holidays make gaps of up to four days): ``days``.
    * ``d <= 10 days``: 52 (weekly); ``d <= 45 days``: 12 (monthly); ``d <= 120 days``: 4
      (quarterly); longer: 1.

    ``days`` is 365 when more than a tenth of the bars fall on a Saturday or Sunday (a 24/7
    market such as crypto) and 252 trading days otherwise.
    """
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        raise ValueError("periods_per_year needs a DatetimeIndex with at least two timestamps")
    spacing = (index[1:] - index[:-1]).median()
    if spacing <= pd.Timedelta(0):
        raise ValueError("periods_per_year needs an ascending index")
    weekend = float(np.mean(index.day_of_week >= 5))
    days = CALENDAR_DAYS if weekend > WEEKEND_SHARE_24_7 else TRADING_DAYS
    if spacing < pd.Timedelta(hours=20):
        return float(days * index.normalize().value_counts().median())
    if spacing <= pd.Timedelta(days=4):
        return float(days)
    for limit, periods in ((10, 52.0), (45, 12.0), (120, 4.0)):
        if spacing <= pd.Timedelta(days=limit):
            return periods
    return 1.0


def drawdown(equity: pd.Series) -> pd.Series:
    """Fraction below the running peak, ``E_t / max_{s<=t} E_s - 1`` (0 at a new high, ≤ 0).

    It is below -1 only if the equity itself goes negative.
    """
    values = validate_equity(equity)
    dd = values / np.maximum.accumulate(values) - 1.0
    return pd.Series(dd, index=equity.index, name="drawdown")


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Compounded return of each calendar month (in the index's time zone).

    Rows are years, columns the months 1..12. A month's return is its last equity over the last
    equity before it, minus one; the first month is measured from the first equity value.
    Months without bars are NaN, and the month after a gap is measured from the last equity
    before the gap.
    """
    validate_equity(equity)
    last = equity.astype(np.float64).resample("ME").last()
    base = last.ffill().shift(1)
    base.iloc[0] = float(equity.iloc[0])
    ret = last / base - 1.0
    table = pd.DataFrame(
        {"year": ret.index.year, "month": ret.index.month, "ret": ret.to_numpy()}
    ).pivot(index="year", columns="month", values="ret")
    return table.reindex(columns=pd.Index(range(1, 13), name="month"))


def _bar_returns(values: FloatArray) -> FloatArray:
    prev = values[:-1]
    ret = np.full(len(prev), np.nan)
    np.divide(values[1:], prev, out=ret, where=prev > 0)
    ret -= 1.0
    out: FloatArray = ret[np.isfinite(ret)]
    return out


def _std(x: FloatArray) -> float:
    return float(np.std(x, ddof=1)) if len(x) >= 2 else math.nan


def _per_risk(mean: float, risk: float, x: FloatArray) -> float:
    """``mean / risk``, NaN when the risk is zero up to the rounding noise of ``x``."""
    return mean / risk if risk > ZERO_STD * float(np.mean(np.abs(x))) else math.nan


def _cagr(initial: float, final: float, duration: pd.Timedelta) -> float:
    if duration <= pd.Timedelta(0):
        return math.nan
    if final <= 0:
        return -1.0
    # In log space: a short span with a large gain overflows a plain power; the limit is inf.
    with np.errstate(over="ignore"):
        return float(np.expm1(np.log(final / initial) * (YEAR / duration)))


def _max_drawdown_duration(values: FloatArray, index: pd.DatetimeIndex) -> pd.Timedelta:
    peak = np.maximum.accumulate(values)
    under = values < peak
    pos = np.arange(len(values))
    last_peak = np.maximum.accumulate(np.where(under, 0, pos))
    # A bar belongs to a drawdown if it is underwater or is the bar that recovers the peak;
    # its span runs from the peak before it.
    in_dd = under[1:] | under[:-1]
    if not in_dd.any():
        return pd.Timedelta(0)
    spans = index[1:][in_dd] - index[last_peak[:-1][in_dd]]
    return pd.Timedelta(spans.max())


def _var_cvar(returns: FloatArray) -> tuple[float, float]:
    cutoff = float(np.quantile(returns, 1.0 - VAR_LEVEL))
    # The tail is the worst 5 % by count, not the returns at or below the cutoff: a threshold
    # makes CVaR jump when rounding moves a return tied with the cutoff across it.
    tail = max(1, math.ceil(len(returns) * (1.0 - VAR_LEVEL) - 1e-9))
    return -cutoff, -float(np.mean(np.partition(returns, tail - 1)[:tail]))


def _validate_trades(trades: pd.DataFrame) -> None:
    if not isinstance(trades, pd.DataFrame):
        raise TypeError(f"trades must be a pandas DataFrame, not {type(trades).__name__}")
    missing = [c for c in TRADE_COLUMNS if c not in trades.columns]
    if missing:
        raise ValueError(f"trades is missing columns: {', '.join(missing)}")


def _exposure_time(exposure: pd.Series | None, index: pd.DatetimeIndex) -> float:
    if exposure is None:
        return math.nan
    if not isinstance(exposure, pd.Series) or not exposure.index.equals(index):
        raise ValueError("exposure must be a Series on the same index as equity")
    values = exposure.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all():
        raise ValueError("exposure has NaN or infinite values")
    # abs: a signed net exposure (short books) must count as being in the market too.
    return float(np.mean(np.abs(values) > 0))


@dataclass(frozen=True)
class _TradeStats:
    """Per-trade statistics; see :func:`compute_metrics` for the definitions."""

    n_trades: int
    win_rate: float
    profit_factor: float
    avg_trade_return: float
    best_trade: float
    worst_trade: float
    avg_trade_duration: pd.Timedelta
    expectancy: float
    total_fees: float


def _trade_stats(trades: pd.DataFrame) -> _TradeStats:
    """Statistics of closed trades (NaN / NaT for everything but counts and fees if empty)."""
    _validate_trades(trades)
    n = len(trades)
    fees = float(trades["fees"].to_numpy(dtype=np.float64).sum())
    if n == 0:
        nan = math.nan
        return _TradeStats(0, nan, nan, nan, nan, nan, pd.NaT, nan, fees)
    pnl = trades["pnl"].to_numpy(dtype=np.float64)
    ret = trades["return_pct"].to_numpy(dtype=np.float64)
    profit = float(pnl[pnl > 0].sum())
    loss = -float(pnl[pnl < 0].sum())
    profit_factor = profit / loss if loss > 0 else math.inf if profit > 0 else math.nan
    held = pd.to_datetime(trades["exit_ts"]) - pd.to_datetime(trades["entry_ts"])
    return _TradeStats(
        n_trades=n,
        win_rate=float(np.mean(pnl > 0)),
        profit_factor=profit_factor,
        avg_trade_return=float(np.mean(ret)),
        best_trade=float(np.max(ret)),
        worst_trade=float(np.min(ret)),
        avg_trade_duration=pd.Timedelta(held.mean()),
        expectancy=float(np.mean(pnl)),
        total_fees=fees,
    )


@dataclass(frozen=True)
class Metrics:
    """Performance of one backtest; built by :func:`compute_metrics`, which defines each field.

    Fractions are plain fractions (0.1 is 10 %), money is in the equity's dollars.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    duration: pd.Timedelta
    n_bars: int
    periods_per_year: float
    risk_free_rate: float
    initial_equity: float
    final_equity: float
    total_return: float
    annual_return: float
    annual_volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    max_drawdown_duration: pd.Timedelta
    calmar: float
    var_95: float
    cvar_95: float
    exposure_time: float
    n_trades: int
    win_rate: float
    profit_factor: float
    avg_trade_return: float
    best_trade: float
    worst_trade: float
    avg_trade_duration: pd.Timedelta
    expectancy: float
    total_fees: float

    def as_dict(self) -> dict[str, float | int | str | None]:
        """Plain values for JSON: timestamps as ISO 8601 strings, durations as ISO 8601
        durations (``P3DT0H0M0S``, which ``pd.Timedelta`` parses back), NaT as ``None``;
        floats stay floats, NaN and inf included."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value: Any) -> float | int | str | None:  # noqa: ANN401 - dataclass fields vary
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        return str(value.isoformat())
    if isinstance(value, bool | int | np.integer):
        return int(value)
    return float(value)


def compute_metrics(
    equity: pd.Series,
    trades: pd.DataFrame,
    exposure: pd.Series | None = None,
    *,
    risk_free_rate: float = 0.0,
    periods: float | None = None,
) -> Metrics:
    """Metrics of an equity curve and its trades.

    With ``E`` the equity, ``r`` the per-bar simple returns, ``P`` the bars per year
    (``periods``, inferred by :func:`periods_per_year` when None) and ``x = r - rf`` the excess
    returns over the per-bar risk-free rate ``rf = (1 + risk_free_rate) ** (1 / P) - 1``:

    * ``duration = end - start``; ``total_return = E_last / E_first - 1``.
    * ``annual_return`` (CAGR over calendar time):
      ``(E_last / E_first) ** (365.25 days / duration) - 1``; -1 if the account ends at or below
      zero.
    * ``annual_volatility = std(r, ddof=1) * sqrt(P)``; NaN with fewer than two returns.
    * ``sharpe = mean(x) / std(x, ddof=1) * sqrt(P)``.
    * ``sortino = mean(x) / D * sqrt(P)`` with the downside deviation over all bars
      ``D = sqrt(mean(min(x, 0) ** 2))``.
    * Both are NaN when their denominator is zero, or under ``ZERO_STD`` times ``mean(|x|)``
      (rounding noise of a constant return), e.g. no bar falling short of ``rf``.
    * ``max_drawdown = min(drawdown(E))`` (≤ 0); ``max_drawdown_duration``: the longest span from
      a peak to the first bar back at or above it, an unrecovered drawdown counting to ``end``
      (0 when the curve never dips).
    * ``calmar = annual_return / |max_drawdown|``; NaN without a drawdown.
    * ``var_95 = -q`` with ``q`` the 5 % quantile of ``r`` (numpy's linear interpolation) and
      ``cvar_95 = -mean`` of the worst ``ceil(5 % of n)`` returns (never below ``var_95``):
      one-bar historical losses, positive meaning a loss.
    * ``exposure_time``: fraction of bars with non-zero exposure; NaN without ``exposure``.
    * Over trades: ``n_trades``; ``win_rate``: fraction with ``pnl > 0``; ``profit_factor``:
      sum of positive pnl / |sum of negative pnl| (inf with profits and no losses);
      ``avg_trade_return``, ``best_trade``, ``worst_trade``: mean, max and min ``return_pct``;
      ``avg_trade_duration``: mean ``exit_ts - entry_ts``; ``expectancy``: mean ``pnl``;
      ``total_fees``: sum of ``fees``. All NaN (NaT) without trades, except the count and fees.

    Raises ``ValueError`` on input that breaks the contract (see :func:`validate_equity`), on
    fewer than two equity points, missing trade columns, or exposure off the equity's index.
    """
    values = validate_equity(equity)
    index: pd.DatetimeIndex = equity.index
    if len(values) < 2:
        raise ValueError("equity needs at least two points")
    if periods is None:
        periods = periods_per_year(index)
    if not (math.isfinite(periods) and periods > 0):
        raise ValueError(f"periods must be positive and finite, got {periods}")
    if not (math.isfinite(risk_free_rate) and risk_free_rate > -1):
        raise ValueError(f"risk_free_rate must be finite and above -1, got {risk_free_rate}")
    stats = _trade_stats(trades)
    exposure_time = _exposure_time(exposure, index)

    returns = _bar_returns(values)
    excess = returns - ((1.0 + risk_free_rate) ** (1.0 / periods) - 1.0)
    # values[0] > 0, so the first return is always defined: the means below are never empty.
    mean_excess = float(np.mean(excess))
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
    root_p = math.sqrt(periods)
    dd = values / np.maximum.accumulate(values) - 1.0
    max_dd = float(dd.min())
    initial, final = float(values[0]), float(values[-1])
    duration = pd.Timedelta(index[-1] - index[0])
    annual_return = _cagr(initial, final, duration)
    var_95, cvar_95 = _var_cvar(returns)

    return Metrics(
        start=index[0],
        end=index[-1],
        duration=duration,
        n_bars=len(values),
        periods_per_year=float(periods),
        risk_free_rate=float(risk_free_rate),
        initial_equity=initial,
        final_equity=final,
        total_return=final / initial - 1.0,
        annual_return=annual_return,
        annual_volatility=_std(returns) * root_p,
        sharpe=_per_risk(mean_excess, _std(excess), excess) * root_p,
        sortino=_per_risk(mean_excess, downside, excess) * root_p,
        max_drawdown=max_dd,
        max_drawdown_duration=_max_drawdown_duration(values, index),
        calmar=annual_return / -max_dd if max_dd < 0 else math.nan,
        var_95=var_95,
        cvar_95=cvar_95,
        exposure_time=exposure_time,
        n_trades=stats.n_trades,
        win_rate=stats.win_rate,
        profit_factor=stats.profit_factor,
        avg_trade_return=stats.avg_trade_return,
        best_trade=stats.best_trade,
        worst_trade=stats.worst_trade,
        avg_trade_duration=stats.avg_trade_duration,
        expectancy=stats.expectancy,
        total_fees=stats.total_fees,
    )
