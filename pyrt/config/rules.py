"""Rules spanning several fields, run once the models validate. Mirrored in the Rust crate
pyrt-config; the shared vectors hold both to the same answers."""

from __future__ import annotations

import re
from collections import Counter

from pyrt.config.issues import ConfigIssue
from pyrt.config.models import SYMBOL_PATTERN, ApplianceConfig, RiskLimitsConfig, SymbolLimits

DAEMONS = ("md", "strategy", "risk", "exec")


def appliance_rules(config: ApplianceConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    daemons = [(name, getattr(config.daemons, name)) for name in DAEMONS]
    spinning_cores: dict[int, str] = {}
    for name, daemon in daemons:
        if daemon.wait_strategy != "busy_spin":
            continue
        path = f"daemons.{name}.core"
        if daemon.core is None:
            issues.append(
                ConfigIssue(path, "conflict", "a busy_spin daemon must be pinned to a core")
            )
        elif daemon.core in spinning_cores:
            issues.append(
                ConfigIssue(
                    path,
                    "conflict",
                    f"core already runs busy_spin daemon {spinning_cores[daemon.core]!r}",
                )
            )
        else:
            spinning_cores[daemon.core] = name
    ports: dict[int, str] = {}
    for name, daemon in daemons:
        owner = ports.setdefault(daemon.metrics_port, name)
        if owner != name:
            issues.append(
                ConfigIssue(
                    f"daemons.{name}.metrics_port", "conflict", f"port already used by {owner!r}"
                )
            )
    if config.sim.port in ports:
        issues.append(
            ConfigIssue("sim.port", "conflict", "port already used by a daemon's metrics")
        )
    for ring in ("md", "signal", "order", "fill"):
        capacity = getattr(config.rings, ring)
        if capacity & (capacity - 1):
            issues.append(
                ConfigIssue(f"rings.{ring}", "not_power_of_two", "must be a power of two")
            )
    seen: set[str] = set()
    for i, symbol in enumerate(config.universe.symbols):
        if symbol in seen:
            issues.append(ConfigIssue(f"universe.symbols.{i}", "conflict", "symbol listed twice"))
        seen.add(symbol)
    return issues


def _symbol_limit_rules(path: str, limits: SymbolLimits) -> list[ConfigIssue]:
    if limits.max_order_qty > limits.max_position:
        return [ConfigIssue(f"{path}.max_order_qty", "conflict", "exceeds max_position")]
    return []


def risk_rules(config: RiskLimitsConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    g = config.global_
    if g.max_net_exposure > g.max_gross_exposure:
        issues.append(
            ConfigIssue("global.max_net_exposure", "conflict", "exceeds max_gross_exposure")
        )
    repeated = [k for k, n in Counter(g.kill_switch_on).items() if n > 1]
    if repeated:
        issues.append(ConfigIssue("global.kill_switch_on", "conflict", "lists a breach twice"))
    if config.defaults is not None:
        issues.extend(_symbol_limit_rules("defaults", config.defaults))
    for symbol, limits in sorted(config.symbols.items()):
        if not re.fullmatch(SYMBOL_PATTERN, symbol):
            issues.append(
                ConfigIssue(f"symbols.{symbol}", "pattern", "is not a valid symbol (A-Z 0-9 . / -)")
            )
        issues.extend(_symbol_limit_rules(f"symbols.{symbol}", limits))
    return issues


def cross_file_rules(appliance: ApplianceConfig, risk: RiskLimitsConfig) -> list[ConfigIssue]:
    """Limits must name only traded symbols, and every traded symbol must have limits."""
    universe = set(appliance.universe.symbols)
    issues = [
        ConfigIssue(f"symbols.{s}", "conflict", "is not in the appliance's universe")
        for s in sorted(set(risk.symbols) - universe)
    ]
    if risk.defaults is None:
        issues.extend(
            ConfigIssue(f"symbols.{s}", "missing", "has no limits and there are no [defaults]")
            for s in appliance.universe.symbols
            if s not in risk.symbols
        )
    return issues
