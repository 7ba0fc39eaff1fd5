//! Telemetry every daemon carries: per-stage latency histograms (HDR), counters, an interval log in
//! the standard HDR histogram log format (V2, deflate-compressed) and a Prometheus endpoint.
//!
//! The hot path only touches [`StageRecorder::record`] (a bucket increment in a preallocated
//! histogram), [`Counter::add`] and [`Gauge::set`] (one relaxed atomic each): no allocation, lock
//! or I/O. Once in a
//! while the daemon's housekeeping branch calls [`Telemetry::flush`], which moves the recorded
//! interval into shared state under a mutex; a background thread serves `/metrics` from that state
//! and appends each interval to the log.

#[cfg(feature = "python")]
pub mod python;

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

/// Upper bounds (ns) of the Prometheus buckets: 100 ns to 1 s, roughly ×2.5 apart.
const BUCKETS_NS: [u64; 16] = [
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("histogram configuration: {0}")]
    Histogram(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("metrics port {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("stage or counter name {0:?} must be lower_snake_case")]
    Name(String),
}

/// Histogram range and precision, from `[telemetry]` in `appliance.toml`.
#[derive(Debug, Clone, Copy)]
pub struct HistogramSpec {
    pub max_ns: u64,
    pub significant_figures: u8,
}

fn new_histogram(spec: HistogramSpec) -> Result<Histogram<u64>, TelemetryError> {
    Histogram::new_with_bounds(1, spec.max_ns.max(2), spec.significant_figures)
        .map_err(|e| TelemetryError::Histogram(e.to_string()))
}

fn check_name(name: &str) -> Result<(), TelemetryError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(TelemetryError::Name(name.to_owned()))
    }
}

/// Records one stage's latencies on the hot thread.
#[derive(Debug)]
pub struct StageRecorder {
    index: usize,
    interval: Histogram<u64>,
    sum_ns: u64,
}

impl StageRecorder {
    /// Records a latency in nanoseconds; values beyond the histogram's range count as its max.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.interval.saturating_record(ns.max(1));
        self.sum_ns = self.sum_ns.wrapping_add(ns);
    }
}

/// A monotonically increasing count (events, rejects, reconnects...).
#[derive(Debug, Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (a position, the day's P&L, open orders), kept as the
/// fixed-point integer the daemon already holds and exported exactly, with `decimals` places.
#[derive(Debug, Clone)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    #[inline]
    pub fn set(&self, raw: i64) {
        self.0.store(raw, Ordering::Relaxed);
    }

    #[must_use]
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct GaugeState {
    name: String,
    help: String,
    label: Option<(String, String)>,
    decimals: u32,
    gauge: Gauge,
}

/// `raw / 10^decimals` written out exactly (no float rounding on the way to Prometheus).
fn fixed_point(raw: i64, decimals: u32) -> String {
    let scale = 10u64.pow(decimals);
    let magnitude = raw.unsigned_abs();
    let sign = if raw < 0 { "-" } else { "" };
    let (whole, fraction) = (magnitude / scale, magnitude % scale);
    if fraction == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{fraction:0width$}", width = decimals as usize);
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

#[derive(Debug)]
struct StageState {
    name: String,
    /// Since the last interval-log write.
    interval: Histogram<u64>,
    /// Since start, for Prometheus.
    total: Histogram<u64>,
    sum_ns: u64,
}

#[derive(Debug)]
struct Shared {
    daemon: String,
    stages: Vec<StageState>,
    counters: Vec<(String, String, Counter)>,
    gauges: Vec<GaugeState>,
}

impl Shared {
    fn lock(mutex: &Mutex<Self>) -> std::sync::MutexGuard<'_, Self> {
        // A panic elsewhere must not silence telemetry: the data is plain counts, still valid.
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One daemon's telemetry.
#[derive(Debug)]
pub struct Telemetry {
    spec: HistogramSpec,
    shared: Arc<Mutex<Shared>>,
}

impl Telemetry {
    #[must_use]
    pub fn new(daemon: &str, spec: HistogramSpec) -> Self {
        Self {
            spec,
            shared: Arc::new(Mutex::new(Shared {
                daemon: daemon.to_owned(),
                stages: Vec::new(),
                counters: Vec::new(),
                gauges: Vec::new(),
            })),
        }
    }

    /// A recorder for stage `name` (e.g. `frame_to_parsed`); call at start-up, not per event.
    pub fn stage(&self, name: &str) -> Result<StageRecorder, TelemetryError> {
        check_name(name)?;
        let mut shared = Shared::lock(&self.shared);
        let index = shared.stages.len();
        shared.stages.push(StageState {
            name: name.to_owned(),
            interval: new_histogram(self.spec)?,
            total: new_histogram(self.spec)?,
            sum_ns: 0,
        });
        Ok(StageRecorder {
            index,
            interval: new_histogram(self.spec)?,
            sum_ns: 0,
        })
    }

    /// A counter exported as `pyrt_<name>_total{daemon, label}`.
    pub fn counter(&self, name: &str, label: &str) -> Result<Counter, TelemetryError> {
        check_name(name)?;
        let counter = Counter(Arc::new(AtomicU64::new(0)));
        Shared::lock(&self.shared).counters.push((
            name.to_owned(),
            label.to_owned(),
            counter.clone(),
        ));
        Ok(counter)
    }

    /// A gauge exported as `pyrt_<name>{daemon[, label]}` with `decimals` places (9 for the
    /// fixed-point prices, quantities and amounts of `pyrt-types`, 0 for counts). Gauges of one
    /// name share its help text and differ by label (`symbol="AAPL"`).
    pub fn gauge(
        &self,
        name: &str,
        help: &str,
        label: Option<(&str, &str)>,
        decimals: u32,
    ) -> Result<Gauge, TelemetryError> {
        check_name(name)?;
        if let Some((key, _)) = label {
            check_name(key)?;
        }
        if decimals > 18 {
            return Err(TelemetryError::Name(format!("{name}: {decimals} decimals")));
        }
        let gauge = Gauge(Arc::new(AtomicI64::new(0)));
        Shared::lock(&self.shared).gauges.push(GaugeState {
            name: name.to_owned(),
            help: help.to_owned(),
            label: label.map(|(k, v)| (k.to_owned(), v.to_owned())),
            decimals,
            gauge: gauge.clone(),
        });
        Ok(gauge)
    }

    /// Moves what `recorder` collected into the shared state. Housekeeping path only.
    pub fn flush(&self, recorder: &mut StageRecorder) {
        let mut shared = Shared::lock(&self.shared);
        if let Some(stage) = shared.stages.get_mut(recorder.index) {
            // Same bounds on both sides, so `add` cannot fail or reallocate.
            let _ = stage.interval.add(&recorder.interval);
            let _ = stage.total.add(&recorder.interval);
            stage.sum_ns = stage.sum_ns.wrapping_add(recorder.sum_ns);
        }
        recorder.interval.reset();
        recorder.sum_ns = 0;
    }

    /// Prometheus text exposition of every stage and counter.
    #[must_use]
    pub fn render_prometheus(&self) -> String {
        render(&Shared::lock(&self.shared))
    }

    /// Serves `GET /metrics` on `addr` (localhost) from a background thread until the returned
    /// handle is stopped.
    pub fn serve(&self, addr: SocketAddr) -> Result<MetricsServer, TelemetryError> {
        let listener =
            TcpListener::bind(addr).map_err(|source| TelemetryError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| TelemetryError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| TelemetryError::Bind { addr, source })?;
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::clone(&self.shared);
        let stop_flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = answer(stream, &shared);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .map_err(|source| TelemetryError::Bind { addr, source })?;
        Ok(MetricsServer {
            addr: local,
            stop,
            handle: Some(handle),
        })
    }

    /// Opens (creating or appending to) this daemon's interval log.
    pub fn interval_log(&self, path: &Path) -> Result<IntervalLog, TelemetryError> {
        IntervalLog::open(path, Arc::clone(&self.shared))
    }

    /// Writes an interval to the HDR log at `path` every `every`, from a thread of its own (off
    /// the hot path), and a last one when the returned logger is dropped.
    pub fn log_intervals(
        &self,
        path: &Path,
        every: Duration,
    ) -> Result<IntervalLogger, TelemetryError> {
        let mut log = self.interval_log(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("hdr-log".into())
            .spawn(move || {
                let mut last = std::time::Instant::now();
                while !stop_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    if last.elapsed() >= every {
                        last = std::time::Instant::now();
                        let _ = log.write_interval();
                    }
                }
                let _ = log.write_interval();
            })
            .map_err(|source| TelemetryError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(IntervalLogger {
            stop,
            handle: Some(handle),
        })
    }
}

/// The thread behind [`Telemetry::log_intervals`]; stops (after a final interval) on drop.
#[derive(Debug)]
pub struct IntervalLogger {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Drop for IntervalLogger {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn answer(mut stream: TcpStream, shared: &Mutex<Shared>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request_line = String::new();
    BufReader::new(&stream).read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = if path == "/metrics" {
        ("200 OK", render(&Shared::lock(shared)))
    } else {
        ("404 Not Found", "not found\n".to_owned())
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn render(shared: &Shared) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let daemon = &shared.daemon;
    let _ = writeln!(
        out,
        "# HELP pyrt_stage_latency_seconds Latency of each processing stage."
    );
    let _ = writeln!(out, "# TYPE pyrt_stage_latency_seconds histogram");
    for stage in &shared.stages {
        let labels = format!("daemon=\"{daemon}\",stage=\"{}\"", stage.name);
        for bound in BUCKETS_NS {
            let count = stage.total.count_between(0, bound);
            #[allow(clippy::cast_precision_loss)]
            let le = bound as f64 / 1e9;
            let _ = writeln!(
                out,
                "pyrt_stage_latency_seconds_bucket{{{labels},le=\"{le}\"}} {count}"
            );
        }
        let total = stage.total.len();
        let _ = writeln!(
            out,
            "pyrt_stage_latency_seconds_bucket{{{labels},le=\"+Inf\"}} {total}"
        );
        #[allow(clippy::cast_precision_loss)]
        let sum = stage.sum_ns as f64 / 1e9;
        let _ = writeln!(out, "pyrt_stage_latency_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "pyrt_stage_latency_seconds_count{{{labels}}} {total}");
    }
    let mut names: Vec<&str> = shared.counters.iter().map(|(n, _, _)| n.as_str()).collect();
    names.dedup();
    for name in names {
        let _ = writeln!(
            out,
            "# HELP pyrt_{name}_total Count of {}.",
            name.replace('_', " ")
        );
        let _ = writeln!(out, "# TYPE pyrt_{name}_total counter");
        for (_, label, counter) in shared.counters.iter().filter(|(n, _, _)| n == name) {
            let _ = writeln!(
                out,
                "pyrt_{name}_total{{daemon=\"{daemon}\",kind=\"{label}\"}} {}",
                counter.get()
            );
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for gauge in &shared.gauges {
        if seen.contains(&gauge.name.as_str()) {
            continue;
        }
        seen.push(&gauge.name);
        let name = &gauge.name;
        let _ = writeln!(out, "# HELP pyrt_{name} {}", gauge.help);
        let _ = writeln!(out, "# TYPE pyrt_{name} gauge");
        for g in shared.gauges.iter().filter(|g| g.name == *name) {
            let label = g
                .label
                .as_ref()
                .map(|(k, v)| format!(",{k}=\"{v}\""))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "pyrt_{name}{{daemon=\"{daemon}\"{label}}} {}",
                fixed_point(g.gauge.get(), g.decimals)
            );
        }
    }
    out
}

/// The background `/metrics` server; stopped and joined on drop.
#[derive(Debug)]
pub struct MetricsServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Appends each interval's histograms (one per stage, tagged with its name) to an HDR log.
#[derive(Debug)]
pub struct IntervalLog {
    path: PathBuf,
    file: BufWriter<File>,
    shared: Arc<Mutex<Shared>>,
    started: SystemTime,
    last: SystemTime,
}

impl IntervalLog {
    fn open(path: &Path, shared: Arc<Mutex<Shared>>) -> Result<Self, TelemetryError> {
        let io = |source| TelemetryError::Io {
            path: path.to_owned(),
            source,
        };
        let fresh = !path.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let mut file = BufWriter::new(file);
        let now = SystemTime::now();
        if fresh {
            let daemon = Shared::lock(&shared).daemon.clone();
            let mut serializer = V2DeflateSerializer::new();
            IntervalLogWriterBuilder::new()
                .add_comment(&format!("py_rt {daemon} stage latencies, nanoseconds"))
                .with_start_time(now)
                .with_base_time(now)
                .begin_log_with(&mut file, &mut serializer)
                .map_err(io)?;
            file.flush().map_err(io)?;
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            shared,
            started: now,
            last: now,
        })
    }

    /// Writes the interval since the previous write and starts a new one.
    pub fn write_interval(&mut self) -> Result<(), TelemetryError> {
        let io = |e: String| TelemetryError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        };
        let now = SystemTime::now();
        let start = self.last.duration_since(self.started).unwrap_or_default();
        let length = now.duration_since(self.last).unwrap_or_default();
        let mut serializer = V2DeflateSerializer::new();
        {
            let mut shared = Shared::lock(&self.shared);
            let mut writer = IntervalLogWriterBuilder::new()
                .begin_log_with(&mut self.file, &mut serializer)
                .map_err(|e| io(e.to_string()))?;
            for stage in &mut shared.stages {
                let tag = Tag::new(&stage.name);
                writer
                    .write_histogram(&stage.interval, start, length, tag)
                    .map_err(|e| io(format!("{e:?}")))?;
                stage.interval.reset();
            }
        }
        self.file.flush().map_err(|e| io(e.to_string()))?;
        self.last = now;
        Ok(())
    }
}

/// Nanoseconds since the Unix epoch, for stamping intervals.
#[must_use]
pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
