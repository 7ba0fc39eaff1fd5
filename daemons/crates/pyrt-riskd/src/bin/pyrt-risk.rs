//! `pyrt-risk --config config/appliance.toml`: the risk daemon.

use pyrt_launch::{Launch, stop_on_signal};
use pyrt_riskd::{RiskdConfig, run};

fn main() -> anyhow::Result<()> {
    let launch = Launch::start("risk")?;
    let appliance = &launch.appliance;
    let config = RiskdConfig {
        runtime_dir: launch.runtime_dir.clone(),
        limits_path: launch.config_dir().join(&appliance.appliance.risk_limits),
        symbols: appliance.universe.symbols.clone(),
        order_capacity: appliance.rings.order,
        wait: launch.wait(),
        heartbeat: launch.heartbeat(),
        metrics: launch.metrics(),
        histogram: launch.histogram(),
        hdr_log: launch.hdr_log("risk"),
        exec_state_dir: Some(launch.state_dir.clone()),
    };
    let stop = stop_on_signal()?;
    run(&config, &stop)?;
    Ok(())
}
