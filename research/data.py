"""Daily bars for research, in one canonical frame: read from every bar format in ../shared/data,
fetched from Alpaca (or the project's venue simulator) through alpaca-py, kept in Parquet.

The canonical bar frame, which the backtest engine consumes as it is:

* index: a ``DatetimeIndex`` named ``ts``, dtype ``datetime64[ns, UTC]``, ascending, unique;
* columns ``open, high, low, close, volume``, float64, in that order;
* optional ``dividend`` (cash per share on the ex-date, 0 otherwise) and ``split`` (new shares per
  old share on the split date, 1 otherwise), float64, next;
* optional extras kept from the source, float64, last: ``adj_close`` (Yahoo-style files),
  ``vwap`` and ``trade_count`` (Alpaca);
* ``attrs["symbol"]`` when the symbol is known (Parquet keeps it).

Time stamps: a bar is stamped at the instant it is complete, so nothing stamped ``t`` holds
information from after ``t``. A daily bar is stamped at its session's 16:00 close in the exchange's
time zone (America/New_York unless told otherwise), converted to UTC: 21:00Z in winter, 20:00Z in
summer. That applies to the naive session dates of the CSV formats and equally to Alpaca's daily
bars, which Alpaca stamps at midnight New York of the session date, before the session has
happened; the two sources of the same session therefore get the same stamp. Early-close sessions
are stamped 16:00 too (the bar is known by then). Intraday Alpaca bars, stamped by Alpaca at their
start, are stamped at start + bar length.

Parsing and judging are separate: `load_csv` parses third-party files as they are (file order, NaNs
and all); `validate_bars` is the strict check and `clean_bars` the lenient path, which reports
every change it makes. Frames from `shared_bars`, `alpaca_bars` and `load_parquet` are validated.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.models import BarSet
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

log = logging.getLogger(__name__)

NEW_YORK = "America/New_York"
SESSION_CLOSE = pd.Timedelta(hours=16)
OHLC = ("open", "high", "low", "close")
REQUIRED = (*OHLC, "volume")
CORPORATE = ("dividend", "split")
EXTRAS = ("adj_close", "vwap", "trade_count")
INDEX_DTYPE = "datetime64[ns, UTC]"
DEFAULT_CACHE = Path.home() / ".cache" / "pyrt" / "bars"


class DataError(ValueError):
    """Bars that break a rule; ``rule`` names it, the message names the offending rows."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class BarCheck:
    """What `validate_bars` saw in a valid frame: size, span and gaps worth logging."""

    rows: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    gaps: int


def shared_data_dir() -> Path:
    """``$PYRT_SHARED_DATA``, or the ``shared/data`` directory beside the repository."""
    default = Path(__file__).resolve().parents[2] / "shared/data"
    return Path(os.environ.get("PYRT_SHARED_DATA", default))


# ---- CSV -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Format:
    name: str
    header: frozenset[str]
    time: str
    renames: dict[str, str]


_FORMATS = (
    # The backtesting.py test data leaves the date column's header empty.
    _Format("backtesting.py", frozenset({"", *REQUIRED}), "", {}),
    # Open interest is a futures notion, always 0 in these files: not part of the frame.
    _Format("backtrader", frozenset({"date", *REQUIRED, "openinterest"}), "date", {}),
    _Format(
        "yahoo", frozenset({"date", *REQUIRED, "adj close"}), "date", {"adj close": "adj_close"}
    ),
    _Format("zipline-csvdir", frozenset({"date", *REQUIRED, *CORPORATE}), "date", {}),
    # The plain export of most tools and spreadsheets.
    _Format("ohlcv", frozenset({"date", *REQUIRED}), "date", {}),
    _Format(
        "alpaca-v2",
        frozenset({"timestamp", "symbol", *REQUIRED, "vwap", "trade_count"}),
        "timestamp",
        {},
    ),
)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _session_close(dates: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """Naive session dates, stamped at the session's 16:00 close in ``tz``, in UTC."""
    return (dates + SESSION_CLOSE).tz_localize(tz).tz_convert("UTC").as_unit("ns")


def load_csv(
    path: str | os.PathLike[str], *, symbol: str | None = None, tz: str = NEW_YORK
) -> pd.DataFrame:
    """Daily bars from any of the CSV formats in shared data, detected from the header (names
    compared case-insensitively, in any order; gzip detected from the content):

    * backtesting.py ``,Open,High,Low,Close,Volume`` (the empty first header is the date);
    * backtrader ``Date,Open,High,Low,Close,Volume,OpenInterest`` (open interest dropped);
    * Yahoo ``Date,Open,High,Low,Close,Adj Close,Volume``: ``close`` is Close, unadjusted, and Adj
      Close is kept as ``adj_close``;
    * zipline csvdir ``date,open,high,low,close,volume,dividend,split``;
    * plain ``Date,Open,High,Low,Close,Volume``;
    * Alpaca v2 ``timestamp,symbol,open,high,low,close,volume,vwap,trade_count`` (UTC stamps at
      midnight of the session date in ``tz``; ``vwap`` and ``trade_count`` kept).

    Dates are session dates in ``tz``, stamped at that session's 16:00 close in UTC, the moment
    the bar is known (see the module docstring). ``symbol`` selects the rows of an Alpaca file
    (needed when it holds several symbols) and is recorded in ``attrs["symbol"]``.

    Rows keep the file's order and values are not judged: pass the result to `validate_bars`
    (strict) or `clean_bars` (lenient). Raises `DataError` for an unknown header, a value that is
    not a number, or a time stamp that is missing, unparseable or not a session date.
    """
    path = Path(path)
    compression = "gzip" if _is_gzip(path) else None
    with (
        gzip.open(path, "rt", newline="")
        if compression
        else path.open(newline="", encoding="utf-8")
    ) as handle:
        header = next(csv.reader(handle), [])
    names = [name.strip().lower() for name in header]
    fmt = next(
        (
            f
            for f in _FORMATS
            if len(set(names)) == len(names) == len(f.header) and set(names) == f.header
        ),
        None,
    )
    if fmt is None:
        known = "; ".join(f"{f.name}: {','.join(sorted(f.header))}" for f in _FORMATS)
        raise DataError("format", f"{path}: unknown header {header!r} (known, any case: {known})")
    numeric = [n for n in names if n not in {fmt.time, "symbol", "openinterest"}]
    text = [fmt.time, *(["symbol"] if "symbol" in names else [])]
    try:
        raw = pd.read_csv(
            path,
            compression=compression,
            header=0,
            names=names,
            usecols=[*text, *numeric],
            dtype={**{n: "float64" for n in numeric}, **{n: str for n in text}},
        )
    except ValueError as error:
        raise DataError("format", f"{path}: {error}") from None
    if "symbol" in raw:
        present = sorted(raw["symbol"].dropna().unique())
        if symbol is None and len(present) != 1:
            raise DataError("symbol", f"{path}: holds symbols {present}: pass symbol=")
        symbol = symbol or present[0]
        if symbol not in present:
            raise DataError("symbol", f"{path}: no rows for {symbol!r} (holds {present})")
        raw = raw[raw["symbol"] == symbol].reset_index(drop=True)
    index = _csv_stamps(path, raw[fmt.time], aware=fmt.time == "timestamp", tz=tz)
    source = {fmt.renames.get(n, n): n for n in numeric}
    columns = [c for c in (*REQUIRED, *CORPORATE, *EXTRAS) if c in source]
    frame = pd.DataFrame(
        {c: raw[source[c]].to_numpy(dtype="float64") for c in columns}, index=index
    )
    if symbol is not None:
        frame.attrs["symbol"] = symbol
    return frame


def _csv_stamps(path: Path, text: pd.Series, *, aware: bool, tz: str) -> pd.DatetimeIndex:
    missing = np.flatnonzero(text.isna().to_numpy())
    if missing.size:
        raise DataError("missing-timestamp", f"{path}: no time stamp on data row {missing[0]}")
    try:
        parsed = pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601", utc=aware))
    except ValueError as error:
        raise DataError("timestamp", f"{path}: {error}") from None
    if aware:
        # Alpaca stamps a daily bar at midnight of its session date in New York.
        parsed = parsed.tz_convert(tz).tz_localize(None)
    odd = np.flatnonzero(np.asarray(parsed != parsed.normalize()))
    if odd.size:
        raise DataError(
            "timestamp",
            f"{path}: data row {odd[0]} is stamped {text.iloc[odd[0]]!r}, not a session date:"
            " load_csv reads daily bars",
        )
    return pd.DatetimeIndex(_session_close(parsed, tz), name="ts")


# ---- validation ----------------------------------------------------------------------------


def _rows(df: pd.DataFrame, positions: Iterable[int], columns: Iterable[str] = ()) -> str:
    chosen = list(positions)
    shown = []
    for i in chosen[:3]:
        values = ", ".join(f"{c}={df[c].iloc[i]}" for c in columns)
        shown.append(f"row {i} ({df.index[i]}{': ' + values if values else ''})")
    more = f" and {len(chosen) - 3} more" if len(chosen) > 3 else ""
    return "; ".join(shown) + more


def _fail_where(
    df: pd.DataFrame,
    bad: npt.NDArray[np.bool_],
    *,
    name: str,
    rule: str,
    what: str,
    columns: Iterable[str] = (),
) -> None:
    positions = np.flatnonzero(bad)
    if positions.size:
        raise DataError(rule, f"{name}: {rule}: {what} at {_rows(df, positions, columns)}")


def validate_bars(df: pd.DataFrame, *, name: str = "bars") -> BarCheck:
    """Check that ``df`` is a canonical bar frame; raise `DataError` on the first rule broken.

    The error's ``rule`` is one of these, checked in this order; the message names the rule
    and the first offending rows (position and time stamp):

    * ``index-type``: the index is not a ``DatetimeIndex``;
    * ``tz-naive``: the index has no time zone (which instants the bars are is unknown);
    * ``not-utc``: the index is tz-aware but not UTC;
    * ``index-unit``: the index is not nanoseconds (``datetime64[ns, UTC]``), which consumers
      reading the raw integers rely on;
    * ``missing-timestamp``: an index entry is NaT;
    * ``missing-columns``: any of ``open, high, low, close, volume`` is absent;
    * ``dtype``: a required column, or ``dividend``/``split`` when present, is not float64;
    * ``non-finite``: NaN or ±inf in open/high/low/close/volume (or dividend/split);
    * ``non-positive-price``: an open, high, low or close <= 0;
    * ``negative-volume``: volume < 0;
    * ``high-below-low``: high < low;
    * ``high-below-open-close``: high < max(open, close);
    * ``low-above-open-close``: low > min(open, close);
    * ``negative-dividend``: dividend < 0;
    * ``non-positive-split``: split <= 0;
    * ``duplicate-timestamp``: two rows share a time stamp;
    * ``unsorted``: a time stamp is earlier than the one before it.

    Gaps (missing sessions) are not errors; the returned `BarCheck` counts them. Data is daily
    when the median spacing rounds to one day; then a gap is more than 4 calendar days between
    consecutive bars' UTC dates (a long weekend is 4), otherwise a spacing above 3x the median.
    Extra columns (``adj_close``, ``vwap``, ...) are not checked.
    """
    index = df.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(
            "index-type",
            f"{name}: index-type: index is {type(index).__name__}, not a DatetimeIndex",
        )
    if index.tz is None:
        raise DataError("tz-naive", f"{name}: tz-naive: the index has no time zone (expected UTC)")
    if str(index.dtype) != INDEX_DTYPE:
        rule = "index-unit" if str(index.tz) == "UTC" else "not-utc"
        raise DataError(
            rule, f"{name}: {rule}: index dtype is {index.dtype}, expected {INDEX_DTYPE}"
        )
    _fail_where(
        df, np.asarray(index.isna()), name=name, rule="missing-timestamp", what="NaT time stamp"
    )
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            "missing-columns",
            f"{name}: missing-columns: no {', '.join(missing)} (has {list(df.columns)})",
        )
    checked = [c for c in (*REQUIRED, *CORPORATE) if c in df.columns]
    wrong = {c: str(df[c].dtype) for c in checked if df[c].dtype != np.float64}
    if wrong:
        raise DataError("dtype", f"{name}: dtype: columns must be float64, got {wrong}")
    col = {c: df[c].to_numpy() for c in checked}
    o, h, lo, c, v = (col[k] for k in REQUIRED)
    stamps = index.asi8
    rules: list[tuple[str, npt.NDArray[np.bool_], str, tuple[str, ...]]] = [
        (
            "non-finite",
            ~np.logical_and.reduce([np.isfinite(x) for x in col.values()]),
            "NaN or inf",
            tuple(checked),
        ),
        ("non-positive-price", np.minimum.reduce([o, h, lo, c]) <= 0, "price <= 0", OHLC),
        ("negative-volume", v < 0, "volume < 0", ("volume",)),
        ("high-below-low", h < lo, "high < low", OHLC),
        ("high-below-open-close", h < np.maximum(o, c), "high < max(open, close)", OHLC),
        ("low-above-open-close", lo > np.minimum(o, c), "low > min(open, close)", OHLC),
    ]
    if "dividend" in col:
        rules.append(("negative-dividend", col["dividend"] < 0, "dividend < 0", ("dividend",)))
    if "split" in col:
        rules.append(("non-positive-split", col["split"] <= 0, "split <= 0", ("split",)))
    rules += [
        (
            "duplicate-timestamp",
            np.asarray(index.duplicated(keep=False)),
            "repeated time stamp",
            (),
        ),
        (
            "unsorted",
            np.concatenate([[False], stamps[1:] < stamps[:-1]]),
            "earlier than the row before",
            (),
        ),
    ]
    for rule, bad, what, columns in rules:
        _fail_where(df, bad, name=name, rule=rule, what=what, columns=columns)
    return BarCheck(
        rows=len(df),
        start=index[0] if len(df) else None,
        end=index[-1] if len(df) else None,
        gaps=_gaps(index),
    )


def _gaps(index: pd.DatetimeIndex) -> int:
    if len(index) < 2:
        return 0
    spacing = np.diff(index.asi8)
    median = float(np.median(spacing))
    day = pd.Timedelta(days=1).value
    if round(median / day) == 1:
        days = np.diff(index.normalize().asi8) // day
        return int((days > 4).sum())
    return int((spacing > 3 * median).sum())


def clean_bars(
    df: pd.DataFrame,
    *,
    drop_duplicates: Literal["last", "error"] = "last",
    sort: bool = True,
    drop_nan: bool = True,
    name: str = "bars",
) -> tuple[pd.DataFrame, list[str]]:
    """The lenient path: a cleaned copy of ``df`` and a list saying what was changed.

    Repairs, in this order, each reported when it changes anything: a tz-aware index that is not
    UTC or not nanoseconds is converted (same instants); numeric required/corporate columns are
    cast to float64; with ``drop_nan``, rows with a NaT time stamp or a NaN in open/high/low/
    close/volume/dividend/split are dropped; duplicated time stamps keep the last row in input
    order (``drop_duplicates="last"``) or raise `DataError` (``"error"``); with ``sort``, rows are
    sorted by time stamp. The result is then checked by `validate_bars`, so what cannot be
    repaired (a tz-naive index, high < low, ...) raises `DataError`: the result is always valid.
    """
    if drop_duplicates not in {"last", "error"}:
        raise ValueError(f"drop_duplicates must be 'last' or 'error', not {drop_duplicates!r}")
    out = df.copy()
    changes: list[str] = []
    index = out.index
    if (
        isinstance(index, pd.DatetimeIndex)
        and index.tz is not None
        and str(index.dtype) != INDEX_DTYPE
    ):
        out.index = index.tz_convert("UTC").as_unit("ns")
        changes.append(f"converted the index from {index.dtype} to {INDEX_DTYPE}")
    for c in (*REQUIRED, *CORPORATE):
        if (
            c in out.columns
            and out[c].dtype != np.float64
            and pd.api.types.is_numeric_dtype(out[c])
            and not pd.api.types.is_bool_dtype(out[c])
        ):
            changes.append(f"cast {c} from {out[c].dtype} to float64")
            out[c] = out[c].astype("float64")
    if drop_nan:
        present = [c for c in (*REQUIRED, *CORPORATE) if c in out.columns]
        bad = np.asarray(out[present].isna().any(axis=1)) | np.asarray(out.index.isna())
        if bad.any():
            dropped = _rows(out, np.flatnonzero(bad), present)
            changes.append(f"dropped {int(bad.sum())} rows with NaN/NaT: {dropped}")
            out = out[~bad]
    if drop_duplicates == "error":
        _fail_where(
            out,
            np.asarray(out.index.duplicated(keep=False)),
            name=name,
            rule="duplicate-timestamp",
            what="repeated time stamp",
        )
    repeated = np.asarray(out.index.duplicated(keep="last"))
    if repeated.any():
        changes.append(
            f"dropped {int(repeated.sum())} duplicated rows, kept the last of each time stamp:"
            f" {_rows(out, np.flatnonzero(repeated))}"
        )
        out = out[~repeated]
    if sort and not out.index.is_monotonic_increasing:
        stamps = out.index.asi8
        moved = int((stamps[1:] < stamps[:-1]).sum())
        out = out.sort_index(kind="stable")
        changes.append(f"sorted by time stamp ({moved} rows were earlier than the row before)")
    validate_bars(out, name=name)
    return out, changes


# ---- Parquet -------------------------------------------------------------------------------


def save_parquet(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a canonical frame (validated first) to ``path``, atomically: a temporary file in
    the same directory, flushed to disk, renamed over ``path``; readers never see half a file."""
    path = Path(path)
    validate_bars(df, name=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            df.to_parquet(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A frame written by `save_parquet`, exactly as it was saved; validated, so a foreign or
    damaged file raises `DataError` instead of reaching a backtest."""
    frame = pd.read_parquet(path)
    validate_bars(frame, name=str(path))
    return frame


# ---- shared data ---------------------------------------------------------------------------

SHARED: dict[str, tuple[str, str]] = {
    "GOOG": ("backtesting_py/GOOG.csv", "GOOG"),
    "ORCL": ("backtrader/orcl-1995-2014.txt", "ORCL"),
    "BT2006": ("backtrader/2006-day-001.txt", "BT2006"),
    **{f"{s}-zipline": (f"zipline_csvdir/{s}.csv.gz", s) for s in ("AAPL", "IBM", "KO", "MSFT")},
    **{s: (f"seed_alpaca_daily/{s}.csv", s) for s in ("AAPL", "GOOGL", "MSFT")},
}


def shared_bars(name: str) -> pd.DataFrame:
    """One of the daily datasets in shared data (see its INDEX.md), loaded and validated:
    ``GOOG``, ``ORCL``, ``BT2006`` (backtrader's 2006 index-like series), ``AAPL-zipline``,
    ``IBM-zipline``, ``KO-zipline``, ``MSFT-zipline`` (split-adjusted prices, with dividend and
    split columns) and ``AAPL``, ``GOOGL``, ``MSFT`` (Alpaca v2 daily bars, 2024-11 to 2025-10)."""
    if name not in SHARED:
        raise ValueError(f"unknown shared dataset {name!r}; known: {', '.join(SHARED)}")
    relative, symbol = SHARED[name]
    path = shared_data_dir() / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing (set PYRT_SHARED_DATA to the shared data directory)"
        )
    frame = load_csv(path, symbol=symbol)
    validate_bars(frame, name=name)
    return frame


# ---- Alpaca --------------------------------------------------------------------------------

_TIMEFRAME = re.compile(r"(\d+)(Min|Hour|Day|Week|Month)")


def _timeframe(text: str) -> tuple[TimeFrame, pd.Timedelta | None]:
    """alpaca-py's TimeFrame for ``text`` and the bar length (None for daily)."""
    match = _TIMEFRAME.fullmatch(text)
    if match is None:
        raise ValueError(f"timeframe {text!r}: expected Alpaca's <n>Min, <n>Hour or 1Day")
    amount, unit = int(match[1]), TimeFrameUnit(match[2])
    if unit in {TimeFrameUnit.Week, TimeFrameUnit.Month}:
        # Alpaca stamps them at the period's first session; their close needs a calendar.
        raise ValueError(f"timeframe {text!r}: fetch 1Day bars and resample them")
    frame = TimeFrame(amount, unit)
    if unit is TimeFrameUnit.Day:
        return frame, None
    return frame, pd.Timedelta(**{"minutes" if unit is TimeFrameUnit.Minute else "hours": amount})


def alpaca_close_stamps(starts: pd.DatetimeIndex, timeframe: str = "1Day") -> pd.DatetimeIndex:
    """Alpaca's bar stamps (the bar's start; midnight New York for daily bars) as canonical
    stamps, the instant each bar is complete: the 16:00 New York close of the session for daily
    bars, start + length for intraday bars."""
    _, length = _timeframe(timeframe)
    starts = pd.DatetimeIndex(starts)
    if length is None:
        dates = starts.tz_convert(NEW_YORK).tz_localize(None).normalize()
        stamps = _session_close(dates, NEW_YORK)
    else:
        stamps = starts.tz_convert("UTC").as_unit("ns") + length
    return pd.DatetimeIndex(stamps, name="ts")


def _instant(value: str | date, *, end: bool) -> pd.Timestamp:
    if isinstance(value, str):
        value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value!r} is naive: pass a tz-aware datetime or a date")
        return pd.Timestamp(value).tz_convert("UTC")
    day = pd.Timestamp(value)
    if end:
        # Localise the next midnight, not day + 24h: DST days are 23 or 25 hours long.
        midnight = (day + pd.Timedelta(days=1)).tz_localize(NEW_YORK)
        return midnight.tz_convert("UTC") - pd.Timedelta(seconds=1)
    return day.tz_localize(NEW_YORK).tz_convert("UTC")


def _stamp_text(moment: pd.Timestamp) -> str:
    micros = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return f"{moment:%Y%m%dT%H%M%S}{micros}Z"


def _cache_path(
    cache_dir: Path,
    *,
    symbol: str,
    timeframe: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    feed: str | None,
    base_url: str | None,
) -> Path:
    """Where one request's bars are cached. The venue is part of the key (a simulator's answer
    must not stand in for Alpaca's) as a hash, so nothing in a URL reaches the file system;
    credentials are not part of the key at all."""
    venue = "alpaca" if base_url is None else hashlib.sha256(base_url.encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9.-]", "-", symbol)
    span = f"{_stamp_text(start)}_{_stamp_text(end)}"
    return cache_dir / f"{safe}_{timeframe}_{span}_{feed or 'default'}_{venue}.parquet"


def alpaca_bars(
    symbol: str,
    start: str | date,
    end: str | date,
    *,
    timeframe: str = "1Day",
    base_url: str | None = None,
    key_id: str | None = None,
    secret_key: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    feed: str | None = None,
) -> pd.DataFrame:
    """Historical bars for one symbol through alpaca-py's `StockHistoricalDataClient`, as a
    validated canonical frame with ``vwap`` and ``trade_count``, stamped as in the module
    docstring. Prices are unadjusted (``adjustment=raw``).

    ``start``/``end`` are inclusive: a date (or ``"YYYY-MM-DD"``) is the whole New York day, a
    datetime must be tz-aware. ``base_url`` overrides the data API's URL (the venue simulator
    serves the same API). Keys come from the arguments, else ``APCA_API_KEY_ID`` /
    ``APCA_API_SECRET_KEY``. ``feed`` is ``iex``, ``sip``, ...; None leaves the choice to the
    account's subscription (so pass it for reproducible caches).

    Each request is cached as Parquet in ``cache_dir`` (default ``~/.cache/pyrt/bars``), keyed by
    symbol, timeframe, start, end, feed and venue; a hit makes no request and needs no keys.
    """
    tf, _ = _timeframe(timeframe)
    first, last = _instant(start, end=False), _instant(end, end=True)
    if first > last:
        raise ValueError(f"start {first} is after end {last}")
    folder = DEFAULT_CACHE if cache_dir is None else Path(cache_dir)
    path = _cache_path(
        folder,
        symbol=symbol,
        timeframe=timeframe,
        start=first,
        end=last,
        feed=feed,
        base_url=base_url,
    )
    if path.is_file():
        log.debug("bars from cache: %s", path)
        return load_parquet(path)
    key = key_id or os.environ.get("APCA_API_KEY_ID")
    secret = secret_key or os.environ.get("APCA_API_SECRET_KEY")
    if not key or not secret:
        raise ValueError(
            "no Alpaca credentials: pass key_id and secret_key or set APCA_API_KEY_ID and"
            " APCA_API_SECRET_KEY"
        )
    client = StockHistoricalDataClient(key, secret, url_override=base_url)
    request = StockBarsRequest(
        symbol_or_symbols=symbol,
        timeframe=tf,
        start=first.to_pydatetime(),
        end=last.to_pydatetime(),
        adjustment=Adjustment.RAW,
        feed=DataFeed(feed) if feed else None,
    )
    barset = client.get_stock_bars(request)
    if not isinstance(barset, BarSet):
        raise TypeError(f"alpaca-py returned {type(barset).__name__}, expected a BarSet")
    bars = barset.data.get(symbol, [])
    starts = pd.DatetimeIndex([b.timestamp for b in bars], dtype=INDEX_DTYPE)
    values: dict[str, list[float | None]] = {
        "open": [b.open for b in bars],
        "high": [b.high for b in bars],
        "low": [b.low for b in bars],
        "close": [b.close for b in bars],
        "volume": [b.volume for b in bars],
        "vwap": [b.vwap for b in bars],
        "trade_count": [b.trade_count for b in bars],
    }
    frame = pd.DataFrame(
        # None (a bar without vwap or trade count) becomes NaN.
        {c: np.asarray(v, dtype=np.float64) for c, v in values.items()},
        index=alpaca_close_stamps(starts, timeframe),
    )
    frame.attrs["symbol"] = symbol
    validate_bars(frame, name=f"{symbol} {timeframe} bars")
    save_parquet(frame, path)
    log.info("fetched %d %s bars for %s, cached at %s", len(frame), timeframe, symbol, path)
    return frame


@dataclass(frozen=True)
class Ticks:
    """Top-of-book quotes and trades of one recording, each indexed by receive time (UTC)."""

    quotes: pd.DataFrame
    trades: pd.DataFrame


def recorded_ticks(name: str = "spot_btcusdt_20240808") -> Ticks:
    """Quotes (``bookTicker``: bid, ask, bid_size, ask_size) and trades (price, size) of one of the
    hftbacktest recordings in shared data, stamped with the recorder's local receive time (the
    time an algorithm would have seen them). Several records can share a nanosecond; order within
    one is file order."""
    path = shared_data_dir() / "hftbacktest" / f"{name}.gz"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.gz"))
        raise DataError("unknown-recording", f"no recording {name!r}; known: {known}")
    quotes: list[tuple[int, float, float, float, float]] = []
    trades: list[tuple[int, float, float]] = []
    with gzip.open(path, "rt") as lines:
        for line in lines:
            stamp, _, payload = line.partition(" ")
            if "@bookTicker" in payload:
                q = json.loads(payload)["data"]
                quotes.append(
                    (int(stamp), float(q["b"]), float(q["a"]), float(q["B"]), float(q["A"]))
                )
            elif "@trade" in payload:
                t = json.loads(payload)["data"]
                trades.append((int(stamp), float(t["p"]), float(t["q"])))

    def frame(rows: list[Any], columns: list[str]) -> pd.DataFrame:
        table = pd.DataFrame(rows, columns=["ts", *columns])
        index = pd.DatetimeIndex(pd.to_datetime(table.pop("ts"), unit="ns", utc=True), name="ts")
        # The streams were recorded from several sockets: restore time order, keeping file order
        # within a timestamp.
        return table.set_index(index.as_unit("ns")).sort_index(kind="stable")

    return Ticks(
        quotes=frame(quotes, ["bid", "ask", "bid_size", "ask_size"]),
        trades=frame(trades, ["price", "size"]),
    )


def tiled_bars(real: pd.DataFrame, n: int, decimals: int = 6) -> pd.DataFrame:
    """``n`` bars made of `real`'s bars chained end to end, for benchmarks that need more real
    bars than history holds. Each copy replays `real`'s close-to-close log returns with their
    mean removed, so a copy ends where it started and a million bars neither explode nor vanish;
    open, high and low keep each real bar's ratio to its close (bars stay consistent, prices
    positive); prices are rounded to `decimals` so every system reads the same numbers. The
    level makes the copies' geometric-mean close equal `real`'s; volumes repeat. Stamped one
    hour apart from 2000-01-01 UTC (a million days would pass pandas' year-2262 limit)."""
    close = real["close"].to_numpy(dtype=np.float64)
    shape = real[["open", "high", "low"]].to_numpy(dtype=np.float64) / close[:, None]
    # The first return of a copy is the junction with the copy before: no move.
    returns = np.diff(np.log(close), prepend=np.log(close[0]))
    returns -= returns.mean()
    copies = math.ceil(n / len(real))
    path = np.cumsum(np.tile(returns, copies)[:n])
    level = np.log(close).mean() - path[: len(real)].mean()
    closes = np.exp(level + path)
    ohl = np.tile(shape, (copies, 1))[:n] * closes[:, None]
    index = pd.DatetimeIndex(
        pd.date_range("2000-01-01", periods=n, freq="h", tz="UTC", unit="ns"), name="ts"
    )
    frame = pd.DataFrame(
        {
            "open": ohl[:, 0],
            "high": ohl[:, 1],
            "low": ohl[:, 2],
            "close": closes,
            "volume": np.tile(real["volume"].to_numpy(dtype=np.float64), copies)[:n],
        },
        index=index,
    ).round(decimals)
    frame.attrs["symbol"] = real.attrs.get("symbol", "TILED")
    return frame
