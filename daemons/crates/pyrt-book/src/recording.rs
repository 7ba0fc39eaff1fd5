//! Reader for the recorded Binance streams in `../shared/data/hftbacktest` (feature `recording`):
//! gzip, one `<receive_ns> <json>` record per line. Used by tests and benchmarks, not by daemons.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use pyrt_types::{Price, Qty};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

pub type Levels = Vec<(Price, Qty)>;

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Depth {
        recv_ns: i64,
        first: u64,
        last: u64,
        prev_final: Option<u64>,
        bids: Levels,
        asks: Levels,
    },
    Snapshot {
        recv_ns: i64,
        last_update_id: u64,
        bids: Levels,
        asks: Levels,
    },
    Ticker {
        recv_ns: i64,
        update_id: u64,
        bid: Price,
        bid_qty: Qty,
        ask: Price,
        ask_qty: Qty,
    },
    Trade {
        recv_ns: i64,
        trade_id: u64,
        price: Price,
        qty: Qty,
        buyer_is_maker: bool,
    },
}

#[derive(Deserialize)]
struct Envelope {
    stream: String,
    data: serde_json::Value,
}

#[derive(Deserialize)]
struct DepthMsg {
    #[serde(rename = "U")]
    first: u64,
    #[serde(rename = "u")]
    last: u64,
    #[serde(rename = "pu")]
    prev_final: Option<u64>,
    b: Levels,
    a: Levels,
}

#[derive(Deserialize)]
struct SnapshotMsg {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    bids: Levels,
    asks: Levels,
}

#[derive(Deserialize)]
struct TickerMsg {
    u: u64,
    b: Price,
    #[serde(rename = "B")]
    bid_qty: Qty,
    a: Price,
    #[serde(rename = "A")]
    ask_qty: Qty,
}

#[derive(Deserialize)]
struct TradeMsg {
    t: u64,
    p: Price,
    q: Qty,
    m: bool,
}

/// Where `../shared/data` is: `PYRT_SHARED_DATA` if set, else beside the repository.
#[must_use]
pub fn shared_data_dir() -> PathBuf {
    std::env::var_os("PYRT_SHARED_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../../shared/data"),
        PathBuf::from,
    )
}

fn parse_line(text: &str) -> Result<Record, String> {
    let (ts, json) = text
        .split_once(' ')
        .ok_or("no space between timestamp and JSON")?;
    let recv_ns: i64 = ts.parse().map_err(|e| format!("bad timestamp: {e}"))?;
    if json.starts_with("{\"lastUpdateId\"") {
        let s: SnapshotMsg = serde_json::from_str(json).map_err(|e| e.to_string())?;
        return Ok(Record::Snapshot {
            recv_ns,
            last_update_id: s.last_update_id,
            bids: s.bids,
            asks: s.asks,
        });
    }
    let env: Envelope = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let kind = env.stream.rsplit_once('@').map_or("", |(_, k)| k);
    let kind = if env.stream.contains("@depth") {
        "depth"
    } else {
        kind
    };
    match kind {
        "depth" => {
            let d: DepthMsg = serde_json::from_value(env.data).map_err(|e| e.to_string())?;
            Ok(Record::Depth {
                recv_ns,
                first: d.first,
                last: d.last,
                prev_final: d.prev_final,
                bids: d.b,
                asks: d.a,
            })
        }
        "bookTicker" => {
            let t: TickerMsg = serde_json::from_value(env.data).map_err(|e| e.to_string())?;
            Ok(Record::Ticker {
                recv_ns,
                update_id: t.u,
                bid: t.b,
                bid_qty: t.bid_qty,
                ask: t.a,
                ask_qty: t.ask_qty,
            })
        }
        "trade" => {
            let t: TradeMsg = serde_json::from_value(env.data).map_err(|e| e.to_string())?;
            Ok(Record::Trade {
                recv_ns,
                trade_id: t.t,
                price: t.p,
                qty: t.q,
                buyer_is_maker: t.m,
            })
        }
        other => Err(format!("unknown stream kind {other:?}")),
    }
}

/// Reads every record of a recording, in file order.
pub fn read(path: &Path) -> Result<Vec<Record>, RecordingError> {
    let io = |source| RecordingError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut records = Vec::new();
    for (index, line) in BufReader::new(GzDecoder::new(file)).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.is_empty() {
            continue;
        }
        let record = parse_line(&line).map_err(|reason| RecordingError::Malformed {
            path: path.to_owned(),
            line: index + 1,
            reason,
        })?;
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_say_where_and_why() {
        assert!(parse_line("123").unwrap_err().contains("no space"));
        assert!(parse_line("x {}").unwrap_err().contains("bad timestamp"));
        assert!(
            parse_line("1 {\"stream\":\"a@kline\",\"data\":{}}")
                .unwrap_err()
                .contains("kline")
        );
        assert!(parse_line("1 {\"stream\":\"a@depth\",\"data\":{\"U\":1}}").is_err());
    }
}
