"""Configuration errors as (field path, code, human reason), shared in meaning with the Rust side.

The codes are a closed vocabulary both languages map their native errors onto, so the shared test
vectors can state the expected errors once. Reasons never quote the offending value: a misplaced
secret must not end up in a terminal or a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pydantic import ValidationError

CODES: Final = frozenset(
    {
        "unknown_field",
        "missing",
        "type",
        "too_small",
        "too_large",
        "pattern",
        "enum",
        "not_power_of_two",
        "conflict",
        "toml_syntax",
        "file",
    }
)

_PYDANTIC_CODES: Final = {
    "extra_forbidden": "unknown_field",
    "missing": "missing",
    "greater_than_equal": "too_small",
    "greater_than": "too_small",
    "too_short": "too_small",
    "string_too_short": "too_small",
    "less_than_equal": "too_large",
    "less_than": "too_large",
    "too_long": "too_large",
    "string_too_long": "too_large",
    "string_pattern_mismatch": "pattern",
    "literal_error": "enum",
    "enum": "enum",
}

_REASONS: Final = {
    "unknown_field": "is not a known setting (secrets never belong in config files)",
    "missing": "is required",
    "type": "has the wrong type",
}


@dataclass(frozen=True, order=True)
class ConfigIssue:
    path: str
    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path or '<file>'}: {self.reason} [{self.code}]"


def _path(loc: tuple[str | int, ...]) -> str:
    # Strict-mode unions report the branch ("int", "function-before[...]"); the field is the path.
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p in {"int", "str"}))]
    return ".".join("global" if p == "global_" else p for p in parts)


def from_validation_error(error: ValidationError) -> list[ConfigIssue]:
    """Maps pydantic's errors to issues, one per field and code."""
    issues: set[ConfigIssue] = set()
    for item in error.errors(include_input=False, include_url=False):
        kind = item["type"]
        code = kind if kind in CODES else _PYDANTIC_CODES.get(kind, "type")
        reason = _REASONS.get(code) if code in _REASONS else str(item["msg"])
        issues.add(ConfigIssue(_path(item["loc"]), code, reason or str(item["msg"])))
    return sorted(issues)
