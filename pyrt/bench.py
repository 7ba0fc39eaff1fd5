"""`make bench-pipeline`: system-level latency of the online path, measured, never asserted.

* Tick to order: the real strategy and risk daemons (release builds, separate processes) around a
  driver that plays md and exec (`pyrt-bench-ticks`): each quote carries its publication time, and
  risk's HDR log gives quote published → intent written, with strategy's stages beside it.
* Inference: the same 200-tree XGBoost model, one row at a time, through ort in Rust
  (`pyrt-bench-infer`, the strategy daemon's code) and through onnxruntime's Python API, single
  threaded, on the same feature rows, in the same run; predictions are compared too.

Prints a table with ratios and writes ``bench-results/pipeline.json`` (DESIGN §10).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # type: ignore[import-untyped]
from rich.console import Console
from rich.table import Table

from pyrt import bench_results, latency
from pyrt.session import session_config
from pyrt.supervisor import RELEASE_DIR, ROOT, Layout, onnxruntime_library
from research import train_model

BENCH_LIMITS = """\
# Limits wide enough that the benchmark measures the checks, not their refusals.
[global]
max_gross_exposure = "100000000"
max_net_exposure = "100000000"
daily_loss_limit = "100000000"
max_open_orders = 100000
max_orders_per_second = 100000
max_messages_per_second = 100000
price_collar_bps = 1000
max_quote_age_ms = 60000
duplicate_window_ms = 0

[defaults]
max_order_qty = "1000"
max_order_notional = "1000000"
max_position = "100000"
"""


def percentiles_ns(samples: np.ndarray[Any, np.dtype[np.int64]]) -> dict[str, float]:
    return {
        "p50_ns": float(np.percentile(samples, 50)),
        "p99_ns": float(np.percentile(samples, 99)),
        "p999_ns": float(np.percentile(samples, 99.9)),
        "mean_ns": float(samples.mean()),
    }


def inference(work: Path, rows: int, calls: int) -> dict[str, dict[str, Any]]:
    """ort (Rust) and onnxruntime (Python) on one 200-tree model and the same rows."""
    x, y = train_model.dataset(train_model.load_book_ticker(), horizon=20)
    model, metrics = train_model.train(x, y, seed=1, rounds=200)
    onnx = train_model.to_onnx(model)
    models = work / "models"
    train_model.publish(models, "bench", onnx, train_model.manifest("bench", onnx, metrics))
    sample = np.ascontiguousarray(x[:rows], dtype="<f4")
    (work / "rows.f32").write_bytes(sample.tobytes())
    library = onnxruntime_library()
    if library is None:
        raise RuntimeError("the onnxruntime wheel is not installed")
    rust = subprocess.run(
        [
            str(RELEASE_DIR / "pyrt-bench-infer"),
            str(library),
            str(models),
            "bench",
            str(work / "rows.f32"),
            str(calls),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ours = json.loads(rust.stdout)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(models / "bench.onnx"), options)
    name = session.get_inputs()[0].name
    timings = np.empty(calls, dtype=np.int64)
    first: list[float] = []
    for i in range(calls):
        row = sample[i % rows : i % rows + 1]
        started = time.perf_counter_ns()
        out = session.run(None, {name: row})
        timings[i] = time.perf_counter_ns() - started
        if len(first) < len(ours["first_predictions"]):
            first.append(float(out[0].ravel()[0]))
    agree = bool(np.allclose(first, ours["first_predictions"], rtol=1e-5, atol=1e-6))
    return {
        "py_rt ort (Rust)": {**ours["latency"], "predictions_agree": agree},
        "onnxruntime Python API": percentiles_ns(timings),
    }


def peak_rss_mb(pid: int) -> float:
    """A process's resident-set high-water mark (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def tick_to_order(work: Path, quotes: int, rate: int) -> dict[str, Any]:
    """Quote published → intent written, through the real strategy and risk processes."""
    config = session_config(work / "session")
    (work / "session" / "risk_limits.toml").write_text(BENCH_LIMITS)
    layout = Layout.load(config)
    # The strategy daemon starts on the newest model in its directory: the same 200-tree model
    # the inference comparison uses, so tick → order includes real ONNX inference.
    watch = Path(layout.appliance.model.watch_dir)
    shutil.rmtree(watch, ignore_errors=True)
    watch.mkdir(parents=True)
    for suffix in (".onnx", ".json"):
        shutil.copyfile(work / "models" / f"bench{suffix}", watch / f"bench{suffix}")
    # The driver creates md.ring in the runtime directory; risk would create the directory too,
    # but on a loaded machine the driver can get there first.
    Path(layout.runtime_dir).mkdir(parents=True, exist_ok=True)
    # As the supervisor does: the strategy daemon loads ONNX Runtime from the wheel's library.
    library = onnxruntime_library()
    env = {**os.environ, "ORT_DYLIB_PATH": str(library)} if library else dict(os.environ)
    binaries = ("pyrt-risk", "pyrt-strategy")
    daemons = [
        subprocess.Popen(
            [str(RELEASE_DIR / binary), "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(work / f"{binary}.err").open("w"),
            env=env,
        )
        for binary in binaries
    ]
    peak_rss: dict[str, float] = {}
    try:
        driver = subprocess.run(
            [
                str(RELEASE_DIR / "pyrt-bench-ticks"),
                str(layout.runtime_dir),
                str(quotes),
                str(rate),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if driver.returncode != 0:
            raise RuntimeError(f"pyrt-bench-ticks failed: {driver.stderr.strip()}")
        # Read while they still run, after the whole load: the high-water mark of each.
        peak_rss = {b: peak_rss_mb(p.pid) for b, p in zip(binaries, daemons, strict=True)}
    finally:
        for process in daemons:
            process.send_signal(signal.SIGTERM)
        for process in daemons:
            process.wait(30)
    counts = json.loads(driver.stdout)
    stages = {
        f"{s.daemon}.{s.stage}": {
            "count": s.count,
            "p50_ns": s.percentile_us(50) * 1000,
            "p99_ns": s.percentile_us(99) * 1000,
            "p999_ns": s.percentile_us(99.9) * 1000,
            "max_ns": s.max_us() * 1000,
        }
        for s in latency.read_logs(layout.log_dir)
    }
    return {"driver": counts, "stages": stages, "peak_rss_mb": peak_rss}


def main() -> int:
    console = Console(width=None if sys.stdout.isatty() else 140)
    work = Path(os.environ.get("PYRT_BENCH_DIR", ROOT / ".bench"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    calls = int(os.environ.get("PYRT_BENCH_CALLS", "20000"))
    infer = inference(work, rows=2000, calls=calls)
    ticks = tick_to_order(work, quotes=int(os.environ.get("PYRT_BENCH_QUOTES", "20000")), rate=2000)

    results = []
    table = Table(title="ONNX inference, 200-tree XGBoost, 1 row (target p99 ≤ 20 µs)")
    for column in ("system", "p50 µs", "p99 µs", "p99.9 µs", "mean µs"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for system, figures in infer.items():
        table.add_row(
            system,
            *(f"{figures[k] / 1000:.2f}" for k in ("p50_ns", "p99_ns", "p999_ns", "mean_ns")),
        )
        for metric in ("p50_ns", "p99_ns", "p999_ns", "mean_ns"):
            results.append(
                {
                    "system": system.split()[0]
                    if system.startswith("py_rt")
                    else "onnxruntime-python",
                    "case": "xgboost-200 1 row",
                    "metric": metric,
                    "value": figures[metric],
                }
            )
    console.print(table)
    ours, theirs = infer["py_rt ort (Rust)"], infer["onnxruntime Python API"]
    console.print(
        f"ratio onnxruntime-python / py_rt: p50 {theirs['p50_ns'] / ours['p50_ns']:.2f}x, "
        f"p99 {theirs['p99_ns'] / ours['p99_ns']:.2f}x; "
        f"predictions agree: {ours['predictions_agree']}"
    )

    stages = Table(
        title="tick → order through strategy and risk processes (target p50 ≤ 5 µs, p99 ≤ 50 µs)"
    )
    for column in ("stage", "count", "p50 µs", "p99 µs", "p99.9 µs", "max µs"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for name, figures in sorted(ticks["stages"].items()):
        stages.add_row(
            name,
            str(figures["count"]),
            *(f"{figures[k] / 1000:.2f}" for k in ("p50_ns", "p99_ns", "p999_ns", "max_ns")),
        )
        for metric in ("p50_ns", "p99_ns", "p999_ns"):
            results.append(
                {
                    "system": "py_rt",
                    "case": f"pipeline {name}",
                    "metric": metric,
                    "value": figures[metric],
                }
            )
    console.print(stages)
    console.print(f"driver: {ticks['driver']}")
    memory = Table(title="daemon memory under that load (target ≤ 30 MB each)")
    memory.add_column("daemon")
    memory.add_column("peak RSS MiB", justify="right")
    for daemon, mib in ticks["peak_rss_mb"].items():
        memory.add_row(daemon, f"{mib:.1f}")
        results.append(
            {"system": "py_rt", "case": f"{daemon} peak RSS", "metric": "rss_mib", "value": mib}
        )
    console.print(memory)
    console.print(f"wrote {bench_results.write('pipeline', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
