//! File names in the runtime directory, one place for every daemon and the supervisor.

use std::path::{Path, PathBuf};

/// Market data, md → strategy and risk (broadcast).
pub const MD: &str = "md.ring";
/// Target positions, strategy → risk (queue).
pub const SIGNAL: &str = "signal.ring";
/// Stamped intents, risk → exec (queue).
pub const ORDER: &str = "order.ring";
pub const CONTROL: &str = "control";
/// Who reads exec's acks and fills, each from a queue of its own.
pub const FILL_CONSUMERS: [&str; 2] = ["risk", "strategy"];

/// The fill queue of one consumer.
#[must_use]
pub fn fill(runtime_dir: &Path, consumer: &str) -> PathBuf {
    runtime_dir.join(format!("fill.{consumer}.ring"))
}
