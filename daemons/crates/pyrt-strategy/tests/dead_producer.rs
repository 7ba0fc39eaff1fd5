//! The strategy daemon while md is down: it must not spin on the dead md ring, must keep its
//! heartbeat, and must score md's successor's quotes, whether that reopens the ring or creates it
//! anew. The daemon runs on a thread of this test process; nextest gives each test a process of
//! its own, so the process CPU clock measures the daemon and little else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyrt_ring::{BroadcastProducer, ControlBlock, QueueConsumer, WaitStrategy, names};
use pyrt_strategy::{StrategyConfig, run};
use pyrt_telemetry::HistogramSpec;
use pyrt_testkit::{cpu_used_over, eventually};
use pyrt_types::{Price, Qty, Quote, RawEvent, Signal, SymbolId, Timestamp};

const WAIT: WaitStrategy = WaitStrategy::Park;
const MD_CAPACITY: u64 = 1024;

fn heartbeat_ns(control: &ControlBlock) -> u64 {
    control
        .daemons()
        .into_iter()
        .find(|d| d.name == "strategy")
        .map_or(0, |d| d.heartbeat_ns)
}

/// A one-cent-wide quote of symbol 0 with its bid at `100 + cents / 100`.
fn quote(cents: i64) -> RawEvent {
    let mut q = Quote::with_header(Timestamp::now(), SymbolId(0));
    q.ts_event = Timestamp::now();
    q.bid_price = Price::from_units(100)
        .unwrap()
        .saturating_add(Price::from_raw(cents * 10_000_000));
    q.ask_price = q.bid_price.saturating_add(Price::from_raw(10_000_000));
    q.bid_size = Qty::from_units(100).unwrap();
    q.ask_size = Qty::from_units(100).unwrap();
    RawEvent::from_event(&q)
}

/// Publishes a quote every 2 ms, moving one cent each time in `direction`, until strategy signals.
fn publish_until_signal(
    producer: &mut BroadcastProducer,
    signals: &mut QueueConsumer,
    direction: i64,
) -> Signal {
    let mut cents = 0;
    eventually("strategy signals on the successor's quotes", || {
        cents += direction;
        producer.publish(&quote(cents));
        signals
            .try_pop()
            .and_then(|e| e.as_event::<Signal>().copied())
    })
}

#[test]
fn a_dead_md_producer_costs_little_cpu_and_its_successor_is_followed() {
    let dir = std::env::temp_dir().join(format!("pyrt-strategy-dead-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let control = ControlBlock::open_or_create(&dir.join(names::CONTROL)).unwrap();
    let md_ring = dir.join(names::MD);
    // md ran and is gone: the ring exists and nobody holds its producer lock.
    drop(BroadcastProducer::open(&md_ring, MD_CAPACITY).unwrap());
    let config = StrategyConfig {
        runtime_dir: dir.clone(),
        symbols: vec!["AAPL".into()],
        tradable: 1,
        model_dir: dir.join("models"),
        onnxruntime: None,
        signal_capacity: 64,
        rule_qty: Qty::from_units(10).unwrap(),
        wait: WAIT,
        heartbeat: Duration::from_millis(100),
        metrics: None,
        histogram: HistogramSpec {
            max_ns: 1_000_000_000,
            significant_figures: 3,
        },
        hdr_log: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    // Not a scoped thread: a failed assertion must end the test, not wait for the daemon.
    let daemon = std::thread::spawn({
        let (config, stop) = (config.clone(), Arc::clone(&stop));
        move || run(&config, &stop)
    });
    eventually("strategy beats", || {
        (heartbeat_ns(&control) > 0).then_some(())
    });
    let mut signals = eventually("strategy opens the signal ring", || {
        QueueConsumer::attach(&dir.join(names::SIGNAL), WAIT).ok()
    });
    // Time to attach to the md ring and find its producer dead.
    std::thread::sleep(Duration::from_millis(300));

    let beat = heartbeat_ns(&control);
    let (used, elapsed) = cpu_used_over(Duration::from_secs(1));
    // Spinning costs a core (a quarter of one was seen with the machine's two cores busy);
    // waiting, a few syscalls per wake-up (3 to 4 ms of CPU a second were seen).
    assert!(
        used < elapsed / 10,
        "strategy used {used:?} of CPU in {elapsed:?} without an md producer"
    );
    assert!(
        heartbeat_ns(&control) > beat,
        "the heartbeat stopped while waiting"
    );
    assert!(!daemon.is_finished(), "strategy gave up on the dead ring");

    // The usual restart: md's successor reopens the same ring. Rising quotes make the rule go
    // long once its features have warmed up.
    let mut producer = BroadcastProducer::open(&md_ring, MD_CAPACITY).unwrap();
    let long = publish_until_signal(&mut producer, &mut signals, 1);
    assert_eq!(long.target_qty, config.rule_qty);
    drop(producer);

    // A successor that finds no ring file creates a new one, which strategy must attach to;
    // falling quotes take the rule flat again.
    std::fs::remove_file(&md_ring).unwrap();
    let mut producer = BroadcastProducer::open(&md_ring, MD_CAPACITY).unwrap();
    let flat = publish_until_signal(&mut producer, &mut signals, -1);
    assert_eq!(flat.target_qty, Qty::ZERO);

    stop.store(true, Ordering::Relaxed);
    daemon.join().unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
