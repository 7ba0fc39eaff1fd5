//! Order books for the market-data daemon, the simulator and the backtester.
//!
//! [`L1Books`] keeps the latest quote per symbol (Alpaca's equity feeds carry only the NBBO).
//! [`L2Book`] keeps price levels and [`L3Book`] individual orders, for feeds that carry depth (the
//! crypto order-book stream, replayed depth recordings). [`DepthSync`] decides which diffs of a
//! snapshot-plus-diff stream apply, so a book is never built across a lost update.

pub mod l1;
pub mod l2;
pub mod l3;
#[cfg(feature = "recording")]
pub mod recording;
pub mod sync;

pub use l1::L1Books;
pub use l2::{L2Book, Level};
pub use l3::{L3Book, RestingOrder};
pub use sync::{Continuity, Decision, DepthSync};

use pyrt_types::{Price, Side};

/// A message that does not fit the book. The book is left as it was before the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("order {id} is not in the book")]
    UnknownOrder { id: u64 },
    #[error("order {id} is already in the book")]
    DuplicateOrder { id: u64 },
    #[error("order {id} has a size of zero or less")]
    NonPositiveSize { id: u64 },
    #[error("execution larger than order {id}'s remaining size")]
    Overfill { id: u64 },
    #[error("{side} level {price} would go below zero")]
    LevelUnderflow { side: Side, price: Price },
    #[error("order {id}'s size is out of range")]
    Inconsistent { id: u64 },
}
