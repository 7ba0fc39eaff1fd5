//! `pyrt-strategy --config config/appliance.toml`: the strategy daemon. ONNX Runtime comes from
//! `ORT_DYLIB_PATH` (the supervisor points it at the onnxruntime wheel's library).

use std::path::PathBuf;

use pyrt_launch::{Launch, stop_on_signal};
use pyrt_strategy::{StrategyConfig, run};
use pyrt_types::Qty;

fn main() -> anyhow::Result<()> {
    let launch = Launch::start("strategy")?;
    let appliance = &launch.appliance;
    let config = StrategyConfig {
        runtime_dir: launch.runtime_dir.clone(),
        symbols: appliance.universe.all(),
        tradable: appliance.universe.symbols.len(),
        model_dir: PathBuf::from(&appliance.model.watch_dir),
        onnxruntime: std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from),
        signal_capacity: appliance.rings.signal,
        rule_qty: Qty::from_units(10).expect("10 shares fit"),
        wait: launch.wait(),
        heartbeat: launch.heartbeat(),
        metrics: launch.metrics(),
        histogram: launch.histogram(),
        hdr_log: launch.hdr_log("strategy"),
    };
    let stop = stop_on_signal()?;
    run(&config, &stop)?;
    Ok(())
}
