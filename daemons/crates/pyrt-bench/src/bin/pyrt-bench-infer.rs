//! `pyrt-bench-infer LIBONNXRUNTIME MODEL_DIR NAME ROWS.f32 N`: times single-row predictions of a
//! published model through `pyrt-model` (ort), on the feature rows the Python side also uses, and
//! prints the latency summary and the first predictions (to check both sides agree).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use pyrt_bench::{latency_histogram, summary};
use pyrt_features::{FEATURE_NAMES, FEATURES};
use pyrt_model::{Model, Runtime};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, library, dir, name, rows, n] = args.as_slice() else {
        bail!("usage: pyrt-bench-infer LIBONNXRUNTIME MODEL_DIR NAME ROWS.f32 N");
    };
    let runtime = Runtime::load(Path::new(library))?;
    let dir = Path::new(dir);
    let mut model = Model::load(
        &runtime,
        &dir.join(format!("{name}.onnx")),
        &dir.join(format!("{name}.json")),
        &FEATURE_NAMES,
    )?;
    let bytes = std::fs::read(rows).with_context(|| format!("reading {rows}"))?;
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let rows: Vec<&[f32]> = values.chunks_exact(FEATURES).collect();
    let n: usize = n.parse()?;
    let mut histogram = latency_histogram()?;
    let mut first = Vec::new();
    for i in 0..n {
        let row = rows[i % rows.len()];
        let started = Instant::now();
        let score = model.predict(row)?;
        let elapsed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        histogram.record(elapsed.max(1))?;
        if first.len() < 16 {
            first.push(score);
        }
    }
    println!(
        "{}",
        serde_json::json!({"latency": summary(&histogram), "first_predictions": first})
    );
    Ok(())
}
