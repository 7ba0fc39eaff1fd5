//! Price-level (L2) book.
//!
//! Each side keeps the levels around its best in a flat window of sizes indexed by tick offset
//! from a base price, with a two-level bitmap over the window to find the next level when the best
//! empties. Levels outside the window go to a sorted vector. Binance depth streams send most
//! updates within a few thousand ticks of the best yet keep levels hundreds of thousands of ticks
//! away, so a dense array over every price would not stay in cache while the window does, and
//! the few deep updates are a binary search over a short vector.
//!
//! Feeds do not state their tick size, so each side learns it as the greatest common divisor of the
//! distances between the prices it has held. A price off that grid refines it and rebuilds the
//! window; each refinement at least halves the tick, so that happens a few dozen times a side at
//! most. When the best drifts near an edge of the window the window is re-anchored around it.
//! Rebuilds cost O(levels) and are rare; an ordinary update is a multiply, a store and a bit flip,
//! and nothing allocates once the window exists and the sorted vector has its working depth.

use std::fmt;

use pyrt_types::{Price, Qty, Side};

/// Slots per side: 512 KiB of sizes, which stays in L2 cache, and on the recorded BTCUSDT streams
/// holds over 90 % of updates (`make bench-md` measured 2^16 against 2^15..2^18).
const WINDOW: usize = 1 << 16;
const WORDS: usize = WINDOW / 64;
const SUMMARY: usize = WORDS / 64;
/// Slots left above the best after re-anchoring, for the best to improve into before the next one.
const HEADROOM: usize = WINDOW / 8;
/// Re-anchor when the best comes this close to the top of the window...
const ANCHOR_HIGH: usize = WINDOW - HEADROOM / 4;
/// ...or falls this low, leaving most of the window above the best and little depth below it.
const ANCHOR_LOW: usize = WINDOW / 4;
/// Largest tick with `tick * WINDOW <= 2^62`, which keeps the slot arithmetic below exact: a key
/// below the base wraps to a quotient no slot has.
const MAX_TICK: u64 = 1 << (62 - WINDOW.trailing_zeros());

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub price: Price,
    pub qty: Qty,
}

/// Levels outside the window, keys ascending (best last). Holds only nonzero sizes.
#[derive(Debug, Clone, Default)]
struct Sparse {
    keys: Vec<i64>,
    qtys: Vec<Qty>,
}

impl Sparse {
    fn set(&mut self, key: i64, qty: Qty) -> Qty {
        match self.keys.binary_search(&key) {
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

    fn get(&self, key: i64) -> Qty {
        self.keys
            .binary_search(&key)
            .map_or(Qty::ZERO, |i| self.qtys[i])
    }

    fn best(&self) -> Option<(i64, Qty)> {
        Some((*self.keys.last()?, *self.qtys.last()?))
    }
}

/// One side of the book. `key` orders levels so that the best one is the largest: the price for
/// bids, the negated price for asks. Slot `i` of the window holds key `base + i * tick`.
///
/// Invariants: a key is in the window exactly when `slot(key) < slots`, and in `far` otherwise;
/// while the window holds a level, `far` holds none above it, so the best is the window's.
#[derive(Clone, Default)]
pub(crate) struct Ladder {
    base: i64,
    /// Zero until two distinct prices have been seen.
    tick: u64,
    /// `tick` as a key step (it is at most `MAX_TICK`).
    step: i64,
    /// Multiplicative inverse of tick's odd part modulo 2^64, and tick's trailing zeros: together
    /// they divide exactly by tick without a division instruction.
    inv: u64,
    shift: u32,
    /// `u64::MAX / tick`: a rotated product above it is a key off the grid.
    max_quotient: u64,
    /// `WINDOW` once the window is placed, zero before (so that every key misses it).
    slots: usize,
    /// The grid cannot be placed (a tick or prices at the edge of `i64`): everything stays in `far`.
    gridless: bool,
    /// The first price seen, from which the first tick is measured.
    anchor: Option<i64>,
    /// Raw sizes, zero for no level: a new window is zeroed memory, mapped lazily by the OS.
    qtys: Vec<i64>,
    /// One bit per slot holding a level, and one summary bit per nonzero word.
    words: Vec<u64>,
    summary: Vec<u64>,
    /// One plus the slot of the window's best level; zero when the window is empty.
    top: usize,
    count: usize,
    far: Sparse,
}

impl fmt::Debug for Ladder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ladder")
            .field("base", &self.base)
            .field("tick", &self.tick)
            .field("window_levels", &self.count)
            .field("far_levels", &self.far.keys.len())
            .field("best", &self.best())
            .finish_non_exhaustive()
    }
}

/// Euclid's algorithm; only on the rare path that refines a tick.
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Inverse of an odd number modulo 2^64: `3a XOR 2` is right in the low 5 bits and each Newton
/// step doubles that.
fn inverse(odd: u64) -> u64 {
    let mut x = odd.wrapping_mul(3) ^ 2;
    for _ in 0..4 {
        x = x.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(x)));
    }
    x
}

impl Ladder {
    fn with_capacity(levels: usize) -> Self {
        let mut ladder = Self {
            far: Sparse {
                keys: Vec::with_capacity(levels),
                qtys: Vec::with_capacity(levels),
            },
            ..Self::default()
        };
        ladder.allocate();
        ladder
    }

    fn allocate(&mut self) {
        if self.qtys.is_empty() {
            self.qtys = vec![0; WINDOW];
            self.words = vec![0; WORDS];
            self.summary = vec![0; SUMMARY];
        }
    }

    /// Exact division of `key - base` by the tick (Granlund and Montgomery): multiplying by the
    /// inverse of the odd part and rotating out the power of two gives the quotient when the key is
    /// on the grid at or above the base, and a value above `max_quotient` (so above every slot)
    /// when it is not.
    #[inline]
    fn slot(&self, key: i64) -> usize {
        let offset = key.wrapping_sub(self.base).cast_unsigned();
        let quotient = offset.wrapping_mul(self.inv).rotate_right(self.shift);
        usize::try_from(quotient).unwrap_or(usize::MAX)
    }

    fn on_grid(&self, key: i64) -> bool {
        key.abs_diff(self.base)
            .wrapping_mul(self.inv)
            .rotate_right(self.shift)
            <= self.max_quotient
    }

    #[inline]
    fn key_at(&self, slot: usize) -> i64 {
        // Slots are below WINDOW and keys of the window fit in i64 (checked when it is placed).
        #[allow(clippy::cast_possible_wrap)]
        let slot = slot as i64;
        self.base.wrapping_add(slot.wrapping_mul(self.step))
    }

    /// Sets the level's size; zero removes it. Returns the previous size (zero when absent).
    #[inline]
    fn set(&mut self, key: i64, qty: Qty) -> Qty {
        let slot = self.slot(key);
        if slot < self.slots {
            self.set_slot(slot, qty.raw())
        } else {
            self.set_far(key, qty)
        }
    }

    #[inline]
    fn set_slot(&mut self, slot: usize, qty: i64) -> Qty {
        let old = std::mem::replace(&mut self.qtys[slot], qty);
        if (old == 0) != (qty == 0) {
            if qty == 0 {
                self.unmark(slot);
            } else {
                self.mark(slot);
            }
        }
        Qty::from_raw(old)
    }

    #[inline]
    fn mark(&mut self, slot: usize) {
        let word = &mut self.words[slot / 64];
        if *word == 0 {
            self.summary[slot / 4096] |= 1 << ((slot / 64) % 64);
        }
        *word |= 1 << (slot % 64);
        self.count += 1;
        if slot >= self.top {
            self.top = slot + 1;
            if self.top > ANCHOR_HIGH {
                self.reanchor();
            }
        }
    }

    #[inline]
    fn unmark(&mut self, slot: usize) {
        let word = &mut self.words[slot / 64];
        *word &= !(1 << (slot % 64));
        if *word == 0 {
            self.summary[slot / 4096] &= !(1 << ((slot / 64) % 64));
        }
        self.count -= 1;
        if slot + 1 == self.top {
            self.top = self.highest_below(slot);
            if self.top <= ANCHOR_LOW && (self.top > 0 || !self.far.keys.is_empty()) {
                self.reanchor();
            }
        }
    }

    /// One plus the highest slot below `slot` holding a level, or zero.
    fn highest_below(&self, slot: usize) -> usize {
        let w = slot / 64;
        let bits = self.words[w] & ((1u64 << (slot % 64)) - 1);
        if bits != 0 {
            return w * 64 + 64 - bits.leading_zeros() as usize;
        }
        let mut s = w / 64;
        let mut mask = self.summary[s] & ((1u64 << (w % 64)) - 1);
        loop {
            if mask != 0 {
                let w = s * 64 + 63 - mask.leading_zeros() as usize;
                return w * 64 + 64 - self.words[w].leading_zeros() as usize;
            }
            if s == 0 {
                return 0;
            }
            s -= 1;
            mask = self.summary[s];
        }
    }

    /// A key outside the window: deep in the book, above the window (the best moved up past it),
    /// off the grid (the tick was not the feed's), or any key before the grid is known.
    #[inline(never)]
    fn set_far(&mut self, key: i64, qty: Qty) -> Qty {
        if !qty.is_zero() && !self.gridless && self.tick != 0 && !self.on_grid(key) {
            // Refined before the key goes in, so that `far` never holds a key inside the window
            // while it is drained. Off-grid keys are never held, so there is no old size; the key
            // is on the new grid (or the side gridless) and the second call does not come back.
            self.refine(key);
            return self.set(key, qty);
        }
        let old = self.far.set(key, qty);
        if self.gridless {
            return old;
        }
        if !qty.is_zero() {
            if self.tick == 0 {
                self.refine(key);
                return old;
            }
            if key > self.base {
                self.reanchor();
                return old;
            }
        }
        if self.top == 0 && self.slots > 0 && !self.far.keys.is_empty() {
            self.reanchor();
        }
        old
    }

    /// A nonzero size at `key`, which is off the grid: shrink the tick to cover it.
    #[cold]
    fn refine(&mut self, key: i64) {
        let tick = if self.tick == 0 {
            match self.anchor {
                None => {
                    self.anchor = Some(key);
                    return;
                }
                Some(anchor) if anchor == key => return,
                Some(anchor) => anchor.abs_diff(key),
            }
        } else {
            gcd(self.tick, self.base.abs_diff(key))
        };
        self.drain_window();
        if tick > MAX_TICK {
            self.go_gridless();
            return;
        }
        self.tick = tick;
        self.step = tick.cast_signed();
        self.shift = tick.trailing_zeros();
        self.inv = inverse(tick >> self.shift);
        self.max_quotient = u64::MAX / tick;
        self.allocate();
        self.place();
    }

    #[cold]
    fn reanchor(&mut self) {
        self.drain_window();
        self.place();
    }

    fn go_gridless(&mut self) {
        self.gridless = true;
        self.slots = 0;
    }

    /// Moves every window level into `far`, leaving the window empty. Window keys lie between
    /// `far`'s keys below the base and those above it, so they go in as one block.
    fn drain_window(&mut self) {
        if self.count == 0 {
            return;
        }
        let at = self.far.keys.partition_point(|&k| k < self.base);
        let old_len = self.far.keys.len();
        for s in 0..SUMMARY {
            let mut words = std::mem::take(&mut self.summary[s]);
            while words != 0 {
                let w = s * 64 + words.trailing_zeros() as usize;
                words &= words - 1;
                let mut bits = std::mem::take(&mut self.words[w]);
                while bits != 0 {
                    let slot = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    self.far.keys.push(self.key_at(slot));
                    self.far
                        .qtys
                        .push(Qty::from_raw(std::mem::take(&mut self.qtys[slot])));
                }
            }
        }
        let moved = self.far.keys.len() - old_len;
        self.far.keys[at..].rotate_right(moved);
        self.far.qtys[at..].rotate_right(moved);
        self.count = 0;
        self.top = 0;
    }

    /// Places the (empty) window so that the best level lands `HEADROOM` slots below its top, and
    /// moves the levels it covers in from `far`.
    fn place(&mut self) {
        let Some(&best) = self.far.keys.last() else {
            return;
        };
        // Both products are below 2^62 because tick <= MAX_TICK.
        #[allow(clippy::cast_possible_wrap)]
        let (below, span) = (
            (WINDOW - HEADROOM) as i64 * self.step,
            (WINDOW - 1) as i64 * self.step,
        );
        let Some(base) = best.checked_sub(below) else {
            self.go_gridless();
            return;
        };
        let Some(last) = base.checked_add(span) else {
            self.go_gridless();
            return;
        };
        self.base = base;
        self.slots = WINDOW;
        let lo = self.far.keys.partition_point(|&k| k < base);
        let hi = self.far.keys.partition_point(|&k| k <= last);
        let mut kept = lo;
        for i in lo..hi {
            let (key, qty) = (self.far.keys[i], self.far.qtys[i]);
            let slot = self.slot(key);
            if slot < WINDOW {
                self.qtys[slot] = qty.raw();
                self.words[slot / 64] |= 1 << (slot % 64);
                self.summary[slot / 4096] |= 1 << ((slot / 64) % 64);
                self.count += 1;
                self.top = self.top.max(slot + 1);
            } else {
                // Unreachable while every held key is on the grid; kept in order all the same.
                self.far.keys[kept] = key;
                self.far.qtys[kept] = qty;
                kept += 1;
            }
        }
        self.far.keys.drain(kept..hi);
        self.far.qtys.drain(kept..hi);
    }

    #[inline]
    fn best(&self) -> Option<(i64, Qty)> {
        if self.top > 0 {
            let slot = self.top - 1;
            Some((self.key_at(slot), Qty::from_raw(self.qtys[slot])))
        } else {
            self.far.best()
        }
    }

    fn get(&self, key: i64) -> Qty {
        let slot = self.slot(key);
        if slot < self.slots {
            Qty::from_raw(self.qtys[slot])
        } else {
            self.far.get(key)
        }
    }

    fn len(&self) -> usize {
        self.count + self.far.keys.len()
    }

    /// Empties the side but keeps the grid: a resynchronised feed comes back at the same prices.
    fn clear(&mut self) {
        for s in 0..SUMMARY.min(self.summary.len()) {
            let mut words = std::mem::take(&mut self.summary[s]);
            while words != 0 {
                let w = s * 64 + words.trailing_zeros() as usize;
                words &= words - 1;
                let mut bits = std::mem::take(&mut self.words[w]);
                while bits != 0 {
                    self.qtys[w * 64 + bits.trailing_zeros() as usize] = 0;
                    bits &= bits - 1;
                }
            }
        }
        self.count = 0;
        self.top = 0;
        self.far.keys.clear();
        self.far.qtys.clear();
    }

    /// Levels from the best outwards: `far` above the window (empty but for a gridless side, kept
    /// general), the window from its top, then `far` below the window.
    fn iter(&self) -> impl Iterator<Item = (i64, Qty)> + '_ {
        let split = if self.count > 0 {
            self.far.keys.partition_point(|&k| k < self.base)
        } else {
            self.far.keys.len()
        };
        let far = |range: std::ops::Range<usize>| {
            self.far.keys[range.clone()]
                .iter()
                .rev()
                .copied()
                .zip(self.far.qtys[range].iter().rev().copied())
        };
        let mut w = self.top.div_ceil(64);
        let mut bits = 0u64;
        let window = std::iter::from_fn(move || {
            while bits == 0 {
                w = w.checked_sub(1)?;
                bits = self.words[w];
            }
            let bit = 63 - bits.leading_zeros() as usize;
            bits &= !(1 << bit);
            let slot = w * 64 + bit;
            Some((self.key_at(slot), Qty::from_raw(self.qtys[slot])))
        });
        far(split..self.far.keys.len())
            .chain(window)
            .chain(far(0..split))
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

    /// Applies `ops` to a book and to a sorted map, checking the previous size, both bests after
    /// every step and every level at the end.
    fn check_against_model(ops: &[(Side, i64, i64)]) -> L2Book {
        use std::collections::BTreeMap;
        let mut book = L2Book::new();
        let mut bids = BTreeMap::new();
        let mut asks = BTreeMap::new();
        for (n, &(side, price, qty)) in ops.iter().enumerate() {
            let model = if side == Side::Buy {
                &mut bids
            } else {
                &mut asks
            };
            let before = if qty == 0 {
                model.remove(&price)
            } else {
                model.insert(price, qty)
            };
            let got = book.set(side, Price::from_raw(price), Qty::from_raw(qty));
            assert_eq!(got.raw(), before.unwrap_or(0), "op {n}: previous size");
            let level = |(&p, &q): (&i64, &i64)| Level {
                price: Price::from_raw(p),
                qty: Qty::from_raw(q),
            };
            assert_eq!(
                book.best_bid(),
                bids.iter().next_back().map(level),
                "op {n}"
            );
            assert_eq!(book.best_ask(), asks.iter().next().map(level), "op {n}");
        }
        let got: Vec<i64> = book.levels(Side::Buy).map(|l| l.price.raw()).collect();
        assert_eq!(got, bids.keys().rev().copied().collect::<Vec<_>>());
        let got: Vec<i64> = book.levels(Side::Sell).map(|l| l.price.raw()).collect();
        assert_eq!(got, asks.keys().copied().collect::<Vec<_>>());
        for (&p, &q) in &bids {
            assert_eq!(book.qty_at(Side::Buy, Price::from_raw(p)).raw(), q);
        }
        assert_eq!(book.depth(Side::Buy), bids.len());
        assert_eq!(book.depth(Side::Sell), asks.len());
        book
    }

    const TICK: i64 = 10_000_000;
    const MID: i64 = 60_000 * 1_000_000_000;
    #[allow(clippy::cast_possible_wrap)]
    const W: i64 = WINDOW as i64;

    #[test]
    fn an_empty_side_has_no_best_and_ignores_deletes() {
        let mut book = L2Book::new();
        assert_eq!(book.set(Side::Buy, px("100"), Qty::ZERO), Qty::ZERO);
        assert_eq!(book.best_bid(), None);
        assert_eq!(book.best_ask(), None);
        assert_eq!(book.depth(Side::Buy), 0);
        assert_eq!(book.levels(Side::Sell).count(), 0);
        assert_eq!(book.qty_at(Side::Sell, px("100")), Qty::ZERO);
        book.set(Side::Sell, px("101"), q("1"));
        book.set(Side::Sell, px("101.5"), q("2"));
        book.set(Side::Sell, px("101"), Qty::ZERO);
        book.set(Side::Sell, px("101.5"), Qty::ZERO);
        assert_eq!(book.best_ask(), None);
        assert_eq!(book.best_bid(), None);
        assert_eq!(book.levels(Side::Sell).count(), 0);
        assert!(!book.is_crossed());
    }

    #[test]
    fn removing_the_best_finds_the_next_level_across_words() {
        // Gaps of 1, 63, 64, 65, 4095, 4097 and 20 000 ticks cross bitmap words and summary words.
        let mut offsets = vec![0i64];
        for gap in [1, 63, 64, 65, 4095, 4097, 20_000] {
            offsets.push(offsets.last().unwrap() - gap);
        }
        let mut ops = Vec::new();
        for &o in &offsets {
            ops.push((Side::Buy, MID + o * TICK, 1 + o.abs()));
            ops.push((Side::Sell, MID + TICK - o * TICK, 1 + o.abs()));
        }
        for &o in &offsets {
            ops.push((Side::Buy, MID + o * TICK, 0));
            ops.push((Side::Sell, MID + TICK - o * TICK, 0));
        }
        let book = check_against_model(&ops);
        assert_eq!(book.best_bid(), None);
    }

    #[test]
    fn deep_levels_outside_the_window_stay_in_order() {
        let mut ops = Vec::new();
        for k in 0..50 {
            ops.push((Side::Buy, MID - k * TICK, k + 1));
            ops.push((Side::Sell, MID + (k + 1) * TICK, k + 1));
        }
        // Beyond the window on both sides, some beyond twice its width.
        for k in [W, W + 1, 2 * W, 3 * W + 7, 10 * W] {
            ops.push((Side::Buy, MID - k * TICK, 5));
            ops.push((Side::Sell, MID + k * TICK, 5));
        }
        ops.push((Side::Buy, MID - 2 * W * TICK, 9));
        ops.push((Side::Sell, MID + (W + 1) * TICK, 0));
        // Empty the window: the best is then a deep level, which the window moves to.
        for k in 0..50 {
            ops.push((Side::Buy, MID - k * TICK, 0));
            ops.push((Side::Sell, MID + (k + 1) * TICK, 0));
        }
        ops.push((Side::Buy, MID - W * TICK, 0));
        ops.push((Side::Buy, MID - (W + 2) * TICK, 3));
        check_against_model(&ops);
    }

    #[test]
    fn the_window_follows_a_trending_price() {
        let mut ops = Vec::new();
        // A book ten levels deep walking up three windows, then back down below where it started;
        // each step adds a level at the new best and drops the deepest.
        let steps = 3 * W / 100;
        for k in 0..10 {
            ops.push((Side::Buy, MID - k * TICK, 1));
            ops.push((Side::Sell, MID + (k + 1) * TICK, 1));
        }
        let mut best = MID;
        for dir in [1, -1] {
            for _ in 0..steps * if dir == 1 { 1 } else { 2 } {
                let next = best + dir * 100 * TICK;
                if dir == 1 {
                    ops.push((Side::Sell, next + TICK, 2));
                    ops.push((Side::Buy, next, 2));
                    ops.push((Side::Buy, best - 9 * TICK, 0));
                    ops.push((Side::Sell, best + TICK, 0));
                } else {
                    ops.push((Side::Buy, next, 2));
                    ops.push((Side::Buy, best, 0));
                    ops.push((Side::Sell, next + TICK, 2));
                }
                best = next;
            }
        }
        check_against_model(&ops);
    }

    #[test]
    fn a_jump_past_the_window_becomes_the_best() {
        let mut ops = Vec::new();
        for k in 0..20 {
            ops.push((Side::Buy, MID - k * TICK, 1));
            ops.push((Side::Sell, MID + (k + 1) * TICK, 1));
        }
        ops.push((Side::Buy, MID + 5 * W * TICK, 4));
        ops.push((Side::Sell, MID - 5 * W * TICK, 4));
        ops.push((Side::Buy, MID + 5 * W * TICK - TICK, 3));
        ops.push((Side::Buy, MID + 5 * W * TICK, 0));
        ops.push((Side::Sell, MID - 5 * W * TICK, 0));
        check_against_model(&ops);
    }

    #[test]
    fn the_tick_is_learned_and_refined_by_off_grid_prices() {
        let p = |s: &str| px(s).raw();
        let ops = [
            (Side::Buy, p("100"), 1),
            (Side::Buy, p("99.5"), 2),
            (Side::Buy, p("99.7"), 3),
            (Side::Buy, p("99.65"), 4),
            (Side::Buy, p("99.651"), 0),
            (Side::Buy, p("99.6500001"), 5),
            (Side::Buy, p("100.0000001"), 6),
            (Side::Buy, p("100.0000001"), 0),
            (Side::Buy, p("100"), 0),
            (Side::Sell, p("101"), 1),
            (Side::Sell, p("101"), 2),
            (Side::Sell, p("100.8"), 3),
            (Side::Sell, p("100.81"), 3),
        ];
        let book = check_against_model(&ops);
        assert_eq!(book.best_bid().unwrap().price, px("99.7"));
        assert_eq!(book.best_ask().unwrap().price, px("100.8"));
    }

    #[test]
    fn prices_at_the_edges_of_i64_fall_back_to_the_sorted_levels() {
        let ops = [
            (Side::Buy, i64::MAX, 1),
            (Side::Buy, i64::MAX - 1, 2),
            (Side::Buy, 1, 3),
            (Side::Buy, -i64::MAX, 4),
            (Side::Buy, 0, 5),
            (Side::Buy, i64::MAX - 1, 0),
            (Side::Sell, -i64::MAX, 1),
            (Side::Sell, i64::MAX, 2),
            (Side::Sell, i64::MAX / 3, 2),
            (Side::Sell, -i64::MAX, 0),
        ];
        check_against_model(&ops);
    }

    #[test]
    fn clear_keeps_the_grid_and_the_book_rebuilds_elsewhere() {
        let mut book = L2Book::with_capacity(16);
        for k in 0..100 {
            book.set(Side::Buy, Price::from_raw(MID - k * TICK), q("1"));
        }
        book.clear();
        assert_eq!(book.best_bid(), None);
        assert_eq!(book.depth(Side::Buy), 0);
        let far = MID - 4 * W * TICK;
        book.set(Side::Buy, Price::from_raw(far), q("2"));
        book.set(Side::Buy, Price::from_raw(far - TICK), q("3"));
        assert_eq!(book.best_bid().unwrap().price.raw(), far);
        book.set(Side::Buy, Price::from_raw(far), Qty::ZERO);
        assert_eq!(book.best_bid().unwrap().price.raw(), far - TICK);
        assert_eq!(book.qty_at(Side::Buy, Price::from_raw(MID)), Qty::ZERO);
        let levels: Vec<_> = book.levels(Side::Buy).collect();
        assert_eq!(levels.len(), 1);
    }
}
