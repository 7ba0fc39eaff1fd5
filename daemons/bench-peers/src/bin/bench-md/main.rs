//! `make bench-md`: market-data parse + normalise and order-book updates on real data from
//! `../shared/data`, py_rt side by side with peers in one run.
//!
//! Books: py_rt's `L2Book` against hftbacktest's `HashMapMarketDepth` and `ROIVectorMarketDepth`
//! and `NautilusTrader`'s `OrderBook` (L2 MBP), on the recorded depth in `hftbacktest/`. Every
//! system gets the same sequenced updates, pre-converted to its own price and size types outside the
//! timed region, applies each update and reads the best bid and ask after it. Mean per update is
//! timed over the whole stream; the per-update distribution is timed one update at a time with the
//! TSC (`quanta`), so it includes the timer's own cost, which is measured and printed beside it.
//!
//! Parse ([`parse`]): the same recordings re-encoded as Alpaca crypto stream messages (`t`, `q`,
//! `o`), one per frame as the live stream sends them, and Alpaca stock frames ([`stock`]) in JSON
//! and MessagePack.

mod parse;
mod stock;

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use parse::{Case, Encoding, thousands};

use hdrhistogram::Histogram;
use hftbacktest::depth::{HashMapMarketDepth, L2MarketDepth, MarketDepth, ROIVectorMarketDepth};
use nautilus_model::data::BookOrder;
use nautilus_model::enums::{BookType, OrderSide};
use nautilus_model::identifiers::InstrumentId;
use nautilus_model::orderbook::OrderBook;
use nautilus_model::types::{Price as NPrice, Quantity as NQty};
use pyrt_book::recording::{self, Record};
use pyrt_book::{Continuity, Decision, DepthSync, L2Book};
use pyrt_types::{Price, Qty, Side, SymbolTable, Timestamp};

#[derive(Clone, Copy)]
struct Update {
    side: Side,
    price: Price,
    qty: Qty,
}

struct Stream {
    name: &'static str,
    tick: f64,
    lot: f64,
    snapshot: Vec<Update>,
    updates: Vec<Update>,
    /// The recording as Alpaca crypto stream frames.
    frames: Case,
}

fn levels_to_updates(out: &mut Vec<Update>, bids: &[(Price, Qty)], asks: &[(Price, Qty)]) {
    out.extend(bids.iter().map(|&(price, qty)| Update {
        side: Side::Buy,
        price,
        qty,
    }));
    out.extend(asks.iter().map(|&(price, qty)| Update {
        side: Side::Sell,
        price,
        qty,
    }));
}

fn alpaca_levels(levels: &[(Price, Qty)]) -> String {
    let mut out = String::from("[");
    for (i, (p, q)) in levels.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        write!(out, r#"{sep}{{"p":{p},"s":{q}}}"#).unwrap();
    }
    out.push(']');
    out
}

/// The recording as Alpaca crypto stream frames, one message each.
fn crypto_frames(name: &str, records: &[Record]) -> Case {
    let symbol = "BTC/USD";
    let ts = |ns: i64| Timestamp::from_unix_nanos(ns).to_string();
    let (mut trades, mut quotes, mut books, mut levels) = (0, 0, 0, 0);
    let mut frames = Vec::new();
    for record in records {
        let frame = match record {
            Record::Trade {
                recv_ns,
                trade_id,
                price,
                qty,
                buyer_is_maker,
            } => {
                trades += 1;
                let taker = if *buyer_is_maker { "S" } else { "B" };
                format!(
                    r#"[{{"T":"t","S":"{symbol}","p":{price},"s":{qty},"t":"{}","i":{trade_id},"tks":"{taker}"}}]"#,
                    ts(*recv_ns)
                )
            }
            Record::Ticker {
                recv_ns,
                bid,
                bid_qty,
                ask,
                ask_qty,
                ..
            } => {
                quotes += 1;
                format!(
                    r#"[{{"T":"q","S":"{symbol}","bp":{bid},"bs":{bid_qty},"ap":{ask},"as":{ask_qty},"t":"{}"}}]"#,
                    ts(*recv_ns)
                )
            }
            Record::Depth {
                recv_ns,
                bids,
                asks,
                ..
            } => {
                books += 1;
                levels += bids.len() + asks.len();
                format!(
                    r#"[{{"T":"o","S":"{symbol}","t":"{}","b":{},"a":{}}}]"#,
                    ts(*recv_ns),
                    alpaca_levels(bids),
                    alpaca_levels(asks)
                )
            }
            Record::Snapshot { .. } => continue,
        };
        frames.push(frame.into_bytes());
    }
    Case {
        name: format!("crypto {name} JSON"),
        encoding: Encoding::Json,
        frames,
        messages: trades + quotes + books,
        contents: format!(
            "{} t + {} q + {} o ({} levels)",
            thousands(trades),
            thousands(quotes),
            thousands(books),
            thousands(levels)
        ),
    }
}

/// Sequenced level updates after the snapshot, and the recording as Alpaca stream frames.
fn load(file: &str, name: &'static str, continuity: Continuity, tick: f64, lot: f64) -> Stream {
    let path = recording::shared_data_dir().join("hftbacktest").join(file);
    let records = recording::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut sync = DepthSync::new(continuity);
    let mut pending = Vec::new();
    let mut stream = Stream {
        name,
        tick,
        lot,
        snapshot: Vec::new(),
        updates: Vec::new(),
        frames: crypto_frames(name, &records),
    };
    for record in &records {
        match record {
            Record::Snapshot {
                last_update_id,
                bids,
                asks,
                ..
            } => {
                levels_to_updates(&mut stream.snapshot, bids, asks);
                sync.on_snapshot(*last_update_id);
                for (first, last, prev, bids, asks) in pending.drain(..) {
                    if sync.on_diff(first, last, prev) == Decision::Apply {
                        levels_to_updates(&mut stream.updates, bids, asks);
                    }
                }
            }
            Record::Depth {
                first,
                last,
                prev_final,
                bids,
                asks,
                ..
            } => match sync.on_diff(*first, *last, *prev_final) {
                Decision::Buffer => pending.push((*first, *last, *prev_final, bids, asks)),
                Decision::Apply => levels_to_updates(&mut stream.updates, bids, asks),
                Decision::Stale => {}
                Decision::Gap { expected, got } => panic!("{file}: gap {expected} {got}"),
            },
            Record::Trade { .. } | Record::Ticker { .. } => {}
        }
    }
    stream
}

/// One order-book implementation under test.
trait Book {
    type Input: Copy;
    const NAME: &'static str;
    fn convert(u: Update) -> Self::Input;
    fn apply(&mut self, input: Self::Input);
    fn best(&self) -> (f64, f64);
}

struct PyRt(L2Book);

impl Book for PyRt {
    type Input = Update;
    const NAME: &'static str = "py_rt";
    fn convert(u: Update) -> Update {
        u
    }
    #[inline]
    fn apply(&mut self, u: Update) {
        self.0.set(u.side, u.price, u.qty);
        black_box((self.0.best_bid(), self.0.best_ask()));
    }
    fn best(&self) -> (f64, f64) {
        let bid = self
            .0
            .best_bid()
            .map_or(f64::NAN, |l| l.price.to_f64_lossy());
        let ask = self
            .0
            .best_ask()
            .map_or(f64::NAN, |l| l.price.to_f64_lossy());
        (bid, ask)
    }
}

macro_rules! hft_book {
    ($wrapper:ident, $inner:ty, $name:literal) => {
        struct $wrapper($inner);

        impl Book for $wrapper {
            type Input = (bool, f64, f64);
            const NAME: &'static str = $name;
            fn convert(u: Update) -> Self::Input {
                (
                    u.side == Side::Buy,
                    u.price.to_f64_lossy(),
                    u.qty.to_f64_lossy(),
                )
            }
            #[inline]
            fn apply(&mut self, (buy, price, qty): Self::Input) {
                let out = if buy {
                    self.0.update_bid_depth(price, qty, 0)
                } else {
                    self.0.update_ask_depth(price, qty, 0)
                };
                black_box((out, self.0.best_bid(), self.0.best_ask()));
            }
            fn best(&self) -> (f64, f64) {
                (self.0.best_bid(), self.0.best_ask())
            }
        }
    };
}

hft_book!(HftHashMap, HashMapMarketDepth, "hftbacktest-hashmap");
hft_book!(HftRoiVector, ROIVectorMarketDepth, "hftbacktest-roivector");

struct Nautilus(OrderBook);

impl Book for Nautilus {
    type Input = (BookOrder, bool);
    const NAME: &'static str = "nautilus";
    fn convert(u: Update) -> Self::Input {
        let side = if u.side == Side::Buy {
            OrderSide::Buy
        } else {
            OrderSide::Sell
        };
        // Both use 10⁻⁹ fixed point at standard precision, so raw values carry over exactly.
        let price = NPrice::from_raw(u.price.raw(), 8);
        let quantity = NQty::from_raw(u64::try_from(u.qty.raw()).unwrap_or(0), 8);
        (BookOrder::new(side, price, quantity, 0), u.qty.is_zero())
    }
    #[inline]
    fn apply(&mut self, (order, delete): Self::Input) {
        if delete {
            self.0.delete(order, 0, 0, 0.into());
        } else {
            self.0.update(order, 0, 0, 0.into());
        }
        black_box((self.0.best_bid_price(), self.0.best_ask_price()));
    }
    fn best(&self) -> (f64, f64) {
        let bid = self.0.best_bid_price().map_or(f64::NAN, |p| p.as_f64());
        let ask = self.0.best_ask_price().map_or(f64::NAN, |p| p.as_f64());
        (bid, ask)
    }
}

struct BookResult {
    system: &'static str,
    mean_ns: f64,
    p50_ns: f64,
    p99_ns: f64,
    p999_ns: f64,
    best: (f64, f64),
}

const REPEATS: usize = 5;

/// A book of type `B` holding the snapshot (built outside any timed region).
fn with_snapshot<B: Book>(stream: &Stream, make: &impl Fn() -> B) -> B {
    let mut book = make();
    for &u in &stream.snapshot {
        book.apply(B::convert(u));
    }
    book
}

fn run_book<B: Book>(stream: &Stream, make: impl Fn() -> B, clock: &quanta::Clock) -> BookResult {
    let inputs: Vec<B::Input> = stream.updates.iter().map(|&u| B::convert(u)).collect();
    let mut best_mean = f64::INFINITY;
    let mut final_best = (0.0, 0.0);
    for _ in 0..REPEATS {
        let mut book = with_snapshot(stream, &make);
        let start = Instant::now();
        for &input in &inputs {
            book.apply(input);
        }
        let elapsed = start.elapsed().as_secs_f64() * 1e9;
        #[allow(clippy::cast_precision_loss)]
        let mean = elapsed / inputs.len() as f64;
        best_mean = best_mean.min(mean);
        final_best = book.best();
    }
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut book = with_snapshot(stream, &make);
    for &input in &inputs {
        let t0 = clock.raw();
        book.apply(input);
        let t1 = clock.raw();
        hist.record(clock.delta_as_nanos(t0, t1).max(1)).unwrap();
    }
    #[allow(clippy::cast_precision_loss)]
    let q = |p: f64| hist.value_at_quantile(p) as f64;
    BookResult {
        system: B::NAME,
        mean_ns: best_mean,
        p50_ns: q(0.5),
        p99_ns: q(0.99),
        p999_ns: q(0.999),
        best: final_best,
    }
}

fn timer_overhead_ns(clock: &quanta::Clock) -> f64 {
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for _ in 0..100_000 {
        let t0 = clock.raw();
        let t1 = clock.raw();
        hist.record(clock.delta_as_nanos(t0, t1).max(1)).unwrap();
    }
    #[allow(clippy::cast_precision_loss)]
    let p50 = hist.value_at_quantile(0.5) as f64;
    p50
}

struct Row {
    system: String,
    case: String,
    metric: &'static str,
    value: f64,
}

fn bench_books(streams: &[Stream], clock: &quanta::Clock, overhead: f64, rows: &mut Vec<Row>) {
    println!(
        "timer overhead (TSC read pair, p50): {overhead:.0} ns — included in per-update percentiles\n"
    );
    println!(
        "{:<14} {:<22} {:>10} {:>9} {:>9} {:>9} {:>12} {:>9}",
        "stream", "system", "mean ns", "p50 ns", "p99 ns", "p99.9 ns", "updates/s", "vs py_rt"
    );
    for stream in streams {
        let (lo, hi) = stream.updates.iter().chain(&stream.snapshot).fold(
            (f64::MAX, f64::MIN),
            |(lo, hi), u| {
                let p = u.price.to_f64_lossy();
                (lo.min(p), hi.max(p))
            },
        );
        let results = [
            run_book(stream, || PyRt(L2Book::with_capacity(4096)), clock),
            run_book(
                stream,
                || HftHashMap(HashMapMarketDepth::new(stream.tick, stream.lot)),
                clock,
            ),
            run_book(
                stream,
                || HftRoiVector(ROIVectorMarketDepth::new(stream.tick, stream.lot, lo, hi)),
                clock,
            ),
            run_book(
                stream,
                || {
                    Nautilus(OrderBook::new(
                        InstrumentId::from("BTCUSDT.BINANCE"),
                        BookType::L2_MBP,
                    ))
                },
                clock,
            ),
        ];
        let ours = results[0].mean_ns;
        for r in &results {
            assert!(
                (r.best.0 - results[0].best.0).abs() < stream.tick / 2.0
                    && (r.best.1 - results[0].best.1).abs() < stream.tick / 2.0,
                "{}: {} ends with best {:?}, py_rt with {:?}",
                stream.name,
                r.system,
                r.best,
                results[0].best
            );
            println!(
                "{:<14} {:<22} {:>10.1} {:>9.0} {:>9.0} {:>9.0} {:>12.3e} {:>8.2}x",
                stream.name,
                r.system,
                r.mean_ns,
                r.p50_ns,
                r.p99_ns,
                r.p999_ns,
                1e9 / r.mean_ns,
                r.mean_ns / ours
            );
            let case = format!(
                "L2 update + best bid/ask, {} ({} updates)",
                stream.name,
                stream.updates.len()
            );
            for (metric, value) in [
                ("mean_ns", r.mean_ns),
                ("p50_ns", r.p50_ns),
                ("p99_ns", r.p99_ns),
                ("p999_ns", r.p999_ns),
                ("updates_per_s", 1e9 / r.mean_ns),
            ] {
                rows.push(Row {
                    system: r.system.to_owned(),
                    case: case.clone(),
                    metric,
                    value,
                });
            }
        }
    }
}

/// The stock cases: every message kind in both encodings, as Alpaca and as the simulator send them.
fn stock_cases() -> Vec<Case> {
    let data = stock::load(&recording::shared_data_dir());
    let ticks = stock::ticks(&data);
    let mut cases = Vec::new();
    for (encoding, label) in [(Encoding::Json, "JSON"), (Encoding::Msgpack, "msgpack")] {
        for (kind, frames, contents) in [
            (
                "trades",
                stock::alpaca_trades(&data, &ticks, encoding),
                format!("{} t", thousands(ticks.len())),
            ),
            (
                "quotes",
                stock::alpaca_quotes(&data, &ticks, encoding),
                format!("{} q", thousands(ticks.len())),
            ),
            (
                "bars",
                stock::alpaca_bars(&data, encoding),
                format!("{} b", thousands(data.bars.len())),
            ),
            (
                "q+t (simulator)",
                stock::simulator_quote_trade(&ticks, encoding),
                format!(
                    "{} q + {} t",
                    thousands(ticks.len()),
                    thousands(ticks.len())
                ),
            ),
        ] {
            cases.push(Case {
                name: format!("stock {kind} {label}"),
                encoding,
                frames: frames.frames,
                messages: frames.messages,
                contents,
            });
        }
    }
    cases
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("bench-results/md.json"), PathBuf::from);
    let clock = quanta::Clock::new();
    let overhead = timer_overhead_ns(&clock);
    let symbols = SymbolTable::from_names(["AAPL", "GOOGL", "MSFT", "BTC/USD"]).unwrap();
    let mut rows: Vec<Row> = Vec::new();
    let streams = [
        load(
            "usdm_btcusdt_20240808.gz",
            "usdm BTCUSDT",
            Continuity::PreviousFinal,
            0.1,
            0.001,
        ),
        load(
            "spot_btcusdt_20240808.gz",
            "spot BTCUSDT",
            Continuity::Consecutive,
            0.01,
            0.00001,
        ),
    ];
    bench_books(&streams, &clock, overhead, &mut rows);
    let mut cases = stock_cases();
    cases.extend(streams.into_iter().map(|s| s.frames));
    parse::bench(&cases, &symbols, &mut rows);
    write_json(&out, &rows);
    println!("\nwrote {}", out.display());
}

fn write_json(path: &std::path::Path, rows: &[Row]) {
    let results: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::json!({"system": r.system, "case": r.case, "metric": r.metric, "value": r.value}))
        .collect();
    let doc = serde_json::json!({
        "name": "md",
        "when": Timestamp::now().to_string(),
        "host": pyrt_bench_peers::host(),
        "results": results,
    });
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
}
