"""`pyrt status` on a real control block and `pyrt latency report` on interval logs written by the
Rust telemetry crate, read back with Python's hdrhistogram package."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from pyrt import _core
from pyrt.config import load_appliance
from pyrt.status import risk_book

ROOT = Path(__file__).resolve().parents[1]


def pyrt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyrt.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_control_block_is_shared_between_handles(tmp_path: Path) -> None:
    path = str(tmp_path / "control")
    writer = _core.ControlBlock(path, create=True)
    reader = _core.ControlBlock(path)
    writer.register(0, "md", os.getpid())
    writer.set_state(0, "running")
    writer.set_kill_switch(True, 7)
    assert reader.kill_switch
    assert reader.kill_reason == 7
    assert writer.bump_config_generation() == 1
    assert reader.config_generation == 1
    writer.set_model_generation(3)
    [daemon] = reader.daemons()
    assert daemon["name"] == "md"
    assert daemon["state"] == "running"
    assert daemon["alive"] is True
    writer.register(0, "md", os.getpid() + 1_000_000)
    assert reader.daemons()[0]["restarts"] == 1


def test_pyrt_status_shows_the_table(tmp_path: Path) -> None:
    block = _core.ControlBlock(str(tmp_path / "control"), create=True)
    block.register(0, "md", os.getpid())
    block.set_state(0, "running")
    block.register(3, "exec", 999_999_999)
    block.set_state(3, "failed")
    block.set_kill_switch(True)
    result = pyrt("status", "--runtime-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ENGAGED" in result.stdout
    assert "running" in result.stdout
    assert "failed" in result.stdout
    assert "999999999" in result.stdout


def test_pyrt_status_without_a_control_block_is_a_clear_error(tmp_path: Path) -> None:
    result = pyrt("status", "--runtime-dir", str(tmp_path))
    assert result.returncode == 1
    assert "no control block" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    (tmp_path / "control").write_bytes(b"garbage" * 100)
    result = pyrt("status", "--runtime-dir", str(tmp_path))
    assert result.returncode == 1
    assert "not a usable control block" in result.stdout


def write_logs(directory: Path) -> None:
    log = _core.LatencyLog("md", str(directory / "md.hlog"))
    parse = log.stage("frame_to_parsed")
    publish = log.stage("parsed_to_published")
    for i in range(1, 10_001):
        log.record(parse, i * 100)
    log.write_interval()
    for _ in range(100):
        log.record(publish, 2_000)
    log.write_interval()


def test_rust_interval_logs_read_in_python(tmp_path: Path) -> None:
    write_logs(tmp_path)
    reader = HistogramLogReader(str(tmp_path / "md.hlog"), HdrHistogram(1, 10_000_000_000, 3))
    seen = []
    while (h := reader.get_next_interval_histogram()) is not None:
        seen.append((h.get_tag(), h.get_total_count()))
        if h.get_tag() == "frame_to_parsed" and h.get_total_count():
            assert abs(h.get_value_at_percentile(50) - 500_000) <= 500
            assert abs(h.get_value_at_percentile(99) - 990_000) <= 1000
    assert ("frame_to_parsed", 10_000) in seen
    assert ("parsed_to_published", 100) in seen


def test_latency_report_table_png_and_html(tmp_path: Path) -> None:
    write_logs(tmp_path)
    result = pyrt("latency", "report", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "frame_to_parsed" in result.stdout
    assert "p99.99" in result.stdout
    png = tmp_path / "latency-report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "latency-report.html").read_text()
    assert "parsed_to_published" in page
    assert "data:image/png;base64," in page


def test_latency_report_on_an_empty_directory(tmp_path: Path) -> None:
    result = pyrt("latency", "report", str(tmp_path))
    assert result.returncode == 1
    assert "no latency recorded" in result.stdout


def test_risk_book_says_plainly_when_risk_does_not_answer(tmp_path: Path) -> None:
    """`pyrt status` reads risk's book from its metrics port; a risk that is down, or a config
    that cannot be read, is a line that says so, not a traceback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = (ROOT / "config" / "appliance.toml").read_text()
    config = tmp_path / "appliance.toml"
    config.write_text(re.sub(r"metrics_port = 9103", f"metrics_port = {port}", text))
    shutil.copyfile(ROOT / "config" / "risk_limits.toml", tmp_path / "risk_limits.toml")
    assert load_appliance(config).daemons.risk.metrics_port == port
    assert risk_book(config) == "risk's book: its metrics endpoint does not answer"
    (tmp_path / "broken.toml").write_text("[appliance\n")
    assert (
        risk_book(tmp_path / "broken.toml") == "risk's book: its metrics endpoint does not answer"
    )
