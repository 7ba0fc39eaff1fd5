"""`pyrt latency report DIR`: per-stage latency percentiles from the daemons' HDR interval logs, as
a table, a percentile-distribution plot (PNG) and an HTML page with both."""

from __future__ import annotations

import base64
import html
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
from rich.console import Console
from rich.table import Table

PERCENTILES = (50.0, 90.0, 99.0, 99.9, 99.99)
MAX_NS = 10_000_000_000


@dataclass
class StageLatency:
    daemon: str
    stage: str
    histogram: HdrHistogram

    @property
    def count(self) -> int:
        return int(self.histogram.get_total_count())

    def percentile_us(self, p: float) -> float:
        return float(self.histogram.get_value_at_percentile(p)) / 1000.0

    def max_us(self) -> float:
        return float(self.histogram.get_max_value()) / 1000.0


def read_logs(directory: Path) -> list[StageLatency]:
    """Every (daemon, stage) in `directory`/*.hlog, all intervals merged."""
    stages: dict[tuple[str, str], StageLatency] = {}
    for path in sorted(directory.glob("*.hlog")):
        reader = HistogramLogReader(str(path), HdrHistogram(1, MAX_NS, 3))
        while (interval := reader.get_next_interval_histogram()) is not None:
            tag = interval.get_tag() or "default"
            key = (path.stem, tag)
            if key not in stages:
                stages[key] = StageLatency(path.stem, tag, HdrHistogram(1, MAX_NS, 3))
            stages[key].histogram.add(interval)
        reader.close()
    return [s for s in stages.values() if s.count > 0]


def table(stages: list[StageLatency]) -> Table:
    t = Table(title="stage latency (µs)")
    t.add_column("daemon")
    t.add_column("stage")
    t.add_column("count", justify="right")
    for p in PERCENTILES:
        t.add_column(f"p{p:g}", justify="right")
    t.add_column("max", justify="right")
    for s in stages:
        t.add_row(
            s.daemon,
            s.stage,
            str(s.count),
            *(f"{s.percentile_us(p):.2f}" for p in PERCENTILES),
            f"{s.max_us():.2f}",
        )
    return t


def plot(stages: list[StageLatency], png: Path) -> None:
    # Imported here: matplotlib takes a second to load and only this command needs it.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(9, 5))
    quantiles = [100.0 * (1 - 10 ** (-k / 10)) for k in range(0, 51)]
    for s in stages:
        xs = [1.0 / (1.0 - q / 100.0) if q < 100.0 else 1e5 for q in quantiles]
        ys = [s.percentile_us(q) for q in quantiles]
        ax.plot(xs, ys, label=f"{s.daemon}/{s.stage}")
    ax.set_xscale("log")
    ax.set_xticks([1, 10, 100, 1_000, 10_000, 100_000])
    ax.set_xticklabels(["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (µs)")
    ax.set_title("Latency by percentile")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def write_html(stages: list[StageLatency], png: Path, out: Path) -> None:
    head = "".join(f"<th>p{p:g}</th>" for p in PERCENTILES)
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td>{:.2f}</td></tr>".format(
            html.escape(s.daemon),
            html.escape(s.stage),
            s.count,
            "".join(f"<td>{s.percentile_us(p):.2f}</td>" for p in PERCENTILES),
            s.max_us(),
        )
        for s in stages
    )
    image = base64.b64encode(png.read_bytes()).decode()
    out.write_text(
        "<!doctype html><meta charset='utf-8'><title>py_rt latency report</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style>"
        "<h1>py_rt latency report</h1><table><tr><th>daemon</th><th>stage</th><th>count</th>"
        f"{head}<th>max</th></tr>{rows}</table><p>All figures in microseconds.</p>"
        f"<img alt='percentile distribution' src='data:image/png;base64,{image}'>",
        encoding="utf-8",
    )


def report(
    directory: Annotated[Path, typer.Argument(help="directory of *.hlog interval logs")],
    out: Annotated[Path | None, typer.Option(help="where to write the PNG and HTML")] = None,
) -> None:
    """Per-stage p50, p90, p99, p99.9, p99.99 and max from the daemons' interval logs."""
    console = Console()
    if not directory.is_dir():
        console.print(f"{directory} is not a directory")
        raise typer.Exit(2)
    stages = read_logs(directory)
    if not stages:
        console.print(f"no latency recorded in {directory}/*.hlog")
        raise typer.Exit(1)
    console.print(table(stages))
    target = out or directory
    target.mkdir(parents=True, exist_ok=True)
    png = target / "latency-report.png"
    plot(stages, png)
    write_html(stages, png, target / "latency-report.html")
    console.print(f"wrote {png} and {target / 'latency-report.html'}")


if __name__ == "__main__":
    typer.run(report)
    sys.exit(0)
