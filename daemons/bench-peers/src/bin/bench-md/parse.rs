//! Parse + normalise: Alpaca stream frames into fixed-point events, py_rt's scanners against serde
//! decoding into typed structs (what Rust Alpaca clients do: `serde_json` for text frames,
//! `rmp-serde` for MessagePack), both ending in the same fixed-point values.
//!
//! A frame is one websocket message, a JSON or MessagePack array of stream messages; rates are
//! given per message and per frame, with the count of each per case. Both systems fold every value
//! they produce into a digest, which must agree before any rate is printed.

use std::hint::black_box;
use std::time::Instant;

use pyrt_alpaca::md::{Item, parse_json_frame, parse_msgpack_frame};
use pyrt_types::events::EventKind;
use pyrt_types::{Bar, BookDelta, Price, Quote, RawEvent, SymbolTable, Timestamp, Trade};
use serde::Deserialize;

use crate::Row;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Msgpack,
}

pub struct Case {
    pub name: String,
    pub encoding: Encoding,
    pub frames: Vec<Vec<u8>>,
    pub messages: usize,
    /// What the messages are, for the table ("2,988 q + 2,988 t").
    pub contents: String,
}

/// Everything a parse produced: counts, and a wrapping sum of every normalised value (symbol ids,
/// timestamps, prices, sizes, trade ids).
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Digest {
    messages: usize,
    events: usize,
    rejected: usize,
    sum: u64,
}

impl Digest {
    #[inline]
    fn add(&mut self, values: &[i64]) {
        self.events += 1;
        for &v in values {
            self.sum = self.sum.wrapping_add(v.cast_unsigned());
        }
    }
}

#[inline]
fn fold_event(d: &mut Digest, e: &RawEvent) {
    let symbol = i64::from(e.header.symbol.0);
    match e.kind() {
        Ok(EventKind::Trade) => {
            let t: &Trade = e.as_event().unwrap();
            d.add(&[
                symbol,
                t.ts_event.unix_nanos(),
                t.price.raw(),
                t.size.raw(),
                t.trade_id.cast_signed(),
                i64::from(t.exchange),
            ]);
        }
        Ok(EventKind::Quote) => {
            let q: &Quote = e.as_event().unwrap();
            d.add(&[
                symbol,
                q.ts_event.unix_nanos(),
                q.bid_price.raw(),
                q.bid_size.raw(),
                q.ask_price.raw(),
                q.ask_size.raw(),
                i64::from(q.bid_exchange),
                i64::from(q.ask_exchange),
            ]);
        }
        Ok(EventKind::Bar) => {
            let b: &Bar = e.as_event().unwrap();
            d.add(&[
                symbol,
                b.ts_event.unix_nanos(),
                b.open.raw(),
                b.high.raw(),
                b.low.raw(),
                b.close.raw(),
                b.volume.raw(),
            ]);
        }
        Ok(EventKind::BookDelta) => {
            let o: &BookDelta = e.as_event().unwrap();
            d.add(&[symbol, o.ts_event.unix_nanos(), o.price.raw(), o.size.raw()]);
        }
        _ => d.rejected += 1,
    }
}

fn pyrt(case: &Case, symbols: &SymbolTable) -> impl Fn(&[u8], &mut Digest) {
    let encoding = case.encoding;
    move |frame, d| {
        let mut rejected = 0;
        let sink = |item| match item {
            Item::Event(e) => fold_event(d, &e),
            _ => rejected += 1,
        };
        let result = match encoding {
            Encoding::Json => parse_json_frame(frame, symbols, Timestamp::EPOCH, sink),
            Encoding::Msgpack => parse_msgpack_frame(frame, symbols, Timestamp::EPOCH, sink),
        };
        match result {
            Ok(n) => d.messages += n,
            Err(_) => rejected += 1,
        }
        d.rejected += rejected;
    }
}

/// The serde baseline: owned strings and floats as typical Alpaca client structs hold them.
#[derive(Deserialize)]
struct Level {
    p: f64,
    s: f64,
}

// Conditions, tapes, trade counts and VWAPs are decoded, as a typed client does, but not
// normalised: py_rt skips them too.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(tag = "T")]
enum Message<Time> {
    #[serde(rename = "t")]
    Trade {
        #[serde(rename = "S")]
        symbol: String,
        #[serde(rename = "i", default)]
        id: u64,
        #[serde(rename = "x")]
        exchange: Option<String>,
        p: f64,
        s: f64,
        t: Time,
        #[serde(rename = "c", default)]
        conditions: Vec<String>,
        #[serde(rename = "z")]
        tape: Option<String>,
    },
    #[serde(rename = "q")]
    Quote {
        #[serde(rename = "S")]
        symbol: String,
        bx: Option<String>,
        bp: f64,
        bs: f64,
        ax: Option<String>,
        ap: f64,
        #[serde(rename = "as")]
        ask_size: f64,
        t: Time,
        #[serde(rename = "c", default)]
        conditions: Vec<String>,
        #[serde(rename = "z")]
        tape: Option<String>,
    },
    #[serde(rename = "b")]
    Bar {
        #[serde(rename = "S")]
        symbol: String,
        o: f64,
        h: f64,
        l: f64,
        c: f64,
        v: f64,
        t: Time,
        n: Option<u64>,
        vw: Option<f64>,
    },
    #[serde(rename = "o")]
    Book {
        #[serde(rename = "S")]
        symbol: String,
        t: Time,
        b: Vec<Level>,
        a: Vec<Level>,
    },
}

/// A message's `t` as the format carries it.
trait WireTime {
    fn timestamp(&self) -> i64;
}

impl WireTime for String {
    fn timestamp(&self) -> i64 {
        Timestamp::parse_rfc3339(self).map_or(0, Timestamp::unix_nanos)
    }
}

/// A MessagePack timestamp extension (type −1), which rmp-serde hands over as `(type, bytes)`.
#[derive(Deserialize)]
#[serde(rename = "_ExtStruct")]
struct MsgpackTime<'a>(#[serde(borrow)] (i8, &'a [u8]));

impl WireTime for MsgpackTime<'_> {
    fn timestamp(&self) -> i64 {
        let (kind, data) = self.0;
        let nanos = |secs: i64, sub: u32| secs * 1_000_000_000 + i64::from(sub);
        match (kind, data.len()) {
            (-1, 4) => nanos(i64::from(u32::from_be_bytes(data.try_into().unwrap())), 0),
            (-1, 8) => {
                let packed = u64::from_be_bytes(data.try_into().unwrap());
                let sub = u32::try_from(packed >> 34).unwrap_or(0);
                nanos((packed & 0x3_ffff_ffff).cast_signed(), sub)
            }
            (-1, 12) => nanos(
                i64::from_be_bytes(data[4..].try_into().unwrap()),
                u32::from_be_bytes(data[..4].try_into().unwrap()),
            ),
            _ => 0,
        }
    }
}

fn fixed(value: f64) -> i64 {
    Price::from_f64_shortest(value).map_or(0, Price::raw)
}

fn fold_message<T: WireTime>(d: &mut Digest, message: Message<T>, symbols: &SymbolTable) {
    d.messages += 1;
    let symbol = |name: &str| symbols.get(name).map_or(-1, |id| i64::from(id.0));
    let code = |x: Option<String>| i64::from(x.and_then(|x| x.bytes().next()).unwrap_or(0));
    match message {
        Message::Trade {
            symbol: name,
            id,
            exchange,
            p,
            s,
            t,
            ..
        } => d.add(&[
            symbol(&name),
            t.timestamp(),
            fixed(p),
            fixed(s),
            id.cast_signed(),
            code(exchange),
        ]),
        Message::Quote {
            symbol: name,
            bx,
            bp,
            bs,
            ax,
            ap,
            ask_size,
            t,
            ..
        } => d.add(&[
            symbol(&name),
            t.timestamp(),
            fixed(bp),
            fixed(bs),
            fixed(ap),
            fixed(ask_size),
            code(bx),
            code(ax),
        ]),
        Message::Bar {
            symbol: name,
            o,
            h,
            l,
            c,
            v,
            t,
            ..
        } => d.add(&[
            symbol(&name),
            t.timestamp(),
            fixed(o),
            fixed(h),
            fixed(l),
            fixed(c),
            fixed(v),
        ]),
        Message::Book {
            symbol: name,
            t,
            b,
            a,
        } => {
            let (id, ts) = (symbol(&name), t.timestamp());
            for level in b.iter().chain(&a) {
                d.add(&[id, ts, fixed(level.p), fixed(level.s)]);
            }
        }
    }
}

fn serde_json_typed(symbols: &SymbolTable) -> impl Fn(&[u8], &mut Digest) {
    move |frame, d| match serde_json::from_slice::<Vec<Message<String>>>(frame) {
        Ok(messages) => {
            for m in messages {
                fold_message(d, m, symbols);
            }
        }
        Err(_) => d.rejected += 1,
    }
}

fn rmp_serde_typed(symbols: &SymbolTable) -> impl Fn(&[u8], &mut Digest) {
    move |frame, d| match rmp_serde::from_slice::<Vec<Message<MsgpackTime<'_>>>>(frame) {
        Ok(messages) => {
            for m in messages {
                fold_message(d, m, symbols);
            }
        }
        Err(_) => d.rejected += 1,
    }
}

/// A system under test: parses one frame into the digest.
type Parse<'s> = dyn Fn(&[u8], &mut Digest) + 's;

const REPEATS: usize = 5;
/// Each timed run parses at least this many messages (small cases are parsed several times over).
const MIN_MESSAGES_PER_RUN: usize = 250_000;

fn run(case: &Case, parse: &Parse<'_>, passes: usize) -> (Digest, f64) {
    let mut digest = Digest::default();
    let start = Instant::now();
    for _ in 0..passes {
        for frame in &case.frames {
            parse(black_box(frame), &mut digest);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    (black_box(digest), elapsed)
}

/// Messages per second of each system, best of [`REPEATS`] runs taken in turns so that noise from
/// other work on the machine falls on both alike.
fn rates(case: &Case, systems: &[&Parse<'_>]) -> Vec<f64> {
    let passes = MIN_MESSAGES_PER_RUN.div_ceil(case.messages.max(1));
    let reference = run(case, systems[0], 1).0;
    assert_eq!(reference.rejected, 0, "{}: py_rt rejected input", case.name);
    assert_eq!(
        reference.messages, case.messages,
        "{}: message count",
        case.name
    );
    for system in &systems[1..] {
        let digest = run(case, *system, 1).0;
        assert_eq!(digest, reference, "{}: systems disagree", case.name);
    }
    let mut best = vec![f64::INFINITY; systems.len()];
    #[allow(clippy::cast_precision_loss)]
    let runs = passes as f64;
    for _ in 0..REPEATS {
        for (system, best) in systems.iter().zip(&mut best) {
            *best = best.min(run(case, *system, passes).1 / runs);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    best.iter()
        .map(|secs| case.messages as f64 / secs)
        .collect()
}

pub fn bench(cases: &[Case], symbols: &SymbolTable, rows: &mut Vec<Row>) {
    println!("\nparse + normalise (DESIGN §9 target: ≥ 2 M msg/s per core)");
    println!(
        "{:<30} {:<18} {:>13} {:>13} {:>9}   frames, messages",
        "case", "system", "messages/s", "frames/s", "vs py_rt"
    );
    for case in cases {
        let ours = pyrt(case, symbols);
        let (name, reference): (&str, Box<Parse<'_>>) = match case.encoding {
            Encoding::Json => ("serde_json-typed", Box::new(serde_json_typed(symbols))),
            Encoding::Msgpack => ("rmp-serde-typed", Box::new(rmp_serde_typed(symbols))),
        };
        let measured = rates(case, &[&ours, &*reference]);
        #[allow(clippy::cast_precision_loss)]
        let per_frame = case.frames.len() as f64 / case.messages as f64;
        let counts = format!("{} frames, {}", thousands(case.frames.len()), case.contents);
        for (system, rate) in [("py_rt", measured[0]), (name, measured[1])] {
            println!(
                "{:<30} {:<18} {:>13.3e} {:>13.3e} {:>8.2}x   {}",
                case.name,
                system,
                rate,
                rate * per_frame,
                rate / measured[0],
                counts
            );
            let label = format!("parse+normalise {} ({counts})", case.name);
            for (metric, value) in [("messages_per_s", rate), ("frames_per_s", rate * per_frame)] {
                rows.push(Row {
                    system: system.to_owned(),
                    case: label.clone(),
                    metric,
                    value,
                });
            }
        }
    }
}

/// `93953` → `"93,953"`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
