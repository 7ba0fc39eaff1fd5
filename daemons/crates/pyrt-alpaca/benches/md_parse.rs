//! Market-data parse + normalise throughput: our scanners against the common approach of
//! deserialising each frame with `serde_json` into typed structs (what Rust Alpaca clients do), on the
//! same frames. `cargo bench -p pyrt-alpaca`; `make bench-md` collects the figures.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pyrt_alpaca::md::{Item, parse_json_frame, parse_msgpack_frame};
use pyrt_types::{Price, Qty, SymbolTable, Timestamp};
use serde::Deserialize;

const MESSAGES_PER_FRAME: usize = 16;

/// A frame of alternating quotes and trades with realistic field values.
fn json_frame() -> String {
    let mut parts = Vec::new();
    for i in 0..MESSAGES_PER_FRAME {
        let cents = 18_700 + i;
        if i % 2 == 0 {
            parts.push(format!(
                r#"{{"T":"q","S":"AAPL","bx":"V","bp":{}.{:02},"bs":{},"ax":"Q","ap":{}.{:02},"as":{},"c":["R"],"z":"C","t":"2024-11-01T13:30:00.{:09}Z"}}"#,
                cents / 100, cents % 100, 3 + i, (cents + 2) / 100, (cents + 2) % 100, 5 + i, 123_456_789 + i
            ));
        } else {
            parts.push(format!(
                r#"{{"T":"t","S":"MSFT","i":{},"x":"V","p":{}.{:02},"s":{},"c":["@","I"],"z":"C","t":"2024-11-01T13:30:00.{:09}Z"}}"#,
                52_983_525_029_461u64 + i as u64, cents / 100, cents % 100, 100 + i, 223_456_789 + i
            ));
        }
    }
    format!("[{}]", parts.join(","))
}

fn msgpack_frame() -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_str(&json_frame()).unwrap();
    let mut out = Vec::new();
    let items = value.as_array().unwrap();
    rmp::encode::write_array_len(&mut out, u32::try_from(items.len()).unwrap()).unwrap();
    for item in items {
        let map = item.as_object().unwrap();
        rmp::encode::write_map_len(&mut out, u32::try_from(map.len()).unwrap()).unwrap();
        for (k, v) in map {
            rmp::encode::write_str(&mut out, k).unwrap();
            match v {
                serde_json::Value::String(s) if k == "t" => {
                    let ts = Timestamp::parse_rfc3339(s).unwrap().unix_nanos();
                    out.extend_from_slice(&[0xc7, 12, 0xff]);
                    out.extend_from_slice(
                        &u32::try_from(ts % 1_000_000_000).unwrap().to_be_bytes(),
                    );
                    out.extend_from_slice(&(ts / 1_000_000_000).to_be_bytes());
                }
                serde_json::Value::String(s) => rmp::encode::write_str(&mut out, s).unwrap(),
                serde_json::Value::Number(n) if n.is_u64() => {
                    rmp::encode::write_uint(&mut out, n.as_u64().unwrap()).unwrap();
                }
                serde_json::Value::Number(n) => {
                    rmp::encode::write_f64(&mut out, n.as_f64().unwrap()).unwrap();
                }
                serde_json::Value::Array(a) => {
                    rmp::encode::write_array_len(&mut out, u32::try_from(a.len()).unwrap())
                        .unwrap();
                    for s in a {
                        rmp::encode::write_str(&mut out, s.as_str().unwrap()).unwrap();
                    }
                }
                _ => unreachable!(),
            }
        }
    }
    out
}

/// The serde baseline: typed structs with owned strings, as a typical client defines them, then the
/// same normalisation to fixed point our parser does.
#[derive(Deserialize)]
#[serde(tag = "T")]
enum Message {
    #[serde(rename = "q")]
    Quote {
        #[serde(rename = "S")]
        symbol: String,
        bp: f64,
        bs: u64,
        ap: f64,
        #[serde(rename = "as")]
        ask_size: u64,
        t: String,
    },
    #[serde(rename = "t")]
    Trade {
        #[serde(rename = "S")]
        symbol: String,
        p: f64,
        s: u64,
        i: u64,
        t: String,
    },
}

fn serde_baseline(frame: &str, symbols: &SymbolTable) -> usize {
    let messages: Vec<Message> = serde_json::from_str(frame).unwrap();
    let mut n = 0;
    for m in messages {
        match m {
            Message::Quote {
                symbol,
                bp,
                bs,
                ap,
                ask_size,
                t,
            } => {
                black_box((
                    symbols.get(&symbol),
                    Price::from_f64_shortest(bp).ok(),
                    Qty::from_units(i64::try_from(bs).unwrap()),
                    Price::from_f64_shortest(ap).ok(),
                    ask_size,
                    Timestamp::parse_rfc3339(&t).ok(),
                ));
            }
            Message::Trade { symbol, p, s, i, t } => {
                black_box((
                    symbols.get(&symbol),
                    Price::from_f64_shortest(p).ok(),
                    s,
                    i,
                    Timestamp::parse_rfc3339(&t).ok(),
                ));
            }
        }
        n += 1;
    }
    n
}

fn bench(c: &mut Criterion) {
    let symbols = SymbolTable::from_names(["AAPL", "MSFT"]).unwrap();
    let json = json_frame();
    let packed = msgpack_frame();
    let recv = Timestamp::from_unix_nanos(1);
    let mut group = c.benchmark_group("md_parse");
    group.throughput(Throughput::Elements(MESSAGES_PER_FRAME as u64));
    group.bench_function("py_rt/json", |b| {
        b.iter(|| {
            let mut events = 0usize;
            parse_json_frame(black_box(json.as_bytes()), &symbols, recv, |item| {
                if let Item::Event(e) = item {
                    black_box(e);
                    events += 1;
                }
            })
            .unwrap();
            assert_eq!(events, MESSAGES_PER_FRAME);
        });
    });
    group.bench_function("py_rt/msgpack", |b| {
        b.iter(|| {
            let mut events = 0usize;
            parse_msgpack_frame(black_box(&packed), &symbols, recv, |item| {
                if let Item::Event(e) = item {
                    black_box(e);
                    events += 1;
                }
            })
            .unwrap();
            assert_eq!(events, MESSAGES_PER_FRAME);
        });
    });
    group.bench_function("serde_json-typed/json", |b| {
        b.iter(|| {
            assert_eq!(
                serde_baseline(black_box(&json), &symbols),
                MESSAGES_PER_FRAME
            );
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
