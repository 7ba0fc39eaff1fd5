"""`pyrt sim`: run the venue simulator on localhost and print how to reach it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from aiohttp import web

from pyrt.config import ConfigError, load_appliance
from pyrt.sim import SimConfig, build, describe, generated_keys

ROOT = Path(__file__).resolve().parents[2]


def sim(
    *,
    config: Annotated[Path, typer.Option(help="appliance.toml (its [sim] table)")] = ROOT
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
    ticks_per_second: Annotated[
        float, typer.Option(help="replay pace of the derived quotes")
    ] = 20.0,
) -> None:
    """Start the Alpaca-compatible simulator and print the URLs and keys to use."""
    try:
        appliance = load_appliance(config)
    except ConfigError as exc:
        typer.echo(str(exc))
        raise typer.Exit(2) from exc
    host = host or appliance.sim.host
    port = port or appliance.sim.port
    generated = generated_keys()
    sim_config = SimConfig(
        key_id or generated[0], secret_key or generated[1], ticks_per_second=ticks_per_second
    )
    data_dir = (config.parent / appliance.sim.data_dir).resolve()
    simulator = build(sim_config, seed=appliance.sim.seed, data_dir=data_dir)
    typer.echo(describe(host, port, sim_config))
    web.run_app(simulator.app, host=host, port=port, print=None)
