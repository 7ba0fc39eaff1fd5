"""`make demo`'s program: a short session end to end, and a report that says what happened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEBUG_BINS = ROOT / "daemons" / "target" / "debug"


def test_demo_trades_swaps_models_halts_and_reports(tmp_path: Path) -> None:
    if not (DEBUG_BINS / "pyrt-exec").is_file():
        assert "CI" not in os.environ, "make test builds the daemons before the Python tests"
        pytest.skip("daemon binaries not built (cargo build --bins)")
    env = {
        **os.environ,
        "PYRT_BIN_DIR": str(DEBUG_BINS),
        "PYRT_DEMO_SECONDS": "16",
        "PYRT_DEMO_DIR": str(tmp_path / "demo"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pyrt.demo"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "ok " in out
    assert "py_rt components" in out
    assert "xgb-a → xgb-b" in out, "the second model was hot-swapped in"
    assert "broken:" in out, "the corrupt model was refused"
    assert "{'open_orders': 0, 'positions': 0}" in out, "halt with flatten confirmed"
    assert "Prometheus: targets up" in out, "a real Prometheus scraped the session"
    assert "4/4" in out
    assert "PyrtKillSwitchEngaged" in out, "the halt fired the kill-switch alert"
    for stage in ("frame_to_published", "features", "inference", "signal_to_intent", "request_rtt"):
        assert stage in out
    assert (tmp_path / "demo" / "report.html").is_file()
