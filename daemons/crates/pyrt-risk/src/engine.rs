//! The pre-trade gate and the post-trade book it checks against.

use pyrt_types::{
    Fill, IntentAction, Notional, OrderAck, OrderIntent, OrderType, Price, Qty, Quote, Side,
    SymbolId, Timestamp, Trade,
};
use rustc_hash::FxHashMap;

use crate::calendar::NyDate;
use crate::limits::RiskLimits;
use crate::stamp;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

macro_rules! rejects {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// Why an intent was refused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Reject { $($variant),+ }

        impl Reject {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// Stable label for metrics and logs.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }
    };
}

rejects! {
    KillSwitch => "kill_switch",
    InvalidIntent => "invalid_intent",
    UnknownSymbol => "unknown_symbol",
    OrderQty => "order_qty",
    OrderNotional => "order_notional",
    Position => "position",
    GrossExposure => "gross_exposure",
    NetExposure => "net_exposure",
    NoReferencePrice => "no_reference_price",
    StaleQuote => "stale_quote",
    PriceCollar => "price_collar",
    OrderRate => "order_rate",
    MessageRate => "message_rate",
    DailyLoss => "daily_loss",
    OpenOrders => "open_orders",
    Duplicate => "duplicate",
    UnknownOrder => "unknown_order",
}

/// The gate's answer for one intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Stamped and may go to the order ring.
    Accept,
    Reject(Reject),
    /// Refused, and severe enough that the kill switch must be set.
    Kill(Reject),
}

#[derive(Debug, Clone, Copy, Default)]
struct SymbolState {
    /// Signed: negative when short.
    position: Qty,
    /// Signed cost of the open position.
    cost: Notional,
    realized: Notional,
    open_buy: Qty,
    open_sell: Qty,
    bid: Price,
    ask: Price,
    last: Price,
    quote_ts: Timestamp,
}

impl SymbolState {
    /// Mid of a two-sided quote, else the last trade; `None` before any market data.
    fn mark(&self) -> Option<Price> {
        if self.bid.raw() > 0 && self.ask.raw() > 0 {
            Some(Price::from_raw(
                self.bid.raw() / 2
                    + self.ask.raw() / 2
                    + i64::midpoint(self.bid.raw() % 2, self.ask.raw() % 2),
            ))
        } else if self.last.raw() > 0 {
            Some(self.last)
        } else {
            None
        }
    }

    /// An open order on `side` can no longer fill `qty` (filled, canceled, replaced).
    fn release(&mut self, side: Side, qty: Qty) {
        let open = match side {
            Side::Buy => &mut self.open_buy,
            Side::Sell => &mut self.open_sell,
        };
        *open = open.saturating_sub(qty).max(Qty::ZERO);
    }

    /// Worst-case absolute position if every open order on one side filled.
    fn worst_position(&self, extra_buy: Qty, extra_sell: Qty) -> Qty {
        let long = self
            .position
            .saturating_add(self.open_buy)
            .saturating_add(extra_buy);
        let short = self
            .position
            .saturating_sub(self.open_sell)
            .saturating_sub(extra_sell);
        long.abs().max(short.abs())
    }
}

#[derive(Debug, Clone, Copy)]
struct OpenOrder {
    symbol: SymbolId,
    side: Side,
    leaves: Qty,
}

/// Timestamps of the last `capacity` events, to enforce "at most N per second".
#[derive(Debug, Clone)]
struct RateWindow {
    times: Vec<i64>,
    head: usize,
}

impl RateWindow {
    fn new(per_second: u32) -> Self {
        Self {
            times: vec![i64::MIN; per_second.max(1) as usize],
            head: 0,
        }
    }

    /// Whether one more event at `now` stays within the limit; records it if so.
    fn admit(&mut self, now: i64) -> bool {
        let oldest = self.times[self.head];
        if oldest != i64::MIN && now.saturating_sub(oldest) < NANOS_PER_SECOND {
            return false;
        }
        self.times[self.head] = now;
        self.head = (self.head + 1) % self.times.len();
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecentOrder {
    symbol: SymbolId,
    side: u8,
    order_type: u8,
    qty: Qty,
    limit: Price,
    at: i64,
}

const RECENT: usize = 64;

/// Positions, P&L, open orders and rates, and the checks over them. All state is preallocated at
/// construction; checking an intent does not allocate.
#[derive(Debug, Clone)]
pub struct RiskEngine {
    limits: RiskLimits,
    key: u64,
    symbols: Vec<SymbolState>,
    open: FxHashMap<u64, OpenOrder>,
    orders: RateWindow,
    messages: RateWindow,
    recent: [Option<RecentOrder>; RECENT],
    recent_head: usize,
    killed: bool,
    rejects: [u64; Reject::ALL.len()],
    /// Realised plus marked P&L when the trading day began; the daily loss is measured from it.
    day_start_pnl: Notional,
    /// The New York date [`Self::roll_day`] last began, and when it ends (UTC ns).
    day: Option<NyDate>,
    day_ends_ns: i64,
}

fn exceeds(amount: Notional, limit: Notional) -> bool {
    amount.abs() > limit
}

impl RiskEngine {
    /// `key` is the session's stamp key, shared with exec through the control block.
    #[must_use]
    pub fn new(limits: RiskLimits, key: u64) -> Self {
        let symbols = vec![SymbolState::default(); limits.symbols.len()];
        let open_capacity = (limits.max_open_orders as usize).saturating_mul(2).max(16);
        Self {
            orders: RateWindow::new(limits.max_orders_per_second),
            messages: RateWindow::new(limits.max_messages_per_second),
            open: FxHashMap::with_capacity_and_hasher(open_capacity, rustc_hash::FxBuildHasher),
            limits,
            key,
            symbols,
            recent: [None; RECENT],
            recent_head: 0,
            killed: false,
            rejects: [0; Reject::ALL.len()],
            day_start_pnl: Notional::ZERO,
            day: None,
            day_ends_ns: i64::MIN,
        }
    }

    /// New limits (a validated config generation); positions, orders and P&L are kept.
    pub fn set_limits(&mut self, limits: RiskLimits) {
        if limits.symbols.len() > self.symbols.len() {
            self.symbols
                .resize(limits.symbols.len(), SymbolState::default());
        }
        self.orders = RateWindow::new(limits.max_orders_per_second);
        self.messages = RateWindow::new(limits.max_messages_per_second);
        self.limits = limits;
    }

    pub fn set_kill_switch(&mut self, on: bool) {
        self.killed = on;
    }

    #[must_use]
    pub fn kill_switch(&self) -> bool {
        self.killed
    }

    /// Rejects so far, by reason, in [`Reject::ALL`] order.
    #[must_use]
    pub fn reject_counts(&self) -> &[u64] {
        &self.rejects
    }

    #[must_use]
    pub fn open_orders(&self) -> usize {
        self.open.len()
    }

    #[must_use]
    pub fn position(&self, symbol: SymbolId) -> Qty {
        self.symbols
            .get(symbol.0 as usize)
            .map_or(Qty::ZERO, |s| s.position)
    }

    pub fn on_quote(&mut self, quote: &Quote) {
        if let Some(s) = self.symbols.get_mut(quote.header.symbol.0 as usize) {
            s.bid = quote.bid_price;
            s.ask = quote.ask_price;
            s.quote_ts = quote.ts_event.max(quote.header.ts_origin);
        }
    }

    pub fn on_trade(&mut self, trade: &Trade) {
        if let Some(s) = self.symbols.get_mut(trade.header.symbol.0 as usize) {
            s.last = trade.price;
        }
    }

    /// Applies an execution: position, cost, realised P&L, and the order's remaining size.
    pub fn on_fill(&mut self, fill: &Fill) {
        let Ok(side) = fill.side() else { return };
        if let Some(order) = self.open.get_mut(&fill.intent_seq) {
            order.leaves = fill.leaves_qty;
            let state = &mut self.symbols[order.symbol.0 as usize];
            state.release(side, fill.qty);
            if fill.leaves_qty.is_zero() {
                self.open.remove(&fill.intent_seq);
            }
        }
        if let Some(state) = self.symbols.get_mut(fill.header.symbol.0 as usize) {
            apply_fill(state, side, fill.qty, fill.price);
        }
    }

    /// Books again an order this engine accepted before a restart (from exec's intents journal),
    /// without checking it: it is already on its way, and its later acks and fills release it.
    /// An order of a symbol outside this universe is ignored.
    pub fn restore_open(&mut self, intent: &OrderIntent) {
        if (intent.header.symbol.0 as usize) < self.symbols.len() {
            self.book(intent, intent.header.ts_origin.unix_nanos());
        }
    }

    /// Releases what an order no longer can fill once the broker says it is done.
    pub fn on_ack(&mut self, ack: &OrderAck) {
        let done = ack.status().is_ok_and(pyrt_types::OrderStatus::is_final);
        if !done {
            return;
        }
        if let Some(order) = self.open.remove(&ack.intent_seq) {
            let state = &mut self.symbols[order.symbol.0 as usize];
            state.release(order.side, order.leaves);
        }
    }

    /// A new trading day: the daily loss limit counts from here. The risk daemon gets here through
    /// [`Self::roll_day`] on the first event of each New York date; a backtest spanning many days
    /// calls this at each session.
    pub fn start_day(&mut self) {
        self.day_start_pnl = self.total_pnl();
    }

    /// Starts a new trading day when `ts`, an event's time, falls on a later New York date than
    /// the day in progress (the first call starts the first day); returns whether it did. Costs one
    /// comparison on every other call. Time only moves forward here: a late event of an earlier
    /// date (a replayed fill) does not reopen that day.
    #[inline]
    pub fn roll_day(&mut self, ts: Timestamp) -> bool {
        if ts.unix_nanos() < self.day_ends_ns {
            return false;
        }
        self.begin_day(NyDate::of(ts));
        true
    }

    #[cold]
    fn begin_day(&mut self, day: NyDate) {
        self.day = Some(day);
        self.day_ends_ns = day.next().start().unix_nanos();
        self.start_day();
    }

    /// The New York date of the trading day [`Self::roll_day`] began last.
    #[must_use]
    pub fn trading_day(&self) -> Option<NyDate> {
        self.day
    }

    /// Realised plus marked P&L of the day.
    #[must_use]
    pub fn pnl(&self) -> Notional {
        self.total_pnl().saturating_sub(self.day_start_pnl)
    }

    fn total_pnl(&self) -> Notional {
        self.symbols.iter().fold(Notional::ZERO, |total, s| {
            let marked = s
                .mark()
                .and_then(|m| m.checked_notional(s.position).ok())
                .unwrap_or(s.cost);
            total
                .saturating_add(s.realized)
                .saturating_add(marked.saturating_sub(s.cost))
        })
    }

    /// (gross, net) exposure now, at marks, open orders counted at their worst.
    #[must_use]
    pub fn current_exposure(&self) -> (Notional, Notional) {
        self.exposure(None)
    }

    #[must_use]
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// (gross, net) exposure at marks, counting open orders at their worst.
    fn exposure(&self, extra: Option<(SymbolId, Side, Qty)>) -> (Notional, Notional) {
        let mut gross = Notional::ZERO;
        let mut net = Notional::ZERO;
        for (i, s) in self.symbols.iter().enumerate() {
            let (extra_buy, extra_sell) = match extra {
                Some((id, Side::Buy, q)) if id.0 as usize == i => (q, Qty::ZERO),
                Some((id, Side::Sell, q)) if id.0 as usize == i => (Qty::ZERO, q),
                _ => (Qty::ZERO, Qty::ZERO),
            };
            let Some(mark) = s.mark() else { continue };
            let worst = s.worst_position(extra_buy, extra_sell);
            gross = gross.saturating_add(mark.checked_notional(worst).unwrap_or(Notional::MAX));
            let signed = s
                .position
                .saturating_add(s.open_buy)
                .saturating_add(extra_buy)
                .saturating_sub(s.open_sell)
                .saturating_sub(extra_sell);
            net = net.saturating_add(mark.checked_notional(signed).unwrap_or(Notional::MAX));
        }
        (gross, net)
    }

    /// Daily-loss check outside an order (after marks move); `Some` means trip the kill switch.
    pub fn post_trade_breach(&mut self) -> Option<Reject> {
        let breached = self
            .pnl()
            .saturating_add(self.limits.daily_loss_limit)
            .is_negative();
        (breached && self.limits.kill_on.daily_loss).then_some(Reject::DailyLoss)
    }

    fn refuse(&mut self, reason: Reject, kill: bool) -> Decision {
        self.rejects[reason as usize] += 1;
        if kill {
            self.killed = true;
            Decision::Kill(reason)
        } else {
            Decision::Reject(reason)
        }
    }

    /// Checks an intent at `now`; on acceptance stamps it and books it as open.
    pub fn check(&mut self, intent: &mut OrderIntent, now: Timestamp) -> Decision {
        let now_ns = now.unix_nanos();
        if !self.messages.admit(now_ns) {
            let kill = self.limits.kill_on.message_rate;
            return self.refuse(Reject::MessageRate, kill);
        }
        let Ok(action) = intent.action() else {
            return self.refuse(Reject::InvalidIntent, false);
        };
        if action == IntentAction::Cancel {
            // Cancels reduce risk: allowed even with the kill switch set.
            if !self.open.contains_key(&intent.ref_seq) {
                return self.refuse(Reject::UnknownOrder, false);
            }
            intent.risk_stamp = stamp(intent, self.key);
            return Decision::Accept;
        }
        if self.killed {
            return self.refuse(Reject::KillSwitch, false);
        }
        if action == IntentAction::Replace && !self.open.contains_key(&intent.ref_seq) {
            return self.refuse(Reject::UnknownOrder, false);
        }
        match self.check_new(intent, now_ns) {
            Ok(()) => {
                self.book(intent, now_ns);
                intent.risk_stamp = stamp(intent, self.key);
                Decision::Accept
            }
            Err((reason, kill)) => self.refuse(reason, kill),
        }
    }

    fn check_new(&mut self, intent: &OrderIntent, now: i64) -> Result<(), (Reject, bool)> {
        let invalid = (Reject::InvalidIntent, false);
        let side = intent.side().map_err(|_| invalid)?;
        let order_type = intent.order_type().map_err(|_| invalid)?;
        intent.time_in_force().map_err(|_| invalid)?;
        if intent.qty.raw() <= 0 {
            return Err(invalid);
        }
        let symbol = intent.header.symbol;
        let limits = *self
            .limits
            .symbol(symbol)
            .ok_or((Reject::UnknownSymbol, false))?;
        let state = self
            .symbols
            .get(symbol.0 as usize)
            .copied()
            .ok_or((Reject::UnknownSymbol, false))?;
        if intent.qty > limits.max_order_qty {
            return Err((Reject::OrderQty, false));
        }
        let reference = self.reference_price(&state, side, order_type, intent, now)?;
        let notional = reference
            .checked_notional(intent.qty)
            .map_err(|_| (Reject::OrderNotional, false))?;
        if notional > limits.max_order_notional {
            return Err((Reject::OrderNotional, false));
        }
        let (extra_buy, extra_sell) = match side {
            Side::Buy => (intent.qty, Qty::ZERO),
            Side::Sell => (Qty::ZERO, intent.qty),
        };
        if state.worst_position(extra_buy, extra_sell) > limits.max_position {
            return Err((Reject::Position, false));
        }
        if self.open.len() >= self.limits.max_open_orders as usize {
            return Err((Reject::OpenOrders, false));
        }
        if self.is_duplicate(intent, now) {
            return Err((Reject::Duplicate, false));
        }
        if self
            .pnl()
            .saturating_add(self.limits.daily_loss_limit)
            .is_negative()
        {
            return Err((Reject::DailyLoss, self.limits.kill_on.daily_loss));
        }
        let (gross, net) = self.exposure(Some((symbol, side, intent.qty)));
        if exceeds(gross, self.limits.max_gross_exposure) {
            return Err((Reject::GrossExposure, self.limits.kill_on.gross_exposure));
        }
        if exceeds(net, self.limits.max_net_exposure) {
            return Err((Reject::NetExposure, false));
        }
        if !self.orders.admit(now) {
            return Err((Reject::OrderRate, false));
        }
        Ok(())
    }

    /// The price an order is valued at, after the quote-freshness and collar checks.
    fn reference_price(
        &self,
        state: &SymbolState,
        side: Side,
        order_type: OrderType,
        intent: &OrderIntent,
        now: i64,
    ) -> Result<Price, (Reject, bool)> {
        let mark = state.mark().ok_or((Reject::NoReferencePrice, false))?;
        let fresh = now.saturating_sub(state.quote_ts.unix_nanos()) <= self.limits.max_quote_age_ns;
        let touch = match side {
            Side::Buy => state.ask,
            Side::Sell => state.bid,
        };
        let priced = match order_type {
            OrderType::Market => {
                if !fresh || touch.raw() <= 0 {
                    return Err((Reject::StaleQuote, false));
                }
                return Ok(touch);
            }
            OrderType::Limit | OrderType::StopLimit => intent.limit_price,
            OrderType::Stop | OrderType::TrailingStop => intent.stop_price,
        };
        if priced.raw() <= 0 {
            return Err((Reject::InvalidIntent, false));
        }
        let distance = priced.saturating_sub(mark).abs();
        let allowed = Notional::from_raw(mark.raw())
            .checked_bps(self.limits.price_collar_bps)
            .map_err(|_| (Reject::PriceCollar, false))?;
        if distance.raw() > allowed.raw() {
            return Err((Reject::PriceCollar, false));
        }
        Ok(priced)
    }

    fn is_duplicate(&self, intent: &OrderIntent, now: i64) -> bool {
        let candidate = RecentOrder {
            symbol: intent.header.symbol,
            side: intent.side,
            order_type: intent.order_type,
            qty: intent.qty,
            limit: intent.limit_price,
            at: now,
        };
        self.recent.iter().flatten().any(|r| {
            now.saturating_sub(r.at) < self.limits.duplicate_window_ns
                && RecentOrder { at: now, ..*r } == candidate
        })
    }

    fn book(&mut self, intent: &OrderIntent, now: i64) {
        let Ok(side) = intent.side() else { return };
        let symbol = intent.header.symbol;
        if let Ok(IntentAction::Replace) = intent.action()
            && let Some(old) = self.open.remove(&intent.ref_seq)
        {
            let state = &mut self.symbols[old.symbol.0 as usize];
            state.release(old.side, old.leaves);
        }
        let state = &mut self.symbols[symbol.0 as usize];
        match side {
            Side::Buy => state.open_buy = state.open_buy.saturating_add(intent.qty),
            Side::Sell => state.open_sell = state.open_sell.saturating_add(intent.qty),
        }
        self.open.insert(
            intent.intent_seq,
            OpenOrder {
                symbol,
                side,
                leaves: intent.qty,
            },
        );
        self.recent[self.recent_head] = Some(RecentOrder {
            symbol,
            side: intent.side,
            order_type: intent.order_type,
            qty: intent.qty,
            limit: intent.limit_price,
            at: now,
        });
        self.recent_head = (self.recent_head + 1) % RECENT;
    }
}

/// Average-cost accounting of one execution.
fn apply_fill(state: &mut SymbolState, side: Side, qty: Qty, price: Price) {
    let signed = match side {
        Side::Buy => qty,
        Side::Sell => Qty::from_raw(qty.raw().saturating_neg()),
    };
    let value = price.checked_notional(signed).unwrap_or(Notional::ZERO);
    let position = state.position.raw();
    let same_direction = position == 0 || (position > 0) == (signed.raw() > 0);
    if same_direction {
        state.cost = state.cost.saturating_add(value);
        state.position = state.position.saturating_add(signed);
        return;
    }
    // Closing (part of) the position: realise against the average cost of what is closed.
    let closing = signed.raw().abs().min(position.abs());
    let cost_closed = i64::try_from(
        i128::from(state.cost.raw()) * i128::from(closing) / i128::from(position.abs()),
    )
    .unwrap_or(0);
    let proceeds_closed = i64::try_from(
        i128::from(value.raw()) * i128::from(closing) / i128::from(signed.raw().abs()),
    )
    .unwrap_or(0);
    // Selling a long: realised = proceeds − cost; buying back a short: realised = −(cost + paid).
    state.realized = state.realized.saturating_sub(Notional::from_raw(
        cost_closed.saturating_add(proceeds_closed),
    ));
    state.cost = state.cost.saturating_sub(Notional::from_raw(cost_closed));
    state.position = state.position.saturating_add(signed);
    let remainder = signed.raw().abs() - closing;
    if remainder > 0 {
        // The fill flipped the position: the rest opens a new one at this price.
        state.cost = state.cost.saturating_add(Notional::from_raw(
            value.raw().signum() * (value.raw().abs() - proceeds_closed.abs()),
        ));
    }
}
