"""Monitoring as code: the alert and recording rules under promtool (syntax and unit tests), the
checked-in scrape configuration and dashboards current with their generator, and every
dashboard expression valid PromQL over series the rules or the daemons define. (That the daemons
really serve those series is checked against a running appliance in test_appliance.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest

from pyrt import monitoring
from pyrt.config import load_appliance

PROMETHEUS_DIR = monitoring.GRAFANA / "prometheus"


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.fail("promtool missing: make setup installs Debian's prometheus package")
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_rules_pass_promtool_and_their_unit_tests() -> None:
    checked = promtool("check", "rules", "rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "rules_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_a_broken_rule_or_a_wrong_expectation_fails(tmp_path: Path) -> None:
    rules = (PROMETHEUS_DIR / "rules.yml").read_text()
    (tmp_path / "rules.yml").write_text(rules.replace("max(pyrt_kill_switch) == 1", "max(("))
    assert promtool("check", "rules", "rules.yml", cwd=tmp_path).returncode == 1
    (tmp_path / "rules.yml").write_text(
        rules.replace("max(pyrt_kill_switch) == 1", "max(pyrt_kill_switch) == 2")
    )
    shutil.copyfile(PROMETHEUS_DIR / "rules_test.yml", tmp_path / "rules_test.yml")
    failed = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert failed.returncode == 1
    assert "PyrtKillSwitchEngaged" in failed.stdout + failed.stderr


def test_checked_in_files_are_what_the_generator_writes() -> None:
    appliance = load_appliance(monitoring.ROOT / "config" / "appliance.toml")
    expected = monitoring.render_yaml(
        monitoring.prometheus_config(appliance, rules=Path("rules.yml")), monitoring.HEADER
    )
    hint = "stale: run `uv run python -m pyrt.cli monitoring write`"
    assert (PROMETHEUS_DIR / "prometheus.yml").read_text() == expected, hint
    for name, dashboard in monitoring.dashboards().items():
        path = monitoring.GRAFANA / "dashboards" / name
        assert path.read_text() == monitoring.render_dashboard(dashboard), f"{name} {hint}"
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_scrape_targets_follow_the_configured_metrics_ports() -> None:
    appliance = load_appliance(monitoring.ROOT / "config" / "appliance.toml")
    config = monitoring.prometheus_config(appliance)
    targets = {
        c["labels"]["daemon"]: c["targets"][0]
        for c in config["scrape_configs"][0]["static_configs"]
    }
    assert targets == {
        name: f"127.0.0.1:{daemon.metrics_port}" for name, daemon in appliance.daemons
    }
    assert set(targets) == set(monitoring.DAEMONS)


def test_dashboards_have_stable_unique_ids_and_valid_promql() -> None:
    boards = [
        json.loads((monitoring.GRAFANA / "dashboards" / name).read_text())
        for name in monitoring.dashboards()
    ]
    uids = [b["uid"] for b in boards]
    assert uids == ["pyrt-trading", "pyrt-latency"]
    for board in boards:
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), board["uid"]
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "pyrt-prometheus"
            assert panel["targets"], panel["title"]
        for expr in monitoring.dashboard_exprs(board):
            promql_parser.parse(expr)


def test_invalid_promql_is_caught() -> None:
    with pytest.raises(ValueError, match=r".+"):
        promql_parser.parse("sum(rate(pyrt_orders_total[1m])")


def test_dashboards_read_only_recorded_or_served_series() -> None:
    recorded = monitoring.recorded()
    exprs = [
        e for board in monitoring.dashboards().values() for e in monitoring.dashboard_exprs(board)
    ]
    for name in monitoring.referenced_metrics(exprs):
        if ":" in name:
            assert name in recorded, f"{name} is used by a dashboard but no rule records it"
        else:
            assert name == "up" or name.startswith("pyrt_"), name
