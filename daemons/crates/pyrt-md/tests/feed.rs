//! The md daemon against the project's simulator, a real process over a real socket: events from
//! the replayed feed reach the md ring (MessagePack frames; JSON in the backfill test), a killed
//! feed becomes a Gap event, SIGTERM-style shutdown leaves the daemon marked stopped.

use std::time::{Duration, Instant};

use pyrt_alpaca::rest::{Credentials, RestConfig};
use pyrt_alpaca::stream::market::Encoding;
use pyrt_md::{BackfillConfig, MdConfig, run};
use pyrt_ring::{BroadcastReader, ControlBlock, DaemonState, Received, WaitStrategy};
use pyrt_telemetry::HistogramSpec;
use pyrt_testkit::{KEY_ID, SECRET_KEY, Simulator, scratch};
use pyrt_types::{EventKind, FLAG_BACKFILL, Gap, Quote, Trade};

/// md in a thread of this process, against `sim`; returns the stop handle, the thread, the
/// runtime directory and a reader attached from the ring's oldest message.
fn start_md(
    sim: &Simulator,
    name: &str,
    backfill: bool,
    crypto: bool,
    encoding: Encoding,
) -> (
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<Result<(), pyrt_md::MdError>>,
    std::path::PathBuf,
    BroadcastReader,
) {
    let runtime_dir = scratch(name);
    let credentials = Credentials {
        key_id: KEY_ID.into(),
        secret_key: SECRET_KEY.into(),
    };
    let config = MdConfig {
        runtime_dir: runtime_dir.clone(),
        ring_capacity: 1 << 16,
        symbols: vec!["AAPL".into(), "MSFT".into(), "GOOGL".into()],
        stream_url: sim.ws_url("/v2/iex"),
        credentials: credentials.clone(),
        encoding,
        heartbeat: Duration::from_millis(50),
        metrics: None,
        histogram: HistogramSpec {
            max_ns: 10_000_000_000,
            significant_figures: 3,
        },
        hdr_log: None,
        crypto: if crypto {
            vec!["BTC/USD".into(), "ETH/USD".into()]
        } else {
            Vec::new()
        },
        crypto_stream_url: crypto.then(|| sim.ws_url("/v1beta3/crypto/us")),
        backfill: backfill.then(|| BackfillConfig {
            rest: RestConfig::new(sim.http_url(), credentials),
            feed: "iex".into(),
        }),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(config, async {
            let _ = stopped.await;
        }))
    });
    let ring = runtime_dir.join("md.ring");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ring.exists() {
        assert!(Instant::now() < deadline, "md never created its ring");
        std::thread::sleep(Duration::from_millis(20));
    }
    let reader = BroadcastReader::attach_from_oldest(&ring, WaitStrategy::Park).unwrap();
    (stop, daemon, runtime_dir, reader)
}

#[test]
fn replayed_feed_reaches_the_ring_and_a_lost_feed_is_a_gap() {
    let Some(mut sim) = Simulator::start(&["--speed", "200"]) else {
        return;
    };
    let (stop, daemon, runtime_dir, mut reader) =
        start_md(&sim, "md-feed", false, false, Encoding::MessagePack);
    let (mut quotes, mut trades) = (0, 0);
    while quotes < 10 || trades < 10 {
        match reader.read(Duration::from_secs(30)).unwrap() {
            Some(Received::Event(e)) => match e.kind().unwrap() {
                EventKind::Quote => {
                    let q: &Quote = e.as_event().unwrap();
                    assert!(q.header.symbol.0 < 3);
                    assert!(q.bid_price < q.ask_price, "{q:?}");
                    quotes += 1;
                }
                EventKind::Trade => {
                    let t: &Trade = e.as_event().unwrap();
                    assert!(t.price.raw() > 0);
                    trades += 1;
                }
                other => panic!("unexpected {other:?}"),
            },
            Some(Received::Lost(n)) => panic!("reader lost {n}"),
            None => panic!("no market data within 30 s"),
        }
    }
    let control = ControlBlock::attach(&runtime_dir.join("control")).unwrap();
    assert_eq!(control.daemons()[0].state, DaemonState::Running);
    sim.kill();
    let gap = loop {
        match reader.read(Duration::from_secs(30)).unwrap() {
            Some(Received::Event(e)) if e.kind().unwrap() == EventKind::Gap => {
                break *e.as_event::<Gap>().unwrap();
            }
            Some(_) => {}
            None => panic!("no gap event after the feed died"),
        }
    };
    assert_eq!(
        gap.header.symbol.0,
        u32::MAX,
        "a disconnect makes every book stale"
    );
    stop.send(()).unwrap();
    daemon.join().unwrap().unwrap();
    assert_eq!(control.daemons()[0].state, DaemonState::Stopped);
}

#[test]
fn after_a_dropped_feed_the_gap_is_backfilled_through_rest_without_duplicates() {
    let Some(sim) = Simulator::start(&["--speed", "200", "--drop-data-stream-after", "60"]) else {
        return;
    };
    let (stop, daemon, _dir, mut reader) =
        start_md(&sim, "md-backfill", true, false, Encoding::Json);
    let mut trade_ids: Vec<u64> = Vec::new();
    let (mut gaps, mut backfilled) = (0, 0);
    let deadline = Instant::now() + Duration::from_mins(1);
    while gaps < 2 || trade_ids.len() < 150 {
        assert!(
            Instant::now() < deadline,
            "{gaps} gaps, {backfilled} backfilled"
        );
        let Some(Received::Event(e)) = reader.read(Duration::from_secs(30)).unwrap() else {
            panic!("no event or a lost one");
        };
        match e.kind().unwrap() {
            EventKind::Gap => gaps += 1,
            EventKind::Trade => {
                let t: &Trade = e.as_event().unwrap();
                if t.header.flags & FLAG_BACKFILL != 0 {
                    backfilled += 1;
                }
                trade_ids.push(t.trade_id);
            }
            _ => {}
        }
    }
    assert!(
        backfilled > 0,
        "the outage printed trades that came back through REST"
    );
    let mut sorted = trade_ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), trade_ids.len(), "no trade published twice");
    // The simulator numbers its prints 1, 2, 3... across its three symbols, all subscribed:
    // nothing between the first and the last seen may be missing.
    let (first, last) = (sorted[0], sorted[sorted.len() - 1]);
    assert_eq!(
        u64::try_from(sorted.len()).unwrap(),
        last - first + 1,
        "every print from {first} to {last}"
    );
    stop.send(()).unwrap();
    daemon.join().unwrap().unwrap();
}

#[test]
fn crypto_order_books_become_l2_books_and_top_of_book_quotes() {
    let Some(sim) = Simulator::start(&["--speed", "50", "--crypto-speed", "40"]) else {
        return;
    };
    let (stop, daemon, _dir, mut reader) =
        start_md(&sim, "md-crypto", false, true, Encoding::MessagePack);
    let (btc, eth) = (3, 4);
    let mut deltas = [0u32; 5];
    let mut tops = [0u32; 5];
    let deadline = Instant::now() + Duration::from_mins(1);
    while tops[btc] < 20 || tops[eth] < 20 {
        assert!(
            Instant::now() < deadline,
            "deltas {deltas:?}, quotes {tops:?}"
        );
        let Some(Received::Event(e)) = reader.read(Duration::from_secs(30)).unwrap() else {
            panic!("no event or a lost one");
        };
        let id = e.header.symbol.0 as usize;
        match e.kind().unwrap() {
            EventKind::BookDelta => deltas[id] += 1,
            EventKind::Quote if id >= btc => {
                let q: &Quote = e.as_event().unwrap();
                assert!(q.bid_price < q.ask_price, "{q:?}");
                let mid = (q.bid_price.raw() + q.ask_price.raw()) / 2_000_000_000;
                let range = if id == btc {
                    50_000..70_000
                } else {
                    2_000..3_500
                };
                assert!(range.contains(&mid), "{id}: {q:?}");
                tops[id] += 1;
            }
            _ => {}
        }
    }
    assert!(
        deltas[btc] > tops[btc],
        "a full book arrives as many deltas, then one quote"
    );
    stop.send(()).unwrap();
    daemon.join().unwrap().unwrap();
}
