//! Alpaca stock-stream frames built from the real daily bars in `shared/data/seed_alpaca_daily`
//! (Alpaca v2 daily bars of AAPL, GOOGL and MSFT), shaped both as the project's simulator sends
//! them and as Alpaca's own server does.
//!
//! The shared data holds no intraday equity recording, so trades and quotes follow the simulator's
//! derivation (`pyrt/sim/market.py`): each real bar walked open → high, low (order by a seeded coin)
//! → close, a one-cent quote around each point, 100 shares per million of the day's volume. Bars
//! are the real ones, sent as `b` messages. Trade conditions and exchanges cycle through those of
//! the recorded Alpaca trades page in `shared/data/alpaca`. Everything is deterministic.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use pyrt_types::{Price, Qty, Timestamp};

use crate::parse::Encoding;

pub struct DailyBar {
    symbol: String,
    ts: Timestamp,
    open: Price,
    high: Price,
    low: Price,
    close: Price,
    volume: Qty,
    vwap: Price,
    trades: u64,
}

/// One point of the derived intraday path: the quote around it and the trade at it.
pub struct Tick<'a> {
    symbol: &'a str,
    ts: Timestamp,
    bid: Price,
    ask: Price,
    price: Price,
    size: Qty,
}

/// A recorded trade's exchange and condition list.
pub struct TradeTags {
    exchange: String,
    conditions: Vec<String>,
}

pub struct StockData {
    pub bars: Vec<DailyBar>,
    pub tags: Vec<TradeTags>,
}

fn csv_field<'a>(row: &[&'a str], header: &[&str], name: &str) -> &'a str {
    let i = header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("daily bars have no column {name}"));
    row[i]
}

/// Daily bars in file order, AAPL's then GOOGL's then MSFT's, and the recorded trade tags.
pub fn load(data: &Path) -> StockData {
    let mut bars = Vec::new();
    for symbol in ["AAPL", "GOOGL", "MSFT"] {
        let path = data.join("seed_alpaca_daily").join(format!("{symbol}.csv"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        for line in lines {
            let row: Vec<&str> = line.split(',').collect();
            let field = |name| csv_field(&row, &header, name);
            let price = |name| Price::parse(field(name)).unwrap();
            bars.push(DailyBar {
                symbol: field("symbol").to_owned(),
                ts: Timestamp::parse_rfc3339(field("timestamp")).unwrap(),
                open: price("open"),
                high: price("high"),
                low: price("low"),
                close: price("close"),
                volume: Qty::parse(field("volume")).unwrap(),
                vwap: price("vwap"),
                trades: Qty::parse(field("trade_count"))
                    .unwrap()
                    .raw()
                    .unsigned_abs()
                    / 1_000_000_000,
            });
        }
    }
    let path = data
        .join("alpaca")
        .join("alpaca-trade-api-go_trades.json.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let page: serde_json::Value = serde_json::from_str(&text).unwrap();
    let tags = page["trades"]["AAPL"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| TradeTags {
            exchange: t["x"].as_str().unwrap().to_owned(),
            conditions: t["c"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect(),
        })
        .collect();
    StockData { bars, tags }
}

/// `SplitMix64`: a fixed-seed coin and jitter, so every run builds the same frames.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

const CENT: i64 = 10_000_000;
const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// To the cent, ties to even (Python's `Decimal.quantize` default, which the simulator uses).
fn to_cent(p: Price) -> Price {
    let raw = p.raw();
    let (q, r) = (raw.div_euclid(CENT), raw.rem_euclid(CENT));
    let up = r > CENT / 2 || (r == CENT / 2 && q % 2 != 0);
    Price::from_raw((q + i64::from(up)) * CENT)
}

/// The simulator's intraday path: for each day, every symbol's four points, round robin.
pub fn ticks(data: &StockData) -> Vec<Tick<'_>> {
    let mut rng = Rng(20_241_101);
    let symbols: Vec<&str> = {
        let mut s: Vec<&str> = data.bars.iter().map(|b| b.symbol.as_str()).collect();
        s.dedup();
        s
    };
    let series: Vec<Vec<&DailyBar>> = symbols
        .iter()
        .map(|s| data.bars.iter().filter(|b| b.symbol == *s).collect())
        .collect();
    let days = series.iter().map(Vec::len).min().unwrap_or(0);
    let mut out = Vec::new();
    for day in 0..days {
        for bars in &series {
            let bar = bars[day];
            let extremes = if rng.next() & 1 == 0 {
                [bar.high, bar.low]
            } else {
                [bar.low, bar.high]
            };
            let lots = (bar.volume.raw() / 1_000_000 + 500_000_000) / 1_000_000_000;
            let size = Qty::from_units(lots.max(1) * 100).unwrap();
            // 09:30 New York (bars are stamped at midnight New York), then through the session.
            let open = bar.ts.unix_nanos() + 19 * NANOS_PER_HOUR / 2;
            for (k, point) in [bar.open, extremes[0], extremes[1], bar.close]
                .into_iter()
                .enumerate()
            {
                let jitter = i64::try_from(rng.next() % 1_000_000_000).unwrap();
                let k = i64::try_from(k).unwrap();
                let price = to_cent(point);
                out.push(Tick {
                    symbol: &bar.symbol,
                    ts: Timestamp::from_unix_nanos(open + k * 13 * NANOS_PER_HOUR / 8 + jitter),
                    bid: Price::from_raw(price.raw() - CENT),
                    ask: Price::from_raw(price.raw() + CENT),
                    price,
                    size,
                });
            }
        }
    }
    out
}

/// One field value of a message, encoded per format and sender.
#[derive(Clone, Copy)]
enum Field<'a> {
    Str(&'a str),
    Price(Price),
    Size(Qty),
    Int(u64),
    Time(Timestamp),
    Strs(&'a [String]),
}

type Message<'a> = Vec<(&'static str, Field<'a>)>;

fn sim_quote<'a>(tick: &'a Tick<'a>, conditions: &'a [String]) -> Message<'a> {
    vec![
        ("T", Field::Str("q")),
        ("S", Field::Str(tick.symbol)),
        ("t", Field::Time(tick.ts)),
        ("bx", Field::Str("V")),
        ("bp", Field::Price(tick.bid)),
        ("bs", Field::Size(tick.size)),
        ("ax", Field::Str("V")),
        ("ap", Field::Price(tick.ask)),
        ("as", Field::Size(tick.size)),
        ("c", Field::Strs(conditions)),
        ("z", Field::Str("C")),
    ]
}

fn sim_trade<'a>(tick: &'a Tick<'a>, id: u64, conditions: &'a [String]) -> Message<'a> {
    vec![
        ("T", Field::Str("t")),
        ("S", Field::Str(tick.symbol)),
        ("t", Field::Time(tick.ts)),
        ("x", Field::Str("V")),
        ("p", Field::Price(tick.price)),
        ("s", Field::Size(tick.size)),
        ("c", Field::Strs(conditions)),
        ("i", Field::Int(id)),
        ("z", Field::Str("C")),
    ]
}

/// Key order of Alpaca's documented stream examples (`T` first, which its Go SDK requires).
fn alpaca_trade<'a>(tick: &'a Tick<'a>, id: u64, tags: &'a TradeTags) -> Message<'a> {
    vec![
        ("T", Field::Str("t")),
        ("i", Field::Int(id)),
        ("S", Field::Str(tick.symbol)),
        ("x", Field::Str(&tags.exchange)),
        ("p", Field::Price(tick.price)),
        ("s", Field::Size(tick.size)),
        ("t", Field::Time(tick.ts)),
        ("c", Field::Strs(&tags.conditions)),
        ("z", Field::Str("C")),
    ]
}

fn alpaca_quote<'a>(
    tick: &'a Tick<'a>,
    tags: &'a TradeTags,
    conditions: &'a [String],
) -> Message<'a> {
    vec![
        ("T", Field::Str("q")),
        ("S", Field::Str(tick.symbol)),
        ("bx", Field::Str(&tags.exchange)),
        ("bp", Field::Price(tick.bid)),
        ("bs", Field::Size(tick.size)),
        ("ax", Field::Str(&tags.exchange)),
        ("ap", Field::Price(tick.ask)),
        ("as", Field::Size(tick.size)),
        ("t", Field::Time(tick.ts)),
        ("c", Field::Strs(conditions)),
        ("z", Field::Str("C")),
    ]
}

fn alpaca_bar(bar: &DailyBar) -> Message<'_> {
    vec![
        ("T", Field::Str("b")),
        ("S", Field::Str(&bar.symbol)),
        ("o", Field::Price(bar.open)),
        ("h", Field::Price(bar.high)),
        ("l", Field::Price(bar.low)),
        ("c", Field::Price(bar.close)),
        ("v", Field::Size(bar.volume)),
        ("t", Field::Time(bar.ts)),
        ("n", Field::Int(bar.trades)),
        ("vw", Field::Price(bar.vwap)),
    ]
}

/// Who encodes: the simulator (Python's `json.dumps` separators; `msgpack` with whole numbers as
/// integers) or Alpaca (compact JSON; Go's msgpack with prices always as float64).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Simulator,
    Alpaca,
}

fn json_frame(messages: &[Message<'_>], sender: Sender) -> Vec<u8> {
    let (comma, colon) = match sender {
        Sender::Simulator => (", ", ": "),
        Sender::Alpaca => (",", ":"),
    };
    let mut out = String::from("[");
    for (m, message) in messages.iter().enumerate() {
        if m > 0 {
            out.push_str(comma);
        }
        out.push('{');
        for (f, (key, value)) in message.iter().enumerate() {
            if f > 0 {
                out.push_str(comma);
            }
            write!(out, "\"{key}\"{colon}").unwrap();
            match value {
                Field::Str(s) => write!(out, "\"{s}\"").unwrap(),
                Field::Price(p) => write!(out, "{p}").unwrap(),
                Field::Size(q) => write!(out, "{q}").unwrap(),
                Field::Int(i) => write!(out, "{i}").unwrap(),
                Field::Time(t) => write!(out, "\"{t}\"").unwrap(),
                Field::Strs(list) => {
                    out.push('[');
                    for (i, s) in list.iter().enumerate() {
                        if i > 0 {
                            out.push_str(comma);
                        }
                        write!(out, "\"{s}\"").unwrap();
                    }
                    out.push(']');
                }
            }
        }
        out.push('}');
    }
    out.push(']');
    out.into_bytes()
}

/// The msgpack timestamp extension in its smallest form (what both senders' libraries choose).
fn write_timestamp(out: &mut Vec<u8>, ts: Timestamp) {
    let nanos = ts.unix_nanos();
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap();
    match u64::try_from(secs) {
        Ok(s) if sub == 0 && u32::try_from(s).is_ok() => {
            out.extend_from_slice(&[0xd6, 0xff]);
            out.extend_from_slice(&u32::try_from(s).unwrap().to_be_bytes());
        }
        Ok(s) if s >> 34 == 0 => {
            out.extend_from_slice(&[0xd7, 0xff]);
            out.extend_from_slice(&((u64::from(sub) << 34) | s).to_be_bytes());
        }
        _ => {
            out.extend_from_slice(&[0xc7, 12, 0xff]);
            out.extend_from_slice(&sub.to_be_bytes());
            out.extend_from_slice(&secs.to_be_bytes());
        }
    }
}

/// A decimal as the float a sender holds for it (the nearest double, as Python and Go parse it).
fn float(text: &impl std::fmt::Display) -> f64 {
    text.to_string().parse().unwrap()
}

fn msgpack_frame(messages: &[Message<'_>], sender: Sender) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, u32::try_from(messages.len()).unwrap()).unwrap();
    for message in messages {
        rmp::encode::write_map_len(&mut out, u32::try_from(message.len()).unwrap()).unwrap();
        for (key, value) in message {
            rmp::encode::write_str(&mut out, key).unwrap();
            let whole = |raw: i64| (raw % 1_000_000_000 == 0).then_some(raw / 1_000_000_000);
            match *value {
                Field::Str(s) => rmp::encode::write_str(&mut out, s).unwrap(),
                Field::Price(p) => match whole(p.raw()) {
                    Some(units) if sender == Sender::Simulator => {
                        rmp::encode::write_sint(&mut out, units)
                            .map(|_| ())
                            .unwrap();
                    }
                    _ => rmp::encode::write_f64(&mut out, float(&p)).unwrap(),
                },
                Field::Size(q) => match whole(q.raw()) {
                    Some(units) => rmp::encode::write_sint(&mut out, units)
                        .map(|_| ())
                        .unwrap(),
                    None => rmp::encode::write_f64(&mut out, float(&q)).unwrap(),
                },
                Field::Int(i) => rmp::encode::write_uint(&mut out, i).map(|_| ()).unwrap(),
                Field::Time(t) => write_timestamp(&mut out, t),
                Field::Strs(list) => {
                    rmp::encode::write_array_len(&mut out, u32::try_from(list.len()).unwrap())
                        .unwrap();
                    for s in list {
                        rmp::encode::write_str(&mut out, s).unwrap();
                    }
                }
            }
        }
    }
    out
}

/// Frames of one stock case, with the number of messages they hold.
pub struct Frames {
    pub frames: Vec<Vec<u8>>,
    pub messages: usize,
}

fn encode(messages: &[Message<'_>], sender: Sender, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Json => json_frame(messages, sender),
        Encoding::Msgpack => msgpack_frame(messages, sender),
    }
}

/// What the simulator sends per tick: a quote and the trade after it, in one frame.
pub fn simulator_quote_trade(ticks: &[Tick<'_>], encoding: Encoding) -> Frames {
    let quote_conditions = ["R".to_owned()];
    let trade_conditions = ["@".to_owned()];
    let frames = ticks
        .iter()
        .zip(1..)
        .map(|(tick, id)| {
            let batch = [
                sim_quote(tick, &quote_conditions),
                sim_trade(tick, id, &trade_conditions),
            ];
            encode(&batch, Sender::Simulator, encoding)
        })
        .collect();
    Frames {
        frames,
        messages: 2 * ticks.len(),
    }
}

/// Alpaca's trades, one per frame.
pub fn alpaca_trades(data: &StockData, ticks: &[Tick<'_>], encoding: Encoding) -> Frames {
    let frames = ticks
        .iter()
        .zip(data.tags.iter().cycle())
        .zip(1..)
        .map(|((tick, tags), id)| encode(&[alpaca_trade(tick, id, tags)], Sender::Alpaca, encoding))
        .collect();
    Frames {
        frames,
        messages: ticks.len(),
    }
}

/// Alpaca's quotes, one per frame.
pub fn alpaca_quotes(data: &StockData, ticks: &[Tick<'_>], encoding: Encoding) -> Frames {
    let conditions = ["R".to_owned()];
    let frames = ticks
        .iter()
        .zip(data.tags.iter().cycle())
        .map(|(tick, tags)| {
            encode(
                &[alpaca_quote(tick, tags, &conditions)],
                Sender::Alpaca,
                encoding,
            )
        })
        .collect();
    Frames {
        frames,
        messages: ticks.len(),
    }
}

/// Alpaca's bars, one per frame.
pub fn alpaca_bars(data: &StockData, encoding: Encoding) -> Frames {
    let frames = data
        .bars
        .iter()
        .map(|bar| encode(&[alpaca_bar(bar)], Sender::Alpaca, encoding))
        .collect();
    Frames {
        frames,
        messages: data.bars.len(),
    }
}
