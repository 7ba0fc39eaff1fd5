"""research.data: every shared bar format to the canonical frame, the validation rules, the
lenient cleaning path, Parquet, and alpaca-py bars from the real simulator over a socket."""

from __future__ import annotations

import csv
import gzip
import logging
import math
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from conftest import KEY, SECRET, Running
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrt.sim import SimConfig, build
from research import data
from research.data import (
    SHARED,
    DataError,
    alpaca_bars,
    alpaca_close_stamps,
    clean_bars,
    load_csv,
    load_parquet,
    save_parquet,
    shared_bars,
    shared_data_dir,
    validate_bars,
)

NY = "America/New_York"
ROWS = {
    "GOOG": 2148,
    "ORCL": 5036,
    "BT2006": 255,
    "AAPL-zipline": 754,
    "IBM-zipline": 754,
    "KO-zipline": 754,
    "MSFT-zipline": 754,
    "AAPL": 249,
    "GOOGL": 249,
    "MSFT": 249,
}
# Real market closures longer than a long weekend: 9/11 (2001), the national day of mourning
# for President Ford (2007-01-02), Hurricane Sandy (2012-10-29/30); BT2006 is a European index
# (Easter and Christmas closures).
GAPS = {"GOOG": 2, "ORCL": 3, "BT2006": 2, "AAPL-zipline": 1, "AAPL": 0}


def raw_rows(name: str) -> list[dict[str, str]]:
    path = shared_data_dir() / SHARED[name][0]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    header = [h.strip().lower() or "date" for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def session_dates(df: pd.DataFrame) -> list[date]:
    return [ts.date() for ts in df.index.tz_convert(NY)]


@pytest.fixture(scope="module")
def goog() -> pd.DataFrame:
    return shared_bars("GOOG")


# ---- shared formats ------------------------------------------------------------------------


def test_the_shared_datasets_are_exactly_the_known_ones() -> None:
    assert set(SHARED) == set(ROWS)


@pytest.mark.parametrize("name", list(ROWS))
def test_every_shared_format_loads_to_the_canonical_frame(name: str) -> None:
    df = shared_bars(name)
    check = validate_bars(df)
    assert check.rows == len(df) == ROWS[name]
    assert (check.start, check.end) == (df.index[0], df.index[-1])
    assert str(df.index.dtype) == "datetime64[ns, UTC]"
    assert df.index.name == "ts"
    assert list(df.columns[:5]) == ["open", "high", "low", "close", "volume"]
    assert all(df[c].dtype == np.float64 for c in df.columns)
    assert df.attrs["symbol"] == SHARED[name][1]
    # Stamped at the 16:00 New York close of each session (the bar is known at its close).
    local = df.index.tz_convert(NY)
    assert (local.hour == 16).all()
    assert (local.minute == 0).all()
    # First and last bars against the raw file, field by field.
    rows = raw_rows(name)
    assert len(rows) == ROWS[name]
    for position, row in ((0, rows[0]), (-1, rows[-1])):
        stamp = row.get("date") or row["timestamp"]
        assert session_dates(df)[position] == date.fromisoformat(stamp[:10])
        for column in ("open", "high", "low", "close", "volume"):
            assert df[column].iloc[position] == float(row[column]), (name, column)
    if name in GAPS:
        assert check.gaps == GAPS[name]


def test_format_specific_columns_match_the_raw_files() -> None:
    orcl = shared_bars("ORCL")
    assert list(orcl.columns) == ["open", "high", "low", "close", "volume", "adj_close"]
    assert orcl["adj_close"].iloc[0] == 1.883304
    assert orcl["close"].iloc[0] == 2.117284
    assert orcl.index[0] == pd.Timestamp("1995-01-03 21:00", tz="UTC")  # EST

    aapl = shared_bars("AAPL-zipline")
    assert list(aapl.columns) == ["open", "high", "low", "close", "volume", "dividend", "split"]
    splits = aapl[aapl["split"] != 1.0]
    assert session_dates(splits) == [date(2014, 6, 9)]
    assert splits["split"].iloc[0] == 7.0
    assert (aapl["dividend"] > 0).sum() == 10
    assert aapl.loc["2012-08-09", "dividend"].iloc[0] == 0.37857
    ko = shared_bars("KO-zipline")
    assert session_dates(ko[ko["split"] == 2.0]) == [date(2012, 8, 13)]
    assert (ko["dividend"] > 0).sum() == 12

    seed = shared_bars("AAPL")
    assert list(seed.columns) == [
        *("open", "high", "low", "close", "volume"),
        *("vwap", "trade_count"),
    ]
    # Alpaca stamps 2024-11-01 04:00Z (midnight EDT) and 2024-11-04 05:00Z (midnight EST).
    assert list(seed.index[:2]) == [
        pd.Timestamp("2024-11-01 20:00", tz="UTC"),
        pd.Timestamp("2024-11-04 21:00", tz="UTC"),
    ]
    assert seed["vwap"].iloc[0] == 222.804987
    assert seed["trade_count"].iloc[0] == 859117.0

    bt = shared_bars("BT2006")
    assert list(bt.columns) == ["open", "high", "low", "close", "volume"]
    assert bt["open"].iloc[0] == 3578.73
    assert (bt["volume"] == 0).all()


def test_unknown_shared_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: GOOG, ORCL, BT2006") as caught:
        shared_bars("goog")
    for name in ROWS:
        assert name in str(caught.value)


def test_shared_data_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYRT_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="PYRT_SHARED_DATA"):
        shared_bars("GOOG")


# ---- load_csv --------------------------------------------------------------------------------


def test_headers_are_case_insensitive_in_any_order_and_gzip_is_read_from_the_content(
    tmp_path: Path,
) -> None:
    path = tmp_path / "aapl.csv"  # gzip content without a .gz name
    lines = ["DATE,Split,Dividend,VOLUME,Close,Low,High,Open"]
    for ts, row in shared_bars("AAPL-zipline").iloc[:3].iterrows():
        day = ts.tz_convert(NY).date()
        values = [row[c] for c in ("split", "dividend", "volume", "close", "low", "high", "open")]
        lines.append(",".join([day.isoformat(), *(repr(float(v)) for v in values)]))
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    df = load_csv(path, symbol="AAPL")
    expected = shared_bars("AAPL-zipline").iloc[:3]
    pd.testing.assert_frame_equal(df, expected, check_exact=True)
    assert df.attrs == {"symbol": "AAPL"}


def test_naive_dates_are_stamped_at_the_close_in_the_given_zone(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("Date,Open,High,Low,Close,Volume,OpenInterest\n2006-07-03,10,11,9,10.5,5,0\n")
    assert load_csv(path, tz="Europe/London").index[0] == pd.Timestamp("2006-07-03 15:00Z")
    assert load_csv(path).index[0] == pd.Timestamp("2006-07-03 20:00Z")


BACKTRADER = "Date,Open,High,Low,Close,Volume,OpenInterest\n"
ALPACA = "timestamp,symbol,open,high,low,close,volume,vwap,trade_count\n"


@pytest.mark.parametrize(
    ("text", "rule", "needle"),
    [
        ("Day,Open,High,Low,Close,Volume\n2020-01-02,1,1,1,1,1\n", "format", "unknown header"),
        (BACKTRADER + "2020-01-02,1,x,1,1,1,0\n", "format", "could not convert string"),
        (BACKTRADER + "2020-01-02 10:30,1,1,1,1,1,0\n", "timestamp", "not a session date"),
        (BACKTRADER + "soon,1,1,1,1,1,0\n", "timestamp", "soon"),
        (BACKTRADER + ",1,1,1,1,1,0\n", "missing-timestamp", "data row 0"),
        (ALPACA + "2025-01-02 14:30:00+00:00,AAPL,1,1,1,1,1,1,1\n", "timestamp", "daily bars"),
    ],
)
def test_load_csv_refuses_what_it_cannot_parse(
    tmp_path: Path, text: str, rule: str, needle: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=needle) as caught:
        load_csv(path)
    assert caught.value.rule == rule
    assert str(path) in str(caught.value)


def test_an_alpaca_file_with_several_symbols_needs_one_chosen(tmp_path: Path) -> None:
    folder = shared_data_dir() / "seed_alpaca_daily"
    aapl, msft = ((folder / f"{s}.csv").read_text().splitlines() for s in ("AAPL", "MSFT"))
    path = tmp_path / "both.csv"
    path.write_text("\n".join([*aapl, *msft[1:]]) + "\n")
    with pytest.raises(DataError, match="pass symbol=") as caught:
        load_csv(path)
    assert caught.value.rule == "symbol"
    pd.testing.assert_frame_equal(load_csv(path, symbol="MSFT"), shared_bars("MSFT"))
    with pytest.raises(DataError, match="no rows for 'TSLA'"):
        load_csv(path, symbol="TSLA")


def test_load_csv_keeps_a_dirty_file_as_it_is_for_the_caller_to_judge(
    tmp_path: Path, goog: pd.DataFrame
) -> None:
    path = tmp_path / "dirty.csv"
    raw = (shared_data_dir() / SHARED["GOOG"][0]).read_text().splitlines()
    # Rows 1 and 2 swapped, row 4 repeated, row 3's close missing.
    parts = raw[4].split(",")
    parts[4] = ""
    path.write_text("\n".join([raw[0], raw[2], raw[1], raw[3], ",".join(parts), raw[5], raw[5]]))
    dirty = load_csv(path)
    assert len(dirty) == 6
    assert math.isnan(dirty["close"].iloc[3])
    with pytest.raises(DataError) as caught:
        validate_bars(dirty, name="dirty.csv")
    assert caught.value.rule == "non-finite"
    assert f"row 3 ({dirty.index[3]}" in str(caught.value)
    cleaned, changes = clean_bars(dirty)
    pd.testing.assert_frame_equal(cleaned, goog.iloc[[0, 1, 2, 4]])
    assert len(changes) == 3


# ---- Parquet --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ROWS))
def test_parquet_round_trip_is_exact(name: str, tmp_path: Path) -> None:
    df = shared_bars(name)
    path = tmp_path / "sub" / f"{name}.parquet"
    save_parquet(df, path)
    back = load_parquet(path)
    pd.testing.assert_frame_equal(back, df, check_exact=True, check_freq=True)
    assert back.attrs == df.attrs
    assert back.index.dtype == df.index.dtype
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_save_parquet_is_atomic_and_refuses_invalid_frames(
    tmp_path: Path, goog: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "goog.parquet"
    save_parquet(goog, path)
    before = path.read_bytes()
    with pytest.raises(DataError, match="unsorted"):
        save_parquet(goog.iloc[::-1], path)

    def half_written(self: pd.DataFrame, handle: object, **_: object) -> None:
        handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_written)
    with pytest.raises(OSError, match="disk full"):
        save_parquet(goog.iloc[:5], path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_load_parquet_refuses_a_foreign_file(tmp_path: Path, goog: pd.DataFrame) -> None:
    path = tmp_path / "naive.parquet"
    goog.tz_localize(None).to_parquet(path)
    with pytest.raises(DataError, match="tz-naive") as caught:
        load_parquet(path)
    assert str(path) in str(caught.value)


# ---- validation rules ---------------------------------------------------------------------


def set_value(column: str, row: int, value: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def apply(df: pd.DataFrame) -> pd.DataFrame:
        if column not in df:
            df[column] = 0.0 if column == "dividend" else 1.0
        df.iloc[row, df.columns.get_loc(column)] = value
        return df

    return apply


def set_index(
    change: Callable[[pd.DatetimeIndex], pd.Index],
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def apply(df: pd.DataFrame) -> pd.DataFrame:
        df.index = change(df.index)
        return df

    return apply


def swap_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df.iloc[[0, 1, 3, 2, 4, 5]]


def repeat_stamp(df: pd.DataFrame) -> pd.DataFrame:
    stamps = list(df.index)
    stamps[3] = stamps[2]
    df.index = pd.DatetimeIndex(stamps, name="ts")
    return df


def with_nat(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    stamps = list(index)
    stamps[1] = pd.NaT
    return pd.DatetimeIndex(stamps, name="ts", dtype=index.dtype)


RULES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], int | None]] = [
    ("index-type", lambda df: df.reset_index(drop=True), None),
    ("tz-naive", set_index(lambda i: i.tz_localize(None)), None),
    ("not-utc", set_index(lambda i: i.tz_convert(NY)), None),
    ("index-unit", set_index(lambda i: i.as_unit("us")), None),
    ("missing-timestamp", set_index(with_nat), 1),
    ("missing-columns", lambda df: df.drop(columns=["low"]), None),
    ("dtype", lambda df: df.astype({"volume": "int64"}), None),
    ("non-finite", set_value("close", 2, float("nan")), 2),
    ("non-finite", set_value("high", 3, float("inf")), 3),
    ("non-finite", set_value("split", 4, float("nan")), 4),
    ("non-positive-price", set_value("open", 1, 0.0), 1),
    ("non-positive-price", set_value("low", 4, -1.0), 4),
    ("negative-volume", set_value("volume", 2, -5.0), 2),
    ("high-below-low", set_value("high", 3, 1.0), 3),
    ("high-below-open-close", set_value("close", 1, 1e6), 1),
    ("low-above-open-close", set_value("open", 2, 50.0), 2),
    ("negative-dividend", set_value("dividend", 2, -0.1), 2),
    ("non-positive-split", set_value("split", 3, 0.0), 3),
    ("duplicate-timestamp", repeat_stamp, 2),
    ("unsorted", swap_rows, 3),
]


@pytest.mark.parametrize(("rule", "breaks", "row"), RULES)
def test_each_rule_is_refused_naming_the_rule_and_the_row(
    goog: pd.DataFrame, rule: str, breaks: Callable[[pd.DataFrame], pd.DataFrame], row: int | None
) -> None:
    bad = breaks(goog.iloc[:6].copy())
    with pytest.raises(DataError) as caught:
        validate_bars(bad, name="GOOG head")
    assert caught.value.rule == rule
    message = str(caught.value)
    assert message.startswith(f"GOOG head: {rule}: ")
    if row is not None:
        assert f"row {row} ({bad.index[row]}" in message
    assert isinstance(caught.value, ValueError)


def test_many_offending_rows_are_summarised(goog: pd.DataFrame) -> None:
    bad = goog.iloc[:20].copy()
    bad["volume"] = -1.0
    with pytest.raises(DataError, match=r"row 0 .*row 1 .*row 2 .* and 17 more$"):
        validate_bars(bad)


def test_gaps_are_reported_not_raised(goog: pd.DataFrame) -> None:
    holed = goog.iloc[[*range(5), *range(12, 20)]]
    check = validate_bars(holed)
    assert (check.rows, check.gaps) == (13, 1)
    assert (check.start, check.end) == (goog.index[0], goog.index[19])
    minutes = pd.DatetimeIndex(
        pd.date_range("2025-01-02 14:30", periods=40, freq="min", tz="UTC").as_unit("ns"),
        name="ts",
    )
    keep = [*range(10), *range(12, 20), *range(30, 40)]  # a 3-minute and an 11-minute spacing
    bars = pd.DataFrame(
        {c: np.full(len(keep), 10.0) for c in ("open", "high", "low", "close", "volume")},
        index=minutes[keep],
    )
    assert validate_bars(bars).gaps == 1
    empty = goog.iloc[:0]
    assert validate_bars(empty) == data.BarCheck(rows=0, start=None, end=None, gaps=0)


# ---- clean_bars -----------------------------------------------------------------------------


def test_clean_bars_repairs_and_reports_every_change(goog: pd.DataFrame) -> None:
    base = goog.iloc[:10]
    extra = base.iloc[[9]].copy()
    extra.index = extra.index + pd.Timedelta(days=1)
    extra["close"] = np.nan
    messy = pd.concat([base.iloc[[4, 0, 1, 2, 3, 3, 5, 6, 7, 8, 9]], extra])
    messy = messy.astype({"volume": "int64"})
    messy.index = messy.index.tz_convert(NY)
    snapshot = messy.copy()
    cleaned, changes = clean_bars(messy)
    pd.testing.assert_frame_equal(cleaned, base, check_exact=True)
    pd.testing.assert_frame_equal(messy, snapshot)
    assert len(changes) == 5
    converted, cast, nan, duplicated, ordered = changes
    assert "America/New_York" in converted
    assert cast == "cast volume from int64 to float64"
    assert nan.startswith("dropped 1 rows with NaN/NaT: row 11 (")
    assert duplicated.startswith("dropped 1 duplicated rows, kept the last")
    assert ordered.startswith("sorted by time stamp")


def test_clean_bars_keeps_the_last_duplicate_in_input_order(goog: pd.DataFrame) -> None:
    base = goog.iloc[:5]
    later = base.iloc[[2]].copy()
    later["close"] = later["open"]
    cleaned, changes = clean_bars(pd.concat([base, later]))
    assert cleaned["close"].iloc[2] == base["open"].iloc[2]
    assert len(cleaned) == 5
    assert len(changes) == 2  # the duplicate, then the sort it left behind


def test_clean_bars_strict_options_and_unrepairable_frames(goog: pd.DataFrame) -> None:
    base = goog.iloc[:6]
    cleaned, changes = clean_bars(base)
    pd.testing.assert_frame_equal(cleaned, base, check_exact=True)
    assert changes == []
    with pytest.raises(DataError) as caught:
        clean_bars(pd.concat([base, base.iloc[[1]]]), drop_duplicates="error")
    assert caught.value.rule == "duplicate-timestamp"
    with pytest.raises(DataError) as caught:
        clean_bars(base.iloc[::-1], sort=False)
    assert caught.value.rule == "unsorted"
    holed = base.copy()
    holed.iloc[2, 3] = np.nan
    with pytest.raises(DataError) as caught:
        clean_bars(holed, drop_nan=False)
    assert caught.value.rule == "non-finite"
    with pytest.raises(DataError) as caught:
        clean_bars(set_value("high", 1, 1.0)(base.copy()))
    assert caught.value.rule == "high-below-low"
    with pytest.raises(DataError) as caught:
        clean_bars(base.tz_localize(None))
    assert caught.value.rule == "tz-naive"


BASE_ROWS = 8


@settings(max_examples=150, deadline=None)
@given(extra=st.lists(st.integers(0, BASE_ROWS - 1), max_size=4), data_=st.data())
def test_shuffled_or_duplicated_rows_are_rejected_or_repaired_exactly(
    goog: pd.DataFrame, extra: list[int], data_: st.DataObject
) -> None:
    base = goog.iloc[:BASE_ROWS]
    rows = data_.draw(st.permutations([*range(BASE_ROWS), *extra]))
    mixed = base.iloc[rows]
    if rows == list(range(BASE_ROWS)):
        validate_bars(mixed)
    else:
        with pytest.raises(DataError) as caught:
            validate_bars(mixed)
        assert caught.value.rule in {"duplicate-timestamp", "unsorted"}
    cleaned, changes = clean_bars(mixed)
    pd.testing.assert_frame_equal(cleaned, base, check_exact=True)
    assert bool(changes) == (rows != list(range(BASE_ROWS)))


# ---- Alpaca bars from the real simulator -----------------------------------------------


def source_frame(running: Running, symbol: str, first: date, last: date) -> pd.DataFrame:
    """What the simulator's data source holds, restamped the canonical way."""
    chosen = [
        b
        for b in running.sim.data.daily[symbol]
        if first <= pd.Timestamp(b.timestamp_ns, tz="UTC").tz_convert(NY).date() <= last
    ]
    starts = pd.DatetimeIndex([b.timestamp_ns for b in chosen]).tz_localize("UTC")
    columns = ("open", "high", "low", "close", "volume", "vwap", "trade_count")
    return pd.DataFrame(
        {c: [float(getattr(b, c)) for b in chosen] for c in columns},
        index=alpaca_close_stamps(starts),
    )


def test_alpaca_bars_from_the_simulator_match_its_data_then_come_from_the_cache(
    sim: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="research.data")
    first, last = date(2025, 1, 2), date(2025, 3, 31)
    bars = alpaca_bars(
        "AAPL", first, last, base_url=sim.url, key_id=KEY, secret_key=SECRET, cache_dir=tmp_path
    )
    validate_bars(bars)
    # Both ends inclusive, whole New York days.
    assert session_dates(bars)[0] == first
    assert session_dates(bars)[-1] == last
    assert len(bars) == 60
    pd.testing.assert_frame_equal(bars, source_frame(sim, "AAPL", first, last), check_exact=True)
    seed = shared_bars("AAPL")
    pd.testing.assert_frame_equal(
        bars, seed[seed.index.tz_convert(NY).date >= first].loc[: bars.index[-1]]
    )
    assert bars.attrs == {"symbol": "AAPL"}
    cached = list(tmp_path.iterdir())
    assert len(cached) == 1
    assert cached[0].suffix == ".parquet"
    assert SECRET not in cached[0].name

    def no_client(*_: object, **__: object) -> None:
        raise AssertionError("a cache hit must make no request")

    monkeypatch.setattr(data, "StockHistoricalDataClient", no_client)
    again = alpaca_bars("AAPL", "2025-01-02", "2025-03-31", base_url=sim.url, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(again, bars, check_exact=True)
    assert again.attrs == bars.attrs
    assert SECRET not in caplog.text


def test_a_stopped_simulator_still_serves_cached_bars(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="research.data")
    running = Running(build(SimConfig(KEY, SECRET), replay=False))
    try:
        fetched = alpaca_bars(
            "MSFT",
            datetime.fromisoformat("2024-12-01T00:00:00+00:00"),
            date(2024, 12, 31),
            base_url=running.url,
            key_id=KEY,
            secret_key=SECRET,
            cache_dir=tmp_path,
            feed="iex",
        )
        expected = source_frame(running, "MSFT", date(2024, 12, 1), date(2024, 12, 31))
    finally:
        running.stop()
    pd.testing.assert_frame_equal(fetched, expected, check_exact=True)
    assert len(fetched) == 21
    offline = alpaca_bars(
        "MSFT",
        "2024-12-01T00:00:00+00:00",
        "2024-12-31",
        base_url=running.url,
        cache_dir=tmp_path,
        feed="iex",
    )
    pd.testing.assert_frame_equal(offline, fetched, check_exact=True)
    # Anything not cached needs the server, which is gone: the request really is made.
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        alpaca_bars(
            "MSFT",
            "2024-12-02",
            "2024-12-31",
            base_url=running.url,
            key_id=KEY,
            secret_key=SECRET,
            cache_dir=tmp_path,
            feed="iex",
        )
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text
    assert all(SECRET not in p.name for p in tmp_path.iterdir())


def test_alpaca_credentials_from_the_environment_and_their_absence(
    sim: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    bars = alpaca_bars("GOOGL", "2025-06-02", "2025-06-06", base_url=sim.url, cache_dir=tmp_path)
    assert len(bars) == 5
    # A venue is part of the cache key: the same request elsewhere is not a hit.
    monkeypatch.delenv("APCA_API_KEY_ID")
    monkeypatch.delenv("APCA_API_SECRET_KEY")
    with pytest.raises(ValueError, match="no Alpaca credentials"):
        alpaca_bars("GOOGL", "2025-06-02", "2025-06-06", cache_dir=tmp_path)
    wrong = "not-the-secret-0123"
    with pytest.raises(APIError) as caught:
        alpaca_bars(
            "GOOGL",
            "2025-06-02",
            "2025-06-09",
            base_url=sim.url,
            key_id=KEY,
            secret_key=wrong,
            cache_dir=tmp_path,
        )
    assert caught.value.status_code in {401, 403}
    assert wrong not in str(caught.value)
    assert len(list(tmp_path.iterdir())) == 1


def test_an_empty_range_is_an_empty_canonical_frame(sim: Running, tmp_path: Path) -> None:
    bars = alpaca_bars(
        "AAPL",
        "2025-01-04",
        "2025-01-05",  # a weekend
        base_url=sim.url,
        key_id=KEY,
        secret_key=SECRET,
        cache_dir=tmp_path,
    )
    assert len(bars) == 0
    assert str(bars.index.dtype) == "datetime64[ns, UTC]"
    assert validate_bars(bars).rows == 0


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"start": datetime(2025, 1, 2), "end": date(2025, 1, 3)}, "naive"),
        ({"start": "2025-01-03", "end": "2025-01-02"}, "after end"),
        ({"start": "2025-01-02", "end": "2025-01-03", "timeframe": "1Week"}, "resample"),
        ({"start": "2025-01-02", "end": "2025-01-03", "timeframe": "daily"}, "expected Alpaca"),
    ],
)
def test_alpaca_bars_refuses_bad_arguments_before_any_request(
    kwargs: dict[str, object], needle: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=needle):
        alpaca_bars("AAPL", cache_dir=tmp_path, **kwargs)
    assert not list(tmp_path.iterdir())


def test_alpaca_stamps_become_close_stamps() -> None:
    daily = pd.DatetimeIndex(["2025-03-07 05:00Z", "2025-03-10 04:00Z"])  # across the DST change
    assert list(alpaca_close_stamps(daily)) == [
        pd.Timestamp("2025-03-07 21:00Z"),
        pd.Timestamp("2025-03-10 20:00Z"),
    ]
    start = pd.DatetimeIndex(["2025-01-02 14:30Z"])
    assert alpaca_close_stamps(start, "5Min")[0] == pd.Timestamp("2025-01-02 14:35Z")
    assert alpaca_close_stamps(start, "1Hour")[0] == pd.Timestamp("2025-01-02 15:30Z")
    assert str(alpaca_close_stamps(start, "1Hour").dtype) == "datetime64[ns, UTC]"
