"""`pyrt sim`: run the venue simulator on localhost and print how to reach it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from aiohttp import web

from pyrt.config import ConfigError, load_appliance
from pyrt.secrets import MissingSecretError, load_alpaca_credentials
from pyrt.sim import Faults, SimConfig, build, describe, generated_keys

ROOT = Path(__file__).resolve().parents[2]


def ticks_per_second(speed: str) -> float:
    """The replay pace for a `speed` setting; 0 means as fast as the event loop allows."""
    if speed == "max":
        return 0.0
    if speed == "realtime":
        return 1.0
    try:
        factor = float(speed)
    except ValueError:
        raise typer.BadParameter(
            f"speed must be max, realtime or a number, not {speed!r}"
        ) from None
    if factor <= 0:
        raise typer.BadParameter("speed must be positive")
    return factor


def sim(
    *,
    config: Annotated[Path, typer.Option(help="appliance.toml (its \\[sim] table)")] = ROOT
    / "config"
    / "appliance.toml",
    host: Annotated[str | None, typer.Option(help="listen address (default from config)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default from config)")] = None,
    key_id: Annotated[
        str | None, typer.Option(help="API key id clients must send (default: generated)")
    ] = None,
    secret_key: Annotated[
        str | None, typer.Option(help="API secret clients must send (default: generated)")
    ] = None,
    error_every: Annotated[
        int | None,
        typer.Option(help="fault: answer every n-th request 503"),
    ] = None,
    throttle_every: Annotated[
        int | None, typer.Option(help="fault: answer every n-th request 429")
    ] = None,
    ack_delay_ms: Annotated[int | None, typer.Option(help="fault: delay order acks")] = None,
    drop_stream_after: Annotated[
        int | None, typer.Option(help="fault: close trade_updates after n events")
    ] = None,
    drop_data_stream_after: Annotated[
        int | None, typer.Option(help="fault: close market-data streams after n messages")
    ] = None,
    lose_ack_every: Annotated[
        int | None, typer.Option(help="fault: accept every n-th order but answer 504")
    ] = None,
    reject_every: Annotated[int | None, typer.Option(help="fault: reject every n-th order")] = None,
    fill_fraction_bps: Annotated[
        int | None, typer.Option(help="partial fills: share of displayed size per quote")
    ] = None,
    requests_per_minute: Annotated[int, typer.Option(help="REST rate limit")] = 200,
    crypto_speed: Annotated[
        float, typer.Option(help="crypto order-book replay, times real time")
    ] = 10.0,
    speed: Annotated[
        str | None,
        typer.Option(help='replay pace: "realtime" (1 tick/s), a factor of it, or "max"'),
    ] = None,
) -> None:
    """Start the Alpaca-compatible simulator and print the URLs and keys to use. Fault options
    left out take their value from the configuration's [sim.faults]."""
    try:
        appliance = load_appliance(config)
    except ConfigError as exc:
        typer.echo(str(exc))
        raise typer.Exit(2) from exc
    host = host or appliance.sim.host
    port = port or appliance.sim.port
    # Keys handed to the process (environment or systemd LoadCredential=) are the ones clients
    # will use; otherwise make some up for this run. Only a made-up secret may be printed.
    key_env, secret_env = appliance.broker.key_id_env, appliance.broker.secret_key_env
    keys_from: str | None
    try:
        given = load_alpaca_credentials(key_env, secret_env)
        keys = (given.key_id.get_secret_value(), given.secret_key.get_secret_value())
        keys_from = f"the environment ({key_env}, {secret_env})"
    except MissingSecretError:
        keys, keys_from = generated_keys(), None
    if secret_key:
        keys_from = "the command line"
    pace = ticks_per_second(speed or appliance.sim.speed)
    configured = appliance.sim.faults

    def fault(given: int | None, default: int) -> int:
        return default if given is None else given

    sim_config = SimConfig(
        key_id or keys[0],
        secret_key or keys[1],
        requests_per_minute=requests_per_minute,
        ticks_per_second=pace,
        faults=Faults(
            server_error_every=fault(error_every, configured.server_error_every),
            throttle_every=fault(throttle_every, configured.throttle_every),
            ack_delay_ms=fault(ack_delay_ms, configured.ack_delay_ms),
            drop_stream_after=fault(drop_stream_after, configured.drop_stream_after),
            lost_ack_every=fault(lose_ack_every, configured.lost_ack_every),
            drop_data_stream_after=fault(drop_data_stream_after, configured.drop_data_stream_after),
        ),
    )
    data_dir = (config.parent / appliance.sim.data_dir).resolve()
    simulator = build(
        sim_config,
        seed=appliance.sim.seed,
        data_dir=data_dir,
        max_fill_fraction_bps=fault(fill_fraction_bps, configured.fill_fraction_bps),
        reject_every_nth=fault(reject_every, configured.reject_every),
        crypto_speed=crypto_speed,
    )
    typer.echo(describe(host, port, sim_config, keys_from))
    web.run_app(simulator.app, host=host, port=port, print=None)
