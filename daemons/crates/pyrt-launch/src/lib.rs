//! The start-up every daemon binary shares, so the binaries stay a screen long: parse
//! `--config FILE [--runtime-dir DIR] [--state-dir DIR]`, load and validate `appliance.toml`,
//! apply the daemon's core pinning, real-time priority and memory locking (refusals are printed
//! and the daemon carries on), and run the daemon's loop until SIGTERM or SIGINT.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use pyrt_alpaca::rest::Credentials;
use pyrt_config::model::{ApplianceConfig, Daemon};
use pyrt_config::secrets::load_secret;
use pyrt_ring::WaitStrategy;
use pyrt_runtime::{Placement, apply};
use pyrt_telemetry::HistogramSpec;
use tokio::signal::unix::{SignalKind, signal};

/// `SCHED_FIFO` priority the daemons ask for when configured to run real-time.
const FIFO_PRIORITY: i32 = 50;

#[derive(Debug)]
pub struct Launch {
    pub config_path: PathBuf,
    pub appliance: ApplianceConfig,
    pub daemon: Daemon,
    pub runtime_dir: PathBuf,
    pub state_dir: PathBuf,
    pub log_dir: PathBuf,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

impl Launch {
    /// Reads the command line and configuration of daemon `name` and places the process.
    pub fn start(name: &str) -> anyhow::Result<Self> {
        let args: Vec<String> = std::env::args().collect();
        let Some(config_path) = arg(&args, "--config") else {
            bail!(
                "usage: pyrt-{name} --config appliance.toml [--runtime-dir DIR] [--state-dir DIR] [--log-dir DIR]"
            );
        };
        let appliance = pyrt_config::load_appliance(&PathBuf::from(&config_path))
            .with_context(|| format!("loading {config_path}"))?;
        let Some((_, daemon)) = appliance
            .daemons
            .all()
            .into_iter()
            .find(|(n, _)| *n == name)
        else {
            bail!("no [daemons.{name}] in {config_path}");
        };
        let daemon = daemon.clone();
        for refusal in apply(
            Placement {
                core: daemon.core,
                sched_fifo: daemon.sched_fifo,
                mlockall: daemon.mlockall,
            },
            FIFO_PRIORITY,
        ) {
            eprintln!("{name}: placement: {refusal}");
        }
        let dir = |flag: &str, configured: &str| {
            arg(&args, flag).map_or_else(|| PathBuf::from(configured), PathBuf::from)
        };
        Ok(Self {
            config_path: PathBuf::from(&config_path),
            runtime_dir: dir("--runtime-dir", &appliance.appliance.runtime_dir),
            state_dir: dir("--state-dir", &appliance.appliance.state_dir),
            log_dir: dir("--log-dir", &appliance.appliance.log_dir),
            appliance,
            daemon,
        })
    }

    /// Where relative paths in the configuration (the risk limits file) are resolved.
    #[must_use]
    pub fn config_dir(&self) -> PathBuf {
        self.config_path
            .parent()
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
    }

    /// The broker keys, from the environment or systemd credentials (never the config file).
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        let broker = &self.appliance.broker;
        Ok(Credentials {
            key_id: load_secret(&broker.key_id_env)?.expose().to_owned(),
            secret_key: load_secret(&broker.secret_key_env)?.expose().to_owned(),
        })
    }

    #[must_use]
    pub fn wait(&self) -> WaitStrategy {
        match self.daemon.wait_strategy {
            pyrt_config::model::WaitStrategy::BusySpin => WaitStrategy::BusySpin,
            pyrt_config::model::WaitStrategy::SpinYield => WaitStrategy::SpinYield { spins: 1000 },
            pyrt_config::model::WaitStrategy::Park => WaitStrategy::Park,
        }
    }

    #[must_use]
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(u64::from(self.daemon.heartbeat_ms))
    }

    #[must_use]
    pub fn metrics(&self) -> Option<SocketAddr> {
        Some(([127, 0, 0, 1], self.daemon.metrics_port).into())
    }

    /// `<log_dir>/<daemon>.hlog`, written every `[telemetry] interval_s`.
    #[must_use]
    pub fn hdr_log(&self, daemon: &str) -> Option<(PathBuf, Duration)> {
        if let Err(e) = std::fs::create_dir_all(&self.log_dir) {
            eprintln!("{daemon}: no HDR log ({}: {e})", self.log_dir.display());
            return None;
        }
        let every = Duration::from_secs(u64::from(self.appliance.telemetry.interval_s));
        Some((self.log_dir.join(format!("{daemon}.hlog")), every))
    }

    #[must_use]
    pub fn histogram(&self) -> HistogramSpec {
        HistogramSpec {
            max_ns: self.appliance.telemetry.max_latency_ns,
            significant_figures: self.appliance.telemetry.significant_figures,
        }
    }
}

/// Runs `daemon` on a current-thread runtime; the future it is given completes on SIGTERM or
/// SIGINT.
pub fn run_until_signal<F, E>(
    daemon: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()>>>) -> F,
) -> anyhow::Result<()>
where
    F: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let shutdown = Box::pin(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        });
        daemon(shutdown).await.map_err(anyhow::Error::from)
    })
}

/// For daemons with a synchronous loop (strategy, risk): a flag that SIGTERM or SIGINT sets.
pub fn stop_on_signal() -> std::io::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, std::sync::Arc::clone(&stop))?;
    }
    Ok(stop)
}
