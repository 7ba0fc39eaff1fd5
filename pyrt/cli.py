"""The `pyrt` command line. Each area registers its commands here from its own module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from pyrt import latency, monitoring, status, supervisor, systemd_backend, watch
from pyrt.config.load import check_file
from pyrt.sim.cli import sim
from research.cli import app as backtest_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="py_rt trading appliance")
config_app = typer.Typer(no_args_is_help=True, help="Validate configuration files.")
app.add_typer(config_app, name="config")
latency_app = typer.Typer(no_args_is_help=True, help="Latency reports from the interval logs.")
latency_app.command("report")(latency.report)
app.add_typer(latency_app, name="latency")
app.command("status")(status.status)
app.command("sim")(sim)
app.command("up")(supervisor.up_command)
app.command("install-units")(systemd_backend.install_units_command)
app.command("supervise")(systemd_backend.supervise_command)
app.command("down")(supervisor.down_command)
app.command("halt")(supervisor.halt_command)
app.command("watch")(watch.watch_command)
app.command("resume")(supervisor.resume_command)
app.command("reload")(supervisor.reload_command)
app.command("flatten")(supervisor.flatten_command)
model_app = typer.Typer(no_args_is_help=True, help="Models of the strategy daemon.")
model_app.command("rollback")(supervisor.rollback_command)
app.add_typer(model_app, name="model")
app.add_typer(backtest_app, name="backtest")
app.add_typer(monitoring.app, name="monitoring")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="appliance.toml or risk_limits.toml")],
    kind: Annotated[
        str | None,
        typer.Option(help="appliance or risk (default: from the file name)"),
    ] = None,
) -> None:
    """Print "ok", or every error with its field path and reason; exit 2 on any error."""
    if kind not in (None, "appliance", "risk"):
        err.print(f"--kind must be appliance or risk, not {kind!r}")
        raise typer.Exit(2)
    chosen: Literal["appliance", "risk"] | None = kind  # type: ignore[assignment]
    results = check_file(file, chosen)
    failed = False
    for path, issues in results.items():
        if not issues:
            out.print(f"ok {path}")
            continue
        failed = True
        for issue in issues:
            out.print(f"{path}: {issue}", markup=False)
    if failed:
        raise typer.Exit(2)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
