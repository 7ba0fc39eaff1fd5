//! `pyrt-exec --config config/appliance.toml`: the execution daemon.

use std::time::Duration;

use pyrt_alpaca::rest::RestConfig;
use pyrt_exec::{ExecConfig, run};
use pyrt_launch::{Launch, run_until_signal};
use pyrt_ring::names;

fn main() -> anyhow::Result<()> {
    let launch = Launch::start("exec")?;
    let appliance = &launch.appliance;
    let mut rest = RestConfig::new(&appliance.broker.trading_base_url, launch.credentials()?);
    rest.requests_per_minute = appliance.broker.requests_per_minute;
    let config = ExecConfig {
        runtime_dir: launch.runtime_dir.clone(),
        state_dir: launch.state_dir.clone(),
        fill_consumers: names::FILL_CONSUMERS.map(str::to_owned).to_vec(),
        fill_capacity: appliance.rings.fill,
        rest,
        symbols: appliance.universe.symbols.clone(),
        client_order_prefix: appliance.appliance.name.clone(),
        wait: launch.wait(),
        heartbeat: launch.heartbeat(),
        reconcile_every: Duration::from_secs(1),
        metrics: launch.metrics(),
        histogram: launch.histogram(),
        hdr_log: launch.hdr_log("exec"),
    };
    run_until_signal(|shutdown| run(config, shutdown))
}
