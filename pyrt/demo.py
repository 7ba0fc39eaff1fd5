"""`make demo`: run what exists of the appliance on the embedded defaults and report.

Each step runs for real; a component that is not built yet is reported as such, found by looking
for it rather than by a list kept by hand.
"""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from pyrt import _core

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
RELEASE_DIR = ROOT / "daemons" / "target" / "release"


@dataclass(frozen=True)
class Component:
    name: str
    issue: int
    kind: str  # "module", "binary" or "path"
    target: str

    def present(self) -> bool:
        if self.kind == "module":
            return importlib.util.find_spec(self.target) is not None
        if self.kind == "binary":
            return (RELEASE_DIR / self.target).is_file()
        return (ROOT / self.target).exists()


COMPONENTS = (
    Component("domain types (pyrt._core)", 3, "module", "pyrt._core"),
    Component("validated configuration", 3, "module", "pyrt.config"),
    Component("shared-memory rings, control block", 4, "path", "daemons/crates/pyrt-ring"),
    Component("telemetry (HDR, Prometheus)", 4, "path", "daemons/crates/pyrt-telemetry"),
    Component("venue simulator: trading REST, trade_updates", 5, "module", "pyrt.sim"),
    Component("venue simulator: market-data REST and stream", 5, "path", "pyrt/sim/data.py"),
    Component("Alpaca client and parsers", 6, "path", "daemons/crates/pyrt-alpaca"),
    Component("order books (L1/L2/L3)", 6, "path", "daemons/crates/pyrt-book"),
    Component("exec write-ahead journal", 6, "path", "daemons/crates/pyrt-journal"),
    Component("indicators (TA-Lib equal)", 7, "path", "daemons/crates/pyrt-indicators"),
    Component("pre-trade risk gate", 7, "path", "daemons/crates/pyrt-risk"),
    Component("md daemon", 6, "binary", "pyrt-md"),
    Component("exec daemon", 6, "binary", "pyrt-exec"),
    Component("strategy daemon", 7, "binary", "pyrt-strategy"),
    Component("risk daemon", 7, "binary", "pyrt-risk"),
    Component("supervisor", 7, "module", "pyrt.supervisor"),
    Component("backtester", 8, "module", "research.backtest"),
)


def check_config(console: Console) -> bool:
    config = ROOT / "config" / "appliance.toml"
    result = subprocess.run(
        [sys.executable, "-m", "pyrt.cli", "config", "check", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    console.print(f"[bold]config check[/] {config.relative_to(ROOT)} -> exit {result.returncode}")
    console.print(result.stdout.rstrip() or result.stderr.rstrip())
    return result.returncode == 0


def replay_daily_bars(console: Console) -> None:
    """Reads Alpaca v2 daily bars through the live path's types: exact prices, ns timestamps."""
    folder = SHARED_DATA / "seed_alpaca_daily"
    if not folder.is_dir():
        console.print(f"[yellow]no market data at {folder}; skipping the bar replay[/]")
        return
    symbols = _core.SymbolTable()
    table = Table(title="Alpaca daily bars through pyrt._core (exact fixed point, Rust indicators)")
    for column in (
        "symbol",
        "id",
        "bars",
        "first",
        "last",
        "last close",
        "dollar volume",
        "SMA20",
        "RSI14",
    ):
        table.add_column(column, justify="right" if column != "symbol" else "left")
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            continue
        symbol_id = symbols.intern(rows[0]["symbol"])
        stamps = [_core.Timestamp(row["timestamp"]) for row in rows]
        closes = [_core.Price(row["close"]) for row in rows]
        # A day's dollar volume of a large stock (~$10 billion) is beyond Notional's ±$9.2 billion
        # (sized for an account's money), so market statistics are summed as exact Decimals.
        turnover = sum(
            (
                c.to_decimal() * _core.Qty(row["volume"]).to_decimal()
                for c, row in zip(closes, rows, strict=True)
            ),
            Decimal(0),
        )
        # Indicators are features, not money: floats from the exact prices.
        series = np.array([c.to_float() for c in closes])
        table.add_row(
            rows[0]["symbol"],
            str(symbol_id),
            str(len(rows)),
            str(min(stamps)),
            str(max(stamps)),
            str(closes[-1]),
            f"{turnover:,.0f}",
            f"{_core.indicators.sma(series, 20)[-1]:.2f}",
            f"{_core.indicators.rsi(series, 14)[-1]:.1f}",
        )
    console.print(table)
    console.print(f"event size {_core.EVENT_SIZE} B, layout hash {_core.LAYOUT_HASH:#018x}")


def report_components(console: Console) -> None:
    table = Table(title="py_rt components")
    table.add_column("component")
    table.add_column("issue", justify="right")
    table.add_column("state")
    for component in COMPONENTS:
        state = "[green]built[/]" if component.present() else "[yellow]not built yet[/]"
        table.add_row(component.name, str(component.issue), state)
    console.print(table)


def main() -> int:
    # Wide enough for the tables when the output is a pipe or a CI log rather than a terminal.
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.rule("py_rt demo")
    config_ok = check_config(console)
    replay_daily_bars(console)
    report_components(console)
    missing = [c for c in COMPONENTS if not c.present()]
    if missing:
        console.print(
            "The appliance cannot trade end to end yet: "
            + ", ".join(c.name for c in missing)
            + " still to be built (see the issues above). Nothing was simulated in their place."
        )
    return 0 if config_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
