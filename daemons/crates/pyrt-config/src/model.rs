//! Typed configuration, mirroring the pydantic models in `pyrt/config/models.py` field for field.
//! Unknown fields are refused; defaults are the models' defaults.

use std::collections::BTreeMap;

use pyrt_types::{Notional, Qty};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplianceConfig {
    pub appliance: ApplianceSection,
    pub broker: Broker,
    pub sim: Sim,
    pub universe: Universe,
    pub daemons: Daemons,
    pub rings: Rings,
    pub telemetry: Telemetry,
    pub model: Model,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Sim,
    Paper,
    Live,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplianceSection {
    pub name: String,
    pub mode: Mode,
    pub runtime_dir: String,
    pub log_dir: String,
    #[serde(default = "default_state_dir")]
    pub state_dir: String,
    pub risk_limits: String,
}

fn default_state_dir() -> String {
    "/var/lib/pyrt".to_owned()
}

fn default_key_id_env() -> String {
    "APCA_API_KEY_ID".into()
}

fn default_secret_key_env() -> String {
    "APCA_API_SECRET_KEY".into()
}

fn default_requests_per_minute() -> u32 {
    180
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    pub trading_base_url: String,
    pub data_base_url: String,
    pub data_stream_url: String,
    pub data_feed: String,
    /// `msgpack` or `json` (the schema allows no other).
    #[serde(default = "default_data_stream_encoding")]
    pub data_stream_encoding: String,
    #[serde(default = "default_key_id_env")]
    pub key_id_env: String,
    #[serde(default = "default_secret_key_env")]
    pub secret_key_env: String,
    #[serde(default = "default_requests_per_minute")]
    pub requests_per_minute: u32,
    #[serde(default = "default_crypto_stream_url")]
    pub crypto_stream_url: String,
}

fn default_data_stream_encoding() -> String {
    "msgpack".into()
}

fn default_crypto_stream_url() -> String {
    "wss://stream.data.alpaca.markets/v1beta3/crypto/us".into()
}

fn default_host() -> String {
    "127.0.0.1".into()
}

fn default_port() -> u16 {
    8765
}

fn default_speed() -> String {
    "max".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sim {
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_speed")]
    pub speed: String,
    #[serde(default)]
    pub seed: u64,
    pub data_dir: String,
    /// Read by the simulator (Python); the daemons only accept the table.
    #[serde(default)]
    pub faults: SimFaults,
}

/// Faults the simulator injects (`[sim.faults]`); ranges are the JSON Schema's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimFaults {
    pub server_error_every: u32,
    pub throttle_every: u32,
    pub ack_delay_ms: u32,
    pub drop_stream_after: u32,
    pub drop_data_stream_after: u32,
    pub lost_ack_every: u32,
    pub reject_every: u32,
    pub fill_fraction_bps: u32,
}

impl Default for SimFaults {
    fn default() -> Self {
        Self {
            server_error_every: 0,
            throttle_every: 0,
            ack_delay_ms: 0,
            drop_stream_after: 0,
            drop_data_stream_after: 0,
            lost_ack_every: 0,
            reject_every: 0,
            fill_fraction_bps: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Universe {
    pub symbols: Vec<String>,
    /// Crypto pairs md follows for their order books (data only); ids after the equities'.
    #[serde(default)]
    pub crypto: Vec<String>,
}

impl Universe {
    /// Every symbol in id order: the equities, then the crypto pairs.
    #[must_use]
    pub fn all(&self) -> Vec<String> {
        self.symbols.iter().chain(&self.crypto).cloned().collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WaitStrategy {
    BusySpin,
    SpinYield,
    #[default]
    Park,
}

fn default_heartbeat_ms() -> u32 {
    100
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Daemon {
    #[serde(default)]
    pub core: Option<usize>,
    #[serde(default)]
    pub sched_fifo: bool,
    #[serde(default)]
    pub mlockall: bool,
    #[serde(default)]
    pub wait_strategy: WaitStrategy,
    pub metrics_port: u16,
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Daemons {
    pub md: Daemon,
    pub strategy: Daemon,
    pub risk: Daemon,
    pub exec: Daemon,
}

impl Daemons {
    /// In the fixed order md, strategy, risk, exec.
    #[must_use]
    pub fn all(&self) -> [(&'static str, &Daemon); 4] {
        [
            ("md", &self.md),
            ("strategy", &self.strategy),
            ("risk", &self.risk),
            ("exec", &self.exec),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rings {
    pub md: u64,
    pub signal: u64,
    pub order: u64,
    pub fill: u64,
}

fn default_interval_s() -> u32 {
    10
}

fn default_max_latency_ns() -> u64 {
    10_000_000_000
}

fn default_significant_figures() -> u8 {
    3
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    #[serde(default = "default_interval_s")]
    pub interval_s: u32,
    #[serde(default = "default_max_latency_ns")]
    pub max_latency_ns: u64,
    #[serde(default = "default_significant_figures")]
    pub significant_figures: u8,
}

fn default_keep() -> u32 {
    3
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub watch_dir: String,
    #[serde(default = "default_keep")]
    pub keep: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolLimits {
    pub max_order_qty: Qty,
    pub max_order_notional: Notional,
    pub max_position: Qty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillSwitchOn {
    DailyLoss,
    GrossExposure,
    MessageRate,
}

fn default_quote_age_ms() -> u32 {
    5000
}

fn default_duplicate_window_ms() -> u32 {
    500
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalLimits {
    pub max_gross_exposure: Notional,
    pub max_net_exposure: Notional,
    pub daily_loss_limit: Notional,
    pub max_open_orders: u32,
    pub max_orders_per_second: u32,
    pub max_messages_per_second: u32,
    pub price_collar_bps: u32,
    #[serde(default = "default_quote_age_ms")]
    pub max_quote_age_ms: u32,
    #[serde(default = "default_duplicate_window_ms")]
    pub duplicate_window_ms: u32,
    #[serde(default)]
    pub kill_switch_on: Vec<KillSwitchOn>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLimitsConfig {
    pub global: GlobalLimits,
    #[serde(default)]
    pub defaults: Option<SymbolLimits>,
    #[serde(default)]
    pub symbols: BTreeMap<String, SymbolLimits>,
}

impl RiskLimitsConfig {
    /// The limits that apply to `symbol`: its own table, else `[defaults]`.
    #[must_use]
    pub fn limits_for(&self, symbol: &str) -> Option<&SymbolLimits> {
        self.symbols.get(symbol).or(self.defaults.as_ref())
    }
}
