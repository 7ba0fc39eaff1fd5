//! The event loop: walk the timeline, match orders through the fill model, book fills, mark the
//! portfolio, ask the strategy, and pass its orders through the live risk gate.
//!
//! Order of work for one bar of a symbol (so a strategy can never trade on a price it has not
//! seen): corporate actions of the day, then orders already working meet the bar (fills reach the
//! strategy's `on_fill`), then the portfolio is marked at the close, then `on_bar`; orders the
//! strategy places there work from the next event on, after the configured latency.

use std::sync::Arc;

use pyrt_fill::{BarPrices, Event, FillConfig, FillEngine, Liquidity, OrderSpec};
use pyrt_risk::{Decision, Reject, RiskEngine, RiskLimits};
use pyrt_types::{
    Fill, Notional, OrderAck, OrderIntent, OrderStatus, OrderType, Price, Qty, Quote, Side,
    SymbolId, TimeInForce, Timestamp,
};

use crate::data::{Kind, MarketData, Step, UNIT};
use crate::portfolio::Portfolio;

#[derive(Debug, Clone)]
pub struct BacktestConfig {
    pub initial_cash: Notional,
    pub fill: FillConfig,
    /// Apply the data's split column to positions (only for unadjusted prices).
    pub apply_splits: bool,
    /// Refuse buys the cash cannot pay for, as the venue (a cash account) does: cost at the
    /// limit, else the stop, else the current ask, against cash less what working buys hold.
    pub check_buying_power: bool,
    /// Run every order through the live pre-trade gate with these limits.
    pub risk: Option<RiskLimits>,
    /// Keep the equity curve, orders, fills and trades (off for parameter sweeps).
    pub record: bool,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        Self {
            initial_cash: Notional::from_raw(100_000 * pyrt_types::SCALE),
            fill: FillConfig::default(),
            apply_splits: false,
            check_buying_power: true,
            risk: None,
            record: true,
        }
    }
}

/// An order a strategy asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest {
    pub symbol: SymbolId,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub qty: Qty,
    pub limit: Option<Price>,
    pub stop: Option<Price>,
}

impl OrderRequest {
    #[must_use]
    pub fn market(symbol: SymbolId, side: Side, qty: Qty) -> Self {
        Self {
            symbol,
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            qty,
            limit: None,
            stop: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Submit(u64, OrderRequest),
    Cancel(u64),
}

/// What a strategy sees and how it acts: a snapshot of the account taken before each callback,
/// and an outbox the engine drains after it.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    ts: i64,
    positions: Vec<Qty>,
    cash: Notional,
    equity: Notional,
    commands: Vec<Command>,
    next_id: u64,
}

impl Ctx {
    /// Queues an order; returns its id (ids count up from 1 in submission order).
    pub fn submit(&mut self, request: OrderRequest) -> u64 {
        self.next_id += 1;
        self.commands.push(Command::Submit(self.next_id, request));
        self.next_id
    }

    /// A good-till-canceled market order.
    pub fn market(&mut self, symbol: SymbolId, side: Side, qty: Qty) -> u64 {
        self.submit(OrderRequest::market(symbol, side, qty))
    }

    pub fn cancel(&mut self, id: u64) {
        self.commands.push(Command::Cancel(id));
    }

    #[must_use]
    pub fn position(&self, symbol: SymbolId) -> Qty {
        self.positions
            .get(symbol.0 as usize)
            .copied()
            .unwrap_or(Qty::ZERO)
    }

    #[must_use]
    pub fn cash(&self) -> Notional {
        self.cash
    }

    #[must_use]
    pub fn equity(&self) -> Notional {
        self.equity
    }

    /// Nanoseconds since the Unix epoch of the event being handled.
    #[must_use]
    pub fn ts(&self) -> i64 {
        self.ts
    }
}

/// A strategy failed; the backtest stops and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strategy failed: {0}")]
pub struct StrategyError(pub String);

pub type StrategyResult = Result<(), StrategyError>;

/// An execution as a strategy and the results see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillRecord {
    pub order_id: u64,
    pub symbol: SymbolId,
    pub ts: i64,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub fee: Notional,
    pub liquidity: Liquidity,
}

/// Callbacks of a strategy; each may place or cancel orders through `ctx`.
pub trait Strategy {
    fn on_bar(
        &mut self,
        _ctx: &mut Ctx,
        _symbol: SymbolId,
        _bar: &BarPrices,
        _index: usize,
    ) -> StrategyResult {
        Ok(())
    }

    fn on_quote(
        &mut self,
        _ctx: &mut Ctx,
        _symbol: SymbolId,
        _bid: Price,
        _ask: Price,
        _index: usize,
    ) -> StrategyResult {
        Ok(())
    }

    fn on_trade(
        &mut self,
        _ctx: &mut Ctx,
        _symbol: SymbolId,
        _price: Price,
        _size: Qty,
        _index: usize,
    ) -> StrategyResult {
        Ok(())
    }

    fn on_fill(&mut self, _ctx: &mut Ctx, _fill: &FillRecord) -> StrategyResult {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    Open,
    Filled,
    Canceled,
    /// Refused by the live risk gate.
    Rejected(Reject),
    /// Refused by the venue: the cash could not pay for it.
    InsufficientBuyingPower,
}

impl OrderState {
    /// The reason a refused order carries, as reports name it.
    #[must_use]
    pub fn refusal(self) -> Option<&'static str> {
        match self {
            Self::Rejected(reason) => Some(reason.name()),
            Self::InsufficientBuyingPower => Some(INSUFFICIENT_BUYING_POWER),
            Self::Open | Self::Filled | Self::Canceled => None,
        }
    }
}

const INSUFFICIENT_BUYING_POWER: &str = "insufficient_buying_power";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: u64,
    pub ts: i64,
    pub request: OrderRequest,
    pub filled: Qty,
    pub state: OrderState,
}

/// One point of the equity curve: the account after every event of one timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurvePoint {
    pub ts: i64,
    pub equity: Notional,
    pub cash: Notional,
    pub gross_exposure: Notional,
}

/// Summary figures kept even when nothing is recorded (sweeps).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub events: u64,
    pub fills: u64,
    pub orders: u64,
    pub rejected: u64,
    pub closed_trades: u64,
    pub final_equity: Notional,
    pub peak_equity: Notional,
    /// Largest fall from a peak, as a fraction of that peak (≤ 0).
    pub max_drawdown: f64,
}

/// A backtest over shared market data.
#[derive(Debug)]
pub struct Backtest {
    data: Arc<MarketData>,
    config: BacktestConfig,
    engines: Vec<FillEngine>,
    portfolio: Portfolio,
    risk: Option<RiskEngine>,
    ctx: Ctx,
    cursor: usize,
    orders: Vec<OrderRecord>,
    /// Symbol of each order id (index id − 1), needed to route fill events.
    order_symbol: Vec<SymbolId>,
    fills: Vec<FillRecord>,
    curve: Vec<CurvePoint>,
    out: Vec<Event>,
    /// Per symbol, the price a market buy is costed at: the last ask, close or trade.
    reference: Vec<Price>,
    unaffordable: u64,
    session: Option<i64>,
    summary: Summary,
    /// Lowest equity since the last peak.
    trough: Notional,
}

fn to_f64(n: Notional) -> f64 {
    n.to_f64_lossy()
}

impl Backtest {
    #[must_use]
    pub fn new(data: Arc<MarketData>, config: BacktestConfig) -> Self {
        let symbols = data.symbol_count();
        let risk = config
            .risk
            .clone()
            .map(|limits| RiskEngine::new(limits, 0x5eed));
        let record = config.record;
        Self {
            engines: (0..symbols).map(|_| FillEngine::new(config.fill)).collect(),
            portfolio: Portfolio::new(config.initial_cash, symbols, record),
            risk,
            ctx: Ctx {
                positions: vec![Qty::ZERO; symbols],
                cash: config.initial_cash,
                equity: config.initial_cash,
                ..Ctx::default()
            },
            cursor: 0,
            orders: Vec::new(),
            order_symbol: Vec::new(),
            fills: Vec::new(),
            curve: Vec::with_capacity(if record { data.timeline.len() } else { 0 }),
            out: Vec::with_capacity(16),
            reference: vec![Price::ZERO; symbols],
            unaffordable: 0,
            session: None,
            summary: Summary {
                final_equity: config.initial_cash,
                peak_equity: config.initial_cash,
                ..Summary::default()
            },
            trough: config.initial_cash,
            data,
            config,
        }
    }

    /// Runs to the end of the data.
    pub fn run<S: Strategy>(&mut self, strategy: &mut S) -> StrategyResult {
        while !self.run_steps(strategy, usize::MAX)? {}
        Ok(())
    }

    /// Runs at most `max` events; `Ok(true)` once the data is exhausted (for progress bars).
    pub fn run_steps<S: Strategy>(
        &mut self,
        strategy: &mut S,
        max: usize,
    ) -> Result<bool, StrategyError> {
        let data = Arc::clone(&self.data);
        let timeline = &data.timeline;
        let end = self.cursor.saturating_add(max).min(timeline.len());
        while self.cursor < end {
            let step = timeline[self.cursor];
            let now = Timestamp::from_unix_nanos(step.ts);
            self.ctx.ts = step.ts;
            match step.kind {
                Kind::Bar => self.bar(strategy, &data, step)?,
                Kind::Quote => self.quote(strategy, &data, step)?,
                Kind::Trade => self.trade(strategy, &data, step)?,
            }
            self.drain(now);
            self.summary.events += 1;
            self.cursor += 1;
            let last_of_ts = timeline
                .get(self.cursor)
                .is_none_or(|next| next.ts != step.ts);
            if last_of_ts {
                self.close_timestamp(step.ts);
            }
        }
        Ok(self.cursor >= timeline.len())
    }

    fn bar<S: Strategy>(
        &mut self,
        strategy: &mut S,
        data: &MarketData,
        step: Step,
    ) -> StrategyResult {
        let (symbol, index) = (step.symbol, step.index as usize);
        let Some(bars) = data.data[symbol.0 as usize].bars.as_ref() else {
            return Ok(());
        };
        let bar = bars.bars[index];
        self.new_session(bars.session[index]);
        if !bars.dividend[index].is_zero() {
            self.portfolio.dividend(symbol, bars.dividend[index]);
        }
        let now = Timestamp::from_unix_nanos(step.ts);
        if self.config.apply_splits && bars.split[index] != UNIT {
            self.split(symbol, bars.split[index], now);
        }
        self.engines[symbol.0 as usize].on_bar(&bar, now, bars.session_end(index), &mut self.out);
        self.settle(strategy)?;
        self.mark(symbol, bar.close, bar.close, step.ts);
        self.snapshot();
        strategy.on_bar(&mut self.ctx, symbol, &bar, index)
    }

    fn quote<S: Strategy>(
        &mut self,
        strategy: &mut S,
        data: &MarketData,
        step: Step,
    ) -> StrategyResult {
        let (symbol, index) = (step.symbol, step.index as usize);
        let Some(q) = data.data[symbol.0 as usize].quotes.as_ref() else {
            return Ok(());
        };
        let (bid, ask) = (q.bid[index], q.ask[index]);
        let now = Timestamp::from_unix_nanos(step.ts);
        self.engines[symbol.0 as usize].on_quote(
            bid,
            q.bid_size[index],
            ask,
            q.ask_size[index],
            now,
            &mut self.out,
        );
        self.settle(strategy)?;
        self.mark(symbol, bid, ask, step.ts);
        self.snapshot();
        strategy.on_quote(&mut self.ctx, symbol, bid, ask, index)
    }

    fn trade<S: Strategy>(
        &mut self,
        strategy: &mut S,
        data: &MarketData,
        step: Step,
    ) -> StrategyResult {
        let (symbol, index) = (step.symbol, step.index as usize);
        let series = &data.data[symbol.0 as usize];
        let Some(t) = series.trades.as_ref() else {
            return Ok(());
        };
        let (price, size) = (t.price[index], t.size[index]);
        let now = Timestamp::from_unix_nanos(step.ts);
        self.engines[symbol.0 as usize].on_trade(price, size, now, &mut self.out);
        self.settle(strategy)?;
        // With quotes the mid marks the position; a trade only marks a symbol that has none.
        if series.quotes.is_none() {
            self.mark(symbol, price, price, step.ts);
        }
        self.snapshot();
        strategy.on_trade(&mut self.ctx, symbol, price, size, index)
    }

    /// Positions and working orders follow the split; an order it cannot represent is canceled
    /// rather than left working at a pre-split price.
    fn split(&mut self, symbol: SymbolId, ratio: Qty, now: Timestamp) {
        self.portfolio.split(symbol, ratio);
        self.sync_position(symbol);
        let engine = &mut self.engines[symbol.0 as usize];
        if engine.split(ratio).is_err() {
            let canceled: Vec<u64> = engine.cancel_all().map(|(id, _)| id).collect();
            for id in canceled {
                self.closed(id, now);
            }
        }
        self.reference[symbol.0 as usize] = self.reference[symbol.0 as usize]
            .checked_split(ratio, pyrt_types::Rounding::Down)
            .unwrap_or(Price::ZERO);
    }

    fn new_session(&mut self, session: i64) {
        if self.session != Some(session) {
            self.session = Some(session);
            if let Some(risk) = &mut self.risk {
                risk.start_day();
            }
        }
    }

    /// Marks the position at the mid (the price itself for a bar close or a trade) and gives the
    /// risk gate its reference quote.
    fn mark(&mut self, symbol: SymbolId, bid: Price, ask: Price, ts: i64) {
        self.portfolio
            .set_mark(symbol, Price::from_raw(i64::midpoint(bid.raw(), ask.raw())));
        self.reference[symbol.0 as usize] = ask;
        if let Some(risk) = &mut self.risk {
            let mut quote = Quote::with_header(Timestamp::from_unix_nanos(ts), symbol);
            quote.ts_event = Timestamp::from_unix_nanos(ts);
            quote.bid_price = bid;
            quote.ask_price = ask;
            risk.on_quote(&quote);
        }
    }

    /// The account as the strategy sees it; positions are synced where they change (fills,
    /// splits), so this stays O(1) per event whatever the number of symbols.
    fn snapshot(&mut self) {
        self.ctx.cash = self.portfolio.cash();
        self.ctx.equity = self.portfolio.equity();
    }

    fn sync_position(&mut self, symbol: SymbolId) {
        if let Some(slot) = self.ctx.positions.get_mut(symbol.0 as usize) {
            *slot = self.portfolio.position(symbol);
        }
    }

    fn close_timestamp(&mut self, ts: i64) {
        let equity = self.portfolio.equity();
        let summary = &mut self.summary;
        summary.final_equity = equity;
        if equity > summary.peak_equity {
            summary.peak_equity = equity;
            self.trough = equity;
        } else if equity < self.trough {
            // Only a new low since the peak can deepen the drawdown: the float division runs on
            // those bars alone.
            self.trough = equity;
            if summary.peak_equity.raw() > 0 {
                let dd = to_f64(equity) / to_f64(summary.peak_equity) - 1.0;
                if dd < summary.max_drawdown {
                    summary.max_drawdown = dd;
                }
            }
        }
        if self.config.record {
            self.curve.push(CurvePoint {
                ts,
                equity,
                cash: self.portfolio.cash(),
                gross_exposure: self.portfolio.gross_exposure(),
            });
        }
    }

    /// Books what the fill model reported and tells the strategy about fills.
    fn settle<S: Strategy>(&mut self, strategy: &mut S) -> StrategyResult {
        if self.out.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.out);
        for event in &events {
            match *event {
                Event::Fill {
                    id,
                    price,
                    qty,
                    leaves,
                    fee,
                    liquidity,
                    at,
                } => {
                    let Some(&symbol) = self.order_symbol.get(order_index(id)) else {
                        continue;
                    };
                    let side = self.side_of(id);
                    self.portfolio.apply_fill(
                        symbol,
                        side,
                        qty,
                        price,
                        fee,
                        at.unix_nanos(),
                        self.summary.events,
                    );
                    self.sync_position(symbol);
                    self.summary.fills += 1;
                    if let Some(risk) = &mut self.risk {
                        let fill = Fill::with_header(at, symbol)
                            .execution(at, id, side, price, qty, leaves);
                        risk.on_fill(&fill);
                    }
                    let record = FillRecord {
                        order_id: id,
                        symbol,
                        ts: at.unix_nanos(),
                        side,
                        qty,
                        price,
                        fee,
                        liquidity,
                    };
                    if self.config.record {
                        self.fills.push(record);
                        if let Some(order) = self.orders.get_mut(order_index(id)) {
                            order.filled = order.filled.saturating_add(qty);
                            if leaves.is_zero() {
                                order.state = OrderState::Filled;
                            }
                        }
                    }
                    self.snapshot();
                    strategy.on_fill(&mut self.ctx, &record)?;
                }
                Event::Canceled { id, at, .. } => self.closed(id, at),
            }
        }
        self.out = events;
        self.out.clear();
        Ok(())
    }

    fn side_of(&self, id: u64) -> Side {
        self.orders
            .get(order_index(id))
            .map_or(Side::Buy, |o| o.request.side)
    }

    /// An order ended without filling completely (expired, ioc/fok rest, canceled).
    fn closed(&mut self, id: u64, at: Timestamp) {
        if let Some(order) = self.orders.get_mut(order_index(id)) {
            order.state = OrderState::Canceled;
        }
        if let (Some(risk), Some(&symbol)) =
            (&mut self.risk, self.order_symbol.get(order_index(id)))
        {
            let mut ack = OrderAck::with_header(at, symbol);
            ack.ts_event = at;
            ack.intent_seq = id;
            ack.status = OrderStatus::Canceled.code();
            risk.on_ack(&ack);
        }
    }

    /// Carries out what the strategy queued, in order.
    fn drain(&mut self, now: Timestamp) {
        if self.ctx.commands.is_empty() {
            return;
        }
        let commands = std::mem::take(&mut self.ctx.commands);
        for command in &commands {
            match *command {
                Command::Submit(id, request) => self.submit(id, request, now),
                Command::Cancel(id) => {
                    let Some(&symbol) = self.order_symbol.get(order_index(id)) else {
                        continue;
                    };
                    if self.engines[symbol.0 as usize].cancel(id).is_some() {
                        self.closed(id, now);
                    }
                }
            }
        }
        self.ctx.commands = commands;
        self.ctx.commands.clear();
    }

    fn submit(&mut self, id: u64, request: OrderRequest, now: Timestamp) {
        self.summary.orders += 1;
        // Every id gets a slot, so a fill finds its order in O(1) even when nothing is recorded.
        self.order_symbol.push(request.symbol);
        let state = if request.symbol.0 as usize >= self.engines.len() {
            OrderState::Rejected(Reject::UnknownSymbol)
        } else if let Some(reason) = self.risk_check(id, &request, now) {
            OrderState::Rejected(reason)
        } else if !self.affordable(&request) {
            self.unaffordable += 1;
            OrderState::InsufficientBuyingPower
        } else {
            OrderState::Open
        };
        self.orders.push(OrderRecord {
            id,
            ts: now.unix_nanos(),
            request,
            filled: Qty::ZERO,
            state,
        });
        if state != OrderState::Open {
            self.summary.rejected += 1;
            return;
        }
        self.engines[request.symbol.0 as usize].submit(
            OrderSpec {
                id,
                side: request.side,
                order_type: request.order_type,
                time_in_force: request.time_in_force,
                qty: request.qty,
                limit: request.limit,
                stop: request.stop,
            },
            now,
        );
    }

    /// The venue's rule for a cash account (`pyrt.sim.venue`): a buy must fit in the cash that
    /// working buys do not already hold; sells (and so shorts) are not limited here.
    fn affordable(&self, request: &OrderRequest) -> bool {
        if !self.config.check_buying_power || request.side != Side::Buy {
            return true;
        }
        let reference = self.reference[request.symbol.0 as usize];
        let price = request.limit.or(request.stop).unwrap_or(reference);
        if price.raw() <= 0 {
            return true;
        }
        let reserved = self
            .engines
            .iter()
            .zip(&self.reference)
            .map(|(engine, &r)| engine.reserved_for_buys(r))
            .fold(Notional::ZERO, Notional::saturating_add);
        let available = self.portfolio.cash().saturating_sub(reserved);
        price
            .checked_notional(request.qty)
            .is_ok_and(|cost| cost <= available)
    }

    fn risk_check(&mut self, id: u64, request: &OrderRequest, now: Timestamp) -> Option<Reject> {
        let risk = self.risk.as_mut()?;
        let mut intent = OrderIntent::with_header(now, request.symbol);
        intent.intent_seq = id;
        intent.qty = request.qty;
        intent.limit_price = request.limit.unwrap_or(Price::ZERO);
        intent.stop_price = request.stop.unwrap_or(Price::ZERO);
        intent.side = request.side.code();
        intent.order_type = request.order_type.code();
        intent.time_in_force = request.time_in_force.code();
        match risk.check(&mut intent, now) {
            Decision::Accept => None,
            Decision::Reject(reason) | Decision::Kill(reason) => Some(reason),
        }
    }

    #[must_use]
    pub fn data(&self) -> &MarketData {
        &self.data
    }

    #[must_use]
    pub fn portfolio(&self) -> &Portfolio {
        &self.portfolio
    }

    #[must_use]
    pub fn summary(&self) -> Summary {
        Summary {
            closed_trades: self.portfolio.closed_trades(),
            ..self.summary
        }
    }

    #[must_use]
    pub fn curve(&self) -> &[CurvePoint] {
        &self.curve
    }

    #[must_use]
    pub fn orders(&self) -> &[OrderRecord] {
        &self.orders
    }

    #[must_use]
    pub fn fills(&self) -> &[FillRecord] {
        &self.fills
    }

    /// Refusals by reason (the risk gate's and the venue's), for reasons that occurred.
    #[must_use]
    pub fn rejects(&self) -> Vec<(&'static str, u64)> {
        let mut rejects: Vec<_> = self.risk.as_ref().map_or_else(Vec::new, |risk| {
            Reject::ALL
                .iter()
                .zip(risk.reject_counts())
                .filter(|(_, n)| **n > 0)
                .map(|(r, n)| (r.name(), *n))
                .collect()
        });
        if self.unaffordable > 0 {
            rejects.push((INSUFFICIENT_BUYING_POWER, self.unaffordable));
        }
        rejects
    }

    #[must_use]
    pub fn kill_switch(&self) -> bool {
        self.risk.as_ref().is_some_and(RiskEngine::kill_switch)
    }

    /// Events handled so far and in all.
    #[must_use]
    pub fn progress(&self) -> (usize, usize) {
        (self.cursor, self.data.timeline.len())
    }
}

fn order_index(id: u64) -> usize {
    usize::try_from(id.saturating_sub(1)).unwrap_or(usize::MAX)
}
