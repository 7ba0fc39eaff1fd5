//! The md daemon against the project's simulator, a real process over a real socket: events from
//! the replayed feed reach the md ring, a killed feed becomes a Gap event, SIGTERM-style shutdown
//! leaves the daemon marked stopped.

use std::time::{Duration, Instant};

use pyrt_alpaca::rest::Credentials;
use pyrt_alpaca::stream::market::Encoding;
use pyrt_md::{MdConfig, run};
use pyrt_ring::{BroadcastReader, ControlBlock, DaemonState, Received, WaitStrategy};
use pyrt_telemetry::HistogramSpec;
use pyrt_testkit::{KEY_ID, SECRET_KEY, Simulator, scratch};
use pyrt_types::{EventKind, Gap, Quote, Trade};

#[test]
fn replayed_feed_reaches_the_ring_and_a_lost_feed_is_a_gap() {
    let Some(mut sim) = Simulator::start(&["--speed", "200"]) else {
        return;
    };
    let runtime_dir = scratch("md-feed");
    let config = MdConfig {
        runtime_dir: runtime_dir.clone(),
        ring_capacity: 4096,
        symbols: vec!["AAPL".into(), "MSFT".into(), "GOOGL".into()],
        stream_url: sim.ws_url("/v2/iex"),
        credentials: Credentials {
            key_id: KEY_ID.into(),
            secret_key: SECRET_KEY.into(),
        },
        encoding: Encoding::MessagePack,
        heartbeat: Duration::from_millis(50),
        metrics: None,
        histogram: HistogramSpec {
            max_ns: 10_000_000_000,
            significant_figures: 3,
        },
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
    let mut reader = BroadcastReader::attach_from_oldest(&ring, WaitStrategy::Park).unwrap();
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
