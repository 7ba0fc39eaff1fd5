//! The exec daemon as a real process against the project's simulator (a real process over real
//! sockets). The test plays risk: it owns the control block's stamp key and writes the order ring,
//! and reads exec's fill queue. Crash safety is checked the hard way: SIGKILL in the middle of a
//! burst, restart, then the simulator's own count of submissions per `client_order_id`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pyrt_alpaca::rest::{Credentials, RestConfig};
use pyrt_exec::{ExecConfig, run};
use pyrt_ring::{ControlBlock, QueueConsumer, QueueProducer, RingError, WaitStrategy, names};
use pyrt_telemetry::HistogramSpec;
use pyrt_testkit::{KEY_ID, SECRET_KEY, Simulator, scratch};
use pyrt_types::{
    EventKind, Fill, IntentAction, OrderAck, OrderIntent, OrderStatus, OrderType, Qty, RawEvent,
    Side, SymbolId, TimeInForce, Timestamp,
};

const PREFIX: &str = "t";
const CONSUMER: &str = "test";
const WAIT: WaitStrategy = WaitStrategy::Park;

fn config(runtime_dir: &Path, state_dir: &Path, base_url: &str) -> ExecConfig {
    let mut rest = RestConfig::new(
        base_url,
        Credentials {
            key_id: KEY_ID.into(),
            secret_key: SECRET_KEY.into(),
        },
    );
    // The simulator is started with a limit far above this; Alpaca's own limit is a config value.
    rest.requests_per_minute = 1_000_000;
    rest.burst = 1_000;
    rest.timeout = Duration::from_secs(5);
    ExecConfig {
        runtime_dir: runtime_dir.to_owned(),
        state_dir: state_dir.to_owned(),
        fill_consumers: vec![CONSUMER.into()],
        fill_capacity: 1 << 14,
        rest,
        symbols: vec!["AAPL".into(), "MSFT".into(), "GOOGL".into()],
        client_order_prefix: PREFIX.into(),
        wait: WAIT,
        heartbeat: Duration::from_millis(50),
        reconcile_every: Duration::from_millis(200),
        metrics: None,
        histogram: HistogramSpec {
            max_ns: 10_000_000_000,
            significant_figures: 3,
        },
        hdr_log: None,
    }
}

/// The exec daemon itself, run by a child copy of this test binary.
#[test]
#[ignore = "child process of the exec tests"]
fn child_exec() {
    let (Some(dir), Some(url)) = (
        std::env::var_os("PYRT_EXEC_DIR"),
        std::env::var_os("PYRT_EXEC_URL"),
    ) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let config = config(&dir.join("run"), &dir.join("state"), url.to_str().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
            run(config, async move {
                term.recv().await;
            })
            .await
        })
        .unwrap();
}

/// The exec child; killed if the test fails first.
struct ExecProcess(Child);

impl Drop for ExecProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ExecProcess {
    fn spawn(dir: &Path, sim: &Simulator) -> Self {
        Self(
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_exec", "--ignored", "--nocapture"])
                .env("PYRT_EXEC_DIR", dir)
                .env("PYRT_EXEC_URL", sim.http_url())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        )
    }

    /// SIGTERM, and a clean exit expected.
    fn stop(mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(i32::try_from(self.0.id()).unwrap(), libc::SIGTERM);
        }
        let status = self.0.wait().unwrap();
        assert!(status.success(), "exec exited with {status}");
    }

    fn kill_hard(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

/// The test's side of the rings: risk's stamp key and order ring, a fill consumer.
struct Risk {
    control: ControlBlock,
    key: u64,
    orders: QueueProducer,
    fills: Option<QueueConsumer>,
    fill_path: PathBuf,
    acks: HashMap<u64, Vec<OrderAck>>,
    filled: HashMap<u64, Vec<Fill>>,
}

impl Risk {
    fn new(dir: &Path) -> Self {
        let run = dir.join("run");
        std::fs::create_dir_all(&run).unwrap();
        let control = ControlBlock::open_or_create(&run.join("control")).unwrap();
        Self {
            key: control.stamp_key(),
            control,
            orders: QueueProducer::open(&run.join(names::ORDER), 4096, WAIT).unwrap(),
            fills: None,
            fill_path: names::fill(&run, CONSUMER),
            acks: HashMap::new(),
            filled: HashMap::new(),
        }
    }

    /// Intent `seq` for one share of symbol `seq % 3`, buying and selling that symbol in turn so
    /// the account never runs out of buying power.
    fn intent(&self, seq: u64, action: IntentAction, stamped: bool) -> RawEvent {
        let symbol = u32::try_from(seq % 3).unwrap();
        self.intent_for(seq, symbol, action, stamped)
    }

    fn intent_for(&self, seq: u64, symbol: u32, action: IntentAction, stamped: bool) -> RawEvent {
        let mut intent = OrderIntent::with_header(Timestamp::now(), SymbolId(symbol));
        intent.intent_seq = seq;
        intent.qty = Qty::from_units(1).unwrap();
        let side = if (seq / 3).is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        };
        intent.side = side.code();
        intent.order_type = OrderType::Market.code();
        intent.time_in_force = TimeInForce::Day.code();
        intent.action = action as u8;
        if stamped {
            intent.risk_stamp = pyrt_risk::stamp(&intent, self.key);
        }
        RawEvent::from_event(&intent)
    }

    fn send(&mut self, event: &RawEvent) {
        self.orders.push(event, Duration::from_secs(30)).unwrap();
    }

    /// Reads the fill queue until `done` holds or `within` passes.
    fn collect_until(&mut self, within: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + within;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out: {} acked, {} filled",
                self.acks.len(),
                self.filled.len()
            );
            let Some(fills) = self.fills.as_mut() else {
                if self.fill_path.exists() {
                    self.fills = Some(QueueConsumer::attach(&self.fill_path, WAIT).unwrap());
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
                continue;
            };
            let event = match fills.pop(Duration::from_millis(100)) {
                Ok(Some(event)) => event,
                Ok(None) | Err(RingError::ProducerDead { .. }) => continue,
                Err(e) => panic!("{e}"),
            };
            match event.kind().unwrap() {
                EventKind::OrderAck => {
                    let ack = *event.as_event::<OrderAck>().unwrap();
                    self.acks.entry(ack.intent_seq).or_default().push(ack);
                }
                EventKind::Fill => {
                    let fill = *event.as_event::<Fill>().unwrap();
                    self.filled.entry(fill.intent_seq).or_default().push(fill);
                }
                other => panic!("unexpected {other:?} on the fill queue"),
            }
        }
    }

    fn filled_qty(&self, seq: u64) -> Qty {
        self.filled.get(&seq).map_or(Qty::ZERO, |f| {
            f.iter().fold(Qty::ZERO, |a, f| a.saturating_add(f.qty))
        })
    }

    /// Every fill the venue booked is on the fill queue exactly once: per order, the same total.
    fn assert_fills_match(&self, venue_fills: &HashMap<String, Qty>) {
        let seq_of: HashMap<[u8; 16], u64> = self
            .acks
            .iter()
            .flat_map(|(&seq, acks)| acks.iter().map(move |a| (a.broker_order_id, seq)))
            .filter(|(id, _)| *id != [0; 16])
            .collect();
        for (order_id, qty) in venue_fills {
            let seq = seq_of[&pyrt_exec::orders::broker_id_bytes(order_id)];
            assert_eq!(
                self.filled_qty(seq),
                *qty,
                "order {order_id} (intent {seq})"
            );
        }
        let ring_total = self
            .filled
            .keys()
            .fold(Qty::ZERO, |a, &seq| a.saturating_add(self.filled_qty(seq)));
        let venue_total = venue_fills
            .values()
            .fold(Qty::ZERO, |a, q| a.saturating_add(*q));
        assert_eq!(ring_total, venue_total);
    }

    fn all_filled(&self, seqs: impl IntoIterator<Item = u64>) -> bool {
        seqs.into_iter()
            .all(|seq| self.filled_qty(seq) == Qty::from_units(1).unwrap())
    }
}

/// What the venue saw: submissions per `client_order_id` and the fills it booked per order.
fn venue_view(sim: &Simulator) -> (HashMap<String, u64>, u64, HashMap<String, Qty>) {
    let stats = sim.get_json("/_sim/stats");
    let submissions = stats["order_submissions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let accepted = stats["accepted_orders"].as_u64().unwrap();
    let mut filled: HashMap<String, Qty> = HashMap::new();
    let mut token = String::new();
    loop {
        let page = sim.get_json(&format!(
            "/v2/account/activities/FILL?direction=asc&page_size=100{token}"
        ));
        let page = page.as_array().unwrap();
        let Some(last) = page.last() else { break };
        for activity in page {
            let order = activity["order_id"].as_str().unwrap().to_owned();
            let qty: Qty = activity["qty"].as_str().unwrap().parse().unwrap();
            let entry = filled.entry(order).or_insert(Qty::ZERO);
            *entry = entry.saturating_add(qty);
        }
        token = format!("&page_token={}", last["id"].as_str().unwrap());
    }
    (submissions, accepted, filled)
}

#[test]
fn orders_flow_out_fills_come_back_and_unstamped_intents_never_leave() {
    let Some(sim) = Simulator::start(&["--requests-per-minute", "1000000", "--speed", "max"])
    else {
        return;
    };
    let dir = scratch("exec-flow");
    let mut risk = Risk::new(&dir);
    let exec = ExecProcess::spawn(&dir, &sim);
    let unstamped = risk.intent(1, IntentAction::New, false);
    risk.send(&unstamped);
    let unknown_symbol = risk.intent_for(2, 7, IntentAction::New, true);
    risk.send(&unknown_symbol);
    for seq in 3..=12 {
        let intent = risk.intent(seq, IntentAction::New, true);
        risk.send(&intent);
    }
    let replayed = risk.intent(5, IntentAction::New, true);
    risk.send(&replayed);
    risk.collect_until(Duration::from_mins(1), |r| r.all_filled(3..=12));

    risk.control.set_kill_switch(true, 1);
    let after_halt = risk.intent(13, IntentAction::New, true);
    risk.send(&after_halt);
    risk.collect_until(Duration::from_secs(30), |r| r.acks.contains_key(&13));
    let refused = |seq: u64| risk.acks[&seq][0];
    assert_eq!(refused(13).reject_code, 4, "kill switch");
    assert_eq!(refused(1).status().unwrap(), OrderStatus::Rejected);
    assert_eq!(refused(1).reject_code, 1, "unstamped");
    assert_eq!(refused(2).reject_code, 2, "unknown symbol");
    let (submissions, accepted, venue_fills) = venue_view(&sim);
    assert_eq!(accepted, 10);
    let expected: HashMap<String, u64> = (3..=12).map(|s| (format!("{PREFIX}-{s}"), 1)).collect();
    assert_eq!(
        submissions, expected,
        "refused and repeated intents never reach the venue"
    );
    risk.assert_fills_match(&venue_fills);
    for seq in 3..=12 {
        let acks = &risk.acks[&seq];
        assert!(
            acks[0].broker_order_id != [0; 16],
            "ack carries the broker id"
        );
    }
    exec.stop();
}

#[test]
fn a_killed_exec_restarts_and_every_intent_reaches_the_venue_exactly_once() {
    const N: u64 = 1000;
    let Some(sim) = Simulator::start(&["--requests-per-minute", "1000000", "--speed", "max"])
    else {
        return;
    };
    let dir = scratch("exec-crash");
    let mut risk = Risk::new(&dir);
    let exec = ExecProcess::spawn(&dir, &sim);
    for seq in 1..=N {
        let intent = risk.intent(seq, IntentAction::New, true);
        risk.send(&intent);
    }
    risk.collect_until(Duration::from_mins(1), |r| r.acks.len() >= 200);
    exec.kill_hard();
    let acked_before_kill = risk.acks.len();
    let exec = ExecProcess::spawn(&dir, &sim);
    risk.collect_until(Duration::from_mins(2), |r| r.all_filled(1..=N));
    exec.stop();

    let (submissions, accepted, venue_fills) = venue_view(&sim);
    assert!(
        acked_before_kill < usize::try_from(N).unwrap(),
        "the kill landed mid-burst"
    );
    assert_eq!(accepted, N);
    assert_eq!(submissions.len(), usize::try_from(N).unwrap());
    let repeated: Vec<_> = submissions.iter().filter(|&(_, &n)| n != 1).collect();
    assert!(repeated.is_empty(), "sent more than once: {repeated:?}");
    risk.assert_fills_match(&venue_fills);
    for seq in 1..=N {
        assert_eq!(
            risk.filled_qty(seq),
            Qty::from_units(1).unwrap(),
            "intent {seq}"
        );
    }
}

#[test]
fn injected_broker_faults_cause_no_duplicate_and_no_lost_fill() {
    const N: u64 = 200;
    let Some(sim) = Simulator::start(&[
        "--requests-per-minute",
        "1000000",
        "--speed",
        "max",
        "--error-every",
        "7",
        "--throttle-every",
        "37",
        "--lose-ack-every",
        "5",
        "--drop-stream-after",
        "40",
    ]) else {
        return;
    };
    let dir = scratch("exec-faults");
    let mut risk = Risk::new(&dir);
    let exec = ExecProcess::spawn(&dir, &sim);
    for seq in 1..=N {
        let intent = risk.intent(seq, IntentAction::New, true);
        risk.send(&intent);
    }
    risk.collect_until(Duration::from_mins(2), |r| r.all_filled(1..=N));
    exec.stop();
    let (submissions, accepted, venue_fills) = venue_view(&sim);
    assert!(
        sim.get_json("/_sim/stats")["throttled"].as_u64().unwrap() > 0,
        "the 429 storm never happened"
    );
    assert_eq!(accepted, N);
    risk.assert_fills_match(&venue_fills);
    let repeated: Vec<_> = submissions.iter().filter(|&(_, &n)| n != 1).collect();
    // A lost ack is followed by a lookup, never by a second POST.
    assert!(repeated.is_empty(), "sent more than once: {repeated:?}");
    for seq in 1..=N {
        assert_eq!(
            risk.filled_qty(seq),
            Qty::from_units(1).unwrap(),
            "intent {seq}"
        );
    }
}

/// An order placed on the account by someone else: by hand, or the supervisor's flatten.
fn by_hand(side: &str, qty: u32, client_order_id: &str) -> String {
    format!(
        r#"{{"symbol":"AAPL","qty":"{qty}","side":"{side}","type":"market","time_in_force":"day","client_order_id":"{client_order_id}"}}"#
    )
}

/// External fills (intent sequence 0) on the fill queue: how many, and their net quantity.
fn external(risk: &Risk) -> (usize, Qty) {
    let fills = risk.filled.get(&pyrt_exec::orders::EXTERNAL);
    let net = fills.into_iter().flatten().fold(Qty::ZERO, |net, f| {
        if f.side == Side::Sell.code() {
            net.saturating_sub(f.qty)
        } else {
            net.saturating_add(f.qty)
        }
    });
    (fills.map_or(0, Vec::len), net)
}

#[test]
fn trades_made_elsewhere_reach_the_fill_queue_so_downstream_positions_are_the_brokers() {
    let Some(sim) = Simulator::start(&["--requests-per-minute", "1000000", "--speed", "max"])
    else {
        return;
    };
    // Holdings exec never saw: 5 AAPL bought by hand before it first starts.
    let _ = sim.post_json("/v2/orders", &by_hand("buy", 5, "hand-1"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim
        .get_json("/v2/positions")
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "the order by hand never filled");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = scratch("exec-external");
    let mut risk = Risk::new(&dir);
    let exec = ExecProcess::spawn(&dir, &sim);
    // On start exec squares its view with the broker's: one external buy of 5.
    risk.collect_until(Duration::from_mins(1), |r| external(r).0 == 1);
    assert_eq!(external(&risk).1, Qty::from_units(5).unwrap());
    // Sold by hand while exec runs (an operator flattening the account): reported as it fills.
    let _ = sim.post_json("/v2/orders", &by_hand("sell", 5, "hand-2"));
    risk.collect_until(Duration::from_mins(1), |r| external(r).1 == Qty::ZERO);
    let reported = external(&risk).0;
    // A restart replays those fills from the journal: nothing is squared twice, and the
    // fill of a new intent of ours proves exec got past its start-up reconciliation.
    exec.stop();
    let exec = ExecProcess::spawn(&dir, &sim);
    let intent = risk.intent_for(1, 0, IntentAction::New, true);
    risk.send(&intent);
    risk.collect_until(Duration::from_mins(1), |r| r.all_filled([1]));
    exec.stop();
    assert_eq!(external(&risk), (reported, Qty::ZERO));
}
