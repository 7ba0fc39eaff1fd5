//! Limits as the risk engine uses them: fixed point, indexed by `SymbolId`. Built from the
//! validated `risk_limits.toml` by the daemon; this crate does not read files.

use pyrt_types::{Notional, Qty};

/// Per-order and per-position limits of one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolLimits {
    pub max_order_qty: Qty,
    pub max_order_notional: Notional,
    /// Largest absolute position, counting open orders on the side that would grow it.
    pub max_position: Qty,
}

/// Breaches that trip the kill switch instead of only rejecting the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KillOn {
    pub daily_loss: bool,
    pub gross_exposure: bool,
    pub message_rate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskLimits {
    /// Limits per symbol id; `None` means the symbol may not be traded.
    pub symbols: Vec<Option<SymbolLimits>>,
    /// Sum of |position × price| over symbols, open orders included.
    pub max_gross_exposure: Notional,
    /// |Σ position × price| over symbols, open orders included.
    pub max_net_exposure: Notional,
    /// Realised plus marked loss for the day at which trading stops (a positive amount).
    pub daily_loss_limit: Notional,
    pub max_open_orders: u32,
    pub max_orders_per_second: u32,
    pub max_messages_per_second: u32,
    /// A limit price may be at most this far from the reference price, in basis points.
    pub price_collar_bps: i64,
    /// A quote older than this cannot price an order.
    pub max_quote_age_ns: i64,
    /// The same order (symbol, side, qty, price) again within this window is a duplicate.
    pub duplicate_window_ns: i64,
    pub kill_on: KillOn,
}

impl RiskLimits {
    #[must_use]
    pub fn symbol(&self, id: pyrt_types::SymbolId) -> Option<&SymbolLimits> {
        self.symbols.get(id.0 as usize)?.as_ref()
    }
}
