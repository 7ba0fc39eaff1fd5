"""`make bench-indicators`: py_rt's indicators and the cost of a call into ``pyrt._core``, against
their peers in one run, timed and never asserted (DESIGN §9: SMA-200 on 1 M points ≤ 2 ms with
TA-Lib's values; a PyO3 call ≤ 100 ns).

Batch indicators: every system computes the same indicator over the same 1,000,000 closes (ORCL's
real daily bars chained end to end, as `make bench-backtest` uses), best of ``--repeat`` runs.
Systems: ``py_rt`` (``pyrt._core.indicators``: Rust, numpy in and out), ``TA-Lib`` (the C library
through its Python wheel), and for the moving averages ``pandas`` (``rolling`` / ``ewm``) and, for
the SMA, ``numpy`` (a cumulative sum, the usual vectorised trick, with its rounding drift). Each
row says how far its values are from TA-Lib's (largest relative difference where both have one,
and whether the warm-up NaNs agree).

Call overhead: nanoseconds per call, the timing loop's own cost subtracted, of the cheapest
calls into the extension (an attribute getter, a method with a string, an indicator on one
value), each beside what Python itself and a C extension (CPython's builtins, TA-Lib's Cython
wrapper) pay for the same kind of call.

Prints tables with ratios and writes ``bench-results/indicators.json`` (DESIGN §10).
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import talib
from rich.console import Console
from rich.table import Table

from pyrt import _core, bench_results
from pyrt._core import indicators
from research.data import shared_bars, tiled_bars

Floats = np.ndarray[Any, np.dtype[np.float64]]
Series = Callable[[], Floats]


@dataclass(frozen=True)
class Inputs:
    close: Floats
    high: Floats
    low: Floats


def numpy_sma(values: Floats, period: int) -> Floats:
    sums = np.cumsum(values)
    out = np.full_like(values, np.nan)
    out[period - 1] = sums[period - 1] / period
    out[period:] = (sums[period:] - sums[:-period]) / period
    return out


def cases(x: Inputs) -> dict[str, dict[str, Series]]:
    """Per indicator, each system's computation of it (the first output where there are several)."""
    close = pd.Series(x.close)
    return {
        "SMA-200": {
            "py_rt": lambda: indicators.sma(x.close, 200),
            "TA-Lib": lambda: talib.SMA(x.close, 200),
            "pandas": lambda: close.rolling(200).mean().to_numpy(),
            "numpy": lambda: numpy_sma(x.close, 200),
        },
        "EMA-200": {
            "py_rt": lambda: indicators.ema(x.close, 200),
            "TA-Lib": lambda: talib.EMA(x.close, 200),
            # TA-Lib seeds with the SMA of the first period; pandas starts from the first value,
            # so its early values differ by design.
            "pandas": lambda: close.ewm(span=200, adjust=False).mean().to_numpy(),
        },
        "RSI-14": {
            "py_rt": lambda: indicators.rsi(x.close, 14),
            "TA-Lib": lambda: talib.RSI(x.close, 14),
        },
        "BBANDS-20 upper": {
            "py_rt": lambda: indicators.bbands(x.close, 20, 2.0, 2.0)[0],
            "TA-Lib": lambda: talib.BBANDS(x.close, 20, 2.0, 2.0)[0],
        },
        "MACD 12/26/9": {
            "py_rt": lambda: indicators.macd(x.close, 12, 26, 9)[0],
            "TA-Lib": lambda: talib.MACD(x.close, 12, 26, 9)[0],
        },
        "ATR-14": {
            "py_rt": lambda: indicators.atr(x.high, x.low, x.close, 14),
            "TA-Lib": lambda: talib.ATR(x.high, x.low, x.close, 14),
        },
        "ADX-14": {
            "py_rt": lambda: indicators.adx(x.high, x.low, x.close, 14),
            "TA-Lib": lambda: talib.ADX(x.high, x.low, x.close, 14),
        },
    }


def best_ms(compute: Series, repeat: int) -> tuple[float, Floats]:
    out = compute()  # untimed: first-touch page faults and lazy imports
    times = timeit.repeat(compute, number=1, repeat=repeat)
    return min(times) * 1000, out


def agreement(values: Floats, reference: Floats) -> tuple[float, bool]:
    """Largest relative difference where both have a value, and whether the NaNs coincide."""
    mine, theirs = np.isnan(values), np.isnan(reference)
    both = ~mine & ~theirs
    scale = np.maximum(np.abs(reference[both]), 1e-12)
    worst = float(np.max(np.abs(values[both] - reference[both]) / scale)) if both.any() else 0.0
    return worst, bool((mine == theirs).all())


@dataclass(frozen=True)
class Call:
    kind: str
    system: str
    call: Callable[[], object]


class Plain:
    """The pure-Python counterpart of a ``_core`` object."""

    def __init__(self, raw: int, names: dict[str, int]) -> None:
        self._raw = raw
        self._names = names

    @property
    def raw(self) -> int:
        return self._raw

    def get(self, name: str) -> int | None:
        return self._names.get(name)


def calls() -> list[Call]:
    price = _core.Price("187.23")
    table = _core.SymbolTable(["AAPL", "MSFT", "GOOGL"])
    names = {"AAPL": 0, "MSFT": 1, "GOOGL": 2}
    plain = Plain(price.raw, names)
    one = np.array([187.23])
    number = 187
    return [
        Call("attribute (getter)", "py_rt (PyO3)", lambda: price.raw),
        Call("attribute (getter)", "Python property", lambda: plain.raw),
        Call("attribute (getter)", "CPython builtin", lambda: number.real),
        Call("method, one str argument", "py_rt (PyO3)", lambda: table.get("MSFT")),
        Call("method, one str argument", "Python", lambda: plain.get("MSFT")),
        Call("method, one str argument", "CPython builtin", lambda: names.get("MSFT")),
        Call("indicator on 1 value", "py_rt (PyO3)", lambda: indicators.sma(one, 1)),
        Call("indicator on 1 value", "TA-Lib (Cython)", lambda: talib.SMA(one, 1)),
    ]


def per_call_ns(call: Callable[[], object], number: int, repeat: int) -> float:
    """Best per-call time with the cost of the loop and of calling a no-op lambda removed, so the
    figure is what crossing into the callee costs (lambdas wrap some calls: same for all)."""

    def noop() -> None:
        return None

    def best(target: Callable[[], object]) -> float:
        return min(timeit.repeat(target, number=number, repeat=repeat)) / number * 1e9

    direct = best(call)
    floor = best(noop)
    return max(direct - floor, 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    console = Console(width=140)

    bars = tiled_bars(shared_bars("ORCL"), args.points)
    x = Inputs(
        *(np.ascontiguousarray(bars[c].to_numpy(np.float64)) for c in ("close", "high", "low"))
    )
    results: list[dict[str, Any]] = []
    table = Table(title=f"indicators on {args.points:,} points, best of {args.repeat}")
    for column in ("indicator", "system", "ms", "M points/s", "x py_rt time", "vs TA-Lib"):
        table.add_column(column, justify="left" if column in ("indicator", "system") else "right")
    for indicator, systems in cases(x).items():
        timed = {system: best_ms(compute, args.repeat) for system, compute in systems.items()}
        ours = timed["py_rt"][0]
        reference = timed["TA-Lib"][1]
        for system, (ms, values) in timed.items():
            worst, nans = agreement(values, reference)
            label = (
                "reference"
                if system == "TA-Lib"
                else f"{worst:.1e}" + ("" if nans else ", NaNs differ")
            )
            table.add_row(
                indicator,
                system,
                f"{ms:.2f}",
                f"{args.points / ms / 1000:,.0f}",
                f"{ms / ours:.2f}",
                label,
            )
            case = f"{indicator}, {args.points:,} points"
            results.append({"system": system, "case": case, "metric": "best_ms", "value": ms})
            results.append(
                {"system": system, "case": case, "metric": "max_rel_diff_vs_talib", "value": worst}
            )
    console.print(table)
    sma = next(r for r in results if r["system"] == "py_rt" and r["case"].startswith("SMA-200"))
    console.print(f"DESIGN §9 target, SMA-200 on 1 M points ≤ 2 ms: py_rt {sma['value']:.2f} ms")

    overhead = Table(title=f"cost of one call, ns (best of 5 x {args.calls:,} calls, loop removed)")
    for column in ("call", "system", "ns", "x py_rt"):
        overhead.add_column(column, justify="left" if column in ("call", "system") else "right")
    measured = [(c, per_call_ns(c.call, args.calls, 5)) for c in calls()]
    ours_by_kind = {c.kind: ns for c, ns in measured if c.system.startswith("py_rt")}
    for c, ns in measured:
        ratio = ns / ours_by_kind[c.kind] if ours_by_kind[c.kind] else float("nan")
        overhead.add_row(c.kind, c.system, f"{ns:.0f}", f"{ratio:.2f}")
        results.append({"system": c.system, "case": f"call: {c.kind}", "metric": "ns", "value": ns})
    console.print(overhead)
    console.print(
        "DESIGN §9 target, PyO3 call overhead ≤ 100 ns: py_rt "
        + ", ".join(f"{kind} {ns:.0f} ns" for kind, ns in ours_by_kind.items())
    )
    versions = {name: metadata.version(name) for name in ("numpy", "pandas", "TA-Lib")}
    console.print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    console.print(
        f"wrote {bench_results.write('indicators', results, args.out, {'versions': versions})}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
