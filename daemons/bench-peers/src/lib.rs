//! What every benchmark binary shares: the host description of its JSON output (DESIGN §10).

/// CPU model and core count of the machine. Cores are counted from `/proc/cpuinfo`, not
/// `available_parallelism`, which reports one once the benchmark has pinned itself.
#[must_use]
pub fn host() -> serde_json::Value {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let cores = info.lines().filter(|l| l.starts_with("processor")).count();
    serde_json::json!({"cpu": cpu, "cores": cores})
}
