"""One trading session of the whole appliance on the embedded simulator, and its report.

Used by `make demo` and by the end-to-end tests: a session directory with its own configuration
(the repository's, with paths, port and replay speed changed), two XGBoost models trained on real
quotes, the simulator and the four daemons under supervisord, a model hot-swap halfway (after a
corrupt model that must be refused), an emergency stop with flatten, and a report gathered from
the broker, the daemons' Prometheus endpoints, the model status file and the HDR logs.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.models import Order, Position, TradeAccount
from alpaca.trading.requests import GetOrdersRequest

from pyrt import latency
from pyrt._core import features
from pyrt.monitoring import PrometheusServer, prometheus_available
from pyrt.sim.market import Tick, intraday_path, load_daily_bars
from pyrt.supervisor import (
    ROOT,
    Layout,
    copy_model,
    down,
    halt,
    program_states,
    trading_client,
    up,
)
from research import train_model

SHARED_DATA = ROOT.parent / "shared" / "data"


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports: every socket is held until all are chosen, so no two of
    them can be the same port."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def scaled_risk_limits(speed: str) -> str:
    """The repository's risk limits for a replay at `speed`. The risk daemon's trading day is a
    New York wall-clock day, which at 100x holds a hundred replayed days (and the replay's
    year wraps every half minute, marking prices a year back): a loss limit meant for one day
    would trip on that compression, not on a loss, so it is scaled by the speed."""
    text = (ROOT / "config" / "risk_limits.toml").read_text()
    try:
        factor = max(1.0, float(speed))
    except ValueError:  # "max": as fast as the replay runs
        factor = 1000.0
    limit = re.search(r'^daily_loss_limit = "(\d+)"', text, flags=re.MULTILINE)
    if limit is None:
        raise ValueError("config/risk_limits.toml has no daily_loss_limit")
    scaled = f'daily_loss_limit = "{int(int(limit.group(1)) * factor)}"'
    return text[: limit.start()] + scaled + text[limit.end() :]


def session_config(directory: Path, speed: str = "100") -> Path:
    """The repository's configuration with this session's directories, ports and pace."""
    text = (ROOT / "config" / "appliance.toml").read_text()
    port, *metrics_ports = free_ports(5)
    replacements = {
        r'runtime_dir = ".*"': f'runtime_dir = "{directory / "run"}"',
        r'log_dir = ".*"': f'log_dir = "{directory / "log"}"',
        r'state_dir = ".*"': f'state_dir = "{directory / "state"}"',
        r'watch_dir = ".*"': f'watch_dir = "{directory / "models"}"',
        r'data_dir = ".*"': f'data_dir = "{SHARED_DATA}"',
        r'speed = ".*"': f'speed = "{speed}"',
        r"http://127\.0\.0\.1:8765": f"http://127.0.0.1:{port}",
        r"ws://127\.0\.0\.1:8765": f"ws://127.0.0.1:{port}",
        r"^port = 8765": f"port = {port}",
        r"interval_s = \d+": "interval_s = 2",
    }
    for pattern, value in replacements.items():
        text, n = re.subn(pattern, value, text, flags=re.MULTILINE)
        if n == 0:
            raise ValueError(f"config/appliance.toml has no {pattern}")
    for port_name, metrics_port in zip(
        ("md", "strategy", "risk", "exec"), metrics_ports, strict=True
    ):
        text = re.sub(
            rf"(\[daemons\.{port_name}\][^\[]*?metrics_port = )\d+",
            rf"\g<1>{metrics_port}",
            text,
            flags=re.DOTALL,
        )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "risk_limits.toml").write_text(scaled_risk_limits(speed))
    path = directory / "appliance.toml"
    path.write_text(text)
    return path


def venue_features(seed: int, ticks: int = 6000) -> npt.NDArray[np.float32]:
    """Feature rows of the simulator's own replay (the quotes the daemons will see)."""
    rows = []
    by_symbol: dict[str, list[Tick]] = {}
    for _, tick in zip(
        range(ticks), intraday_path(load_daily_bars(SHARED_DATA), seed), strict=False
    ):
        by_symbol.setdefault(tick.symbol, []).append(tick)
    for series in by_symbol.values():
        bid = np.array([float(t.bid) for t in series])
        ask = np.array([float(t.ask) for t in series])
        size = np.array([float(t.size) for t in series])
        x = features.quote_features(bid, ask, size, size)
        rows.append(x[~np.isnan(x).any(axis=1)])
    return np.concatenate(rows)


def train_models(staging: Path, seed: int) -> list[str]:
    """Two models on the real BTCUSDT top of book, different seeds and sizes.

    The simulator's intraday quotes are derived from daily bars and are far more volatile than the
    BTC microstructure the models learn from, so their scores there sit in a different range. The
    policy thresholds are therefore calibrated on the venue's replay (the 25th and 75th
    percentiles of each model's scores on it) so the session trades; the models' quality figures
    in the manifest are out-of-sample on BTC.
    """
    quotes = train_model.load_book_ticker()
    x, y = train_model.dataset(quotes, horizon=20)
    venue = venue_features(seed)
    names = []
    for name, model_seed, rounds in (("xgb-a", 1, 40), ("xgb-b", 2, 80)):
        model, metrics = train_model.train(x, y, model_seed, rounds)
        onnx = train_model.to_onnx(model)
        scores = np.asarray(model.predict(venue), dtype=np.float64)
        exit_, enter = np.percentile(scores, [25, 75])
        meta = train_model.manifest(name, onnx, metrics, enter=float(enter), exit=float(exit_))
        train_model.publish(staging, name, onnx, meta)
        names.append(name)
    return names


def publish_corrupt(staging: Path, model_dir: Path, good: str) -> None:
    """A model whose file was cut short in transit; its manifest still carries the good
    checksum, so the daemon must refuse it."""
    (model_dir / "broken.onnx").write_bytes((staging / f"{good}.onnx").read_bytes()[:500])
    manifest = json.loads((staging / f"{good}.json").read_text())
    manifest["name"] = "broken"
    tmp = model_dir / ".broken.json.tmp"
    tmp.write_text(json.dumps(manifest))
    tmp.replace(model_dir / "broken.json")


def scrape(port: int) -> dict[str, float]:
    """A daemon's Prometheus counters: ``name{kind}`` → value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        match = re.match(r'pyrt_(\w+)_total\{daemon="\w+",kind="(\w+)"\} (\d+)', line)
        if match:
            values[f"{match[1]}{{{match[2]}}}"] = float(match[3])
    return values


@dataclass
class Report:
    orders: int = 0
    filled_orders: int = 0
    fills: int = 0
    equity_start: Decimal = Decimal(0)
    equity_end: Decimal = Decimal(0)
    positions_before_halt: dict[str, str] = field(default_factory=dict)
    halt_confirmed: dict[str, int] = field(default_factory=dict)
    rejects: dict[str, float] = field(default_factory=dict)
    counters: dict[str, dict[str, float]] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    restarts: dict[str, str] = field(default_factory=dict)
    latency: list[latency.StageLatency] = field(default_factory=list)
    #: What the Prometheus server that scraped the session saw (empty without one).
    monitoring: dict[str, str] = field(default_factory=dict)

    @property
    def pnl(self) -> Decimal:
        return self.equity_end - self.equity_start


@dataclass
class Session:
    directory: Path
    layout: Layout
    staging: Path
    models: list[str]
    #: A real Prometheus scraping the daemons with the project's rules, when installed.
    prometheus: PrometheusServer | None = None

    @classmethod
    def prepare(cls, directory: Path, speed: str = "100") -> Session:
        if directory.exists():
            shutil.rmtree(directory)
        config = session_config(directory, speed)
        layout = Layout.load(config)
        staging = directory / "staging"
        models = train_models(staging, layout.appliance.sim.seed)
        model_dir = Path(layout.appliance.model.watch_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        copy_model(staging, model_dir, models[0])
        return cls(directory, layout, staging, models)

    @property
    def model_dir(self) -> Path:
        return Path(self.layout.appliance.model.watch_dir)

    def metrics_port(self, daemon: str) -> int:
        return int(getattr(self.layout.appliance.daemons, daemon).metrics_port)

    def start(self) -> dict[str, str]:
        if prometheus_available():
            self.prometheus = PrometheusServer(self.layout.appliance, self.directory / "prometheus")
        try:
            return up(self.layout)
        except BaseException:
            if self.prometheus is not None:
                self.prometheus.close()
            raise

    def stop(self) -> None:
        down(self.layout)
        if self.prometheus is not None:
            self.prometheus.close()

    def swap_models(self) -> None:
        publish_corrupt(self.staging, self.model_dir, self.models[1])
        time.sleep(1.0)
        copy_model(self.staging, self.model_dir, self.models[1])

    def model_status(self) -> dict[str, Any]:
        path = self.layout.runtime_dir / "model.status.json"
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def finish(self, equity_start: Decimal) -> Report:
        """Emergency stop with flatten, then everything the report needs, then down."""
        client = trading_client(self.layout)
        report = Report(equity_start=equity_start)
        report.positions_before_halt = {
            p.symbol: str(p.qty) for p in client.get_all_positions() if isinstance(p, Position)
        }
        report.counters = {
            d: scrape(self.metrics_port(d)) for d in ("md", "strategy", "risk", "exec")
        }
        report.halt_confirmed = halt(self.layout, flatten=True)
        orders = [
            o
            for o in client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))
            if isinstance(o, Order)
        ]
        report.orders = len(orders)
        report.filled_orders = sum(1 for o in orders if o.status == "filled")
        report.fills = int(report.counters["exec"].get("fills{published}", 0))
        report.equity_end = account_equity(client)
        report.rejects = {
            k.removeprefix("rejects{").removesuffix("}"): v
            for k, v in report.counters["risk"].items()
            if k.startswith("rejects{") and v
        }
        report.model = self.model_status()
        report.restarts = program_states(self.layout)
        if self.prometheus is not None:
            report.monitoring = monitoring_summary(self.prometheus)
        self.stop()
        report.latency = latency.read_logs(self.layout.log_dir)
        return report


def monitoring_summary(prometheus: PrometheusServer, timeout_s: float = 15.0) -> dict[str, str]:
    """Targets up, alerts firing (waiting for the halt's kill-switch alert) and the recorded
    tick-to-order p99, as the session's Prometheus saw them."""
    deadline = time.monotonic() + timeout_s
    firing: list[str] = []
    while time.monotonic() < deadline:
        firing = sorted(
            {a["labels"]["alertname"] for a in prometheus.alerts() if a["state"] == "firing"}
        )
        if "PyrtKillSwitchEngaged" in firing:
            break
        time.sleep(0.5)
    up_now = prometheus.query('up{job="pyrt"}')
    p99 = prometheus.query('pyrt:stage_latency_seconds:p99_1m{stage="origin_to_intent"} > 0')
    return {
        "targets up": f"{sum(r['value'][1] == '1' for r in up_now)}/{len(up_now)}",
        "alerts firing": ", ".join(firing) or "none",
        "tick to order p99, last minute": (
            f"{float(p99[0]['value'][1]) * 1e3:.3f} ms" if p99 else "no orders in the last minute"
        ),
    }


def account_equity(client: TradingClient) -> Decimal:
    account = client.get_account()
    if not isinstance(account, TradeAccount):
        raise TypeError(f"unexpected account answer {account!r}")
    return Decimal(str(account.equity))


def equity(layout: Layout) -> Decimal:
    return account_equity(trading_client(layout))
