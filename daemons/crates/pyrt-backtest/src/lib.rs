//! The backtest core of py_rt research: an event loop over bars, quotes and trades of several
//! symbols, matching through the same fill model as the venue simulator (`pyrt-fill`) and, when
//! asked, gating every order through the live risk engine (`pyrt-risk`) with the live limits.
//! Money is fixed point throughout, as in the daemons.
//!
//! Strategies are Rust ([`Strategy`], e.g. [`SmaCross`]) or Python (through `pyrt._core`, feature
//! `python`); [`sweep`] runs a parameter grid on every core.

mod data;
mod engine;
mod portfolio;
#[cfg(feature = "python")]
pub mod python;
mod strategies;
mod sweep;

pub use data::{
    BarColumns, Bars, DataError, Kind, MarketData, QuoteColumns, Quotes, Step, SymbolData,
    TradeColumns, Trades, UNIT,
};
pub use engine::{
    Backtest, BacktestConfig, Ctx, CurvePoint, FillRecord, OrderRecord, OrderRequest, OrderState,
    Strategy, StrategyError, StrategyResult, Summary,
};
pub use portfolio::{Portfolio, TradeRecord};
pub use strategies::SmaCross;
pub use sweep::{SweepResult, sweep};
