//! `pyrt._core`: one extension module that gathers the Python faces of the py_rt crates.
//!
//! Each crate keeps its bindings next to its code behind a `python` feature; this crate only
//! assembles them, so the module has a single place to see what Python can reach.

use pyo3::prelude::*;

#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    pyrt_types::python::register(module)?;
    pyrt_backtest::python::register(module)?;
    pyrt_features::python::register(module)?;
    pyrt_fill::python::register(module)?;
    pyrt_indicators::python::register(module)?;
    pyrt_ring::python::register(module)?;
    pyrt_telemetry::python::register(module)?;
    Ok(())
}
