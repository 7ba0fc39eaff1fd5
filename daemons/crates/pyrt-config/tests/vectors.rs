//! The shared vectors in config/vectors, run through the Rust side: every valid file loads, every
//! invalid one yields exactly the (path, code) pairs its .expected.json documents — the same
//! answers the Python tests demand of the pydantic models.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pyrt_config::{ConfigIssue, load, load_appliance, load_risk_limits};

fn vectors(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../config/vectors")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn check(path: &Path) -> Result<(), Vec<ConfigIssue>> {
    let is_risk = path.file_name().unwrap().to_string_lossy().contains("risk");
    if is_risk {
        load_risk_limits(path).map(|_| ()).map_err(|e| e.issues)
    } else {
        load_appliance(path).map(|_| ()).map_err(|e| e.issues)
    }
}

fn expected(path: &Path) -> BTreeSet<(String, String)> {
    let sidecar = path.with_file_name(format!(
        "{}.expected.json",
        path.file_stem().unwrap().to_string_lossy()
    ));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn valid_vectors_load() {
    let files = vectors("valid");
    assert!(files.len() >= 5);
    for path in files {
        if let Err(issues) = check(&path) {
            panic!("{}: {issues:#?}", path.display());
        }
    }
}

#[test]
fn invalid_vectors_give_exactly_their_documented_errors() {
    let files = vectors("invalid");
    assert!(files.len() >= 20);
    let mut failures = Vec::new();
    for path in &files {
        let got: BTreeSet<(String, String)> = match check(path) {
            Ok(()) => BTreeSet::new(),
            Err(issues) => issues
                .iter()
                .map(|i| (i.path.clone(), i.code.as_str().to_owned()))
                .collect(),
        };
        let want = expected(path);
        if got != want {
            failures.push(format!("{}: got {got:?}, want {want:?}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_secret_in_the_config_is_refused_without_being_echoed() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../config/vectors/invalid/appliance_secret_in_config.toml");
    let err = load_appliance(&path).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("broker.secret_key"));
    assert!(!shown.contains("SUPERSECRETVALUE123"), "{shown}");
}

#[test]
fn the_shipped_configuration_loads_with_its_risk_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/appliance.toml");
    let (appliance, risk) = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(appliance.universe.symbols, ["AAPL", "MSFT", "GOOGL"]);
    assert_eq!(
        risk.limits_for("AAPL").unwrap().max_position.to_string(),
        "600"
    );
    assert_eq!(risk.limits_for("GOOGL"), risk.defaults.as_ref());
}

#[test]
fn unreadable_files_are_a_clear_error() {
    let err = load_appliance(Path::new("/nonexistent/appliance.toml")).unwrap_err();
    assert!(err.to_string().contains("cannot read the file"), "{err}");
}
