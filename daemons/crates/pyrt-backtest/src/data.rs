//! Market data of a backtest, column by column per symbol, checked once on the way in, and the
//! merged timeline the engine walks.
//!
//! Prices arrive from research as `f64` columns (pandas) and become fixed-point here, each as the
//! decimal its float prints as, so the fill model and the accounting work in exact money like the
//! live path. A float whose shortest form has more than nine decimals (binary noise of arithmetic,
//! such as `100.04455800000001`) is rounded to the nearest 10⁻⁹, the money grid of the whole
//! system; only values beyond the fixed-point range (about ±9.2e9) are refused.

use pyrt_fill::BarPrices;
use pyrt_types::{DecimalError, Price, Qty, SymbolError, SymbolId, SymbolTable};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    #[error("{symbol}: column {column} has {got} values, the timestamps {expected}")]
    Length {
        symbol: String,
        column: &'static str,
        expected: usize,
        got: usize,
    },
    #[error(
        "{symbol}: row {row}: timestamp {ts} is not after the previous row's {prev} (sort the rows and drop duplicates first)"
    )]
    Unsorted {
        symbol: String,
        row: usize,
        ts: i64,
        prev: i64,
    },
    #[error("{symbol}: row {row}: {column} = {value} ({reason})")]
    Value {
        symbol: String,
        row: usize,
        column: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error("{symbol}: row {row}: the high-low range does not contain the open and close")]
    Range { symbol: String, row: usize },
    #[error("symbol {0:?}: {1}")]
    Symbol(String, SymbolError),
    #[error("{symbol} already has {what}")]
    Twice { symbol: String, what: &'static str },
    #[error("no market data was added")]
    Empty,
}

/// Quote columns as research has them.
#[derive(Debug, Clone, Copy)]
pub struct QuoteColumns<'a> {
    pub ts: &'a [i64],
    pub bid: &'a [f64],
    pub ask: &'a [f64],
    pub bid_size: &'a [f64],
    pub ask_size: &'a [f64],
}

/// Trade columns as research has them.
#[derive(Debug, Clone, Copy)]
pub struct TradeColumns<'a> {
    pub ts: &'a [i64],
    pub price: &'a [f64],
    pub size: &'a [f64],
}

/// Bars of one symbol. `ts` is when the bar is known (its close); `session` groups bars into
/// trading sessions (day orders expire at a session's last bar, the daily loss limit resets).
#[derive(Debug, Clone, Default)]
pub struct Bars {
    pub ts: Vec<i64>,
    pub bars: Vec<BarPrices>,
    pub session: Vec<i64>,
    /// Cash per share paid on the ex-date, zero otherwise.
    pub dividend: Vec<Price>,
    /// New shares per old on the split date; `Qty::ONE_UNIT` (1.0) otherwise.
    pub split: Vec<Qty>,
}

#[derive(Debug, Clone, Default)]
pub struct Quotes {
    pub ts: Vec<i64>,
    pub bid: Vec<Price>,
    pub ask: Vec<Price>,
    pub bid_size: Vec<Qty>,
    pub ask_size: Vec<Qty>,
}

#[derive(Debug, Clone, Default)]
pub struct Trades {
    pub ts: Vec<i64>,
    pub price: Vec<Price>,
    pub size: Vec<Qty>,
}

/// 1.0 as a ratio in `Qty`'s fixed point.
pub const UNIT: Qty = Qty::from_raw(pyrt_types::SCALE);

struct Checker<'a> {
    symbol: &'a str,
    n: usize,
}

impl Checker<'_> {
    fn err_value(
        &self,
        row: usize,
        column: &'static str,
        value: f64,
        reason: &'static str,
    ) -> DataError {
        DataError::Value {
            symbol: self.symbol.to_owned(),
            row,
            column,
            value,
            reason,
        }
    }

    fn len(&self, column: &'static str, got: usize) -> Result<(), DataError> {
        if got == self.n {
            Ok(())
        } else {
            Err(DataError::Length {
                symbol: self.symbol.to_owned(),
                column,
                expected: self.n,
                got,
            })
        }
    }

    /// Bars must strictly increase in time; ticks may share a timestamp (several prints in one
    /// nanosecond bucket) but may not go back.
    fn sorted(&self, ts: &[i64], strictly: bool) -> Result<(), DataError> {
        let bad = |w: &[i64]| if strictly { w[1] <= w[0] } else { w[1] < w[0] };
        match ts.windows(2).position(bad) {
            None => Ok(()),
            Some(i) => Err(DataError::Unsorted {
                symbol: self.symbol.to_owned(),
                row: i + 1,
                ts: ts[i + 1],
                prev: ts[i],
            }),
        }
    }

    /// A fixed-point column from floats: finite, and positive (prices) or non-negative (sizes).
    fn fixed<T>(
        &self,
        column: &'static str,
        values: &[f64],
        positive: bool,
        convert: impl Fn(f64) -> Option<T>,
    ) -> Result<Vec<T>, DataError> {
        self.len(column, values.len())?;
        values
            .iter()
            .enumerate()
            .map(|(row, &v)| {
                if !v.is_finite() {
                    return Err(self.err_value(row, column, v, "not a finite number"));
                }
                if positive && v <= 0.0 {
                    return Err(self.err_value(row, column, v, "must be positive"));
                }
                if v < 0.0 {
                    return Err(self.err_value(row, column, v, "must not be negative"));
                }
                convert(v).ok_or_else(|| {
                    self.err_value(
                        row,
                        column,
                        v,
                        "beyond the fixed-point range of about ±9.2e9",
                    )
                })
            })
            .collect()
    }
}

/// The fixed-point raw value of `v`: its shortest decimal when that has at most nine decimals,
/// else `v` rounded to the nearest 10⁻⁹; `None` beyond the range.
fn raw_of(v: f64, exact: Result<i64, DecimalError>) -> Option<i64> {
    match exact {
        Ok(raw) => Some(raw),
        Err(DecimalError::TooPrecise) => {
            let scaled = (v * 1e9).round();
            // 2⁶³ as f64; anything at or past it does not fit an i64.
            #[allow(clippy::cast_possible_truncation)]
            (scaled.abs() < 9.223_372_036_854_775e18).then_some(scaled as i64)
        }
        Err(_) => None,
    }
}

fn price(v: f64) -> Option<Price> {
    raw_of(v, Price::from_f64_shortest(v).map(Price::raw)).map(Price::from_raw)
}

fn qty(v: f64) -> Option<Qty> {
    raw_of(v, Qty::from_f64_shortest(v).map(Qty::raw)).map(Qty::from_raw)
}

/// Bar columns as research has them.
#[derive(Debug, Clone, Copy)]
pub struct BarColumns<'a> {
    pub ts: &'a [i64],
    pub open: &'a [f64],
    pub high: &'a [f64],
    pub low: &'a [f64],
    pub close: &'a [f64],
    pub volume: &'a [f64],
    pub session: Option<&'a [i64]>,
    pub dividend: Option<&'a [f64]>,
    pub split: Option<&'a [f64]>,
}

impl Bars {
    /// Checks and converts `columns`: strictly increasing timestamps, positive finite prices, a
    /// high-low range containing open and close, non-negative volume and dividends, positive
    /// split ratios. Every failure names the symbol, the row and the rule.
    pub fn from_columns(symbol: &str, columns: &BarColumns<'_>) -> Result<Self, DataError> {
        let check = Checker {
            symbol,
            n: columns.ts.len(),
        };
        check.sorted(columns.ts, true)?;
        let open = check.fixed("open", columns.open, true, price)?;
        let high = check.fixed("high", columns.high, true, price)?;
        let low = check.fixed("low", columns.low, true, price)?;
        let close = check.fixed("close", columns.close, true, price)?;
        let volume = check.fixed("volume", columns.volume, false, qty)?;
        let mut bars = Vec::with_capacity(check.n);
        for row in 0..check.n {
            let bar = BarPrices {
                open: open[row],
                high: high[row],
                low: low[row],
                close: close[row],
                volume: volume[row],
            };
            if bar.high < bar.low
                || bar.high < bar.open.max(bar.close)
                || bar.low > bar.open.min(bar.close)
            {
                return Err(DataError::Range {
                    symbol: symbol.to_owned(),
                    row,
                });
            }
            bars.push(bar);
        }
        let session = match columns.session {
            Some(s) => {
                check.len("session", s.len())?;
                s.to_vec()
            }
            // Without a calendar every bar is its own session (daily bars).
            None => (0..).take(check.n).collect(),
        };
        let dividend = match columns.dividend {
            Some(d) => check.fixed("dividend", d, false, price)?,
            None => vec![Price::ZERO; check.n],
        };
        let split = match columns.split {
            Some(s) => check.fixed("split", s, true, qty)?,
            None => vec![UNIT; check.n],
        };
        Ok(Self {
            ts: columns.ts.to_vec(),
            bars,
            session,
            dividend,
            split,
        })
    }

    /// Whether bar `i` is the last of its session.
    #[must_use]
    pub fn session_end(&self, i: usize) -> bool {
        self.session
            .get(i + 1)
            .is_none_or(|&next| next != self.session[i])
    }
}

impl Quotes {
    pub fn from_columns(symbol: &str, columns: &QuoteColumns<'_>) -> Result<Self, DataError> {
        let check = Checker {
            symbol,
            n: columns.ts.len(),
        };
        check.sorted(columns.ts, false)?;
        let bid = check.fixed("bid", columns.bid, true, price)?;
        let ask = check.fixed("ask", columns.ask, true, price)?;
        for (row, (b, a)) in bid.iter().zip(&ask).enumerate() {
            if b > a {
                return Err(check.err_value(
                    row,
                    "bid",
                    b.to_f64_lossy(),
                    "crossed: above the ask",
                ));
            }
        }
        Ok(Self {
            ts: columns.ts.to_vec(),
            bid,
            ask,
            bid_size: check.fixed("bid_size", columns.bid_size, false, qty)?,
            ask_size: check.fixed("ask_size", columns.ask_size, false, qty)?,
        })
    }
}

impl Trades {
    pub fn from_columns(symbol: &str, columns: &TradeColumns<'_>) -> Result<Self, DataError> {
        let check = Checker {
            symbol,
            n: columns.ts.len(),
        };
        check.sorted(columns.ts, false)?;
        Ok(Self {
            ts: columns.ts.to_vec(),
            price: check.fixed("price", columns.price, true, price)?,
            size: check.fixed("size", columns.size, false, qty)?,
        })
    }
}

/// What one step of the timeline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    // At equal timestamps ticks come before the bar that summarises them.
    Trade = 0,
    Quote = 1,
    Bar = 2,
}

/// One event of the merged timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub ts: i64,
    pub kind: Kind,
    pub symbol: SymbolId,
    pub index: u32,
}

#[derive(Debug, Clone, Default)]
pub struct SymbolData {
    pub bars: Option<Bars>,
    pub quotes: Option<Quotes>,
    pub trades: Option<Trades>,
}

/// Every symbol's data and the timeline over all of it, in time order.
#[derive(Debug, Clone, Default)]
pub struct MarketData {
    pub symbols: SymbolTable,
    pub data: Vec<SymbolData>,
    pub timeline: Vec<Step>,
}

impl MarketData {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&mut self, symbol: &str) -> Result<(SymbolId, &mut SymbolData), DataError> {
        let id = self
            .symbols
            .intern(symbol)
            .map_err(|e| DataError::Symbol(symbol.to_owned(), e))?;
        let index = id.0 as usize;
        if self.data.len() <= index {
            self.data.resize_with(index + 1, SymbolData::default);
        }
        Ok((id, &mut self.data[index]))
    }

    /// Stores one kind of series for `symbol`; each kind may be given once per symbol.
    fn put<T>(
        &mut self,
        symbol: &str,
        what: &'static str,
        series: T,
        field: impl FnOnce(&mut SymbolData) -> &mut Option<T>,
    ) -> Result<SymbolId, DataError> {
        let (id, slot) = self.slot(symbol)?;
        let place = field(slot);
        if place.is_some() {
            return Err(DataError::Twice {
                symbol: symbol.to_owned(),
                what,
            });
        }
        *place = Some(series);
        Ok(id)
    }

    pub fn add_bars(&mut self, symbol: &str, bars: Bars) -> Result<SymbolId, DataError> {
        self.put(symbol, "bars", bars, |d| &mut d.bars)
    }

    pub fn add_quotes(&mut self, symbol: &str, quotes: Quotes) -> Result<SymbolId, DataError> {
        self.put(symbol, "quotes", quotes, |d| &mut d.quotes)
    }

    pub fn add_trades(&mut self, symbol: &str, trades: Trades) -> Result<SymbolId, DataError> {
        self.put(symbol, "trades", trades, |d| &mut d.trades)
    }

    /// Merges every series into one timeline (stable: equal timestamps keep kind, then symbol,
    /// then row order).
    pub fn build_timeline(&mut self) -> Result<(), DataError> {
        let mut steps = Vec::new();
        for (s, d) in self.data.iter().enumerate() {
            let symbol = SymbolId(u32::try_from(s).unwrap_or(u32::MAX));
            let mut push = |ts: &[i64], kind| {
                steps.extend(ts.iter().enumerate().map(|(i, &ts)| Step {
                    ts,
                    kind,
                    symbol,
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                }));
            };
            if let Some(b) = &d.bars {
                push(&b.ts, Kind::Bar);
            }
            if let Some(q) = &d.quotes {
                push(&q.ts, Kind::Quote);
            }
            if let Some(t) = &d.trades {
                push(&t.ts, Kind::Trade);
            }
        }
        if steps.is_empty() {
            return Err(DataError::Empty);
        }
        steps.sort_by_key(|s| (s.ts, s.kind, s.symbol.0, s.index));
        self.timeline = steps;
        Ok(())
    }

    #[must_use]
    pub fn symbol_count(&self) -> usize {
        self.data.len()
    }
}
