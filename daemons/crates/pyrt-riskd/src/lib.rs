//! The risk daemon: the only writer of the order ring.
//!
//! Strategy sends target positions (signals); risk sizes each into an order for the difference
//! between the target and the position plus what is already on its way, runs every pre-trade
//! check of `risk_limits.toml` (`pyrt-risk`), stamps what passes and writes it to the order ring.
//! Quotes and trades from the md ring keep its reference prices and marks current; acks and fills
//! from exec keep positions, open orders and P&L. Before each signal it drains both, so a check
//! never runs on state older than what has already arrived.
//!
//! The kill switch lives in the control block: the supervisor sets it (halt), and risk sets it
//! itself on a severe breach. New limits are loaded when the supervisor bumps the config
//! generation; a file that fails validation is refused and the running limits stay.
//!
//! A restarted risk daemon does not start flat: before its first signal it replays exec's events
//! journal up to its own fill-queue cursor (exactly what it had applied before it stopped; the
//! queue delivers the rest) and takes the intents exec journaled, and those still in the order
//! ring, as in flight until their final ack or fill, so positions, open orders and the day's
//! realised P&L survive a restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pyrt_ring::{
    BroadcastReader, ControlBlock, DaemonState, DeadProducerBackoff, QueueConsumer, QueueProducer,
    Received, RingError, WaitStrategy, names,
};
use pyrt_risk::{Decision, NyDate, Reject, RiskEngine, RiskLimits};
use pyrt_runtime::systemd;
use pyrt_telemetry::{Counter, Gauge, HistogramSpec, StageRecorder, Telemetry, TelemetryError};
use pyrt_types::{
    Fill, IntentAction, OrderAck, OrderIntent, OrderType, Qty, Quote, RawEvent, SCALE_DIGITS, Side,
    Signal, SymbolId, SymbolTable, TimeInForce, Timestamp, Trade,
};

/// The risk daemon's slot in the control block.
pub const CONTROL_SLOT: usize = 2;
/// Kill-switch reason codes in the control block (0 = none): 1 is an operator halt, risk's own
/// breaches are `100 + Reject` code.
pub const KILL_REASON_BREACH_BASE: u32 = 100;

#[derive(Debug, Clone)]
pub struct RiskdConfig {
    pub runtime_dir: PathBuf,
    pub limits_path: PathBuf,
    pub symbols: Vec<String>,
    pub order_capacity: u64,
    pub wait: WaitStrategy,
    pub heartbeat: Duration,
    pub metrics: Option<SocketAddr>,
    pub histogram: HistogramSpec,
    /// HDR interval log of the stage latencies, and how often an interval is written.
    pub hdr_log: Option<(PathBuf, Duration)>,
    /// exec's state directory, whose journals rebuild the book on start; `None` starts flat.
    pub exec_state_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RiskdError {
    #[error("symbols: {0}")]
    Symbols(#[from] pyrt_types::SymbolError),
    #[error("ring or control block: {0}")]
    Ring(#[from] RingError),
    #[error("telemetry: {0}")]
    Telemetry(#[from] pyrt_telemetry::TelemetryError),
    #[error("risk limits: {0}")]
    Limits(#[from] pyrt_config::ConfigError),
    /// Without exec's record risk cannot know positions, and trading on a guess is worse than
    /// not trading.
    #[error("rebuilding the book from exec's journals: {0}")]
    Journal(#[from] pyrt_journal::JournalError),
    #[error("runtime directory {path}: {source}")]
    RuntimeDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn load_limits(path: &Path, symbols: &SymbolTable) -> Result<RiskLimits, pyrt_config::ConfigError> {
    Ok(RiskLimits::from_config(
        &pyrt_config::load_risk_limits(path)?,
        symbols,
    ))
}

/// A ring opened by another daemon, attached once it exists.
struct Later<T> {
    path: PathBuf,
    ring: Option<T>,
}

impl<T> Later<T> {
    fn new(path: PathBuf) -> Self {
        Self { path, ring: None }
    }

    fn get(&mut self, attach: impl FnOnce(&Path) -> Result<T, RingError>) -> Option<&mut T> {
        if self.ring.is_none() && self.path.exists() {
            self.ring = attach(&self.path).ok();
        }
        self.ring.as_mut()
    }

    /// Forgets the mapping, so the next [`Self::get`] attaches to whatever file the path names.
    fn detach(&mut self) {
        self.ring = None;
    }
}

struct Metrics {
    signal_to_intent: StageRecorder,
    origin_to_intent: StageRecorder,
    intents: Counter,
    signals: Counter,
    rejects: Vec<Counter>,
    md_lost: Counter,
    /// Milliseconds spent waiting for signals after strategy died: rising while it is down.
    signal_dead_ms: Counter,
    reloads: Counter,
    reload_refused: Counter,
    book: BookGauges,
}

/// What risk knows of the account, for dashboards and alerts; set on the heartbeat, not per
/// event (the values change with fills and quotes, a scrape comes once a second at most).
struct BookGauges {
    positions: Vec<Gauge>,
    pnl_day: Gauge,
    daily_loss_limit: Gauge,
    gross_exposure: Gauge,
    net_exposure: Gauge,
    open_orders: Gauge,
    kill_switch: Gauge,
}

impl BookGauges {
    fn new(telemetry: &Telemetry, symbols: &SymbolTable) -> Result<Self, TelemetryError> {
        let money = |name: &str, help: &str| telemetry.gauge(name, help, None, SCALE_DIGITS);
        Ok(Self {
            positions: symbols
                .names()
                .map(|name| {
                    telemetry.gauge(
                        "position",
                        "Position as risk knows it (shares; negative is short).",
                        Some(("symbol", name)),
                        SCALE_DIGITS,
                    )
                })
                .collect::<Result<_, _>>()?,
            pnl_day: money(
                "pnl_day",
                "Realised plus marked P&L of the New York trading day.",
            )?,
            daily_loss_limit: money(
                "daily_loss_limit",
                "The loss of a day at which trading stops.",
            )?,
            gross_exposure: money(
                "gross_exposure",
                "Sum of |position x mark|, open orders at their worst.",
            )?,
            net_exposure: money(
                "net_exposure",
                "Sum of position x mark, open orders included.",
            )?,
            open_orders: telemetry.gauge("open_orders", "Orders sent and not final.", None, 0)?,
            kill_switch: telemetry.gauge(
                "kill_switch",
                "1 while the kill switch is set (no new order passes risk).",
                None,
                0,
            )?,
        })
    }

    fn publish(&self, engine: &RiskEngine) {
        for (id, gauge) in (0u32..).zip(&self.positions) {
            gauge.set(engine.position(SymbolId(id)).raw());
        }
        self.pnl_day.set(engine.pnl().raw());
        self.daily_loss_limit
            .set(engine.limits().daily_loss_limit.raw());
        let (gross, net) = engine.current_exposure();
        self.gross_exposure.set(gross.raw());
        self.net_exposure.set(net.raw());
        self.open_orders
            .set(i64::try_from(engine.open_orders()).unwrap_or(i64::MAX));
        self.kill_switch.set(i64::from(engine.kill_switch()));
    }
}

/// Intents sent and not yet finished: what is already on its way, per symbol.
#[derive(Default)]
struct Outstanding {
    by_seq: HashMap<u64, (SymbolId, Qty)>,
}

impl Outstanding {
    fn signed(side: u8, qty: Qty) -> Qty {
        if side == Side::Sell.code() {
            Qty::ZERO.saturating_sub(qty)
        } else {
            qty
        }
    }

    fn pending(&self, symbol: SymbolId) -> Qty {
        self.by_seq
            .values()
            .filter(|(s, _)| *s == symbol)
            .fold(Qty::ZERO, |a, (_, q)| a.saturating_add(*q))
    }

    fn on_fill(&mut self, fill: &Fill) {
        if let Some((_, remaining)) = self.by_seq.get_mut(&fill.intent_seq) {
            *remaining = remaining.saturating_sub(Self::signed(fill.side, fill.qty));
            if remaining.is_zero() || fill.leaves_qty.is_zero() {
                self.by_seq.remove(&fill.intent_seq);
            }
        }
    }

    fn on_ack(&mut self, ack: &OrderAck) {
        if ack.status().is_ok_and(pyrt_types::OrderStatus::is_final) {
            self.by_seq.remove(&ack.intent_seq);
        }
    }
}

/// What risk knows of the account: the engine's positions, marks and P&L, and what is on its way.
struct Book {
    engine: RiskEngine,
    outstanding: Outstanding,
}

/// What [`Book::rebuild`] found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Rebuilt {
    events: usize,
    in_flight: usize,
}

impl Book {
    /// Restores what risk knew when it stopped: every intent still in the order ring or in
    /// exec's intents journal is on its way, then the first `consumed` events of exec's events
    /// journal (what risk had taken from its fill queue, which the queue will not deliver again)
    /// settle positions, orders and P&L. The ring is read before the journal: exec journals an
    /// intent before it takes it from the ring, so each intent is in one or both, and counted once.
    fn rebuild(
        &mut self,
        unsent: &[RawEvent],
        exec_state_dir: &Path,
        consumed: u64,
    ) -> Result<Rebuilt, RiskdError> {
        let journaled =
            pyrt_journal::read_committed(&exec_state_dir.join(pyrt_journal::EXEC_INTENTS))?;
        for event in unsent.iter().chain(&journaled) {
            if let Some(intent) = event.as_event::<OrderIntent>()
                && intent.action == IntentAction::New as u8
                && !self.outstanding.by_seq.contains_key(&intent.intent_seq)
            {
                self.engine.restore_open(intent);
                self.outstanding.by_seq.insert(
                    intent.intent_seq,
                    (
                        intent.header.symbol,
                        Outstanding::signed(intent.side, intent.qty),
                    ),
                );
            }
        }
        let events = pyrt_journal::read_committed(&exec_state_dir.join(pyrt_journal::EXEC_EVENTS))?;
        let consumed = usize::try_from(consumed).unwrap_or(usize::MAX);
        if consumed > events.len() {
            eprintln!(
                "risk: the fill queue is at event {consumed} but exec's journal holds {}: \
                 it belongs to another journal; the book is rebuilt from what the journal has",
                events.len()
            );
        }
        let replayed = &events[..consumed.min(events.len())];
        for event in replayed {
            self.on_exec_event(event);
        }
        Ok(Rebuilt {
            events: replayed.len(),
            in_flight: self.outstanding.by_seq.len(),
        })
    }

    /// Non-zero positions and the day's P&L, for the log.
    fn describe(&self, symbols: &SymbolTable) -> String {
        let mut held: Vec<String> = symbols
            .names()
            .zip(0u32..)
            .filter_map(|(name, id)| {
                let qty = self.engine.position(SymbolId(id));
                (!qty.is_zero()).then(|| format!("{name} {qty}"))
            })
            .collect();
        if held.is_empty() {
            held.push("flat".into());
        }
        format!(
            "positions {}, {} open orders, P&L {}",
            held.join(", "),
            self.engine.open_orders(),
            self.engine.pnl()
        )
    }

    fn on_exec_event(&mut self, event: &RawEvent) {
        if let Some(fill) = event.as_event::<Fill>() {
            // A fill of a new day counts against that day's loss limit, not the previous one's.
            self.engine.roll_day(fill.ts_event);
            self.engine.on_fill(fill);
            self.outstanding.on_fill(fill);
        } else if let Some(ack) = event.as_event::<OrderAck>() {
            self.engine.on_ack(ack);
            self.outstanding.on_ack(ack);
        }
    }

    fn on_market(&mut self, event: &RawEvent) {
        if let Some(quote) = event.as_event::<Quote>() {
            // Marks moved by the first quote of a day belong to that day.
            self.engine.roll_day(quote.ts_event);
            self.engine.on_quote(quote);
        } else if let Some(trade) = event.as_event::<Trade>() {
            self.engine.roll_day(trade.ts_event);
            self.engine.on_trade(trade);
        }
    }
}

struct Risk {
    book: Book,
    next_seq: u64,
    orders: QueueProducer,
    control: ControlBlock,
    metrics: Metrics,
}

fn elapsed_ns(since: Timestamp) -> u64 {
    u64::try_from(Timestamp::now().unix_nanos() - since.unix_nanos()).unwrap_or(0)
}

impl Risk {
    fn trip(&mut self, reason: Reject) {
        let code = KILL_REASON_BREACH_BASE + u32::from(reason as u8);
        self.control.set_kill_switch(true, code);
        eprintln!("risk: kill switch set: {}", reason.name());
    }

    /// Sizes a target-position signal into an intent, checks it and sends what passes.
    fn on_signal(&mut self, signal: &Signal, read_at: Timestamp) -> Result<(), RingError> {
        self.metrics.signals.add(1);
        let symbol = signal.header.symbol;
        let target = Outstanding::signed(signal.side, signal.target_qty);
        let holding = self
            .book
            .engine
            .position(symbol)
            .saturating_add(self.book.outstanding.pending(symbol));
        let delta = target.saturating_sub(holding);
        if delta.is_zero() {
            return Ok(());
        }
        let mut intent = OrderIntent::with_header(signal.header.ts_origin, symbol);
        intent.intent_seq = self.next_seq;
        intent.qty = delta.abs();
        intent.side = if delta.is_negative() {
            Side::Sell
        } else {
            Side::Buy
        }
        .code();
        intent.order_type = OrderType::Market.code();
        intent.time_in_force = TimeInForce::Day.code();
        intent.action = IntentAction::New as u8;
        match self.book.engine.check(&mut intent, Timestamp::now()) {
            Decision::Accept => {
                self.orders
                    .push(&RawEvent::from_event(&intent), Duration::from_secs(1))?;
                self.next_seq += 1;
                self.book
                    .outstanding
                    .by_seq
                    .insert(intent.intent_seq, (symbol, delta));
                self.metrics.intents.add(1);
                self.metrics.signal_to_intent.record(elapsed_ns(read_at));
                self.metrics
                    .origin_to_intent
                    .record(elapsed_ns(signal.header.ts_origin));
            }
            Decision::Reject(reason) => self.metrics.rejects[reason as usize].add(1),
            Decision::Kill(reason) => {
                self.metrics.rejects[reason as usize].add(1);
                self.trip(reason);
            }
        }
        Ok(())
    }
}

/// Runs until `stop` is set.
#[allow(clippy::too_many_lines)] // one linear start-up sequence and one polling loop
pub fn run(config: &RiskdConfig, stop: &AtomicBool) -> Result<(), RiskdError> {
    let symbols = SymbolTable::from_names(config.symbols.iter().map(String::as_str))?;
    std::fs::create_dir_all(&config.runtime_dir).map_err(|source| RiskdError::RuntimeDir {
        path: config.runtime_dir.clone(),
        source,
    })?;
    let control = ControlBlock::open_or_create(&config.runtime_dir.join(names::CONTROL))?;
    control.register(CONTROL_SLOT, "risk", std::process::id())?;
    control.set_state(CONTROL_SLOT, DaemonState::Starting)?;
    let limits = load_limits(&config.limits_path, &symbols)?;
    let mut generation = control.config_generation();

    let telemetry = Telemetry::new("risk", config.histogram);
    let _server = config
        .metrics
        .map(|addr| telemetry.serve(addr))
        .transpose()?;
    let _hdr_log = config
        .hdr_log
        .as_ref()
        .map(|(path, every)| telemetry.log_intervals(path, *every))
        .transpose()?;
    let rejects = Reject::ALL
        .iter()
        .map(|r| telemetry.counter("rejects", r.name()))
        .collect::<Result<Vec<_>, _>>()?;
    // Sequences only grow, across restarts too: exec refuses any it has seen, and the broker any
    // client_order_id it has seen. Microseconds since the epoch leave room for 10⁶ intents per
    // microsecond of downtime.
    let first_seq = u64::try_from(Timestamp::now().unix_nanos() / 1_000).unwrap_or(1) * 1_000;
    let mut risk = Risk {
        book: Book {
            engine: RiskEngine::new(limits, control.stamp_key()),
            outstanding: Outstanding::default(),
        },
        next_seq: first_seq,
        orders: QueueProducer::open(
            &config.runtime_dir.join(names::ORDER),
            config.order_capacity,
            config.wait,
        )?,
        control: ControlBlock::attach(&config.runtime_dir.join(names::CONTROL))?,
        metrics: Metrics {
            signal_to_intent: telemetry.stage("signal_to_intent")?,
            origin_to_intent: telemetry.stage("origin_to_intent")?,
            intents: telemetry.counter("intents", "sent")?,
            signals: telemetry.counter("signals", "received")?,
            rejects,
            md_lost: telemetry.counter("md", "lost")?,
            signal_dead_ms: telemetry.counter("producer_dead_ms", "signal")?,
            reloads: telemetry.counter("limits", "reloaded")?,
            reload_refused: telemetry.counter("limits", "refused")?,
            book: BookGauges::new(&telemetry, &symbols)?,
        },
    };
    let wait = config.wait;
    let mut md = Later::new(config.runtime_dir.join(names::MD));
    let mut signals = Later::new(config.runtime_dir.join(names::SIGNAL));
    let mut fills = Later::new(names::fill(&config.runtime_dir, "risk"));
    let mut signal_backoff = DeadProducerBackoff::new();
    let mut logged_day: Option<NyDate> = None;
    let mut rebuilt = false;
    control.set_state(CONTROL_SLOT, DaemonState::Running)?;
    systemd::ready("checking signals");
    let mut last_beat = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(queue) = fills.get(|p| QueueConsumer::attach(p, wait)) {
            if !rebuilt {
                rebuilt = true;
                if let Some(dir) = &config.exec_state_dir {
                    let unsent = risk.orders.unconsumed();
                    let found = risk.book.rebuild(&unsent, dir, queue.position())?;
                    eprintln!(
                        "risk: book rebuilt from exec's journals: {} events replayed, {} intents in flight; {}",
                        found.events,
                        found.in_flight,
                        risk.book.describe(&symbols)
                    );
                }
            }
            while let Some(event) = queue.try_pop() {
                risk.book.on_exec_event(&event);
            }
        }
        if let Some(reader) = md.get(|p| BroadcastReader::attach(p, wait)) {
            while let Some(received) = reader.try_read() {
                match received {
                    Received::Event(event) => risk.book.on_market(&event),
                    Received::Lost(n) => risk.metrics.md_lost.add(n),
                }
            }
        }
        let killed = control.kill_switch();
        if killed != risk.book.engine.kill_switch() {
            risk.book.engine.set_kill_switch(killed);
        }
        if let Some(breach) = risk.book.engine.post_trade_breach() {
            risk.trip(breach);
        }
        if control.config_generation() != generation {
            generation = control.config_generation();
            match load_limits(&config.limits_path, &symbols) {
                Ok(limits) => {
                    risk.book.engine.set_limits(limits);
                    risk.metrics.reloads.add(1);
                    eprintln!("risk: limits of generation {generation} loaded");
                }
                Err(e) => {
                    risk.metrics.reload_refused.add(1);
                    eprintln!("risk: generation {generation} refused, running limits kept: {e}");
                }
            }
        }
        let mut handled = false;
        let mut replaced = false;
        if let Some(queue) = signals.get(|p| QueueConsumer::attach(p, wait)) {
            let readable = if let Some(event) = queue.try_pop() {
                handled = true;
                if let Some(signal) = event.as_event::<Signal>() {
                    risk.on_signal(signal, Timestamp::now())?;
                }
                Ok(true)
            } else {
                queue.wait_readable(Duration::from_millis(1))
            };
            match readable {
                Ok(_) => {
                    if signal_backoff.reset() {
                        eprintln!("risk: signals have a producer again");
                    }
                }
                Err(RingError::ProducerDead { path }) => {
                    if !signal_backoff.waiting() {
                        eprintln!(
                            "risk: the producer of {} is gone, waiting for it",
                            path.display()
                        );
                    }
                    replaced = queue.replaced();
                    // Fills and quotes are still taken every round, only less often.
                    let due = config.heartbeat.saturating_sub(last_beat.elapsed());
                    risk.metrics.signal_dead_ms.add(signal_backoff.wait(due));
                }
                Err(e) => return Err(e.into()),
            }
        }
        if replaced {
            signals.detach();
        }
        if !handled && signals.ring.is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        if last_beat.elapsed() >= config.heartbeat {
            last_beat = Instant::now();
            let day = risk.book.engine.trading_day();
            if day != logged_day {
                logged_day = day;
                if let Some(day) = day {
                    eprintln!(
                        "risk: trading day {day} began; the daily loss limit counts from here"
                    );
                }
            }
            control.heartbeat(CONTROL_SLOT)?;
            systemd::watchdog();
            risk.orders.heartbeat();
            risk.metrics.book.publish(&risk.book.engine);
            telemetry.flush(&mut risk.metrics.signal_to_intent);
            telemetry.flush(&mut risk.metrics.origin_to_intent);
        }
    }
    systemd::stopping();
    telemetry.flush(&mut risk.metrics.signal_to_intent);
    telemetry.flush(&mut risk.metrics.origin_to_intent);
    control.set_state(CONTROL_SLOT, DaemonState::Stopped)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use pyrt_types::Price;

    use super::*;

    const AAPL: SymbolId = SymbolId(0);

    fn book() -> Book {
        let symbols = SymbolTable::from_names(["AAPL", "MSFT"]).unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/risk_limits.toml");
        Book {
            engine: RiskEngine::new(load_limits(&path, &symbols).unwrap(), 1),
            outstanding: Outstanding::default(),
        }
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn quote(ts: &str, mid: &str) -> RawEvent {
        let mid = Price::parse(mid).unwrap();
        let cent = Price::parse("0.01").unwrap();
        let mut q = Quote::with_header(at(ts), AAPL);
        q.ts_event = at(ts);
        q.bid_price = mid.saturating_sub(cent);
        q.ask_price = mid.saturating_add(cent);
        RawEvent::from_event(&q)
    }

    fn fill(ts: &str, side: Side, qty: i64, price: &str) -> RawEvent {
        let mut f = Fill::with_header(at(ts), AAPL);
        f.ts_event = at(ts);
        f.side = side.code();
        f.qty = Qty::from_units(qty).unwrap();
        f.price = Price::parse(price).unwrap();
        RawEvent::from_event(&f)
    }

    fn pnl(book: &Book) -> String {
        book.engine.pnl().to_string()
    }

    #[test]
    fn quotes_and_fills_start_a_new_trading_day_at_new_york_midnight() {
        let mut book = book();
        // Friday 2024-03-08 (EST): a 1,100 loss; New York midnight is 05:00 UTC.
        book.on_exec_event(&fill("2024-03-08T15:00:00Z", Side::Buy, 100, "100"));
        book.on_market(&quote("2024-03-08T20:00:00Z", "89"));
        assert_eq!(pnl(&book), "-1100");
        book.on_market(&quote("2024-03-09T04:59:59Z", "89"));
        assert_eq!(pnl(&book), "-1100", "23:59 EST is still Friday");
        book.on_market(&quote("2024-03-09T05:00:00Z", "88"));
        assert_eq!(pnl(&book), "-100", "Saturday counts from Friday's close");
        assert_eq!(book.engine.trading_day().unwrap().to_string(), "2024-03-09");

        // Sunday 2024-03-10 springs forward: Monday begins at 04:00 UTC, not 05:00.
        book.on_market(&quote("2024-03-10T15:00:00Z", "89"));
        book.on_market(&quote("2024-03-11T03:59:59Z", "78"));
        assert_eq!(pnl(&book), "-1000");
        book.on_exec_event(&fill("2024-03-11T04:00:00Z", Side::Sell, 100, "78"));
        assert_eq!(
            pnl(&book),
            "0",
            "the fill at 00:00 EDT belongs to Monday, whose loss counts from zero"
        );
        assert_eq!(book.engine.trading_day().unwrap().to_string(), "2024-03-11");
        assert_eq!(book.engine.position(AAPL), Qty::ZERO);
    }
}
