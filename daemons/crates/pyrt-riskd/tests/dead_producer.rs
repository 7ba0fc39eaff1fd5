//! The risk daemon while strategy is down: it must not spin on the dead signal ring, must keep its
//! heartbeat, and must take signals again from strategy's successor, whether that reopens the ring
//! or creates it anew. The daemon runs on a thread of this test process; nextest gives each test a
//! process of its own, so the process CPU clock measures the daemon and little else.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyrt_ring::{ControlBlock, QueueProducer, WaitStrategy, names};
use pyrt_riskd::{RiskdConfig, run};
use pyrt_telemetry::HistogramSpec;
use pyrt_testkit::{cpu_used_over, eventually};
use pyrt_types::{RawEvent, Signal, SymbolId, Timestamp};

const WAIT: WaitStrategy = WaitStrategy::Park;
const SIGNAL_CAPACITY: u64 = 64;

fn heartbeat_ns(control: &ControlBlock) -> u64 {
    control
        .daemons()
        .into_iter()
        .find(|d| d.name == "risk")
        .map_or(0, |d| d.heartbeat_ns)
}

fn push_signal(producer: &mut QueueProducer) {
    let signal = Signal::with_header(Timestamp::now(), SymbolId(0));
    producer.try_push(&RawEvent::from_event(&signal)).unwrap();
}

#[test]
fn a_dead_signal_producer_costs_little_cpu_and_its_successor_is_followed() {
    let dir = std::env::temp_dir().join(format!("pyrt-riskd-dead-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let control = ControlBlock::open_or_create(&dir.join(names::CONTROL)).unwrap();
    let signal_ring = dir.join(names::SIGNAL);
    // Strategy ran and is gone: the ring exists and nobody holds its producer lock.
    drop(QueueProducer::open(&signal_ring, SIGNAL_CAPACITY, WAIT).unwrap());
    let config = RiskdConfig {
        runtime_dir: dir.clone(),
        limits_path: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/risk_limits.toml"),
        symbols: vec!["AAPL".into(), "MSFT".into()],
        order_capacity: 64,
        wait: WAIT,
        heartbeat: Duration::from_millis(100),
        metrics: None,
        histogram: HistogramSpec {
            max_ns: 1_000_000_000,
            significant_figures: 3,
        },
        hdr_log: None,
        exec_state_dir: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    // Not a scoped thread: a failed assertion must end the test, not wait for the daemon.
    let daemon = std::thread::spawn({
        let (config, stop) = (config.clone(), Arc::clone(&stop));
        move || run(&config, &stop)
    });
    eventually("risk beats", || (heartbeat_ns(&control) > 0).then_some(()));
    // Time to attach to the signal ring and find its producer dead.
    std::thread::sleep(Duration::from_millis(300));

    let beat = heartbeat_ns(&control);
    let (used, elapsed) = cpu_used_over(Duration::from_secs(1));
    // Spinning costs a core (a quarter of one was seen with the machine's two cores busy);
    // waiting, a few syscalls per wake-up (3 to 4 ms of CPU a second were seen).
    assert!(
        used < elapsed / 10,
        "risk used {used:?} of CPU in {elapsed:?} without a signal producer"
    );
    assert!(
        heartbeat_ns(&control) > beat,
        "the heartbeat stopped while waiting"
    );
    assert!(!daemon.is_finished(), "risk gave up on the dead ring");

    // The usual restart: strategy's successor reopens the same ring.
    let mut producer = QueueProducer::open(&signal_ring, SIGNAL_CAPACITY, WAIT).unwrap();
    push_signal(&mut producer);
    eventually("risk takes the successor's signal", || {
        (producer.backlog() == 0).then_some(())
    });
    drop(producer);

    // A successor that finds no ring file creates a new one, which risk must attach to.
    std::fs::remove_file(&signal_ring).unwrap();
    let mut producer = QueueProducer::open(&signal_ring, SIGNAL_CAPACITY, WAIT).unwrap();
    push_signal(&mut producer);
    eventually("risk takes a signal from the new ring file", || {
        (producer.backlog() == 0).then_some(())
    });

    stop.store(true, Ordering::Relaxed);
    daemon.join().unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
