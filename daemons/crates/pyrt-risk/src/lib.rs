//! Pre-trade risk: the only gate between a strategy's intent and the order ring.
//!
//! [`RiskEngine::check`] runs every limit of `risk_limits.toml` against the engine's own view of
//! positions, open orders, marks and rates, and on acceptance stamps the intent. exec verifies the
//! stamp with [`verify`] and refuses anything unstamped, so no order reaches the broker without
//! passing here. The same engine runs inside the backtester, so a backtest can trade under the live
//! limits.

mod calendar;
mod engine;
mod limits;

pub use calendar::NyDate;
pub use engine::{Decision, Reject, RiskEngine};
pub use limits::{KillOn, RiskLimits, SymbolLimits};
use pyrt_types::OrderIntent;

fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser: cheap, and every input bit affects every output bit.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The risk stamp of an intent under the session `key`: a keyed digest of every field exec acts
/// on. It guards against intents that did not come through risk (a stray writer, a stale ring),
/// not against an attacker with access to the host. Never zero, so zero means "unstamped".
#[must_use]
pub fn stamp(intent: &OrderIntent, key: u64) -> u32 {
    let fields = [
        intent.intent_seq,
        intent.ref_seq,
        u64::from(intent.header.symbol.0),
        intent.qty.raw().cast_unsigned(),
        intent.limit_price.raw().cast_unsigned(),
        intent.stop_price.raw().cast_unsigned(),
        u64::from_le_bytes([
            intent.side,
            intent.order_type,
            intent.time_in_force,
            intent.action,
            0,
            0,
            0,
            0,
        ]),
    ];
    let digest = fields.iter().fold(mix(key), |h, &f| mix(h ^ f));
    // The low half of a well-mixed digest; truncation is the point.
    #[allow(clippy::cast_possible_truncation)]
    let low = digest as u32;
    low.max(1)
}

/// Whether `intent` carries the stamp risk would have given it.
#[must_use]
pub fn verify(intent: &OrderIntent, key: u64) -> bool {
    intent.risk_stamp != 0 && intent.risk_stamp == stamp(intent, key)
}
