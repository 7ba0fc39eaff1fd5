//! Top of book per symbol, indexed by `SymbolId`: what the equity (NBBO quote) feeds provide.

use pyrt_types::{Quote, SymbolId};

/// The latest quote of every symbol; a symbol with no quote yet reads as `None`.
#[derive(Debug, Clone, Default)]
pub struct L1Books {
    quotes: Vec<Option<Quote>>,
}

impl L1Books {
    /// Room for `symbols` ids, so updates never allocate.
    #[must_use]
    pub fn with_symbols(symbols: usize) -> Self {
        Self {
            quotes: vec![None; symbols],
        }
    }

    /// Stores the quote; returns `false` (and stores nothing) for an id outside the table, which
    /// means the feed sent a symbol the config did not list.
    #[inline]
    pub fn update(&mut self, quote: &Quote) -> bool {
        match self.quotes.get_mut(quote.header.symbol.0 as usize) {
            Some(slot) => {
                *slot = Some(*quote);
                true
            }
            None => false,
        }
    }

    #[must_use]
    pub fn get(&self, symbol: SymbolId) -> Option<&Quote> {
        self.quotes.get(symbol.0 as usize)?.as_ref()
    }

    /// Drops a symbol's quote (after a gap: downstream must not trade on it).
    pub fn invalidate(&mut self, symbol: SymbolId) {
        if let Some(slot) = self.quotes.get_mut(symbol.0 as usize) {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyrt_types::{Price, Timestamp};

    #[test]
    fn quotes_are_kept_per_symbol_and_unknown_ids_refused() {
        let mut books = L1Books::with_symbols(2);
        let mut quote = Quote::with_header(Timestamp::EPOCH, SymbolId(1));
        quote.bid_price = Price::from_units(10).unwrap();
        assert!(books.update(&quote));
        assert_eq!(
            books.get(SymbolId(1)).unwrap().bid_price,
            Price::from_units(10).unwrap()
        );
        assert!(books.get(SymbolId(0)).is_none());
        books.invalidate(SymbolId(1));
        assert!(books.get(SymbolId(1)).is_none());
        let stray = Quote::with_header(Timestamp::EPOCH, SymbolId(7));
        assert!(!books.update(&stray));
    }
}
