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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pyrt_ring::{
    BroadcastReader, ControlBlock, DaemonState, QueueConsumer, QueueProducer, Received, RingError,
    WaitStrategy, names,
};
use pyrt_risk::{Decision, Reject, RiskEngine, RiskLimits};
use pyrt_runtime::systemd;
use pyrt_telemetry::{Counter, HistogramSpec, StageRecorder, Telemetry};
use pyrt_types::{
    Fill, IntentAction, OrderAck, OrderIntent, OrderType, Qty, Quote, RawEvent, Side, Signal,
    SymbolId, SymbolTable, TimeInForce, Timestamp, Trade,
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
}

struct Metrics {
    signal_to_intent: StageRecorder,
    origin_to_intent: StageRecorder,
    intents: Counter,
    signals: Counter,
    rejects: Vec<Counter>,
    md_lost: Counter,
    reloads: Counter,
    reload_refused: Counter,
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

struct Risk {
    engine: RiskEngine,
    outstanding: Outstanding,
    next_seq: u64,
    orders: QueueProducer,
    control: ControlBlock,
    metrics: Metrics,
}

fn elapsed_ns(since: Timestamp) -> u64 {
    u64::try_from(Timestamp::now().unix_nanos() - since.unix_nanos()).unwrap_or(0)
}

impl Risk {
    fn on_exec_event(&mut self, event: &RawEvent) {
        if let Some(fill) = event.as_event::<Fill>() {
            self.engine.on_fill(fill);
            self.outstanding.on_fill(fill);
        } else if let Some(ack) = event.as_event::<OrderAck>() {
            self.engine.on_ack(ack);
            self.outstanding.on_ack(ack);
        }
    }

    fn on_market(&mut self, event: &RawEvent) {
        if let Some(quote) = event.as_event::<Quote>() {
            self.engine.on_quote(quote);
        } else if let Some(trade) = event.as_event::<Trade>() {
            self.engine.on_trade(trade);
        }
    }

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
            .engine
            .position(symbol)
            .saturating_add(self.outstanding.pending(symbol));
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
        match self.engine.check(&mut intent, Timestamp::now()) {
            Decision::Accept => {
                self.orders
                    .push(&RawEvent::from_event(&intent), Duration::from_secs(1))?;
                self.next_seq += 1;
                self.outstanding
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
        engine: RiskEngine::new(limits, control.stamp_key()),
        outstanding: Outstanding::default(),
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
            reloads: telemetry.counter("limits", "reloaded")?,
            reload_refused: telemetry.counter("limits", "refused")?,
        },
    };
    let wait = config.wait;
    let mut md = Later::new(config.runtime_dir.join(names::MD));
    let mut signals = Later::new(config.runtime_dir.join(names::SIGNAL));
    let mut fills = Later::new(names::fill(&config.runtime_dir, "risk"));
    control.set_state(CONTROL_SLOT, DaemonState::Running)?;
    systemd::ready("checking signals");
    let mut last_beat = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(queue) = fills.get(|p| QueueConsumer::attach(p, wait)) {
            while let Some(event) = queue.try_pop() {
                risk.on_exec_event(&event);
            }
        }
        if let Some(reader) = md.get(|p| BroadcastReader::attach(p, wait)) {
            while let Some(received) = reader.try_read() {
                match received {
                    Received::Event(event) => risk.on_market(&event),
                    Received::Lost(n) => risk.metrics.md_lost.add(n),
                }
            }
        }
        let killed = control.kill_switch();
        if killed != risk.engine.kill_switch() {
            risk.engine.set_kill_switch(killed);
        }
        if let Some(breach) = risk.engine.post_trade_breach() {
            risk.trip(breach);
        }
        if control.config_generation() != generation {
            generation = control.config_generation();
            match load_limits(&config.limits_path, &symbols) {
                Ok(limits) => {
                    risk.engine.set_limits(limits);
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
        if let Some(queue) = signals.get(|p| QueueConsumer::attach(p, wait)) {
            if let Some(event) = queue.try_pop() {
                handled = true;
                if let Some(signal) = event.as_event::<Signal>() {
                    risk.on_signal(signal, Timestamp::now())?;
                }
            } else {
                match queue.wait_readable(Duration::from_millis(1)) {
                    Ok(_) | Err(RingError::ProducerDead { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if !handled && signals.ring.is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        if last_beat.elapsed() >= config.heartbeat {
            last_beat = Instant::now();
            control.heartbeat(CONTROL_SLOT)?;
            systemd::watchdog();
            risk.orders.heartbeat();
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
