//! ONNX models for the strategy daemon.
//!
//! A model is `name.onnx` plus `name.json`, its [`Manifest`]. [`Model::load`] accepts it only if
//! the file's SHA-256 is the manifest's, the feature schema is exactly the daemon's, the graph's
//! input and output names, element types and shapes are the manifest's, and a probe prediction on
//! a zero vector is finite. Anything else is a [`ModelError`] that says what did not match, and
//! the caller keeps the model it has.
//!
//! ONNX Runtime is loaded at run time from a shared library ([`Runtime::load`]), the one inside the
//! `onnxruntime` Python wheel the project already installs, so nothing is downloaded at build
//! time. Sessions are single-threaded: the strategy daemon owns one core.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// `name.json` next to `name.onnx`, written by the training pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: u32,
    /// Feature names in input order; must equal the daemon's.
    pub features: Vec<String>,
    pub input: TensorSpec,
    pub output: TensorSpec,
    /// Hex SHA-256 of the `.onnx` file.
    pub sha256: String,
    /// How the strategy turns the model's output into a target (see the strategy daemon).
    pub policy: Policy,
    /// Training and validation figures, kept for reports; not interpreted.
    #[serde(default)]
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    /// `-1` for a dynamic (batch) dimension.
    pub shape: Vec<i64>,
}

/// Score above `enter` → hold `qty` shares; below `exit` → flat; in between → unchanged.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub enter: f32,
    pub exit: f32,
    pub qty: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    Runtime { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("checksum: the file's SHA-256 is {actual}, the manifest says {expected}")]
    Checksum { expected: String, actual: String },
    #[error("feature schema: the model wants {model:?}, the daemon computes {daemon:?}")]
    Features {
        model: Vec<String>,
        daemon: Vec<String>,
    },
    #[error("the graph does not match the manifest: {0}")]
    Graph(String),
    #[error("probe prediction is not finite ({0})")]
    NotFinite(f32),
    #[error("onnx runtime: {0}")]
    Ort(String),
}

impl From<ort::Error> for ModelError {
    fn from(e: ort::Error) -> Self {
        Self::Ort(e.to_string())
    }
}

/// ONNX Runtime, loaded from its shared library once per process.
#[derive(Clone)]
pub struct Runtime(ort::environment::Environment);

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runtime")
    }
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

impl Runtime {
    /// Loads `library` (`libonnxruntime.so`); later calls return the first outcome.
    pub fn load(library: &Path) -> Result<Self, ModelError> {
        RUNTIME
            .get_or_init(|| {
                ort::init_from(library)
                    .map_err(|e| e.to_string())?
                    .with_name("py_rt")
                    .build()
                    .map(Runtime)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|reason| ModelError::Runtime {
                path: library.to_owned(),
                reason,
            })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_owned(),
        source,
    }
}

fn check_outlet(
    what: &str,
    outlets: &[ort::value::Outlet],
    spec: &TensorSpec,
) -> Result<(), ModelError> {
    let [outlet] = outlets else {
        return Err(ModelError::Graph(format!(
            "{what}: the graph has {} of them, the manifest describes one",
            outlets.len()
        )));
    };
    if outlet.name() != spec.name {
        return Err(ModelError::Graph(format!(
            "{what} is named {:?}, the manifest says {:?}",
            outlet.name(),
            spec.name
        )));
    }
    let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return Err(ModelError::Graph(format!("{what} is not a tensor")));
    };
    if *ty != TensorElementType::Float32 {
        return Err(ModelError::Graph(format!("{what} is {ty:?}, not float32")));
    }
    let dims: Vec<i64> = shape.iter().copied().collect();
    let compatible = dims.len() == spec.shape.len()
        && dims
            .iter()
            .zip(&spec.shape)
            .all(|(&graph, &manifest)| graph == manifest || graph == -1 || manifest == -1);
    if !compatible {
        return Err(ModelError::Graph(format!(
            "{what} has shape {dims:?}, the manifest says {:?}",
            spec.shape
        )));
    }
    Ok(())
}

/// A validated model, ready to predict.
#[derive(Debug)]
pub struct Model {
    session: Session,
    manifest: Manifest,
    input: Vec<f32>,
}

impl Model {
    /// Loads `onnx` with its manifest and validates both against `features` (the daemon's
    /// feature names, in order).
    pub fn load(
        runtime: &Runtime,
        onnx: &Path,
        manifest: &Path,
        features: &[&str],
    ) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(manifest).map_err(io(manifest))?;
        let manifest_value: Manifest =
            serde_json::from_str(&text).map_err(|e| ModelError::Manifest {
                path: manifest.to_owned(),
                reason: e.to_string(),
            })?;
        let bytes = std::fs::read(onnx).map_err(io(onnx))?;
        let actual = format!("{:x}", Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&manifest_value.sha256) {
            return Err(ModelError::Checksum {
                expected: manifest_value.sha256,
                actual,
            });
        }
        if manifest_value
            .features
            .iter()
            .map(String::as_str)
            .ne(features.iter().copied())
        {
            return Err(ModelError::Features {
                model: manifest_value.features,
                daemon: features.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        let session = Session::builder(&runtime.0)?
            .with_intra_threads(1)
            .map_err(|e| ModelError::Ort(e.to_string()))?
            .commit_from_memory(&bytes)?;
        check_outlet("input", session.inputs(), &manifest_value.input)?;
        check_outlet("output", session.outputs(), &manifest_value.output)?;
        let mut model = Self {
            session,
            manifest: manifest_value,
            input: vec![0.0; features.len()],
        };
        let probe = model.predict(&vec![0.0; features.len()])?;
        if !probe.is_finite() {
            return Err(ModelError::NotFinite(probe));
        }
        Ok(model)
    }

    #[must_use]
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The model's score for one feature vector.
    pub fn predict(&mut self, features: &[f32]) -> Result<f32, ModelError> {
        self.input.copy_from_slice(features);
        let tensor = TensorRef::from_array_view(([1usize, self.input.len()], &self.input[..]))?;
        let outputs = self.session.run(ort::inputs![tensor])?;
        let (_, values) = outputs[0].try_extract_tensor::<f32>()?;
        values
            .first()
            .copied()
            .ok_or_else(|| ModelError::Graph("the output is empty".into()))
    }
}
