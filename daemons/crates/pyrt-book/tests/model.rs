//! Books against a plain `BTreeMap` model under random operation sequences.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use pyrt_book::{L2Book, L3Book, Level};
use pyrt_types::{Price, Qty, Side};

fn side(buy: bool) -> Side {
    if buy { Side::Buy } else { Side::Sell }
}

fn best(model: &BTreeMap<i64, i64>, side: Side) -> Option<Level> {
    let entry = match side {
        Side::Buy => model.iter().next_back(),
        Side::Sell => model.iter().next(),
    };
    entry.map(|(&p, &q)| Level {
        price: Price::from_raw(p),
        qty: Qty::from_raw(q),
    })
}

proptest! {
    #[test]
    fn l2_matches_a_sorted_map(ops in prop::collection::vec((any::<bool>(), 0i64..60, 0i64..4), 1..400)) {
        let mut book = L2Book::new();
        let mut model: [BTreeMap<i64, i64>; 2] = [BTreeMap::new(), BTreeMap::new()];
        for (buy, tick, lots) in ops {
            let s = side(buy);
            let price = Price::from_raw(1_000_000_000 + tick * 10_000_000);
            let qty = Qty::from_raw(lots * 1_000_000);
            let m = &mut model[usize::from(buy)];
            let before = m.get(&price.raw()).copied().unwrap_or(0);
            if lots == 0 { m.remove(&price.raw()); } else { m.insert(price.raw(), qty.raw()); }
            prop_assert_eq!(book.set(s, price, qty).raw(), before);
            prop_assert_eq!(book.best_bid(), best(&model[1], Side::Buy));
            prop_assert_eq!(book.best_ask(), best(&model[0], Side::Sell));
        }
        let asks: Vec<i64> = book.levels(Side::Sell).map(|l| l.price.raw()).collect();
        prop_assert_eq!(asks, model[0].keys().copied().collect::<Vec<_>>());
        let bids: Vec<i64> = book.levels(Side::Buy).map(|l| l.price.raw()).collect();
        prop_assert_eq!(bids, model[1].keys().rev().copied().collect::<Vec<_>>());
    }

    /// Prices that stay near the best, jump past the window of the fast path, and sometimes fall
    /// off the price grid the book has learned so far.
    #[test]
    fn l2_matches_a_sorted_map_over_wide_and_irregular_prices(on_grid in any::<bool>(), ops in prop::collection::vec((
        any::<bool>(),
        prop_oneof![8 => -60i64..60, 2 => -400_000i64..400_000],
        prop_oneof![9 => Just(0i64), 1 => 1i64..10_000_000],
        0i64..4,
    ), 1..400)) {
        let mut book = L2Book::new();
        let mut model: [BTreeMap<i64, i64>; 2] = [BTreeMap::new(), BTreeMap::new()];
        for (buy, tick, off_grid, lots) in ops {
            let s = side(buy);
            let off_grid = if on_grid { 0 } else { off_grid };
            let price = Price::from_raw(60_000_000_000_000 + tick * 10_000_000 + off_grid);
            let qty = Qty::from_raw(lots * 1_000_000);
            let m = &mut model[usize::from(buy)];
            let before = m.get(&price.raw()).copied().unwrap_or(0);
            if lots == 0 { m.remove(&price.raw()); } else { m.insert(price.raw(), qty.raw()); }
            prop_assert_eq!(book.set(s, price, qty).raw(), before);
            prop_assert_eq!(book.best_bid(), best(&model[1], Side::Buy));
            prop_assert_eq!(book.best_ask(), best(&model[0], Side::Sell));
        }
        let asks: Vec<i64> = book.levels(Side::Sell).map(|l| l.price.raw()).collect();
        prop_assert_eq!(asks, model[0].keys().copied().collect::<Vec<_>>());
        let bids: Vec<i64> = book.levels(Side::Buy).map(|l| l.price.raw()).collect();
        prop_assert_eq!(bids, model[1].keys().rev().copied().collect::<Vec<_>>());
        for (i, m) in model.iter().enumerate() {
            let s = side(i == 1);
            prop_assert_eq!(book.depth(s), m.len());
            for (&p, &q) in m {
                prop_assert_eq!(book.qty_at(s, Price::from_raw(p)).raw(), q);
            }
        }
    }

    #[test]
    fn l3_levels_equal_the_sum_of_live_orders(ops in prop::collection::vec((0u64..30, any::<bool>(), 0i64..20, 0i64..5), 1..300)) {
        let mut book = L3Book::new();
        let mut live: HashMap<u64, (Side, i64, i64)> = HashMap::new();
        for (id, buy, tick, lots) in ops {
            let price = Price::from_raw(tick * 1_000_000_000);
            let qty = Qty::from_raw(lots);
            let result = if live.contains_key(&id) {
                book.modify(id, price, qty)
            } else {
                book.add(id, side(buy), price, qty)
            };
            match (live.get(&id).copied(), lots) {
                (Some(_), 0) => { prop_assert!(result.is_ok()); live.remove(&id); }
                (Some((s, _, _)), _) => { prop_assert!(result.is_ok()); live.insert(id, (s, tick, lots)); }
                (None, 0) => prop_assert!(result.is_err()),
                (None, _) => { prop_assert!(result.is_ok()); live.insert(id, (side(buy), tick, lots)); }
            }
        }
        let mut expected = L2Book::new();
        let mut sums: HashMap<(bool, i64), i64> = HashMap::new();
        for &(s, tick, lots) in live.values() {
            *sums.entry((s == Side::Buy, tick)).or_default() += lots;
        }
        for (&(buy, tick), &lots) in &sums {
            expected.set(side(buy), Price::from_raw(tick * 1_000_000_000), Qty::from_raw(lots));
        }
        for s in [Side::Buy, Side::Sell] {
            let got: Vec<Level> = book.levels().levels(s).collect();
            let want: Vec<Level> = expected.levels(s).collect();
            prop_assert_eq!(got, want);
        }
        prop_assert_eq!(book.len(), live.len());
    }
}
