//! numpy face of the indicators (feature `python`): `pyrt._core.indicators.sma(close, 20)` etc.
//!
//! Inputs are read in place (a contiguous float64 array is borrowed, not copied); outputs are Rust
//! vectors handed to numpy as the arrays' own buffers. The GIL is released while computing.

// PyO3 extracts arguments into owned values.
#![allow(clippy::needless_pass_by_value)]

use std::borrow::Cow;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::{
    Adx, Atr, BBands, Ema, Hlc, Indicator, IndicatorError, Macd, Obv, RollingVolatility, Rsi, Sma,
    Stoch, Vwap, Wma, ZScore, run_into,
};

type Array<'py> = Bound<'py, PyArray1<f64>>;

impl From<IndicatorError> for PyErr {
    fn from(err: IndicatorError) -> Self {
        PyValueError::new_err(err.to_string())
    }
}

fn slice<'a>(array: &'a PyReadonlyArray1<'_, f64>) -> Cow<'a, [f64]> {
    array
        .as_slice()
        .map_or_else(|_| Cow::Owned(array.as_array().to_vec()), Cow::Borrowed)
}

fn same_len(columns: &[&[f64]]) -> Result<usize, IndicatorError> {
    let n = columns.first().map_or(0, |c| c.len());
    match columns.iter().find(|c| c.len() != n) {
        Some(c) => Err(IndicatorError::LengthMismatch(n, c.len())),
        None => Ok(n),
    }
}

fn hlc<'a>(
    high: &'a [f64],
    low: &'a [f64],
    close: &'a [f64],
) -> impl ExactSizeIterator<Item = Hlc> + 'a {
    high.iter()
        .zip(low)
        .zip(close)
        .map(|((&high, &low), &close)| Hlc { high, low, close })
}

/// Runs a one-output indicator over `inputs` with the GIL released.
fn single<I>(
    py: Python<'_>,
    mut indicator: I,
    n: usize,
    inputs: impl Iterator<Item = I::Input> + Send,
) -> Array<'_>
where
    I: Indicator<Output = f64> + Send,
{
    let out = py.detach(move || {
        let mut out = vec![f64::NAN; n];
        run_into(&mut indicator, inputs, &mut out, f64::NAN);
        out
    });
    PyArray1::from_vec(py, out)
}

/// Runs a multi-output indicator, splitting each output into columns.
fn multi<I, const K: usize>(
    py: Python<'_>,
    mut indicator: I,
    n: usize,
    inputs: impl Iterator<Item = I::Input> + Send,
    split: impl Fn(I::Output) -> [f64; K] + Send,
) -> [Array<'_>; K]
where
    I: Indicator + Send,
{
    let columns = py.detach(move || {
        let mut columns: [Vec<f64>; K] = std::array::from_fn(|_| vec![f64::NAN; n]);
        for (i, input) in inputs.enumerate() {
            if let Some(output) = indicator.update(input) {
                for (column, value) in columns.iter_mut().zip(split(output)) {
                    column[i] = value;
                }
            }
        }
        columns
    });
    columns.map(|c| PyArray1::from_vec(py, c))
}

macro_rules! single_input {
    ($name:ident, $ty:ident, $doc:literal) => {
        #[doc = $doc]
        #[pyfunction]
        fn $name<'py>(
            py: Python<'py>,
            values: PyReadonlyArray1<'py, f64>,
            period: usize,
        ) -> PyResult<Array<'py>> {
            let values = slice(&values);
            Ok(single(
                py,
                $ty::new(period)?,
                values.len(),
                values.iter().copied(),
            ))
        }
    };
}

/// Simple moving average (TA-Lib SMA).
#[pyfunction]
fn sma<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    period: usize,
) -> PyResult<Array<'py>> {
    let values = slice(&values);
    let out = py.detach(|| Sma::batch(&values, period))?;
    Ok(PyArray1::from_vec(py, out))
}

single_input!(
    ema,
    Ema,
    "Exponential moving average seeded with an SMA (TA-Lib EMA)."
);
single_input!(wma, Wma, "Linearly weighted moving average (TA-Lib WMA).");
single_input!(rsi, Rsi, "Wilder's RSI (TA-Lib RSI).");
single_input!(
    zscore,
    ZScore,
    "Rolling z-score of the newest value, population std."
);
single_input!(
    volatility,
    RollingVolatility,
    "Rolling sample std of log returns."
);

/// MACD line, signal and histogram (TA-Lib MACD).
#[pyfunction]
#[pyo3(signature = (close, fast = 12, slow = 26, signal = 9))]
fn macd<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    fast: usize,
    slow: usize,
    signal: usize,
) -> PyResult<(Array<'py>, Array<'py>, Array<'py>)> {
    let close = slice(&close);
    let [m, s, h] = multi(
        py,
        Macd::new(fast, slow, signal)?,
        close.len(),
        close.iter().copied(),
        |o| [o.macd, o.signal, o.histogram],
    );
    Ok((m, s, h))
}

/// Upper, middle and lower Bollinger Band (TA-Lib BBANDS with an SMA).
#[pyfunction]
#[pyo3(signature = (close, period = 20, dev_up = 2.0, dev_down = 2.0))]
fn bbands<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    period: usize,
    dev_up: f64,
    dev_down: f64,
) -> PyResult<(Array<'py>, Array<'py>, Array<'py>)> {
    let close = slice(&close);
    let [u, m, l] = multi(
        py,
        BBands::new(period, dev_up, dev_down)?,
        close.len(),
        close.iter().copied(),
        |o| [o.upper, o.middle, o.lower],
    );
    Ok((u, m, l))
}

/// Average true range (TA-Lib ATR).
#[pyfunction]
#[pyo3(signature = (high, low, close, period = 14))]
fn atr<'py>(
    py: Python<'py>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    period: usize,
) -> PyResult<Array<'py>> {
    let (highs, lows, closes) = (slice(&high), slice(&low), slice(&close));
    let n = same_len(&[&highs, &lows, &closes])?;
    Ok(single(
        py,
        Atr::new(period)?,
        n,
        hlc(&highs, &lows, &closes),
    ))
}

/// Average directional index (TA-Lib ADX).
#[pyfunction]
#[pyo3(signature = (high, low, close, period = 14))]
fn adx<'py>(
    py: Python<'py>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    period: usize,
) -> PyResult<Array<'py>> {
    let (highs, lows, closes) = (slice(&high), slice(&low), slice(&close));
    let n = same_len(&[&highs, &lows, &closes])?;
    Ok(single(
        py,
        Adx::new(period)?,
        n,
        hlc(&highs, &lows, &closes),
    ))
}

/// Slow stochastic %K and %D with SMA smoothing (TA-Lib STOCH).
#[pyfunction]
#[pyo3(signature = (high, low, close, fast_k = 5, slow_k = 3, slow_d = 3))]
#[allow(clippy::too_many_arguments)]
fn stoch<'py>(
    py: Python<'py>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    fast_k: usize,
    slow_k: usize,
    slow_d: usize,
) -> PyResult<(Array<'py>, Array<'py>)> {
    let (highs, lows, closes) = (slice(&high), slice(&low), slice(&close));
    let n = same_len(&[&highs, &lows, &closes])?;
    let [k, d] = multi(
        py,
        Stoch::new(fast_k, slow_k, slow_d)?,
        n,
        hlc(&highs, &lows, &closes),
        |o| [o.slow_k, o.slow_d],
    );
    Ok((k, d))
}

/// On-balance volume (TA-Lib OBV).
#[pyfunction]
fn obv<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    volume: PyReadonlyArray1<'py, f64>,
) -> PyResult<Array<'py>> {
    let (closes, volumes) = (slice(&close), slice(&volume));
    let n = same_len(&[&closes, &volumes])?;
    Ok(single(
        py,
        Obv::new(),
        n,
        closes.iter().copied().zip(volumes.iter().copied()),
    ))
}

/// VWAP of the typical price over a rolling `window`, or cumulative when `window` is None.
#[pyfunction]
#[pyo3(signature = (high, low, close, volume, window = None))]
fn vwap<'py>(
    py: Python<'py>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    volume: PyReadonlyArray1<'py, f64>,
    window: Option<usize>,
) -> PyResult<Array<'py>> {
    let (highs, lows, closes, volumes) = (slice(&high), slice(&low), slice(&close), slice(&volume));
    let n = same_len(&[&highs, &lows, &closes, &volumes])?;
    let indicator = match window {
        Some(w) => Vwap::rolling(w)?,
        None => Vwap::cumulative(),
    };
    Ok(single(
        py,
        indicator,
        n,
        hlc(&highs, &lows, &closes).zip(volumes.iter().copied()),
    ))
}

/// Adds the `indicators` submodule to `module`.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let indicators = PyModule::new(module.py(), "indicators")?;
    indicators.add_function(wrap_pyfunction!(sma, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(ema, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(wma, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(rsi, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(zscore, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(volatility, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(macd, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(bbands, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(atr, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(adx, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(stoch, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(obv, &indicators)?)?;
    indicators.add_function(wrap_pyfunction!(vwap, &indicators)?)?;
    module.add_submodule(&indicators)?;
    // `from pyrt._core.indicators import sma` needs the submodule registered by its full name.
    module
        .py()
        .import("sys")?
        .getattr("modules")?
        .set_item("pyrt._core.indicators", &indicators)?;
    Ok(())
}
