//! The market-data daemon: one websocket session to the data feed (Alpaca or the simulator),
//! frames parsed straight into 64-byte events, L1 books kept per symbol, every event published to
//! the md broadcast ring.
//!
//! A lost connection is published as a `Gap` event for all symbols (books are stale until the feed
//! is back) and the session is re-established with jittered back-off. The daemon heartbeats in the
//! control block, records `frame_received → published` latency and counts frames, events, unknown
//! symbols and malformed messages for Prometheus.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::time::Duration;

use pyrt_alpaca::md::Item;
use pyrt_alpaca::rest::Credentials;
use pyrt_alpaca::stream::Backoff;
use pyrt_alpaca::stream::market::{Encoding, MarketDataStream, Subscription};
use pyrt_book::L1Books;
use pyrt_ring::{BroadcastProducer, ControlBlock, DaemonState};
use pyrt_runtime::systemd;
use pyrt_telemetry::{Counter, HistogramSpec, StageRecorder, Telemetry};
use pyrt_types::{Gap, Quote, RawEvent, SymbolId, SymbolTable, Timestamp};

/// The md daemon's slot in the control block.
pub const CONTROL_SLOT: usize = 0;
/// `Gap::reason`: the feed connection was lost.
pub const GAP_DISCONNECTED: u8 = 1;

#[derive(Debug, Clone)]
pub struct MdConfig {
    pub runtime_dir: PathBuf,
    pub ring_capacity: u64,
    pub symbols: Vec<String>,
    pub stream_url: String,
    pub credentials: Credentials,
    pub encoding: Encoding,
    pub heartbeat: Duration,
    pub metrics: Option<SocketAddr>,
    pub histogram: HistogramSpec,
}

#[derive(Debug, thiserror::Error)]
pub enum MdError {
    #[error("symbols: {0}")]
    Symbols(#[from] pyrt_types::SymbolError),
    #[error("ring or control block: {0}")]
    Ring(#[from] pyrt_ring::RingError),
    #[error("telemetry: {0}")]
    Telemetry(#[from] pyrt_telemetry::TelemetryError),
}

fn gap(lost: u64) -> RawEvent {
    let mut event = Gap::with_header(Timestamp::now(), SymbolId(u32::MAX));
    event.ts_event = Timestamp::now();
    event.lost_messages = lost;
    event.reason = GAP_DISCONNECTED;
    RawEvent::from_event(&event)
}

/// Frame to ring: what the daemon does for every frame, with its counters.
struct Pipeline {
    symbols: SymbolTable,
    ring: BroadcastProducer,
    books: L1Books,
    latency: StageRecorder,
    frames: Counter,
    events: Counter,
    unknown: Counter,
    malformed: Counter,
    gaps: Counter,
}

impl Pipeline {
    fn on_frame(&mut self, stream: &MarketDataStream, frame: &[u8]) {
        let received = Timestamp::now();
        self.frames.add(1);
        let mut published = 0;
        let (ring, books, unknown, malformed) = (
            &mut self.ring,
            &mut self.books,
            &self.unknown,
            &self.malformed,
        );
        let parsed = stream.parse(frame, &self.symbols, received, |item| match item {
            Item::Event(event) => {
                if let Some(quote) = event.as_event::<Quote>() {
                    books.update(quote);
                }
                ring.publish(&event);
                published += 1;
            }
            Item::UnknownSymbol(_) => unknown.add(1),
            Item::Malformed(_) => malformed.add(1),
            Item::Control(_) | Item::Ignored => {}
        });
        if let Err(e) = parsed {
            self.malformed.add(1);
            eprintln!("md: {e}");
        }
        self.events.add(published);
        let elapsed = Timestamp::now().unix_nanos() - received.unix_nanos();
        self.latency.record(u64::try_from(elapsed).unwrap_or(0));
    }

    fn on_disconnect(&mut self) {
        self.ring.publish(&gap(0));
        self.gaps.add(1);
    }
}

/// Runs until `shutdown` completes.
pub async fn run(config: MdConfig, shutdown: impl Future<Output = ()>) -> Result<(), MdError> {
    let symbols = SymbolTable::from_names(config.symbols.iter().map(String::as_str))?;
    std::fs::create_dir_all(&config.runtime_dir).map_err(|source| pyrt_ring::RingError::Io {
        path: config.runtime_dir.clone(),
        source,
    })?;
    let ring = BroadcastProducer::open(&config.runtime_dir.join("md.ring"), config.ring_capacity)?;
    let control = ControlBlock::open_or_create(&config.runtime_dir.join("control"))?;
    control.register(CONTROL_SLOT, "md", std::process::id())?;

    let telemetry = Telemetry::new("md", config.histogram);
    let _server = config
        .metrics
        .map(|addr| telemetry.serve(addr))
        .transpose()?;
    let mut pipe = Pipeline {
        books: L1Books::with_symbols(symbols.len()),
        symbols,
        ring,
        latency: telemetry.stage("frame_to_published")?,
        frames: telemetry.counter("frames", "received")?,
        events: telemetry.counter("events", "published")?,
        unknown: telemetry.counter("messages", "unknown_symbol")?,
        malformed: telemetry.counter("messages", "malformed")?,
        gaps: telemetry.counter("gaps", "disconnected")?,
    };
    let subscription = Subscription {
        trades: config.symbols.clone(),
        quotes: config.symbols.clone(),
        ..Subscription::default()
    };
    let mut backoff = Backoff::new(Duration::from_secs(30));
    let mut heartbeat = tokio::time::interval(config.heartbeat);
    let mut shutdown = pin!(shutdown);
    let mut connected_once = false;
    let watchdog = tokio::spawn(systemd::keep_watchdog_fed());
    systemd::ready("md ring open; connecting to the feed");
    'session: loop {
        let connect = MarketDataStream::connect(
            &config.stream_url,
            &config.credentials,
            config.encoding,
            &subscription,
            Duration::from_secs(10),
        );
        let mut stream = tokio::select! {
            () = &mut shutdown => break 'session,
            result = connect => match result {
                Ok(stream) => stream,
                Err(e) => {
                    eprintln!("md: cannot open the feed: {e}");
                    control.set_state(CONTROL_SLOT, DaemonState::Degraded)?;
                    let delay = backoff.next_delay();
                    tokio::select! {
                        () = &mut shutdown => break 'session,
                        () = tokio::time::sleep(delay) => continue 'session,
                    }
                }
            },
        };
        connected_once = true;
        backoff.reset();
        control.set_state(CONTROL_SLOT, DaemonState::Running)?;
        loop {
            tokio::select! {
                () = &mut shutdown => break 'session,
                _ = heartbeat.tick() => {
                    control.heartbeat(CONTROL_SLOT)?;
                    pipe.ring.heartbeat();
                    telemetry.flush(&mut pipe.latency);
                }
                frame = stream.next_frame() => match frame {
                    Ok(frame) => pipe.on_frame(&stream, &frame),
                    Err(e) => {
                        eprintln!("md: feed lost: {e}");
                        pipe.on_disconnect();
                        control.set_state(CONTROL_SLOT, DaemonState::Degraded)?;
                        continue 'session;
                    }
                },
            }
        }
    }
    systemd::stopping();
    watchdog.abort();
    if !connected_once {
        eprintln!("md: stopped before the feed was ever reached");
    }
    telemetry.flush(&mut pipe.latency);
    control.set_state(CONTROL_SLOT, DaemonState::Stopped)?;
    Ok(())
}
