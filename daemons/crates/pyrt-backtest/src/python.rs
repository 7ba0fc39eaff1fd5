//! Python face of the backtest core (feature `python`): `pyrt._core.backtest.Engine`.
//!
//! Columns come in as numpy arrays and results go out as numpy arrays; a Python strategy is any
//! object with some of `on_bar(ctx, symbol, i)`, `on_quote(ctx, symbol, i)`,
//! `on_trade(ctx, symbol, i)` and `on_fill(ctx, fill)`. The engine stays in Rust: a callback only
//! sees a [`PyCtx`] (the account snapshot and an order outbox), so a slow Python strategy costs its
//! own time and no more.

// PyO3 extracts arguments into owned values.
#![allow(clippy::needless_pass_by_value)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyrt_fill::{BarPrices, FeeModel, FillConfig};
use pyrt_risk::RiskLimits;
use pyrt_types::{Notional, OrderType, Price, Qty, Side, SymbolId, TimeInForce};

use crate::data::{BarColumns, Bars, MarketData, QuoteColumns, Quotes, TradeColumns, Trades};
use crate::engine::{
    Backtest, BacktestConfig, Ctx, FillRecord, OrderRequest, OrderState, Strategy, StrategyError,
    StrategyResult,
};
use crate::strategies::SmaCross;
use crate::sweep::sweep;

type Floats<'py> = PyReadonlyArray1<'py, f64>;
type Ints<'py> = PyReadonlyArray1<'py, i64>;

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn floats<'a>(array: &'a Floats<'_>) -> Cow<'a, [f64]> {
    array
        .as_slice()
        .map_or_else(|_| Cow::Owned(array.as_array().to_vec()), Cow::Borrowed)
}

fn ints<'a>(array: &'a Ints<'_>) -> Cow<'a, [i64]> {
    array
        .as_slice()
        .map_or_else(|_| Cow::Owned(array.as_array().to_vec()), Cow::Borrowed)
}

/// A quantity from Python: a decimal string is exact, a float is the decimal it prints as.
fn qty_of(value: &Bound<'_, PyAny>) -> PyResult<Qty> {
    if let Ok(text) = value.extract::<String>() {
        return Qty::parse(&text).map_err(|e| value_error(format!("qty {text:?}: {e}")));
    }
    let number: f64 = value.extract()?;
    Qty::from_f64_shortest(number).map_err(|e| value_error(format!("qty {number}: {e}")))
}

fn price_of(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Price> {
    if let Ok(text) = value.extract::<String>() {
        return Price::parse(&text).map_err(|e| value_error(format!("{what} {text:?}: {e}")));
    }
    let number: f64 = value.extract()?;
    if !(number.is_finite() && number > 0.0) {
        return Err(value_error(format!(
            "{what} must be a positive price, got {number}"
        )));
    }
    Price::from_f64_shortest(number).map_err(|e| value_error(format!("{what} {number}: {e}")))
}

/// The strategy's handle during a callback.
#[pyclass(name = "Context", module = "pyrt._core.backtest")]
struct PyCtx {
    inner: Ctx,
    ids: Arc<HashMap<String, SymbolId>>,
}

impl PyCtx {
    fn symbol(&self, name: &str) -> PyResult<SymbolId> {
        self.ids.get(name).copied().ok_or_else(|| {
            value_error(format!(
                "unknown symbol {name:?}: it has no data in this backtest"
            ))
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn order(
        &mut self,
        side: Side,
        symbol: &str,
        qty: &Bound<'_, PyAny>,
        limit: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        tif: &str,
    ) -> PyResult<u64> {
        let qty = qty_of(qty)?;
        if qty.raw() <= 0 {
            return Err(value_error(format!("qty must be positive, got {qty}")));
        }
        let limit = limit.map(|p| price_of(p, "limit")).transpose()?;
        let stop = stop.map(|p| price_of(p, "stop")).transpose()?;
        let order_type = match (limit.is_some(), stop.is_some()) {
            (false, false) => OrderType::Market,
            (true, false) => OrderType::Limit,
            (false, true) => OrderType::Stop,
            (true, true) => OrderType::StopLimit,
        };
        let time_in_force: TimeInForce = tif.parse().map_err(value_error)?;
        Ok(self.inner.submit(OrderRequest {
            symbol: self.symbol(symbol)?,
            side,
            order_type,
            time_in_force,
            qty,
            limit,
            stop,
        }))
    }
}

#[pymethods]
impl PyCtx {
    /// Buys `qty` (market, or limit / stop / stop-limit when prices are given); returns the
    /// order id.
    #[pyo3(signature = (symbol, qty, limit = None, stop = None, tif = "gtc"))]
    fn buy(
        &mut self,
        symbol: &str,
        qty: &Bound<'_, PyAny>,
        limit: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        tif: &str,
    ) -> PyResult<u64> {
        self.order(Side::Buy, symbol, qty, limit, stop, tif)
    }

    #[pyo3(signature = (symbol, qty, limit = None, stop = None, tif = "gtc"))]
    fn sell(
        &mut self,
        symbol: &str,
        qty: &Bound<'_, PyAny>,
        limit: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        tif: &str,
    ) -> PyResult<u64> {
        self.order(Side::Sell, symbol, qty, limit, stop, tif)
    }

    /// A market order that flattens `symbol`; None when already flat.
    fn close(&mut self, symbol: &str) -> PyResult<Option<u64>> {
        let id = self.symbol(symbol)?;
        let position = self.inner.position(id);
        if position.is_zero() {
            return Ok(None);
        }
        let side = if position.is_negative() {
            Side::Buy
        } else {
            Side::Sell
        };
        Ok(Some(self.inner.market(id, side, position.abs())))
    }

    fn cancel(&mut self, order_id: u64) {
        self.inner.cancel(order_id);
    }

    fn position(&self, symbol: &str) -> PyResult<f64> {
        Ok(self.inner.position(self.symbol(symbol)?).to_f64_lossy())
    }

    #[getter]
    fn cash(&self) -> f64 {
        self.inner.cash().to_f64_lossy()
    }

    #[getter]
    fn equity(&self) -> f64 {
        self.inner.equity().to_f64_lossy()
    }

    /// Nanoseconds since the Unix epoch of the event being handled.
    #[getter]
    fn ts(&self) -> i64 {
        self.inner.ts()
    }
}

/// Adapts a Python object to [`Strategy`]; keeps the first Python exception to re-raise it.
struct PyStrategy<'py> {
    obj: Bound<'py, PyAny>,
    ctx: Bound<'py, PyCtx>,
    names: Vec<Bound<'py, PyString>>,
    has: [bool; 4],
    error: Option<PyErr>,
}

impl<'py> PyStrategy<'py> {
    fn call(
        &mut self,
        ctx: &mut Ctx,
        method: &Bound<'py, PyString>,
        args: impl FnOnce(&Self) -> PyResult<Bound<'py, pyo3::types::PyTuple>>,
    ) -> StrategyResult {
        std::mem::swap(ctx, &mut self.ctx.borrow_mut().inner);
        let outcome = args(self).and_then(|a| self.obj.call_method1(method, a));
        std::mem::swap(ctx, &mut self.ctx.borrow_mut().inner);
        outcome.map(|_| ()).map_err(|e| {
            let message = e.to_string();
            self.error.get_or_insert(e);
            StrategyError(message)
        })
    }

    fn tick(
        &mut self,
        ctx: &mut Ctx,
        which: usize,
        name: &'static str,
        symbol: SymbolId,
        index: usize,
    ) -> StrategyResult {
        if !self.has[which] {
            return Ok(());
        }
        let py = self.obj.py();
        let method = PyString::intern(py, name);
        self.call(ctx, &method, |s| {
            (s.ctx.clone(), s.names[symbol.0 as usize].clone(), index).into_pyobject(py)
        })
    }
}

const CALLBACKS: [&str; 4] = ["on_bar", "on_quote", "on_trade", "on_fill"];

impl Strategy for PyStrategy<'_> {
    fn on_bar(
        &mut self,
        ctx: &mut Ctx,
        symbol: SymbolId,
        _bar: &BarPrices,
        index: usize,
    ) -> StrategyResult {
        self.tick(ctx, 0, "on_bar", symbol, index)
    }

    fn on_quote(
        &mut self,
        ctx: &mut Ctx,
        symbol: SymbolId,
        _bid: Price,
        _ask: Price,
        index: usize,
    ) -> StrategyResult {
        self.tick(ctx, 1, "on_quote", symbol, index)
    }

    fn on_trade(
        &mut self,
        ctx: &mut Ctx,
        symbol: SymbolId,
        _price: Price,
        _size: Qty,
        index: usize,
    ) -> StrategyResult {
        self.tick(ctx, 2, "on_trade", symbol, index)
    }

    fn on_fill(&mut self, ctx: &mut Ctx, fill: &FillRecord) -> StrategyResult {
        if !self.has[3] {
            return Ok(());
        }
        let py = self.obj.py();
        let method = intern!(py, "on_fill").clone();
        let fill = *fill;
        self.call(ctx, &method, |s| {
            let record = (
                fill.order_id,
                s.names[fill.symbol.0 as usize].clone(),
                fill.ts,
                fill.side.as_str(),
                fill.qty.to_f64_lossy(),
                fill.price.to_f64_lossy(),
                fill.fee.to_f64_lossy(),
                fill.liquidity.as_str(),
            );
            (s.ctx.clone(), record).into_pyobject(py)
        })
    }
}

/// `pyrt._core.backtest.Engine(...)`: add market data, then run strategies over it; results of
/// the last run stay available.
#[pyclass(name = "Engine", module = "pyrt._core.backtest")]
struct PyEngine {
    building: MarketData,
    data: Option<Arc<MarketData>>,
    config: BacktestConfig,
    risk_config: Option<pyrt_config::model::RiskLimitsConfig>,
    last: Option<Backtest>,
}

impl PyEngine {
    fn add(
        &mut self,
        add: impl FnOnce(&mut MarketData) -> Result<SymbolId, crate::DataError>,
    ) -> PyResult<()> {
        if self.data.is_some() {
            return Err(PyRuntimeError::new_err(
                "market data is frozen once a backtest has run; make a new Engine",
            ));
        }
        add(&mut self.building).map(|_| ()).map_err(value_error)
    }

    fn shared(&mut self) -> PyResult<Arc<MarketData>> {
        if let Some(data) = &self.data {
            return Ok(Arc::clone(data));
        }
        self.building.build_timeline().map_err(value_error)?;
        let data = Arc::new(std::mem::take(&mut self.building));
        self.config.risk = self
            .risk_config
            .as_ref()
            .map(|c| RiskLimits::from_config(c, &data.symbols));
        self.data = Some(Arc::clone(&data));
        Ok(data)
    }

    fn ids(data: &MarketData) -> HashMap<String, SymbolId> {
        data.symbols
            .names()
            .zip(0u32..)
            .map(|(n, i)| (n.to_owned(), SymbolId(i)))
            .collect()
    }

    fn symbol(data: &MarketData, name: &str) -> PyResult<SymbolId> {
        data.symbols
            .get(name)
            .filter(|id| {
                data.data
                    .get(id.0 as usize)
                    .is_some_and(|d| d.bars.is_some())
            })
            .ok_or_else(|| value_error(format!("no bars for symbol {name:?}")))
    }

    fn last(&self) -> PyResult<&Backtest> {
        self.last
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("no backtest has run yet"))
    }
}

#[pymethods]
impl PyEngine {
    /// Amounts are decimal strings; `risk_limits` is the text of a `risk_limits.toml`, checked as
    /// the risk daemon checks it.
    #[new]
    #[pyo3(signature = (initial_cash = "100000", commission_bps = 0, per_share = "0", regulatory_fees = false, slippage_bps = 0, latency_ns = 0, bar_volume_cap_bps = 0, apply_splits = false, check_buying_power = true, risk_limits = None, record = true))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
    fn new(
        initial_cash: &str,
        commission_bps: i64,
        per_share: &str,
        regulatory_fees: bool,
        slippage_bps: u32,
        latency_ns: i64,
        bar_volume_cap_bps: u32,
        apply_splits: bool,
        check_buying_power: bool,
        risk_limits: Option<&str>,
        record: bool,
    ) -> PyResult<Self> {
        let initial_cash = Notional::parse(initial_cash)
            .map_err(|e| value_error(format!("initial_cash {initial_cash:?}: {e}")))?;
        if initial_cash.raw() <= 0 {
            return Err(value_error("initial_cash must be positive"));
        }
        if commission_bps < 0 {
            return Err(value_error("commission_bps must not be negative"));
        }
        if latency_ns < 0 {
            return Err(value_error("latency_ns must not be negative"));
        }
        let mut fees = if regulatory_fees {
            FeeModel::alpaca_regulatory()
        } else {
            FeeModel::default()
        };
        fees.bps = commission_bps;
        fees.per_share = Price::parse(per_share)
            .map_err(|e| value_error(format!("per_share {per_share:?}: {e}")))?;
        let risk_config = risk_limits
            .map(|text| {
                pyrt_config::parse_risk_limits(text).map_err(|issues| {
                    let lines: Vec<String> = issues.iter().map(ToString::to_string).collect();
                    value_error(format!("risk limits: {}", lines.join("; ")))
                })
            })
            .transpose()?;
        Ok(Self {
            building: MarketData::new(),
            data: None,
            config: BacktestConfig {
                initial_cash,
                fill: FillConfig {
                    latency_ns,
                    slippage_bps,
                    bar_volume_cap_bps: bar_volume_cap_bps.min(10_000),
                    fees,
                    ..FillConfig::default()
                },
                apply_splits,
                check_buying_power,
                risk: None,
                record,
            },
            risk_config,
            last: None,
        })
    }

    /// Bars of one symbol: `ts` in ns (when each bar is known), prices and volume as floats.
    #[pyo3(signature = (symbol, ts, open, high, low, close, volume, session = None, dividend = None, split = None))]
    #[allow(clippy::too_many_arguments)]
    fn add_bars(
        &mut self,
        symbol: &str,
        ts: Ints<'_>,
        open: Floats<'_>,
        high: Floats<'_>,
        low: Floats<'_>,
        close: Floats<'_>,
        volume: Floats<'_>,
        session: Option<Ints<'_>>,
        dividend: Option<Floats<'_>>,
        split: Option<Floats<'_>>,
    ) -> PyResult<()> {
        let session = session.as_ref().map(ints);
        let dividend = dividend.as_ref().map(floats);
        let split = split.as_ref().map(floats);
        let bars = Bars::from_columns(
            symbol,
            &BarColumns {
                ts: &ints(&ts),
                open: &floats(&open),
                high: &floats(&high),
                low: &floats(&low),
                close: &floats(&close),
                volume: &floats(&volume),
                session: session.as_deref(),
                dividend: dividend.as_deref(),
                split: split.as_deref(),
            },
        )
        .map_err(value_error)?;
        self.add(|d| d.add_bars(symbol, bars))
    }

    fn add_quotes(
        &mut self,
        symbol: &str,
        ts: Ints<'_>,
        bid: Floats<'_>,
        ask: Floats<'_>,
        bid_size: Floats<'_>,
        ask_size: Floats<'_>,
    ) -> PyResult<()> {
        let quotes = Quotes::from_columns(
            symbol,
            &QuoteColumns {
                ts: &ints(&ts),
                bid: &floats(&bid),
                ask: &floats(&ask),
                bid_size: &floats(&bid_size),
                ask_size: &floats(&ask_size),
            },
        )
        .map_err(value_error)?;
        self.add(|d| d.add_quotes(symbol, quotes))
    }

    fn add_trades(
        &mut self,
        symbol: &str,
        ts: Ints<'_>,
        price: Floats<'_>,
        size: Floats<'_>,
    ) -> PyResult<()> {
        let trades = Trades::from_columns(
            symbol,
            &TradeColumns {
                ts: &ints(&ts),
                price: &floats(&price),
                size: &floats(&size),
            },
        )
        .map_err(value_error)?;
        self.add(|d| d.add_trades(symbol, trades))
    }

    /// The Rust moving-average crossover (see `SmaCross`), with the GIL released.
    #[pyo3(signature = (symbol, fast, slow, qty, allow_short = false))]
    fn run_sma_cross(
        &mut self,
        py: Python<'_>,
        symbol: &str,
        fast: usize,
        slow: usize,
        qty: &Bound<'_, PyAny>,
        allow_short: bool,
    ) -> PyResult<()> {
        let data = self.shared()?;
        let id = Self::symbol(&data, symbol)?;
        let mut strategy =
            SmaCross::new(id, fast, slow, qty_of(qty)?, allow_short).map_err(value_error)?;
        let config = self.config.clone();
        let backtest = py.detach(move || {
            let mut backtest = Backtest::new(data, config);
            backtest.run(&mut strategy).map(|()| backtest)
        });
        self.last = Some(backtest.map_err(|e| PyRuntimeError::new_err(e.to_string()))?);
        Ok(())
    }

    /// Runs a Python strategy; `progress(done, total)` is called every `chunk` events.
    #[pyo3(signature = (strategy, progress = None, chunk = 10_000))]
    fn run(
        &mut self,
        strategy: Bound<'_, PyAny>,
        progress: Option<Bound<'_, PyAny>>,
        chunk: usize,
    ) -> PyResult<()> {
        let py = strategy.py();
        let data = self.shared()?;
        let ids = Arc::new(Self::ids(&data));
        let names = data
            .symbols
            .names()
            .map(|n| PyString::intern(py, n))
            .collect();
        let mut has = [false; 4];
        for (slot, name) in has.iter_mut().zip(CALLBACKS) {
            *slot = strategy.hasattr(name)?;
        }
        if !has.iter().any(|h| *h) {
            return Err(value_error(format!(
                "the strategy has none of the callbacks {}",
                CALLBACKS.join(", ")
            )));
        }
        let ctx = Bound::new(
            py,
            PyCtx {
                inner: Ctx::default(),
                ids,
            },
        )?;
        let mut adapter = PyStrategy {
            obj: strategy,
            ctx,
            names,
            has,
            error: None,
        };
        let mut backtest = Backtest::new(data, self.config.clone());
        loop {
            let done = backtest.run_steps(&mut adapter, chunk.max(1));
            if let Some(err) = adapter.error.take() {
                return Err(err);
            }
            let done = done.map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
            if let Some(callback) = &progress {
                let (at, total) = backtest.progress();
                callback.call1((at, total))?;
            }
            if done {
                break;
            }
        }
        self.last = Some(backtest);
        Ok(())
    }

    /// A grid of `(fast, slow)` crossovers on `threads` threads; one summary dict per pair.
    #[pyo3(signature = (symbol, pairs, qty, threads = 2, allow_short = false))]
    fn sweep_sma_cross<'py>(
        &mut self,
        py: Python<'py>,
        symbol: &str,
        pairs: Vec<(usize, usize)>,
        qty: &Bound<'_, PyAny>,
        threads: usize,
        allow_short: bool,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let data = self.shared()?;
        let id = Self::symbol(&data, symbol)?;
        let qty = qty_of(qty)?;
        let config = self.config.clone();
        let results = py
            .detach(|| {
                sweep(&data, &config, &pairs, threads, |&(fast, slow)| {
                    SmaCross::new(id, fast, slow, qty, allow_short)
                        .map_err(|e| StrategyError(e.to_string()))
                })
            })
            .map_err(value_error)?;
        results
            .iter()
            .map(|r| {
                let d = summary_dict(py, &r.summary)?;
                d.set_item("fast", r.params.0)?;
                d.set_item("slow", r.params.1)?;
                Ok(d)
            })
            .collect()
    }

    /// Every symbol with data, in id order.
    fn symbols(&self) -> Vec<String> {
        let data = self.data.as_deref().unwrap_or(&self.building);
        data.symbols.names().map(str::to_owned).collect()
    }

    /// The equity curve of the last run: `ts`, `equity`, `cash`, `gross_exposure`.
    fn curve<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let curve = self.last()?.curve();
        let d = PyDict::new(py);
        column(&d, "ts", curve, |p| p.ts)?;
        for (name, get) in [
            (
                "equity",
                (|p: &crate::CurvePoint| p.equity) as fn(&crate::CurvePoint) -> Notional,
            ),
            ("cash", |p| p.cash),
            ("gross_exposure", |p| p.gross_exposure),
        ] {
            let values: Vec<f64> = curve.iter().map(|p| get(p).to_f64_lossy()).collect();
            d.set_item(name, PyArray1::from_vec(py, values))?;
        }
        Ok(d)
    }

    fn fills<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let backtest = self.last()?;
        let fills = backtest.fills();
        let names: Vec<&str> = backtest.data().symbols.names().collect();
        let d = PyDict::new(py);
        d.set_item(
            "order_id",
            fills.iter().map(|f| f.order_id).collect::<Vec<_>>(),
        )?;
        labels(
            &d,
            "symbol",
            fills.iter().map(|f| names[f.symbol.0 as usize]),
        )?;
        column(&d, "ts", fills, |f| f.ts)?;
        labels(&d, "side", fills.iter().map(|f| f.side.as_str()))?;
        column(&d, "qty", fills, |f| f.qty.to_f64_lossy())?;
        column(&d, "price", fills, |f| f.price.to_f64_lossy())?;
        column(&d, "fee", fills, |f| f.fee.to_f64_lossy())?;
        labels(&d, "liquidity", fills.iter().map(|f| f.liquidity.as_str()))?;
        Ok(d)
    }

    fn orders<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let backtest = self.last()?;
        let orders = backtest.orders();
        let names: Vec<&str> = backtest.data().symbols.names().collect();
        let optional = |p: Option<Price>| p.map_or(f64::NAN, Price::to_f64_lossy);
        let d = PyDict::new(py);
        d.set_item("id", orders.iter().map(|o| o.id).collect::<Vec<_>>())?;
        column(&d, "ts", orders, |o| o.ts)?;
        labels(
            &d,
            "symbol",
            orders.iter().map(|o| {
                names
                    .get(o.request.symbol.0 as usize)
                    .copied()
                    .unwrap_or("?")
            }),
        )?;
        labels(&d, "side", orders.iter().map(|o| o.request.side.as_str()))?;
        labels(
            &d,
            "type",
            orders.iter().map(|o| o.request.order_type.as_str()),
        )?;
        labels(
            &d,
            "tif",
            orders.iter().map(|o| o.request.time_in_force.as_str()),
        )?;
        column(&d, "qty", orders, |o| o.request.qty.to_f64_lossy())?;
        column(&d, "limit", orders, |o| optional(o.request.limit))?;
        column(&d, "stop", orders, |o| optional(o.request.stop))?;
        column(&d, "filled", orders, |o| o.filled.to_f64_lossy())?;
        let (states, reasons): (Vec<&str>, Vec<&str>) = orders
            .iter()
            .map(|o| match (o.state, o.state.refusal()) {
                (_, Some(reason)) => ("rejected", reason),
                (OrderState::Filled, None) => ("filled", ""),
                (OrderState::Canceled, None) => ("canceled", ""),
                (_, None) => ("open", ""),
            })
            .unzip();
        d.set_item("state", states)?;
        d.set_item("reject_reason", reasons)?;
        Ok(d)
    }

    /// Closed round trips of the last run.
    fn trades<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let backtest = self.last()?;
        let trades = backtest.portfolio().trades();
        let names: Vec<&str> = backtest.data().symbols.names().collect();
        let d = PyDict::new(py);
        labels(
            &d,
            "symbol",
            trades.iter().map(|t| names[t.symbol.0 as usize]),
        )?;
        labels(
            &d,
            "side",
            trades.iter().map(|t| if t.long { "long" } else { "short" }),
        )?;
        column(&d, "qty", trades, |t| t.qty.to_f64_lossy())?;
        column(&d, "entry_ts", trades, |t| t.entry_ts)?;
        column(&d, "exit_ts", trades, |t| t.exit_ts)?;
        column(&d, "entry_price", trades, |t| t.entry_price.to_f64_lossy())?;
        column(&d, "exit_price", trades, |t| t.exit_price.to_f64_lossy())?;
        column(&d, "pnl", trades, |t| t.pnl.to_f64_lossy())?;
        column(&d, "fees", trades, |t| t.fees.to_f64_lossy())?;
        Ok(d)
    }

    /// Counts, exact final amounts (decimal strings) and the risk gate's rejects of the last run.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let backtest = self.last()?;
        let d = summary_dict(py, &backtest.summary())?;
        let portfolio = backtest.portfolio();
        d.set_item("cash", portfolio.cash().to_string())?;
        d.set_item("fees", portfolio.fees().to_string())?;
        d.set_item("dividends", portfolio.dividends().to_string())?;
        d.set_item("kill_switch", backtest.kill_switch())?;
        let rejects = PyDict::new(py);
        for (reason, n) in backtest.rejects() {
            rejects.set_item(reason, n)?;
        }
        d.set_item("rejects", rejects)?;
        let positions = PyDict::new(py);
        for (name, i) in backtest.data().symbols.names().zip(0u32..) {
            let q = portfolio.position(SymbolId(i));
            if !q.is_zero() {
                positions.set_item(name, q.to_string())?;
            }
        }
        d.set_item("positions", positions)?;
        Ok(d)
    }
}

/// One numpy column of a result table: `get` of every row.
fn column<T, V: numpy::Element>(
    d: &Bound<'_, PyDict>,
    name: &str,
    rows: &[T],
    get: impl Fn(&T) -> V,
) -> PyResult<()> {
    d.set_item(
        name,
        PyArray1::from_vec(d.py(), rows.iter().map(get).collect()),
    )
}

/// One column of names or labels, as a Python list.
fn labels<'a>(
    d: &Bound<'_, PyDict>,
    name: &str,
    values: impl Iterator<Item = &'a str>,
) -> PyResult<()> {
    d.set_item(name, values.collect::<Vec<_>>())
}

fn summary_dict<'py>(py: Python<'py>, s: &crate::Summary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("events", s.events)?;
    d.set_item("fills", s.fills)?;
    d.set_item("orders", s.orders)?;
    d.set_item("rejected", s.rejected)?;
    d.set_item("closed_trades", s.closed_trades)?;
    d.set_item("final_equity", s.final_equity.to_string())?;
    d.set_item("peak_equity", s.peak_equity.to_string())?;
    d.set_item("max_drawdown", s.max_drawdown)?;
    Ok(d)
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let backtest = PyModule::new(module.py(), "backtest")?;
    backtest.add_class::<PyEngine>()?;
    backtest.add_class::<PyCtx>()?;
    module.add_submodule(&backtest)?;
    // `from pyrt._core.backtest import Engine` needs the submodule registered by its full name.
    module
        .py()
        .import("sys")?
        .getattr("modules")?
        .set_item("pyrt._core.backtest", &backtest)?;
    Ok(())
}
