"""`make demo`: run what exists of the appliance on the embedded defaults and report.

Each step runs for real; a component that is not built yet is reported as such, found by looking
for it rather than by a list kept by hand.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pyrt import latency
from pyrt.session import Report, Session, equity

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
    Component("features (live = research)", 7, "path", "daemons/crates/pyrt-features"),
    Component("ONNX models (ort) and training", 7, "module", "research.train_model"),
    Component("systemd backend", 7, "path", "systemd/pyrt-daemon.service.in"),
    Component("crypto order books (simulator stream, md L2)", 7, "path", "pyrt/sim/crypto.py"),
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


def report_components(console: Console) -> None:
    table = Table(title="py_rt components")
    table.add_column("component")
    table.add_column("issue", justify="right")
    table.add_column("state")
    for component in COMPONENTS:
        state = "[green]built[/]" if component.present() else "[yellow]not built yet[/]"
        table.add_row(component.name, str(component.issue), state)
    console.print(table)


def print_report(console: Console, report: Report, seconds: float) -> None:
    table = Table(title=f"session ({seconds:.0f} s on the simulator)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("orders at the broker", str(report.orders)),
        ("orders filled", str(report.filled_orders)),
        ("fills published by exec", str(report.fills)),
        ("signals (strategy)", f"{report.counters['strategy'].get('signals{sent}', 0):.0f}"),
        ("intents (risk)", f"{report.counters['risk'].get('intents{sent}', 0):.0f}"),
        ("md events published", f"{report.counters['md'].get('events{published}', 0):.0f}"),
        (
            "crypto book quotes scored, not traded",
            f"{report.counters['strategy'].get('scores{not_traded}', 0):.0f}",
        ),
        ("P&L after flatten (equity end - start)", f"{report.pnl:,.2f}"),
        (
            "positions before halt",
            ", ".join(f"{k} {v}" for k, v in report.positions_before_halt.items()) or "none",
        ),
        ("halt confirmed by broker", f"{report.halt_confirmed}"),
        ("model now", str(report.model.get("model"))),
        ("model generation", str(report.model.get("generation"))),
        ("model history", " → ".join(report.model.get("history", []))),
        ("models refused", "; ".join(report.model.get("refused", [])) or "none"),
    ]
    rows += [(f"Prometheus: {name}", value) for name, value in report.monitoring.items()]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    rejects = Table(title="risk rejects by reason")
    rejects.add_column("reason")
    rejects.add_column("count", justify="right")
    for reason, count in sorted(report.rejects.items()):
        rejects.add_row(reason, f"{count:.0f}")
    if not report.rejects:
        rejects.add_row("(none)", "0")
    console.print(rejects)
    console.print(latency.table(report.latency))


def run_session(console: Console, seconds: float, directory: Path) -> Report:
    console.print(f"training two XGBoost models on real BTCUSDT quotes into {directory}/staging")
    session = Session.prepare(directory)
    console.print(f"models {session.models}; {session.models[0]} published before start")
    states = session.start()
    console.print(f"supervisord: {states}")
    start_equity = equity(session.layout)
    started = time.monotonic()
    time.sleep(seconds / 2)
    console.print("halfway: publishing a corrupt model, then " + session.models[1])
    session.swap_models()
    time.sleep(max(0.0, seconds / 2 - 1))
    report = session.finish(start_equity)
    html = directory / "report.html"
    png = directory / "latency.png"
    if report.latency:
        latency.plot(report.latency, png)
        latency.write_html(report.latency, png, html)
    print_report(console, report, time.monotonic() - started)
    console.print(f"HTML report: {html}; logs: {session.layout.log_dir}")
    return report


def main() -> int:
    # Wide enough for the tables when the output is a pipe or a CI log rather than a terminal.
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.rule("py_rt demo")
    if not check_config(console):
        return 1
    report_components(console)
    seconds = float(os.environ.get("PYRT_DEMO_SECONDS", "60"))
    directory = Path(os.environ.get("PYRT_DEMO_DIR", ROOT / ".demo"))
    report = run_session(console, seconds, directory)
    missing = [c for c in COMPONENTS if not c.present()]
    if missing:
        console.print("Not built yet: " + ", ".join(c.name for c in missing) + ".")
    return 0 if report.halt_confirmed.get("open_orders") == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
