//! The backtest core end to end in Rust: accounting, trades, risk, sweeps, refusals.

use std::sync::Arc;

use proptest::prelude::*;
use pyrt_backtest::{
    Backtest, BacktestConfig, BarColumns, Bars, Ctx, DataError, MarketData, OrderState, SmaCross,
    Strategy, StrategyResult, sweep,
};
use pyrt_fill::BarPrices;
use pyrt_risk::{KillOn, RiskLimits, SymbolLimits};
use pyrt_types::{Notional, Qty, Side, SymbolId};

const DAY: i64 = 86_400_000_000_000;

fn q(units: i64) -> Qty {
    Qty::from_units(units).unwrap()
}

/// Bars around `closes`: open = previous close, range 1 % beyond both.
fn market(closes: &[f64]) -> Arc<MarketData> {
    let n = closes.len();
    let ts: Vec<i64> = (1..=i64::try_from(n).unwrap()).map(|d| d * DAY).collect();
    let close: Vec<f64> = closes.iter().map(|c| (c * 100.0).round() / 100.0).collect();
    let open: Vec<f64> = std::iter::once(close[0])
        .chain(close[..n - 1].iter().copied())
        .collect();
    let high: Vec<f64> = open
        .iter()
        .zip(&close)
        .map(|(o, c)| (o.max(*c) * 101.0).round() / 100.0)
        .collect();
    let low: Vec<f64> = open
        .iter()
        .zip(&close)
        .map(|(o, c)| (o.min(*c) * 99.0).round() / 100.0)
        .collect();
    let volume = vec![1e6; n];
    let bars = Bars::from_columns(
        "XYZ",
        &BarColumns {
            ts: &ts,
            open: &open,
            high: &high,
            low: &low,
            close: &close,
            volume: &volume,
            session: None,
            dividend: None,
            split: None,
        },
    )
    .unwrap();
    let mut data = MarketData::new();
    data.add_bars("XYZ", bars).unwrap();
    data.build_timeline().unwrap();
    Arc::new(data)
}

/// Buys or sells on scripted bars and checks equity = cash + position × close on every bar.
struct Script {
    steps: Vec<(usize, Side, i64)>,
    violations: usize,
}

impl Strategy for Script {
    fn on_bar(
        &mut self,
        ctx: &mut Ctx,
        symbol: SymbolId,
        bar: &BarPrices,
        index: usize,
    ) -> StrategyResult {
        let marked = ctx
            .cash()
            .saturating_add(bar.close.checked_notional(ctx.position(symbol)).unwrap());
        if marked != ctx.equity() {
            self.violations += 1;
        }
        for &(at, side, units) in &self.steps {
            if at == index {
                ctx.market(symbol, side, q(units));
            }
        }
        Ok(())
    }
}

#[test]
fn round_trips_are_matched_first_in_first_out_with_their_fees() {
    let data = market(&[10.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]);
    let mut config = BacktestConfig::default();
    config.fill.fees.bps = 10;
    let mut strategy = Script {
        // Opens are the previous closes: buy 10 at 10 (bar 1), 10 at 10 (bar 2), sell 15 at 12
        // (bar 4), 5 at 13 (bar 5).
        steps: vec![
            (0, Side::Buy, 10),
            (1, Side::Buy, 10),
            (3, Side::Sell, 15),
            (4, Side::Sell, 5),
        ],
        violations: 0,
    };
    let mut backtest = Backtest::new(data, config);
    backtest.run(&mut strategy).unwrap();
    assert_eq!(strategy.violations, 0);
    let trades = backtest.portfolio().trades();
    let shape: Vec<(i64, String, String)> = trades
        .iter()
        .map(|t| {
            (
                t.qty.raw() / 1_000_000_000,
                t.entry_price.to_string(),
                t.exit_price.to_string(),
            )
        })
        .collect();
    let expected = [(10, "10", "12"), (5, "10", "12"), (5, "10", "13")];
    assert_eq!(
        shape,
        expected.map(|(n, a, b)| (n, a.to_owned(), b.to_owned()))
    );
    // 10 × (12 − 10) − fees (10 bps of 100 in, 10 bps of 10/15 of 180 out).
    assert_eq!(trades[0].pnl.to_string(), "19.78");
    let summary = backtest.summary();
    assert_eq!(summary.fills, 4);
    assert_eq!(summary.closed_trades, 3);
    // Flat at the end: equity is cash, and cash is the initial cash plus the trades' P&L.
    let pnl = trades
        .iter()
        .fold(Notional::ZERO, |a, t| a.saturating_add(t.pnl));
    assert_eq!(
        backtest.portfolio().cash(),
        BacktestConfig::default().initial_cash.saturating_add(pnl)
    );
}

#[test]
fn the_risk_gate_refuses_what_the_limits_forbid_and_counts_it() {
    let data = market(&[10.0; 6]);
    let limits = RiskLimits {
        symbols: vec![Some(SymbolLimits {
            max_order_qty: q(100),
            max_order_notional: Notional::from_raw(5_000 * 1_000_000_000),
            max_position: q(150),
        })],
        max_gross_exposure: Notional::from_raw(1_000_000 * 1_000_000_000),
        max_net_exposure: Notional::from_raw(1_000_000 * 1_000_000_000),
        daily_loss_limit: Notional::from_raw(1_000 * 1_000_000_000),
        max_open_orders: 10,
        max_orders_per_second: 10,
        max_messages_per_second: 10,
        price_collar_bps: 500,
        max_quote_age_ns: DAY,
        duplicate_window_ns: 0,
        kill_on: KillOn::default(),
    };
    let config = BacktestConfig {
        risk: Some(limits),
        ..BacktestConfig::default()
    };
    let mut strategy = Script {
        steps: vec![
            (0, Side::Buy, 200),
            (1, Side::Buy, 100),
            (2, Side::Buy, 100),
        ],
        violations: 0,
    };
    let mut backtest = Backtest::new(data, config);
    backtest.run(&mut strategy).unwrap();
    let states: Vec<OrderState> = backtest.orders().iter().map(|o| o.state).collect();
    assert!(matches!(
        states[..],
        [
            OrderState::Rejected(_),
            OrderState::Filled,
            OrderState::Rejected(_)
        ]
    ));
    assert_eq!(backtest.rejects(), [("order_qty", 1), ("position", 1)]);
}

#[test]
fn a_sweep_equals_the_same_backtests_run_one_by_one() {
    let closes: Vec<f64> = (0..400)
        .map(|i| 100.0 + 10.0 * (f64::from(i) / 15.0).sin())
        .collect();
    let data = market(&closes);
    let config = BacktestConfig::default();
    let grid: Vec<(usize, usize)> = vec![(3, 10), (5, 20), (8, 30), (2, 40), (10, 50)];
    let make = |&(fast, slow): &(usize, usize)| {
        SmaCross::new(SymbolId(0), fast, slow, q(10), true)
            .map_err(|e| pyrt_backtest::StrategyError(e.to_string()))
    };
    let swept = sweep(&data, &config, &grid, 2, make).unwrap();
    for result in &swept {
        let mut single = Backtest::new(Arc::clone(&data), config.clone());
        single.run(&mut make(&result.params).unwrap()).unwrap();
        assert_eq!(single.summary().final_equity, result.summary.final_equity);
        assert_eq!(single.summary().fills, result.summary.fills);
        assert!(result.summary.fills > 0);
    }
}

#[test]
fn bad_columns_are_refused_with_row_and_rule() {
    let columns = |ts: &'static [i64], close: &'static [f64]| BarColumns {
        ts,
        open: close,
        high: close,
        low: close,
        close,
        volume: &[0.0, 0.0, 0.0],
        session: None,
        dividend: None,
        split: None,
    };
    let err = Bars::from_columns("X", &columns(&[1, 2, 2], &[1.0, 1.0, 1.0])).unwrap_err();
    assert!(matches!(err, DataError::Unsorted { row: 2, .. }), "{err}");
    let err = Bars::from_columns("X", &columns(&[1, 2, 3], &[1.0, f64::NAN, 1.0])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "X: row 1: open = NaN (not a finite number)"
    );
    let err = Bars::from_columns("X", &columns(&[1, 2, 3], &[1.0, 0.0, 1.0])).unwrap_err();
    assert!(err.to_string().contains("must be positive"));
    let err = Bars::from_columns("X", &columns(&[1, 2, 3], &[1.0, 1e10, 1.0])).unwrap_err();
    assert!(
        err.to_string().contains("beyond the fixed-point range"),
        "{err}"
    );
    assert!(matches!(
        MarketData::new().build_timeline(),
        Err(DataError::Empty)
    ));
}

#[test]
fn float_noise_rounds_to_the_nanodollar_grid() {
    let noisy = 100.0 + 0.044_558; // 100.04455800000001 in binary
    let bars = Bars::from_columns(
        "X",
        &BarColumns {
            ts: &[1],
            open: &[noisy],
            high: &[noisy],
            low: &[noisy],
            close: &[noisy],
            volume: &[0.0],
            session: None,
            dividend: None,
            split: None,
        },
    )
    .unwrap();
    assert_eq!(bars.bars[0].close.to_string(), "100.044558");
}

proptest! {
    /// Whatever the market and the orders, cash plus the marked position is the equity on every
    /// bar, and the cash change is minus the fills' signed notional and fees.
    #[test]
    fn equity_is_cash_plus_marked_positions(
        returns in prop::collection::vec(-0.05f64..0.05, 5..80),
        steps in prop::collection::vec((0usize..80, any::<bool>(), 1i64..50), 0..20),
    ) {
        let closes: Vec<f64> = returns.iter().scan(100.0, |p, r| { *p *= 1.0 + r; Some(*p) }).collect();
        let data = market(&closes);
        let mut config = BacktestConfig::default();
        config.fill.fees.bps = 5;
        let mut strategy = Script {
            steps: steps.iter().map(|&(at, buy, n)| (at, if buy { Side::Buy } else { Side::Sell }, n)).collect(),
            violations: 0,
        };
        let mut backtest = Backtest::new(data, config.clone());
        backtest.run(&mut strategy).unwrap();
        prop_assert_eq!(strategy.violations, 0);
        let flow = backtest.fills().iter().fold(Notional::ZERO, |cash, f| {
            let value = f.price.checked_notional(f.qty).unwrap();
            match f.side {
                Side::Buy => cash.saturating_sub(value),
                Side::Sell => cash.saturating_add(value),
            }
            .saturating_sub(f.fee)
        });
        prop_assert_eq!(backtest.portfolio().cash(), config.initial_cash.saturating_add(flow));
        prop_assert!(backtest.fills().iter().all(|f| f.fee.raw() > 0));
    }
}
