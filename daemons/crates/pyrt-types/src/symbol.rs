//! Symbol interning: names become dense `u32` ids so events stay fixed-size and lookups stay cheap.
//!
//! Every daemon builds its table from the same validated config, in the same order, so an id means
//! the same symbol in every process without any shared-memory string table.

use std::fmt;

use bytemuck::{Pod, Zeroable};
use rustc_hash::FxHashMap;

/// Longest symbol accepted; Alpaca equities are at most a few characters, crypto pairs like
/// "BTC/USD" a few more.
pub const MAX_SYMBOL_LEN: usize = 16;

/// Dense id of an interned symbol.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Pod, Zeroable)]
#[repr(transparent)]
pub struct SymbolId(pub u32);

impl fmt::Debug for SymbolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SymbolId({})", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    #[error("symbol is empty")]
    Empty,
    #[error("symbol {0:?} is longer than {MAX_SYMBOL_LEN} bytes")]
    TooLong(String),
    #[error("symbol {0:?} has a character outside A-Z, 0-9, '.', '/', '-'")]
    InvalidChar(String),
    #[error("symbol table is full")]
    Full,
}

/// Validates a symbol name: upper-case ASCII letters, digits, '.', '/' and '-'.
pub fn validate_symbol(name: &str) -> Result<(), SymbolError> {
    if name.is_empty() {
        return Err(SymbolError::Empty);
    }
    if name.len() > MAX_SYMBOL_LEN {
        return Err(SymbolError::TooLong(name.to_owned()));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"./-".contains(&b))
    {
        return Err(SymbolError::InvalidChar(name.to_owned()));
    }
    Ok(())
}

/// Bidirectional map between symbol names and ids, ids assigned densely from 0 in insertion order.
#[derive(Debug, Default, Clone)]
#[cfg_attr(feature = "python", pyo3::pyclass(module = "pyrt._core"))]
pub struct SymbolTable {
    ids: FxHashMap<Box<str>, SymbolId>,
    names: Vec<Box<str>>,
}

impl SymbolTable {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a table from names in order; the same list always gives the same ids.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, SymbolError> {
        let mut table = Self::new();
        for name in names {
            table.intern(name)?;
        }
        Ok(table)
    }

    /// The id of `name`, assigning the next free one if it is new.
    pub fn intern(&mut self, name: &str) -> Result<SymbolId, SymbolError> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        validate_symbol(name)?;
        let id = SymbolId(u32::try_from(self.names.len()).map_err(|_| SymbolError::Full)?);
        self.ids.insert(name.into(), id);
        self.names.push(name.into());
        Ok(id)
    }

    /// The id of an already interned name; never allocates (the hot path uses this).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<SymbolId> {
        self.ids.get(name).copied()
    }

    #[must_use]
    pub fn name(&self, id: SymbolId) -> Option<&str> {
        self.names.get(id.0 as usize).map(AsRef::as_ref)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(AsRef::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_dense_stable_and_idempotent() {
        let mut table = SymbolTable::from_names(["AAPL", "MSFT", "BTC/USD"]).unwrap();
        assert_eq!(table.get("MSFT"), Some(SymbolId(1)));
        assert_eq!(table.intern("AAPL").unwrap(), SymbolId(0));
        assert_eq!(table.intern("BRK.B").unwrap(), SymbolId(3));
        assert_eq!(table.name(SymbolId(2)), Some("BTC/USD"));
        assert_eq!(table.name(SymbolId(9)), None);
        assert_eq!(table.len(), 4);
        assert_eq!(
            table.names().collect::<Vec<_>>(),
            ["AAPL", "MSFT", "BTC/USD", "BRK.B"]
        );
    }

    #[test]
    fn rejects_malformed_names() {
        let mut table = SymbolTable::new();
        assert_eq!(table.intern(""), Err(SymbolError::Empty));
        assert!(matches!(
            table.intern("aapl"),
            Err(SymbolError::InvalidChar(_))
        ));
        assert!(matches!(
            table.intern("A B"),
            Err(SymbolError::InvalidChar(_))
        ));
        assert!(matches!(
            table.intern("ABCDEFGHIJKLMNOPQ"),
            Err(SymbolError::TooLong(_))
        ));
        assert!(table.is_empty());
    }
}
