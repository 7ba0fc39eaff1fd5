//! Cash, positions and round-trip trades in fixed point.
//!
//! Positions are kept as FIFO lots so every closing fill is matched to the fills that opened it:
//! that gives the trade list (entry, exit, P&L net of both sides' fees) and makes equity exactly
//! cash plus the marked value of the lots.

use std::collections::VecDeque;

use pyrt_types::{Notional, Price, Qty, Rounding, Side, SymbolId};

#[derive(Debug, Clone, Copy)]
struct Lot {
    /// Signed: negative for a short lot.
    qty: Qty,
    price: Price,
    ts: i64,
    step: u64,
    /// Entry fee not yet attributed to a closed trade.
    fee: Notional,
}

#[derive(Debug, Clone, Default)]
struct Position {
    qty: Qty,
    mark: Price,
    /// qty × mark, kept current so equity costs an addition per event, not a product per symbol.
    value: Notional,
    lots: VecDeque<Lot>,
}

/// A closed round trip (or the closed part of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeRecord {
    pub symbol: SymbolId,
    pub long: bool,
    pub qty: Qty,
    pub entry_ts: i64,
    pub exit_ts: i64,
    pub entry_price: Price,
    pub exit_price: Price,
    /// Net of the entry and exit fees attributed to this quantity.
    pub pnl: Notional,
    pub fees: Notional,
    /// Timeline steps of entry and exit (bars held, for bar data).
    pub entry_step: u64,
    pub exit_step: u64,
}

#[derive(Debug, Clone)]
pub struct Portfolio {
    cash: Notional,
    positions: Vec<Position>,
    /// Σ position values and Σ |position values|, maintained incrementally.
    market_value: Notional,
    gross: Notional,
    fees: Notional,
    dividends: Notional,
    trades: Vec<TradeRecord>,
    record_trades: bool,
    closed_trades: u64,
}

/// `amount × part / whole`, for attributing a fee to part of a fill.
fn share(amount: Notional, part: Qty, whole: Qty) -> Notional {
    if whole.is_zero() {
        return Notional::ZERO;
    }
    let raw = i128::from(amount.raw()) * i128::from(part.raw()) / i128::from(whole.raw());
    Notional::from_raw(i64::try_from(raw).unwrap_or(0))
}

fn signed(side: Side, qty: Qty) -> Qty {
    match side {
        Side::Buy => qty,
        Side::Sell => Qty::from_raw(qty.raw().saturating_neg()),
    }
}

fn value(price: Price, qty: Qty) -> Notional {
    price.checked_notional(qty).unwrap_or(Notional::MAX)
}

impl Portfolio {
    #[must_use]
    pub fn new(cash: Notional, symbols: usize, record_trades: bool) -> Self {
        Self {
            cash,
            positions: vec![Position::default(); symbols],
            market_value: Notional::ZERO,
            gross: Notional::ZERO,
            fees: Notional::ZERO,
            dividends: Notional::ZERO,
            trades: Vec::new(),
            record_trades,
            closed_trades: 0,
        }
    }

    #[must_use]
    pub fn cash(&self) -> Notional {
        self.cash
    }

    #[must_use]
    pub fn position(&self, symbol: SymbolId) -> Qty {
        self.positions
            .get(symbol.0 as usize)
            .map_or(Qty::ZERO, |p| p.qty)
    }

    #[must_use]
    pub fn fees(&self) -> Notional {
        self.fees
    }

    #[must_use]
    pub fn dividends(&self) -> Notional {
        self.dividends
    }

    #[must_use]
    pub fn trades(&self) -> &[TradeRecord] {
        &self.trades
    }

    #[must_use]
    pub fn closed_trades(&self) -> u64 {
        self.closed_trades
    }

    pub fn set_mark(&mut self, symbol: SymbolId, price: Price) {
        if let Some(p) = self.positions.get_mut(symbol.0 as usize) {
            p.mark = price;
            if !p.qty.is_zero() {
                self.revalue(symbol);
            }
        }
    }

    /// Recomputes one position's value and the running totals after its mark or size changed.
    fn revalue(&mut self, symbol: SymbolId) {
        let Some(p) = self.positions.get_mut(symbol.0 as usize) else {
            return;
        };
        let old = p.value;
        p.value = if p.qty.is_zero() {
            Notional::ZERO
        } else {
            value(p.mark, p.qty)
        };
        self.market_value = self
            .market_value
            .saturating_add(p.value.saturating_sub(old));
        self.gross = self
            .gross
            .saturating_add(p.value.abs().saturating_sub(old.abs()));
    }

    #[must_use]
    pub fn mark(&self, symbol: SymbolId) -> Price {
        self.positions
            .get(symbol.0 as usize)
            .map_or(Price::ZERO, |p| p.mark)
    }

    /// Cash plus every position at its mark.
    #[must_use]
    pub fn equity(&self) -> Notional {
        self.cash.saturating_add(self.market_value)
    }

    /// Σ |position × mark|.
    #[must_use]
    pub fn gross_exposure(&self) -> Notional {
        self.gross
    }

    /// Books an execution: cash moves by the notional and the fee, closing quantity is matched
    /// against the oldest opposite lots, the rest opens a lot.
    #[allow(clippy::too_many_arguments)]
    pub fn apply_fill(
        &mut self,
        symbol: SymbolId,
        side: Side,
        qty: Qty,
        price: Price,
        fee: Notional,
        ts: i64,
        step: u64,
    ) {
        let notional = value(price, qty);
        self.cash = match side {
            Side::Buy => self.cash.saturating_sub(notional),
            Side::Sell => self.cash.saturating_add(notional),
        }
        .saturating_sub(fee);
        self.fees = self.fees.saturating_add(fee);
        let Some(position) = self.positions.get_mut(symbol.0 as usize) else {
            return;
        };
        let delta = signed(side, qty);
        position.qty = position.qty.saturating_add(delta);
        let mut remaining = qty;
        while !remaining.is_zero() {
            let Some(lot) = position.lots.front_mut() else {
                break;
            };
            if (lot.qty.raw() > 0) == (delta.raw() > 0) {
                break;
            }
            let lot_size = lot.qty.abs();
            let closing = remaining.min(lot_size);
            let entry_fee = share(lot.fee, closing, lot_size);
            let exit_fee = share(fee, closing, qty);
            let long = lot.qty.raw() > 0;
            let gross = value(price, closing).saturating_sub(value(lot.price, closing));
            let gross = if long {
                gross
            } else {
                Notional::from_raw(gross.raw().saturating_neg())
            };
            self.closed_trades += 1;
            if self.record_trades {
                self.trades.push(TradeRecord {
                    symbol,
                    long,
                    qty: closing,
                    entry_ts: lot.ts,
                    exit_ts: ts,
                    entry_price: lot.price,
                    exit_price: price,
                    pnl: gross.saturating_sub(entry_fee).saturating_sub(exit_fee),
                    fees: entry_fee.saturating_add(exit_fee),
                    entry_step: lot.step,
                    exit_step: step,
                });
            }
            lot.fee = lot.fee.saturating_sub(entry_fee);
            lot.qty = Qty::from_raw(lot.qty.raw().signum() * (lot_size.raw() - closing.raw()));
            remaining = remaining.saturating_sub(closing);
            if lot.qty.is_zero() {
                position.lots.pop_front();
            }
        }
        if !remaining.is_zero() {
            position.lots.push_back(Lot {
                qty: signed(side, remaining),
                price,
                ts,
                step,
                fee: share(fee, remaining, qty),
            });
        }
        self.revalue(symbol);
    }

    /// Cash dividend on the ex-date: longs receive, shorts pay.
    pub fn dividend(&mut self, symbol: SymbolId, per_share: Price) {
        let Some(position) = self.positions.get(symbol.0 as usize) else {
            return;
        };
        let amount = value(per_share, position.qty);
        self.cash = self.cash.saturating_add(amount);
        self.dividends = self.dividends.saturating_add(amount);
    }

    /// A split of `ratio` new shares per old: quantities multiply, lot prices divide, so value
    /// and cost are unchanged (to the last nanodollar: prices round down).
    pub fn split(&mut self, symbol: SymbolId, ratio: Qty) {
        let Some(position) = self.positions.get_mut(symbol.0 as usize) else {
            return;
        };
        // The data layer refuses ratios that are not positive; quantities and prices of real
        // accounts are far from overflowing a ratio of at most a few thousand.
        let times = |q: Qty| q.checked_split(ratio).unwrap_or(q);
        let per = |p: Price| p.checked_split(ratio, Rounding::Down).unwrap_or(p);
        position.qty = times(position.qty);
        for lot in &mut position.lots {
            lot.qty = times(lot.qty);
            lot.price = per(lot.price);
        }
        position.mark = per(position.mark);
        self.revalue(symbol);
    }
}
