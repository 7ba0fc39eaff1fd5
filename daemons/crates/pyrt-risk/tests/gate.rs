//! Every limit of the gate, one test each, and the accounting behind them.

use proptest::prelude::*;
use pyrt_risk::{
    Decision, KillOn, NyDate, Reject, RiskEngine, RiskLimits, SymbolLimits, stamp, verify,
};
use pyrt_types::{
    Fill, IntentAction, Notional, OrderAck, OrderIntent, OrderStatus, OrderType, Price, Qty, Quote,
    Side, SymbolId, TimeInForce, Timestamp,
};

const KEY: u64 = 0x5eed;
const AAPL: SymbolId = SymbolId(0);
const MSFT: SymbolId = SymbolId(1);
const BANNED: SymbolId = SymbolId(2);
const SEC: i64 = 1_000_000_000;

fn units(n: i64) -> Qty {
    Qty::from_units(n).unwrap()
}

fn px(s: &str) -> Price {
    Price::parse(s).unwrap()
}

fn limits() -> RiskLimits {
    let sym = SymbolLimits {
        max_order_qty: units(100),
        max_order_notional: Notional::parse("20000").unwrap(),
        max_position: units(150),
    };
    RiskLimits {
        symbols: vec![Some(sym), Some(sym), None],
        max_gross_exposure: Notional::parse("50000").unwrap(),
        max_net_exposure: Notional::parse("40000").unwrap(),
        daily_loss_limit: Notional::parse("1000").unwrap(),
        max_open_orders: 4,
        max_orders_per_second: 3,
        max_messages_per_second: 10,
        price_collar_bps: 500,
        max_quote_age_ns: 5 * SEC,
        duplicate_window_ns: SEC / 2,
        kill_on: KillOn {
            daily_loss: true,
            gross_exposure: false,
            message_rate: true,
        },
    }
}

fn engine() -> RiskEngine {
    let mut e = RiskEngine::new(limits(), KEY);
    for (symbol, bid, ask) in [(AAPL, "99.99", "100.01"), (MSFT, "199.98", "200.02")] {
        let mut q = Quote::with_header(Timestamp::from_unix_nanos(0), symbol);
        q.ts_event = Timestamp::from_unix_nanos(0);
        q.bid_price = px(bid);
        q.ask_price = px(ask);
        e.on_quote(&q);
    }
    e
}

fn order(seq: u64, symbol: SymbolId, side: Side, qty: i64, limit: Option<&str>) -> OrderIntent {
    let mut i = OrderIntent::with_header(Timestamp::EPOCH, symbol);
    i.intent_seq = seq;
    i.qty = units(qty);
    i.side = side.code();
    i.time_in_force = TimeInForce::Day.code();
    match limit {
        Some(p) => {
            i.order_type = OrderType::Limit.code();
            i.limit_price = px(p);
        }
        None => i.order_type = OrderType::Market.code(),
    }
    i
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_nanos(ms * 1_000_000)
}

fn fill(seq: u64, symbol: SymbolId, side: Side, qty: i64, price: &str, leaves: i64) -> Fill {
    let mut f = Fill::with_header(Timestamp::EPOCH, symbol);
    f.intent_seq = seq;
    f.side = side.code();
    f.qty = units(qty);
    f.price = px(price);
    f.leaves_qty = units(leaves);
    f
}

#[test]
fn accepted_intents_are_stamped_and_verify() {
    let mut e = engine();
    let mut i = order(1, AAPL, Side::Buy, 10, Some("100"));
    assert_eq!(e.check(&mut i, at(1)), Decision::Accept);
    assert!(verify(&i, KEY));
    assert!(!verify(&i, KEY + 1), "another session's key");
    let mut tampered = i;
    tampered.qty = units(11);
    assert!(!verify(&tampered, KEY), "a changed field breaks the stamp");
    let unstamped = order(2, AAPL, Side::Buy, 10, Some("100"));
    assert!(!verify(&unstamped, KEY));
    assert_ne!(stamp(&unstamped, KEY), 0);
    assert_eq!(e.open_orders(), 1);
}

#[test]
fn each_limit_rejects_with_its_reason() {
    let cases: Vec<(OrderIntent, Reject)> = vec![
        (
            order(1, BANNED, Side::Buy, 1, Some("10")),
            Reject::UnknownSymbol,
        ),
        (
            order(2, SymbolId(9), Side::Buy, 1, Some("10")),
            Reject::UnknownSymbol,
        ),
        (
            order(3, AAPL, Side::Buy, 101, Some("100")),
            Reject::OrderQty,
        ),
        (
            order(4, MSFT, Side::Buy, 100, Some("200.5")),
            Reject::OrderNotional,
        ),
        (
            order(5, AAPL, Side::Buy, 10, Some("120")),
            Reject::PriceCollar,
        ),
        (
            order(6, AAPL, Side::Sell, 10, Some("80")),
            Reject::PriceCollar,
        ),
        (
            order(7, AAPL, Side::Buy, 0, Some("100")),
            Reject::InvalidIntent,
        ),
        (
            order(8, AAPL, Side::Buy, 10, Some("0")),
            Reject::InvalidIntent,
        ),
    ];
    for (mut intent, reason) in cases {
        let mut e = engine();
        assert_eq!(
            e.check(&mut intent, at(1)),
            Decision::Reject(reason),
            "{reason:?}"
        );
        assert_eq!(intent.risk_stamp, 0, "a rejected intent is never stamped");
        assert_eq!(e.reject_counts()[reason as usize], 1);
    }
    let mut bad_enum = order(9, AAPL, Side::Buy, 1, Some("100"));
    bad_enum.time_in_force = 77;
    assert_eq!(
        engine().check(&mut bad_enum, at(1)),
        Decision::Reject(Reject::InvalidIntent)
    );
}

#[test]
fn market_orders_need_a_fresh_two_sided_quote() {
    let mut e = engine();
    assert_eq!(
        e.check(&mut order(1, AAPL, Side::Buy, 1, None), at(1)),
        Decision::Accept
    );
    let stale = Timestamp::from_unix_nanos(6 * SEC);
    assert_eq!(
        e.check(&mut order(2, AAPL, Side::Buy, 1, None), stale),
        Decision::Reject(Reject::StaleQuote)
    );
    let mut fresh = RiskEngine::new(limits(), KEY);
    assert_eq!(
        fresh.check(&mut order(3, AAPL, Side::Buy, 1, None), at(1)),
        Decision::Reject(Reject::NoReferencePrice)
    );
}

#[test]
fn positions_count_open_orders_on_the_growing_side() {
    let mut e = engine();
    assert_eq!(
        e.check(&mut order(1, AAPL, Side::Buy, 100, Some("100")), at(1)),
        Decision::Accept
    );
    assert_eq!(
        e.check(&mut order(2, AAPL, Side::Buy, 60, Some("100")), at(2)),
        Decision::Reject(Reject::Position)
    );
    // Selling reduces the worst case on the other side, so it passes.
    assert_eq!(
        e.check(&mut order(3, AAPL, Side::Sell, 60, Some("100")), at(3)),
        Decision::Accept
    );
    e.on_fill(&fill(1, AAPL, Side::Buy, 100, "100", 0));
    assert_eq!(e.position(AAPL), units(100));
    assert_eq!(e.open_orders(), 1);
}

#[test]
fn open_order_count_rate_and_duplicates() {
    let mut e = engine();
    assert_eq!(
        e.check(&mut order(1, AAPL, Side::Buy, 1, Some("100")), at(0)),
        Decision::Accept
    );
    assert_eq!(
        e.check(&mut order(2, AAPL, Side::Buy, 1, Some("100")), at(100)),
        Decision::Reject(Reject::Duplicate)
    );
    assert_eq!(
        e.check(&mut order(3, AAPL, Side::Buy, 2, Some("100")), at(100)),
        Decision::Accept
    );
    assert_eq!(
        e.check(&mut order(4, AAPL, Side::Buy, 3, Some("100")), at(200)),
        Decision::Accept
    );
    assert_eq!(
        e.check(&mut order(5, AAPL, Side::Buy, 4, Some("100")), at(300)),
        Decision::Reject(Reject::OrderRate)
    );
    assert_eq!(
        e.check(&mut order(6, AAPL, Side::Buy, 5, Some("100")), at(1100)),
        Decision::Accept
    );
    assert_eq!(
        e.check(&mut order(7, AAPL, Side::Buy, 6, Some("100")), at(2300)),
        Decision::Reject(Reject::OpenOrders)
    );
    // The same order after the duplicate window is a new order.
    let mut ack = OrderAck::with_header(Timestamp::EPOCH, AAPL);
    ack.intent_seq = 1;
    ack.status = OrderStatus::Canceled.code();
    e.on_ack(&ack);
    assert_eq!(
        e.check(&mut order(8, AAPL, Side::Buy, 1, Some("100")), at(3000)),
        Decision::Accept
    );
}

#[test]
fn kill_switch_blocks_new_orders_but_not_cancels() {
    let mut e = engine();
    assert_eq!(
        e.check(&mut order(1, AAPL, Side::Buy, 1, Some("100")), at(0)),
        Decision::Accept
    );
    e.set_kill_switch(true);
    assert_eq!(
        e.check(&mut order(2, AAPL, Side::Buy, 1, Some("100")), at(10)),
        Decision::Reject(Reject::KillSwitch)
    );
    let mut cancel = order(3, AAPL, Side::Buy, 1, None);
    cancel.action = IntentAction::Cancel as u8;
    cancel.ref_seq = 1;
    assert_eq!(e.check(&mut cancel, at(20)), Decision::Accept);
    assert!(verify(&cancel, KEY));
    cancel.ref_seq = 42;
    assert_eq!(
        e.check(&mut cancel, at(30)),
        Decision::Reject(Reject::UnknownOrder)
    );
}

#[test]
fn daily_loss_trips_the_kill_switch() {
    let mut e = engine();
    assert_eq!(
        e.check(&mut order(1, AAPL, Side::Buy, 100, Some("100")), at(0)),
        Decision::Accept
    );
    e.on_fill(&fill(1, AAPL, Side::Buy, 100, "100.00", 0));
    let mut crash = Quote::with_header(at(10), AAPL);
    crash.bid_price = px("88.99");
    crash.ask_price = px("89.01");
    e.on_quote(&crash);
    assert_eq!(e.pnl(), Notional::parse("-1100").unwrap());
    assert_eq!(e.post_trade_breach(), Some(Reject::DailyLoss));
    assert_eq!(
        e.check(&mut order(2, AAPL, Side::Sell, 1, Some("89")), at(20)),
        Decision::Kill(Reject::DailyLoss)
    );
    assert!(e.kill_switch());
}

#[test]
fn message_rate_breach_is_severe() {
    let mut e = engine();
    let mut last = Decision::Accept;
    for n in 0..11 {
        let mut cancel = order(100 + n, AAPL, Side::Buy, 1, None);
        cancel.action = IntentAction::Cancel as u8;
        last = e.check(&mut cancel, at(i64::try_from(n).unwrap()));
    }
    assert_eq!(last, Decision::Kill(Reject::MessageRate));
    assert!(e.kill_switch());
}

#[test]
fn gross_exposure_counts_every_symbol() {
    let mut tight = limits();
    tight.max_gross_exposure = Notional::parse("25000").unwrap();
    let mut e = RiskEngine::new(tight, KEY);
    for (symbol, bid, ask) in [(AAPL, "99.99", "100.01"), (MSFT, "199.98", "200.02")] {
        let mut q = Quote::with_header(at(0), symbol);
        q.bid_price = px(bid);
        q.ask_price = px(ask);
        e.on_quote(&q);
    }
    assert_eq!(
        e.check(&mut order(1, AAPL, Side::Buy, 100, Some("100")), at(0)),
        Decision::Accept
    );
    assert_eq!(
        e.check(&mut order(2, MSFT, Side::Buy, 90, Some("200")), at(1)),
        Decision::Reject(Reject::GrossExposure)
    );
    assert_eq!(
        e.check(&mut order(3, MSFT, Side::Buy, 70, Some("200")), at(2)),
        Decision::Accept
    );
}

proptest! {
    /// Average-cost P&L equals cash-flow P&L: −Σ signed price × qty + position × mark.
    #[test]
    fn pnl_matches_cash_flow_accounting(fills in prop::collection::vec((any::<bool>(), 1i64..50, 9_000i64..11_000), 1..60), mark in 9_000i64..11_000) {
        let mut e = RiskEngine::new(limits(), KEY);
        let mut cash: i128 = 0;
        let mut position: i64 = 0;
        for (n, (buy, qty, cents)) in fills.into_iter().enumerate() {
            let side = if buy { Side::Buy } else { Side::Sell };
            let price = Price::from_raw(cents * 10_000_000);
            let mut f = fill(n as u64, AAPL, side, qty, "1", 0);
            f.price = price;
            e.on_fill(&f);
            let signed = if buy { qty } else { -qty };
            cash -= i128::from(signed) * i128::from(cents) * 10_000_000;
            position += signed;
        }
        let mark = Price::from_raw(mark * 10_000_000);
        let mut q = Quote::with_header(at(0), AAPL);
        q.bid_price = mark;
        q.ask_price = mark;
        e.on_quote(&q);
        let expected = cash + i128::from(position) * i128::from(mark.raw());
        prop_assert_eq!(e.position(AAPL), units(position));
        // Integer division when closing part of a position may round by a few 10⁻⁹ dollars.
        prop_assert!((i128::from(e.pnl().raw()) - expected).abs() <= 64, "{} vs {}", e.pnl().raw(), expected);
    }
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

/// Loses 1,100 (over the 1,000 limit) at `during`, then sees a quote at `same_day` (still that
/// New York date: the loss stands) and one at `next_day` (the next date: it counts from zero).
fn daily_loss_resets_at_new_york_midnight(during: &str, same_day: &str, next_day: &str) {
    let mut e = engine();
    let during = ts(during);
    assert!(e.roll_day(during), "the first event starts the first day");
    assert_eq!(e.trading_day(), Some(NyDate::of(during)));
    assert_eq!(
        e.check(&mut order(1, AAPL, Side::Buy, 100, Some("100")), during),
        Decision::Accept
    );
    e.on_fill(&fill(1, AAPL, Side::Buy, 100, "100.00", 0));
    let mark = |e: &mut RiskEngine, at: Timestamp, bid: &str, ask: &str| {
        let mut q = Quote::with_header(at, AAPL);
        q.ts_event = at;
        q.bid_price = px(bid);
        q.ask_price = px(ask);
        e.roll_day(q.ts_event);
        e.on_quote(&q);
    };
    mark(&mut e, during, "88.99", "89.01");
    assert_eq!(e.pnl(), Notional::parse("-1100").unwrap());
    assert_eq!(e.post_trade_breach(), Some(Reject::DailyLoss));

    let same_day = ts(same_day);
    assert!(
        !e.roll_day(same_day),
        "{same_day} is still the day of the loss"
    );
    assert_eq!(e.pnl(), Notional::parse("-1100").unwrap());
    assert_eq!(
        e.check(&mut order(2, AAPL, Side::Buy, 1, Some("89")), same_day),
        Decision::Kill(Reject::DailyLoss)
    );

    e.set_kill_switch(false);
    let next_day = ts(next_day);
    assert!(e.roll_day(next_day), "{next_day} begins a new day");
    assert_eq!(e.trading_day(), Some(NyDate(NyDate::of(during).0 + 1)));
    mark(&mut e, next_day, "88.49", "88.51");
    assert_eq!(
        e.pnl(),
        Notional::parse("-50").unwrap(),
        "only the new day's move counts"
    );
    assert_eq!(e.post_trade_breach(), None);
    assert_eq!(
        e.check(&mut order(3, AAPL, Side::Buy, 1, Some("88.5")), next_day),
        Decision::Accept
    );
    assert!(
        !e.roll_day(during),
        "a late event of the old day does not reopen it"
    );
    assert_eq!(e.pnl(), Notional::parse("-50").unwrap());
}

#[test]
fn the_daily_loss_limit_resets_on_each_new_york_date() {
    // Winter (EST): New York midnight is 05:00 UTC.
    daily_loss_resets_at_new_york_midnight(
        "2024-01-16T15:00:00Z",
        "2024-01-17T04:59:59.999999999Z",
        "2024-01-17T05:00:00Z",
    );
    // Summer (EDT): 04:00 UTC.
    daily_loss_resets_at_new_york_midnight(
        "2024-07-16T15:00:00Z",
        "2024-07-17T03:59:59Z",
        "2024-07-17T04:00:00Z",
    );
}

#[test]
fn the_daily_loss_limit_resets_at_midnight_across_the_clock_changes() {
    // Sunday 2024-03-10 springs forward: Monday begins at 04:00 UTC, an hour earlier than
    // Sunday did; 04:30 UTC is 00:30 EDT, a new day.
    daily_loss_resets_at_new_york_midnight(
        "2024-03-10T20:00:00Z",
        "2024-03-11T03:59:59Z",
        "2024-03-11T04:30:00Z",
    );
    // Sunday 2024-11-03 falls back: 04:30 UTC on Monday is still 23:30 EST on Sunday.
    daily_loss_resets_at_new_york_midnight(
        "2024-11-03T20:00:00Z",
        "2024-11-04T04:30:00Z",
        "2024-11-04T05:00:00Z",
    );
}
