"""Start, stop and watch the appliance's processes, and the emergency stop.

`pyrt up` validates the configuration, writes a supervisord configuration for the simulator (in
sim mode) and the four daemons, and starts supervisord, which restarts a daemon that dies with
its usual growing back-off. `pyrt down` stops everything (SIGTERM, daemons shut down cleanly).
`pyrt halt` sets the kill switch in the control block, cancels every open order at the broker,
with ``--flatten`` closes every position, and polls the broker until it confirms.

The systemd backend is ``pyrt.systemd_backend`` (units in ``systemd/``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import requests
import typer
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest
from rich.console import Console
from rich.table import Table

from pyrt import _core
from pyrt.config import ConfigError, load_appliance
from pyrt.config.load import check_file
from pyrt.config.models import ApplianceConfig

ROOT = Path(__file__).resolve().parent.parent
RELEASE_DIR = ROOT / "daemons" / "target" / "release"


def binary_dir() -> Path:
    """Where the daemon binaries are: the release build, or ``PYRT_BIN_DIR`` (tests use the
    debug build)."""
    return Path(os.environ.get("PYRT_BIN_DIR", RELEASE_DIR))


DEFAULT_CONFIG = ROOT / "config" / "appliance.toml"
CREDENTIALS_FILE = "credentials.json"
#: Start order: the venue first, then whoever creates the rings the others read, then the
#: heartbeat watchdog (`pyrt watch`).
PROGRAMS = ("sim", "exec", "risk", "strategy", "md", "watch")
DAEMON_BINARIES = {
    "md": "pyrt-md",
    "exec": "pyrt-exec",
    "risk": "pyrt-risk",
    "strategy": "pyrt-strategy",
}

out = Console(highlight=False, soft_wrap=True)


class SupervisorError(Exception):
    """Something the operator must fix; the message says what."""


@dataclass(frozen=True)
class Layout:
    config: Path
    appliance: ApplianceConfig
    runtime_dir: Path
    log_dir: Path

    @classmethod
    def load(cls, config: Path) -> Layout:
        try:
            appliance = load_appliance(config)
        except ConfigError as exc:
            raise SupervisorError(str(exc)) from exc
        return cls(
            config.resolve(),
            appliance,
            Path(appliance.appliance.runtime_dir),
            Path(appliance.appliance.log_dir),
        )

    @property
    def supervisord_conf(self) -> Path:
        return self.runtime_dir / "supervisord.conf"

    @property
    def credentials(self) -> Path:
        return self.runtime_dir / CREDENTIALS_FILE


def onnxruntime_library() -> Path | None:
    """``libonnxruntime.so`` inside the installed onnxruntime wheel (the strategy daemon's)."""
    try:
        import onnxruntime  # type: ignore[import-untyped]  # noqa: PLC0415 - optional
    except ImportError:
        return None
    capi = Path(onnxruntime.__file__).parent / "capi"
    return next(iter(sorted(capi.glob("libonnxruntime.so.*"))), None)


def credentials(layout: Layout) -> tuple[str, str]:
    """Sim mode: keys made up for this run and kept (0600) in the runtime directory. Paper and
    live: the environment variables the configuration names."""
    broker = layout.appliance.broker
    if layout.appliance.appliance.mode != "sim":
        key, secret = os.environ.get(broker.key_id_env), os.environ.get(broker.secret_key_env)
        if not key or not secret:
            raise SupervisorError(
                f"mode {layout.appliance.appliance.mode}: set {broker.key_id_env} and "
                f"{broker.secret_key_env}"
            )
        return key, secret
    if layout.credentials.exists():
        stored = json.loads(layout.credentials.read_text())
        return str(stored["key_id"]), str(stored["secret_key"])
    key, secret = "PKSIM" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
    layout.runtime_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"key_id": key, "secret_key": secret}, f)
    return key, secret


def _env(values: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in values.items())


def supervisord_conf(layout: Layout, key: str, secret: str) -> str:
    """The supervisord configuration: one program per process, restarted on failure."""
    run, log = layout.runtime_dir, layout.log_dir
    broker = layout.appliance.broker
    keys = {broker.key_id_env: key, broker.secret_key_env: secret}
    lines = [
        "[unix_http_server]",
        f"file={run}/supervisor.sock",
        "chmod=0700",
        "[supervisord]",
        f"logfile={log}/supervisord.log",
        f"pidfile={run}/supervisord.pid",
        f"directory={ROOT}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{run}/supervisor.sock",
    ]
    commands: dict[str, tuple[str, dict[str, str]]] = {}
    if layout.appliance.appliance.mode == "sim":
        commands["sim"] = (
            f"{sys.executable} -m pyrt.cli sim --config {layout.config} "
            f"--key-id {key} --secret-key {secret}",
            {},
        )
    library = onnxruntime_library()
    for name, binary in DAEMON_BINARIES.items():
        path = binary_dir() / binary
        if not path.is_file():
            raise SupervisorError(f"{path} is missing: build the daemons (make demo does)")
        env = dict(keys)
        if name == "strategy" and library is not None:
            env["ORT_DYLIB_PATH"] = str(library)
        commands[name] = (f"{path} --config {layout.config}", env)
    commands["watch"] = (f"{sys.executable} -m pyrt.cli watch --config {layout.config}", {})
    # With the simulator, the daemons wait for it (see up): started together, they would spend
    # its start-up in connection back-off that outlasts it.
    autostart = "false" if "sim" in commands else "true"
    for priority, name in enumerate(PROGRAMS):
        if name not in commands:
            continue
        command, env = commands[name]
        lines += [
            f"[program:{name}]",
            f"command={command}",
            f"priority={priority * 10 + 10}",
            f"autostart={autostart if name in DAEMON_BINARIES else 'true'}",
            "autorestart=true",
            "startsecs=1",
            "startretries=10",
            "stopsignal=TERM",
            "stopwaitsecs=15",
            f"stdout_logfile={log}/{name}.out",
            f"stderr_logfile={log}/{name}.err",
        ]
        if env:
            lines.append(f"environment={_env(env)}")
    return "\n".join(lines) + "\n"


def supervisorctl(layout: Layout, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "supervisorctl"),
            "-c",
            str(layout.supervisord_conf),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def program_states(layout: Layout) -> dict[str, str]:
    """supervisord's view: program name → state (RUNNING, STARTING, BACKOFF, EXITED, ...)."""
    result = supervisorctl(layout, "status")
    states = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            states[parts[0]] = parts[1]
    return states


def up(layout: Layout, wait_s: float = 90.0) -> dict[str, str]:
    """Starts supervisord with every program (the simulator first, the daemons once it answers)
    and waits until every program is RUNNING and every daemon says it is trading."""
    layout.runtime_dir.mkdir(parents=True, exist_ok=True)
    layout.log_dir.mkdir(parents=True, exist_ok=True)
    Path(layout.appliance.appliance.state_dir).mkdir(parents=True, exist_ok=True)
    if layout.supervisord_conf.exists() and program_states(layout):
        raise SupervisorError(f"already up ({layout.supervisord_conf}); run pyrt down first")
    key, secret = credentials(layout)
    fd = os.open(layout.supervisord_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(supervisord_conf(layout, key, secret))
    subprocess.run(
        [str(Path(sys.executable).parent / "supervisord"), "-c", str(layout.supervisord_conf)],
        check=True,
    )
    deadline = time.monotonic() + wait_s
    while True:
        states = program_states(layout)
        if states and broker_reachable(layout):
            break
        if time.monotonic() > deadline:
            raise SupervisorError(
                f"the broker at {layout.appliance.broker.trading_base_url} "
                f"did not become reachable: {states}"
            )
        time.sleep(0.2)
    stopped = [p for p in PROGRAMS if states.get(p) == "STOPPED" and p != "sim"]
    if stopped:
        supervisorctl(layout, "start", *stopped)
    while True:
        states = program_states(layout)
        if states and all(s == "RUNNING" for s in states.values()) and broker_reachable(layout):
            break
        if time.monotonic() > deadline:
            raise SupervisorError(f"not all programs came up: {states}")
        time.sleep(0.2)
    return states | wait_trading(layout, wait_s)


DAEMONS = ("md", "strategy", "risk", "exec")


def wait_trading(layout: Layout, wait_s: float = 60.0) -> dict[str, str]:
    """Waits until every daemon says in the control block that it is running: md with its feeds
    connected, exec reconciled and taking intents. A process being up (supervisord's RUNNING,
    systemd's READY) says only that it started; the broker may still be out of reach."""
    control = layout.runtime_dir / "control"
    deadline = time.monotonic() + wait_s
    seen: dict[str, str] = {}
    while True:
        if control.exists():
            block = _core.ControlBlock(str(control))
            seen = {
                str(d["name"]): str(d["state"]) if d["alive"] else "dead"
                for d in block.daemons()
                if d["name"] in DAEMONS
            }
            if len(seen) == len(DAEMONS) and all(s == "running" for s in seen.values()):
                return {f"{name} (control block)": state for name, state in seen.items()}
        if time.monotonic() > deadline:
            missing = {
                d: seen.get(d, "not registered") for d in DAEMONS if seen.get(d) != "running"
            }
            raise SupervisorError(
                f"daemons not running after {wait_s:.0f} s: {missing} (md is degraded until its "
                "feeds connect, exec starting until it has reconciled with the broker; see "
                f"{layout.log_dir})"
            )
        time.sleep(0.2)


def broker_reachable(layout: Layout) -> bool:
    """Whether the trading endpoint accepts connections (the simulator takes a moment)."""
    url = urllib.parse.urlsplit(layout.appliance.broker.trading_base_url)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 443), timeout=1):
            return True
    except OSError:
        return False


def down(layout: Layout) -> None:
    """Stops every program (SIGTERM, clean shutdown) and supervisord itself."""
    if not layout.supervisord_conf.exists():
        return
    supervisorctl(layout, "stop", "watch", "md", "strategy", "risk", "exec")
    supervisorctl(layout, "shutdown")
    pid_file = layout.runtime_dir / "supervisord.pid"
    deadline = time.monotonic() + 30
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def trading_client(layout: Layout) -> TradingClient:

    key, secret = credentials(layout)
    url = layout.appliance.broker.trading_base_url
    return TradingClient(
        key, secret, paper=layout.appliance.appliance.mode != "live", url_override=url
    )


T = TypeVar("T")


def _persist(call: Callable[[], T], deadline: float, what: str) -> T:
    """One broker call of the emergency stop, repeated through rate limiting (429), broker
    outages (5xx) and dropped connections until the stop's deadline: giving up early would leave
    orders working. alpaca-py already retries a 429 or 504 a few times inside each call. Every
    call repeated here is safe to repeat: reads, cancel-all and close-all."""
    pause = 0.2
    while True:
        try:
            return call()
        except APIError as exc:
            status = exc.status_code
            if status is not None and status != 429 and status < 500:
                raise SupervisorError(f"halt: broker refused {what}: {exc}") from exc
            failure: Exception = exc
        except requests.RequestException as exc:
            failure = exc
        if time.monotonic() + pause > deadline:
            raise SupervisorError(f"halt: broker unavailable for {what}: {failure}") from failure
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


def halt(layout: Layout, flatten: bool, timeout_s: float = 30.0) -> dict[str, int]:
    """Kill switch on, every open order cancelled, optionally every position closed, then the
    broker polled until it shows exactly that. Returns what the broker confirmed."""
    block = _core.ControlBlock(str(layout.runtime_dir / "control"), create=True)
    block.set_kill_switch(True, 1)
    client = trading_client(layout)
    deadline = time.monotonic() + timeout_s
    _persist(client.cancel_orders, deadline, "cancel all orders")
    if flatten:
        _persist(lambda: client.close_all_positions(cancel_orders=True), deadline, "close all")
    while True:
        open_orders = _persist(
            lambda: client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN)),
            deadline,
            "open orders",
        )
        positions = _persist(client.get_all_positions, deadline, "positions")
        confirmed = {"open_orders": len(open_orders), "positions": len(positions)}
        if not open_orders and (not flatten or not positions):
            return confirmed
        if time.monotonic() > deadline:
            raise SupervisorError(f"broker did not confirm within {timeout_s:.0f} s: {confirmed}")
        if flatten and positions and not open_orders:
            # A closing order was refused or expired: close what is left again.
            _persist(lambda: client.close_all_positions(cancel_orders=True), deadline, "close all")
        time.sleep(0.2)


# ---- CLI ------------------------------------------------------------------------------------

ConfigOption = Annotated[Path, typer.Option(help="appliance.toml")]


def _layout(config: Path) -> Layout:
    try:
        return Layout.load(config)
    except SupervisorError as exc:
        out.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc


BackendOption = Annotated[
    str, typer.Option(help="supervisord (development, CI, demo) or systemd (the host)")
]


def up_command(
    config: ConfigOption = DEFAULT_CONFIG, backend: BackendOption = "supervisord"
) -> None:
    """Start the simulator (sim mode) and every daemon."""
    layout = _layout(config)
    try:
        if backend == "systemd":
            from pyrt import systemd_backend  # noqa: PLC0415 - imports this module

            states = systemd_backend.up() | wait_trading(layout)
        else:
            states = up(layout)
    except (SupervisorError, subprocess.CalledProcessError) as exc:
        out.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    table = Table(title="programs")
    table.add_column("program")
    table.add_column("state")
    for name, state in states.items():
        table.add_row(name, state)
    out.print(table)


def down_command(
    config: ConfigOption = DEFAULT_CONFIG, backend: BackendOption = "supervisord"
) -> None:
    """Stop every daemon cleanly (and supervisord)."""
    if backend == "systemd":
        from pyrt import systemd_backend  # noqa: PLC0415 - imports this module

        out.print(f"down: {systemd_backend.down()}")
        return
    down(_layout(config))
    out.print("down")


def halt_command(
    config: ConfigOption = DEFAULT_CONFIG,
    flatten: Annotated[bool, typer.Option(help="also close every position")] = False,
) -> None:
    """Emergency stop: kill switch, cancel all orders, optionally flatten; broker-confirmed."""
    layout = _layout(config)
    try:
        confirmed = halt(layout, flatten)
    except SupervisorError as exc:
        out.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    out.print(
        f"halted: kill switch set; broker confirms {confirmed['open_orders']} open orders, "
        f"{confirmed['positions']} positions"
    )


def flatten_command(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """`pyrt halt --flatten`."""
    halt_command(config, flatten=True)


def resume_command(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Clear the kill switch: risk accepts new orders again."""
    layout = _layout(config)
    block = _core.ControlBlock(str(layout.runtime_dir / "control"), create=True)
    block.set_kill_switch(False, 0)
    out.print("resumed: kill switch off")


def copy_model(source: Path, model_dir: Path, name: str) -> None:
    """Publishes ``source/name.{onnx,json}`` into the watched directory, manifest last."""
    for suffix in (".onnx", ".json"):
        tmp = model_dir / f".{name}{suffix}.tmp"
        shutil.copyfile(source / f"{name}{suffix}", tmp)
        tmp.replace(model_dir / f"{name}{suffix}")


def model_rollback(layout: Layout) -> str:
    """Re-publishes the model before the current one; the strategy daemon validates and swaps it
    in like any new model."""
    status = json.loads((layout.runtime_dir / "model.status.json").read_text())
    history: list[str] = status["history"]
    if len(history) < 2:
        raise SupervisorError(f"no previous model to return to (history: {history})")
    previous = history[-2]
    model_dir = Path(layout.appliance.model.watch_dir)
    manifest = model_dir / f"{previous}.json"
    tmp = model_dir / f".{previous}.json.tmp"
    tmp.write_bytes(manifest.read_bytes())
    tmp.replace(manifest)
    return previous


def rollback_command(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Return to the previous model."""
    layout = _layout(config)
    try:
        name = model_rollback(layout)
    except (SupervisorError, OSError, KeyError) as exc:
        out.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    out.print(f"re-published {name}; pyrt status shows when it is swapped in")


def reload(layout: Layout) -> int:
    """Validates the configuration (appliance and risk limits) and, only if every file is clean,
    publishes a new config generation; risk then loads the new limits. Returns the generation."""
    problems = [
        f"{path}: {issue}" for path, issues in check_file(layout.config).items() for issue in issues
    ]
    if problems:
        raise SupervisorError(
            "not published, the running generation stays:\n" + "\n".join(problems)
        )
    block = _core.ControlBlock(str(layout.runtime_dir / "control"), create=True)
    return block.bump_config_generation()


def reload_command(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate the configuration and publish it as a new generation (risk reloads its limits)."""
    layout = _layout(config)
    try:
        generation = reload(layout)
    except SupervisorError as exc:
        out.print(str(exc), markup=False)
        raise typer.Exit(2) from exc
    out.print(f"published config generation {generation}")
