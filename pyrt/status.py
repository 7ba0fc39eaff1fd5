"""`pyrt status`: the control block as a table — kill switch, generations, and every daemon's pid,
state and heartbeat age."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pyrt import _core, monitoring
from pyrt.config import ConfigError, load_appliance

ROOT = Path(__file__).resolve().parent.parent
CONTROL_FILE = "control"
# A daemon whose heartbeat is older than this is shown as stale even if its pid exists.
STALE_AFTER_S = 2.0


def control_path(runtime_dir: Path | None, config: Path) -> Path:
    if runtime_dir is not None:
        return runtime_dir / CONTROL_FILE
    return Path(load_appliance(config).appliance.runtime_dir) / CONTROL_FILE


def render(block: _core.ControlBlock, console: Console, now_ns: int | None = None) -> None:
    now = time.time_ns() if now_ns is None else now_ns
    kill = "[bold red]ENGAGED[/]" if block.kill_switch else "[green]off[/]"
    console.print(
        f"kill switch: {kill}   config generation: {block.config_generation}   "
        f"model generation: {block.model_generation}"
    )
    table = Table(title="daemons")
    for column in ("daemon", "pid", "state", "heartbeat age", "alive", "restarts"):
        table.add_column(column, justify="left" if column in {"daemon", "state"} else "right")
    for d in block.daemons():
        age = max(0, now - int(d["heartbeat_ns"])) / 1e9
        alive = bool(d["alive"]) and age <= STALE_AFTER_S
        table.add_row(
            str(d["name"]),
            str(d["pid"]),
            str(d["state"]),
            f"{age:.2f} s",
            "[green]yes[/]" if alive else "[red]no[/]",
            str(d["restarts"]),
        )
    console.print(table)


def status(
    runtime_dir: Annotated[
        Path | None, typer.Option(help="directory holding the control block")
    ] = None,
    config: Annotated[Path, typer.Option(help="appliance.toml")] = ROOT
    / "config"
    / "appliance.toml",
) -> None:
    """Show the control block: kill switch, generations, daemon pids, states and heartbeats."""
    console = Console()
    try:
        path = control_path(runtime_dir, config)
    except ConfigError as exc:
        console.print(f"cannot read the configuration: {exc}")
        raise typer.Exit(2) from exc
    if not path.exists():
        console.print(
            f"no control block at {path}: the appliance is not running (start it with `pyrt up`)"
        )
        raise typer.Exit(1)
    try:
        block = _core.ControlBlock(str(path))
    except (OSError, ValueError) as exc:
        console.print(f"{path} is not a usable control block: {exc}")
        raise typer.Exit(1) from exc
    render(block, console)
    console.print(risk_book(config))


def risk_book(config: Path) -> str:
    """One line of what risk knows of the account, from its gauges."""
    try:
        port = load_appliance(config).daemons.risk.metrics_port
        gauges = monitoring.read_gauges(port, timeout_s=1.0)
    except (ConfigError, OSError):
        return "risk's book: its metrics endpoint does not answer"
    held = ", ".join(f"{s} {q}" for s, q in monitoring.positions(gauges).items()) or "flat"
    value = {k: gauges.get(k, "?") for k in ("pnl_day", "daily_loss_limit", "open_orders")}
    return (
        f"risk's book: {held}; P&L today {value['pnl_day']} (loss limit "
        f"{value['daily_loss_limit']}); open orders {value['open_orders']}; exposure gross "
        f"{gauges.get('gross_exposure', '?')}, net {gauges.get('net_exposure', '?')}"
    )
