"""`pyrt sim` as a user starts it: a real process on a free port, keys printed, requests served."""

from __future__ import annotations

import os
import secrets
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
MARKET_ORDER = {
    "symbol": "AAPL",
    "qty": "1",
    "side": "buy",
    "type": "market",
    "time_in_force": "day",
}


def environment(**variables: str) -> dict[str, str]:
    """This process's environment without any Alpaca keys or systemd credentials of the machine
    running the tests, plus `variables`."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if k not in {"APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "CREDENTIALS_DIRECTORY"}
    }
    return kept | variables


def start_sim(port: int, *options: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pyrt.cli", "sim", "--port", str(port), "--speed", "100", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def banner(process: subprocess.Popen[str]) -> str:
    """What `pyrt sim` prints before it serves: up to its "started" line."""
    assert process.stdout is not None
    lines = []
    for _ in range(40):
        line = process.stdout.readline()
        lines.append(line)
        if not line or "started" in line:
            break
    return "".join(lines)


def printed(text: str, name: str) -> str:
    return next(line.split("=", 1)[1].strip() for line in text.splitlines() if f"{name}=" in line)


def get_account(port: int, headers: dict[str, str]) -> requests.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            return requests.get(f"http://127.0.0.1:{port}/v2/account", headers=headers, timeout=2)
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.1)


def test_pyrt_sim_prints_urls_and_keys_and_serves() -> None:
    port = free_port()
    process = start_sim(port, "--lose-ack-every", "1", env=environment())
    try:
        text = banner(process)
        assert f"http://127.0.0.1:{port}" in text.splitlines()[0]
        assert "keys generated for this run" in text
        key, secret = printed(text, "APCA_API_KEY_ID"), printed(text, "APCA_API_SECRET_KEY")
        headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
        response = get_account(port, headers)
        assert response.status_code == 200
        assert response.json()["cash"] == "100000"
        assert requests.get(f"http://127.0.0.1:{port}/v2/account", timeout=2).status_code == 401
        lost = requests.post(
            f"http://127.0.0.1:{port}/v2/orders", json=MARKET_ORDER, headers=headers
        )
        assert lost.status_code == 504, "fault options reach the server"
    finally:
        process.terminate()
        process.wait(10)


def test_pyrt_sim_never_prints_a_secret_from_the_environment() -> None:
    """Keys from the environment are someone's real credentials: the simulator accepts them, says
    where they came from, and shows no more of the secret than its first characters."""
    key, secret = "PKENVKEY0001", "env-" + secrets.token_urlsafe(24)
    port = free_port()
    process = start_sim(port, env=environment(APCA_API_KEY_ID=key, APCA_API_SECRET_KEY=secret))
    try:
        text = banner(process)
        assert secret not in text
        assert printed(text, "APCA_API_KEY_ID") == key
        assert "keys from the environment" in text
        assert printed(text, "APCA_API_SECRET_KEY").startswith("env-*")
        headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
        assert get_account(port, headers).status_code == 200, "the environment's keys are in use"
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=10)
    output = text + rest
    assert secret not in output
    assert secret[4:] not in output


def test_faults_come_from_the_configuration_and_options_override_them(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    text = (ROOT / "config" / "appliance.toml").read_text()
    config.write_text(
        text.replace("throttle_every = 0 ", "throttle_every = 2 ")
        .replace("reject_every = 0 ", "reject_every = 1 ")
        .replace(
            'data_dir = "../../shared/data"', f'data_dir = "{ROOT.parent / "shared" / "data"}"'
        )
    )
    port = free_port()
    process = start_sim(port, "--config", str(config), "--reject-every", "0", env=environment())
    try:
        printed_text = banner(process)
        key = printed(printed_text, "APCA_API_KEY_ID")
        secret = printed(printed_text, "APCA_API_SECRET_KEY")
        headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
        get_account(port, headers)
        answers = [
            requests.get(f"http://127.0.0.1:{port}/v2/clock", headers=headers, timeout=5)
            for _ in range(6)
        ]
        throttled = [r for r in answers if r.status_code == 429]
        assert len(throttled) == 3, [r.status_code for r in answers]
        assert "X-Ratelimit-Reset" in throttled[0].headers
        while (
            placed := requests.post(
                f"http://127.0.0.1:{port}/v2/orders", json=MARKET_ORDER, headers=headers, timeout=5
            )
        ).status_code == 429:
            pass
        assert placed.status_code == 200, "--reject-every 0 overrides the file's reject_every = 1"
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
