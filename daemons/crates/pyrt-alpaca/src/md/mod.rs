//! Alpaca market-data stream frames (JSON text or MessagePack binary) into py_rt events.
//!
//! This is the market-data daemon's hot path, so both parsers are hand-written scanners over the
//! frame bytes: no intermediate tree, no allocation, each message's fields collected as borrowed
//! slices and converted straight into fixed-point 64-byte events. Both formats share the message
//! model here; only the byte-level scanning differs.

mod json;
mod msgpack;

pub use json::parse_json_frame;
pub use msgpack::parse_msgpack_frame;

use pyrt_types::events::{FLAG_LAST_IN_BATCH, FLAG_SNAPSHOT};
use pyrt_types::{
    Bar, BookAction, BookDelta, Price, Qty, Quote, RawEvent, Side, SymbolTable, Timestamp, Trade,
};

/// A frame that cannot be read any further. Messages before the fault were already delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed market-data frame at byte {at}: {reason}")]
pub struct FrameError {
    pub at: usize,
    pub reason: &'static str,
}

/// A control message of the stream protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control<'a> {
    /// `{"T":"success","msg":"connected"}` or `"authenticated"`.
    Success(&'a str),
    /// `{"T":"error","code":402,"msg":"auth failed"}`.
    Error { code: i64, msg: &'a str },
    /// The server's complete subscription state.
    Subscription,
}

/// One thing a frame said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    Event(RawEvent),
    Control(Control<'a>),
    /// A data message for a symbol the config does not list (counted, not traded on).
    UnknownSymbol(&'a str),
    /// A message type py_rt does not consume (statuses, lulds, corrections, news, ...).
    Ignored,
    /// A well-formed message missing a field or carrying a bad value; the rest of the frame is
    /// still delivered.
    Malformed(&'static str),
}

/// A list value left unparsed until its message is complete (the order-book `b` and `a` lists).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum List<'a> {
    Json(&'a [u8]),
    Msgpack { body: &'a [u8], len: usize },
}

/// A field value as found in the frame; numbers stay as text (JSON) or as the encoded scalar
/// (MessagePack) until the field's meaning is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A JSON number's text, converted exactly.
    Number(&'a str),
    Str(&'a str),
    Time(Timestamp),
    List(List<'a>),
    Other,
}

/// Keys of the messages we consume. `c` is a bar's close or a trade's condition list depending on
/// the message type, so values are interpreted only once the type is known.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub(crate) enum Key {
    Type,
    Symbol,
    Time,
    Exchange,
    Price,
    Size,
    Id,
    BidExchange,
    BidPrice,
    BidSize,
    AskExchange,
    AskPrice,
    AskSize,
    Open,
    High,
    Low,
    Close,
    Volume,
    Bids,
    Asks,
    Reset,
    Code,
    Msg,
}

const KEYS: usize = Key::Msg as usize + 1;

impl Key {
    #[inline]
    pub(crate) fn from_bytes(key: &[u8]) -> Option<Self> {
        Some(match key {
            b"T" => Self::Type,
            b"S" => Self::Symbol,
            b"t" => Self::Time,
            b"x" => Self::Exchange,
            b"p" => Self::Price,
            b"s" => Self::Size,
            b"i" => Self::Id,
            b"bx" => Self::BidExchange,
            b"bp" => Self::BidPrice,
            b"bs" => Self::BidSize,
            b"ax" => Self::AskExchange,
            b"ap" => Self::AskPrice,
            b"as" => Self::AskSize,
            b"o" => Self::Open,
            b"h" => Self::High,
            b"l" => Self::Low,
            b"c" => Self::Close,
            b"v" => Self::Volume,
            b"b" => Self::Bids,
            b"a" => Self::Asks,
            b"r" => Self::Reset,
            b"code" => Self::Code,
            b"msg" => Self::Msg,
            _ => return None,
        })
    }
}

/// The fields of one message. Only the presence mask is reset between messages.
pub(crate) struct Fields<'a> {
    present: u32,
    values: [Value<'a>; KEYS],
}

impl<'a> Fields<'a> {
    pub(crate) fn new() -> Self {
        Self {
            present: 0,
            values: [Value::Null; KEYS],
        }
    }

    #[inline]
    pub(crate) fn clear(&mut self) {
        self.present = 0;
    }

    #[inline]
    pub(crate) fn set(&mut self, key: Key, value: Value<'a>) {
        self.present |= 1 << key as u32;
        self.values[key as usize] = value;
    }

    #[inline]
    fn get(&self, key: Key) -> Option<Value<'a>> {
        (self.present & (1 << key as u32) != 0).then(|| self.values[key as usize])
    }

    fn str(&self, key: Key) -> Option<&'a str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Reads the `(price, size)` pairs of an order-book list.
pub(crate) trait LevelReader<'a> {
    fn next_level(&mut self) -> Result<Option<(Value<'a>, Value<'a>)>, &'static str>;
}

fn to_raw_decimal(value: Value<'_>) -> Option<Result<i64, ()>> {
    let raw = match value {
        Value::Number(text) | Value::Str(text) => Price::parse(text).map(Price::raw),
        Value::Int(units) => return Some(Price::from_units(units).map(Price::raw).ok_or(())),
        Value::Float(f) => Price::from_f64_shortest(f).map(Price::raw),
        _ => return None,
    };
    Some(raw.map_err(|_| ()))
}

fn price(fields: &Fields<'_>, key: Key, what: &'static str) -> Result<Price, &'static str> {
    match fields.get(key).and_then(to_raw_decimal) {
        Some(Ok(raw)) => Ok(Price::from_raw(raw)),
        Some(Err(())) | None => Err(what),
    }
}

fn qty(fields: &Fields<'_>, key: Key, what: &'static str) -> Result<Qty, &'static str> {
    price(fields, key, what).map(|p| Qty::from_raw(p.raw()))
}

fn exchange(fields: &Fields<'_>, key: Key) -> u8 {
    fields.str(key).and_then(|s| s.bytes().next()).unwrap_or(0)
}

fn time(fields: &Fields<'_>) -> Result<Timestamp, &'static str> {
    match fields.get(Key::Time) {
        Some(Value::Time(ts)) => Ok(ts),
        Some(Value::Str(text)) => {
            Timestamp::parse_rfc3339(text).map_err(|_| "timestamp is not RFC 3339")
        }
        _ => Err("message has no timestamp"),
    }
}

/// Turns one complete message into items. `levels` reads the order-book lists in the frame's
/// encoding.
pub(crate) fn emit<'a, F, L>(
    fields: &Fields<'a>,
    symbols: &SymbolTable,
    recv: Timestamp,
    levels: impl Fn(List<'a>) -> L,
    sink: &mut F,
) where
    F: FnMut(Item<'a>),
    L: LevelReader<'a>,
{
    let Some(kind) = fields.str(Key::Type) else {
        sink(Item::Malformed("message has no string T"));
        return;
    };
    match kind {
        "t" | "q" | "b" | "u" | "d" | "o" => {}
        "success" => {
            return sink(Item::Control(Control::Success(
                fields.str(Key::Msg).unwrap_or(""),
            )));
        }
        "error" => {
            let code = match fields.get(Key::Code) {
                Some(Value::Int(code)) => code,
                Some(Value::Number(text)) => text.parse().unwrap_or(0),
                _ => 0,
            };
            let msg = fields.str(Key::Msg).unwrap_or("");
            return sink(Item::Control(Control::Error { code, msg }));
        }
        "subscription" => return sink(Item::Control(Control::Subscription)),
        _ => return sink(Item::Ignored),
    }
    let Some(name) = fields.str(Key::Symbol) else {
        return sink(Item::Malformed("data message has no symbol S"));
    };
    let Some(symbol) = symbols.get(name) else {
        return sink(Item::UnknownSymbol(name));
    };
    let result = time(fields).and_then(|ts| match kind {
        "t" => trade(fields, symbol, recv, ts).map(|e| sink(Item::Event(RawEvent::from_event(&e)))),
        "q" => quote(fields, symbol, recv, ts).map(|e| sink(Item::Event(RawEvent::from_event(&e)))),
        "o" => book(fields, symbol, recv, ts, levels, sink),
        _ => bar(fields, symbol, recv, ts).map(|e| sink(Item::Event(RawEvent::from_event(&e)))),
    });
    if let Err(reason) = result {
        sink(Item::Malformed(reason));
    }
}

fn trade(
    fields: &Fields<'_>,
    symbol: pyrt_types::SymbolId,
    recv: Timestamp,
    ts: Timestamp,
) -> Result<Trade, &'static str> {
    let mut event = Trade::with_header(recv, symbol);
    event.ts_event = ts;
    event.price = price(fields, Key::Price, "trade price p missing or not exact")?;
    event.size = qty(fields, Key::Size, "trade size s missing or not exact")?;
    event.trade_id = match fields.get(Key::Id) {
        Some(Value::Int(id)) => u64::try_from(id).unwrap_or(0),
        Some(Value::Number(text)) => text.parse().unwrap_or(0),
        _ => 0,
    };
    event.exchange = exchange(fields, Key::Exchange);
    Ok(event)
}

fn quote(
    fields: &Fields<'_>,
    symbol: pyrt_types::SymbolId,
    recv: Timestamp,
    ts: Timestamp,
) -> Result<Quote, &'static str> {
    let mut event = Quote::with_header(recv, symbol);
    event.ts_event = ts;
    event.bid_price = price(fields, Key::BidPrice, "quote bp missing or not exact")?;
    event.bid_size = qty(fields, Key::BidSize, "quote bs missing or not exact")?;
    event.ask_price = price(fields, Key::AskPrice, "quote ap missing or not exact")?;
    event.ask_size = qty(fields, Key::AskSize, "quote as missing or not exact")?;
    event.bid_exchange = exchange(fields, Key::BidExchange);
    event.ask_exchange = exchange(fields, Key::AskExchange);
    Ok(event)
}

fn bar(
    fields: &Fields<'_>,
    symbol: pyrt_types::SymbolId,
    recv: Timestamp,
    ts: Timestamp,
) -> Result<Bar, &'static str> {
    let mut event = Bar::with_header(recv, symbol);
    event.ts_event = ts;
    event.open = price(fields, Key::Open, "bar o missing or not exact")?;
    event.high = price(fields, Key::High, "bar h missing or not exact")?;
    event.low = price(fields, Key::Low, "bar l missing or not exact")?;
    event.close = price(fields, Key::Close, "bar c missing or not exact")?;
    event.volume = qty(fields, Key::Volume, "bar v missing or not exact")?;
    Ok(event)
}

/// An order-book message: `r` (reset) clears the side lists first; each level is one delta with
/// its absolute size (zero deletes); the last delta carries `FLAG_LAST_IN_BATCH` so consumers act
/// only on a complete update.
fn book<'a, F, L>(
    fields: &Fields<'a>,
    symbol: pyrt_types::SymbolId,
    recv: Timestamp,
    ts: Timestamp,
    levels: impl Fn(List<'a>) -> L,
    sink: &mut F,
) -> Result<(), &'static str>
where
    F: FnMut(Item<'a>),
    L: LevelReader<'a>,
{
    // Validate every level before emitting any, so a bad level never leaves a half-applied batch.
    for key in [Key::Bids, Key::Asks] {
        if let Some(Value::List(list)) = fields.get(key) {
            let mut reader = levels(list);
            while let Some((p, s)) = reader.next_level()? {
                if !matches!(
                    (to_raw_decimal(p), to_raw_decimal(s)),
                    (Some(Ok(_)), Some(Ok(_)))
                ) {
                    return Err("order-book level price or size missing or not exact");
                }
            }
        }
    }
    let reset = matches!(fields.get(Key::Reset), Some(Value::Bool(true)));
    let flags = if reset { FLAG_SNAPSHOT } else { 0 };
    let mut pending: Option<BookDelta> = None;
    let mut push = |delta: BookDelta, sink: &mut F| {
        if let Some(previous) = pending.replace(delta) {
            sink(Item::Event(RawEvent::from_event(&previous)));
        }
    };
    let template = {
        let mut delta = BookDelta::with_header(recv, symbol);
        delta.ts_event = ts;
        delta.header.flags = flags;
        delta
    };
    if reset {
        let mut clear = template;
        clear.action = BookAction::Clear as u8;
        push(clear, sink);
    }
    for (key, side) in [(Key::Bids, Side::Buy), (Key::Asks, Side::Sell)] {
        let Some(Value::List(list)) = fields.get(key) else {
            continue;
        };
        let mut reader = levels(list);
        while let Some((p, s)) = reader.next_level()? {
            let (Some(Ok(price_raw)), Some(Ok(size_raw))) = (to_raw_decimal(p), to_raw_decimal(s))
            else {
                continue; // cannot happen: the same bytes passed validation above
            };
            let mut delta = template;
            delta.side = side.code();
            delta.price = Price::from_raw(price_raw);
            delta.size = Qty::from_raw(size_raw);
            delta.action = if delta.size.is_zero() {
                BookAction::Delete
            } else {
                BookAction::Update
            } as u8;
            push(delta, sink);
        }
    }
    if let Some(mut last) = pending {
        last.header.flags |= FLAG_LAST_IN_BATCH;
        sink(Item::Event(RawEvent::from_event(&last)));
    }
    Ok(())
}
