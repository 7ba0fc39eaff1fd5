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
        self.leader = 0
        try:
            self.wait_running()
        except BaseException:
            self.process.kill()
            self.process.wait(10)
            self.log.close()
            raise

    def _leader(self) -> int:
        """The container's PID 1 as the host sees it. nspawn's first child is a short-lived
        intermediate that forks the real init and exits, so a child only counts once it is PID 1
        of its own PID namespace (the last NSpid field)."""
        children = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        for child in children:
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            nspid = next(
                (line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), []
            )
            if len(nspid) > 1 and nspid[-1] == "1":
                return int(child)
        return 0

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
        # A cold first boot of a fresh rootfs on a loaded 2-core machine can take far longer than
        # the 1 s ops-facts measured; the deadline is generous and the failure says where it stuck.
        deadline = time.monotonic() + 180
        seen = "no container init yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            self.leader = self._leader()
            if self.leader:
                probe = self.run("systemctl", "is-system-running", check=False)
                state = probe.stdout.strip()
                if state in {"running", "degraded"}:
                    return
                seen = f"is-system-running: {state or probe.stderr.strip()}"
            time.sleep(0.2)
        self.log.flush()
        tail = "".join(Path(self.log.name).read_text(errors="replace").splitlines(True)[-30:])
        jobs = self.run("systemctl", "list-jobs", check=False).stdout if self.leader else ""
        code = self.process.poll()
        nspawn = "running" if code is None else f"exited {code}"
        raise RuntimeError(
            f"systemd in the container did not finish booting ({seen}; nspawn {nspawn})"
            f"\npending jobs:\n{jobs}\nconsole:\n{tail}"
        )

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
