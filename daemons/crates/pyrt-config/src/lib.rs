//! Configuration for the daemons, validated against the same contract as the Python side.
//!
//! The pydantic models in `pyrt/config` are the source of truth. They generate the JSON Schemas in
//! `config/schema/`, which this crate embeds: a file is parsed as TOML, checked against the schema
//! (every error collected, with its field path), deserialised into structs that refuse unknown
//! fields, and put through the same cross-field rules. Errors carry the same (path, code) pairs the
//! Python side reports, and both run the shared vectors in `config/vectors/`.

pub mod model;
mod rules;
pub mod secrets;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
pub use model::{ApplianceConfig, RiskLimitsConfig};
pub use rules::cross_file_rules;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The shared error vocabulary (see `pyrt/config/issues.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    UnknownField,
    Missing,
    Type,
    TooSmall,
    TooLarge,
    Pattern,
    Enum,
    NotPowerOfTwo,
    Conflict,
    TomlSyntax,
    File,
}

impl Code {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnknownField => "unknown_field",
            Self::Missing => "missing",
            Self::Type => "type",
            Self::TooSmall => "too_small",
            Self::TooLarge => "too_large",
            Self::Pattern => "pattern",
            Self::Enum => "enum",
            Self::NotPowerOfTwo => "not_power_of_two",
            Self::Conflict => "conflict",
            Self::TomlSyntax => "toml_syntax",
            Self::File => "file",
        }
    }
}

/// One problem: the dotted field path, its code and a reason for people. Reasons never quote the
/// offending value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigIssue {
    pub path: String,
    pub code: Code,
    pub reason: String,
}

impl ConfigIssue {
    pub(crate) fn new(path: impl Into<String>, code: Code, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            code,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "<file>"
        } else {
            &self.path
        };
        write!(f, "{path}: {} [{}]", self.reason, self.code.as_str())
    }
}

/// A file that failed validation, with every issue found.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {} problem(s): {}", issues.len(), issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ConfigError {
    pub path: PathBuf,
    pub issues: Vec<ConfigIssue>,
}

#[derive(Clone, Copy)]
enum Kind {
    Appliance,
    Risk,
}

const APPLIANCE_SCHEMA: &str = include_str!("../../../../config/schema/appliance.schema.json");
const RISK_SCHEMA: &str = include_str!("../../../../config/schema/risk_limits.schema.json");

fn validator(kind: Kind) -> &'static jsonschema::Validator {
    static APPLIANCE: OnceLock<jsonschema::Validator> = OnceLock::new();
    static RISK: OnceLock<jsonschema::Validator> = OnceLock::new();
    let (cell, text) = match kind {
        Kind::Appliance => (&APPLIANCE, APPLIANCE_SCHEMA),
        Kind::Risk => (&RISK, RISK_SCHEMA),
    };
    cell.get_or_init(|| {
        // The schemas are generated and checked in; a test compiles both, so this cannot fail in
        // a released build.
        let schema: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("embedded schema: {e}"))
    })
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn schema_issues(kind: Kind, instance: &Value) -> BTreeSet<ConfigIssue> {
    let mut issues = BTreeSet::new();
    for error in validator(kind).iter_errors(instance) {
        let path: String = error
            .instance_path()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(".");
        let mut push = |path: String, code: Code, reason: &str| {
            issues.insert(ConfigIssue::new(path, code, reason));
        };
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    push(
                        join(&path, name),
                        Code::UnknownField,
                        "is not a known setting (secrets never belong in config files)",
                    );
                }
            }
            ValidationErrorKind::Required { property } => {
                push(
                    join(&path, property.as_str().unwrap_or("")),
                    Code::Missing,
                    "is required",
                );
            }
            ValidationErrorKind::Minimum { .. }
            | ValidationErrorKind::ExclusiveMinimum { .. }
            | ValidationErrorKind::MinItems { .. }
            | ValidationErrorKind::MinLength { .. } => push(path, Code::TooSmall, "is too small"),
            ValidationErrorKind::Maximum { .. }
            | ValidationErrorKind::ExclusiveMaximum { .. }
            | ValidationErrorKind::MaxItems { .. }
            | ValidationErrorKind::MaxLength { .. } => push(path, Code::TooLarge, "is too large"),
            ValidationErrorKind::Pattern { .. } => {
                push(path, Code::Pattern, "does not have the required form");
            }
            ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
                push(path, Code::Enum, "is not one of the allowed values");
            }
            ValidationErrorKind::UniqueItems => push(path, Code::Conflict, "lists a value twice"),
            ValidationErrorKind::Type { .. } => {
                let reason = if instance
                    .pointer(&pointer(&path))
                    .is_some_and(Value::is_number)
                    && is_amount(&path)
                {
                    "must be a quoted decimal string such as \"50000.00\" (TOML numbers are not exact)"
                } else {
                    "has the wrong type"
                };
                push(path, Code::Type, reason);
            }
            _ => push(path, Code::Type, "is not valid here"),
        }
    }
    issues
}

fn pointer(dotted: &str) -> String {
    if dotted.is_empty() {
        String::new()
    } else {
        format!("/{}", dotted.replace('.', "/"))
    }
}

/// Amount fields of the risk file: decimal strings that must also be greater than zero.
fn is_amount(path: &str) -> bool {
    let leaf = path.rsplit('.').next().unwrap_or("");
    matches!(
        leaf,
        "max_gross_exposure"
            | "max_net_exposure"
            | "daily_loss_limit"
            | "max_order_qty"
            | "max_order_notional"
            | "max_position"
    )
}

/// "Greater than zero" for amounts, which JSON Schema cannot say of a string; reported with the
/// schema errors, as pydantic reports it with its field errors.
fn zero_amounts(instance: &Value, path: &str, issues: &mut BTreeSet<ConfigIssue>) {
    match instance {
        Value::Object(map) => {
            for (key, value) in map {
                zero_amounts(value, &join(path, key), issues);
            }
        }
        Value::String(text) if is_amount(path) => {
            let unsigned = text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            if unsigned && pyrt_types::Notional::parse(text).is_ok_and(|v| v.raw() == 0) {
                issues.insert(ConfigIssue::new(
                    path,
                    Code::TooSmall,
                    "must be greater than zero",
                ));
            }
        }
        _ => {}
    }
}

fn validate<T: DeserializeOwned>(kind: Kind, text: &str) -> Result<T, Vec<ConfigIssue>> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let reason = match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                format!("not valid TOML (line {line}): {}", e.message())
            }
            None => format!("not valid TOML: {}", e.message()),
        };
        vec![ConfigIssue::new("", Code::TomlSyntax, reason)]
    })?;
    let instance = serde_json::to_value(&table).map_err(|e| {
        vec![ConfigIssue::new(
            "",
            Code::Type,
            format!("cannot represent as JSON: {e}"),
        )]
    })?;
    let mut issues = schema_issues(kind, &instance);
    if matches!(kind, Kind::Risk) {
        zero_amounts(&instance, "", &mut issues);
    }
    if !issues.is_empty() {
        return Err(issues.into_iter().collect());
    }
    serde_json::from_value(instance).map_err(|e| {
        vec![ConfigIssue::new(
            "",
            Code::Type,
            format!("does not fit the typed model: {e}"),
        )]
    })
}

fn finish<T>(config: T, issues: Vec<ConfigIssue>) -> Result<T, Vec<ConfigIssue>> {
    if issues.is_empty() {
        Ok(config)
    } else {
        Err(issues)
    }
}

/// Validates the text of an `appliance.toml`.
pub fn parse_appliance(text: &str) -> Result<ApplianceConfig, Vec<ConfigIssue>> {
    let config: ApplianceConfig = validate(Kind::Appliance, text)?;
    let issues = rules::appliance_rules(&config);
    finish(config, issues)
}

/// Validates the text of a `risk_limits.toml`.
pub fn parse_risk_limits(text: &str) -> Result<RiskLimitsConfig, Vec<ConfigIssue>> {
    let config: RiskLimitsConfig = validate(Kind::Risk, text)?;
    let issues = rules::risk_rules(&config);
    finish(config, issues)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_owned(),
        issues: vec![ConfigIssue::new(
            "",
            Code::File,
            format!("cannot read the file: {}", e.kind()),
        )],
    })
}

pub fn load_appliance(path: &Path) -> Result<ApplianceConfig, ConfigError> {
    parse_appliance(&read(path)?).map_err(|issues| ConfigError {
        path: path.to_owned(),
        issues,
    })
}

pub fn load_risk_limits(path: &Path) -> Result<RiskLimitsConfig, ConfigError> {
    parse_risk_limits(&read(path)?).map_err(|issues| ConfigError {
        path: path.to_owned(),
        issues,
    })
}

/// Loads `appliance.toml` and the risk file it names, and checks them against each other.
pub fn load(path: &Path) -> Result<(ApplianceConfig, RiskLimitsConfig), ConfigError> {
    let appliance = load_appliance(path)?;
    let risk_path = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&appliance.appliance.risk_limits);
    let risk = load_risk_limits(&risk_path)?;
    let issues = cross_file_rules(&appliance, &risk);
    if issues.is_empty() {
        Ok((appliance, risk))
    } else {
        Err(ConfigError {
            path: risk_path,
            issues,
        })
    }
}
