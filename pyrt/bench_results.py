"""What every `make bench-*` writes: ``bench-results/<name>.json`` in the DESIGN §10 shape, with
the host it ran on, so figures from different runs and machines can be told apart."""

from __future__ import annotations

import contextlib
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"


def host() -> dict[str, Any]:
    """The CPU model (``platform.processor()`` is empty on most Linux builds) and core count."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count()}


def write(
    name: str,
    results: list[dict[str, Any]],
    out: Path | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Writes the document and returns where; `extra` adds top-level keys (versions, not_run)."""
    path = out or RESULTS / f"{name}.json"
    document = {
        "name": name,
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": host(),
        **(extra or {}),
        "results": results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
