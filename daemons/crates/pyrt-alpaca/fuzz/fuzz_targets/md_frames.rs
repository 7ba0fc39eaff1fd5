//! Market-data frames in both encodings on arbitrary bytes: an error or items, never a panic, and
//! only well-formed events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pyrt_alpaca::md::{Item, parse_json_frame, parse_msgpack_frame};
use pyrt_types::{SymbolTable, Timestamp};

fuzz_target!(|bytes: &[u8]| {
    let symbols = SymbolTable::from_names(["AAPL", "BTC/USD"]).unwrap();
    let _ = parse_json_frame(bytes, &symbols, Timestamp::EPOCH, |item| {
        if let Item::Event(event) = item {
            assert!(event.kind().is_ok(), "parsers only emit known event kinds");
        }
    });
    let _ = parse_msgpack_frame(bytes, &symbols, Timestamp::EPOCH, |_| {});
});
