"""The supervisord backend's heartbeat watchdog on a real control block and real processes: a
process that is alive but stopped beating is killed; a beating one, one starting up, one already
dead and one stopping are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrt import _core
from pyrt.watch import stale_daemons, watch


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process
    process.kill()
    process.wait()


def test_only_a_live_daemon_that_stopped_beating_is_stale(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    block = _core.ControlBlock(str(tmp_path / "control"), create=True)
    for slot, (name, pid, state) in enumerate(
        [
            ("md", sleeper.pid, "running"),  # beat once, then nothing: stuck
            ("strategy", os.getpid(), "running"),  # beats (below)
            ("risk", sleeper.pid, "starting"),  # may pause while it starts
            ("exec", 999_999_999, "running"),  # dead: supervisord's business
        ]
    ):
        block.register(slot, name, pid)
        block.set_state(slot, state)
        block.heartbeat(slot)
    time.sleep(0.3)
    block.heartbeat(1)
    assert stale_daemons(block, time.time_ns(), stale_after_s=5.0) == []
    [stuck] = stale_daemons(block, time.time_ns(), stale_after_s=0.2)
    assert (stuck.name, stuck.pid) == ("md", sleeper.pid)
    assert stuck.age_s >= 0.2
    block.set_state(0, "stopping")
    assert stale_daemons(block, time.time_ns(), stale_after_s=0.2) == []


def test_the_watch_loop_kills_a_stuck_daemon_once(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    control = tmp_path / "control"
    block = _core.ControlBlock(str(control), create=True)
    block.register(0, "md", sleeper.pid)
    block.set_state(0, "running")
    block.heartbeat(0)
    stop = [False]
    killed: list[int] = []
    loop = threading.Thread(target=lambda: killed.append(watch(control, 0.2, 0.05, stop)))
    loop.start()
    try:
        assert sleeper.wait(timeout=30) == -9, "SIGKILL, so supervisord restarts it"
    finally:
        time.sleep(0.3)  # a few more rounds: the dead pid must not be killed again
        stop[0] = True
        loop.join(10)
    assert killed == [1]
