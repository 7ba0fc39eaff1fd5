//! Python face of the fill model (feature `python`): the venue simulator's matching is this Rust
//! engine, the same one the backtester uses.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyrt_types::{Notional, OrderType, Price, Qty, Side, TimeInForce, Timestamp};

use crate::{Event, FeeModel, FillConfig, FillEngine, OrderSpec};

fn parse<T: std::str::FromStr>(text: &str, what: &str) -> PyResult<T>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// One outcome: `("fill", id, price, qty, leaves, fee, liquidity, ts_ns)` or
/// `("canceled", id, "", "", leaves, "", "", ts_ns)`; amounts are decimal strings.
type PyEvent = (
    &'static str,
    u64,
    String,
    String,
    String,
    String,
    &'static str,
    i64,
);

fn to_py(event: &Event) -> PyEvent {
    match *event {
        Event::Fill {
            id,
            price,
            qty,
            leaves,
            fee,
            liquidity,
            at,
        } => (
            "fill",
            id,
            price.to_string(),
            qty.to_string(),
            leaves.to_string(),
            fee.to_string(),
            liquidity.as_str(),
            at.unix_nanos(),
        ),
        Event::Canceled { id, leaves, at } => (
            "canceled",
            id,
            String::new(),
            String::new(),
            leaves.to_string(),
            String::new(),
            "",
            at.unix_nanos(),
        ),
    }
}

/// `pyrt._core.FillEngine(latency_ns=0, max_fill_fraction_bps=10000, regulatory_fees=False,
/// per_share="0", bps=0)`: the fill model of one instrument.
#[pyclass(name = "FillEngine", module = "pyrt._core")]
struct PyFillEngine {
    engine: FillEngine,
    out: Vec<Event>,
}

#[pymethods]
impl PyFillEngine {
    #[new]
    #[pyo3(signature = (latency_ns = 0, max_fill_fraction_bps = 10_000, regulatory_fees = false, per_share = "0", bps = 0))]
    fn new(
        latency_ns: i64,
        max_fill_fraction_bps: u32,
        regulatory_fees: bool,
        per_share: &str,
        bps: i64,
    ) -> PyResult<Self> {
        let mut fees = if regulatory_fees {
            FeeModel::alpaca_regulatory()
        } else {
            FeeModel::default()
        };
        fees.per_share = parse::<Price>(per_share, "per_share")?;
        fees.bps = bps;
        let config = FillConfig {
            latency_ns,
            max_fill_fraction_bps: max_fill_fraction_bps.min(10_000),
            fees,
            ..FillConfig::default()
        };
        Ok(Self {
            engine: FillEngine::new(config),
            out: Vec::with_capacity(64),
        })
    }

    /// Adds an order; amounts are decimal strings, enums Alpaca's wire names.
    #[pyo3(signature = (id, side, order_type, time_in_force, qty, limit = None, stop = None, now_ns = 0))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        id: u64,
        side: &str,
        order_type: &str,
        time_in_force: &str,
        qty: &str,
        limit: Option<&str>,
        stop: Option<&str>,
        now_ns: i64,
    ) -> PyResult<()> {
        let spec = OrderSpec {
            id,
            side: parse::<Side>(side, "side")?,
            order_type: parse::<OrderType>(order_type, "type")?,
            time_in_force: parse::<TimeInForce>(time_in_force, "time_in_force")?,
            qty: parse::<Qty>(qty, "qty")?,
            limit: limit
                .map(|p| parse::<Price>(p, "limit_price"))
                .transpose()?,
            stop: stop.map(|p| parse::<Price>(p, "stop_price")).transpose()?,
        };
        self.engine.submit(spec, Timestamp::from_unix_nanos(now_ns));
        Ok(())
    }

    /// Removes an order; its unfilled quantity, or None when it is no longer open.
    fn cancel(&mut self, id: u64) -> Option<String> {
        self.engine.cancel(id).map(|q| q.to_string())
    }

    #[pyo3(signature = (id, qty, limit = None, stop = None))]
    fn replace(
        &mut self,
        id: u64,
        qty: &str,
        limit: Option<&str>,
        stop: Option<&str>,
    ) -> PyResult<bool> {
        let qty = parse::<Qty>(qty, "qty")?;
        let limit = limit
            .map(|p| parse::<Price>(p, "limit_price"))
            .transpose()?;
        let stop = stop.map(|p| parse::<Price>(p, "stop_price")).transpose()?;
        Ok(self.engine.replace(id, qty, limit, stop))
    }

    fn on_quote(
        &mut self,
        bid: &str,
        bid_size: &str,
        ask: &str,
        ask_size: &str,
        now_ns: i64,
    ) -> PyResult<Vec<PyEvent>> {
        self.out.clear();
        self.engine.on_quote(
            parse(bid, "bid")?,
            parse(bid_size, "bid_size")?,
            parse(ask, "ask")?,
            parse(ask_size, "ask_size")?,
            Timestamp::from_unix_nanos(now_ns),
            &mut self.out,
        );
        Ok(self.out.iter().map(to_py).collect())
    }

    fn on_trade(&mut self, price: &str, size: &str, now_ns: i64) -> PyResult<Vec<PyEvent>> {
        self.out.clear();
        self.engine.on_trade(
            parse(price, "price")?,
            parse(size, "size")?,
            Timestamp::from_unix_nanos(now_ns),
            &mut self.out,
        );
        Ok(self.out.iter().map(to_py).collect())
    }

    fn open_orders(&self) -> usize {
        self.engine.open_orders()
    }
}

/// The fee of one execution, for callers that price fills themselves.
#[pyfunction]
#[pyo3(signature = (side, qty, price, regulatory_fees = true))]
fn execution_fee(side: &str, qty: &str, price: &str, regulatory_fees: bool) -> PyResult<String> {
    let fees = if regulatory_fees {
        FeeModel::alpaca_regulatory()
    } else {
        FeeModel::default()
    };
    let fee: Notional = fees.fee(
        parse(side, "side")?,
        parse(qty, "qty")?,
        parse(price, "price")?,
    );
    Ok(fee.to_string())
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyFillEngine>()?;
    module.add_function(wrap_pyfunction!(execution_fee, module)?)?;
    Ok(())
}
