//! The strategy daemon: quotes from the md ring → features (`pyrt-features`) → a score → a target
//! position per symbol → a `Signal` on the signal ring whenever the target changes. Risk sizes and
//! checks the orders.
//!
//! The score comes from the current ONNX model (`pyrt-model`) or, while none is loaded, from a
//! rule (the EMA gap feature). Models arrive in the watched directory: when `name.json` is written
//! or renamed into it, `name.onnx` and the manifest are validated and, if everything holds, swapped
//! in between two events; otherwise the running model stays and the reason is reported (stderr,
//! the `models_rejected` counter and `model.status.json` in the runtime directory, which
//! `pyrt status` and the session report read). The model generation in the control block counts
//! swaps.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inotify::{Inotify, WatchMask};
use pyrt_features::{FEATURE_NAMES, FEATURES, FeatureSpec, QuoteFeatures};
use pyrt_model::{Model, ModelError, Runtime};
use pyrt_ring::{
    BroadcastReader, ControlBlock, DaemonState, DeadProducerBackoff, QueueConsumer, QueueProducer,
    Received, RingError, WaitStrategy, names,
};
use pyrt_runtime::systemd;
use pyrt_telemetry::{Counter, Gauge, HistogramSpec, StageRecorder, Telemetry};
use pyrt_types::{Gap, Qty, Quote, RawEvent, Side, Signal, SymbolTable, Timestamp};

/// The strategy daemon's slot in the control block.
pub const CONTROL_SLOT: usize = 1;
/// The model status file in the runtime directory.
pub const MODEL_STATUS: &str = "model.status.json";

#[derive(Debug, Clone)]
pub struct StrategyConfig {
    pub runtime_dir: PathBuf,
    /// Every symbol md publishes, in id order (equities, then crypto pairs).
    pub symbols: Vec<String>,
    /// Symbols with ids below this are traded; the others (crypto order books) are scored only.
    pub tradable: usize,
    pub model_dir: PathBuf,
    /// `libonnxruntime.so`; `None` runs the rule only.
    pub onnxruntime: Option<PathBuf>,
    pub signal_capacity: u64,
    /// Position the rule holds when its score says "long".
    pub rule_qty: Qty,
    pub wait: WaitStrategy,
    pub heartbeat: Duration,
    pub metrics: Option<SocketAddr>,
    pub histogram: HistogramSpec,
    /// HDR interval log of the stage latencies, and how often an interval is written.
    pub hdr_log: Option<(PathBuf, Duration)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    #[error("symbols: {0}")]
    Symbols(#[from] pyrt_types::SymbolError),
    #[error("ring or control block: {0}")]
    Ring(#[from] RingError),
    #[error("telemetry: {0}")]
    Telemetry(#[from] pyrt_telemetry::TelemetryError),
    #[error("features: {0}")]
    Features(#[from] pyrt_features::FeatureError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The rule's thresholds on the EMA gap, in basis points.
const RULE_ENTER_BPS: f32 = 0.5;
const RULE_EXIT_BPS: f32 = -0.5;

/// Where a score comes from, and how it becomes a target.
enum Scorer {
    Rule,
    Onnx { model: Box<Model>, qty: Qty },
}

struct ModelSlot {
    runtime: Option<Runtime>,
    scorer: Scorer,
    name: String,
    history: Vec<String>,
    /// The latest refusals, "name: reason", oldest first.
    refused: Vec<String>,
}

impl ModelSlot {
    fn thresholds(&self, rule_qty: Qty) -> (f32, f32, Qty) {
        match &self.scorer {
            Scorer::Rule => (RULE_ENTER_BPS, RULE_EXIT_BPS, rule_qty),
            Scorer::Onnx { model, qty } => {
                let policy = &model.manifest().policy;
                (policy.enter, policy.exit, *qty)
            }
        }
    }

    fn score(&mut self, features: &[f32; FEATURES]) -> Result<f32, ModelError> {
        match &mut self.scorer {
            Scorer::Rule => Ok(features[1]),
            Scorer::Onnx { model, .. } => model.predict(features),
        }
    }

    /// Validates `name` from `dir` and swaps it in; on any failure the running scorer stays.
    fn try_load(&mut self, dir: &Path, name: &str) -> Result<(), String> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or("ONNX Runtime is not available (no library configured or it failed to load)")?;
        let model = Model::load(
            runtime,
            &dir.join(format!("{name}.onnx")),
            &dir.join(format!("{name}.json")),
            &FEATURE_NAMES,
        )
        .map_err(|e| e.to_string())?;
        let qty: Qty = model
            .manifest()
            .policy
            .qty
            .parse()
            .map_err(|e| format!("policy qty: {e}"))?;
        self.scorer = Scorer::Onnx {
            model: Box::new(model),
            qty,
        };
        self.history.push(name.to_owned());
        name.clone_into(&mut self.name);
        Ok(())
    }

    fn write_status(&self, path: &Path, generation: u64) {
        let status = serde_json::json!({
            "model": self.name,
            "generation": generation,
            "history": self.history,
            "refused": self.refused,
            "updated": Timestamp::now().to_string(),
        });
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, status.to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .is_err()
        {
            eprintln!("strategy: cannot write {}", path.display());
        }
    }
}

struct Metrics {
    features: StageRecorder,
    inference: StageRecorder,
    quote_to_signal: StageRecorder,
    signals: Counter,
    swaps: Counter,
    rejected: Counter,
    inference_errors: Counter,
    md_lost: Counter,
    /// Milliseconds spent waiting for md after its producer died: rising while md is down.
    md_dead_ms: Counter,
    fills: Counter,
    external_fills: Counter,
    scored_only: Counter,
    /// The control block's model generation: which model the signals come from.
    model_generation: Gauge,
}

fn elapsed_ns(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

struct Strategy {
    features: Vec<QuoteFeatures>,
    targets: Vec<Qty>,
    spec: FeatureSpec,
    slot: ModelSlot,
    rule_qty: Qty,
    tradable: usize,
    signals: QueueProducer,
    metrics: Metrics,
}

impl Strategy {
    fn reset(&mut self) -> Result<(), pyrt_features::FeatureError> {
        for f in &mut self.features {
            *f = QuoteFeatures::new(self.spec)?;
        }
        Ok(())
    }

    fn on_quote(&mut self, quote: &Quote, generation: u64) -> Result<(), RingError> {
        let started = Instant::now();
        let Some(state) = self.features.get_mut(quote.header.symbol.0 as usize) else {
            return Ok(());
        };
        let Some(vector) = state.update(
            quote.bid_price.to_f64_lossy(),
            quote.ask_price.to_f64_lossy(),
            quote.bid_size.to_f64_lossy(),
            quote.ask_size.to_f64_lossy(),
        ) else {
            return Ok(());
        };
        self.metrics.features.record(elapsed_ns(started));
        let inferred = Instant::now();
        let score = match self.slot.score(&vector) {
            Ok(score) if score.is_finite() => score,
            _ => {
                self.metrics.inference_errors.add(1);
                return Ok(());
            }
        };
        self.metrics.inference.record(elapsed_ns(inferred));
        let index = quote.header.symbol.0 as usize;
        if index >= self.tradable {
            self.metrics.scored_only.add(1);
            return Ok(());
        }
        let (enter, exit, qty) = self.slot.thresholds(self.rule_qty);
        let current = self.targets[index];
        let target = if score > enter {
            qty
        } else if score < exit {
            Qty::ZERO
        } else {
            current
        };
        if target == current {
            return Ok(());
        }
        let mut signal = Signal::with_header(quote.header.ts_origin, quote.header.symbol);
        signal.ts_event = quote.ts_event;
        signal.score = f64::from(score);
        signal.target_qty = target;
        signal.side = Side::Buy.code();
        signal.reference_price = quote.ask_price;
        signal.model_generation = u32::try_from(generation).unwrap_or(u32::MAX);
        self.signals
            .push(&RawEvent::from_event(&signal), Duration::from_secs(1))?;
        self.targets[index] = target;
        self.metrics.signals.add(1);
        let origin = Timestamp::now().unix_nanos() - quote.header.ts_origin.unix_nanos();
        self.metrics
            .quote_to_signal
            .record(u64::try_from(origin).unwrap_or(0));
        Ok(())
    }
}

/// Model names whose manifest was written since the last call.
fn changed_manifests(inotify: &mut Inotify, buffer: &mut [u8]) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(events) = inotify.read_events(buffer) {
        for event in events {
            let Some(name) = event.name.and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(stem) = name.strip_suffix(".json")
                && !stem.starts_with('.')
            {
                names.push(stem.to_owned());
            }
        }
    }
    names
}

/// The newest complete model already in `dir` (by manifest modification time).
fn newest_model(dir: &Path) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.strip_suffix(".json")?.to_owned();
            let modified = e.metadata().ok()?.modified().ok()?;
            (!name.starts_with('.')).then_some((modified, name))
        })
        .max()
        .map(|(_, name)| name)
}

/// Runs until `stop` is set.
#[allow(clippy::too_many_lines)] // one linear start-up sequence and one polling loop
pub fn run(config: &StrategyConfig, stop: &AtomicBool) -> Result<(), StrategyError> {
    let symbols = SymbolTable::from_names(config.symbols.iter().map(String::as_str))?;
    for dir in [&config.runtime_dir, &config.model_dir] {
        std::fs::create_dir_all(dir).map_err(|source| StrategyError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let control = ControlBlock::open_or_create(&config.runtime_dir.join(names::CONTROL))?;
    control.register(CONTROL_SLOT, "strategy", std::process::id())?;
    control.set_state(CONTROL_SLOT, DaemonState::Starting)?;
    let telemetry = Telemetry::new("strategy", config.histogram);
    let _server = config
        .metrics
        .map(|addr| telemetry.serve(addr))
        .transpose()?;
    let _hdr_log = config
        .hdr_log
        .as_ref()
        .map(|(path, every)| telemetry.log_intervals(path, *every))
        .transpose()?;
    let runtime = config.onnxruntime.as_deref().and_then(|library| {
        Runtime::load(library)
            .map_err(|e| eprintln!("strategy: {e}; running the rule only"))
            .ok()
    });
    let spec = FeatureSpec::default();
    let features = (0..symbols.len())
        .map(|_| QuoteFeatures::new(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let mut strategy = Strategy {
        features,
        targets: vec![Qty::ZERO; symbols.len()],
        spec,
        slot: ModelSlot {
            runtime,
            scorer: Scorer::Rule,
            name: "rule:ema_gap".into(),
            history: Vec::new(),
            refused: Vec::new(),
        },
        rule_qty: config.rule_qty,
        tradable: config.tradable,
        signals: QueueProducer::open(
            &config.runtime_dir.join(names::SIGNAL),
            config.signal_capacity,
            config.wait,
        )?,
        metrics: Metrics {
            features: telemetry.stage("features")?,
            inference: telemetry.stage("inference")?,
            quote_to_signal: telemetry.stage("quote_to_signal")?,
            signals: telemetry.counter("signals", "sent")?,
            swaps: telemetry.counter("models", "swapped")?,
            rejected: telemetry.counter("models", "rejected")?,
            inference_errors: telemetry.counter("inference", "failed")?,
            md_lost: telemetry.counter("md", "lost")?,
            md_dead_ms: telemetry.counter("producer_dead_ms", "md")?,
            fills: telemetry.counter("fills", "received")?,
            external_fills: telemetry.counter("fills", "external")?,
            scored_only: telemetry.counter("scores", "not_traded")?,
            model_generation: telemetry.gauge(
                "model_generation",
                "Generation of the model the strategy scores with (bumped by each swap).",
                None,
                0,
            )?,
        },
    };
    let status_path = config.runtime_dir.join(MODEL_STATUS);
    let mut inotify = Inotify::init().map_err(|source| StrategyError::Io {
        path: config.model_dir.clone(),
        source,
    })?;
    inotify
        .watches()
        .add(
            &config.model_dir,
            WatchMask::CLOSE_WRITE | WatchMask::MOVED_TO,
        )
        .map_err(|source| StrategyError::Io {
            path: config.model_dir.clone(),
            source,
        })?;
    let mut buffer = [0u8; 4096];
    let mut pending: Vec<String> = newest_model(&config.model_dir).into_iter().collect();
    let mut md: Option<BroadcastReader> = None;
    let mut fills: Option<QueueConsumer> = None;
    let fill_path = names::fill(&config.runtime_dir, "strategy");
    let md_path = config.runtime_dir.join(names::MD);
    let mut md_backoff = DeadProducerBackoff::new();
    strategy
        .slot
        .write_status(&status_path, control.model_generation());
    control.set_state(CONTROL_SLOT, DaemonState::Running)?;
    systemd::ready("scoring quotes");
    let mut last_beat = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        pending.extend(changed_manifests(&mut inotify, &mut buffer));
        for name in pending.drain(..) {
            match strategy.slot.try_load(&config.model_dir, &name) {
                Ok(()) => {
                    let generation = control.model_generation() + 1;
                    control.set_model_generation(generation);
                    strategy.metrics.swaps.add(1);
                    eprintln!("strategy: model {name} swapped in (generation {generation})");
                }
                Err(reason) => {
                    strategy.metrics.rejected.add(1);
                    eprintln!(
                        "strategy: model {name} refused, keeping {}: {reason}",
                        strategy.slot.name
                    );
                    let refused = &mut strategy.slot.refused;
                    refused.push(format!("{name}: {reason}"));
                    if refused.len() > 10 {
                        refused.remove(0);
                    }
                }
            }
            strategy
                .slot
                .write_status(&status_path, control.model_generation());
        }
        if fills.is_none() && fill_path.exists() {
            fills = QueueConsumer::attach(&fill_path, config.wait).ok();
        }
        if let Some(queue) = fills.as_mut() {
            while let Some(event) = queue.try_pop() {
                // Intent sequence 0: a fill of an order placed elsewhere (exec reports those so
                // positions stay the broker's); not one of this strategy's.
                match event.as_event::<pyrt_types::Fill>() {
                    Some(fill) if fill.intent_seq == 0 => strategy.metrics.external_fills.add(1),
                    Some(_) => strategy.metrics.fills.add(1),
                    None => {}
                }
            }
        }
        if md.is_none() && md_path.exists() {
            md = BroadcastReader::attach(&md_path, config.wait).ok();
        }
        let Some(reader) = md.as_mut() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        match reader.read(Duration::from_millis(5)) {
            Ok(received) => {
                if md_backoff.reset() {
                    eprintln!("strategy: md has a producer again");
                    // Quotes were missed while it was away.
                    strategy.reset()?;
                }
                match received {
                    Some(Received::Event(event)) => {
                        if let Some(quote) = event.as_event::<Quote>() {
                            strategy.on_quote(quote, control.model_generation())?;
                        } else if event.as_event::<Gap>().is_some() {
                            strategy.reset()?;
                        }
                    }
                    Some(Received::Lost(n)) => {
                        strategy.metrics.md_lost.add(n);
                        strategy.reset()?;
                    }
                    None => {}
                }
            }
            Err(RingError::ProducerDead { path }) => {
                if !md_backoff.waiting() {
                    eprintln!(
                        "strategy: the producer of {} is gone, waiting for it",
                        path.display()
                    );
                }
                if reader.replaced() {
                    md = None;
                }
                let due = config.heartbeat.saturating_sub(last_beat.elapsed());
                strategy.metrics.md_dead_ms.add(md_backoff.wait(due));
            }
            Err(e) => return Err(e.into()),
        }
        if last_beat.elapsed() >= config.heartbeat {
            last_beat = Instant::now();
            control.heartbeat(CONTROL_SLOT)?;
            systemd::watchdog();
            strategy.signals.heartbeat();
            strategy
                .metrics
                .model_generation
                .set(i64::try_from(control.model_generation()).unwrap_or(i64::MAX));
            for stage in [
                &mut strategy.metrics.features,
                &mut strategy.metrics.inference,
                &mut strategy.metrics.quote_to_signal,
            ] {
                telemetry.flush(stage);
            }
        }
    }
    systemd::stopping();
    control.set_state(CONTROL_SLOT, DaemonState::Stopped)?;
    Ok(())
}
