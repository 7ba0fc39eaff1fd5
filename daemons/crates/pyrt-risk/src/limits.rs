//! Limits as the risk engine uses them: fixed point, indexed by `SymbolId`. Built from the
//! validated `risk_limits.toml` (by the risk daemon and the backtester); this crate does not read
//! files.

use pyrt_config::model::{KillSwitchOn, RiskLimitsConfig};
use pyrt_types::{Notional, Qty, SymbolTable};

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
    /// The engine's limits from the validated file, indexed by the universe's symbol ids. A
    /// symbol with neither a table of its own nor `[defaults]` may not be traded.
    #[must_use]
    pub fn from_config(config: &RiskLimitsConfig, symbols: &SymbolTable) -> Self {
        let g = &config.global;
        let kill_on = |k| g.kill_switch_on.contains(&k);
        Self {
            symbols: symbols
                .names()
                .map(|name| {
                    config.limits_for(name).map(|l| SymbolLimits {
                        max_order_qty: l.max_order_qty,
                        max_order_notional: l.max_order_notional,
                        max_position: l.max_position,
                    })
                })
                .collect(),
            max_gross_exposure: g.max_gross_exposure,
            max_net_exposure: g.max_net_exposure,
            daily_loss_limit: g.daily_loss_limit,
            max_open_orders: g.max_open_orders,
            max_orders_per_second: g.max_orders_per_second,
            max_messages_per_second: g.max_messages_per_second,
            price_collar_bps: i64::from(g.price_collar_bps),
            max_quote_age_ns: i64::from(g.max_quote_age_ms) * 1_000_000,
            duplicate_window_ns: i64::from(g.duplicate_window_ms) * 1_000_000,
            kill_on: KillOn {
                daily_loss: kill_on(KillSwitchOn::DailyLoss),
                gross_exposure: kill_on(KillSwitchOn::GrossExposure),
                message_rate: kill_on(KillSwitchOn::MessageRate),
            },
        }
    }

    #[must_use]
    pub fn symbol(&self, id: pyrt_types::SymbolId) -> Option<&SymbolLimits> {
        self.symbols.get(id.0 as usize)?.as_ref()
    }
}
