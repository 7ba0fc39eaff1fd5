//! Telemetry end to end: recorded latencies reach the Prometheus text (checked by `promtool`), the
//! `/metrics` endpoint over a real socket, and the HDR interval log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use pyrt_telemetry::{HistogramSpec, Telemetry};

const SPEC: HistogramSpec = HistogramSpec {
    max_ns: 10_000_000_000,
    significant_figures: 3,
};

fn sample() -> (Telemetry, pyrt_telemetry::StageRecorder) {
    let telemetry = Telemetry::new("md", SPEC);
    let mut stage = telemetry.stage("frame_to_published").unwrap();
    for ns in [150u64, 400, 900, 3_000, 3_000, 70_000, 2_000_000] {
        stage.record(ns);
    }
    let frames = telemetry.counter("frames", "json").unwrap();
    frames.add(7);
    telemetry.counter("frames", "msgpack").unwrap().add(2);
    let position = "Shares held, by symbol.";
    let aapl = telemetry
        .gauge("position", position, Some(("symbol", "AAPL")), 9)
        .unwrap();
    aapl.set(-12_500_000_000);
    telemetry
        .gauge("position", position, Some(("symbol", "BTC/USD")), 9)
        .unwrap()
        .set(1_000);
    telemetry
        .gauge("open_orders", "Orders working.", None, 0)
        .unwrap()
        .set(3);
    telemetry.flush(&mut stage);
    (telemetry, stage)
}

#[test]
fn prometheus_text_has_cumulative_buckets_sum_and_count() {
    let (telemetry, _) = sample();
    let text = telemetry.render_prometheus();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} in\n{text}"))
            .to_owned()
    };
    assert!(line("pyrt_stage_latency_seconds_bucket{daemon=\"md\",stage=\"frame_to_published\",le=\"0.00000025\"}").ends_with(" 1"));
    assert!(line("pyrt_stage_latency_seconds_bucket{daemon=\"md\",stage=\"frame_to_published\",le=\"0.000005\"}").ends_with(" 5"));
    assert!(line("pyrt_stage_latency_seconds_bucket{daemon=\"md\",stage=\"frame_to_published\",le=\"+Inf\"}").ends_with(" 7"));
    assert!(line("pyrt_stage_latency_seconds_count{").ends_with(" 7"));
    assert!(line("pyrt_stage_latency_seconds_sum{").ends_with(" 0.00207745"));
    assert!(line("pyrt_frames_total{daemon=\"md\",kind=\"json\"}").ends_with(" 7"));
    assert!(line("pyrt_frames_total{daemon=\"md\",kind=\"msgpack\"}").ends_with(" 2"));
    // Fixed point written out exactly; one HELP and TYPE per gauge name.
    assert_eq!(
        line("pyrt_position{daemon=\"md\",symbol=\"AAPL\"}"),
        "pyrt_position{daemon=\"md\",symbol=\"AAPL\"} -12.5"
    );
    assert!(line("pyrt_position{daemon=\"md\",symbol=\"BTC/USD\"}").ends_with(" 0.000001"));
    assert!(line("pyrt_open_orders{daemon=\"md\"}").ends_with(" 3"));
    assert_eq!(text.matches("# TYPE pyrt_position gauge").count(), 1);
}

#[test]
fn promtool_accepts_the_exposition() {
    let (telemetry, _) = sample();
    let text = telemetry.render_prometheus();
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "promtool not installed ({e}); `make setup` installs Debian's prometheus package"
            );
            return;
        }
        Err(e) => panic!("promtool is required in CI: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn metrics_are_served_over_http_on_localhost() {
    let (telemetry, _) = sample();
    let server = telemetry.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let get = |path: &str| {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let ok = get("/metrics");
    assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
    assert!(ok.contains("pyrt_frames_total{daemon=\"md\",kind=\"json\"} 7"));
    assert!(get("/other").starts_with("HTTP/1.1 404"));
    drop(server);
}

#[test]
fn interval_log_round_trips_through_the_hdr_log_format() {
    let dir = std::env::temp_dir().join(format!("pyrt-telemetry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("md.hlog");
    let _ = std::fs::remove_file(&path);
    let (telemetry, mut stage) = sample();
    let mut log = telemetry.interval_log(&path).unwrap();
    log.write_interval().unwrap();
    for ns in 1..=1000u64 {
        stage.record(ns * 1000);
    }
    telemetry.flush(&mut stage);
    log.write_interval().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("#[StartTime:"), "{text}");
    let mut counts = Vec::new();
    for entry in IntervalLogIterator::new(&bytes) {
        if let LogEntry::Interval(interval) = entry.unwrap() {
            assert_eq!(
                interval.tag().map(|t| t.as_str()),
                Some("frame_to_published")
            );
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(interval.encoded_histogram())
                .unwrap();
            let h: hdrhistogram::Histogram<u64> = Deserializer::new()
                .deserialize(&mut decoded.as_slice())
                .unwrap();
            counts.push(h.len());
            if h.len() == 1000 {
                assert!(h.value_at_quantile(0.5).abs_diff(500_000) < 1000);
            }
        }
    }
    assert_eq!(counts, [7, 1000]);
}
