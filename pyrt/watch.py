"""`pyrt watch`: the heartbeat watchdog of the supervisord backend.

supervisord restarts a daemon that exits, but not one that is alive and stuck (a deadlock, a
wedged event loop, a process stopped by a signal): its pid exists, its heartbeat in the control
block does not move. This loop kills such a daemon with SIGKILL, which supervisord treats as a
crash and restarts with its back-off, the way systemd's ``WatchdogSec`` handles the same case on
the host (where this watcher is not needed).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from pyrt import _core
from pyrt.config import load_appliance

ROOT = Path(__file__).resolve().parent.parent
out = Console(stderr=True, highlight=False, soft_wrap=True)
#: States in which a daemon promises a heartbeat; one starting up or stopping may pause it.
BEATING = {"running", "degraded"}


@dataclass(frozen=True)
class Stale:
    name: str
    pid: int
    age_s: float


def stale_daemons(block: _core.ControlBlock, now_ns: int, stale_after_s: float) -> list[Stale]:
    """Daemons alive, in a beating state, whose heartbeat is older than ``stale_after_s``."""
    found = []
    for daemon in block.daemons():
        beat = int(daemon["heartbeat_ns"])
        age = (now_ns - beat) / 1e9
        if daemon["alive"] and daemon["state"] in BEATING and beat > 0 and age > stale_after_s:
            found.append(Stale(str(daemon["name"]), int(daemon["pid"]), age))
    return found


def watch(control: Path, stale_after_s: float, every_s: float, stop: list[bool]) -> int:
    """Until ``stop[0]``: every ``every_s`` kill each stale daemon. Returns how many it killed."""
    killed = 0
    handled: dict[int, float] = {}
    while not stop[0]:
        if control.exists():
            block = _core.ControlBlock(str(control))
            for daemon in stale_daemons(block, time.time_ns(), stale_after_s):
                # A pid already killed may linger a moment as a zombie of supervisord.
                if daemon.pid in handled:
                    continue
                out.print(
                    f"watch: {daemon.name} (pid {daemon.pid}) is alive but its heartbeat is "
                    f"{daemon.age_s:.1f} s old: killing it so supervisord restarts it"
                )
                try:
                    os.kill(daemon.pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
                handled[daemon.pid] = time.monotonic()
            handled = {p: t for p, t in handled.items() if time.monotonic() - t < 60}
        time.sleep(every_s)
    return killed


def watch_command(
    config: Annotated[Path, typer.Option(help="appliance.toml")] = ROOT
    / "config"
    / "appliance.toml",
    stale_after: Annotated[
        float, typer.Option(help="seconds without a heartbeat before a daemon is killed")
    ] = 5.0,
) -> None:
    """Kill a daemon that is alive but no longer beats, so supervisord restarts it."""
    runtime = Path(load_appliance(config).appliance.runtime_dir)
    stop = [False]

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    out.print(f"watch: {runtime / 'control'}, heartbeats older than {stale_after:.1f} s")
    watch(runtime / "control", stale_after, 0.5, stop)
