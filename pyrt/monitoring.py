"""Monitoring as code: the Prometheus scrape configuration of an appliance and the Grafana
dashboards over the daemons' metrics.

Both are generated here and checked in under ``grafana/`` (a test fails when they are stale), so a
dashboard cannot name a metric the daemons do not serve without a test noticing: the appliance test
scrapes the running daemons and checks every series the dashboards and rules use.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import requests
import typer
import yaml

from pyrt.config import load_appliance
from pyrt.config.models import ApplianceConfig

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "grafana"
RULES = GRAFANA / "prometheus" / "rules.yml"
JOB = "pyrt"
DAEMONS = ("md", "strategy", "risk", "exec")
#: Grafana data source every panel reads (provisioned under this uid).
DATASOURCE = {"type": "prometheus", "uid": "pyrt-prometheus"}


def metrics_targets(appliance: ApplianceConfig) -> dict[str, str]:
    """Daemon → ``host:port`` of its metrics endpoint."""
    return {name: f"127.0.0.1:{daemon.metrics_port}" for name, daemon in appliance.daemons}


def prometheus_config(
    appliance: ApplianceConfig, rules: Path = RULES, scrape_interval: str = "5s"
) -> dict[str, Any]:
    """A Prometheus configuration scraping every daemon. Each target carries a ``daemon`` label,
    so ``up`` says which daemon is down; the daemons label their own series the same way
    (``honor_labels`` keeps theirs)."""
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": JOB,
                "honor_labels": True,
                "static_configs": [
                    {"targets": [target], "labels": {"daemon": name}}
                    for name, target in metrics_targets(appliance).items()
                ],
            }
        ],
    }


def render_yaml(config: dict[str, Any], header: str) -> str:
    return header + str(yaml.safe_dump(config, sort_keys=False))


def per_second(metric: str, **labels: str) -> str:
    """Events per second over the last minute, summed over the series matching ``labels``."""
    selector = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"sum(rate({metric}{{{selector}}}[1m]))"


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def _panel(
    title: str,
    targets: list[tuple[str, str]],
    grid: tuple[int, int, int, int],
    *,
    kind: str = "timeseries",
    unit: str = "short",
    description: str = "",
) -> dict[str, Any]:
    x, y, w, h = grid
    panel: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            _target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)
        ],
    }
    if kind == "heatmap":
        panel["targets"][0]["format"] = "heatmap"
        panel["options"] = {"calculate": False, "yAxis": {"unit": "s"}}
    return panel


def _dashboard(
    uid: str, title: str, panels: list[dict[str, Any]], templating: dict[str, Any] | None = None
) -> dict[str, Any]:
    for i, panel in enumerate(panels, start=1):
        panel["id"] = i
    return {
        "uid": uid,
        "title": title,
        "tags": ["pyrt"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "5s",
        "time": {"from": "now-30m", "to": "now"},
        "panels": panels,
        "templating": templating or {"list": []},
    }


def trading_dashboard() -> dict[str, Any]:
    """What the account is doing: health, kill switch, P&L, exposure, positions, order flow."""
    rate = "sum by (kind) (rate({}[1m]))"
    return _dashboard(
        "pyrt-trading",
        "py_rt: trading",
        [
            _panel(
                "Daemons up",
                [(f'up{{job="{JOB}"}}', "{{daemon}}")],
                (0, 0, 8, 5),
                kind="stat",
                description="1 while the daemon answers scrapes.",
            ),
            _panel(
                "Kill switch",
                [("max(pyrt_kill_switch)", "kill switch")],
                (8, 0, 4, 5),
                kind="stat",
                description="1: no new order passes risk (pyrt resume clears it).",
            ),
            _panel(
                "Open orders",
                [("pyrt_open_orders", "open orders")],
                (12, 0, 4, 5),
                kind="stat",
            ),
            _panel(
                "Day's P&L and the loss limit",
                [("pyrt_pnl_day", "P&L"), ("-pyrt_daily_loss_limit", "loss limit")],
                (16, 0, 8, 5),
                unit="currencyUSD",
            ),
            _panel(
                "Exposure",
                [("pyrt_gross_exposure", "gross"), ("pyrt_net_exposure", "net")],
                (0, 5, 12, 8),
                unit="currencyUSD",
                description="At marks, open orders counted at their worst.",
            ),
            _panel(
                "Positions",
                [("pyrt_position", "{{symbol}}")],
                (12, 5, 12, 8),
                description="Shares held as risk knows them (negative is short).",
            ),
            _panel(
                "Orders and fills per second",
                [
                    (per_second("pyrt_orders_total", kind="submitted"), "submitted"),
                    (per_second("pyrt_orders_total", kind="rejected"), "broker rejects"),
                    (per_second("pyrt_fills_total", daemon="exec", kind="published"), "fills"),
                    (
                        per_second("pyrt_fills_total", daemon="exec", kind="external"),
                        "external fills",
                    ),
                ],
                (0, 13, 12, 8),
                unit="ops",
            ),
            _panel(
                "Risk rejects per second, by reason",
                [(rate.format("pyrt_rejects_total"), "{{kind}}")],
                (12, 13, 12, 8),
                unit="ops",
            ),
            _panel(
                "Market data per second",
                [
                    (per_second("pyrt_frames_total", kind="received"), "frames"),
                    (per_second("pyrt_events_total", kind="published"), "events published"),
                    (per_second("pyrt_md_total", kind="lost"), "lost by slow readers"),
                    (per_second("pyrt_gaps_total"), "gaps"),
                ],
                (0, 21, 12, 8),
                unit="ops",
            ),
            _panel(
                "Models",
                [
                    ("pyrt_model_generation", "generation in use"),
                    ('increase(pyrt_models_total{kind="swapped"}[5m])', "swapped, 5 min"),
                    ('increase(pyrt_models_total{kind="rejected"}[5m])', "refused, 5 min"),
                ],
                (12, 21, 12, 8),
                description="The model generation scoring now, and swaps and refusals of "
                "models dropped into the watched directory.",
            ),
        ],
    )


def latency_dashboard() -> dict[str, Any]:
    """Per-stage latency from the daemons' HDR-backed histogram buckets."""
    selector = 'stage=~"$stage"'
    return _dashboard(
        "pyrt-latency",
        "py_rt: latency",
        [
            _panel(
                "p50 by stage",
                [(f"pyrt:stage_latency_seconds:p50_1m{{{selector}}}", "{{daemon}} {{stage}}")],
                (0, 0, 12, 8),
                unit="s",
            ),
            _panel(
                "p99 by stage",
                [(f"pyrt:stage_latency_seconds:p99_1m{{{selector}}}", "{{daemon}} {{stage}}")],
                (12, 0, 12, 8),
                unit="s",
            ),
            _panel(
                "Latency distribution",
                [
                    (
                        f"sum by (le) (rate(pyrt_stage_latency_seconds_bucket{{{selector}}}[1m]))",
                        "{{le}}",
                    )
                ],
                (0, 8, 24, 10),
                kind="heatmap",
                description="Observations per bucket and second, for the stages selected above.",
            ),
            _panel(
                "Events per second by stage",
                [
                    (
                        "sum by (daemon, stage) "
                        f"(rate(pyrt_stage_latency_seconds_count{{{selector}}}[1m]))",
                        "{{daemon}} {{stage}}",
                    )
                ],
                (0, 18, 24, 8),
                unit="ops",
            ),
        ],
        templating={
            "list": [
                {
                    "name": "stage",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": "label_values(pyrt_stage_latency_seconds_count, stage)",
                    "includeAll": True,
                    "multi": True,
                    "current": {"text": "All", "value": "$__all"},
                }
            ]
        },
    )


def dashboards() -> dict[str, dict[str, Any]]:
    """File name → dashboard JSON."""
    return {"trading.json": trading_dashboard(), "latency.json": latency_dashboard()}


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard, with Grafana's template variables filled in."""
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    return [e.replace("$stage", ".*") for e in exprs]


def rule_exprs(rules: Path = RULES) -> list[str]:
    groups = yaml.safe_load(rules.read_text())["groups"]
    return [str(rule["expr"]) for group in groups for rule in group["rules"]]


def recorded(rules: Path = RULES) -> set[str]:
    groups = yaml.safe_load(rules.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def referenced_metrics(exprs: list[str]) -> set[str]:
    """Metric names a set of expressions reads (py_rt's, ``up``, and recorded series)."""
    return {name for expr in exprs for name in re.findall(r"\b(pyrt[:_]\w[\w:]*|up)\b", expr)}


def render_dashboard(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


HEADER = "# Generated by `pyrt monitoring write` from config/appliance.toml: do not edit by hand.\n"


def write(config: Path = ROOT / "config" / "appliance.toml") -> list[Path]:
    """Writes the checked-in scrape configuration and dashboards; returns what it wrote."""
    prometheus = GRAFANA / "prometheus" / "prometheus.yml"
    written = [prometheus]
    prometheus.write_text(
        render_yaml(prometheus_config(load_appliance(config), rules=Path("rules.yml")), HEADER)
    )
    for name, dashboard in dashboards().items():
        path = GRAFANA / "dashboards" / name
        path.write_text(render_dashboard(dashboard))
        written.append(path)
    return written


def read_gauges(port: int, timeout_s: float = 2.0) -> dict[str, Decimal]:
    """A daemon's gauges from its metrics endpoint, ``name`` or ``name{label}`` → exact value.
    Raises OSError when the daemon does not answer."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode()
    types = dict(re.findall(r"^# TYPE (\w+) (\w+)$", text, re.MULTILINE))
    found = re.findall(r'^(pyrt_\w+)\{daemon="\w+"(?:,\w+="([^"]+)")?\} (\S+)$', text, re.MULTILINE)
    return {
        f"{name.removeprefix('pyrt_')}{{{label}}}" if label else name.removeprefix("pyrt_"): (
            Decimal(value)
        )
        for name, label, value in found
        if types.get(name) == "gauge"
    }


def positions(gauges: dict[str, Decimal]) -> dict[str, Decimal]:
    """Non-zero positions by symbol, from risk's gauges."""
    return {
        key.removeprefix("position{").removesuffix("}"): value
        for key, value in gauges.items()
        if key.startswith("position{") and value != 0
    }


def prometheus_available() -> bool:
    return shutil.which("prometheus") is not None


class PrometheusServer:
    """A real Prometheus server (Debian's ``prometheus`` package) scraping an appliance's daemons
    with the project's rules loaded, queried over its HTTP API."""

    def __init__(self, appliance: ApplianceConfig, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "prometheus.yml"
        # Fast enough for a session of half a minute to leave a history of several samples.
        config.write_text(
            render_yaml(prometheus_config(appliance, rules=RULES, scrape_interval="1s"), "")
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
        self.log = (directory / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"prometheus did not start; see {directory / 'prometheus.log'}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant vector of ``expr``: ``[{"metric": {...}, "value": [ts, "v"]}, ...]``."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def alerts(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v1/alerts", timeout=10)
        response.raise_for_status()
        return list(response.json()["data"]["alerts"])

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


app = typer.Typer(help="Prometheus configuration and Grafana dashboards.", no_args_is_help=True)


@app.command("write")
def write_command(
    config: Annotated[Path, typer.Option(help="appliance.toml")] = ROOT
    / "config"
    / "appliance.toml",
) -> None:
    """Regenerate grafana/prometheus/prometheus.yml and grafana/dashboards/*.json."""
    for path in write(config):
        typer.echo(f"wrote {path.relative_to(ROOT)}")


@app.command("prometheus-config")
def prometheus_config_command(
    config: Annotated[Path, typer.Option(help="appliance.toml")] = ROOT
    / "config"
    / "appliance.toml",
    scrape_interval: str = "5s",
) -> None:
    """Print a Prometheus configuration scraping this appliance's daemons."""
    typer.echo(
        render_yaml(prometheus_config(load_appliance(config), scrape_interval=scrape_interval), ""),
        nl=False,
    )
