//! The rings between real processes: this test binary re-runs itself as the other side (the
//! `child_*` tests, ignored unless launched that way with `PYRT_RING_CHILD` set).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pyrt_ring::{
    BroadcastProducer, BroadcastReader, QueueConsumer, QueueProducer, Received, RingError,
    WaitStrategy,
};
use pyrt_types::{OrderIntent, RawEvent, SymbolId, Timestamp};

const WAIT: WaitStrategy = WaitStrategy::Park;
const LONG: Duration = Duration::from_mins(1);

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pyrt-ring-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn event(n: u64) -> RawEvent {
    let mut intent = OrderIntent::with_header(Timestamp::from_unix_nanos(1), SymbolId(0));
    intent.intent_seq = n;
    RawEvent::from_event(&intent)
}

fn seq(event: &RawEvent) -> u64 {
    event
        .as_event::<OrderIntent>()
        .expect("an OrderIntent")
        .intent_seq
}

fn spawn(child: &str, path: &Path, arg: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            child,
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("PYRT_RING_CHILD", path)
        .env("PYRT_RING_ARG", arg.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The child's own output, one token per line. libtest's chatter is skipped; with
/// `--nocapture` it prints "test name ... " without a newline, so the child's first line arrives
/// glued to it and the token is the line's last word.
fn child_lines(child: &mut Child) -> impl Iterator<Item = String> + use<> {
    BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .filter(|t| t == "started" || t == "done" || t.parse::<u64>().is_ok())
}

fn child_args() -> Option<(PathBuf, u64)> {
    let path = std::env::var_os("PYRT_RING_CHILD")?;
    let arg = std::env::var("PYRT_RING_ARG").ok()?.parse().ok()?;
    Some((PathBuf::from(path), arg))
}

/// Produces 1..=n into a small queue, waiting whenever it is full.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_queue_producer() {
    let Some((path, n)) = child_args() else {
        return;
    };
    let mut producer = QueueProducer::open(&path, 64, WAIT).unwrap();
    println!("started");
    for i in 1..=n {
        producer.push(&event(i), LONG).unwrap();
    }
    println!("done");
    // Stay alive until the parent has drained the queue.
    while producer.backlog() > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Publishes forever (until killed); prints once it has started.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_endless_producer() {
    let Some((path, _)) = child_args() else {
        return;
    };
    let mut producer = QueueProducer::open(&path, 64, WAIT).unwrap();
    println!("started");
    let mut i = 0;
    loop {
        i += 1;
        producer.push(&event(i), LONG).unwrap();
    }
}

/// Consumes with peek, print, commit: a message is reported before it is released, so a kill at
/// any point loses nothing (at worst the last reported message is read again).
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_consumer() {
    let Some((path, _)) = child_args() else {
        return;
    };
    let mut consumer = QueueConsumer::attach(&path, WAIT).unwrap();
    loop {
        if let Some(e) = consumer.peek() {
            println!("{}", seq(&e));
            consumer.commit();
        } else if !consumer.producer_alive() {
            return;
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

#[test]
fn queue_delivers_everything_in_order_under_back_pressure() {
    let path = dir("order").join("orders.ring");
    // Create the ring first so the consumer can attach before the producer fills it.
    drop(QueueProducer::open(&path, 64, WAIT).unwrap());
    let mut child = spawn("child_queue_producer", &path, 50_000);
    assert_eq!(child_lines(&mut child).next().as_deref(), Some("started"));
    let mut consumer = QueueConsumer::attach(&path, WAIT).unwrap();
    let mut expected = 1;
    while expected <= 50_000 {
        match consumer.pop(LONG) {
            Ok(Some(e)) => {
                assert_eq!(seq(&e), expected, "out of order or lost");
                expected += 1;
            }
            Ok(None) => panic!("timed out at {expected}"),
            Err(e) => panic!("{e} at {expected}"),
        }
    }
    child.wait().unwrap();
    assert_eq!(
        consumer.pop(LONG).map_err(|e| e.to_string()),
        Err(format!("the producer of ring {} is gone", path.display()))
    );
}

#[test]
fn a_killed_producer_is_detected_and_the_consumer_does_not_hang() {
    let path = dir("dead").join("fills.ring");
    drop(QueueProducer::open(&path, 64, WAIT).unwrap());
    let mut child = spawn("child_endless_producer", &path, 0);
    assert_eq!(child_lines(&mut child).next().as_deref(), Some("started"));
    let mut consumer = QueueConsumer::attach(&path, WAIT).unwrap();
    assert!(consumer.producer_alive());
    child.kill().unwrap();
    child.wait().unwrap();
    let mut drained = 0u64;
    let err = loop {
        match consumer.pop(LONG) {
            Ok(Some(e)) => {
                drained += 1;
                assert_eq!(
                    seq(&e),
                    drained,
                    "messages written before the kill arrive in order"
                );
            }
            Ok(None) => panic!("pop timed out instead of reporting the dead producer"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, RingError::ProducerDead { .. }), "{err}");
    // A new producer takes over the same ring and continues the sequence.
    let mut producer = QueueProducer::open(&path, 64, WAIT).unwrap();
    producer.try_push(&event(drained + 1)).unwrap();
    assert_eq!(
        consumer.pop(LONG).unwrap().map(|e| seq(&e)),
        Some(drained + 1)
    );
}

#[test]
fn a_consumer_killed_with_sigkill_resumes_from_the_ring() {
    let path = dir("restart").join("orders.ring");
    let mut producer = QueueProducer::open(&path, 2048, WAIT).unwrap();
    for i in 1..=1000 {
        producer.try_push(&event(i)).unwrap();
    }
    let mut child = spawn("child_consumer", &path, 0);
    let mut lines = child_lines(&mut child);
    let mut last = 0u64;
    while last < 300 {
        last = lines
            .next()
            .expect("child consumer output")
            .parse()
            .unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for line in lines {
        last = line.parse().unwrap();
    }
    for i in 1001..=1500 {
        producer.try_push(&event(i)).unwrap();
    }
    // The dead consumer's pid no longer blocks a new one, which resumes from the stored cursor:
    // right after the last reported message, or at it if the kill fell between report and commit.
    let mut consumer = QueueConsumer::attach(&path, WAIT).unwrap();
    let first = seq(&consumer.try_pop().unwrap());
    assert!(
        first == last + 1 || first == last,
        "resumed at {first}, last reported {last}"
    );
    let mut expected = first + 1;
    while let Some(e) = consumer.try_pop() {
        assert_eq!(seq(&e), expected);
        expected += 1;
    }
    assert_eq!(expected, 1501);
}

#[test]
fn a_second_consumer_or_producer_is_refused() {
    let path = dir("exclusive").join("orders.ring");
    let _producer = QueueProducer::open(&path, 8, WAIT).unwrap();
    assert!(matches!(
        QueueProducer::open(&path, 8, WAIT),
        Err(RingError::ProducerPresent { .. })
    ));
    let _consumer = QueueConsumer::attach(&path, WAIT).unwrap();
    // Same process: attaching again is allowed (pid matches); a live other pid is refused, as the
    // restart test shows from the other side.
    assert!(QueueConsumer::attach(&path, WAIT).is_ok());
    assert!(matches!(
        QueueProducer::open(&path, 16, WAIT),
        Err(RingError::CapacityMismatch {
            found: 8,
            expected: 16
        })
    ));
}

#[test]
fn a_slow_broadcast_reader_learns_exactly_how_much_it_lost() {
    let path = dir("overrun").join("md.ring");
    let mut producer = BroadcastProducer::open(&path, 16).unwrap();
    let mut fast = BroadcastReader::attach(&path, WAIT).unwrap();
    let mut slow = BroadcastReader::attach(&path, WAIT).unwrap();
    let mut fast_seen = 0;
    for i in 1..=100 {
        producer.publish(&event(i));
        if let Some(Received::Event(e)) = fast.try_read() {
            fast_seen += 1;
            assert_eq!(seq(&e), i);
        }
    }
    assert_eq!(fast_seen, 100);
    let mut delivered = Vec::new();
    let mut lost = 0;
    while let Some(r) = slow.try_read() {
        match r {
            Received::Event(e) => delivered.push(seq(&e)),
            Received::Lost(n) => lost += n,
        }
    }
    assert_eq!(
        lost, 100,
        "the slow reader was more than a ring behind and resumes at the head"
    );
    assert!(delivered.is_empty());
    for i in 101..=110 {
        producer.publish(&event(i));
    }
    let after: Vec<u64> = std::iter::from_fn(|| slow.try_read())
        .map(|r| match r {
            Received::Event(e) => seq(&e),
            Received::Lost(n) => panic!("unexpected loss of {n}"),
        })
        .collect();
    assert_eq!(after, (101..=110).collect::<Vec<_>>());
    let mut oldest = BroadcastReader::attach_from_oldest(&path, WAIT).unwrap();
    assert_eq!(
        oldest.try_read().map(|r| match r {
            Received::Event(e) => seq(&e),
            Received::Lost(_) => 0,
        }),
        Some(95)
    );
}

/// Publishes 1..=n into a broadcast ring as fast as it can.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_broadcast_producer() {
    let Some((path, n)) = child_args() else {
        return;
    };
    let mut producer = BroadcastProducer::open(&path, 1024).unwrap();
    println!("started");
    for i in 1..=n {
        producer.publish(&event(i));
    }
    println!("done");
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn broadcast_across_processes_is_ordered_and_accounts_for_every_message() {
    let path = dir("bcast").join("md.ring");
    drop(BroadcastProducer::open(&path, 1024).unwrap());
    let mut reader = BroadcastReader::attach(&path, WAIT).unwrap();
    let mut child = spawn("child_broadcast_producer", &path, 200_000);
    assert_eq!(child_lines(&mut child).next().as_deref(), Some("started"));
    let mut delivered = 0u64;
    let mut lost = 0u64;
    let mut newest = 0u64;
    loop {
        match reader.read(LONG) {
            Ok(Some(Received::Event(e))) => {
                let s = seq(&e);
                assert!(s > newest, "{s} after {newest}");
                delivered += 1;
                newest = s;
            }
            Ok(Some(Received::Lost(n))) => lost += n,
            Ok(None) => panic!("timed out"),
            Err(RingError::ProducerDead { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    child.wait().unwrap();
    assert_eq!(
        delivered + lost,
        200_000,
        "every message is either delivered or counted as lost (newest {newest})"
    );
    // The last report may be a loss (the reader lapped at the very end), so the newest delivered
    // message can be older than the last one published; the reader must still end at the head.
    assert!(newest <= 200_000);
    assert_eq!(reader.position(), 200_000);
}

#[test]
fn corrupt_and_mismatched_files_are_refused() {
    let d = dir("corrupt");
    let queue = d.join("q.ring");
    drop(QueueProducer::open(&queue, 8, WAIT).unwrap());
    assert!(matches!(
        BroadcastReader::attach(&queue, WAIT),
        Err(RingError::WrongKind { .. })
    ));
    let garbage = d.join("garbage.ring");
    std::fs::write(&garbage, vec![0xAB; 8192]).unwrap();
    assert!(matches!(
        QueueConsumer::attach(&garbage, WAIT),
        Err(RingError::Magic)
    ));
    let short = d.join("short.ring");
    std::fs::write(&short, b"PYRT").unwrap();
    assert!(matches!(
        QueueConsumer::attach(&short, WAIT),
        Err(RingError::Truncated { .. })
    ));
    // Truncate a valid ring: the size no longer matches its header.
    let truncated = d.join("t.ring");
    drop(QueueProducer::open(&truncated, 8, WAIT).unwrap());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap();
    file.set_len(4096 + 64).unwrap();
    assert!(matches!(
        QueueConsumer::attach(&truncated, WAIT),
        Err(RingError::Size { .. })
    ));
    assert!(matches!(
        QueueConsumer::attach(&d.join("missing.ring"), WAIT),
        Err(RingError::Io { .. })
    ));
}

#[test]
fn a_batch_is_peeked_whole_and_committed_at_once() {
    let path = dir("batch").join("q.ring");
    let mut producer = QueueProducer::open(&path, 8, WAIT).unwrap();
    let mut consumer = QueueConsumer::attach(&path, WAIT).unwrap();
    assert!(!consumer.wait_readable(Duration::from_millis(1)).unwrap());
    for i in 1..=5 {
        producer.try_push(&event(i)).unwrap();
    }
    assert_eq!(producer.position(), 5);
    assert!(consumer.wait_readable(Duration::from_millis(1)).unwrap());
    let batch: Vec<u64> = (0..)
        .map_while(|k| consumer.peek_at(k))
        .map(|e| seq(&e))
        .collect();
    assert_eq!(batch, [1, 2, 3, 4, 5]);
    assert_eq!(consumer.position(), 0, "peeking consumes nothing");
    consumer.commit_n(3);
    assert_eq!(consumer.peek().map(|e| seq(&e)), Some(4));
    consumer.commit_n(100);
    assert_eq!(consumer.position(), 5, "never past what was written");
    assert_eq!(producer.backlog(), 0);
}

#[test]
fn a_restarted_producer_sees_what_its_predecessor_sent_and_nobody_took() {
    let path = dir("unconsumed").join("q.ring");
    let mut producer = QueueProducer::open(&path, 4, WAIT).unwrap();
    for i in 1..=4 {
        producer.try_push(&event(i)).unwrap();
    }
    let mut consumer = QueueConsumer::attach(&path, WAIT).unwrap();
    consumer.try_pop().unwrap();
    consumer.try_pop().unwrap();
    producer.try_push(&event(5)).unwrap();
    drop(producer);
    // The ring wrapped: slot 0 now holds 5, so the order must come from the sequence numbers.
    let successor = QueueProducer::open(&path, 4, WAIT).unwrap();
    let left: Vec<u64> = successor.unconsumed().iter().map(seq).collect();
    assert_eq!(left, [3, 4, 5]);
    consumer.try_pop().unwrap();
    assert_eq!(successor.unconsumed().len(), 2);
}

#[test]
fn a_restarted_producer_is_followed_in_place_and_a_recreated_ring_is_reported() {
    let d = dir("successor");
    let md = d.join("md.ring");
    drop(BroadcastProducer::open(&md, 16).unwrap());
    let mut reader = BroadcastReader::attach(&md, WAIT).unwrap();
    assert!(matches!(
        reader.read(LONG),
        Err(RingError::ProducerDead { .. })
    ));
    // The usual restart: the successor reopens the same file, and the old mapping sees it.
    let mut producer = BroadcastProducer::open(&md, 16).unwrap();
    producer.publish(&event(1));
    assert!(!reader.replaced());
    assert!(matches!(reader.read(LONG), Ok(Some(Received::Event(e))) if seq(&e) == 1));
    drop(producer);
    // Removed and created anew: the old mapping would never see the new producer.
    std::fs::remove_file(&md).unwrap();
    assert!(!reader.replaced(), "nothing to attach to yet");
    let mut producer = BroadcastProducer::open(&md, 16).unwrap();
    assert!(reader.replaced());
    let mut reader = BroadcastReader::attach(&md, WAIT).unwrap();
    producer.publish(&event(2));
    assert!(matches!(reader.read(LONG), Ok(Some(Received::Event(e))) if seq(&e) == 2));

    let fills = d.join("fills.ring");
    drop(QueueProducer::open(&fills, 8, WAIT).unwrap());
    let consumer = QueueConsumer::attach(&fills, WAIT).unwrap();
    std::fs::remove_file(&fills).unwrap();
    let _producer = QueueProducer::open(&fills, 8, WAIT).unwrap();
    assert!(consumer.replaced());
}

#[test]
fn a_producer_restarts_while_its_consumer_keeps_asking_whether_it_lives() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let path = dir("restart-probe").join("fills.ring");
    drop(QueueProducer::open(&path, 8, WAIT).unwrap());
    let mut consumer = QueueConsumer::attach(&path, WAIT).unwrap();
    let (stop, probes) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let probing = {
        let (stop, probes) = (Arc::clone(&stop), Arc::clone(&probes));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // No producer between restarts: an empty pop asks the lock whether one lives.
                let _ = consumer.pop(Duration::ZERO);
                probes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while probes.load(Ordering::Relaxed) == 0 {
        std::thread::yield_now();
    }
    for restart in 0..2_000 {
        let producer = QueueProducer::open(&path, 8, WAIT);
        assert!(producer.is_ok(), "restart {restart}: {:?}", producer.err());
    }
    stop.store(true, Ordering::Relaxed);
    probing.join().unwrap();
}
