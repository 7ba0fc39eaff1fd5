//! Real models from the project's training pipeline (XGBoost → ONNX), loaded with the ONNX
//! Runtime library of the onnxruntime wheel; every way a model can be wrong is refused with its
//! reason.

use std::path::{Path, PathBuf};

use pyrt_model::{Model, ModelError, Runtime};
use pyrt_testkit::{onnxruntime_library, run_python, scratch};

const FEATURES: [&str; 8] = [
    "ret_1_bps",
    "ema_gap_bps",
    "rsi",
    "volatility_bps",
    "zscore",
    "spread_bps",
    "imbalance",
    "microprice_gap_bps",
];

fn setup(name: &str) -> Option<(Runtime, PathBuf)> {
    let library = onnxruntime_library()?;
    let dir = scratch(name);
    run_python(
        "research.train_model",
        &["--out", dir.to_str()?, "--name", "m", "--rounds", "5"],
    );
    Some((Runtime::load(&library).unwrap(), dir))
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("m.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&path, manifest.to_string()).unwrap();
}

fn load(runtime: &Runtime, dir: &Path) -> Result<Model, ModelError> {
    Model::load(runtime, &dir.join("m.onnx"), &dir.join("m.json"), &FEATURES)
}

#[test]
fn a_trained_model_loads_and_predicts() {
    let Some((runtime, dir)) = setup("model-good") else {
        return;
    };
    let mut model = load(&runtime, &dir).unwrap();
    assert_eq!(model.manifest().features, FEATURES);
    let a = model.predict(&[0.0; 8]).unwrap();
    let b = model
        .predict(&[5.0, 2.0, 0.7, 3.0, 1.5, 0.1, 0.9, 0.2])
        .unwrap();
    assert!(a.is_finite() && b.is_finite());
    assert!(
        (a - b).abs() > f32::EPSILON,
        "the prediction depends on the input"
    );
}

#[test]
fn every_mismatch_is_refused_with_its_reason() {
    let Some((runtime, dir)) = setup("model-bad") else {
        return;
    };
    let original = std::fs::read_to_string(dir.join("m.json")).unwrap();
    let restore = || std::fs::write(dir.join("m.json"), &original).unwrap();

    edit_manifest(&dir, |m| m["sha256"] = "00".repeat(32).into());
    assert!(matches!(
        load(&runtime, &dir),
        Err(ModelError::Checksum { .. })
    ));
    restore();

    edit_manifest(&dir, |m| m["features"][0] = "ret_5_bps".into());
    assert!(matches!(
        load(&runtime, &dir),
        Err(ModelError::Features { .. })
    ));
    restore();

    edit_manifest(&dir, |m| m["input"]["name"] = "x".into());
    let err = load(&runtime, &dir).unwrap_err();
    assert!(matches!(err, ModelError::Graph(_)), "{err}");
    restore();

    edit_manifest(&dir, |m| m["output"]["shape"] = serde_json::json!([-1, 3]));
    assert!(matches!(load(&runtime, &dir), Err(ModelError::Graph(_))));
    restore();

    edit_manifest(&dir, |m| m["surprise"] = 1.into());
    assert!(matches!(
        load(&runtime, &dir),
        Err(ModelError::Manifest { .. })
    ));
    restore();

    // A truncated model whose manifest carries the truncated file's checksum: ONNX Runtime refuses.
    let bytes = std::fs::read(dir.join("m.onnx")).unwrap();
    std::fs::write(dir.join("m.onnx"), &bytes[..bytes.len() / 2]).unwrap();
    let digest = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(&bytes[..bytes.len() / 2]))
    };
    edit_manifest(&dir, |m| m["sha256"] = digest.into());
    assert!(matches!(load(&runtime, &dir), Err(ModelError::Ort(_))));
    restore();
    std::fs::write(dir.join("m.onnx"), &bytes).unwrap();
    load(&runtime, &dir).unwrap();
}
