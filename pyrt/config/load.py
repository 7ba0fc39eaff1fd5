"""Reading and validating configuration files."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from pyrt.config.issues import ConfigIssue, from_validation_error
from pyrt.config.models import ApplianceConfig, RiskLimitsConfig
from pyrt.config.rules import appliance_rules, cross_file_rules, risk_rules

Kind = Literal["appliance", "risk"]
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file that does not validate; carries every issue found."""

    def __init__(self, path: Path, issues: list[ConfigIssue]) -> None:
        self.path = path
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{path}: {len(issues)} problem(s)\n{lines}")


def kind_of(path: Path) -> Kind:
    return "risk" if "risk" in path.name else "appliance"


def read_toml(path: Path) -> tuple[dict[str, Any] | None, list[ConfigIssue]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigIssue("", "file", f"cannot read the file: {exc.__class__.__name__}")]
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message names line and column, never the value.
        return None, [ConfigIssue("", "toml_syntax", f"not valid TOML: {exc}")]


def _validate(model: type[M], data: dict[str, Any]) -> tuple[M | None, list[ConfigIssue]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, from_validation_error(exc)


def check_risk_limits(path: Path) -> tuple[RiskLimitsConfig | None, list[ConfigIssue]]:
    data, issues = read_toml(path)
    if data is None:
        return None, issues
    config, issues = _validate(RiskLimitsConfig, data)
    if config is None:
        return None, issues
    issues = risk_rules(config)
    return (None, sorted(issues)) if issues else (config, [])


def check_appliance(path: Path) -> tuple[ApplianceConfig | None, list[ConfigIssue]]:
    data, issues = read_toml(path)
    if data is None:
        return None, issues
    config, issues = _validate(ApplianceConfig, data)
    if config is None:
        return None, issues
    issues = appliance_rules(config)
    return (None, sorted(issues)) if issues else (config, [])


def check_file(path: Path, kind: Kind | None = None) -> dict[Path, list[ConfigIssue]]:
    """Every issue of `path`, and for an appliance file also of the risk file it names."""
    if (kind or kind_of(path)) == "risk":
        return {path: check_risk_limits(path)[1]}
    appliance, issues = check_appliance(path)
    results = {path: issues}
    if appliance is not None:
        risk_path = (path.parent / appliance.appliance.risk_limits).resolve()
        risk, risk_issues = check_risk_limits(risk_path)
        if risk is not None:
            risk_issues = cross_file_rules(appliance, risk)
        results[risk_path] = sorted(risk_issues)
    return results


def load_appliance(path: Path) -> ApplianceConfig:
    config, issues = check_appliance(path)
    if config is None:
        raise ConfigError(path, issues)
    return config


def load_risk_limits(path: Path) -> RiskLimitsConfig:
    config, issues = check_risk_limits(path)
    if config is None:
        raise ConfigError(path, issues)
    return config
