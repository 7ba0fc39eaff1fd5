"""The systemd backend: unit files for the host, `pyrt install-units`, the systemd side of
`pyrt up/down`, and `pyrt supervise`, the supervisor service that watches heartbeats and reports
itself to systemd through systemd-python (READY, WATCHDOG, STATUS).

Units are templates in ``systemd/`` (``@NAME@``-style placeholders); rendering fills in where the
binaries, the configuration, the Python environment, the credentials and ONNX Runtime live, and
each daemon's core from ``appliance.toml``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from pyrt import _core
from pyrt.supervisor import (
    DEFAULT_CONFIG,
    ROOT,
    ConfigOption,
    Layout,
    SupervisorError,
    binary_dir,
    onnxruntime_library,
)

UNITS_DIR = ROOT / "systemd"
DAEMONS = ("md", "exec", "risk", "strategy")
SERVICES = (
    *(f"pyrt-{d}.service" for d in DAEMONS),
    "pyrt-sim.service",
    "pyrt-supervisor.service",
)
#: A daemon whose heartbeat is older than this is reported stale.
STALE_AFTER_S = 2.0

out = Console(highlight=False, soft_wrap=True)


def render_units(
    layout: Layout,
    dest: Path,
    *,
    credentials: Path,
    bin_dir: Path | None = None,
    python: Path | None = None,
) -> list[Path]:
    """Writes every unit into ``dest``; returns their paths."""
    library = onnxruntime_library()
    common = {
        "@BIN_DIR@": str(bin_dir or binary_dir()),
        "@CONFIG@": str(layout.config),
        "@PYTHON@": str(python or sys.executable),
        "@CREDENTIALS@": str(credentials),
        "@ORT@": str(library or ""),
        "@REPO@": str(ROOT),
    }

    def fill(text: str, values: dict[str, str]) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        if "@" in "".join(line for line in text.splitlines() if not line.startswith("#")):
            raise SupervisorError(f"unfilled placeholder in a unit: {text}")
        return text

    dest.mkdir(parents=True, exist_ok=True)
    written = []
    template = (UNITS_DIR / "pyrt-daemon.service.in").read_text()
    daemons = layout.appliance.daemons
    for name in DAEMONS:
        core = getattr(daemons, name).core
        values = {**common, "@NAME@": name, "@CORE@": "" if core is None else str(core)}
        path = dest / f"pyrt-{name}.service"
        path.write_text(fill(template, values))
        written.append(path)
    for name in ("pyrt-sim.service", "pyrt-supervisor.service"):
        path = dest / name
        path.write_text(fill((UNITS_DIR / f"{name}.in").read_text(), common))
        written.append(path)
    for name in ("trading.target", "trading.slice"):
        path = dest / name
        path.write_text((UNITS_DIR / name).read_text())
        written.append(path)
    return written


def systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)


def unit_states() -> dict[str, str]:
    """``ActiveState`` of every py_rt unit."""
    states = {}
    for unit in SERVICES:
        result = systemctl("show", "-p", "ActiveState", "--value", unit)
        states[unit] = result.stdout.strip()
    return states


def up(wait_s: float = 60.0) -> dict[str, str]:
    result = systemctl("start", "trading.target")
    if result.returncode != 0:
        raise SupervisorError(f"systemctl start trading.target: {result.stderr.strip()}")
    deadline = time.monotonic() + wait_s
    while True:
        states = unit_states()
        if all(s == "active" for s in states.values()):
            return states
        if time.monotonic() > deadline:
            raise SupervisorError(f"not all units became active: {states}")
        time.sleep(0.5)


def down() -> dict[str, str]:
    # PartOf= propagates the target's stop, but a unit in the middle of a watchdog restart can
    # miss it: name every unit too.
    systemctl("stop", "trading.target", *SERVICES)
    return unit_states()


def health(layout: Layout, now_ns: int | None = None) -> tuple[bool, str]:
    """Whether every daemon heartbeats, and a one-line status for systemd."""
    control = layout.runtime_dir / "control"
    if not control.exists():
        return False, "no control block yet"
    block = _core.ControlBlock(str(control))
    now = time.time_ns() if now_ns is None else now_ns
    parts, healthy = [], True
    for daemon in block.daemons():
        age = (now - int(daemon["heartbeat_ns"])) / 1e9
        fresh = bool(daemon["alive"]) and age < STALE_AFTER_S
        healthy &= fresh
        parts.append(f"{daemon['name']}={daemon['state']}{'' if fresh else '(stale)'}")
    kill = " KILL SWITCH" if block.kill_switch else ""
    return healthy and bool(parts), " ".join(parts) + kill


def supervise(layout: Layout, every_s: float = 1.0) -> None:
    """The supervisor service's loop: READY once, then WATCHDOG and STATUS every ``every_s``."""
    from systemd import daemon  # type: ignore[attr-defined]  # noqa: PLC0415 - service only

    stop = False

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    daemon.notify("READY=1")
    while not stop:
        _, status = health(layout)
        daemon.notify(f"WATCHDOG=1\nSTATUS={status}")
        time.sleep(every_s)
    daemon.notify("STOPPING=1")


def install_units_command(
    dest: Annotated[Path, typer.Option(help="where to write the units")] = Path(
        "/etc/systemd/system"
    ),
    credentials: Annotated[
        Path, typer.Option(help="directory with APCA_API_KEY_ID and APCA_API_SECRET_KEY files")
    ] = Path("/etc/pyrt/credentials"),
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Render the systemd units for this installation."""
    layout = Layout.load(config)
    for path in render_units(layout, dest, credentials=credentials):
        out.print(f"wrote {path}")


def supervise_command(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run as the supervisor service (systemd): heartbeat watch, READY/WATCHDOG/STATUS."""
    supervise(Layout.load(config))
