//! Technical indicators for research and live trading from one implementation.
//!
//! Every indicator is incremental (`update` one observation at a time, no allocation after
//! construction, for the strategy daemon) and has a batch form over slices (for research, through
//! `pyrt._core` with numpy arrays). The batch form runs the incremental one, so the two cannot
//! disagree. Each follows TA-Lib's algorithm operation for operation — the same seeds, the same
//! running sums, the same order of floating-point operations — so values equal TA-Lib's, and
//! warm-up follows TA-Lib's lookback: the first `lookback()` outputs are `None` (`NaN` in batch).
//!
//! Indicators on prices use `f64`: they are features and signals, never money.

// Tests compare floats exactly on purpose: equality with TA-Lib is the contract.
#![cfg_attr(test, allow(clippy::float_cmp))]

mod momentum;
mod moving;
#[cfg(feature = "python")]
pub mod python;
mod volatility;
mod volume;
mod window;

pub use momentum::{Adx, Macd, MacdOutput, Rsi, Stoch, StochOutput};
pub use moving::{Ema, Sma, Wma};
pub use volatility::{Atr, BBands, BBandsOutput, RollingVolatility, ZScore};
pub use volume::{Obv, Vwap};

/// An indicator parameter outside its valid range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndicatorError {
    #[error("{name} must be at least {min}, got {got}")]
    Period {
        name: &'static str,
        min: usize,
        got: usize,
    },
    #[error("input columns have different lengths ({0} and {1})")]
    LengthMismatch(usize, usize),
}

pub(crate) fn check_period(
    name: &'static str,
    got: usize,
    min: usize,
) -> Result<(), IndicatorError> {
    if got < min {
        Err(IndicatorError::Period { name, min, got })
    } else {
        Ok(())
    }
}

/// TA-Lib's tolerance for "zero" in divisions.
pub(crate) fn is_zero(v: f64) -> bool {
    -0.000_000_01 < v && v < 0.000_000_01
}

/// One bar's high, low and close.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hlc {
    pub high: f64,
    pub low: f64,
    pub close: f64,
}

/// An indicator fed one observation at a time.
pub trait Indicator {
    type Input: Copy;
    type Output: Copy;

    /// The new value, or `None` while warming up.
    fn update(&mut self, input: Self::Input) -> Option<Self::Output>;

    /// Number of leading inputs that produce no output (TA-Lib's lookback).
    fn lookback(&self) -> usize;

    /// Back to the state right after construction.
    fn reset(&mut self);
}

/// Runs `indicator` over `inputs`, writing one output per input (`fill` while warming up).
pub fn run_into<I: Indicator>(
    indicator: &mut I,
    inputs: impl IntoIterator<Item = I::Input>,
    out: &mut [I::Output],
    fill: I::Output,
) {
    for (input, slot) in inputs.into_iter().zip(out.iter_mut()) {
        *slot = indicator.update(input).unwrap_or(fill);
    }
}

/// Runs a single-output indicator over a slice into a new vector, `NaN` while warming up.
pub fn run<I: Indicator<Output = f64>>(
    mut indicator: I,
    inputs: impl ExactSizeIterator<Item = I::Input>,
) -> Vec<f64> {
    let mut out = vec![f64::NAN; inputs.len()];
    run_into(&mut indicator, inputs, &mut out, f64::NAN);
    out
}
