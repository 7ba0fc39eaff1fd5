//! The execution daemon: the only process that talks to the broker's trading API.
//!
//! Intents arrive on the order ring (written only by risk; exec refuses any intent whose stamp
//! does not verify), are made durable in the intents journal, and are submitted with
//! `client_order_id = <prefix>-<intent_seq>`, so the broker itself refuses a second order for the
//! same intent. Broker answers and `trade_updates` become `OrderAck` and `Fill` events, journaled
//! before they are published to one fill queue per consumer (never overwritten, never lost).
//!
//! On start exec replays both journals, re-publishes events a fill queue missed, opens
//! `trade_updates`, and reconciles every unsettled order with the broker (orders by
//! `client_order_id`, fills from the account's fill activities, positions against the journal)
//! before it takes a new intent. After a stream drop it reconnects and reconciles again.

pub mod intake;
pub mod orders;

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pyrt_alpaca::AlpacaError;
use pyrt_alpaca::rest::models::{Order, OrderRequest, ReplaceRequest};
use pyrt_alpaca::rest::{RestClient, RestConfig};
use pyrt_alpaca::stream::Backoff;
use pyrt_alpaca::stream::trading::{TradeUpdate, TradeUpdates};
use pyrt_journal::Journal;
use pyrt_ring::{ControlBlock, DaemonState, QueueProducer, WaitStrategy, names};
use pyrt_runtime::systemd;
use pyrt_telemetry::{Counter, HistogramSpec, StageRecorder, Telemetry};
use pyrt_types::{IntentAction, OrderIntent, OrderStatus, Price, RawEvent, SymbolTable, Timestamp};
use tokio::sync::mpsc;

use crate::intake::{Intake, IntakeConfig, IntakeCounters};
use crate::orders::{Execution, Orders};

/// The exec daemon's slot in the control block.
pub const CONTROL_SLOT: usize = 3;
/// Most intents made durable by one journal commit.
const INTAKE_BATCH: u64 = 64;

#[derive(Debug, Clone)]
pub struct ExecConfig {
    pub runtime_dir: PathBuf,
    /// Durable storage for the journals (not tmpfs).
    pub state_dir: PathBuf,
    pub fill_consumers: Vec<String>,
    pub fill_capacity: u64,
    pub rest: RestConfig,
    pub symbols: Vec<String>,
    /// `client_order_id` prefix; together with the intent sequence it must never repeat at the
    /// broker, so it names the trading session.
    pub client_order_prefix: String,
    pub wait: WaitStrategy,
    pub heartbeat: Duration,
    /// How often unsettled orders are re-checked through REST while any exist.
    pub reconcile_every: Duration,
    pub metrics: Option<SocketAddr>,
    pub histogram: HistogramSpec,
    /// HDR interval log of the stage latencies, and how often an interval is written.
    pub hdr_log: Option<(PathBuf, Duration)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("symbols: {0}")]
    Symbols(#[from] pyrt_types::SymbolError),
    #[error("ring or control block: {0}")]
    Ring(#[from] pyrt_ring::RingError),
    #[error("journal: {0}")]
    Journal(#[from] pyrt_journal::JournalError),
    #[error("telemetry: {0}")]
    Telemetry(#[from] pyrt_telemetry::TelemetryError),
    #[error("broker: {0}")]
    Broker(#[from] AlpacaError),
    #[error("cannot start the intake thread: {0}")]
    Thread(std::io::Error),
    #[error("intake stopped: {0}")]
    Intake(String),
    #[error("state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Events for the fill queues, in journal order. A queue that is full (its consumer is slow or
/// not running) keeps a backlog here instead of stalling the order path.
struct Outbox {
    queues: Vec<(QueueProducer, VecDeque<RawEvent>)>,
}

impl Outbox {
    /// Opens every queue and queues what it missed of `journaled` (a crash between journal commit
    /// and publication, or a queue recreated after a reboot).
    fn open(config: &ExecConfig, journaled: &[RawEvent]) -> Result<Self, ExecError> {
        let mut queues = Vec::with_capacity(config.fill_consumers.len());
        for consumer in &config.fill_consumers {
            let producer = QueueProducer::open(
                &names::fill(&config.runtime_dir, consumer),
                config.fill_capacity,
                config.wait,
            )?;
            let published = usize::try_from(producer.position()).unwrap_or(usize::MAX);
            let missed: VecDeque<RawEvent> = journaled
                .get(published..)
                .unwrap_or_default()
                .iter()
                .copied()
                .collect();
            if published > journaled.len() {
                eprintln!(
                    "exec: fill queue for {consumer} holds {published} events, the journal {}: \
                     it belongs to another journal; nothing re-published",
                    journaled.len()
                );
            }
            queues.push((producer, missed));
        }
        Ok(Self { queues })
    }

    fn publish(&mut self, event: &RawEvent) {
        for (queue, backlog) in &mut self.queues {
            if !backlog.is_empty() || queue.try_push(event).is_err() {
                backlog.push_back(*event);
            }
        }
    }

    fn drain(&mut self) {
        for (queue, backlog) in &mut self.queues {
            while let Some(event) = backlog.front() {
                if queue.try_push(event).is_err() {
                    break;
                }
                backlog.pop_front();
            }
            queue.heartbeat();
        }
    }

    fn backlog(&self) -> usize {
        self.queues.iter().map(|(_, b)| b.len()).sum()
    }
}

struct Metrics {
    intent_to_ack: StageRecorder,
    request_rtt: StageRecorder,
    submitted: Counter,
    broker_rejects: Counter,
    acks: Counter,
    fills: Counter,
    duplicate_fills: Counter,
    reconciled_fills: Counter,
    foreign_updates: Counter,
    external_fills: Counter,
    stream_drops: Counter,
    reconciles: Counter,
}

/// The network side: broker, order table, events journal and fill queues.
struct Exec {
    rest: RestClient,
    orders: Orders,
    symbols: SymbolTable,
    journal: Journal,
    outbox: Outbox,
    /// Events of the current step: journaled together, then published.
    pending: Vec<RawEvent>,
    metrics: Metrics,
    /// Set when the stream showed a gap in an order's fills.
    missed_fills: bool,
}

fn reject_code(error: &AlpacaError) -> u16 {
    match error {
        AlpacaError::Halted => intake::Refusal::KillSwitch.code(),
        AlpacaError::InsufficientBuyingPower(_) => 403,
        AlpacaError::NotFound(_) => 404,
        AlpacaError::NotCancelable(_) | AlpacaError::DuplicateClientOrderId(_) => 422,
        AlpacaError::RateLimited { .. } => 429,
        AlpacaError::Unauthorized { status, .. }
        | AlpacaError::Rejected { status, .. }
        | AlpacaError::Server { status, .. } => *status,
        _ => 0,
    }
}

fn optional_price(price: Price) -> Option<Price> {
    (!price.is_zero()).then_some(price)
}

fn elapsed_ns(since: Timestamp) -> u64 {
    u64::try_from(Timestamp::now().unix_nanos() - since.unix_nanos()).unwrap_or(0)
}

impl Exec {
    fn emit(&mut self, event: RawEvent) {
        self.journal.append(&event);
        self.pending.push(event);
    }

    /// Makes this step's events durable, then publishes them.
    fn flush(&mut self) -> Result<(), ExecError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.journal.commit()?;
        for event in self.pending.drain(..) {
            self.outbox.publish(&event);
        }
        Ok(())
    }

    fn order_answer(&mut self, seq: u64, order: &Order) {
        if let Some(ack) = self.orders.on_order(seq, order, Timestamp::now()) {
            self.metrics.acks.add(1);
            self.emit(RawEvent::from_event(&ack));
        }
    }

    fn reject(&mut self, seq: u64, code: u16) {
        self.metrics.broker_rejects.add(1);
        let ack = self.orders.on_reject(seq, code, Timestamp::now());
        self.emit(RawEvent::from_event(&ack));
    }

    fn request(&self, intent: &OrderIntent) -> Option<OrderRequest> {
        let symbol = self.symbols.name(intent.header.symbol)?;
        Some(OrderRequest {
            symbol: symbol.to_owned(),
            qty: Some(intent.qty),
            notional: None,
            side: intent.side().ok()?,
            order_type: intent.order_type().ok()?,
            time_in_force: intent.time_in_force().ok()?,
            limit_price: optional_price(intent.limit_price),
            stop_price: optional_price(intent.stop_price),
            client_order_id: self.orders.client_order_id(intent.intent_seq),
            extended_hours: false,
        })
    }

    /// Sends a new order; `Err` only for a transient failure that left its fate unknown (the
    /// next reconciliation settles it).
    async fn submit(&mut self, intent: &OrderIntent) -> Result<(), AlpacaError> {
        let seq = intent.intent_seq;
        let Some(request) = self.request(intent) else {
            self.reject(seq, intake::Refusal::Malformed.code());
            return Ok(());
        };
        self.metrics.submitted.add(1);
        let result = self.rest.submit_order(&request).await;
        self.metrics
            .request_rtt
            .record(u64::try_from(self.rest.last_exchange().as_nanos()).unwrap_or(u64::MAX));
        match result {
            Ok(order) => self.order_answer(seq, &order),
            Err(e) if e.is_transient() || matches!(e, AlpacaError::RateLimited { .. }) => {
                return Err(e);
            }
            Err(e) => {
                eprintln!("exec: intent {seq} refused by the broker: {e}");
                self.reject(seq, reject_code(&e));
            }
        }
        Ok(())
    }

    /// The broker order behind intent `target`, if it has one yet.
    fn broker_id(&self, target: u64) -> Option<String> {
        self.orders.get(target)?.broker_id.clone()
    }

    async fn cancel(&mut self, intent: &OrderIntent) -> Result<(), AlpacaError> {
        let Some(id) = self.broker_id(intent.ref_seq) else {
            self.reject(intent.intent_seq, 404);
            return Ok(());
        };
        match self.rest.cancel_order(&id).await {
            Ok(()) => {
                let ack = self.orders.on_request_accepted(
                    intent.intent_seq,
                    OrderStatus::PendingCancel,
                    Timestamp::now(),
                );
                self.emit(RawEvent::from_event(&ack));
            }
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => self.reject(intent.intent_seq, reject_code(&e)),
        }
        Ok(())
    }

    async fn replace(&mut self, intent: &OrderIntent) -> Result<(), AlpacaError> {
        let Some(id) = self.broker_id(intent.ref_seq) else {
            self.reject(intent.intent_seq, 404);
            return Ok(());
        };
        let change = ReplaceRequest {
            qty: Some(intent.qty),
            time_in_force: intent.time_in_force().ok(),
            limit_price: optional_price(intent.limit_price),
            stop_price: optional_price(intent.stop_price),
            client_order_id: Some(self.orders.client_order_id(intent.intent_seq)),
        };
        match self.rest.replace_order(&id, &change).await {
            Ok(order) => self.order_answer(intent.intent_seq, &order),
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => self.reject(intent.intent_seq, reject_code(&e)),
        }
        Ok(())
    }

    async fn act(&mut self, intent: &OrderIntent) -> Result<(), AlpacaError> {
        match intent.action() {
            Ok(IntentAction::New) => self.submit(intent).await,
            Ok(IntentAction::Cancel) => self.cancel(intent).await,
            Ok(IntentAction::Replace) => self.replace(intent).await,
            Err(_) => {
                self.reject(intent.intent_seq, intake::Refusal::Malformed.code());
                Ok(())
            }
        }
    }

    fn on_intake(&mut self, item: &Intake) -> Option<(OrderIntent, Timestamp)> {
        match *item {
            Intake::Intent { intent, read_at } => {
                self.orders.insert(intent);
                Some((intent, read_at))
            }
            Intake::Refused { intent, reason } => {
                eprintln!(
                    "exec: intent {} refused ({reason:?}); nothing sent",
                    intent.intent_seq
                );
                self.reject(intent.intent_seq, reason.code());
                None
            }
            Intake::Failed(_) => None,
        }
    }

    fn on_update(&mut self, update: &TradeUpdate) {
        let now = Timestamp::now();
        if update.is_fill() {
            let (Some(qty), Some(price)) = (update.qty, update.price) else {
                self.missed_fills = true;
                return;
            };
            let ts = update.timestamp.unwrap_or(now);
            match self.orders.on_execution(&update.order, qty, price, ts, now) {
                Execution::Fill(fill) => {
                    self.metrics.fills.add(1);
                    self.emit(RawEvent::from_event(&fill));
                }
                Execution::Duplicate => self.metrics.duplicate_fills.add(1),
                Execution::Missed => self.missed_fills = true,
                Execution::Foreign => {
                    self.metrics.foreign_updates.add(1);
                    let external = self.symbols.get(&update.order.symbol).and_then(|symbol| {
                        self.orders.on_external_execution(
                            &update.order,
                            symbol,
                            qty,
                            price,
                            ts,
                            now,
                        )
                    });
                    if let Some(fill) = external {
                        self.metrics.external_fills.add(1);
                        self.emit(RawEvent::from_event(&fill));
                    }
                }
            }
            return;
        }
        match self.orders.seq_of(&update.order.client_order_id) {
            Some(seq) if self.orders.get(seq).is_some() => self.order_answer(seq, &update.order),
            _ => self.metrics.foreign_updates.add(1),
        }
    }

    /// Settles every order the broker may still change: its status by `client_order_id`
    /// (submitting intents that never reached the broker), then fills from the activities.
    async fn reconcile(&mut self) -> Result<(), ExecError> {
        self.metrics.reconciles.add(1);
        let mut fills_owed = self.missed_fills;
        for seq in self.orders.unsettled() {
            let Some(state) = self.orders.get(seq) else {
                continue;
            };
            let intent = state.intent;
            let answered = state.status.is_some();
            match intent.action() {
                Ok(IntentAction::New | IntentAction::Replace) => {
                    let cid = self.orders.client_order_id(seq);
                    match self.rest.get_order_by_client_order_id(&cid).await {
                        Ok(order) => {
                            self.order_answer(seq, &order);
                            fills_owed |= self
                                .orders
                                .get(seq)
                                .is_some_and(|s| s.filled < s.broker_filled);
                        }
                        Err(AlpacaError::NotFound(_)) if !answered => {
                            // Journaled, never reached the broker: send it now (exactly once,
                            // by its client_order_id).
                            self.act(&intent).await?;
                        }
                        Err(AlpacaError::NotFound(_)) => self.reject(seq, 404),
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(IntentAction::Cancel) if !answered => self.act(&intent).await?,
                Ok(IntentAction::Cancel) | Err(_) => {}
            }
            self.flush()?;
        }
        if fills_owed {
            self.fetch_missing_fills().await?;
        }
        self.missed_fills = false;
        self.flush()
    }

    async fn fetch_missing_fills(&mut self) -> Result<(), ExecError> {
        let mut token: Option<String> = None;
        loop {
            let page = self.rest.fill_activities(token.as_deref()).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            token = Some(last.id.clone());
            for fill in self.orders.on_activities(&page, Timestamp::now()) {
                self.metrics.reconciled_fills.add(1);
                self.metrics.fills.add(1);
                self.emit(RawEvent::from_event(&fill));
            }
            self.flush()?;
        }
    }

    /// Squares exec's net position per symbol (its fills and the external ones) with the
    /// broker's: holdings from before this journal, or trades made while exec was down, become
    /// external fills, so risk starts from the broker's positions. A symbol with an order of
    /// ours still working is left for its fills to settle, and reported.
    async fn check_positions(&mut self) -> Result<(), ExecError> {
        let now = Timestamp::now();
        // Clocks of broker and host differ a little: an execution inside that margin around
        // the read could be counted twice or not at all; trades by hand during exec's start are
        // the only ones exposed to it.
        self.orders.squaring_from(now);
        let positions = self.rest.positions().await?;
        for index in 0..self.symbols.len() {
            let symbol = pyrt_types::SymbolId(u32::try_from(index).unwrap_or(u32::MAX));
            let Some(name) = self.symbols.name(symbol) else {
                continue;
            };
            let held = positions.iter().find(|p| p.symbol == name);
            let broker = held.map_or(pyrt_types::Qty::ZERO, |p| {
                if p.side == "short" {
                    pyrt_types::Qty::ZERO.saturating_sub(p.qty.abs())
                } else {
                    p.qty
                }
            });
            let price = held.map(|p| p.current_price.unwrap_or(p.avg_entry_price));
            if self.orders.working_on(symbol) {
                eprintln!("exec: position {name}: not squared while an order of ours works");
                continue;
            }
            if let Some(fill) = self.orders.square(symbol, broker, price, now) {
                eprintln!(
                    "exec: position {name}: broker {broker}; external fill of {} {} booked",
                    fill.side().map_or("?", pyrt_types::Side::as_str),
                    fill.qty
                );
                self.metrics.external_fills.add(1);
                self.emit(RawEvent::from_event(&fill));
            }
        }
        self.flush()
    }
}

async fn connect_updates(
    config: &ExecConfig,
    backoff: &mut Backoff,
    control: &ControlBlock,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<Option<TradeUpdates>, ExecError> {
    loop {
        let connect = TradeUpdates::connect(
            &config.rest.base_url,
            &config.rest.credentials,
            Duration::from_secs(10),
        );
        tokio::select! {
            () = &mut *shutdown => return Ok(None),
            result = connect => match result {
                Ok(stream) => {
                    backoff.reset();
                    return Ok(Some(stream));
                }
                Err(e) => {
                    eprintln!("exec: cannot open trade_updates: {e}");
                    control.set_state(CONTROL_SLOT, DaemonState::Degraded)?;
                }
            },
        }
        let delay = backoff.next_delay();
        tokio::select! {
            () = &mut *shutdown => return Ok(None),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

fn open_journal(
    dir: &Path,
    name: &str,
    batch: usize,
) -> Result<(Journal, Vec<RawEvent>), ExecError> {
    let (journal, replay) = Journal::open(&dir.join(name), batch)?;
    if replay.truncated_bytes > 0 {
        eprintln!(
            "exec: {name}: cut {} bytes of a torn final write",
            replay.truncated_bytes
        );
    }
    Ok((
        journal,
        replay.records.into_iter().map(|(_, e)| e).collect(),
    ))
}

/// Runs until `shutdown` completes.
#[allow(clippy::too_many_lines)] // one linear start-up sequence and one event loop
pub async fn run(config: ExecConfig, shutdown: impl Future<Output = ()>) -> Result<(), ExecError> {
    let symbols = SymbolTable::from_names(config.symbols.iter().map(String::as_str))?;
    for dir in [&config.runtime_dir, &config.state_dir] {
        std::fs::create_dir_all(dir).map_err(|source| ExecError::StateDir {
            path: dir.clone(),
            source,
        })?;
    }
    let control = ControlBlock::open_or_create(&config.runtime_dir.join(names::CONTROL))?;
    control.register(CONTROL_SLOT, "exec", std::process::id())?;
    control.set_state(CONTROL_SLOT, DaemonState::Starting)?;

    let batch = usize::try_from(INTAKE_BATCH).unwrap_or(64);
    let (intent_journal, intents) =
        open_journal(&config.state_dir, pyrt_journal::EXEC_INTENTS, batch)?;
    let (event_journal, events) =
        open_journal(&config.state_dir, pyrt_journal::EXEC_EVENTS, batch)?;
    let orders = Orders::replay(&config.client_order_prefix, &intents, &events);
    let outbox = Outbox::open(&config, &events)?;

    let telemetry = Telemetry::new("exec", config.histogram);
    let _server = config
        .metrics
        .map(|addr| telemetry.serve(addr))
        .transpose()?;
    let _hdr_log = config
        .hdr_log
        .as_ref()
        .map(|(path, every)| telemetry.log_intervals(path, *every))
        .transpose()?;
    let mut rest = RestClient::new(&config.rest)?;
    let gate = ControlBlock::attach(&config.runtime_dir.join(names::CONTROL))?;
    rest.set_order_gate(Box::new(move || !gate.kill_switch()));
    let mut exec = Exec {
        rest,
        orders,
        symbols,
        journal: event_journal,
        outbox,
        pending: Vec::with_capacity(batch),
        metrics: Metrics {
            intent_to_ack: telemetry.stage("intent_to_ack")?,
            request_rtt: telemetry.stage("request_rtt")?,
            submitted: telemetry.counter("orders", "submitted")?,
            broker_rejects: telemetry.counter("orders", "rejected")?,
            acks: telemetry.counter("acks", "published")?,
            fills: telemetry.counter("fills", "published")?,
            duplicate_fills: telemetry.counter("fills", "duplicate_dropped")?,
            reconciled_fills: telemetry.counter("fills", "from_activities")?,
            foreign_updates: telemetry.counter("trade_updates", "foreign")?,
            external_fills: telemetry.counter("fills", "external")?,
            stream_drops: telemetry.counter("trade_updates", "dropped")?,
            reconciles: telemetry.counter("reconciles", "run")?,
        },
        missed_fills: false,
    };
    let intake_counters = IntakeCounters {
        accepted: telemetry.counter("intents", "accepted")?,
        refused: telemetry.counter("intents", "refused")?,
        duplicates: telemetry.counter("intents", "duplicate")?,
        not_intents: telemetry.counter("intents", "not_an_intent")?,
    };
    exec.outbox.drain();

    let mut shutdown = pin!(shutdown);
    let heartbeat_control = ControlBlock::attach(&config.runtime_dir.join(names::CONTROL))?;
    let heartbeat_every = config.heartbeat;
    let heartbeat = tokio::spawn(async move {
        let mut tick = tokio::time::interval(heartbeat_every);
        loop {
            tick.tick().await;
            let _ = heartbeat_control.heartbeat(CONTROL_SLOT);
        }
    });
    let watchdog = tokio::spawn(systemd::keep_watchdog_fed());
    systemd::ready("reconciling with the broker");

    // The stream first, so no fill falls between reconciliation and listening.
    let mut backoff = Backoff::new(Duration::from_secs(30));
    let Some(mut updates) = connect_updates(&config, &mut backoff, &control, &mut shutdown).await?
    else {
        heartbeat.abort();
        watchdog.abort();
        control.set_state(CONTROL_SLOT, DaemonState::Stopped)?;
        return Ok(());
    };
    exec.reconcile().await?;
    exec.check_positions().await?;

    let (tx, mut rx) = mpsc::channel(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let intake = intake::spawn(
        IntakeConfig {
            ring: config.runtime_dir.join(names::ORDER),
            control: ControlBlock::attach(&config.runtime_dir.join(names::CONTROL))?,
            wait: config.wait,
            stamp_key: control.stamp_key(),
            symbols: config.symbols.len(),
            last_seq: exec.orders.last_seq(),
            batch: INTAKE_BATCH,
        },
        intent_journal,
        tx,
        intake_counters,
        Arc::clone(&stop),
    )
    .map_err(ExecError::Thread)?;
    control.set_state(CONTROL_SLOT, DaemonState::Running)?;
    systemd::ready("accepting intents");

    let mut tick = tokio::time::interval(config.heartbeat);
    let mut last_reconcile = Instant::now();
    let outcome: Result<(), ExecError> = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            _ = tick.tick() => {
                exec.outbox.drain();
                telemetry.flush(&mut exec.metrics.intent_to_ack);
                telemetry.flush(&mut exec.metrics.request_rtt);
                let due = last_reconcile.elapsed() >= config.reconcile_every;
                if due && (exec.missed_fills || !exec.orders.unsettled().is_empty()) {
                    last_reconcile = Instant::now();
                    if let Err(e) = exec.reconcile().await {
                        eprintln!("exec: reconciliation failed, retrying: {e}");
                    }
                }
            }
            item = rx.recv() => {
                let Some(item) = item else {
                    break Err(ExecError::Intake("the intake thread ended".into()));
                };
                if let Intake::Failed(reason) = item {
                    break Err(ExecError::Intake(reason));
                }
                if let Some((intent, read_at)) = exec.on_intake(&item) {
                    if let Err(e) = exec.act(&intent).await {
                        eprintln!("exec: intent {} in doubt ({e}); reconciling", intent.intent_seq);
                    }
                    exec.metrics.intent_to_ack.record(elapsed_ns(read_at));
                }
                if let Err(e) = exec.flush() {
                    break Err(e);
                }
            }
            update = updates.next() => {
                match update {
                    Ok(update) => exec.on_update(&update),
                    Err(e) => {
                        eprintln!("exec: trade_updates lost: {e}");
                        exec.metrics.stream_drops.add(1);
                        control.set_state(CONTROL_SLOT, DaemonState::Degraded)?;
                        match connect_updates(&config, &mut backoff, &control, &mut shutdown).await? {
                            Some(stream) => updates = stream,
                            None => break Ok(()),
                        }
                        exec.missed_fills = true;
                        if let Err(e) = exec.reconcile().await {
                            eprintln!("exec: reconciliation failed, retrying: {e}");
                        }
                        control.set_state(CONTROL_SLOT, DaemonState::Running)?;
                    }
                }
                if let Err(e) = exec.flush() {
                    break Err(e);
                }
            }
        }
    };
    systemd::stopping();
    control.set_state(CONTROL_SLOT, DaemonState::Stopping)?;
    stop.store(true, Ordering::Relaxed);
    // Intents the intake thread already journaled are settled by the next start's reconciliation.
    drop(rx);
    let _ = intake.join();
    let flushed = exec.flush();
    exec.outbox.drain();
    if exec.outbox.backlog() > 0 {
        eprintln!(
            "exec: {} events not yet taken by fill consumers; they are journaled and re-published on start",
            exec.outbox.backlog()
        );
    }
    heartbeat.abort();
    watchdog.abort();
    let final_state = if outcome.is_ok() && flushed.is_ok() {
        DaemonState::Stopped
    } else {
        DaemonState::Failed
    };
    control.set_state(CONTROL_SLOT, final_state)?;
    outcome.and(flushed)
}
