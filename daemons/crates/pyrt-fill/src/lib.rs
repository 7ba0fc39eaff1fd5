//! The fill model shared by the venue simulator and the backtester, so a strategy meets the same
//! market mechanics in research and against the simulated venue.

mod engine;
mod fees;
#[cfg(feature = "python")]
pub mod python;

pub use engine::{BarPrices, Event, FillConfig, FillEngine, Liquidity, OrderSpec};
pub use fees::FeeModel;
