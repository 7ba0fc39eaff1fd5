//! `pyrt-md --config config/appliance.toml`: the market-data daemon.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use pyrt_alpaca::rest::Credentials;
use pyrt_alpaca::stream::market::Encoding;
use pyrt_config::secrets::load_secret;
use pyrt_md::{MdConfig, run};
use pyrt_runtime::{Placement, apply};
use pyrt_telemetry::HistogramSpec;
use tokio::signal::unix::{SignalKind, signal};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(config_path) = arg(&args, "--config") else {
        bail!("usage: pyrt-md --config appliance.toml [--runtime-dir DIR]");
    };
    let appliance = pyrt_config::load_appliance(&PathBuf::from(&config_path))
        .with_context(|| format!("loading {config_path}"))?;
    let daemon = &appliance.daemons.md;
    for failure in apply(
        Placement {
            core: daemon.core,
            sched_fifo: daemon.sched_fifo,
            mlockall: daemon.mlockall,
        },
        50,
    ) {
        eprintln!("md: placement: {failure}");
    }
    let key = load_secret(&appliance.broker.key_id_env)?;
    let secret = load_secret(&appliance.broker.secret_key_env)?;
    let config = MdConfig {
        runtime_dir: arg(&args, "--runtime-dir").map_or_else(
            || PathBuf::from(&appliance.appliance.runtime_dir),
            PathBuf::from,
        ),
        ring_capacity: appliance.rings.md,
        symbols: appliance.universe.symbols.clone(),
        stream_url: appliance.broker.data_stream_url.clone(),
        credentials: Credentials {
            key_id: key.expose().to_owned(),
            secret_key: secret.expose().to_owned(),
        },
        encoding: Encoding::MessagePack,
        heartbeat: Duration::from_millis(u64::from(daemon.heartbeat_ms)),
        metrics: Some(([127, 0, 0, 1], daemon.metrics_port).into()),
        histogram: HistogramSpec {
            max_ns: appliance.telemetry.max_latency_ns,
            significant_figures: appliance.telemetry.significant_figures,
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        run(config, shutdown).await.map_err(anyhow::Error::from)
    })
}
