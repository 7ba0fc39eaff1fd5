"""Train an XGBoost model on real top-of-book data and publish it for the strategy daemon.

The data is Binance spot BTCUSDT best bid/offer (``bookTicker``) from the hftbacktest recordings in
``../shared/data`` (real quotes with sizes; see its INDEX.md). Features come from
``pyrt._core.features`` — the strategy daemon's own Rust code — so training and live inference
see the same numbers. The target is the mid-price return over the next ``horizon`` quotes, in
basis points; the model is a regressor, exported to ONNX with one float input ``[1, 8]`` and one
float output ``[1, 1]``.

Publishing writes ``name.onnx`` first and ``name.json`` (the manifest, with the file's SHA-256)
last, each via a temporary file and a rename, so the daemon's watcher never sees half a model.

    python -m research.train_model --out /var/lib/pyrt/models --name xgb-v1 --seed 1
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xgboost
from onnxmltools.convert import convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType

from pyrt._core import features

DATA = Path(os.environ.get("PYRT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
BOOK_TICKER = DATA / "hftbacktest" / "spot_btcusdt_20240808.gz"


@dataclass(frozen=True)
class Quotes:
    bid: npt.NDArray[np.float64]
    ask: npt.NDArray[np.float64]
    bid_size: npt.NDArray[np.float64]
    ask_size: npt.NDArray[np.float64]


def load_book_ticker(path: Path = BOOK_TICKER) -> Quotes:
    """Every ``bookTicker`` record of a recording, in file order."""
    rows: list[tuple[float, float, float, float]] = []
    with gzip.open(path, "rt") as lines:
        for line in lines:
            _, _, payload = line.partition(" ")
            if "@bookTicker" not in payload:
                continue
            data = json.loads(payload)["data"]
            rows.append((float(data["b"]), float(data["a"]), float(data["B"]), float(data["A"])))
    table = np.asarray(rows, dtype=np.float64)
    return Quotes(table[:, 0], table[:, 1], table[:, 2], table[:, 3])


def dataset(
    quotes: Quotes, horizon: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Feature rows and forward returns (bps), warm-up and the last ``horizon`` rows dropped."""
    x = features.quote_features(quotes.bid, quotes.ask, quotes.bid_size, quotes.ask_size)
    mid = 0.5 * (quotes.bid + quotes.ask)
    forward = np.full(mid.shape, np.nan)
    forward[:-horizon] = (mid[horizon:] / mid[:-horizon] - 1.0) * 1e4
    keep = ~np.isnan(x).any(axis=1) & ~np.isnan(forward)
    return x[keep], forward[keep].astype(np.float32)


def train(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.float32], seed: int, rounds: int
) -> tuple[xgboost.XGBRegressor, dict[str, float]]:
    """An XGBoost regressor on the first 70 % (time order), scored on the rest."""
    split = int(len(x) * 0.7)
    model = xgboost.XGBRegressor(
        n_estimators=rounds, max_depth=4, learning_rate=0.1, subsample=0.8, random_state=seed
    )
    model.fit(x[:split], y[:split])
    predicted = model.predict(x[split:])
    actual = y[split:]
    metrics = {
        "train_rows": float(split),
        "test_rows": float(len(x) - split),
        "test_rmse_bps": float(np.sqrt(np.mean((predicted - actual) ** 2))),
        "test_correlation": float(np.corrcoef(predicted, actual)[0, 1]),
        "test_hit_rate": float(np.mean(np.sign(predicted) == np.sign(actual))),
    }
    return model, metrics


def to_onnx(model: xgboost.XGBRegressor) -> bytes:
    n = len(features.FEATURE_NAMES)
    onnx_model = convert_xgboost(
        model, initial_types=[("input", FloatTensorType([None, n]))], target_opset=15
    )
    return bytes(onnx_model.SerializeToString())


def manifest(
    name: str, onnx: bytes, metrics: dict[str, float], qty: str = "10", **policy: float
) -> dict[str, Any]:
    n = len(features.FEATURE_NAMES)
    return {
        "name": name,
        "version": 1,
        "features": list(features.FEATURE_NAMES),
        "input": {"name": "input", "shape": [-1, n]},
        "output": {"name": "variable", "shape": [-1, 1]},
        "sha256": hashlib.sha256(onnx).hexdigest(),
        "policy": {
            "enter": policy.get("enter", 0.05),
            "exit": policy.get("exit", -0.05),
            "qty": qty,
        },
        "metrics": metrics,
    }


def publish(out: Path, name: str, onnx: bytes, meta: dict[str, Any]) -> Path:
    """Model first, manifest last, each renamed into place whole."""
    out.mkdir(parents=True, exist_ok=True)
    for suffix, content in ((".onnx", onnx), (".json", json.dumps(meta, indent=2).encode())):
        tmp = out / f".{name}{suffix}.tmp"
        tmp.write_bytes(content)
        tmp.replace(out / f"{name}{suffix}")
    return out / f"{name}.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--horizon", type=int, default=20)
    args = parser.parse_args(argv)
    x, y = dataset(load_book_ticker(), args.horizon)
    model, metrics = train(x, y, args.seed, args.rounds)
    onnx = to_onnx(model)
    path = publish(args.out, args.name, onnx, manifest(args.name, onnx, metrics))
    print(f"published {path} ({len(x)} rows; {json.dumps(metrics)})")


if __name__ == "__main__":
    main()
