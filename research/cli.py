"""`pyrt backtest run | sweep`: backtests from the shell, on shared, local or Alpaca data.

Imports of the research stack (pandas, plotly) happen inside the commands, so the rest of the
`pyrt` CLI starts quickly.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from research.backtest import BacktestConfig, SmaCross, Strategy

app = typer.Typer(no_args_is_help=True, help="Backtests on the appliance's Rust core.")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DataFile = Annotated[Path | None, typer.Option("--data", help="CSV or Parquet bars")]
Dataset = Annotated[
    str | None, typer.Option(help="a dataset of ../shared/data (GOOG, ORCL, AAPL, ...)")
]
Alpaca = Annotated[
    str | None, typer.Option(help="a symbol's daily bars from Alpaca's (or the simulator's) API")
]
Start = Annotated[str | None, typer.Option(help="first session (YYYY-MM-DD), with --alpaca")]
End = Annotated[str | None, typer.Option(help="last session (YYYY-MM-DD), with --alpaca")]
BaseUrl = Annotated[str | None, typer.Option(help="data API URL (the simulator's, say)")]
Cash = Annotated[str, typer.Option(help="initial cash, a decimal")]
Commission = Annotated[int, typer.Option(help="commission in bps of each fill's notional")]
PerShare = Annotated[str, typer.Option(help="commission per share, a decimal")]
RegFees = Annotated[bool, typer.Option(help="charge SEC and FINRA TAF fees on sells")]
Slippage = Annotated[int, typer.Option(help="slippage of taker fills, in bps")]
Limits = Annotated[Path | None, typer.Option(help="run every order through these live risk limits")]


def load_bars(  # noqa: PLR0917 - one argument per data-source option
    data: Path | None,
    dataset: str | None,
    alpaca: str | None,
    start: str | None,
    end: str | None,
    base_url: str | None,
) -> pd.DataFrame:
    from research import data as loaders  # noqa: PLC0415 - keeps `pyrt --help` fast

    chosen = [x for x in (data, dataset, alpaca) if x is not None]
    if len(chosen) != 1:
        raise ValueError("give exactly one of --data, --dataset, --alpaca")
    if dataset is not None:
        return loaders.shared_bars(dataset)
    if alpaca is not None:
        if start is None or end is None:
            raise ValueError("--alpaca needs --start and --end")
        return loaders.alpaca_bars(alpaca, start, end, base_url=base_url)
    assert data is not None
    if data.suffix == ".parquet":
        return loaders.load_parquet(data)
    frame, changes = loaders.clean_bars(loaders.load_csv(data), drop_duplicates="error")
    for change in changes:
        err.print(f"{data}: {change}")
    return frame


def make_config(  # noqa: PLR0917 - one argument per cost option
    cash: str,
    commission_bps: int,
    per_share: str,
    regulatory_fees: bool,
    slippage_bps: int,
    risk_limits: Path | None,
) -> BacktestConfig:
    from research.backtest import BacktestConfig  # noqa: PLC0415

    return BacktestConfig(
        initial_cash=Decimal(cash),
        commission_bps=commission_bps,
        per_share=Decimal(per_share),
        regulatory_fees=regulatory_fees,
        slippage_bps=slippage_bps,
        risk_limits=risk_limits,
    )


def make_strategy(  # noqa: PLR0917 - one argument per strategy option
    name: str, fast: int, slow: int, qty: str, allow_short: bool, params: list[str]
) -> SmaCross | Strategy:
    """`sma-cross` (Rust), or `package.module:Class` built with `--param key=value` arguments."""
    from research.backtest import SmaCross, Strategy  # noqa: PLC0415

    if name == "sma-cross":
        return SmaCross(fast, slow, qty, allow_short=allow_short)
    module_name, _, class_name = name.partition(":")
    if not class_name:
        raise ValueError(f"--strategy {name!r}: use sma-cross or package.module:Class")
    kwargs: dict[str, Any] = {}
    for param in params:
        key, sep, text = param.partition("=")
        if not sep:
            raise ValueError(f"--param {param!r}: use key=value")
        try:
            kwargs[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            kwargs[key] = text
    strategy = getattr(importlib.import_module(module_name), class_name)(**kwargs)
    if not isinstance(strategy, Strategy):
        raise ValueError(f"{name} is not a research.backtest.Strategy")
    return strategy


@app.command("run")
def run_command(  # noqa: PLR0917 - typer options
    data: DataFile = None,
    dataset: Dataset = None,
    alpaca: Alpaca = None,
    start: Start = None,
    end: End = None,
    base_url: BaseUrl = None,
    symbol: Annotated[str | None, typer.Option(help="symbol name (default: the data's)")] = None,
    strategy: Annotated[str, typer.Option(help="sma-cross, or package.module:Class")] = "sma-cross",
    param: Annotated[list[str] | None, typer.Option(help="key=value for a Python strategy")] = None,
    fast: Annotated[int, typer.Option(help="sma-cross fast period")] = 10,
    slow: Annotated[int, typer.Option(help="sma-cross slow period")] = 30,
    qty: Annotated[str, typer.Option(help="sma-cross order size")] = "100",
    allow_short: Annotated[bool, typer.Option(help="sma-cross may go short")] = False,
    cash: Cash = "100000",
    commission_bps: Commission = 0,
    per_share: PerShare = "0",
    regulatory_fees: RegFees = False,
    slippage_bps: Slippage = 0,
    risk_limits: Limits = None,
    report: Annotated[Path | None, typer.Option(help="write the HTML/PNG report here")] = None,
    title: Annotated[str | None, typer.Option(help="report title")] = None,
) -> None:
    """One backtest: prints its metrics, optionally writes the report."""
    from research.backtest import run_backtest  # noqa: PLC0415
    from research.report import format_metric  # noqa: PLC0415

    try:
        bars = load_bars(data, dataset, alpaca, start, end, base_url)
        name = symbol or str(bars.attrs.get("symbol") or "ASSET")
        config = make_config(
            cash, commission_bps, per_share, regulatory_fees, slippage_bps, risk_limits
        )
        chosen = make_strategy(strategy, fast, slow, qty, allow_short, param or [])
        result = run_backtest({name: bars}, chosen, config, progress=True)
    except (ValueError, OSError, ImportError, AttributeError) as e:
        err.print(f"backtest: {e}", markup=False)
        raise typer.Exit(2) from e
    table = Table(title=f"{name}: {strategy}", show_header=False)
    for field in dataclasses.fields(result.metrics):
        table.add_row(field.name, format_metric(field.name, getattr(result.metrics, field.name)))
    table.add_row(
        "orders / fills / rejected",
        f"{result.summary['orders']} / {result.summary['fills']} / {result.summary['rejected']}",
    )
    for reason, n in result.summary["rejects"].items():
        table.add_row(f"  rejected: {reason}", str(n))
    out.print(table)
    if report is not None:
        files = result.report(report, title=title or f"{name} {strategy}")
        out.print(f"report: {files.html}")


def parse_range(text: str) -> list[int]:
    """`5:50:5` (start:stop:step, stop included) or `5,10,20`."""
    if ":" in text:
        parts = [int(p) for p in text.split(":")]
        if len(parts) != 3 or parts[2] <= 0:
            raise ValueError(f"range {text!r}: use start:stop:step with a positive step")
        return list(range(parts[0], parts[1] + 1, parts[2]))
    return [int(p) for p in text.split(",")]


@app.command("sweep")
def sweep_command(  # noqa: PLR0917 - typer options
    data: DataFile = None,
    dataset: Dataset = None,
    alpaca: Alpaca = None,
    start: Start = None,
    end: End = None,
    base_url: BaseUrl = None,
    fast: Annotated[str, typer.Option(help="fast periods, start:stop:step or a,b,c")] = "5:50:5",
    slow: Annotated[str, typer.Option(help="slow periods, start:stop:step or a,b,c")] = "20:200:20",
    qty: Annotated[str, typer.Option(help="order size")] = "100",
    threads: Annotated[int, typer.Option(help="worker threads")] = 2,
    cash: Cash = "100000",
    commission_bps: Commission = 0,
    per_share: PerShare = "0",
    regulatory_fees: RegFees = False,
    slippage_bps: Slippage = 0,
    risk_limits: Limits = None,
    top: Annotated[int, typer.Option(help="rows to print")] = 10,
    csv: Annotated[Path | None, typer.Option(help="write every result here")] = None,
) -> None:
    """A grid of SMA crossovers (fast < slow) in Rust on every core, best final equity first."""
    from research.backtest import sweep_sma_cross  # noqa: PLC0415

    try:
        bars = load_bars(data, dataset, alpaca, start, end, base_url)
        pairs = [(f, s) for f in parse_range(fast) for s in parse_range(slow) if f < s]
        if not pairs:
            raise ValueError("no (fast, slow) pair with fast < slow")
        config = make_config(
            cash, commission_bps, per_share, regulatory_fees, slippage_bps, risk_limits
        )
        results = sweep_sma_cross(bars, pairs, qty, config, threads=threads)
    except (ValueError, OSError) as e:
        err.print(f"backtest sweep: {e}", markup=False)
        raise typer.Exit(2) from e
    results = results.sort_values("final_equity", ascending=False)
    if csv is not None:
        results.to_csv(csv, index=False)
    table = Table(title=f"{len(pairs)} crossovers over {len(bars)} bars")
    for column in ("fast", "slow", "final_equity", "max_drawdown", "closed_trades", "rejected"):
        table.add_column(column, justify="right")
    for row in results.head(top).itertuples():
        table.add_row(
            str(row.fast),
            str(row.slow),
            f"{row.final_equity:,.2f}",
            f"{row.max_drawdown:.2%}",
            str(row.closed_trades),
            str(row.rejected),
        )
    out.print(table)
