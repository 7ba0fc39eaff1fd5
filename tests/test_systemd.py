"""The systemd backend for real: a Debian container with systemd as PID 1 runs the rendered
units (Type=notify daemons with WatchdogSec and CPUAffinity, the simulator, the supervisor service
on systemd-python), driven with `pyrt up/down --backend systemd`, `pyrt status` and systemctl."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nspawn import Container, tools_present

from pyrt import _core
from pyrt.session import Session
from pyrt.supervisor import ROOT
from pyrt.systemd_backend import SERVICES, render_units

DEBUG_BINS = ROOT / "daemons" / "target" / "debug"


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, Session, Path]]:
    if not (tools_present() and (DEBUG_BINS / "pyrt-md").is_file()):
        assert "CI" not in os.environ, "make test installs debootstrap/systemd-container and builds"
        pytest.skip("needs debootstrap, systemd-nspawn and the daemons' debug build")
    os.environ["PYRT_BIN_DIR"] = str(DEBUG_BINS)
    work = tmp_path_factory.mktemp("systemd")
    session = Session.prepare(work / "session", speed="100")
    credentials = work / "credentials"
    credentials.mkdir(mode=0o700)
    for name, value in (("APCA_API_KEY_ID", "PKSYSTEMD"), ("APCA_API_SECRET_KEY", "nspawn-secret")):
        (credentials / name).write_text(value)
        (credentials / name).chmod(0o600)
    units = work / "units"
    render_units(session.layout, units, credentials=credentials)
    python_home = Path(os.path.realpath(ROOT / ".venv" / "bin" / "python")).parents[2]
    container = Container(
        "pyrt-test",
        binds=[work],
        read_only=[ROOT, ROOT.parent / "shared", python_home],
        log=work / "nspawn.log",
    )
    try:
        container.run("sh", "-c", f"cp {units}/* /etc/systemd/system/ && systemctl daemon-reload")
        yield container, session, work
    finally:
        container.close()


def pyrt(container: Container, session: Session, *args: str) -> str:
    result = container.run(
        str(ROOT / ".venv" / "bin" / "python"),
        "-m",
        "pyrt.cli",
        *args,
        "--config",
        str(session.layout.config),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_units_run_restart_on_watchdog_and_stop(
    booted: tuple[Container, Session, Path],
) -> None:
    container, session, _ = booted
    pyrt(container, session, "up", "--backend", "systemd")
    for unit in SERVICES:
        assert container.show(unit, "ActiveState") == "active", unit

    # Type=notify: each daemon reported READY itself; the supervisor reports health via
    # systemd-python.
    deadline = time.monotonic() + 30
    while "md=running" not in container.show("pyrt-supervisor.service", "StatusText"):
        assert time.monotonic() < deadline, container.show("pyrt-supervisor.service", "StatusText")
        time.sleep(0.5)
    status = pyrt(container, session, "status", "--runtime-dir", str(session.layout.runtime_dir))
    for daemon in ("md", "exec", "risk", "strategy"):
        assert daemon in status

    # CPUAffinity from appliance.toml reached the process.
    md_pid = container.show("pyrt-md.service", "MainPID")
    core = session.layout.appliance.daemons.md.core
    affinity = container.run("taskset", "-cp", md_pid).stdout
    assert affinity.strip().endswith(f": {core}"), affinity

    # A wedged daemon stops feeding the watchdog: systemd kills and restarts it.
    container.run("kill", "-STOP", md_pid)
    deadline = time.monotonic() + 30
    while container.show("pyrt-md.service", "NRestarts") == "0":
        assert time.monotonic() < deadline, "no watchdog restart"
        time.sleep(0.5)
    while container.show("pyrt-md.service", "ActiveState") != "active":
        assert time.monotonic() < deadline, "md not back after the watchdog restart"
        time.sleep(0.5)
    assert container.show("pyrt-md.service", "MainPID") != md_pid
    assert container.show("pyrt-md.service", "Result") in {"success", "watchdog"}

    pyrt(container, session, "down", "--backend", "systemd")
    for unit in SERVICES:
        assert container.show(unit, "ActiveState") in {"inactive", "failed"}, unit
    block = _core.ControlBlock(str(session.layout.runtime_dir / "control"))
    states = {str(d["name"]): str(d["state"]) for d in block.daemons()}
    assert states == {"md": "stopped", "strategy": "stopped", "risk": "stopped", "exec": "stopped"}
