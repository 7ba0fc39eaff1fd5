//! Python face of the control block (feature `python`): the supervisor and `pyrt status` read and
//! write the same shared memory the daemons do.

// PyO3 extracts arguments into owned values.
#![allow(clippy::needless_pass_by_value)]

use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::{ControlBlock, DaemonState, RingError};

impl From<RingError> for PyErr {
    fn from(err: RingError) -> Self {
        match err {
            RingError::Io { .. } => PyOSError::new_err(err.to_string()),
            _ => PyValueError::new_err(err.to_string()),
        }
    }
}

/// `pyrt._core.ControlBlock(path, create=False)`.
#[pyclass(name = "ControlBlock", module = "pyrt._core", frozen)]
struct PyControlBlock {
    inner: ControlBlock,
}

fn state_from_name(name: &str) -> PyResult<DaemonState> {
    (0..=6)
        .map(DaemonState::from_u32)
        .find(|s| s.name() == name)
        .filter(|s| *s != DaemonState::Empty)
        .ok_or_else(|| PyValueError::new_err(format!("unknown daemon state {name:?}")))
}

#[pymethods]
impl PyControlBlock {
    #[new]
    #[pyo3(signature = (path, create = false))]
    fn new(path: PathBuf, create: bool) -> PyResult<Self> {
        let inner = if create {
            ControlBlock::open_or_create(&path)?
        } else {
            ControlBlock::attach(&path)?
        };
        Ok(Self { inner })
    }

    #[getter]
    fn kill_switch(&self) -> bool {
        self.inner.kill_switch()
    }

    #[getter]
    fn kill_reason(&self) -> u32 {
        self.inner.kill_reason()
    }

    /// Sets or clears the kill switch; `reason` 0 means the operator.
    #[pyo3(signature = (on, reason = 0))]
    fn set_kill_switch(&self, on: bool, reason: u32) {
        self.inner.set_kill_switch(on, reason);
    }

    #[getter]
    fn config_generation(&self) -> u64 {
        self.inner.config_generation()
    }

    fn bump_config_generation(&self) -> u64 {
        self.inner.bump_config_generation()
    }

    #[getter]
    fn model_generation(&self) -> u64 {
        self.inner.model_generation()
    }

    fn set_model_generation(&self, generation: u64) {
        self.inner.set_model_generation(generation);
    }

    fn register(&self, index: usize, name: &str, pid: u32) -> PyResult<()> {
        Ok(self.inner.register(index, name, pid)?)
    }

    fn set_state(&self, index: usize, state: &str) -> PyResult<()> {
        Ok(self.inner.set_state(index, state_from_name(state)?)?)
    }

    fn heartbeat(&self, index: usize) -> PyResult<()> {
        Ok(self.inner.heartbeat(index)?)
    }

    /// One dict per registered daemon (`name`, `pid`, `state`, `heartbeat_ns`, `started_ns`,
    /// `restarts`, `alive`).
    fn daemons<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .daemons()
            .into_iter()
            .map(|d| {
                let dict = PyDict::new(py);
                dict.set_item("name", d.name)?;
                dict.set_item("pid", d.pid)?;
                dict.set_item("state", d.state.name())?;
                dict.set_item("heartbeat_ns", d.heartbeat_ns)?;
                dict.set_item("started_ns", d.started_ns)?;
                dict.set_item("restarts", d.restarts)?;
                dict.set_item("alive", d.alive)?;
                Ok(dict)
            })
            .collect()
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyControlBlock>()?;
    module.add("MAX_DAEMONS", crate::MAX_DAEMONS)?;
    Ok(())
}
