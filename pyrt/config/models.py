"""The configuration models: the source of truth for config/*.toml and their JSON Schemas.

Every model forbids unknown fields and is frozen. Amounts are decimal strings (TOML floats are
inexact); the Rust side parses the same strings into i64 fixed point. Rules that span several
fields are in :mod:`pyrt.config.rules`, run after these models validate.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

SYMBOL_PATTERN = r"^[A-Z0-9./-]{1,16}$"
AMOUNT_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,9})?$"


def _amount(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str):
        raise PydanticCustomError(
            "type",
            'must be a quoted decimal string such as "50000.00" (TOML numbers are not exact)',
        )
    if not re.fullmatch(AMOUNT_PATTERN, value):
        raise PydanticCustomError(
            "pattern", "must be a non-negative decimal with at most 9 decimal places"
        )
    amount = Decimal(value)
    if amount <= 0:
        raise PydanticCustomError("too_small", "must be greater than zero")
    return amount


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN}),
]
"""A positive decimal amount or quantity written as a string."""

Port = Annotated[int, Field(ge=1024, le=65535)]
Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN)]
RingCapacity = Annotated[int, Field(ge=2, le=1 << 24)]


class Strict(BaseModel):
    # hide_input_in_errors: a secret pasted into the wrong field must never be echoed back.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, hide_input_in_errors=True)


class ApplianceSection(Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    mode: Literal["sim", "paper", "live"]
    runtime_dir: Annotated[str, Field(min_length=1)]
    log_dir: Annotated[str, Field(min_length=1)]
    # Durable storage (exec's journals); never tmpfs.
    state_dir: Annotated[str, Field(min_length=1)] = "/var/lib/pyrt"
    risk_limits: Annotated[str, Field(min_length=1)]


class Broker(Strict):
    trading_base_url: Annotated[str, Field(pattern=r"^https?://[^/\s]+(/\S*)?$")]
    data_base_url: Annotated[str, Field(pattern=r"^https?://[^/\s]+(/\S*)?$")]
    data_stream_url: Annotated[str, Field(pattern=r"^wss?://[^/\s]+(/\S*)?$")]
    data_feed: Literal["iex", "sip"]
    # Frames of the market-data stream: MessagePack (smaller, faster to parse) or JSON.
    data_stream_encoding: Literal["msgpack", "json"] = "msgpack"
    key_id_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "APCA_API_KEY_ID"
    # The name of an environment variable, not a secret.
    secret_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "APCA_API_SECRET_KEY"  # noqa: S105
    requests_per_minute: Annotated[int, Field(ge=1, le=200)] = 180
    crypto_stream_url: Annotated[str, Field(pattern=r"^wss?://[^/\s]+(/\S*)?$")] = (
        "wss://stream.data.alpaca.markets/v1beta3/crypto/us"
    )


#: "Every n-th" / "after n": 0 means never.
EveryNth = Annotated[int, Field(ge=0, le=1_000_000)]


class SimFaults(Strict):
    """Faults the simulator injects into what the daemons see; all off by default. `pyrt sim`
    options override each one."""

    # Every n-th REST request answered 503.
    server_error_every: EveryNth = 0
    # Every n-th REST request answered 429 with Alpaca's rate-limit headers (a 429 storm).
    throttle_every: EveryNth = 0
    # Every order acknowledgement delayed this long.
    ack_delay_ms: Annotated[int, Field(ge=0, le=60_000)] = 0
    # Each trade_updates connection closed after this many events.
    drop_stream_after: EveryNth = 0
    # Each market-data stream connection closed after this many messages.
    drop_data_stream_after: EveryNth = 0
    # Every n-th order accepted but answered 504, as if the acknowledgement were lost.
    lost_ack_every: EveryNth = 0
    # Every n-th order rejected.
    reject_every: EveryNth = 0
    # Partial fills: the share of the displayed size an order may take per quote (10000 = all).
    fill_fraction_bps: Annotated[int, Field(ge=1, le=10_000)] = 10_000


class Sim(Strict):
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Port = 8765
    speed: Annotated[str, Field(pattern=r"^(max|realtime|[0-9]+(\.[0-9]+)?)$")] = "max"
    seed: Annotated[int, Field(ge=0)] = 0
    data_dir: Annotated[str, Field(min_length=1)]
    faults: SimFaults = Field(default_factory=SimFaults)


class Universe(Strict):
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=4096)]
    # Crypto pairs whose order books md follows (data only: the strategy scores them, no orders).
    # Their ids come after the equities'.
    crypto: Annotated[list[Symbol], Field(max_length=64)] = Field(default_factory=list)


class Daemon(Strict):
    # Absent means unpinned.
    core: Annotated[int, Field(ge=0, le=1023)] | None = None
    sched_fifo: bool = False
    mlockall: bool = False
    wait_strategy: Literal["busy_spin", "spin_yield", "park"] = "park"
    metrics_port: Port
    heartbeat_ms: Annotated[int, Field(ge=10, le=10_000)] = 100


class Daemons(Strict):
    md: Daemon
    strategy: Daemon
    risk: Daemon
    exec: Daemon


class Rings(Strict):
    md: RingCapacity
    signal: RingCapacity
    order: RingCapacity
    fill: RingCapacity


class Telemetry(Strict):
    interval_s: Annotated[int, Field(ge=1, le=3600)] = 10
    max_latency_ns: Annotated[int, Field(ge=1000, le=3_600_000_000_000)] = 10_000_000_000
    significant_figures: Annotated[int, Field(ge=1, le=5)] = 3


class Model(Strict):
    watch_dir: Annotated[str, Field(min_length=1)]
    keep: Annotated[int, Field(ge=1, le=100)] = 3


class ApplianceConfig(Strict):
    """config/appliance.toml"""

    appliance: ApplianceSection
    broker: Broker
    sim: Sim
    universe: Universe
    daemons: Daemons
    rings: Rings
    telemetry: Telemetry
    model: Model


class SymbolLimits(Strict):
    max_order_qty: Amount
    max_order_notional: Amount
    max_position: Amount


class GlobalLimits(Strict):
    max_gross_exposure: Amount
    max_net_exposure: Amount
    daily_loss_limit: Amount
    max_open_orders: Annotated[int, Field(ge=1, le=100_000)]
    max_orders_per_second: Annotated[int, Field(ge=1, le=100_000)]
    max_messages_per_second: Annotated[int, Field(ge=1, le=100_000)]
    price_collar_bps: Annotated[int, Field(ge=1, le=10_000)]
    max_quote_age_ms: Annotated[int, Field(ge=1, le=3_600_000)] = 5000
    duplicate_window_ms: Annotated[int, Field(ge=0, le=60_000)] = 500
    kill_switch_on: list[Literal["daily_loss", "gross_exposure", "message_rate"]] = Field(
        default_factory=list
    )


class RiskLimitsConfig(Strict):
    """config/risk_limits.toml"""

    global_: GlobalLimits = Field(alias="global")
    defaults: SymbolLimits | None = None
    symbols: dict[str, SymbolLimits] = Field(default_factory=dict)

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, populate_by_name=True, hide_input_in_errors=True
    )
