//! `pyrt-md --config config/appliance.toml`: the market-data daemon.

use pyrt_alpaca::stream::market::Encoding;
use pyrt_launch::{Launch, run_until_signal};
use pyrt_md::{MdConfig, run};

fn main() -> anyhow::Result<()> {
    let launch = Launch::start("md")?;
    let appliance = &launch.appliance;
    let config = MdConfig {
        runtime_dir: launch.runtime_dir.clone(),
        ring_capacity: appliance.rings.md,
        symbols: appliance.universe.symbols.clone(),
        stream_url: appliance.broker.data_stream_url.clone(),
        credentials: launch.credentials()?,
        encoding: Encoding::MessagePack,
        heartbeat: launch.heartbeat(),
        metrics: launch.metrics(),
        histogram: launch.histogram(),
    };
    run_until_signal(|shutdown| run(config, shutdown))
}
