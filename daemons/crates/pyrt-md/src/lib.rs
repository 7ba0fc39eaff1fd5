//! The market-data daemon: one websocket session to the data feed (Alpaca or the simulator),
//! frames parsed straight into 64-byte events, L1 books kept per symbol, every event published to
//! the md broadcast ring.
//!
//! A lost connection is published as a `Gap` event for all symbols (books are stale until the feed
//! is back) and the session is re-established with jittered back-off. Once it is back, the trades
//! printed during the outage are fetched through the market-data REST API and published with
//! `FLAG_BACKFILL`, followed by each symbol's latest quote, so books and trade-driven features
//! resume complete; live messages the backfill already covered are dropped. The daemon heartbeats in the
//! control block, records `frame_received → published` latency and counts frames, events, unknown
//! symbols and malformed messages for Prometheus.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::time::Duration;

use pyrt_alpaca::md::Item;
use pyrt_alpaca::rest::{Credentials, RestClient, RestConfig};
use pyrt_alpaca::stream::Backoff;
use pyrt_alpaca::stream::market::{Encoding, MarketDataStream, Subscription};
use pyrt_book::L1Books;
use pyrt_ring::{BroadcastProducer, ControlBlock, DaemonState};
use pyrt_runtime::systemd;
use pyrt_telemetry::{Counter, HistogramSpec, StageRecorder, Telemetry};
use pyrt_types::{FLAG_BACKFILL, Gap, Quote, RawEvent, SymbolId, SymbolTable, Timestamp, Trade};

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
    /// HDR interval log of the stage latencies, and how often an interval is written.
    pub hdr_log: Option<(PathBuf, Duration)>,
    /// Where to fetch what a gap missed; `None` publishes the gap only.
    pub backfill: Option<BackfillConfig>,
}

#[derive(Debug, Clone)]
pub struct BackfillConfig {
    /// Pointing at the market-data base URL.
    pub rest: RestConfig,
    /// `iex` or `sip`.
    pub feed: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MdError {
    #[error("symbols: {0}")]
    Symbols(#[from] pyrt_types::SymbolError),
    #[error("ring or control block: {0}")]
    Ring(#[from] pyrt_ring::RingError),
    #[error("telemetry: {0}")]
    Telemetry(#[from] pyrt_telemetry::TelemetryError),
    #[error("backfill client: {0}")]
    Backfill(#[from] pyrt_alpaca::AlpacaError),
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
    backfilled: Counter,
    /// Newest trade `ts_event` published, where a backfill starts.
    newest: Timestamp,
    /// Live trades up to here were already published by a backfill.
    trades_until: Timestamp,
    /// Live quotes up to here are older than the snapshot a backfill published.
    quotes_until: Timestamp,
}

fn ts_event(event: &RawEvent) -> Option<Timestamp> {
    event
        .as_event::<Trade>()
        .map(|t| t.ts_event)
        .or_else(|| event.as_event::<Quote>().map(|q| q.ts_event))
}

impl Pipeline {
    fn on_frame(&mut self, stream: &MarketDataStream, frame: &[u8]) {
        let received = Timestamp::now();
        self.frames.add(1);
        let mut published = 0;
        let (ring, books, unknown, malformed, newest) = (
            &mut self.ring,
            &mut self.books,
            &self.unknown,
            &self.malformed,
            &mut self.newest,
        );
        let (trades_until, quotes_until) = (self.trades_until, self.quotes_until);
        let parsed = stream.parse(frame, &self.symbols, received, |item| match item {
            Item::Event(event) => {
                let ts = ts_event(&event);
                let covered = if event.as_event::<Trade>().is_some() {
                    trades_until
                } else {
                    quotes_until
                };
                if ts.is_some_and(|ts| ts <= covered) {
                    return;
                }
                if let Some(quote) = event.as_event::<Quote>() {
                    books.update(quote);
                }
                ring.publish(&event);
                if event.as_event::<Trade>().is_some() {
                    *newest = ts.map_or(*newest, |ts| ts.max(*newest));
                }
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

    /// Publishes the trades printed since the newest event before the gap, then every symbol's
    /// latest quote.
    async fn backfill(
        &mut self,
        rest: &mut RestClient,
        config: &BackfillConfig,
    ) -> Result<(), pyrt_alpaca::AlpacaError> {
        if self.newest == Timestamp::EPOCH {
            return Ok(());
        }
        let names: Vec<&str> = self.symbols.names().collect();
        let symbols = names.join(",");
        let start = Timestamp::from_unix_nanos(self.newest.unix_nanos() + 1).to_string();
        let now = Timestamp::now();
        let mut trades_until = self.newest;
        let mut quotes_until = self.newest;
        let mut events: Vec<RawEvent> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = rest
                .stock_trades(&symbols, &start, &config.feed, token.as_deref())
                .await?;
            for (name, trades) in page.trades.unwrap_or_default() {
                let Some(id) = self.symbols.get(&name) else {
                    continue;
                };
                for t in trades {
                    let mut trade = Trade::with_header(now, id);
                    trade.header.flags = FLAG_BACKFILL;
                    trade.ts_event = t.timestamp;
                    trade.price = t.price;
                    trade.size = t.size;
                    trade.trade_id = t.id;
                    trades_until = trades_until.max(t.timestamp);
                    events.push(RawEvent::from_event(&trade));
                }
            }
            token = page.next_page_token;
            if token.is_none() {
                break;
            }
        }
        // Pages are per symbol; downstream wants time order.
        events.sort_by_key(|e| ts_event(e).unwrap_or(Timestamp::EPOCH));
        let latest = rest.latest_quotes(&symbols, &config.feed).await?;
        for (name, q) in latest.quotes {
            let Some(id) = self.symbols.get(&name) else {
                continue;
            };
            let mut quote = Quote::with_header(now, id);
            quote.header.flags = FLAG_BACKFILL;
            quote.ts_event = q.timestamp;
            quote.bid_price = q.bid_price;
            quote.bid_size = q.bid_size;
            quote.ask_price = q.ask_price;
            quote.ask_size = q.ask_size;
            quotes_until = quotes_until.max(q.timestamp);
            self.books.update(&quote);
            events.push(RawEvent::from_event(&quote));
        }
        for event in &events {
            self.ring.publish(event);
        }
        self.backfilled.add(events.len() as u64);
        self.newest = trades_until;
        self.trades_until = trades_until;
        self.quotes_until = quotes_until;
        Ok(())
    }
}

/// Runs until `shutdown` completes.
#[allow(clippy::too_many_lines)] // one linear start-up sequence and one session loop
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
    let _hdr_log = config
        .hdr_log
        .as_ref()
        .map(|(path, every)| telemetry.log_intervals(path, *every))
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
        backfilled: telemetry.counter("events", "backfilled")?,
        newest: Timestamp::EPOCH,
        trades_until: Timestamp::EPOCH,
        quotes_until: Timestamp::EPOCH,
    };
    let mut backfill = config
        .backfill
        .as_ref()
        .map(|b| RestClient::new(&b.rest).map(|client| (client, b)))
        .transpose()?;
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
        if connected_once
            && let Some((client, settings)) = backfill.as_mut()
            && let Err(e) = pipe.backfill(client, settings).await
        {
            eprintln!("md: backfill after the gap failed: {e}");
        }
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
                        // Alpaca allows one stream per account and may not have released the old
                        // one yet: never reconnect in a tight loop.
                        let delay = backoff.next_delay();
                        tokio::select! {
                            () = &mut shutdown => break 'session,
                            () = tokio::time::sleep(delay) => continue 'session,
                        }
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
