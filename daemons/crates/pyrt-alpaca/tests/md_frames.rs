//! Market-data frames in both encodings: the documented message shapes, control messages, and
//! every kind of bad input.

use proptest::prelude::*;
use pyrt_alpaca::md::{Control, FrameError, Item, parse_json_frame, parse_msgpack_frame};
use pyrt_types::events::{FLAG_LAST_IN_BATCH, FLAG_SNAPSHOT};
use pyrt_types::{
    Bar, BookAction, BookDelta, Price, Qty, Quote, RawEvent, Side, SymbolId, SymbolTable,
    Timestamp, Trade,
};

fn symbols() -> SymbolTable {
    SymbolTable::from_names(["AAPL", "MSFT", "BTC/USD"]).unwrap()
}

const RECV: Timestamp = Timestamp::from_unix_nanos(42);

fn items_json(frame: &str) -> (Result<usize, FrameError>, Vec<Item<'_>>) {
    let table = symbols();
    let mut items = Vec::new();
    let result = parse_json_frame(frame.as_bytes(), &table, RECV, |item| items.push(item));
    (result, items)
}

fn events(items: &[Item<'_>]) -> Vec<RawEvent> {
    items
        .iter()
        .filter_map(|i| {
            if let Item::Event(e) = i {
                Some(*e)
            } else {
                None
            }
        })
        .collect()
}

fn px(s: &str) -> Price {
    Price::parse(s).unwrap()
}

const QUOTE_TRADE_BAR: &str = r#"[
  {"T":"q","S":"AAPL","bx":"V","bp":187.23,"bs":3,"ax":"Q","ap":187.25,"as":5,"c":["R"],"z":"C","t":"2024-11-01T13:30:00.123456789Z"},
  {"T":"t","S":"MSFT","i":52983525029461,"x":"V","p":415.1,"s":100,"c":["@"],"z":"C","t":"2024-11-01T13:30:00.5Z"},
  {"T":"b","S":"AAPL","o":187.2,"h":187.9,"l":186.95,"c":187.5,"v":120034,"n":1500,"vw":187.4012,"t":"2024-11-01T13:30:00Z"}
]"#;

#[test]
fn json_quote_trade_and_bar_become_exact_events() {
    let (result, items) = items_json(QUOTE_TRADE_BAR);
    assert_eq!(result, Ok(3));
    let evs = events(&items);
    let quote: &Quote = evs[0].as_event().unwrap();
    assert_eq!(quote.header.symbol, SymbolId(0));
    assert_eq!(quote.header.ts_origin, RECV);
    assert_eq!(quote.bid_price, px("187.23"));
    assert_eq!(quote.ask_price, px("187.25"));
    assert_eq!(quote.bid_size, Qty::from_units(3).unwrap());
    assert_eq!((quote.bid_exchange, quote.ask_exchange), (b'V', b'Q'));
    assert_eq!(quote.ts_event.to_string(), "2024-11-01T13:30:00.123456789Z");
    let trade: &Trade = evs[1].as_event().unwrap();
    assert_eq!(
        (trade.header.symbol, trade.price, trade.trade_id),
        (SymbolId(1), px("415.1"), 52_983_525_029_461)
    );
    let bar: &Bar = evs[2].as_event().unwrap();
    assert_eq!(
        (bar.open, bar.close, bar.volume),
        (px("187.2"), px("187.5"), Qty::from_units(120_034).unwrap())
    );
}

#[test]
fn control_messages_unknown_symbols_and_ignored_types() {
    let (_, items) = items_json(r#"[{"T":"success","msg":"authenticated"}]"#);
    assert_eq!(items, [Item::Control(Control::Success("authenticated"))]);
    let (_, items) = items_json(r#"[{"T":"error","code":402,"msg":"auth failed"}]"#);
    assert_eq!(
        items,
        [Item::Control(Control::Error {
            code: 402,
            msg: "auth failed"
        })]
    );
    let (_, items) =
        items_json(r#"[{"T":"subscription","trades":["AAPL"],"quotes":[],"bars":["*"]}]"#);
    assert_eq!(items, [Item::Control(Control::Subscription)]);
    let (result, items) = items_json(
        r#"[{"T":"t","S":"TSLA","p":1,"s":1,"t":"2024-11-01T13:30:00Z"},{"T":"s","S":"AAPL","sc":"H"},{"T":"n","headline":"x \"quoted\" y","symbols":["AAPL"]}]"#,
    );
    assert_eq!(result, Ok(3));
    assert_eq!(
        items,
        [Item::UnknownSymbol("TSLA"), Item::Ignored, Item::Ignored]
    );
}

#[test]
fn bad_messages_are_reported_and_the_rest_of_the_frame_delivered() {
    let (result, items) = items_json(
        r#"[{"T":"t","S":"AAPL","s":1,"t":"2024-11-01T13:30:00Z"},
            {"T":"q","S":"AAPL","bp":1,"bs":1,"ap":1,"as":1,"t":"yesterday"},
            {"T":"t","S":"AAPL","p":0.0000000001,"s":1,"t":"2024-11-01T13:30:00Z"},
            {"S":"AAPL"},
            {"T":"t","S":"AAPL","p":10,"s":2,"t":"2024-11-01T13:30:00Z"}]"#,
    );
    assert_eq!(result, Ok(5));
    assert!(matches!(items[0], Item::Malformed(r) if r.contains("price p")));
    assert!(matches!(items[1], Item::Malformed(r) if r.contains("RFC 3339")));
    assert!(matches!(items[2], Item::Malformed(r) if r.contains("not exact")));
    assert!(matches!(items[3], Item::Malformed(r) if r.contains("no string T")));
    let evs = events(&items);
    let trade: &Trade = evs[0].as_event().unwrap();
    assert_eq!(trade.size, Qty::from_units(2).unwrap());
}

#[test]
fn syntax_errors_stop_the_frame_with_a_position() {
    for (frame, reason) in [
        ("", "frame is not a JSON array"),
        ("{\"T\":\"t\"}", "frame is not a JSON array"),
        ("[{\"T\":\"t\"", "expected ',' or '}'"),
        ("[{\"T\":\"t}]", "unterminated string"),
        ("[{\"T\" \"t\"}]", "expected ':' after key"),
        ("[{\"T\":tru}]", "invalid literal"),
        ("[{\"T\":\"q\"}] x", "data after the closing ']'"),
        (
            "[{\"T\":\"q\",\"c\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]",
            "nesting too deep",
        ),
    ] {
        let (result, _) = items_json(frame);
        assert_eq!(result.map_err(|e| e.reason), Err(reason), "{frame}");
    }
    let (result, items) = items_json("[{\"T\":\"success\",\"msg\":\"connected\"},{");
    assert!(result.is_err());
    assert_eq!(items.len(), 1, "messages before the fault are delivered");
}

#[test]
fn crypto_orderbook_messages_become_delta_batches() {
    let (result, items) = items_json(
        r#"[{"T":"o","S":"BTC/USD","t":"2024-08-08T23:54:14.5Z","b":[{"p":61837.63,"s":3.78826},{"p":61837.62,"s":0}],"a":[{"p":61837.64,"s":1.54698}],"r":true}]"#,
    );
    assert_eq!(result, Ok(1));
    let deltas: Vec<BookDelta> = events(&items)
        .iter()
        .map(|e| *e.as_event::<BookDelta>().unwrap())
        .collect();
    assert_eq!(deltas.len(), 4);
    assert_eq!(deltas[0].action().unwrap(), BookAction::Clear);
    assert_eq!(
        (deltas[1].side().unwrap(), deltas[1].price, deltas[1].size),
        (Side::Buy, px("61837.63"), Qty::parse("3.78826").unwrap())
    );
    assert_eq!(deltas[2].action().unwrap(), BookAction::Delete);
    assert_eq!(deltas[3].side().unwrap(), Side::Sell);
    assert!(deltas.iter().all(|d| d.header.flags & FLAG_SNAPSHOT != 0));
    let last_flags: Vec<bool> = deltas
        .iter()
        .map(|d| d.header.flags & FLAG_LAST_IN_BATCH != 0)
        .collect();
    assert_eq!(last_flags, [false, false, false, true]);

    // One bad level rejects the whole message: no half-applied batch reaches the book.
    let (_, items) = items_json(
        r#"[{"T":"o","S":"BTC/USD","t":"2024-08-08T23:54:14.5Z","b":[{"p":1,"s":1},{"p":"x","s":1}],"a":[]}]"#,
    );
    assert!(matches!(items.as_slice(), [Item::Malformed(_)]));
}

#[test]
fn order_book_levels_read_the_same_in_any_layout() {
    let frame = |bids: &str, asks: &str| {
        format!(r#"[{{"T":"o","S":"BTC/USD","t":"2024-08-08T23:54:14.5Z","b":{bids},"a":{asks}}}]"#)
    };
    let deltas = |frame: &str| {
        let (result, items) = items_json(frame);
        (result, events(&items), items.len())
    };
    // The exact layout Alpaca sends takes a fast path; spaces, other key orders, extra fields and
    // quoted numbers take the general object reader, and must read the same.
    let compact = frame(
        r#"[{"p":61837.63,"s":3.78826},{"p":-1.5e2,"s":0}]"#,
        r#"[{"p":61837.64,"s":1.54698}]"#,
    );
    let loose = frame(
        r#"[ { "p" : 61837.63 , "s" : 3.78826 },{"s":0,"p":-1.5e2}]"#,
        r#"[{"p":"61837.64","s":1.54698,"x":1}]"#,
    );
    let (result, events, _) = deltas(&compact);
    assert_eq!(result, Ok(1));
    assert_eq!(events.len(), 3);
    assert_eq!(deltas(&loose), deltas(&compact));
    // Near misses of the fast path's layout are refused as before.
    for level in [
        r#"{"p":,"s":1}"#,
        r#"{"p":1,"s":}"#,
        r#"{"p":1,"s":2,}"#,
        r#"{"p":1,"s":2"#,
        r#"{"p":1"s":2}"#,
        r#"{"p":1,"s":2]"#,
        r#"{"p":x,"s":2}"#,
        r#"{"p":1,"s":2x}"#,
    ] {
        let text = frame(&format!("[{level}]"), "[]");
        let (result, items) = items_json(&text);
        assert!(
            result.is_err() || matches!(items.as_slice(), [Item::Malformed(_)]),
            "{level}: {result:?} {items:?}"
        );
    }
}

// ---- MessagePack: the same messages, encoded the way alpaca-py receives them ----

fn ts_ext(buf: &mut Vec<u8>, ts: Timestamp) {
    let nanos = ts.unix_nanos();
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap();
    // timestamp96: always valid.
    buf.extend_from_slice(&[0xc7, 12, 0xff]);
    buf.extend_from_slice(&sub.to_be_bytes());
    buf.extend_from_slice(&secs.to_be_bytes());
}

fn key(buf: &mut Vec<u8>, k: &str) {
    rmp::encode::write_str(buf, k).unwrap();
}

fn msgpack_quote_trade_bar() -> Vec<u8> {
    let mut b = Vec::new();
    rmp::encode::write_array_len(&mut b, 3).unwrap();
    rmp::encode::write_map_len(&mut b, 9).unwrap();
    key(&mut b, "T");
    key(&mut b, "q");
    key(&mut b, "S");
    key(&mut b, "AAPL");
    key(&mut b, "bx");
    key(&mut b, "V");
    key(&mut b, "bp");
    rmp::encode::write_f64(&mut b, 187.23).unwrap();
    key(&mut b, "bs");
    rmp::encode::write_uint(&mut b, 3).unwrap();
    key(&mut b, "ax");
    key(&mut b, "Q");
    key(&mut b, "ap");
    rmp::encode::write_f64(&mut b, 187.25).unwrap();
    key(&mut b, "as");
    rmp::encode::write_uint(&mut b, 5).unwrap();
    key(&mut b, "t");
    ts_ext(
        &mut b,
        Timestamp::parse_rfc3339("2024-11-01T13:30:00.123456789Z").unwrap(),
    );
    rmp::encode::write_map_len(&mut b, 8).unwrap();
    key(&mut b, "T");
    key(&mut b, "t");
    key(&mut b, "S");
    key(&mut b, "MSFT");
    key(&mut b, "i");
    rmp::encode::write_uint(&mut b, 52_983_525_029_461).unwrap();
    key(&mut b, "x");
    key(&mut b, "V");
    key(&mut b, "p");
    rmp::encode::write_f64(&mut b, 415.1).unwrap();
    key(&mut b, "s");
    rmp::encode::write_uint(&mut b, 100).unwrap();
    key(&mut b, "c");
    rmp::encode::write_array_len(&mut b, 1).unwrap();
    key(&mut b, "@");
    key(&mut b, "t");
    // timestamp64 form for this one.
    let secs: u64 = 1_730_467_800;
    let packed = (500_000_000u64 << 34) | secs;
    b.extend_from_slice(&[0xd7, 0xff]);
    b.extend_from_slice(&packed.to_be_bytes());
    rmp::encode::write_map_len(&mut b, 10).unwrap();
    key(&mut b, "T");
    key(&mut b, "b");
    key(&mut b, "S");
    key(&mut b, "AAPL");
    key(&mut b, "o");
    rmp::encode::write_f64(&mut b, 187.2).unwrap();
    key(&mut b, "h");
    rmp::encode::write_f64(&mut b, 187.9).unwrap();
    key(&mut b, "l");
    rmp::encode::write_f64(&mut b, 186.95).unwrap();
    key(&mut b, "c");
    rmp::encode::write_f64(&mut b, 187.5).unwrap();
    key(&mut b, "v");
    rmp::encode::write_uint(&mut b, 120_034).unwrap();
    key(&mut b, "n");
    rmp::encode::write_uint(&mut b, 1500).unwrap();
    key(&mut b, "vw");
    rmp::encode::write_f64(&mut b, 187.4012).unwrap();
    key(&mut b, "t");
    b.extend_from_slice(&[0xd6, 0xff]);
    b.extend_from_slice(&1_730_467_800u32.to_be_bytes());
    b
}

#[test]
fn msgpack_gives_the_same_events_as_json() {
    let table = symbols();
    let frame = msgpack_quote_trade_bar();
    let mut packed = Vec::new();
    assert_eq!(
        parse_msgpack_frame(&frame, &table, RECV, |i| packed.push(i)),
        Ok(3)
    );
    let (_, json) = items_json(QUOTE_TRADE_BAR);
    assert_eq!(events(&packed), events(&json));
}

#[test]
fn msgpack_bad_input_is_an_error_not_a_crash() {
    let table = symbols();
    let frame = msgpack_quote_trade_bar();
    for cut in 0..frame.len() {
        let result = parse_msgpack_frame(&frame[..cut], &table, RECV, |_| {});
        assert!(result.is_err(), "truncated at {cut} must fail");
    }
    // A million nested arrays: refused without recursion.
    let mut deep = vec![0x91u8, 0x83];
    key(&mut deep, "T");
    key(&mut deep, "q");
    key(&mut deep, "c");
    deep.extend(std::iter::repeat_n(0x91u8, 1_000_000));
    deep.push(0xc0);
    key(&mut deep, "S");
    key(&mut deep, "AAPL");
    let mut items = Vec::new();
    assert!(parse_msgpack_frame(&deep, &table, RECV, |i| items.push(i)).is_ok());
    assert!(matches!(items.as_slice(), [Item::Malformed(_)]));
    assert_eq!(
        parse_msgpack_frame(&[0x91, 0x81, 0xa1, b'T', 0xc1], &table, RECV, |_| {})
            .map_err(|e| e.reason),
        Err("reserved marker 0xc1")
    );
    assert_eq!(
        parse_msgpack_frame(&[0xdd, 0xff, 0xff, 0xff, 0xff], &table, RECV, |_| {})
            .map_err(|e| e.reason),
        Err("truncated")
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let table = symbols();
        let _ = parse_json_frame(&bytes, &table, RECV, |_| {});
        let _ = parse_msgpack_frame(&bytes, &table, RECV, |_| {});
    }

    #[test]
    fn mutated_valid_frames_never_panic(at in 0usize..400, byte in any::<u8>()) {
        let table = symbols();
        let mut json = QUOTE_TRADE_BAR.as_bytes().to_vec();
        let i = at % json.len();
        json[i] = byte;
        let _ = parse_json_frame(&json, &table, RECV, |_| {});
        let mut packed = msgpack_quote_trade_bar();
        let i = at % packed.len();
        packed[i] = byte;
        let _ = parse_msgpack_frame(&packed, &table, RECV, |_| {});
    }
}
