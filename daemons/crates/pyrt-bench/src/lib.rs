//! Shared by the benchmark drivers: latency percentiles as the JSON the Python `bench` command
//! reads.

use hdrhistogram::Histogram;

/// `{"count", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"}` of `histogram`.
#[must_use]
pub fn summary(histogram: &Histogram<u64>) -> serde_json::Value {
    serde_json::json!({
        "count": histogram.len(),
        "mean_ns": histogram.mean(),
        "p50_ns": histogram.value_at_quantile(0.50),
        "p90_ns": histogram.value_at_quantile(0.90),
        "p99_ns": histogram.value_at_quantile(0.99),
        "p999_ns": histogram.value_at_quantile(0.999),
        "max_ns": histogram.max(),
    })
}

/// A histogram for nanosecond latencies up to 10 s.
pub fn latency_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3)
}
