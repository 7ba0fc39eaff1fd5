//! Price-level (L2) book.
//!
//! Each side is a vector of levels sorted so the best price is at the end. Real depth streams touch
//! the top of the book far more often than the back, so an update at or near the best is a short
//! scan from the end and an insert or delete there moves few elements; an update deep in the book
//! falls back to binary search. No allocation once a side has grown to its working depth.

use pyrt_types::{Price, Qty, Side};

/// Levels the linear scan from the best checks before switching to binary search. Measured with
/// `cargo bench -p pyrt-book`: small enough that a deep update is still logarithmic.
const SCAN_FROM_BEST: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub price: Price,
    pub qty: Qty,
}

/// One side of the book. `key` orders levels so that the best one is the largest: the price for
/// bids, the negated price for asks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ladder {
    keys: Vec<i64>,
    qtys: Vec<Qty>,
}

impl Ladder {
    fn with_capacity(levels: usize) -> Self {
        Self {
            keys: Vec::with_capacity(levels),
            qtys: Vec::with_capacity(levels),
        }
    }

    /// `Ok(index)` of the level with `key`, or `Err(index)` where it would be inserted.
    #[inline]
    fn find(&self, key: i64) -> Result<usize, usize> {
        let len = self.keys.len();
        let scan_end = len.saturating_sub(SCAN_FROM_BEST);
        let mut i = len;
        while i > scan_end {
            let k = self.keys[i - 1];
            if k == key {
                return Ok(i - 1);
            }
            if k < key {
                return Err(i);
            }
            i -= 1;
        }
        self.keys[..scan_end].binary_search(&key)
    }

    /// Sets the level's size; zero removes it. Returns the previous size (zero when absent).
    #[inline]
    fn set(&mut self, key: i64, qty: Qty) -> Qty {
        match self.find(key) {
            Ok(i) if qty.is_zero() => {
                self.keys.remove(i);
                self.qtys.remove(i)
            }
            Ok(i) => std::mem::replace(&mut self.qtys[i], qty),
            Err(_) if qty.is_zero() => Qty::ZERO,
            Err(i) => {
                self.keys.insert(i, key);
                self.qtys.insert(i, qty);
                Qty::ZERO
            }
        }
    }

    #[inline]
    fn best(&self) -> Option<(i64, Qty)> {
        Some((*self.keys.last()?, *self.qtys.last()?))
    }

    fn get(&self, key: i64) -> Qty {
        self.find(key).map_or(Qty::ZERO, |i| self.qtys[i])
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.qtys.clear();
    }

    /// Levels from the best outwards.
    fn iter(&self) -> impl Iterator<Item = (i64, Qty)> + '_ {
        self.keys
            .iter()
            .rev()
            .copied()
            .zip(self.qtys.iter().rev().copied())
    }
}

#[inline]
fn key(side: Side, price: Price) -> i64 {
    match side {
        Side::Buy => price.raw(),
        // Prices are never i64::MIN in practice; saturating keeps a hostile one from panicking.
        Side::Sell => price.raw().saturating_neg(),
    }
}

#[inline]
fn price(side: Side, key: i64) -> Price {
    match side {
        Side::Buy => Price::from_raw(key),
        Side::Sell => Price::from_raw(key.saturating_neg()),
    }
}

/// A price-level book: for each side, the total size resting at each price.
#[derive(Debug, Clone, Default)]
pub struct L2Book {
    bids: Ladder,
    asks: Ladder,
}

impl L2Book {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A book that will not allocate until a side exceeds `levels` levels.
    #[must_use]
    pub fn with_capacity(levels: usize) -> Self {
        Self {
            bids: Ladder::with_capacity(levels),
            asks: Ladder::with_capacity(levels),
        }
    }

    fn ladder(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Sets the size at a price level (absolute, as depth feeds send it); zero deletes the level.
    /// Returns the size the level had before.
    #[inline]
    pub fn set(&mut self, side: Side, price: Price, qty: Qty) -> Qty {
        self.ladder(side).set(key(side, price), qty)
    }

    /// Adds `delta` (which may be negative) to a level, removing it when it reaches zero; used by
    /// the L3 book, whose orders come and go individually. A result below zero is clamped to an
    /// empty level and reported as `false`.
    pub(crate) fn adjust(&mut self, side: Side, price: Price, delta: Qty) -> bool {
        let ladder = self.ladder(side);
        let k = key(side, price);
        let current = ladder.get(k);
        match current.checked_add(delta) {
            Ok(total) if !total.is_negative() => {
                ladder.set(k, total);
                true
            }
            _ => {
                ladder.set(k, Qty::ZERO);
                false
            }
        }
    }

    #[must_use]
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.best().map(|(k, qty)| Level {
            price: price(Side::Buy, k),
            qty,
        })
    }

    #[must_use]
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.best().map(|(k, qty)| Level {
            price: price(Side::Sell, k),
            qty,
        })
    }

    /// Size resting at `price` on `side` (zero when there is no such level).
    #[must_use]
    pub fn qty_at(&self, side: Side, price: Price) -> Qty {
        match side {
            Side::Buy => self.bids.get(key(side, price)),
            Side::Sell => self.asks.get(key(side, price)),
        }
    }

    /// Levels of one side from the best outwards.
    pub fn levels(&self, side: Side) -> impl Iterator<Item = Level> + '_ {
        let ladder = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        ladder.iter().map(move |(k, qty)| Level {
            price: price(side, k),
            qty,
        })
    }

    #[must_use]
    pub fn depth(&self, side: Side) -> usize {
        match side {
            Side::Buy => self.bids.len(),
            Side::Sell => self.asks.len(),
        }
    }

    /// Best bid at or above best ask: the book is inconsistent (a missed update) or the feed is
    /// mid-batch.
    #[must_use]
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(s: &str) -> Price {
        Price::parse(s).unwrap()
    }

    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }

    #[test]
    fn best_levels_follow_sets_and_deletes() {
        let mut book = L2Book::new();
        book.set(Side::Buy, px("100.1"), q("5"));
        book.set(Side::Buy, px("100.3"), q("1"));
        book.set(Side::Buy, px("99"), q("7"));
        book.set(Side::Sell, px("100.5"), q("2"));
        book.set(Side::Sell, px("100.4"), q("3"));
        assert_eq!(
            book.best_bid(),
            Some(Level {
                price: px("100.3"),
                qty: q("1")
            })
        );
        assert_eq!(
            book.best_ask(),
            Some(Level {
                price: px("100.4"),
                qty: q("3")
            })
        );
        assert_eq!(book.set(Side::Buy, px("100.3"), Qty::ZERO), q("1"));
        assert_eq!(book.best_bid().unwrap().price, px("100.1"));
        assert_eq!(book.set(Side::Sell, px("200"), Qty::ZERO), Qty::ZERO);
        let asks: Vec<_> = book.levels(Side::Sell).map(|l| l.price).collect();
        assert_eq!(asks, [px("100.4"), px("100.5")]);
        let bids: Vec<_> = book.levels(Side::Buy).map(|l| l.price).collect();
        assert_eq!(bids, [px("100.1"), px("99")]);
        assert!(!book.is_crossed());
        book.set(Side::Buy, px("100.4"), q("1"));
        assert!(book.is_crossed());
        book.clear();
        assert_eq!(book.best_bid(), None);
    }

    #[test]
    fn deep_updates_use_the_binary_search_path() {
        let mut book = L2Book::new();
        for i in 1..=100 {
            book.set(
                Side::Sell,
                Price::from_units(i).unwrap(),
                Qty::from_units(i).unwrap(),
            );
        }
        book.set(Side::Sell, Price::from_units(90).unwrap(), Qty::ZERO);
        book.set(Side::Sell, px("50.5"), q("1"));
        assert_eq!(book.depth(Side::Sell), 100);
        assert_eq!(book.qty_at(Side::Sell, px("50.5")), q("1"));
        assert_eq!(
            book.qty_at(Side::Sell, Price::from_units(90).unwrap()),
            Qty::ZERO
        );
        let prices: Vec<_> = book.levels(Side::Sell).map(|l| l.price).collect();
        assert!(prices.windows(2).all(|w| w[0] < w[1]));
    }
}
