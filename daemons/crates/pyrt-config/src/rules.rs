//! Cross-field rules, mirroring `pyrt/config/rules.py` (same paths, codes and order of checks).

use std::collections::{BTreeMap, BTreeSet};

use pyrt_types::symbol::validate_symbol;

use crate::model::{ApplianceConfig, RiskLimitsConfig, SymbolLimits, WaitStrategy};
use crate::{Code, ConfigIssue};

pub(crate) fn appliance_rules(config: &ApplianceConfig) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut spinning: BTreeMap<usize, &str> = BTreeMap::new();
    for (name, daemon) in config.daemons.all() {
        if daemon.wait_strategy != WaitStrategy::BusySpin {
            continue;
        }
        let path = format!("daemons.{name}.core");
        match daemon.core {
            None => issues.push(ConfigIssue::new(
                path,
                Code::Conflict,
                "a busy_spin daemon must be pinned to a core",
            )),
            Some(core) => match spinning.get(&core) {
                Some(owner) => issues.push(ConfigIssue::new(
                    path,
                    Code::Conflict,
                    format!("core already runs busy_spin daemon '{owner}'"),
                )),
                None => {
                    spinning.insert(core, name);
                }
            },
        }
    }
    let mut ports: BTreeMap<u16, &str> = BTreeMap::new();
    for (name, daemon) in config.daemons.all() {
        let owner = *ports.entry(daemon.metrics_port).or_insert(name);
        if owner != name {
            issues.push(ConfigIssue::new(
                format!("daemons.{name}.metrics_port"),
                Code::Conflict,
                format!("port already used by '{owner}'"),
            ));
        }
    }
    if ports.contains_key(&config.sim.port) {
        issues.push(ConfigIssue::new(
            "sim.port",
            Code::Conflict,
            "port already used by a daemon's metrics",
        ));
    }
    let rings = &config.rings;
    for (name, capacity) in [
        ("md", rings.md),
        ("signal", rings.signal),
        ("order", rings.order),
        ("fill", rings.fill),
    ] {
        if !capacity.is_power_of_two() {
            issues.push(ConfigIssue::new(
                format!("rings.{name}"),
                Code::NotPowerOfTwo,
                "must be a power of two",
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for (i, symbol) in config.universe.symbols.iter().enumerate() {
        if !seen.insert(symbol) {
            issues.push(ConfigIssue::new(
                format!("universe.symbols.{i}"),
                Code::Conflict,
                "symbol listed twice",
            ));
        }
    }
    issues.sort();
    issues
}

fn symbol_limit_rules(path: &str, limits: &SymbolLimits) -> Option<ConfigIssue> {
    (limits.max_order_qty > limits.max_position).then(|| {
        ConfigIssue::new(
            format!("{path}.max_order_qty"),
            Code::Conflict,
            "exceeds max_position",
        )
    })
}

pub(crate) fn risk_rules(config: &RiskLimitsConfig) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let g = &config.global;
    if g.max_net_exposure > g.max_gross_exposure {
        issues.push(ConfigIssue::new(
            "global.max_net_exposure",
            Code::Conflict,
            "exceeds max_gross_exposure",
        ));
    }
    let distinct: BTreeSet<_> = g.kill_switch_on.iter().collect();
    if distinct.len() != g.kill_switch_on.len() {
        issues.push(ConfigIssue::new(
            "global.kill_switch_on",
            Code::Conflict,
            "lists a breach twice",
        ));
    }
    if let Some(defaults) = &config.defaults {
        issues.extend(symbol_limit_rules("defaults", defaults));
    }
    for (symbol, limits) in &config.symbols {
        if validate_symbol(symbol).is_err() {
            issues.push(ConfigIssue::new(
                format!("symbols.{symbol}"),
                Code::Pattern,
                "is not a valid symbol (A-Z 0-9 . / -)",
            ));
        }
        issues.extend(symbol_limit_rules(&format!("symbols.{symbol}"), limits));
    }
    issues.sort();
    issues
}

/// Limits must name only traded symbols, and every traded symbol must have limits.
#[must_use]
pub fn cross_file_rules(appliance: &ApplianceConfig, risk: &RiskLimitsConfig) -> Vec<ConfigIssue> {
    let universe: BTreeSet<&String> = appliance.universe.symbols.iter().collect();
    let mut issues: Vec<ConfigIssue> = risk
        .symbols
        .keys()
        .filter(|s| !universe.contains(s))
        .map(|s| {
            ConfigIssue::new(
                format!("symbols.{s}"),
                Code::Conflict,
                "is not in the appliance's universe",
            )
        })
        .collect();
    if risk.defaults.is_none() {
        issues.extend(
            appliance
                .universe
                .symbols
                .iter()
                .filter(|s| !risk.symbols.contains_key(*s))
                .map(|s| {
                    ConfigIssue::new(
                        format!("symbols.{s}"),
                        Code::Missing,
                        "has no limits and there are no [defaults]",
                    )
                }),
        );
    }
    issues.sort();
    issues
}
