"""`pyrt config check` as a user runs it: a real subprocess, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INVALID = sorted((ROOT / "config" / "vectors" / "invalid").glob("*.toml"))


def pyrt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyrt.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_shipped_config_is_ok() -> None:
    result = pyrt("config", "check", "config/appliance.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith("ok ")
    assert "risk_limits.toml" in result.stdout


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_files_exit_2_naming_each_bad_field(path: Path) -> None:
    result = pyrt("config", "check", str(path))
    assert result.returncode == 2
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())["errors"]
    for error in expected:
        shown = error["path"] or "<file>"
        assert f": {shown}: " in result.stdout, (error, result.stdout)
        assert f"[{error['code']}]" in result.stdout


def test_missing_file_and_bad_kind() -> None:
    result = pyrt("config", "check", "config/nope.toml")
    assert result.returncode == 2
    assert "cannot read the file" in result.stdout
    assert pyrt("config", "check", "config/appliance.toml", "--kind", "x").returncode == 2
