//! Python face of the domain types (feature `python`), registered into `pyrt._core` by `pyrt-py`.
//!
//! The classes are the Rust types themselves, not copies, so Python and the daemons parse and format
//! money and time with the same code.

// PyO3 hands methods a borrowed `&self` of the Python object whatever the Rust type's size, and
// extracts arguments into owned values.
#![allow(
    clippy::trivially_copy_pass_by_ref,
    clippy::wrong_self_convention,
    clippy::needless_pass_by_value
)]

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use crate::enums::{OrderStatus, OrderType, Side, TimeInForce, WireEnumError};
use crate::events::{EVENT_SIZE, EventKind, LAYOUT_HASH};
use crate::fixed::{DecimalError, Notional, OverflowError, Price, Qty, SCALE, SCALE_DIGITS};
use crate::symbol::{SymbolError, SymbolId, SymbolTable};
use crate::time::{Timestamp, TimestampError};

impl From<DecimalError> for PyErr {
    fn from(err: DecimalError) -> Self {
        match err {
            DecimalError::Overflow => PyOverflowError::new_err(err.to_string()),
            _ => PyValueError::new_err(err.to_string()),
        }
    }
}

impl From<OverflowError> for PyErr {
    fn from(err: OverflowError) -> Self {
        PyOverflowError::new_err(err.to_string())
    }
}

impl From<TimestampError> for PyErr {
    fn from(err: TimestampError) -> Self {
        PyValueError::new_err(err.to_string())
    }
}

impl From<WireEnumError> for PyErr {
    fn from(err: WireEnumError) -> Self {
        PyValueError::new_err(err.to_string())
    }
}

impl From<SymbolError> for PyErr {
    fn from(err: SymbolError) -> Self {
        PyValueError::new_err(err.to_string())
    }
}

/// Raw units from a Python `str`, `int` or `decimal.Decimal`; floats are refused because they are
/// already inexact by the time they reach us.
fn raw_from_py(value: &Bound<'_, PyAny>) -> PyResult<i64> {
    if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "expected a decimal string or int, got bool",
        ));
    }
    if value.is_instance_of::<PyFloat>() {
        return Err(PyTypeError::new_err(
            "floats are inexact; pass a decimal string such as \"187.23\", an int or a Decimal",
        ));
    }
    if value.is_instance_of::<PyInt>() {
        let units: i64 = value
            .extract()
            .map_err(|_| PyOverflowError::new_err(DecimalError::Overflow.to_string()))?;
        return units
            .checked_mul(SCALE)
            .ok_or_else(|| DecimalError::Overflow.into());
    }
    if value.is_instance_of::<PyString>() {
        let text: String = value.extract()?;
        return Ok(crate::fixed::parse_raw(&text)?);
    }
    let decimal = value.py().import("decimal")?.getattr("Decimal")?;
    if value.is_instance(&decimal)? {
        let text: String = value.str()?.extract()?;
        return Ok(crate::fixed::parse_raw(&text)?);
    }
    Err(PyTypeError::new_err(format!(
        "expected a decimal string, int or Decimal, got {}",
        value.get_type().name()?
    )))
}

macro_rules! py_fixed_point {
    ($name:ident $({ $($extra:tt)* })?) => {
        #[pymethods]
        impl $name {
            $($($extra)*)?

            #[new]
            fn py_new(value: &Bound<'_, PyAny>) -> PyResult<Self> {
                raw_from_py(value).map(Self::from_raw)
            }

            /// Wraps raw 10⁻⁹ units.
            #[staticmethod]
            #[pyo3(name = "from_raw")]
            fn py_from_raw(raw: i64) -> Self {
                Self::from_raw(raw)
            }

            #[getter(raw)]
            fn py_raw(&self) -> i64 {
                self.raw()
            }

            #[classattr]
            const SCALE_DIGITS: u32 = SCALE_DIGITS;

            fn __repr__(&self) -> String {
                format!(concat!(stringify!($name), "('{}')"), self)
            }

            fn __add__(&self, other: &Self) -> PyResult<Self> {
                Ok(self.checked_add(*other)?)
            }

            fn __sub__(&self, other: &Self) -> PyResult<Self> {
                Ok(self.checked_sub(*other)?)
            }

            fn __neg__(&self) -> PyResult<Self> {
                Ok(self.checked_neg()?)
            }

            fn __abs__(&self) -> PyResult<Self> {
                Ok(Self::from_raw(self.raw().checked_abs().ok_or(OverflowError)?))
            }

            fn __bool__(&self) -> bool {
                !self.is_zero()
            }

            /// Exact `decimal.Decimal` value.
            fn to_decimal<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                py.import("decimal")?.getattr("Decimal")?.call1((self.to_string(),))
            }

            /// Nearest float; for plots and features, never for money.
            fn to_float(&self) -> f64 {
                self.to_f64_lossy()
            }
        }
    };
}

py_fixed_point!(Price {
    /// Price × quantity, rounded half away from zero to 10⁻⁹ dollars.
    fn notional(&self, qty: &Qty) -> PyResult<Notional> {
        Ok(self.checked_notional(*qty)?)
    }
});
py_fixed_point!(Qty);
py_fixed_point!(Notional);

#[pymethods]
impl Timestamp {
    #[new]
    fn py_new(text: &str) -> PyResult<Self> {
        Ok(Self::parse_rfc3339(text)?)
    }

    #[staticmethod]
    #[pyo3(name = "from_unix_nanos")]
    fn py_from_unix_nanos(nanos: i64) -> Self {
        Self::from_unix_nanos(nanos)
    }

    #[staticmethod]
    #[pyo3(name = "now")]
    fn py_now() -> Self {
        Self::now()
    }

    #[getter(unix_nanos)]
    fn py_unix_nanos(&self) -> i64 {
        self.unix_nanos()
    }

    fn __repr__(&self) -> String {
        format!("Timestamp('{self}')")
    }
}

macro_rules! py_wire_enum {
    ($name:ident) => {
        #[pymethods]
        impl $name {
            /// Alpaca's wire name.
            #[getter]
            fn wire(&self) -> &'static str {
                self.as_str()
            }

            #[staticmethod]
            #[pyo3(name = "from_wire")]
            fn py_from_wire(text: &str) -> PyResult<Self> {
                Ok(text.parse()?)
            }

            fn __str__(&self) -> &'static str {
                self.as_str()
            }
        }
    };
}

py_wire_enum!(Side);
py_wire_enum!(OrderType);
py_wire_enum!(TimeInForce);
py_wire_enum!(OrderStatus);

#[pymethods]
impl SymbolTable {
    #[new]
    #[pyo3(signature = (names = Vec::new()))]
    fn py_new(names: Vec<String>) -> PyResult<Self> {
        Ok(Self::from_names(names.iter().map(String::as_str))?)
    }

    #[pyo3(name = "intern")]
    fn py_intern(&mut self, name: &str) -> PyResult<u32> {
        Ok(self.intern(name)?.0)
    }

    #[pyo3(name = "get")]
    fn py_get(&self, name: &str) -> Option<u32> {
        self.get(name).map(|id| id.0)
    }

    #[pyo3(name = "name")]
    fn py_name(&self, id: u32) -> Option<&str> {
        self.name(SymbolId(id))
    }

    #[pyo3(name = "names")]
    fn py_names(&self) -> Vec<String> {
        self.names().map(str::to_owned).collect()
    }

    fn __len__(&self) -> usize {
        self.len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// `{kind name: [(field, type, offset, size), ...]}` for every event, so Python tools can read ring
/// slots (e.g. as a numpy structured dtype) without restating the layout.
#[pyfunction]
fn event_layouts(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let layouts = PyDict::new(py);
    for &kind in EventKind::ALL {
        let fields: Vec<(&str, &str, usize, usize)> = kind
            .layout()
            .iter()
            .map(|f| (f.name, f.ty, f.offset, f.size))
            .collect();
        layouts.set_item(kind.name(), fields)?;
    }
    Ok(layouts)
}

/// Adds the domain types to `module`.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Price>()?;
    module.add_class::<Qty>()?;
    module.add_class::<Notional>()?;
    module.add_class::<Timestamp>()?;
    module.add_class::<Side>()?;
    module.add_class::<OrderType>()?;
    module.add_class::<TimeInForce>()?;
    module.add_class::<OrderStatus>()?;
    module.add_class::<SymbolTable>()?;
    module.add_function(wrap_pyfunction!(event_layouts, module)?)?;
    module.add("EVENT_SIZE", EVENT_SIZE)?;
    module.add("LAYOUT_HASH", LAYOUT_HASH)?;
    module.add("SCALE_DIGITS", SCALE_DIGITS)?;
    Ok(())
}
