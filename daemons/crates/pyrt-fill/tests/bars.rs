//! Matching on bars: the open / high / low convention, expiry, volume cap and slippage.

use proptest::prelude::*;
use pyrt_fill::{BarPrices, Event, FillConfig, FillEngine, Liquidity, OrderSpec};
use pyrt_types::{OrderType, Price, Qty, Side, TimeInForce, Timestamp};

fn px(s: &str) -> Price {
    Price::parse(s).unwrap()
}

fn bar(o: &str, h: &str, l: &str, c: &str, volume: i64) -> BarPrices {
    BarPrices {
        open: px(o),
        high: px(h),
        low: px(l),
        close: px(c),
        volume: Qty::from_units(volume).unwrap(),
    }
}

fn spec(
    id: u64,
    side: Side,
    limit: Option<&str>,
    stop: Option<&str>,
    tif: TimeInForce,
) -> OrderSpec {
    let order_type = match (limit, stop) {
        (None, None) => OrderType::Market,
        (Some(_), None) => OrderType::Limit,
        (None, Some(_)) => OrderType::Stop,
        (Some(_), Some(_)) => OrderType::StopLimit,
    };
    OrderSpec {
        id,
        side,
        order_type,
        time_in_force: tif,
        qty: Qty::from_units(10).unwrap(),
        limit: limit.map(px),
        stop: stop.map(px),
    }
}

fn run(config: FillConfig, orders: &[OrderSpec], bars: &[BarPrices]) -> Vec<Event> {
    let mut engine = FillEngine::new(config);
    for o in orders {
        engine.submit(*o, Timestamp::from_unix_nanos(0));
    }
    let mut out = Vec::new();
    for (i, b) in bars.iter().enumerate() {
        let now = Timestamp::from_unix_nanos(i64::try_from(i).unwrap() + 1);
        engine.on_bar(b, now, true, &mut out);
    }
    out
}

fn fill_of(events: &[Event], want: u64) -> Option<(Price, Liquidity)> {
    events.iter().find_map(|e| match *e {
        Event::Fill {
            id,
            price,
            liquidity,
            ..
        } if id == want => Some((price, liquidity)),
        _ => None,
    })
}

#[test]
fn each_order_type_fills_where_the_bar_reaches_it() {
    let gtc = TimeInForce::Gtc;
    let orders = [
        spec(1, Side::Buy, None, None, gtc),
        spec(2, Side::Buy, Some("96"), None, gtc),
        spec(3, Side::Buy, Some("99.5"), None, gtc),
        spec(4, Side::Buy, None, Some("100.5"), gtc),
        spec(5, Side::Sell, None, Some("99.5"), gtc),
        spec(6, Side::Buy, Some("100.2"), Some("100.5"), gtc),
        spec(7, Side::Sell, Some("101.5"), None, gtc),
        spec(8, Side::Buy, Some("94"), None, gtc),
    ];
    let out = run(
        FillConfig::default(),
        &orders,
        &[bar("99", "101", "95", "100", 1_000)],
    );
    assert_eq!(fill_of(&out, 1), Some((px("99"), Liquidity::Taker)));
    assert_eq!(fill_of(&out, 2), Some((px("96"), Liquidity::Maker)));
    assert_eq!(fill_of(&out, 3), Some((px("99"), Liquidity::Taker)));
    assert_eq!(fill_of(&out, 4), Some((px("100.5"), Liquidity::Taker)));
    assert_eq!(fill_of(&out, 5), Some((px("99"), Liquidity::Taker)));
    // Triggered at 100.5, above its 100.2 limit: the low (95) reaches the limit.
    assert_eq!(fill_of(&out, 6), Some((px("100.2"), Liquidity::Maker)));
    assert_eq!(fill_of(&out, 7), None);
    assert_eq!(fill_of(&out, 8), None);
}

#[test]
fn day_ioc_and_fok_expire_gtc_waits() {
    let orders = [
        spec(1, Side::Buy, Some("90"), None, TimeInForce::Day),
        spec(2, Side::Buy, Some("90"), None, TimeInForce::Ioc),
        spec(3, Side::Buy, Some("90"), None, TimeInForce::Gtc),
    ];
    let mut engine = FillEngine::new(FillConfig::default());
    for o in orders {
        engine.submit(o, Timestamp::from_unix_nanos(0));
    }
    let mut out = Vec::new();
    let b = bar("99", "101", "95", "100", 1_000);
    // Not the session's last bar: only the ioc expires.
    engine.on_bar(&b, Timestamp::from_unix_nanos(1), false, &mut out);
    let canceled: Vec<u64> = out
        .iter()
        .filter_map(|e| match *e {
            Event::Canceled { id, .. } => Some(id),
            Event::Fill { .. } => None,
        })
        .collect();
    assert_eq!(canceled, [2]);
    out.clear();
    engine.on_bar(&b, Timestamp::from_unix_nanos(2), true, &mut out);
    assert!(matches!(out[..], [Event::Canceled { id: 1, .. }]));
    assert_eq!(engine.open_orders(), 1);
    out.clear();
    engine.on_bar(
        &bar("91", "92", "89", "90", 1_000),
        Timestamp::from_unix_nanos(3),
        true,
        &mut out,
    );
    assert_eq!(fill_of(&out, 3), Some((px("90"), Liquidity::Maker)));
}

#[test]
fn volume_cap_splits_fills_and_refuses_short_fok() {
    let config = FillConfig {
        bar_volume_cap_bps: 100, // 1 % of the bar's volume
        ..FillConfig::default()
    };
    let orders = [
        spec(1, Side::Buy, None, None, TimeInForce::Gtc),
        spec(2, Side::Buy, None, None, TimeInForce::Fok),
    ];
    let bars = [
        bar("10", "10", "10", "10", 500),
        bar("10", "10", "10", "10", 500),
    ];
    let out = run(config, &orders, &bars);
    let fills: Vec<(u64, Qty)> = out
        .iter()
        .filter_map(|e| match *e {
            Event::Fill { id, qty, .. } => Some((id, qty)),
            Event::Canceled { .. } => None,
        })
        .collect();
    let five = Qty::from_units(5).unwrap();
    assert_eq!(fills, [(1, five), (1, five)]);
    assert!(
        out.iter()
            .any(|e| matches!(e, Event::Canceled { id: 2, .. }))
    );
}

#[test]
fn orders_wait_for_their_latency() {
    let config = FillConfig {
        latency_ns: 10,
        ..FillConfig::default()
    };
    let out = run(
        config,
        &[spec(1, Side::Buy, None, None, TimeInForce::Gtc)],
        &[
            bar("10", "10", "10", "10", 1),
            bar("11", "11", "11", "11", 1),
        ],
    );
    assert!(
        out.is_empty(),
        "bars at t=1 and t=2 come before the order is live at t=10"
    );
}

proptest! {
    /// Without slippage every fill lies inside its bar's range and never exceeds the order.
    #[test]
    fn fills_stay_inside_the_bar(
        raw in prop::collection::vec((1_000u32..2_000, 0u32..50, 0u32..50, 0u32..100), 1..30),
        limit in 900u32..2_100,
        stop in 900u32..2_100,
        kind in 0u8..4,
        buy in any::<bool>(),
    ) {
        let bars: Vec<BarPrices> = raw
            .iter()
            .map(|&(o, up, down, c)| {
                let open = i64::from(o);
                let close = open - 50 + i64::from(c);
                let high = open.max(close) + i64::from(up);
                let low = (open.min(close) - i64::from(down)).max(1);
                let p = |v: i64| Price::from_raw(v * 10_000_000);
                BarPrices { open: p(open), high: p(high), low: p(low), close: p(close), volume: Qty::from_units(1_000).unwrap() }
            })
            .collect();
        let cents = |v: u32| format!("{}.{:02}", v / 100, v % 100);
        let (l, s) = (cents(limit), cents(stop));
        let order = spec(
            1,
            if buy { Side::Buy } else { Side::Sell },
            matches!(kind, 1 | 3).then_some(l.as_str()),
            matches!(kind, 2 | 3).then_some(s.as_str()),
            TimeInForce::Gtc,
        );
        let out = run(FillConfig::default(), &[order], &bars);
        let mut total = Qty::ZERO;
        for e in &out {
            if let Event::Fill { price, qty, at, .. } = *e {
                let b = bars[usize::try_from(at.unix_nanos() - 1).unwrap()];
                prop_assert!(b.low <= price && price <= b.high);
                total = total.saturating_add(qty);
            }
        }
        prop_assert!(total <= order.qty);
    }
}

/// A split adjusts working orders and never makes one more aggressive: buy limits and sell stops
/// round down, sell limits and buy stops round up.
#[test]
fn a_split_scales_working_orders_and_rounds_against_aggression() {
    let three = Qty::from_units(3).unwrap();
    let mut engine = FillEngine::new(FillConfig::default());
    let at = Timestamp::from_unix_nanos(0);
    engine.submit(spec(1, Side::Buy, Some("100"), None, TimeInForce::Gtc), at);
    engine.submit(spec(2, Side::Buy, None, Some("100"), TimeInForce::Gtc), at);
    engine.split(three).unwrap();
    // 30 shares each, at 33.333333333 (limit, down) and 33.333333334 (stop, up):
    // 999.99999999 + 1000.00000002.
    assert_eq!(
        engine.reserved_for_buys(px("1")).to_string(),
        "2000.00000001"
    );

    let mut engine = FillEngine::new(FillConfig::default());
    engine.submit(spec(3, Side::Sell, Some("100"), None, TimeInForce::Gtc), at);
    engine.split(three).unwrap();
    let mut out = Vec::new();
    let next = Timestamp::from_unix_nanos(1);
    engine.on_bar(
        &bar("33.3", "33.333333333", "33.3", "33.3", 1_000),
        next,
        false,
        &mut out,
    );
    assert!(out.is_empty(), "the sell limit rounded up to 33.333333334");
    engine.on_bar(
        &bar("33.3", "33.333333334", "33.3", "33.3", 1_000),
        next,
        false,
        &mut out,
    );
    let Some(Event::Fill { qty, price, .. }) = out.first().copied() else {
        panic!("no fill: {out:?}");
    };
    assert_eq!(
        (qty, price),
        (Qty::from_units(30).unwrap(), px("33.333333334"))
    );
}

#[test]
fn a_split_the_orders_cannot_represent_changes_nothing() {
    let mut engine = FillEngine::new(FillConfig::default());
    engine.submit(
        spec(1, Side::Buy, Some("100"), None, TimeInForce::Gtc),
        Timestamp::from_unix_nanos(0),
    );
    let before = engine.reserved_for_buys(Price::ZERO);
    assert!(engine.split(Qty::ZERO).is_err());
    assert!(engine.split(Qty::from_raw(i64::MAX)).is_err());
    assert_eq!(engine.reserved_for_buys(Price::ZERO), before);
    assert_eq!(
        engine.cancel_all().collect::<Vec<_>>(),
        [(1, Qty::from_units(10).unwrap())]
    );
}
