//! `pyrt-bench-ticks RUNTIME_DIR QUOTES RATE`: plays the md daemon and the exec daemon around the
//! real strategy and risk daemons. It publishes `QUOTES` quotes at `RATE` per second into the md
//! ring, each stamped with its publication time as `ts_origin`, in a zig-zag that makes the
//! strategy change its target every few dozen quotes, and drains the order ring as exec would.
//! Risk records `origin_to_intent` (quote published → intent written) in its HDR log; the Python
//! side reads it from there.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use pyrt_ring::{BroadcastProducer, QueueConsumer, WaitStrategy, names};
use pyrt_types::{OrderIntent, Price, Qty, Quote, RawEvent, SymbolId, Timestamp};

/// Quotes per leg of the zig-zag.
const LEG: u64 = 64;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, quotes, rate] = args.as_slice() else {
        bail!("usage: pyrt-bench-ticks RUNTIME_DIR QUOTES RATE");
    };
    let dir = PathBuf::from(dir);
    let quotes: u64 = quotes.parse()?;
    let rate: u64 = rate.parse()?;
    let mut md = BroadcastProducer::open(&dir.join(names::MD), 1 << 16)?;
    let order_path = dir.join(names::ORDER);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !order_path.exists() {
        if Instant::now() > deadline {
            bail!("risk never created the order ring");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut orders = QueueConsumer::attach(&order_path, WaitStrategy::Park)?;
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let started = Instant::now();
    let mut intents = 0u64;
    // One basis point per quote around 100.00, half a cent wide.
    let tick = Price::parse("0.01")?;
    let base = Price::parse("100")?;
    let half_spread = Price::parse("0.005")?;
    let size = Qty::from_units(500).unwrap_or(Qty::ZERO);
    for i in 0..quotes {
        let phase = i % (2 * LEG);
        let steps = i64::try_from(if phase < LEG { phase } else { 2 * LEG - phase })?;
        let mid = base.checked_add(tick.checked_mul_int(steps)?)?;
        let now = Timestamp::now();
        let mut quote = Quote::with_header(now, SymbolId(0));
        quote.ts_event = now;
        quote.bid_price = mid.checked_sub(half_spread)?;
        quote.ask_price = mid.checked_add(half_spread)?;
        quote.bid_size = size;
        quote.ask_size = size;
        md.publish(&RawEvent::from_event(&quote));
        while let Some(event) = orders.try_pop() {
            intents += u64::from(event.as_event::<OrderIntent>().is_some());
        }
        let due = started + period * u32::try_from(i + 1)?;
        while Instant::now() < due {
            std::hint::spin_loop();
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    while let Some(event) = orders.try_pop() {
        intents += u64::from(event.as_event::<OrderIntent>().is_some());
    }
    println!(
        "{}",
        serde_json::json!({"quotes": quotes, "intents": intents})
    );
    Ok(())
}
