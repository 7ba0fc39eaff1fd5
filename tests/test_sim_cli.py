"""`pyrt sim` as a user starts it: a real process on a free port, keys printed, requests served."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import typer
from conftest import free_port

from pyrt.sim.cli import ticks_per_second

ROOT = Path(__file__).resolve().parents[1]


def test_pyrt_sim_prints_urls_and_keys_and_serves() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyrt.cli",
            "sim",
            "--port",
            str(port),
            "--speed",
            "100",
            "--lose-ack-every",
            "1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5)]
        key = next(line.split("=", 1)[1].strip() for line in lines if "APCA_API_KEY_ID=" in line)
        secret = next(
            line.split("=", 1)[1].strip() for line in lines if "APCA_API_SECRET_KEY=" in line
        )
        assert f"http://127.0.0.1:{port}" in lines[0]
        headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
        deadline = time.monotonic() + 20
        while True:
            try:
                response = requests.get(
                    f"http://127.0.0.1:{port}/v2/account", headers=headers, timeout=2
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["cash"] == "100000"
        assert requests.get(f"http://127.0.0.1:{port}/v2/account", timeout=2).status_code == 401
        order = {
            "symbol": "AAPL",
            "qty": "1",
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
        }
        lost = requests.post(f"http://127.0.0.1:{port}/v2/orders", json=order, headers=headers)
        assert lost.status_code == 504, "fault options reach the server"
    finally:
        process.terminate()
        process.wait(10)


def test_speed_settings() -> None:
    assert ticks_per_second("max") == 0.0
    assert ticks_per_second("realtime") == 1.0
    assert ticks_per_second("60") == 60.0
    for bad in ("fast", "-1", "0"):
        with pytest.raises(typer.BadParameter):
            ticks_per_second(bad)
