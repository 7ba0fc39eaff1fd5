//! numpy face of the indicators (feature `python`): `pyrt._core.indicators.sma(close, 20)` etc.
//!
//! Inputs are read in place (a contiguous float64 array is borrowed, not copied). Outputs are new
//! numpy arrays, allocated uninitialised as TA-Lib's wrapper allocates its own (numpy backs large
//! ones with huge pages, so a million-point output costs a few page faults, not two thousand),
//! and written once by the indicator's batch kernel with the GIL released.

// PyO3 extracts arguments into owned values.
#![allow(clippy::needless_pass_by_value)]

use std::borrow::Cow;
use std::mem::MaybeUninit;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::column::Column;
use crate::{
    Adx, Atr, BBands, Ema, IndicatorError, Macd, Obv, RollingVolatility, Rsi, Sma, Stoch, Vwap,
    Wma, ZScore,
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

/// `K` new arrays of `n` values written by `kernel` with the GIL released.
fn arrays<'py, const K: usize>(
    py: Python<'py>,
    n: usize,
    kernel: impl FnOnce(&mut [Column<'_>; K]) -> Result<(), IndicatorError> + Send,
) -> PyResult<[Array<'py>; K]> {
    // SAFETY: f64 elements need no initialisation to be dropped, and none is read before it is
    // written: the arrays leave this function only once their columns counted every slot.
    let arrays: [Array<'py>; K] = std::array::from_fn(|_| unsafe { PyArray1::new(py, n, false) });
    let mut slots: [&mut [MaybeUninit<f64>]; K] = std::array::from_fn(|i| {
        if n == 0 {
            return &mut [][..];
        }
        // SAFETY: a new C-contiguous, aligned buffer of `n` f64 that nothing else can reach
        // until it is returned, and MaybeUninit asserts nothing about its contents.
        unsafe { std::slice::from_raw_parts_mut(arrays[i].data().cast(), n) }
    });
    py.detach(|| {
        let mut columns = slots.each_mut().map(|s| Column::new(s));
        kernel(&mut columns)?;
        assert!(
            columns.iter().all(Column::is_complete),
            "a batch kernel left output slots unwritten"
        );
        Ok::<_, IndicatorError>(())
    })?;
    Ok(arrays)
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
            let [out] = arrays(py, values.len(), |out| {
                $ty::batch_into(&values, period, out)
            })?;
            Ok(out)
        }
    };
}

single_input!(sma, Sma, "Simple moving average (TA-Lib SMA).");
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
    let [m, s, h] = arrays(py, close.len(), |out| {
        Macd::batch_into(&close, fast, slow, signal, out)
    })?;
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
    let [u, m, l] = arrays(py, close.len(), |out| {
        BBands::batch_into(&close, period, dev_up, dev_down, out)
    })?;
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
    let [out] = arrays(py, highs.len(), |out| {
        Atr::batch_into(&highs, &lows, &closes, period, out)
    })?;
    Ok(out)
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
    let [out] = arrays(py, highs.len(), |out| {
        Adx::batch_into(&highs, &lows, &closes, period, out)
    })?;
    Ok(out)
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
    let [k, d] = arrays(py, highs.len(), |out| {
        Stoch::batch_into(&highs, &lows, &closes, [fast_k, slow_k, slow_d], out)
    })?;
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
    let [out] = arrays(py, closes.len(), |out| {
        Obv::batch_into(&closes, &volumes, out)
    })?;
    Ok(out)
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
    let [out] = arrays(py, highs.len(), |out| {
        Vwap::batch_into([&highs, &lows, &closes, &volumes], window, out)
    })?;
    Ok(out)
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
