//! Domain types shared by every py_rt daemon, the venue simulator, the backtester and (through
//! `pyrt._core`) Python.
//!
//! Money never travels as `f64`: [`Price`], [`Qty`] and [`Notional`] are `i64` fixed point with nine
//! decimal places ([`fixed::SCALE`]), which covers Alpaca's sub-penny prices and nine-decimal
//! fractional quantities exactly. Timestamps are UTC nanoseconds. Events crossing shared memory are
//! 64-byte `#[repr(C)]` plain-old-data records whose layout is summarised by [`events::LAYOUT_HASH`].

pub mod enums;
pub mod events;
pub mod fixed;
#[cfg(feature = "python")]
pub mod python;
pub mod symbol;
pub mod time;

pub use enums::{OrderStatus, OrderType, Side, TimeInForce, WireEnumError};
pub use events::{
    AnyEvent, Bar, BookAction, BookDelta, EVENT_SIZE, EventHeader, EventKind, FLAG_BACKFILL, Fill,
    Gap, IntentAction, LAYOUT_HASH, OrderAck, OrderIntent, Quote, RawEvent, Signal, Trade,
};
pub use fixed::{DecimalError, Notional, OverflowError, Price, Qty, Rounding, SCALE, SCALE_DIGITS};
pub use symbol::{MAX_SYMBOL_LEN, SymbolError, SymbolId, SymbolTable, validate_symbol};
pub use time::{Timestamp, TimestampError};
