//! A restarted risk daemon must know what its predecessor knew: positions, orders in flight and
//! the day's P&L come back from exec's journals and the fill queue together, each event counted
//! once. The daemon runs on a thread of this test process against real ring and journal files;
//! exec is played by the test, which writes its journals and fill queue as exec does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyrt_journal::Journal;
use pyrt_ring::{
    BroadcastProducer, ControlBlock, QueueConsumer, QueueProducer, WaitStrategy, names,
};
use pyrt_riskd::{RiskdConfig, RiskdError, run};
use pyrt_telemetry::HistogramSpec;
use pyrt_testkit::eventually;
use pyrt_types::{
    Fill, IntentAction, OrderAck, OrderIntent, OrderStatus, OrderType, Price, Qty, Quote, RawEvent,
    Side, Signal, SymbolId, TimeInForce, Timestamp,
};

const WAIT: WaitStrategy = WaitStrategy::Park;
const AAPL: SymbolId = SymbolId(0);
const MSFT: SymbolId = SymbolId(1);
/// Intent sequences the tests give the predecessor's orders; the restarted daemon's are far
/// larger (microseconds since the epoch).
const PREDECESSOR_SEQS: u64 = 1_000;

struct Dirs {
    root: PathBuf,
    runtime: PathBuf,
    state: PathBuf,
}

impl Dirs {
    fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!("pyrt-riskd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dirs = Self {
            runtime: root.join("run"),
            state: root.join("state"),
            root,
        };
        std::fs::create_dir_all(&dirs.runtime).unwrap();
        std::fs::create_dir_all(&dirs.state).unwrap();
        dirs
    }

    fn config(&self) -> RiskdConfig {
        RiskdConfig {
            runtime_dir: self.runtime.clone(),
            limits_path: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../config/risk_limits.toml"),
            symbols: vec!["AAPL".into(), "MSFT".into()],
            order_capacity: 64,
            wait: WAIT,
            heartbeat: Duration::from_millis(50),
            metrics: None,
            histogram: HistogramSpec {
                max_ns: 1_000_000_000,
                significant_figures: 3,
            },
            hdr_log: None,
            exec_state_dir: Some(self.state.clone()),
        }
    }
}

fn qty(units: i64) -> Qty {
    Qty::from_units(units).unwrap()
}

fn price(text: &str) -> Price {
    Price::parse(text).unwrap()
}

fn intent(seq: u64, symbol: SymbolId, side: Side, units: i64) -> RawEvent {
    let mut i = OrderIntent::with_header(Timestamp::now(), symbol);
    i.intent_seq = seq;
    i.qty = qty(units);
    i.side = side.code();
    i.order_type = OrderType::Market.code();
    i.time_in_force = TimeInForce::Day.code();
    i.action = IntentAction::New as u8;
    RawEvent::from_event(&i)
}

fn ack(seq: u64, symbol: SymbolId, status: OrderStatus, leaves: i64) -> RawEvent {
    let mut a = OrderAck::with_header(Timestamp::now(), symbol);
    a.ts_event = Timestamp::now();
    a.intent_seq = seq;
    a.leaves_qty = qty(leaves);
    a.status = status.code();
    RawEvent::from_event(&a)
}

fn fill(seq: u64, symbol: SymbolId, side: Side, units: i64, at: &str, leaves: i64) -> RawEvent {
    let f = Fill::with_header(Timestamp::now(), symbol).execution(
        Timestamp::now(),
        seq,
        side,
        price(at),
        qty(units),
        qty(leaves),
    );
    RawEvent::from_event(&f)
}

/// Writes exec's two journals and its fill queue for risk, of which risk's predecessor had taken
/// the first `consumed` events before it stopped.
fn exec_wrote(dirs: &Dirs, intents: &[RawEvent], events: &[RawEvent], consumed: usize) {
    for (name, records) in [
        (pyrt_journal::EXEC_INTENTS, intents),
        (pyrt_journal::EXEC_EVENTS, events),
    ] {
        let (mut journal, _) = Journal::open(&dirs.state.join(name), 64).unwrap();
        for record in records {
            journal.append(record);
        }
        journal.commit().unwrap();
    }
    let queue = names::fill(&dirs.runtime, "risk");
    let mut producer = QueueProducer::open(&queue, 64, WAIT).unwrap();
    for event in events {
        producer.try_push(event).unwrap();
    }
    let mut predecessor = QueueConsumer::attach(&queue, WAIT).unwrap();
    for _ in 0..consumed {
        predecessor.try_pop().unwrap();
    }
}

fn publish_quotes(md: &mut BroadcastProducer) {
    for (symbol, bid, ask) in [(AAPL, "99.99", "100.01"), (MSFT, "199.98", "200.02")] {
        let mut q = Quote::with_header(Timestamp::now(), symbol);
        q.ts_event = Timestamp::now();
        q.bid_price = price(bid);
        q.ask_price = price(ask);
        q.bid_size = qty(100);
        q.ask_size = qty(100);
        md.publish(&RawEvent::from_event(&q));
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    daemon: JoinHandle<Result<(), RiskdError>>,
}

impl Running {
    fn start(config: RiskdConfig) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        // Not a scoped thread: a failed assertion must end the test, not wait for the daemon.
        let daemon = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || run(&config, &stop)
        });
        Self { stop, daemon }
    }

    fn stop(self) -> Result<(), RiskdError> {
        self.stop.store(true, Ordering::Relaxed);
        self.daemon.join().unwrap()
    }
}

fn signal(symbol: SymbolId, side: Side, units: i64) -> RawEvent {
    let mut s = Signal::with_header(Timestamp::now(), symbol);
    s.ts_event = Timestamp::now();
    s.side = side.code();
    s.target_qty = qty(units);
    RawEvent::from_event(&s)
}

/// The feed and strategy as risk sees them: quotes on the md ring, target positions on the
/// signal ring.
struct Upstream {
    md: BroadcastProducer,
    signals: QueueProducer,
    /// exec's end of the order ring, read without consuming (as if exec were down), so what the
    /// predecessor left in it stays unconsumed for the restarted risk to find.
    orders: Option<QueueConsumer>,
    read: u64,
}

impl Upstream {
    fn open(dirs: &Dirs) -> Self {
        Self {
            md: BroadcastProducer::open(&dirs.runtime.join(names::MD), 64).unwrap(),
            signals: QueueProducer::open(&dirs.runtime.join(names::SIGNAL), 64, WAIT).unwrap(),
            orders: None,
            read: 0,
        }
    }

    /// The intent risk sends for `signal`. A broadcast reader starts at the head, so quotes
    /// published before risk attached never reach it: quotes and the signal are repeated until
    /// an intent comes out (no faster than the message-rate limit). A target position repeated is sized against what is already on its
    /// way, so the repetition cannot add an order.
    fn intent_for(&mut self, dirs: &Dirs, signal: &RawEvent) -> OrderIntent {
        let mut sent: Option<Instant> = None;
        eventually("risk sends an intent", || {
            publish_quotes(&mut self.md);
            // Slower than the message-rate limit, which would trip the kill switch.
            if sent.is_none_or(|at| at.elapsed() > Duration::from_millis(100)) {
                sent = Some(Instant::now());
                self.signals.try_push(signal).unwrap();
            }
            if self.orders.is_none() {
                self.orders = QueueConsumer::attach(&dirs.runtime.join(names::ORDER), WAIT).ok();
            }
            let event = self.orders.as_mut()?.peek_at(self.read)?;
            self.read += 1;
            let intent = *event.as_event::<OrderIntent>().unwrap();
            (intent.intent_seq > PREDECESSOR_SEQS).then_some(intent)
        })
    }
}

#[test]
fn a_restarted_risk_daemon_counts_every_fill_and_order_in_flight_once() {
    let dirs = Dirs::new("restart");
    // Before the restart: AAPL 1 (buy 100) filled; AAPL 2 (buy 50) filled 20 of 50 and works on;
    // MSFT 3 (sell 30) was journaled by exec and has no answer yet. Risk had taken the first two
    // events; the queue still holds the other three.
    exec_wrote(
        &dirs,
        &[
            intent(1, AAPL, Side::Buy, 100),
            intent(2, AAPL, Side::Buy, 50),
            intent(3, MSFT, Side::Sell, 30),
        ],
        &[
            ack(1, AAPL, OrderStatus::New, 100),
            fill(1, AAPL, Side::Buy, 100, "100", 0),
            ack(2, AAPL, OrderStatus::New, 50),
            fill(2, AAPL, Side::Buy, 20, "100", 30),
            ack(3, MSFT, OrderStatus::New, 30),
        ],
        2,
    );
    // The predecessor had also written MSFT 4 (sell 10), which exec has not taken yet, and MSFT 3
    // is still in the ring too: exec journals an intent before it takes it off the ring.
    let mut predecessor = QueueProducer::open(&dirs.runtime.join(names::ORDER), 64, WAIT).unwrap();
    predecessor
        .try_push(&intent(3, MSFT, Side::Sell, 30))
        .unwrap();
    predecessor
        .try_push(&intent(4, MSFT, Side::Sell, 10))
        .unwrap();
    drop(predecessor);
    let mut upstream = Upstream::open(&dirs);
    let risk = Running::start(dirs.config());

    // AAPL holds 120 with 30 more on its way: a target of 200 needs 50 more. Started flat, risk
    // would buy 180 (or, counting the replayed events again, 30).
    let buy = upstream.intent_for(&dirs, &signal(AAPL, Side::Buy, 200));
    assert_eq!((buy.side, buy.qty), (Side::Buy.code(), qty(50)));
    // MSFT is flat with sells of 30 and 10 in flight: a target of short 50 needs 10 more (counting
    // MSFT 3 twice it would buy 20; missing MSFT 4, sell 20).
    let sell = upstream.intent_for(&dirs, &signal(MSFT, Side::Sell, 50));
    assert_eq!((sell.side, sell.qty), (Side::Sell.code(), qty(10)));

    risk.stop().unwrap();
    std::fs::remove_dir_all(&dirs.root).unwrap();
}

#[test]
fn the_days_losses_survive_a_restart_and_keep_the_kill_switch_set() {
    let dirs = Dirs::new("loss");
    // Bought 100 at 200 and sold them at 140 today: 6,000 lost against a 5,000 limit.
    exec_wrote(
        &dirs,
        &[
            intent(1, AAPL, Side::Buy, 100),
            intent(2, AAPL, Side::Sell, 100),
        ],
        &[
            fill(1, AAPL, Side::Buy, 100, "200", 0),
            fill(2, AAPL, Side::Sell, 100, "140", 0),
        ],
        2,
    );
    let control = ControlBlock::open_or_create(&dirs.runtime.join(names::CONTROL)).unwrap();
    assert!(!control.kill_switch());
    let risk = Running::start(dirs.config());
    eventually("risk trips the kill switch on the rebuilt loss", || {
        control.kill_switch().then_some(())
    });
    assert_eq!(
        control.kill_reason(),
        pyrt_riskd::KILL_REASON_BREACH_BASE + u32::from(pyrt_risk::Reject::DailyLoss as u8)
    );
    risk.stop().unwrap();
    std::fs::remove_dir_all(&dirs.root).unwrap();
}

#[test]
fn a_corrupt_exec_journal_stops_risk_instead_of_trading_on_a_guess() {
    let dirs = Dirs::new("corrupt");
    exec_wrote(&dirs, &[intent(1, AAPL, Side::Buy, 10)], &[], 0);
    std::fs::write(
        dirs.state.join(pyrt_journal::EXEC_EVENTS),
        b"this is not a py_rt journal at all, and it is longer than a header is",
    )
    .unwrap();
    let risk = Running::start(dirs.config());
    eventually("risk stops", || risk.daemon.is_finished().then_some(()));
    let err = risk.stop().unwrap_err();
    assert!(
        matches!(err, RiskdError::Journal(_)),
        "expected a journal error, got {err}"
    );
    assert!(err.to_string().contains(pyrt_journal::EXEC_EVENTS), "{err}");
    std::fs::remove_dir_all(&dirs.root).unwrap();
}
