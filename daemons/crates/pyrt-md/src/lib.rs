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

use pyrt_alpaca::AlpacaError;
use pyrt_alpaca::md::Item;
use pyrt_alpaca::rest::{Credentials, RestClient, RestConfig};
use pyrt_alpaca::stream::Backoff;
use pyrt_alpaca::stream::market::{Encoding, MarketDataStream, Subscription};
use pyrt_book::{L1Books, L2Book};
use pyrt_ring::{BroadcastProducer, ControlBlock, DaemonState};
use pyrt_runtime::systemd;
use pyrt_telemetry::{Counter, HistogramSpec, StageRecorder, Telemetry};
use pyrt_types::{
    BookAction, BookDelta, FLAG_BACKFILL, Gap, Quote, RawEvent, SymbolId, SymbolTable, Timestamp,
    Trade, events::FLAG_LAST_IN_BATCH,
};

/// The md daemon's slot in the control block.
pub const CONTROL_SLOT: usize = 0;
/// `Gap::reason`: the feed connection was lost.
pub const GAP_DISCONNECTED: u8 = 1;

/// Levels per side a depth book holds before it allocates: set up front, so the first snapshot
/// (and any book within this depth) never allocates on the hot path.
const DEPTH_LEVELS: usize = 4096;

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
    /// Crypto pairs whose trades and order books are followed (ids after the equities').
    pub crypto: Vec<String>,
    pub crypto_stream_url: Option<String>,
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

fn gap(lost: u64, symbol: SymbolId) -> RawEvent {
    let mut event = Gap::with_header(Timestamp::now(), symbol);
    event.ts_event = Timestamp::now();
    event.lost_messages = lost;
    event.reason = GAP_DISCONNECTED;
    RawEvent::from_event(&event)
}

/// The crypto pairs' L2 books.
struct Depth<'a> {
    books: &'a mut [L2Book],
    first_id: usize,
    crossed: &'a Counter,
}

impl Depth<'_> {
    /// Applies one order-book delta; after the last delta of an update, returns the book's top
    /// as a quote (the strategy and risk price from it).
    fn apply(&mut self, delta: &BookDelta, received: Timestamp) -> Option<Quote> {
        let index = (delta.header.symbol.0 as usize).checked_sub(self.first_id)?;
        let book = self.books.get_mut(index)?;
        match (delta.action(), delta.side()) {
            (Ok(BookAction::Clear), _) => book.clear(),
            (Ok(_), Ok(side)) => {
                book.set(side, delta.price, delta.size);
            }
            _ => return None,
        }
        if delta.header.flags & FLAG_LAST_IN_BATCH == 0 {
            return None;
        }
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            return None;
        };
        if bid.price >= ask.price {
            self.crossed.add(1);
            return None;
        }
        let mut quote = Quote::with_header(received, delta.header.symbol);
        quote.ts_event = delta.ts_event;
        quote.bid_price = bid.price;
        quote.bid_size = bid.qty;
        quote.ask_price = ask.price;
        quote.ask_size = ask.qty;
        Some(quote)
    }
}

/// Frame to ring: what the daemon does for every frame, with its counters.
struct Pipeline {
    symbols: SymbolTable,
    ring: BroadcastProducer,
    books: L1Books,
    /// L2 books of the crypto pairs, indexed by symbol id minus `first_depth_id`.
    depth: Vec<L2Book>,
    first_depth_id: usize,
    latency: StageRecorder,
    /// Last delta of a book update applied → top-of-book quote published.
    book_latency: StageRecorder,
    crossed: Counter,
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
        let (ring, books, unknown, malformed, newest, book_latency) = (
            &mut self.ring,
            &mut self.books,
            &self.unknown,
            &self.malformed,
            &mut self.newest,
            &mut self.book_latency,
        );
        let mut depth = Depth {
            books: &mut self.depth,
            first_id: self.first_depth_id,
            crossed: &self.crossed,
        };
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
                if let Some(delta) = event.as_event::<BookDelta>()
                    && let Some(top) = depth.apply(delta, received)
                {
                    books.update(&top);
                    ring.publish(&RawEvent::from_event(&top));
                    published += 1;
                    let elapsed = Timestamp::now().unix_nanos() - received.unix_nanos();
                    book_latency.record(u64::try_from(elapsed).unwrap_or(0));
                }
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

    /// A lost feed: a `Gap` for every symbol (`None`) or for each of `symbols`, and their books
    /// cleared until the feed sends them whole again.
    fn on_disconnect(&mut self, symbols: Option<&[SymbolId]>) {
        match symbols {
            None => self.ring.publish(&gap(0, SymbolId(u32::MAX))),
            Some(ids) => {
                for &id in ids {
                    self.ring.publish(&gap(0, id));
                    if let Some(book) = self.depth_book(id) {
                        book.clear();
                    }
                }
            }
        }
        self.gaps.add(1);
    }

    fn depth_book(&mut self, id: SymbolId) -> Option<&mut L2Book> {
        let index = (id.0 as usize).checked_sub(self.first_depth_id)?;
        self.depth.get_mut(index)
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

/// One websocket session: equities (trades and quotes, with REST backfill after a gap) or crypto
/// (trades and order books).
struct Feed {
    name: &'static str,
    url: String,
    subscription: Subscription,
    stream: Option<MarketDataStream>,
    backoff: Backoff,
    retry_at: tokio::time::Instant,
    connected_once: bool,
    /// Symbols a loss of this feed makes stale: `None` for all.
    stale: Option<Vec<SymbolId>>,
}

impl Feed {
    fn new(
        name: &'static str,
        url: String,
        subscription: Subscription,
        stale: Option<Vec<SymbolId>>,
    ) -> Self {
        Self {
            name,
            url,
            subscription,
            stream: None,
            backoff: Backoff::new(Duration::from_secs(30)),
            retry_at: tokio::time::Instant::now(),
            connected_once: false,
            stale,
        }
    }

    /// The next frame, or never while disconnected.
    async fn next_frame(stream: Option<&mut MarketDataStream>) -> Result<Vec<u8>, AlpacaError> {
        match stream {
            Some(stream) => stream.next_frame().await,
            None => std::future::pending().await,
        }
    }

    fn lost(&mut self, error: &AlpacaError) {
        eprintln!("md: {} feed lost: {error}", self.name);
        self.stream = None;
        // Alpaca allows one stream per account and may not have released the old one yet: never
        // reconnect in a tight loop.
        self.retry_at = tokio::time::Instant::now() + self.backoff.next_delay();
    }
}

/// Runs until `shutdown` completes.
#[allow(clippy::too_many_lines)] // one linear start-up sequence and one session loop
pub async fn run(config: MdConfig, shutdown: impl Future<Output = ()>) -> Result<(), MdError> {
    let names: Vec<&str> = config
        .symbols
        .iter()
        .chain(&config.crypto)
        .map(String::as_str)
        .collect();
    let symbols = SymbolTable::from_names(names.iter().copied())?;
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
    let equities = config.symbols.len();
    let mut pipe = Pipeline {
        books: L1Books::with_symbols(symbols.len()),
        depth: (0..config.crypto.len())
            .map(|_| L2Book::with_capacity(DEPTH_LEVELS))
            .collect(),
        first_depth_id: equities,
        symbols,
        ring,
        latency: telemetry.stage("frame_to_published")?,
        book_latency: telemetry.stage("book_to_quote")?,
        frames: telemetry.counter("frames", "received")?,
        events: telemetry.counter("events", "published")?,
        unknown: telemetry.counter("messages", "unknown_symbol")?,
        malformed: telemetry.counter("messages", "malformed")?,
        gaps: telemetry.counter("gaps", "disconnected")?,
        backfilled: telemetry.counter("events", "backfilled")?,
        crossed: telemetry.counter("books", "crossed")?,
        newest: Timestamp::EPOCH,
        trades_until: Timestamp::EPOCH,
        quotes_until: Timestamp::EPOCH,
    };
    let mut backfill = config
        .backfill
        .as_ref()
        .map(|b| RestClient::new(&b.rest).map(|client| (client, b)))
        .transpose()?;
    let mut stocks = Feed::new(
        "equities",
        config.stream_url.clone(),
        Subscription {
            trades: config.symbols.clone(),
            quotes: config.symbols.clone(),
            ..Subscription::default()
        },
        None,
    );
    let mut crypto = match &config.crypto_stream_url {
        Some(url) if !config.crypto.is_empty() => Some(Feed::new(
            "crypto",
            url.clone(),
            Subscription {
                trades: config.crypto.clone(),
                orderbooks: config.crypto.clone(),
                ..Subscription::default()
            },
            Some(
                (equities..names.len())
                    .map(|i| SymbolId(u32::try_from(i).unwrap_or(u32::MAX)))
                    .collect(),
            ),
        )),
        _ => None,
    };
    let mut heartbeat = tokio::time::interval(config.heartbeat);
    let mut shutdown = pin!(shutdown);
    let watchdog = tokio::spawn(systemd::keep_watchdog_fed());
    systemd::ready("md ring open; connecting to the feeds");
    'run: loop {
        for feed in std::iter::once(&mut stocks).chain(crypto.as_mut()) {
            if feed.stream.is_some() || tokio::time::Instant::now() < feed.retry_at {
                continue;
            }
            let connect = MarketDataStream::connect(
                &feed.url,
                &config.credentials,
                config.encoding,
                &feed.subscription,
                Duration::from_secs(10),
            );
            let result = tokio::select! {
                () = &mut shutdown => break 'run,
                result = connect => result,
            };
            match result {
                Ok(stream) => {
                    feed.stream = Some(stream);
                    if feed.stale.is_none()
                        && feed.connected_once
                        && let Some((client, settings)) = backfill.as_mut()
                        && let Err(e) = pipe.backfill(client, settings).await
                    {
                        eprintln!("md: backfill after the gap failed: {e}");
                    }
                    feed.connected_once = true;
                    feed.backoff.reset();
                }
                Err(e) => {
                    eprintln!("md: cannot open the {} feed: {e}", feed.name);
                    feed.retry_at = tokio::time::Instant::now() + feed.backoff.next_delay();
                }
            }
        }
        let all_up = stocks.stream.is_some() && crypto.as_ref().is_none_or(|f| f.stream.is_some());
        let state = if all_up {
            DaemonState::Running
        } else {
            DaemonState::Degraded
        };
        control.set_state(CONTROL_SLOT, state)?;
        let retry_at = std::iter::once(&stocks)
            .chain(crypto.as_ref())
            .filter(|f| f.stream.is_none())
            .map(|f| f.retry_at)
            .min();
        let crypto_stream = crypto.as_mut().and_then(|f| f.stream.as_mut());
        tokio::select! {
            () = &mut shutdown => break 'run,
            _ = heartbeat.tick() => {
                control.heartbeat(CONTROL_SLOT)?;
                pipe.ring.heartbeat();
                telemetry.flush(&mut pipe.latency);
                telemetry.flush(&mut pipe.book_latency);
            }
            () = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
            frame = Feed::next_frame(stocks.stream.as_mut()) => match frame {
                Ok(frame) => {
                    if let Some(stream) = stocks.stream.as_ref() {
                        pipe.on_frame(stream, &frame);
                    }
                }
                Err(e) => {
                    pipe.on_disconnect(None);
                    stocks.lost(&e);
                }
            },
            frame = Feed::next_frame(crypto_stream) => {
                if let Some(feed) = crypto.as_mut() {
                    match frame {
                        Ok(frame) => {
                            if let Some(stream) = feed.stream.as_ref() {
                                pipe.on_frame(stream, &frame);
                            }
                        }
                        Err(e) => {
                            pipe.on_disconnect(feed.stale.as_deref());
                            feed.lost(&e);
                        }
                    }
                }
            }
        }
    }
    let connected_once = stocks.connected_once;
    systemd::stopping();
    watchdog.abort();
    if !connected_once {
        eprintln!("md: stopped before the feed was ever reached");
    }
    telemetry.flush(&mut pipe.latency);
    control.set_state(CONTROL_SLOT, DaemonState::Stopped)?;
    Ok(())
}
