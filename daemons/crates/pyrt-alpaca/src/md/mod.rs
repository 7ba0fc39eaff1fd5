//! Alpaca market-data stream frames (JSON text or MessagePack binary) into py_rt events.
//!
//! This is the market-data daemon's hot path, so both parsers are hand-written scanners over the
//! frame bytes: no intermediate tree, no allocation, each message's fields collected as borrowed
//! slices and converted straight into fixed-point 64-byte events. Both formats share the message
//! model here; only the byte-level scanning differs.

mod json;
mod msgpack;
mod scalar;

pub use json::parse_json_frame;
pub use msgpack::parse_msgpack_frame;

use pyrt_types::events::{FLAG_LAST_IN_BATCH, FLAG_SNAPSHOT};
use pyrt_types::{
    Bar, BookAction, BookDelta, Price, Qty, Quote, RawEvent, SCALE, Side, SymbolTable, Timestamp,
    Trade,
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

/// An order-book side (`b` or `a`) whose every level was read with an exact price and size when
/// the message was scanned; its bytes are read again, in the frame's encoding, to emit the deltas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Levels<'a> {
    pub(crate) bytes: &'a [u8],
    /// A `u32` keeps [`Value`] at 24 bytes; a side with more levels is refused when scanned.
    pub(crate) count: u32,
}

/// A field value as found in the frame; numbers stay as the encoded scalar (MessagePack) or are
/// converted while scanned (JSON) until the field's meaning is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A JSON number of the plain form, already in raw 10⁻⁹ units.
    Fixed(i64),
    /// A JSON number of any other form, converted exactly when its field is read.
    Number(&'a str),
    /// A string's raw bytes: escapes are not decoded (the fields we interpret never contain
    /// them, and an escaped symbol simply matches no configured symbol), and UTF-8 is checked
    /// only where a field is used as text.
    Str(&'a [u8]),
    Time(Timestamp),
    /// An order-book side (the fields of [`Levels`], inline so the tag fits beside the count).
    Levels {
        bytes: &'a [u8],
        count: u32,
    },
    /// Why a list under an order-book key is not an order-book side.
    BadLevels(&'static str),
    Other,
}

const _: () = assert!(size_of::<Value<'_>>() == 24);

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
    /// Byte patterns rather than string literals: the match compiles to comparisons of a byte or
    /// two instead of calls to `memcmp`.
    #[inline]
    pub(crate) fn from_bytes(key: &[u8]) -> Option<Self> {
        Some(match *key {
            [b'T'] => Self::Type,
            [b'S'] => Self::Symbol,
            [b't'] => Self::Time,
            [b'x'] => Self::Exchange,
            [b'p'] => Self::Price,
            [b's'] => Self::Size,
            [b'i'] => Self::Id,
            [b'o'] => Self::Open,
            [b'h'] => Self::High,
            [b'l'] => Self::Low,
            [b'c'] => Self::Close,
            [b'v'] => Self::Volume,
            [b'b'] => Self::Bids,
            [b'a'] => Self::Asks,
            [b'r'] => Self::Reset,
            [b'b', b'x'] => Self::BidExchange,
            [b'b', b'p'] => Self::BidPrice,
            [b'b', b's'] => Self::BidSize,
            [b'a', b'x'] => Self::AskExchange,
            [b'a', b'p'] => Self::AskPrice,
            [b'a', b's'] => Self::AskSize,
            [b'm', b's', b'g'] => Self::Msg,
            [b'c', b'o', b'd', b'e'] => Self::Code,
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

    fn bytes(&self, key: Key) -> Option<&'a [u8]> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Reads the levels of an order-book side as raw 10⁻⁹ `(price, size)` pairs.
pub(crate) trait LevelReader<'a> {
    fn next_level(&mut self) -> Result<Option<(i64, i64)>, &'static str>;
}

/// A level's price and size from the values its reader found.
#[inline]
pub(crate) fn level(
    price: Option<Value<'_>>,
    size: Option<Value<'_>>,
) -> Result<(i64, i64), &'static str> {
    let (Some(price), Some(size)) = (price, size) else {
        return Err("order-book level without p and s");
    };
    match (raw_decimal(price), raw_decimal(size)) {
        (Some(price), Some(size)) => Ok((price, size)),
        _ => Err("order-book level price or size missing or not exact"),
    }
}

/// Raw 10⁻⁹ units of a price or size in any encoding, if it is one exactly.
#[inline]
pub(crate) fn raw_decimal(value: Value<'_>) -> Option<i64> {
    match value {
        Value::Fixed(raw) => Some(raw),
        Value::Number(text) => Price::parse(text).ok().map(Price::raw),
        Value::Str(bytes) => scalar::decimal(bytes).or_else(|| {
            let text = std::str::from_utf8(bytes).ok()?;
            Price::parse(text).ok().map(Price::raw)
        }),
        Value::Int(units) => Price::from_units(units).map(Price::raw),
        Value::Float(f) => Price::from_f64_shortest(f).ok().map(Price::raw),
        _ => None,
    }
}

/// A whole number (trade ids, error codes) in either encoding; `None` for anything else.
fn integer(value: Option<Value<'_>>) -> Option<i64> {
    match value? {
        Value::Int(n) => Some(n),
        Value::Fixed(raw) if raw % SCALE == 0 => Some(raw / SCALE),
        Value::Number(text) => text.parse().ok(),
        _ => None,
    }
}

fn price(fields: &Fields<'_>, key: Key, what: &'static str) -> Result<Price, &'static str> {
    fields
        .get(key)
        .and_then(raw_decimal)
        .map(Price::from_raw)
        .ok_or(what)
}

fn qty(fields: &Fields<'_>, key: Key, what: &'static str) -> Result<Qty, &'static str> {
    price(fields, key, what).map(|p| Qty::from_raw(p.raw()))
}

fn exchange(fields: &Fields<'_>, key: Key) -> u8 {
    fields
        .bytes(key)
        .and_then(|s| s.first().copied())
        .unwrap_or(0)
}

fn time(fields: &Fields<'_>) -> Result<Timestamp, &'static str> {
    const NOT_RFC3339: &str = "timestamp is not RFC 3339";
    match fields.get(Key::Time) {
        Some(Value::Time(ts)) => Ok(ts),
        Some(Value::Str(bytes)) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| Timestamp::parse_rfc3339(text).ok())
            .ok_or(NOT_RFC3339),
        _ => Err("message has no timestamp"),
    }
}

/// Turns one complete message into items. `levels` reads the order-book sides in the frame's
/// encoding.
pub(crate) fn emit<'a, F, L>(
    fields: &Fields<'a>,
    symbols: &SymbolTable,
    recv: Timestamp,
    levels: impl Fn(Levels<'a>) -> L,
    sink: &mut F,
) where
    F: FnMut(Item<'a>),
    L: LevelReader<'a>,
{
    let Some(kind) = fields.bytes(Key::Type) else {
        sink(Item::Malformed("message has no string T"));
        return;
    };
    match kind {
        b"t" | b"q" | b"b" | b"u" | b"d" | b"o" => {}
        b"success" => {
            let msg = fields.bytes(Key::Msg).unwrap_or_default();
            return sink(match std::str::from_utf8(msg) {
                Ok(msg) => Item::Control(Control::Success(msg)),
                Err(_) => Item::Malformed("control message text is not UTF-8"),
            });
        }
        b"error" => {
            let code = integer(fields.get(Key::Code)).unwrap_or(0);
            let msg = fields.bytes(Key::Msg).unwrap_or_default();
            return sink(match std::str::from_utf8(msg) {
                Ok(msg) => Item::Control(Control::Error { code, msg }),
                Err(_) => Item::Malformed("control message text is not UTF-8"),
            });
        }
        b"subscription" => return sink(Item::Control(Control::Subscription)),
        _ => return sink(Item::Ignored),
    }
    let Some(name) = fields.bytes(Key::Symbol) else {
        return sink(Item::Malformed("data message has no symbol S"));
    };
    let Ok(name) = std::str::from_utf8(name) else {
        return sink(Item::Malformed("symbol S is not UTF-8"));
    };
    let Some(symbol) = symbols.get(name) else {
        return sink(Item::UnknownSymbol(name));
    };
    let result = time(fields).and_then(|ts| match kind {
        b"t" => {
            trade(fields, symbol, recv, ts).map(|e| sink(Item::Event(RawEvent::from_event(&e))))
        }
        b"q" => {
            quote(fields, symbol, recv, ts).map(|e| sink(Item::Event(RawEvent::from_event(&e))))
        }
        b"o" => book(fields, symbol, recv, ts, levels, sink),
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
    event.trade_id = integer(fields.get(Key::Id))
        .and_then(|id| u64::try_from(id).ok())
        .unwrap_or(0);
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
/// only on a complete update. Both sides were validated level by level when the message was
/// scanned, so a bad level refuses the whole message and never leaves a half-applied batch.
fn book<'a, F, L>(
    fields: &Fields<'a>,
    symbol: pyrt_types::SymbolId,
    recv: Timestamp,
    ts: Timestamp,
    levels: impl Fn(Levels<'a>) -> L,
    sink: &mut F,
) -> Result<(), &'static str>
where
    F: FnMut(Item<'a>),
    L: LevelReader<'a>,
{
    let side = |key| match fields.get(key) {
        Some(Value::Levels { bytes, count }) => Ok(Some(Levels { bytes, count })),
        Some(Value::BadLevels(reason)) => Err(reason),
        _ => Ok(None),
    };
    let sides = [
        (Side::Buy, side(Key::Bids)?),
        (Side::Sell, side(Key::Asks)?),
    ];
    let reset = matches!(fields.get(Key::Reset), Some(Value::Bool(true)));
    let total = usize::from(reset)
        + sides
            .iter()
            .filter_map(|(_, list)| list.map(|l| l.count as usize))
            .sum::<usize>();
    let mut template = BookDelta::with_header(recv, symbol);
    template.ts_event = ts;
    template.header.flags = if reset { FLAG_SNAPSHOT } else { 0 };
    let mut emitted = 0;
    let mut push = |mut delta: BookDelta| {
        emitted += 1;
        if emitted == total {
            delta.header.flags |= FLAG_LAST_IN_BATCH;
        }
        sink(Item::Event(RawEvent::from_event(&delta)));
    };
    if reset {
        let mut clear = template;
        clear.action = BookAction::Clear as u8;
        push(clear);
    }
    for (side, list) in sides {
        let Some(list) = list else { continue };
        let mut reader = levels(list);
        while let Some((price_raw, size_raw)) = reader.next_level()? {
            let mut delta = template;
            delta.side = side.code();
            delta.price = Price::from_raw(price_raw);
            delta.size = Qty::from_raw(size_raw);
            delta.action = if delta.size.is_zero() {
                BookAction::Delete
            } else {
                BookAction::Update
            } as u8;
            push(delta);
        }
    }
    Ok(())
}

/// Reads every level of a side as the scanner finds it: the count if all have an exact price and
/// size, otherwise the reason the side (and so its message) is refused.
pub(crate) fn validate_levels<'a>(reader: &mut impl LevelReader<'a>) -> Result<u32, &'static str> {
    let mut count = 0u32;
    while reader.next_level()?.is_some() {
        count = count
            .checked_add(1)
            .ok_or("order-book side has too many levels")?;
    }
    Ok(count)
}
