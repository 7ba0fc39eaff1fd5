"""JSON Schemas of the configuration models, checked in under config/schema/.

`python -m pyrt.config.schema --write` regenerates them; `--check` exits 1 when they are stale. The
Rust crate pyrt-config validates with these same files, so both languages enforce one contract.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import BaseModel

from pyrt.config.models import ApplianceConfig, RiskLimitsConfig

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "config" / "schema"
MODELS: dict[str, type[BaseModel]] = {
    "appliance": ApplianceConfig,
    "risk_limits": RiskLimitsConfig,
}


def _without_null(node: object) -> object:
    """TOML has no null: an optional field is simply absent. Collapsing `anyOf: [X, null]` to X
    lets validators report errors at the field instead of at an `anyOf`."""
    if isinstance(node, list):
        return [_without_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options and len(options) == 2:
        (kept,) = [o for o in options if o != {"type": "null"}]
        rest = {k: v for k, v in node.items() if k not in {"anyOf", "default"}}
        return _without_null({**rest, **kept})
    return {k: _without_null(v) for k, v in node.items()}


def render(model: type[BaseModel]) -> str:
    schema = _without_null(model.model_json_schema(by_alias=True, mode="validation"))
    assert isinstance(schema, dict)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def stale() -> list[Path]:
    out = []
    for name, model in MODELS.items():
        path = SCHEMA_DIR / f"{name}.schema.json"
        if not path.exists() or path.read_text(encoding="utf-8") != render(model):
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="regenerate the schema files")
    group.add_argument("--check", action="store_true", help="exit 1 if a schema file is stale")
    args = parser.parse_args(argv)
    if args.write:
        SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
        for name, model in MODELS.items():
            (SCHEMA_DIR / f"{name}.schema.json").write_text(render(model), encoding="utf-8")
        return 0
    outdated = stale()
    for path in outdated:
        print(f"stale: {path} (run python -m pyrt.config.schema --write)", file=sys.stderr)
    return 1 if outdated else 0


if __name__ == "__main__":
    raise SystemExit(main())
