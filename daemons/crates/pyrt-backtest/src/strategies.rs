//! Strategies written in Rust, for speed (sweeps, benchmarks) and as references for the Python
//! ones.

use pyrt_fill::BarPrices;
use pyrt_indicators::{Indicator, IndicatorError, Sma};
use pyrt_types::{Qty, Side, SymbolId};

use crate::engine::{Ctx, Strategy, StrategyResult};

/// Moving-average crossover on one symbol's closes: when the fast SMA crosses above the slow one,
/// go long `qty` (covering a short first); when it crosses below, close the long (and go short
/// `qty` when `allow_short`). A cross is judged as backtrader's `CrossOver` does: against the last
/// bar on which the two averages differed, so a bar where they are equal neither makes nor hides
/// a cross.
#[derive(Debug, Clone)]
pub struct SmaCross {
    symbol: SymbolId,
    fast: Sma,
    slow: Sma,
    qty: Qty,
    allow_short: bool,
    /// Sign of fast − slow on the last bar where it was not zero (0 before any).
    last_sign: i8,
}

impl SmaCross {
    pub fn new(
        symbol: SymbolId,
        fast: usize,
        slow: usize,
        qty: Qty,
        allow_short: bool,
    ) -> Result<Self, IndicatorError> {
        Ok(Self {
            symbol,
            fast: Sma::new(fast)?,
            slow: Sma::new(slow)?,
            qty,
            allow_short,
            last_sign: 0,
        })
    }
}

impl Strategy for SmaCross {
    #[inline]
    fn on_bar(
        &mut self,
        ctx: &mut Ctx,
        symbol: SymbolId,
        bar: &BarPrices,
        _index: usize,
    ) -> StrategyResult {
        if symbol != self.symbol {
            return Ok(());
        }
        let close = bar.close.to_f64_lossy();
        let (Some(fast), Some(slow)) = (self.fast.update(close), self.slow.update(close)) else {
            return Ok(());
        };
        let sign = match fast.partial_cmp(&slow) {
            Some(std::cmp::Ordering::Greater) => 1,
            Some(std::cmp::Ordering::Less) => -1,
            _ => return Ok(()),
        };
        let crossed = self.last_sign != 0 && sign != self.last_sign;
        self.last_sign = sign;
        if !crossed {
            return Ok(());
        }
        let position = ctx.position(symbol);
        if sign > 0 {
            let cover = if position.is_negative() {
                position.abs()
            } else {
                Qty::ZERO
            };
            let buy = cover.saturating_add(if position.raw() > 0 {
                Qty::ZERO
            } else {
                self.qty
            });
            if !buy.is_zero() {
                ctx.market(symbol, Side::Buy, buy);
            }
        } else {
            let close_long = if position.raw() > 0 {
                position
            } else {
                Qty::ZERO
            };
            let short = if self.allow_short && !position.is_negative() {
                self.qty
            } else {
                Qty::ZERO
            };
            let total = close_long.saturating_add(short);
            if !total.is_zero() {
                ctx.market(symbol, Side::Sell, total);
            }
        }
        Ok(())
    }
}
