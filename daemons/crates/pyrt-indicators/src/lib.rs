//! Technical indicators for research and live trading.
//!
//! Every indicator is incremental (`update` one observation at a time, no allocation after
//! construction, for the strategy daemon) and has a batch kernel over slices (`X::batch`, for
//! research, through `pyrt._core` with numpy arrays): one pass, the outputs allocated once, no
//! per-value dispatch. Each follows TA-Lib's algorithm operation for operation — the same seeds,
//! the same running sums, the same order of floating-point operations — so values equal TA-Lib's,
//! and warm-up follows TA-Lib's lookback: the first `lookback()` outputs are `None` (`NaN` in
//! batch). `NaN` inputs propagate as they do through the incremental objects (WMA's batch form
//! recovers at its next rebuild of its sums once the `NaN` has left the window).
//!
//! Where the two forms can differ: TA-Lib 0.8 (the one research compares against) reworked some
//! arithmetic, and the batch kernels follow it where that is what makes them fast or precise —
//! fused multiply-adds in EMA, MACD and ATR, a reciprocal in RSI and ATR, one division for
//! STOCH's fast %K, a shifted variance in BBANDS, periodically rebuilt sums in WMA — while the
//! incremental objects keep the earlier arithmetic. The two then differ in the last bits, and
//! for WMA and BBANDS by the earlier form's drift and cancellation (up to about 5e-8 relative
//! over a million bars). SMA, ADX, OBV, VWAP, the z-score and the volatility are equal bit for
//! bit. The tests pin all of it.
//!
//! Both forms keep TA-Lib 0.4's `1e-8` zero tests in RSI and ADX, and the incremental BBANDS its
//! `1e-8` variance clamp, where TA-Lib 0.8 tests exactly or relative to the values: they part
//! from TA-Lib 0.8 where the average move, the smoothed true range or the DI sum is under
//! `1e-8`, or (incremental BBANDS) a window's deviation under `1e-4`: instruments quoted in tiny
//! units, or flat stretches.
//!
//! Indicators on prices use `f64`: they are features and signals, never money.

// Tests compare floats exactly on purpose: equality with TA-Lib is the contract.
#![cfg_attr(test, allow(clippy::float_cmp))]

mod column;
mod fma;
mod momentum;
mod moving;
#[cfg(feature = "python")]
pub mod python;
#[cfg(test)]
mod testing;
mod volatility;
mod volume;
mod window;

pub use momentum::{Adx, Macd, MacdColumns, MacdOutput, Rsi, Stoch, StochColumns, StochOutput};
pub use moving::{Ema, Sma, Wma};
pub use volatility::{Atr, BBands, BBandsColumns, BBandsOutput, RollingVolatility, ZScore};
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

/// The common length of input columns.
pub(crate) fn same_len(columns: &[&[f64]]) -> Result<usize, IndicatorError> {
    let n = columns.first().map_or(0, |c| c.len());
    match columns.iter().find(|c| c.len() != n) {
        Some(c) => Err(IndicatorError::LengthMismatch(n, c.len())),
        None => Ok(n),
    }
}

/// TA-Lib 0.4's tolerance for "zero" in divisions (0.6 narrowed it to `1e-14`; 0.8 tests some
/// quantities exactly).
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
