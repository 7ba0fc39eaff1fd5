"""Validated configuration: pydantic models (the source of truth), their JSON Schemas in
config/schema/, cross-field rules, and loaders that report every problem with its field path."""

from pyrt.config.issues import ConfigIssue
from pyrt.config.load import (
    ConfigError,
    check_appliance,
    check_file,
    check_risk_limits,
    load_appliance,
    load_risk_limits,
)
from pyrt.config.models import ApplianceConfig, RiskLimitsConfig

__all__ = [
    "ApplianceConfig",
    "ConfigError",
    "ConfigIssue",
    "RiskLimitsConfig",
    "check_appliance",
    "check_file",
    "check_risk_limits",
    "load_appliance",
    "load_risk_limits",
]
