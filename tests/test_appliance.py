"""The whole appliance end to end: the simulator and the four daemons (debug builds) under a real
supervisord, real models, real sockets and shared memory. One session, checked step by step:
orders flow and fill; a corrupt model is refused and a good one swapped in; a bad limits file is
refused with the running limits kept; exec killed with SIGKILL is restarted by supervisord and no
fill is lost; risk killed rebuilds the broker's positions; a stuck daemon is killed by the
heartbeat watchdog and restarted; halt with flatten is confirmed by the broker and no order
reaches it afterwards; a real Prometheus scrapes it all and fires the kill-switch alert.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from pyrt import _core, monitoring
from pyrt.monitoring import PrometheusServer
from pyrt.session import Session, scrape
from pyrt.supervisor import (
    ROOT,
    SupervisorError,
    halt,
    model_rollback,
    program_states,
    reload,
    supervisorctl,
)

DEBUG_BINS = ROOT / "daemons" / "target" / "debug"


def wait_for(
    what: str,
    condition: Callable[[], bool],
    timeout: float = 60.0,
    context: Callable[[], object] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what} {context()}"
        time.sleep(1.0)


def gauges(port: int) -> dict[str, Decimal]:
    """A daemon's gauges; empty while it is down."""
    try:
        return monitoring.read_gauges(port)
    except OSError:
        return {}


def gauge(port: int, name: str) -> Decimal | None:
    return gauges(port).get(name)


def positions(port: int) -> dict[str, Decimal]:
    return monitoring.positions(gauges(port))


def counter(port: int, name: str) -> float:
    """A daemon's counter; 0 while its metrics server is not up (a daemon restarting)."""
    try:
        return scrape(port).get(name, 0)
    except OSError:
        return 0


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, PrometheusServer]]:
    """The session, and the real Prometheus it starts, scraping it every second from its start."""
    if not (DEBUG_BINS / "pyrt-exec").is_file():
        assert "CI" not in os.environ, "make test builds the daemons before the Python tests"
        pytest.skip("daemon binaries not built (cargo build --bins)")
    if not monitoring.prometheus_available():
        pytest.fail("prometheus missing: make setup installs Debian's prometheus package")
    os.environ["PYRT_BIN_DIR"] = str(DEBUG_BINS)
    s = Session.prepare(tmp_path_factory.mktemp("appliance") / "session", speed="100")
    try:
        s.start()
        assert s.prometheus is not None
        yield s, s.prometheus
    finally:
        s.stop()


@pytest.fixture
def session(running: tuple[Session, PrometheusServer]) -> Session:
    return running[0]


class Broker:
    def __init__(self, s: Session) -> None:
        keys = json.loads((s.layout.runtime_dir / "credentials.json").read_text())
        self.url = s.layout.appliance.broker.trading_base_url
        self.headers = {
            "APCA-API-KEY-ID": keys["key_id"],
            "APCA-API-SECRET-KEY": keys["secret_key"],
        }
        self.prefix = s.layout.appliance.appliance.name + "-"

    def get(self, path: str) -> list[dict[str, object]]:
        """The test shares the daemons' keys and so their rate limit: a 429 waits for the
        window the broker names, as a well-behaved client does."""
        while True:
            response = requests.get(self.url + path, headers=self.headers, timeout=10)
            if response.status_code != 429:
                break
            reset = int(response.headers.get("X-Ratelimit-Reset", time.time() + 1))
            time.sleep(min(60.0, max(0.5, reset - time.time())))
        response.raise_for_status()
        body = response.json()
        assert isinstance(body, list)
        return body

    def our_orders(self) -> list[dict[str, object]]:
        orders = self.get("/v2/orders?status=all&limit=500&direction=asc")
        return [o for o in orders if str(o["client_order_id"]).startswith(self.prefix)]

    def fills(self) -> tuple[int, int]:
        """Fill activities of our orders, and of orders placed otherwise (the halt's flatten)."""
        ids = {o["id"] for o in self.our_orders()}
        ours, others, token = 0, 0, ""
        while True:
            page = self.get(f"/v2/account/activities/FILL?direction=asc&page_size=100{token}")
            if not page:
                return ours, others
            ours += sum(1 for a in page if a["order_id"] in ids)
            others += sum(1 for a in page if a["order_id"] not in ids)
            token = f"&page_token={page[-1]['id']}"


def test_a_session_end_to_end(session: Session) -> None:
    broker = Broker(session)
    strategy_port = session.metrics_port("strategy")
    exec_port = session.metrics_port("exec")
    block = _core.ControlBlock(str(session.layout.runtime_dir / "control"))

    def why() -> dict[str, object]:
        """What a stalled flow looks like: risk's rejects and the kill switch."""
        risk = {k: v for k, v in scrape(session.metrics_port("risk")).items() if v}
        return {"kill_switch": block.kill_switch, "reason": block.kill_reason, "risk": risk}

    # Progress is read from the daemons' counters while trading: the broker's 200 requests a
    # minute are the daemons' (the test holds their keys) and are asked only once the flow stops.
    wait_for("filled orders", lambda: counter(strategy_port, "fills{received}") >= 3, context=why)

    # Models: a corrupt one is refused and the running model kept; a good one is swapped in.
    session.swap_models()
    wait_for("the model swap", lambda: session.model_status().get("model") == session.models[1])
    status = session.model_status()
    assert status["generation"] == 2
    assert any(r.startswith("broken:") for r in status["refused"]), status
    assert model_rollback(session.layout) == session.models[0]
    wait_for("the rollback", lambda: session.model_status().get("generation") == 3)
    assert session.model_status()["model"] == session.models[0]

    # Limits: the supervisor refuses to publish an invalid file; one that only risk would refuse
    # (published behind the supervisor's back) is refused by risk with the running limits kept.
    limits = session.directory / "risk_limits.toml"
    good = limits.read_text()
    limits.write_text(good.replace("max_open_orders = 50", 'max_open_orders = "many"'))
    generation = block.config_generation
    with pytest.raises(SupervisorError, match="max_open_orders"):
        reload(session.layout)
    assert block.config_generation == generation, "nothing published"
    block.bump_config_generation()
    risk_port = session.metrics_port("risk")
    wait_for("the refusal", lambda: scrape(risk_port).get("limits{refused}", 0) >= 1)
    limits.write_text(good.replace("max_open_orders = 50", "max_open_orders = 40"))
    assert reload(session.layout) == generation + 2
    wait_for("the reload", lambda: scrape(risk_port).get("limits{reloaded}", 0) >= 1)
    limits.write_text(good)

    # exec killed mid-session: supervisord restarts it and no fill is lost.
    pid = int(supervisorctl(session.layout, "pid", "exec").stdout.strip())
    os.kill(pid, signal.SIGKILL)
    wait_for(
        "exec back",
        lambda: (
            program_states(session.layout).get("exec") == "RUNNING"
            and supervisorctl(session.layout, "pid", "exec").stdout.strip() not in ("", str(pid))
        ),
    )
    # The counter belongs to the new process, so it counts only orders sent after the restart.
    wait_for(
        "orders after the restart",
        lambda: counter(exec_port, "orders{submitted}") >= 3,
        context=why,
    )

    # risk killed mid-session: its successor rebuilds its book from exec's journals and its
    # ring, so the positions it sizes orders against are still the broker's. With the kill
    # switch set the flow stops, so the broker's positions hold still to compare with.
    block.set_kill_switch(True, 1)
    wait_for("the flow to stop", lambda: not broker.get("/v2/orders?status=open"), context=why)
    held = {str(p["symbol"]): Decimal(str(p["qty"])) for p in broker.get("/v2/positions")}
    wait_for(
        "risk's gauges", lambda: positions(risk_port) == held, context=lambda: positions(risk_port)
    )

    def rebuilds() -> list[int]:
        """Events each start of risk replayed, from its log."""
        log = (session.layout.log_dir / "risk.err").read_text()
        return [int(n) for n in re.findall(r"book rebuilt from exec's journals: (\d+) events", log)]

    starts = len(rebuilds())
    pid = int(supervisorctl(session.layout, "pid", "risk").stdout.strip())
    os.kill(pid, signal.SIGKILL)
    wait_for(
        "risk back with its book",
        lambda: len(rebuilds()) > starts and positions(risk_port) == held,
        context=lambda: (rebuilds(), positions(risk_port), held),
    )
    assert rebuilds()[-1] > 0, f"the successor replayed nothing: {rebuilds()}"
    assert gauge(risk_port, "kill_switch") == 1, "the successor honours the kill switch"
    shown = subprocess.run(
        [sys.executable, "-m", "pyrt.cli", "status", "--config", str(session.layout.config)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    assert "ENGAGED" in shown
    book = next(line for line in shown.splitlines() if line.startswith("risk's book:"))
    for symbol, qty in held.items():
        assert f"{symbol} {qty}" in book, book
    assert held or "flat" in book, book
    block.set_kill_switch(False, 0)
    wait_for("risk sending again", lambda: counter(risk_port, "intents{sent}") >= 1, context=why)

    # A daemon alive but stuck (stopped: its pid stays, its heartbeat does not move) is killed by
    # the heartbeat watchdog, and supervisord restarts it. (md: strategy's fill counter, which
    # the last check reads, must survive.)
    stuck = int(supervisorctl(session.layout, "pid", "md").stdout.strip())
    os.kill(stuck, signal.SIGSTOP)
    wait_for(
        "the stuck md replaced",
        lambda: (
            supervisorctl(session.layout, "pid", "md").stdout.strip() not in ("", str(stuck))
            and program_states(session.layout).get("md") == "RUNNING"
        ),
    )
    watch_log = (session.layout.log_dir / "watch.err").read_text()
    assert f"md (pid {stuck}) is alive but its heartbeat" in watch_log, watch_log

    # Emergency stop: confirmed by the broker, and nothing reaches it afterwards.
    confirmed = halt(session.layout, flatten=True)
    assert confirmed == {"open_orders": 0, "positions": 0}
    after_halt = len(broker.our_orders())
    time.sleep(3)
    late = broker.our_orders()[after_halt:]
    assert not late, f"orders reached the broker after halt: {late}"
    assert block.kill_switch

    # With the flow stopped the counts are exact: every fill the venue made for our orders,
    # before and after exec's restart, reached the strategy through the fill ring; so did the
    # flatten's, as external fills (risk's positions follow the broker's, whoever traded).
    def on_the_ring() -> tuple[int, int]:
        counters = scrape(strategy_port)
        return counters.get("fills{received}", 0), counters.get("fills{external}", 0)

    deadline = time.monotonic() + 30
    while (ring := on_the_ring()) != (venue := broker.fills()):
        assert time.monotonic() < deadline, f"fills (ours, external): ring {ring}, venue {venue}"
        time.sleep(1.0)
    assert venue[0] > 0
    assert Path(session.layout.log_dir / "exec.hlog").exists()


def test_prometheus_scraped_the_session_and_alerts_on_its_halt(
    running: tuple[Session, PrometheusServer],
) -> None:
    """Runs after the session test: the flow ran, risk was restarted, the halt set the kill
    switch. Every series the dashboards and rules read is one the daemons serve."""
    _, prometheus = running

    def up() -> dict[str, str]:
        return {r["metric"]["daemon"]: r["value"][1] for r in prometheus.query('up{job="pyrt"}')}

    wait_for("all four daemons scraped", lambda: up() == dict.fromkeys(monitoring.DAEMONS, "1"))
    served = {r["metric"]["__name__"] for r in prometheus.query('{job="pyrt"}')}
    exprs = monitoring.rule_exprs() + [
        e for board in monitoring.dashboards().values() for e in monitoring.dashboard_exprs(board)
    ]
    wanted = {m for m in monitoring.referenced_metrics(exprs) if ":" not in m} - {"up"}
    assert wanted <= served, f"read by dashboards or rules, served by no daemon: {wanted - served}"

    # The recording rules turned the buckets of the session's orders into a finite p99.
    def p99() -> float:
        found = prometheus.query('pyrt:stage_latency_seconds:p99_1m{stage="origin_to_intent"} > 0')
        return float(found[0]["value"][1]) if found else 0.0

    wait_for("a recorded tick-to-order p99", lambda: p99() > 0)
    assert p99() < 1.0

    def firing() -> set[str]:
        return {a["labels"]["alertname"] for a in prometheus.alerts() if a["state"] == "firing"}

    wait_for("the kill-switch alert", lambda: "PyrtKillSwitchEngaged" in firing(), context=firing)
    wait_for(
        "risk flat after the flatten",
        lambda: not prometheus.query("pyrt_position != 0"),
        context=lambda: prometheus.query("pyrt_position != 0"),
    )
