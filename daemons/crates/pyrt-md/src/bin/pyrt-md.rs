//! `pyrt-md --config config/appliance.toml`: the market-data daemon.

use pyrt_alpaca::rest::RestConfig;
use pyrt_alpaca::stream::market::Encoding;
use pyrt_launch::{Launch, run_until_signal};
use pyrt_md::{BackfillConfig, MdConfig, run};

fn main() -> anyhow::Result<()> {
    let launch = Launch::start("md")?;
    let appliance = &launch.appliance;
    let credentials = launch.credentials()?;
    let mut rest = RestConfig::new(&appliance.broker.data_base_url, credentials.clone());
    rest.requests_per_minute = appliance.broker.requests_per_minute;
    let config = MdConfig {
        runtime_dir: launch.runtime_dir.clone(),
        ring_capacity: appliance.rings.md,
        symbols: appliance.universe.symbols.clone(),
        stream_url: appliance.broker.data_stream_url.clone(),
        credentials,
        encoding: if appliance.broker.data_stream_encoding == "json" {
            Encoding::Json
        } else {
            Encoding::MessagePack
        },
        heartbeat: launch.heartbeat(),
        metrics: launch.metrics(),
        histogram: launch.histogram(),
        crypto: appliance.universe.crypto.clone(),
        crypto_stream_url: Some(appliance.broker.crypto_stream_url.clone()),
        hdr_log: launch.hdr_log("md"),
        backfill: Some(BackfillConfig {
            rest,
            feed: appliance.broker.data_feed.clone(),
        }),
    };
    run_until_signal(|shutdown| run(config, shutdown))
}
