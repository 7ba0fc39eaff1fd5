"""Test support: a Debian 12 container booted with systemd as PID 1 (systemd-nspawn), the way
../shared/reference/ops-facts.md found to work on these machines (no machined on the host:
``--register=no --keep-unit``; commands go in through ``nsenter``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

ROOTFS = Path(os.environ.get("PYRT_NSPAWN_ROOTFS", "/var/cache/pyrt/nspawn-rootfs"))
MIRROR = "http://deb.debian.org/debian"
#: python3 brings the shared libraries the project's Python (bound in from the host) needs.
PACKAGES = "systemd,systemd-sysv,dbus,libsystemd0,procps,util-linux,python3"


def tools_present() -> bool:
    return all(shutil.which(t) for t in ("debootstrap", "systemd-nspawn", "nsenter"))


def ensure_rootfs() -> Path:
    """A cached minimal bookworm with systemd; built once (about 1.5 minutes)."""
    if (ROOTFS / "etc" / "os-release").exists():
        return ROOTFS
    building = ROOTFS.with_name(ROOTFS.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={PACKAGES}",
            "bookworm",
            str(building),
            MIRROR,
        ],
        check=True,
        capture_output=True,
    )
    building.rename(ROOTFS)
    return ROOTFS


class Container:
    """A booted container sharing the host's network; ``binds`` are host paths mounted at the
    same path inside."""

    def __init__(self, name: str, binds: list[Path], read_only: list[Path], log: Path) -> None:
        args = [
            "systemd-nspawn",
            "-b",
            "-D",
            str(ensure_rootfs()),
            "-M",
            name,
            "--register=no",
            "--keep-unit",
            "--console=pipe",
            "--capability=CAP_IPC_LOCK,CAP_SYS_NICE",
        ]
        args += [f"--bind={p}" for p in binds] + [f"--bind-ro={p}" for p in read_only]
        self.log = log.open("w")
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.leader = self._leader()
        self.wait_running()

    def _leader(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            children = subprocess.run(
                ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
            if children:
                return int(children[0])
            time.sleep(0.1)
        raise RuntimeError("the container did not start")

    def run(
        self, *command: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", *command],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def wait_running(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in {"running", "degraded"}:
                return
            time.sleep(0.2)
        raise RuntimeError("systemd in the container did not finish booting")

    def show(self, unit: str, prop: str) -> str:
        return self.run("systemctl", "show", "-p", prop, "--value", unit).stdout.strip()

    def close(self) -> None:
        self.run("systemctl", "poweroff", check=False)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()
