//! Parameter sweeps: many backtests of a Rust strategy over the same data, on every core. The data
//! is shared read-only; each backtest keeps only its summary.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::data::MarketData;
use crate::engine::{Backtest, BacktestConfig, Strategy, StrategyError, Summary};

#[derive(Debug, Clone, PartialEq)]
pub struct SweepResult<P> {
    pub params: P,
    pub summary: Summary,
}

/// Runs `make(params)` for every entry of `grid` on `threads` threads (work-stealing by index, so
/// slow parameter sets do not hold a thread's share back). Results come back in grid order.
pub fn sweep<P, S, F>(
    data: &Arc<MarketData>,
    config: &BacktestConfig,
    grid: &[P],
    threads: usize,
    make: F,
) -> Result<Vec<SweepResult<P>>, StrategyError>
where
    P: Clone + Send + Sync,
    S: Strategy,
    F: Fn(&P) -> Result<S, StrategyError> + Sync,
{
    let config = BacktestConfig {
        record: false,
        ..config.clone()
    };
    let next = AtomicUsize::new(0);
    let threads = threads.clamp(1, grid.len().max(1));
    let mut results: Vec<Option<Result<Summary, StrategyError>>> = vec![None; grid.len()];
    let chunks: Vec<Vec<(usize, Result<Summary, StrategyError>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(params) = grid.get(i) else { break };
                        let outcome = make(params).and_then(|mut strategy| {
                            let mut backtest = Backtest::new(Arc::clone(data), config.clone());
                            backtest.run(&mut strategy)?;
                            Ok(backtest.summary())
                        });
                        done.push((i, outcome));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for (i, outcome) in chunks.into_iter().flatten() {
        results[i] = Some(outcome);
    }
    grid.iter()
        .zip(results)
        .map(|(params, outcome)| {
            let summary =
                outcome.unwrap_or_else(|| Err(StrategyError("a sweep worker panicked".into())))?;
            Ok(SweepResult {
                params: params.clone(),
                summary,
            })
        })
        .collect()
}
