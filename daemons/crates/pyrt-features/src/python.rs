//! numpy face (feature `python`): `pyrt._core.features.quote_features(bid, ask, bid_size,
//! ask_size)` runs [`QuoteFeatures`] over recorded quotes, the same code as the strategy daemon.

// PyO3 extracts arguments into owned values.
#![allow(clippy::needless_pass_by_value)]

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::{FEATURE_NAMES, FEATURES, FeatureSpec, QuoteFeatures};

/// An (n, 8) float32 array, one row per quote; rows before warm-up (and for bad quotes) are NaN.
#[pyfunction]
fn quote_features<'py>(
    py: Python<'py>,
    bid: PyReadonlyArray1<'py, f64>,
    ask: PyReadonlyArray1<'py, f64>,
    bid_size: PyReadonlyArray1<'py, f64>,
    ask_size: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (bid, ask, bs, r#as) = (
        bid.as_array(),
        ask.as_array(),
        bid_size.as_array(),
        ask_size.as_array(),
    );
    let n = bid.len();
    if ask.len() != n || bs.len() != n || r#as.len() != n {
        return Err(PyValueError::new_err(
            "bid, ask, bid_size and ask_size must have one length",
        ));
    }
    let mut state = QuoteFeatures::new(FeatureSpec::default())
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let mut out = vec![f32::NAN; n * FEATURES];
    for (i, row) in out.chunks_exact_mut(FEATURES).enumerate() {
        if let Some(v) = state.update(bid[i], ask[i], bs[i], r#as[i]) {
            row.copy_from_slice(&v);
        }
    }
    // The vector becomes the array's buffer; reshaping a fresh contiguous array does not copy.
    PyArray1::from_vec(py, out).reshape([n, FEATURES])
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let features = PyModule::new(module.py(), "features")?;
    features.add_function(wrap_pyfunction!(quote_features, &features)?)?;
    features.add("FEATURE_NAMES", FEATURE_NAMES.to_vec())?;
    module.add_submodule(&features)?;
    module
        .py()
        .import("sys")?
        .getattr("modules")?
        .set_item("pyrt._core.features", &features)?;
    Ok(())
}
