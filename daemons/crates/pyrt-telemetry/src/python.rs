//! Python face of the telemetry (feature `python`): Python components record stage latencies into
//! the same histograms and logs as the daemons, and tests read them back across languages.

// PyO3 extracts arguments into owned values.
#![allow(clippy::needless_pass_by_value)]

use std::path::PathBuf;

use pyo3::exceptions::{PyIndexError, PyOSError};
use pyo3::prelude::*;

use crate::{HistogramSpec, IntervalLog, StageRecorder, Telemetry, TelemetryError};

impl From<TelemetryError> for PyErr {
    fn from(err: TelemetryError) -> Self {
        PyOSError::new_err(err.to_string())
    }
}

/// `pyrt._core.LatencyLog(daemon, path, max_ns=10_000_000_000, significant_figures=3)`.
#[pyclass(name = "LatencyLog", module = "pyrt._core")]
struct PyLatencyLog {
    telemetry: Telemetry,
    stages: Vec<StageRecorder>,
    log: IntervalLog,
}

#[pymethods]
impl PyLatencyLog {
    #[new]
    #[pyo3(signature = (daemon, path, max_ns = 10_000_000_000, significant_figures = 3))]
    fn new(daemon: &str, path: PathBuf, max_ns: u64, significant_figures: u8) -> PyResult<Self> {
        let telemetry = Telemetry::new(
            daemon,
            HistogramSpec {
                max_ns,
                significant_figures,
            },
        );
        let log = telemetry.interval_log(&path)?;
        Ok(Self {
            telemetry,
            stages: Vec::new(),
            log,
        })
    }

    /// Adds a stage and returns its index for `record`.
    fn stage(&mut self, name: &str) -> PyResult<usize> {
        self.stages.push(self.telemetry.stage(name)?);
        Ok(self.stages.len() - 1)
    }

    fn record(&mut self, stage: usize, ns: u64) -> PyResult<()> {
        let recorder = self
            .stages
            .get_mut(stage)
            .ok_or_else(|| PyIndexError::new_err(format!("no stage {stage}")))?;
        recorder.record(ns);
        Ok(())
    }

    /// Ends the current interval: appends one histogram per stage to the log.
    fn write_interval(&mut self) -> PyResult<()> {
        for recorder in &mut self.stages {
            self.telemetry.flush(recorder);
        }
        Ok(self.log.write_interval()?)
    }

    /// The Prometheus text exposition of everything recorded so far.
    fn prometheus(&mut self) -> String {
        for recorder in &mut self.stages {
            self.telemetry.flush(recorder);
        }
        self.telemetry.render_prometheus()
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyLatencyLog>()
}
