//! The frame parsers' fast paths against `pyrt-types`' general parsers on generated messages: every
//! trade, quote, bar and order-book message must give exactly the events (or the refusal) that
//! `Price::parse`, `Price::from_f64_shortest` and `Timestamp::parse_rfc3339` imply, whatever the
//! layout, key order, number form, timestamp form and unknown fields; and a cut frame is an error,
//! never a panic.

use proptest::prelude::*;
use pyrt_alpaca::md::{Item, parse_json_frame, parse_msgpack_frame};
use pyrt_types::events::{FLAG_LAST_IN_BATCH, FLAG_SNAPSHOT};
use pyrt_types::{
    Bar, BookAction, BookDelta, Price, Qty, Quote, RawEvent, Side, SymbolId, SymbolTable,
    Timestamp, Trade,
};

const RECV: Timestamp = Timestamp::from_unix_nanos(7);

fn symbols() -> SymbolTable {
    SymbolTable::from_names(["AAPL", "MSFT", "BTC/USD"]).unwrap()
}

/// What a parser said about one message, comparable across parsers.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Events(Vec<RawEvent>),
    Malformed,
    UnknownSymbol(String),
}

/// Groups a frame's items by message: consecutive events belong to one message (only order-book
/// messages give more than one, and they end with `FLAG_LAST_IN_BATCH`).
fn outcomes(items: &[Item<'_>]) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    for item in items {
        match item {
            Item::Event(e) => {
                batch.push(*e);
                let book = e.as_event::<BookDelta>().is_some();
                if !book || e.header.flags & FLAG_LAST_IN_BATCH != 0 {
                    out.push(Outcome::Events(std::mem::take(&mut batch)));
                }
            }
            Item::Malformed(_) => out.push(Outcome::Malformed),
            Item::UnknownSymbol(s) => out.push(Outcome::UnknownSymbol((*s).to_owned())),
            other => panic!("unexpected item {other:?}"),
        }
    }
    assert!(
        batch.is_empty(),
        "an order-book batch without its last flag"
    );
    out
}

fn parse_json(frame: &[u8]) -> Result<Vec<Outcome>, String> {
    let table = symbols();
    let mut items = Vec::new();
    parse_json_frame(frame, &table, RECV, |i| items.push(i)).map_err(|e| e.to_string())?;
    Ok(outcomes(&items))
}

fn parse_msgpack(frame: &[u8]) -> Result<Vec<Outcome>, String> {
    let table = symbols();
    let mut items = Vec::new();
    parse_msgpack_frame(frame, &table, RECV, |i| items.push(i)).map_err(|e| e.to_string())?;
    Ok(outcomes(&items))
}

// ---- generated values ----

fn digits(range: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(0u8..10, range)
        .prop_map(|d| d.iter().map(|d| char::from(b'0' + d)).collect())
}

/// Decimal text that a JSON number token can hold: mostly plain, with 0 to 9 decimals, and every
/// other form the general parser reads or refuses (more decimals, exponents, long integer parts,
/// values out of range).
fn number_text() -> impl Strategy<Value = String> {
    let plain = (
        any::<bool>(),
        digits(1..11),
        prop::option::of(digits(1..10)),
    )
        .prop_map(|(negative, int, frac)| {
            let sign = if negative { "-" } else { "" };
            match frac {
                Some(frac) => format!("{sign}{int}.{frac}"),
                None => format!("{sign}{int}"),
            }
        });
    let other = (
        prop_oneof![Just(""), Just("-")],
        digits(1..13),
        prop::option::of(digits(0..13)),
        prop::option::of((
            prop_oneof![Just("e"), Just("E"), Just("e-"), Just("E+")],
            0u32..13,
        )),
    )
        .prop_map(|(sign, int, frac, exp)| {
            let mut text = format!("{sign}{int}");
            if let Some(frac) = frac {
                text = format!("{text}.{frac}");
            }
            if let Some((e, n)) = exp {
                text = format!("{text}{e}{n}");
            }
            text
        });
    prop_oneof![4 => plain, 1 => other]
}

/// RFC 3339 text: mostly Alpaca's UTC form with 0 to 9 fraction digits, also offsets, the other
/// separators, and out-of-range or over-precise variants.
fn timestamp_text() -> impl Strategy<Value = String> {
    (
        (1960u32..2230, 1u32..13, 1u32..32),
        (0u32..24, 0u32..60, 0u32..60),
        prop::option::of(digits(0..11)),
        prop_oneof![
            6 => Just("Z".to_owned()),
            1 => Just("z".to_owned()),
            2 => (any::<bool>(), 0u32..24, 0u32..60)
                .prop_map(|(neg, h, m)| format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' })),
        ],
        prop_oneof![8 => Just('T'), 1 => Just('t'), 1 => Just(' ')],
    )
        .prop_map(|((y, mo, d), (h, mi, s), frac, zone, sep)| {
            let mut text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}");
            if let Some(frac) = frac {
                text = format!("{text}.{frac}");
            }
            text + &zone
        })
}

/// A price or size field: its text and whether the JSON carries it quoted.
#[derive(Debug, Clone)]
struct Decimal {
    text: String,
    quoted: bool,
}

impl Decimal {
    fn json(&self) -> String {
        if self.quoted {
            format!("\"{}\"", self.text)
        } else {
            self.text.clone()
        }
    }

    fn expected(&self) -> Option<i64> {
        Price::parse(&self.text).ok().map(Price::raw)
    }
}

fn decimal() -> impl Strategy<Value = Decimal> {
    (number_text(), prop::bool::weighted(0.1)).prop_map(|(text, quoted)| Decimal { text, quoted })
}

/// Fields no parser consumes, with the strings and nesting that must be skipped correctly.
fn unknown_field() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        Just(("z".to_owned(), r#""C""#.to_owned())),
        Just(("n".to_owned(), "1500".to_owned())),
        Just(("vw".to_owned(), "187.4012e0".to_owned())),
        Just((
            "note".to_owned(),
            r#""a \"quoted\" \\ \u00e9 \/ text""#.to_owned()
        )),
        Just((
            "nested".to_owned(),
            r#"{"a":[1,{"b":null}],"c":true,"d":"}]"}"#.to_owned()
        )),
        Just(("u".to_owned(), "false".to_owned())),
        Just(("é".to_owned(), r#""\ud83d\ude00""#.to_owned())),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Trade,
    Quote,
    Bar,
}

/// One generated stock message: its fields as JSON text and the outcome the general parsers imply.
#[derive(Debug, Clone)]
struct Message {
    fields: Vec<(String, String)>,
    expected: Outcome,
}

fn event_for(
    kind: Kind,
    symbol: SymbolId,
    ts: Timestamp,
    values: &[i64],
    exchanges: (u8, u8),
    id: u64,
) -> RawEvent {
    match kind {
        Kind::Trade => {
            let mut e = Trade::with_header(RECV, symbol);
            e.ts_event = ts;
            e.price = Price::from_raw(values[0]);
            e.size = Qty::from_raw(values[1]);
            e.trade_id = id;
            e.exchange = exchanges.0;
            RawEvent::from_event(&e)
        }
        Kind::Quote => {
            let mut e = Quote::with_header(RECV, symbol);
            e.ts_event = ts;
            e.bid_price = Price::from_raw(values[0]);
            e.bid_size = Qty::from_raw(values[1]);
            e.ask_price = Price::from_raw(values[2]);
            e.ask_size = Qty::from_raw(values[3]);
            e.bid_exchange = exchanges.0;
            e.ask_exchange = exchanges.1;
            RawEvent::from_event(&e)
        }
        Kind::Bar => {
            let mut e = Bar::with_header(RECV, symbol);
            e.ts_event = ts;
            e.open = Price::from_raw(values[0]);
            e.high = Price::from_raw(values[1]);
            e.low = Price::from_raw(values[2]);
            e.close = Price::from_raw(values[3]);
            e.volume = Qty::from_raw(values[4]);
            RawEvent::from_event(&e)
        }
    }
}

fn message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![Just(Kind::Trade), Just(Kind::Quote), Just(Kind::Bar)],
        prop_oneof![4 => Just("AAPL"), 2 => Just("MSFT"), 1 => Just("TSLA")],
        timestamp_text(),
        prop::collection::vec(decimal(), 5),
        (any::<u32>(), prop_oneof![Just("V"), Just("Q"), Just("")]),
        prop::collection::vec(unknown_field(), 0..4),
    )
        .prop_flat_map(|(kind, symbol, ts, values, (id, x), extra)| {
            let keys: &[&str] = match kind {
                Kind::Trade => &["p", "s"],
                Kind::Quote => &["bp", "bs", "ap", "as"],
                Kind::Bar => &["o", "h", "l", "c", "v"],
            };
            let tag = match kind {
                Kind::Trade => "t",
                Kind::Quote => "q",
                Kind::Bar => "b",
            };
            let mut fields = vec![
                ("T".to_owned(), format!("\"{tag}\"")),
                ("S".to_owned(), format!("\"{symbol}\"")),
                ("t".to_owned(), format!("\"{ts}\"")),
            ];
            for (key, value) in keys.iter().zip(&values) {
                fields.push(((*key).to_owned(), value.json()));
            }
            match kind {
                Kind::Trade => {
                    fields.push(("i".to_owned(), id.to_string()));
                    fields.push(("x".to_owned(), format!("\"{x}\"")));
                    fields.push(("c".to_owned(), r#"["@","I"]"#.to_owned()));
                }
                Kind::Quote => {
                    fields.push(("bx".to_owned(), format!("\"{x}\"")));
                    fields.push(("ax".to_owned(), r#""Q""#.to_owned()));
                    fields.push(("c".to_owned(), r#"["R"]"#.to_owned()));
                }
                Kind::Bar => {}
            }
            fields.extend(extra);
            let table = symbols();
            let expected = match table.get(symbol) {
                None => Outcome::UnknownSymbol(symbol.to_owned()),
                Some(id_of_symbol) => {
                    let raws: Option<Vec<i64>> =
                        values[..keys.len()].iter().map(Decimal::expected).collect();
                    match (Timestamp::parse_rfc3339(&ts), raws) {
                        (Ok(ts), Some(raws)) => {
                            let x = x.bytes().next().unwrap_or(0);
                            let exchanges = match kind {
                                Kind::Quote => (x, b'Q'),
                                _ => (x, 0),
                            };
                            Outcome::Events(vec![event_for(
                                kind,
                                id_of_symbol,
                                ts,
                                &raws,
                                exchanges,
                                u64::from(id),
                            )])
                        }
                        _ => Outcome::Malformed,
                    }
                }
            };
            // `T` first, as Alpaca sends it, or anywhere.
            let head = fields[..1].to_vec();
            let tail = fields[1..].to_vec();
            (
                Just(head),
                Just(tail).prop_shuffle(),
                Just(fields),
                Just(expected),
                any::<bool>(),
            )
        })
        .prop_map(|(head, tail, all, expected, t_first)| {
            let fields = if t_first {
                head.into_iter().chain(tail).collect()
            } else {
                let mut all = all;
                all.rotate_left(1);
                all
            };
            Message { fields, expected }
        })
}

/// Separators: Alpaca's compact JSON, Python's `json.dumps` (the simulator), or stray white space.
fn layout() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop_oneof![
        Just((",", ":")),
        Just((", ", ": ")),
        Just((" ,\n\t", " : ")),
    ]
}

fn json_frame(messages: &[Message], (comma, colon): (&str, &str)) -> String {
    let objects: Vec<String> = messages
        .iter()
        .map(|m| {
            let fields: Vec<String> = m
                .fields
                .iter()
                .map(|(k, v)| format!("\"{k}\"{colon}{v}"))
                .collect();
            format!("{{{}}}", fields.join(comma))
        })
        .collect();
    format!("[{}]", objects.join(comma))
}

proptest! {
    #[test]
    fn json_messages_read_as_the_general_parsers_say(
        messages in prop::collection::vec(message(), 1..4),
        layout in layout(),
    ) {
        let frame = json_frame(&messages, layout);
        let expected: Vec<Outcome> = messages.iter().map(|m| m.expected.clone()).collect();
        prop_assert_eq!(parse_json(frame.as_bytes()), Ok(expected), "{}", frame);
    }

    #[test]
    fn cut_json_frames_are_errors(
        messages in prop::collection::vec(message(), 1..3),
        layout in layout(),
        cut in any::<prop::sample::Index>(),
    ) {
        let frame = json_frame(&messages, layout);
        let cut = cut.index(frame.len());
        let table = symbols();
        let result = parse_json_frame(&frame.as_bytes()[..cut], &table, RECV, |_| {});
        prop_assert!(result.is_err(), "{} cut at {}", frame, cut);
        prop_assert!(result.unwrap_err().at <= cut);
    }
}

#[test]
fn keys_with_escapes_or_control_characters_are_read_in_full() {
    let reason = |frame: &str| {
        let table = symbols();
        parse_json_frame(frame.as_bytes(), &table, RECV, |_| {}).map_err(|e| e.reason)
    };
    // The key is `a\":1,`, so `T` is where the colon should be.
    assert_eq!(
        reason(r#"[{"a\":1,"T":"t"}]"#),
        Err("expected ':' after key")
    );
    assert_eq!(reason("[{\"\n\":1}]"), Err("control character in string"));
    assert_eq!(reason("[{\"a\n\":1}]"), Err("control character in string"));
    assert_eq!(reason("[{\"ab\n\":1}]"), Err("control character in string"));
    // An escaped key matches no key we consume.
    let table = symbols();
    let mut items = Vec::new();
    let frame = r#"[{"\"T":"x","T":"success","\u0054":"error","msg":"ok"}]"#;
    parse_json_frame(frame.as_bytes(), &table, RECV, |i| items.push(i)).unwrap();
    assert_eq!(
        items,
        [Item::Control(pyrt_alpaca::md::Control::Success("ok"))]
    );
}

// ---- order books ----

/// What an order-book message must give: a batch of deltas, the clear first on a reset, the last
/// flagged; or a refusal when its timestamp or any level is bad.
fn book_outcome(
    ts: Option<Timestamp>,
    levels: Option<Vec<(Side, i64, i64)>>,
    reset: bool,
) -> Vec<Outcome> {
    let (Some(ts), Some(levels)) = (ts, levels) else {
        return vec![Outcome::Malformed];
    };
    let mut template = BookDelta::with_header(RECV, SymbolId(2));
    template.ts_event = ts;
    template.header.flags = if reset { FLAG_SNAPSHOT } else { 0 };
    let mut deltas = Vec::new();
    if reset {
        let mut clear = template;
        clear.action = BookAction::Clear as u8;
        deltas.push(clear);
    }
    for (side, price, size) in levels {
        let mut d = template;
        d.side = side.code();
        d.price = Price::from_raw(price);
        d.size = Qty::from_raw(size);
        d.action = if size == 0 {
            BookAction::Delete
        } else {
            BookAction::Update
        } as u8;
        deltas.push(d);
    }
    match deltas.last_mut() {
        Some(last) => last.header.flags |= FLAG_LAST_IN_BATCH,
        None => return vec![],
    }
    vec![Outcome::Events(
        deltas.iter().map(RawEvent::from_event).collect(),
    )]
}

/// One level: its price and size texts, and how it is written.
#[derive(Debug, Clone)]
struct LevelText {
    price: Decimal,
    size: Decimal,
    layout: u8,
}

impl LevelText {
    fn json(&self) -> String {
        let (p, s) = (self.price.json(), self.size.json());
        match self.layout {
            0 => format!(r#"{{"p":{p},"s":{s}}}"#),
            1 => format!(r#"{{"p": {p}, "s": {s}}}"#),
            2 => format!(r#"{{"s":{s},"p":{p}}}"#),
            3 => format!(r#"{{"p":{p},"x":[1,"\""],"s":{s}}}"#),
            // A side inside a level is only a value to skip.
            _ => format!(r#"{{"b":[{{"p":1,"s":1}}],"p":{p},"s":{s}}}"#),
        }
    }
}

fn level() -> impl Strategy<Value = LevelText> {
    (decimal(), decimal(), 0u8..5).prop_map(|(price, size, layout)| LevelText {
        price,
        size,
        layout,
    })
}

proptest! {
    #[test]
    fn order_book_messages_read_as_the_general_parsers_say(
        bids in prop::collection::vec(level(), 0..6),
        asks in prop::collection::vec(level(), 0..6),
        reset in any::<bool>(),
        ts in timestamp_text(),
    ) {
        let list = |levels: &[LevelText]| {
            let items: Vec<String> = levels.iter().map(LevelText::json).collect();
            format!("[{}]", items.join(","))
        };
        let frame = format!(
            r#"[{{"T":"o","S":"BTC/USD","t":"{ts}","b":{},"a":{},"r":{reset}}}]"#,
            list(&bids),
            list(&asks)
        );
        let levels: Option<Vec<(Side, i64, i64)>> = bids
            .iter()
            .map(|l| (Side::Buy, l))
            .chain(asks.iter().map(|l| (Side::Sell, l)))
            .map(|(side, l)| Some((side, l.price.expected()?, l.size.expected()?)))
            .collect();
        let expected = book_outcome(Timestamp::parse_rfc3339(&ts).ok(), levels, reset);
        prop_assert_eq!(parse_json(frame.as_bytes()), Ok(expected), "{}", frame);
    }
}

// ---- MessagePack: floats, integers, strings and the three timestamp extensions ----

/// A number as a MessagePack sender may encode it.
#[derive(Debug, Clone)]
enum Packed {
    Float(f64),
    Int(i64),
    Text(String),
}

impl Packed {
    fn expected(&self) -> Option<i64> {
        match self {
            Self::Float(f) => Price::from_f64_shortest(*f).ok().map(Price::raw),
            Self::Int(i) => Price::from_units(*i).map(Price::raw),
            Self::Text(t) => Price::parse(t).ok().map(Price::raw),
        }
    }

    fn write(&self, buf: &mut Vec<u8>) {
        match self {
            Self::Float(f) => rmp::encode::write_f64(buf, *f).unwrap(),
            Self::Int(i) => {
                rmp::encode::write_sint(buf, *i).unwrap();
            }
            Self::Text(t) => rmp::encode::write_str(buf, t).unwrap(),
        }
    }
}

fn packed() -> impl Strategy<Value = Packed> {
    prop_oneof![
        // Prices with 0 to 9 decimals as the binary floats a sender holds for them.
        (any::<i32>(), 0u32..10).prop_map(|(units, places)| {
            let text = format!("{units}e-{places}");
            Packed::Float(text.parse().unwrap())
        }),
        any::<f64>().prop_map(Packed::Float),
        (-1_000_000_000i64..1_000_000_000).prop_map(Packed::Int),
        any::<i64>().prop_map(Packed::Int),
        number_text().prop_map(Packed::Text),
    ]
}

/// An unknown field holding a value of every MessagePack kind, for the skipper to step over.
fn write_every_kind(buf: &mut Vec<u8>) {
    use rmp::encode;
    encode::write_array_len(buf, 25).unwrap();
    encode::write_nil(buf).unwrap();
    encode::write_bool(buf, true).unwrap();
    for n in [7u64, 200, 40_000, 3_000_000_000, 1 << 40] {
        encode::write_uint(buf, n).unwrap();
    }
    for n in [-7i64, -100, -40_000, -3_000_000_000] {
        encode::write_sint(buf, n).unwrap();
    }
    encode::write_f32(buf, 1.5).unwrap();
    encode::write_f64(buf, 2.5).unwrap();
    encode::write_str(buf, "x").unwrap();
    encode::write_str(buf, &"y".repeat(40)).unwrap();
    encode::write_str(buf, &"z".repeat(300)).unwrap();
    encode::write_bin(buf, &[1, 2, 3]).unwrap();
    for len in [1u32, 2, 4, 8, 16, 3, 300] {
        encode::write_ext_meta(buf, len, 5).unwrap();
        buf.extend(std::iter::repeat_n(0xc1, len as usize));
    }
    encode::write_map_len(buf, 1).unwrap();
    encode::write_str(buf, "t").unwrap();
    write_timestamp(buf, -1, 2);
}

fn write_timestamp(buf: &mut Vec<u8>, nanos: i64, form: u8) {
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap();
    match (form, u64::try_from(secs)) {
        (0, Ok(s)) if sub == 0 && u32::try_from(s).is_ok() => {
            buf.extend_from_slice(&[0xd6, 0xff]);
            buf.extend_from_slice(&u32::try_from(s).unwrap().to_be_bytes());
        }
        (0 | 1, Ok(s)) if s >> 34 == 0 => {
            buf.extend_from_slice(&[0xd7, 0xff]);
            buf.extend_from_slice(&((u64::from(sub) << 34) | s).to_be_bytes());
        }
        _ => {
            buf.extend_from_slice(&[0xc7, 12, 0xff]);
            buf.extend_from_slice(&sub.to_be_bytes());
            buf.extend_from_slice(&secs.to_be_bytes());
        }
    }
}

proptest! {
    #[test]
    fn msgpack_messages_read_as_the_general_parsers_say(
        kind in prop_oneof![Just(Kind::Trade), Just(Kind::Quote), Just(Kind::Bar)],
        values in prop::collection::vec(packed(), 5),
        nanos in prop_oneof![
            0i64..4_102_444_800_000_000_000,
            (0i64..4_102_444_800).prop_map(|s| s * 1_000_000_000),
            any::<i64>(),
        ],
        form in 0u8..3,
        id in any::<u32>(),
    ) {
        // Whole seconds times 10⁹ must fit an i64, or no encoding can carry the instant.
        prop_assume!(nanos.div_euclid(1_000_000_000).checked_mul(1_000_000_000).is_some());
        let (tag, keys): (&str, &[&str]) = match kind {
            Kind::Trade => ("t", &["p", "s"]),
            Kind::Quote => ("q", &["bp", "bs", "ap", "as"]),
            Kind::Bar => ("b", &["o", "h", "l", "c", "v"]),
        };
        let mut frame = Vec::new();
        rmp::encode::write_array_len(&mut frame, 1).unwrap();
        rmp::encode::write_map_len(&mut frame, u32::try_from(keys.len() + 6).unwrap()).unwrap();
        rmp::encode::write_str(&mut frame, "z").unwrap();
        write_every_kind(&mut frame);
        for (key, value) in [("T", tag), ("S", "AAPL"), ("x", "V")] {
            rmp::encode::write_str(&mut frame, key).unwrap();
            rmp::encode::write_str(&mut frame, value).unwrap();
        }
        rmp::encode::write_str(&mut frame, "i").unwrap();
        rmp::encode::write_uint(&mut frame, u64::from(id)).unwrap();
        for (key, value) in keys.iter().zip(&values) {
            rmp::encode::write_str(&mut frame, key).unwrap();
            value.write(&mut frame);
        }
        rmp::encode::write_str(&mut frame, "t").unwrap();
        write_timestamp(&mut frame, nanos, form);
        let raws: Option<Vec<i64>> = values[..keys.len()].iter().map(Packed::expected).collect();
        let expected = match raws {
            Some(raws) => {
                let ts = Timestamp::from_unix_nanos(nanos);
                // `x` is a trade's exchange; quotes name theirs `bx` and `ax`.
                let exchanges = match kind {
                    Kind::Trade => (b'V', 0),
                    _ => (0, 0),
                };
                Outcome::Events(vec![event_for(kind, SymbolId(0), ts, &raws, exchanges, u64::from(id))])
            }
            None => Outcome::Malformed,
        };
        prop_assert_eq!(parse_msgpack(&frame), Ok(vec![expected]));
        for cut in 0..frame.len() {
            prop_assert!(parse_msgpack(&frame[..cut]).is_err(), "cut at {}", cut);
        }
    }
}

proptest! {
    #[test]
    fn msgpack_order_book_messages_read_as_the_general_parsers_say(
        bids in prop::collection::vec((packed(), packed(), 0u8..3), 0..6),
        asks in prop::collection::vec((packed(), packed(), 0u8..3), 0..6),
        reset in any::<bool>(),
        nanos in 0i64..4_102_444_800_000_000_000,
    ) {
        let side = |buf: &mut Vec<u8>, levels: &[(Packed, Packed, u8)]| {
            rmp::encode::write_array_len(buf, u32::try_from(levels.len()).unwrap()).unwrap();
            for (p, s, layout) in levels {
                match layout {
                    0 => {
                        rmp::encode::write_map_len(buf, 2).unwrap();
                        rmp::encode::write_str(buf, "p").unwrap();
                        p.write(buf);
                        rmp::encode::write_str(buf, "s").unwrap();
                        s.write(buf);
                    }
                    1 => {
                        rmp::encode::write_map_len(buf, 2).unwrap();
                        rmp::encode::write_str(buf, "s").unwrap();
                        s.write(buf);
                        rmp::encode::write_str(buf, "p").unwrap();
                        p.write(buf);
                    }
                    _ => {
                        // An extra field, and a side inside a level, which is only skipped.
                        rmp::encode::write_map_len(buf, 4).unwrap();
                        rmp::encode::write_str(buf, "b").unwrap();
                        rmp::encode::write_array_len(buf, 1).unwrap();
                        rmp::encode::write_map_len(buf, 1).unwrap();
                        rmp::encode::write_str(buf, "p").unwrap();
                        rmp::encode::write_nil(buf).unwrap();
                        rmp::encode::write_str(buf, "p").unwrap();
                        p.write(buf);
                        rmp::encode::write_str(buf, "x").unwrap();
                        write_timestamp(buf, 1, 2);
                        rmp::encode::write_str(buf, "s").unwrap();
                        s.write(buf);
                    }
                }
            }
        };
        let mut frame = Vec::new();
        rmp::encode::write_array_len(&mut frame, 1).unwrap();
        rmp::encode::write_map_len(&mut frame, 6).unwrap();
        for (key, value) in [("T", "o"), ("S", "BTC/USD")] {
            rmp::encode::write_str(&mut frame, key).unwrap();
            rmp::encode::write_str(&mut frame, value).unwrap();
        }
        rmp::encode::write_str(&mut frame, "t").unwrap();
        write_timestamp(&mut frame, nanos, 1);
        rmp::encode::write_str(&mut frame, "b").unwrap();
        side(&mut frame, &bids);
        rmp::encode::write_str(&mut frame, "a").unwrap();
        side(&mut frame, &asks);
        rmp::encode::write_str(&mut frame, "r").unwrap();
        rmp::encode::write_bool(&mut frame, reset).unwrap();
        let levels: Option<Vec<(Side, i64, i64)>> = bids
            .iter()
            .map(|l| (Side::Buy, l))
            .chain(asks.iter().map(|l| (Side::Sell, l)))
            .map(|(side, (p, s, _))| Some((side, p.expected()?, s.expected()?)))
            .collect();
        let expected = book_outcome(Some(Timestamp::from_unix_nanos(nanos)), levels, reset);
        prop_assert_eq!(parse_msgpack(&frame), Ok(expected));
        for cut in 0..frame.len() {
            prop_assert!(parse_msgpack(&frame[..cut]).is_err(), "cut at {}", cut);
        }
    }
}
