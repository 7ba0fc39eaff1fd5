//! Order-by-order (L3) book: every resting order by id, with the price-level view kept in step.

use pyrt_types::{Price, Qty, Side};
use rustc_hash::FxHashMap;

use crate::BookError;
use crate::l2::{L2Book, Level};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestingOrder {
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
}

/// Orders by id plus their aggregation into levels, so top-of-book reads cost the same as on an L2
/// book.
#[derive(Debug, Clone, Default)]
pub struct L3Book {
    orders: FxHashMap<u64, RestingOrder>,
    levels: L2Book,
}

impl L3Book {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn with_capacity(orders: usize, levels: usize) -> Self {
        Self {
            orders: FxHashMap::with_capacity_and_hasher(orders, rustc_hash::FxBuildHasher),
            levels: L2Book::with_capacity(levels),
        }
    }

    pub fn add(&mut self, id: u64, side: Side, price: Price, qty: Qty) -> Result<(), BookError> {
        if qty.is_zero() || qty.is_negative() {
            return Err(BookError::NonPositiveSize { id });
        }
        if self.orders.contains_key(&id) {
            return Err(BookError::DuplicateOrder { id });
        }
        self.orders.insert(id, RestingOrder { side, price, qty });
        self.adjust(side, price, qty)
    }

    /// Changes an order's price and/or size; a size of zero deletes it.
    pub fn modify(&mut self, id: u64, price: Price, qty: Qty) -> Result<(), BookError> {
        if qty.is_negative() {
            return Err(BookError::NonPositiveSize { id });
        }
        if qty.is_zero() {
            return self.delete(id).map(|_| ());
        }
        let order = self
            .orders
            .get_mut(&id)
            .ok_or(BookError::UnknownOrder { id })?;
        let old = *order;
        order.price = price;
        order.qty = qty;
        let removed = old
            .qty
            .checked_neg()
            .map_err(|_| BookError::Inconsistent { id })?;
        self.adjust(old.side, old.price, removed)?;
        self.adjust(old.side, price, qty)
    }

    /// Removes an order (fully filled or canceled) and returns it.
    pub fn delete(&mut self, id: u64) -> Result<RestingOrder, BookError> {
        let order = self
            .orders
            .remove(&id)
            .ok_or(BookError::UnknownOrder { id })?;
        let removed = order
            .qty
            .checked_neg()
            .map_err(|_| BookError::Inconsistent { id })?;
        self.adjust(order.side, order.price, removed)?;
        Ok(order)
    }

    /// Reduces an order by an executed size, deleting it when nothing is left.
    pub fn execute(&mut self, id: u64, qty: Qty) -> Result<(), BookError> {
        let order = *self.orders.get(&id).ok_or(BookError::UnknownOrder { id })?;
        let left = order
            .qty
            .checked_sub(qty)
            .map_err(|_| BookError::Inconsistent { id })?;
        if left.is_negative() {
            return Err(BookError::Overfill { id });
        }
        self.modify(id, order.price, left)
    }

    fn adjust(&mut self, side: Side, price: Price, delta: Qty) -> Result<(), BookError> {
        if self.levels.adjust(side, price, delta) {
            Ok(())
        } else {
            Err(BookError::LevelUnderflow { side, price })
        }
    }

    #[must_use]
    pub fn order(&self, id: u64) -> Option<&RestingOrder> {
        self.orders.get(&id)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// The aggregated price-level view.
    #[must_use]
    pub fn levels(&self) -> &L2Book {
        &self.levels
    }

    #[must_use]
    pub fn best_bid(&self) -> Option<Level> {
        self.levels.best_bid()
    }

    #[must_use]
    pub fn best_ask(&self) -> Option<Level> {
        self.levels.best_ask()
    }

    pub fn clear(&mut self) {
        self.orders.clear();
        self.levels.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(units: i64) -> Price {
        Price::from_units(units).unwrap()
    }

    fn q(units: i64) -> Qty {
        Qty::from_units(units).unwrap()
    }

    #[test]
    fn orders_aggregate_into_levels() {
        let mut book = L3Book::new();
        book.add(1, Side::Buy, px(100), q(5)).unwrap();
        book.add(2, Side::Buy, px(100), q(3)).unwrap();
        book.add(3, Side::Sell, px(101), q(4)).unwrap();
        assert_eq!(
            book.best_bid(),
            Some(Level {
                price: px(100),
                qty: q(8)
            })
        );
        book.execute(1, q(2)).unwrap();
        assert_eq!(book.best_bid().unwrap().qty, q(6));
        book.modify(2, px(99), q(3)).unwrap();
        assert_eq!(
            book.best_bid(),
            Some(Level {
                price: px(100),
                qty: q(3)
            })
        );
        book.execute(1, q(3)).unwrap();
        assert_eq!(
            book.best_bid(),
            Some(Level {
                price: px(99),
                qty: q(3)
            })
        );
        assert_eq!(book.order(1), None);
        assert_eq!(book.delete(3).unwrap().qty, q(4));
        assert_eq!(book.best_ask(), None);
        assert_eq!(book.len(), 1);
    }

    #[test]
    fn bad_messages_are_errors_and_leave_the_book_unchanged() {
        let mut book = L3Book::new();
        book.add(1, Side::Sell, px(10), q(1)).unwrap();
        assert_eq!(
            book.add(1, Side::Sell, px(11), q(1)),
            Err(BookError::DuplicateOrder { id: 1 })
        );
        assert_eq!(book.delete(9), Err(BookError::UnknownOrder { id: 9 }));
        assert_eq!(
            book.modify(9, px(1), q(1)),
            Err(BookError::UnknownOrder { id: 9 })
        );
        assert_eq!(book.execute(1, q(2)), Err(BookError::Overfill { id: 1 }));
        assert_eq!(
            book.add(2, Side::Buy, px(9), Qty::ZERO),
            Err(BookError::NonPositiveSize { id: 2 })
        );
        assert_eq!(
            book.best_ask(),
            Some(Level {
                price: px(10),
                qty: q(1)
            })
        );
        assert_eq!(book.len(), 1);
    }
}
