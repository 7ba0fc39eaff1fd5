//! The fill model's rules, one test each, and its invariants under random markets.

use proptest::prelude::*;
use pyrt_fill::{Event, FeeModel, FillConfig, FillEngine, Liquidity, OrderSpec};
use pyrt_types::{OrderType, Price, Qty, Side, TimeInForce, Timestamp};

fn px(s: &str) -> Price {
    Price::parse(s).unwrap()
}

fn q(n: i64) -> Qty {
    Qty::from_units(n).unwrap()
}

fn t(n: i64) -> Timestamp {
    Timestamp::from_unix_nanos(n)
}

fn order(
    id: u64,
    side: Side,
    order_type: OrderType,
    tif: TimeInForce,
    qty: i64,
    limit: Option<&str>,
    stop: Option<&str>,
) -> OrderSpec {
    OrderSpec {
        id,
        side,
        order_type,
        time_in_force: tif,
        qty: q(qty),
        limit: limit.map(px),
        stop: stop.map(px),
    }
}

fn fills(events: &[Event]) -> Vec<(u64, Price, Qty, Liquidity)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::Fill {
                id,
                price,
                qty,
                liquidity,
                ..
            } => Some((id, price, qty, liquidity)),
            Event::Canceled { .. } => None,
        })
        .collect()
}

#[test]
fn market_orders_take_the_touch_up_to_its_size_and_wait_for_more() {
    let mut e = FillEngine::new(FillConfig::default());
    let mut out = Vec::new();
    e.submit(
        order(
            1,
            Side::Buy,
            OrderType::Market,
            TimeInForce::Day,
            150,
            None,
            None,
        ),
        t(0),
    );
    e.on_quote(px("99.99"), q(100), px("100.01"), q(100), t(1), &mut out);
    assert_eq!(fills(&out), [(1, px("100.01"), q(100), Liquidity::Taker)]);
    out.clear();
    e.on_quote(px("100"), q(100), px("100.02"), q(30), t(2), &mut out);
    assert_eq!(fills(&out), [(1, px("100.02"), q(30), Liquidity::Taker)]);
    assert_eq!(e.open_orders(), 1);
}

#[test]
fn latency_delays_the_order_past_quotes_it_could_not_see() {
    let mut e = FillEngine::new(FillConfig {
        latency_ns: 1_000,
        ..FillConfig::default()
    });
    let mut out = Vec::new();
    e.submit(
        order(
            1,
            Side::Sell,
            OrderType::Market,
            TimeInForce::Day,
            10,
            None,
            None,
        ),
        t(0),
    );
    e.on_quote(px("50"), q(100), px("50.02"), q(100), t(500), &mut out);
    assert!(out.is_empty());
    e.on_quote(px("49.9"), q(100), px("50.02"), q(100), t(1_000), &mut out);
    assert_eq!(fills(&out), [(1, px("49.9"), q(10), Liquidity::Taker)]);
}

#[test]
fn ioc_fills_what_it_can_and_cancels_the_rest_fok_is_all_or_nothing() {
    let mut e = FillEngine::new(FillConfig::default());
    let mut out = Vec::new();
    e.submit(
        order(
            1,
            Side::Buy,
            OrderType::Limit,
            TimeInForce::Ioc,
            50,
            Some("10.05"),
            None,
        ),
        t(0),
    );
    e.submit(
        order(
            2,
            Side::Buy,
            OrderType::Limit,
            TimeInForce::Fok,
            50,
            Some("10.05"),
            None,
        ),
        t(0),
    );
    e.on_quote(px("10"), q(10), px("10.05"), q(30), t(1), &mut out);
    assert_eq!(fills(&out), [(1, px("10.05"), q(30), Liquidity::Taker)]);
    assert!(out.contains(&Event::Canceled {
        id: 1,
        leaves: q(20),
        at: t(1)
    }));
    assert!(out.contains(&Event::Canceled {
        id: 2,
        leaves: q(50),
        at: t(1)
    }));
    assert_eq!(e.open_orders(), 0);
}

#[test]
fn resting_limits_wait_for_the_queue_ahead_then_fill_as_maker() {
    let mut e = FillEngine::new(FillConfig::default());
    let mut out = Vec::new();
    e.submit(
        order(
            1,
            Side::Buy,
            OrderType::Limit,
            TimeInForce::Day,
            100,
            Some("99.99"),
            None,
        ),
        t(0),
    );
    e.on_quote(px("99.99"), q(300), px("100.01"), q(100), t(1), &mut out);
    assert!(out.is_empty(), "joins behind 300 shares");
    e.on_trade(px("99.99"), q(250), t(2), &mut out);
    assert!(out.is_empty(), "50 still ahead");
    // Cancels ahead of us: displayed size drops to 20, so at most 20 remain ahead.
    e.on_quote(px("99.99"), q(20), px("100.01"), q(100), t(3), &mut out);
    e.on_trade(px("99.99"), q(60), t(4), &mut out);
    assert_eq!(fills(&out), [(1, px("99.99"), q(40), Liquidity::Maker)]);
    out.clear();
    e.on_trade(px("99.98"), q(1), t(5), &mut out);
    assert_eq!(
        fills(&out),
        [(1, px("99.99"), q(60), Liquidity::Maker)],
        "a trade through fills the rest"
    );
}

#[test]
fn stops_trigger_on_trades_then_act_as_market_or_limit() {
    let mut e = FillEngine::new(FillConfig::default());
    let mut out = Vec::new();
    e.submit(
        order(
            1,
            Side::Sell,
            OrderType::Stop,
            TimeInForce::Day,
            10,
            None,
            Some("95"),
        ),
        t(0),
    );
    e.submit(
        order(
            2,
            Side::Buy,
            OrderType::StopLimit,
            TimeInForce::Gtc,
            10,
            Some("105.5"),
            Some("105"),
        ),
        t(0),
    );
    e.on_quote(px("99.99"), q(100), px("100.01"), q(100), t(1), &mut out);
    e.on_trade(px("100"), q(5), t(2), &mut out);
    assert!(out.is_empty());
    e.on_quote(px("94.9"), q(100), px("95"), q(100), t(3), &mut out);
    e.on_trade(px("94.95"), q(5), t(4), &mut out);
    assert_eq!(fills(&out), [(1, px("94.9"), q(10), Liquidity::Taker)]);
    out.clear();
    e.on_quote(px("105.4"), q(100), px("105.6"), q(100), t(5), &mut out);
    e.on_trade(px("105.5"), q(5), t(6), &mut out);
    assert!(
        fills(&out).is_empty(),
        "triggered, but 105.6 is beyond the 105.5 limit"
    );
    e.on_quote(px("105.4"), q(100), px("105.5"), q(100), t(7), &mut out);
    assert_eq!(fills(&out), [(2, px("105.5"), q(10), Liquidity::Maker)]);
}

#[test]
fn partial_fills_follow_the_configured_fraction_and_fees_are_charged() {
    let config = FillConfig {
        max_fill_fraction_bps: 2_500,
        fees: FeeModel::alpaca_regulatory(),
        ..FillConfig::default()
    };
    let mut e = FillEngine::new(config);
    let mut out = Vec::new();
    e.submit(
        order(
            1,
            Side::Sell,
            OrderType::Market,
            TimeInForce::Day,
            100,
            None,
            None,
        ),
        t(0),
    );
    e.on_quote(px("100"), q(100), px("100.02"), q(100), t(1), &mut out);
    match out[0] {
        Event::Fill {
            qty, leaves, fee, ..
        } => {
            assert_eq!((qty, leaves), (q(25), q(75)));
            assert!(fee.raw() > 0, "sells pay regulatory fees");
        }
        Event::Canceled { .. } => panic!("filled expected"),
    }
    assert_eq!(e.cancel(1), Some(q(75)));
    assert_eq!(e.cancel(1), None);
}

proptest! {
    /// Whatever the market does: fills never exceed the order, limit orders never fill beyond
    /// their limit, fees are never negative, and every order ends filled, canceled or open.
    #[test]
    fn invariants_under_random_markets(
        orders in prop::collection::vec((any::<bool>(), 0u8..4, 0u8..3, 1i64..200, 9_900i64..10_100), 1..8),
        market in prop::collection::vec((any::<bool>(), 9_900i64..10_100, 1i64..300, 1i64..300), 1..60),
    ) {
        let mut e = FillEngine::new(FillConfig { latency_ns: 3, max_fill_fraction_bps: 5_000, fees: FeeModel::alpaca_regulatory(), ..FillConfig::default() });
        let mut out = Vec::new();
        let mut specs = Vec::new();
        for (i, (buy, kind, tif, qty, cents)) in orders.into_iter().enumerate() {
            let side = if buy { Side::Buy } else { Side::Sell };
            let price = Price::from_raw(cents * 10_000_000);
            let (order_type, limit, stop) = match kind {
                0 => (OrderType::Market, None, None),
                1 => (OrderType::Limit, Some(price), None),
                2 => (OrderType::Stop, None, Some(price)),
                _ => (OrderType::StopLimit, Some(price), Some(price)),
            };
            let tif = [TimeInForce::Day, TimeInForce::Ioc, TimeInForce::Fok][usize::from(tif)];
            let spec = OrderSpec { id: i as u64, side, order_type, time_in_force: tif, qty: q(qty), limit, stop };
            e.submit(spec, t(0));
            specs.push(spec);
        }
        for (n, (is_quote, cents, a, b)) in market.into_iter().enumerate() {
            let now = t(i64::try_from(n).unwrap() + 1);
            let mid = Price::from_raw(cents * 10_000_000);
            if is_quote {
                let bid = mid.saturating_sub(Price::from_raw(10_000_000));
                e.on_quote(bid, q(a), mid, q(b), now, &mut out);
            } else {
                e.on_trade(mid, q(a), now, &mut out);
            }
        }
        for spec in &specs {
            let mut filled = Qty::ZERO;
            for event in &out {
                match *event {
                    Event::Fill { id, price, qty, leaves, fee, .. } if id == spec.id => {
                        filled = filled.saturating_add(qty);
                        prop_assert!(qty.raw() > 0);
                        prop_assert_eq!(leaves, spec.qty.saturating_sub(filled));
                        prop_assert!(fee.raw() >= 0);
                        if let Some(limit) = spec.limit {
                            match spec.side {
                                Side::Buy => prop_assert!(price <= limit),
                                Side::Sell => prop_assert!(price >= limit),
                            }
                        }
                    }
                    Event::Canceled { id, leaves, .. } if id == spec.id => {
                        prop_assert_eq!(leaves, spec.qty.saturating_sub(filled));
                        if spec.time_in_force == TimeInForce::Fok {
                            prop_assert!(filled.is_zero(), "fok never partially fills");
                        }
                    }
                    _ => {}
                }
            }
            prop_assert!(filled <= spec.qty);
        }
    }
}
