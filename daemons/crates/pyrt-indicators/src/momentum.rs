//! Momentum and trend: RSI, MACD, stochastic, ADX.

use crate::moving::{Ema, Sma};
use crate::window::Window;
use crate::{Hlc, Indicator, IndicatorError, check_period, is_zero};

/// True range against the previous close (TA-Lib's macro, comparison order included).
#[inline]
pub(crate) fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    let mut out = high - low;
    let up = (high - prev_close).abs();
    if up > out {
        out = up;
    }
    let down = (low - prev_close).abs();
    if down > out {
        out = down;
    }
    out
}

/// Wilder's relative strength index.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    seen: usize,
    prev: f64,
    gain: f64,
    loss: f64,
}

impl Rsi {
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("RSI period", period, 2)?;
        Ok(Self {
            period,
            seen: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
        })
    }

    fn value(&self) -> f64 {
        let total = self.gain + self.loss;
        if is_zero(total) {
            0.0
        } else {
            100.0 * (self.gain / total)
        }
    }
}

impl Indicator for Rsi {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        self.seen += 1;
        if self.seen == 1 {
            self.prev = x;
            return None;
        }
        let change = x - self.prev;
        self.prev = x;
        #[allow(clippy::cast_precision_loss)]
        let p = self.period as f64;
        let seeding = self.seen <= self.period + 1;
        if !seeding {
            self.loss *= p - 1.0;
            self.gain *= p - 1.0;
        }
        if change < 0.0 {
            self.loss -= change;
        } else {
            self.gain += change;
        }
        if seeding && self.seen < self.period + 1 {
            return None;
        }
        self.loss /= p;
        self.gain /= p;
        Some(self.value())
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        *self = Self {
            period: self.period,
            seen: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
        };
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdOutput {
    pub macd: f64,
    pub signal: f64,
    pub histogram: f64,
}

/// MACD line, signal and histogram. As in TA-Lib, the fast average is seeded on the bar where
/// the slow one first has a value, so both start together.
#[derive(Debug, Clone)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    lookback: usize,
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, IndicatorError> {
        check_period("MACD fast period", fast, 2)?;
        check_period("MACD slow period", slow, 2)?;
        check_period("MACD signal period", signal, 1)?;
        // TA-Lib swaps the periods when given in the wrong order.
        let (fast, slow) = if slow < fast {
            (slow, fast)
        } else {
            (fast, slow)
        };
        Ok(Self {
            fast: Ema::with_skip(fast, slow - fast)?,
            slow: Ema::new(slow)?,
            signal: Ema::new(signal)?,
            lookback: slow - 1 + signal - 1,
        })
    }
}

impl Indicator for Macd {
    type Input = f64;
    type Output = MacdOutput;

    #[inline]
    fn update(&mut self, x: f64) -> Option<MacdOutput> {
        let fast = self.fast.update(x);
        let slow = self.slow.update(x)?;
        let macd = fast? - slow;
        let signal = self.signal.update(macd)?;
        Some(MacdOutput {
            macd,
            signal,
            histogram: macd - signal,
        })
    }

    fn lookback(&self) -> usize {
        self.lookback
    }

    fn reset(&mut self) {
        self.fast.reset();
        self.slow.reset();
        self.signal.reset();
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochOutput {
    pub slow_k: f64,
    pub slow_d: f64,
}

/// Slow stochastic: %K over `fast_k` bars smoothed by SMA(`slow_k`), %D = SMA(`slow_d`) of that.
#[derive(Debug, Clone)]
pub struct Stoch {
    highs: Window,
    lows: Window,
    slow_k: Sma,
    slow_d: Sma,
    lookback: usize,
}

impl Stoch {
    pub fn new(fast_k: usize, slow_k: usize, slow_d: usize) -> Result<Self, IndicatorError> {
        check_period("STOCH fast %K period", fast_k, 1)?;
        Ok(Self {
            highs: Window::new(fast_k),
            lows: Window::new(fast_k),
            slow_k: Sma::new(slow_k)?,
            slow_d: Sma::new(slow_d)?,
            lookback: fast_k - 1 + slow_k - 1 + slow_d - 1,
        })
    }
}

impl Indicator for Stoch {
    type Input = Hlc;
    type Output = StochOutput;

    #[inline]
    fn update(&mut self, bar: Hlc) -> Option<StochOutput> {
        self.highs.push(bar.high);
        self.lows.push(bar.low);
        if !self.highs.is_full() {
            return None;
        }
        let highest = self.highs.iter().fold(f64::MIN, f64::max);
        let lowest = self.lows.iter().fold(f64::MAX, f64::min);
        // TA-Lib divides by range/100 rather than multiplying by 100; the rounding differs.
        let range = (highest - lowest) / 100.0;
        let fast_k = if range == 0.0 {
            0.0
        } else {
            (bar.close - lowest) / range
        };
        let slow_k = self.slow_k.update(fast_k)?;
        let slow_d = self.slow_d.update(slow_k)?;
        Some(StochOutput { slow_k, slow_d })
    }

    fn lookback(&self) -> usize {
        self.lookback
    }

    fn reset(&mut self) {
        self.highs.clear();
        self.lows.clear();
        self.slow_k.reset();
        self.slow_d.reset();
    }
}

/// Wilder's average directional index.
#[derive(Debug, Clone)]
pub struct Adx {
    period: usize,
    seen: usize,
    prev_high: f64,
    prev_low: f64,
    prev_close: f64,
    plus_dm: f64,
    minus_dm: f64,
    tr: f64,
    sum_dx: f64,
    value: f64,
}

impl Adx {
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("ADX period", period, 2)?;
        Ok(Self::fresh(period))
    }

    fn fresh(period: usize) -> Self {
        Self {
            period,
            seen: 0,
            prev_high: 0.0,
            prev_low: 0.0,
            prev_close: 0.0,
            plus_dm: 0.0,
            minus_dm: 0.0,
            tr: 0.0,
            sum_dx: 0.0,
            value: 0.0,
        }
    }

    fn dx(&self) -> Option<f64> {
        if is_zero(self.tr) {
            return None;
        }
        let minus_di = 100.0 * (self.minus_dm / self.tr);
        let plus_di = 100.0 * (self.plus_dm / self.tr);
        let total = minus_di + plus_di;
        (!is_zero(total)).then(|| 100.0 * ((minus_di - plus_di).abs() / total))
    }
}

impl Indicator for Adx {
    type Input = Hlc;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Hlc) -> Option<f64> {
        self.seen += 1;
        if self.seen == 1 {
            (self.prev_high, self.prev_low, self.prev_close) = (bar.high, bar.low, bar.close);
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let p = self.period as f64;
        let diff_plus = bar.high - self.prev_high;
        self.prev_high = bar.high;
        let diff_minus = self.prev_low - bar.low;
        self.prev_low = bar.low;
        let smoothing = self.seen > self.period;
        if smoothing {
            self.minus_dm -= self.minus_dm / p;
            self.plus_dm -= self.plus_dm / p;
        }
        if diff_minus > 0.0 && diff_plus < diff_minus {
            self.minus_dm += diff_minus;
        } else if diff_plus > 0.0 && diff_plus > diff_minus {
            self.plus_dm += diff_plus;
        }
        let tr = true_range(self.prev_high, self.prev_low, self.prev_close);
        self.tr = if smoothing {
            self.tr - (self.tr / p) + tr
        } else {
            self.tr + tr
        };
        self.prev_close = bar.close;
        if !smoothing {
            return None;
        }
        let dx = self.dx();
        if self.seen <= 2 * self.period {
            if let Some(dx) = dx {
                self.sum_dx += dx;
            }
            if self.seen < 2 * self.period {
                return None;
            }
            self.value = self.sum_dx / p;
        } else if let Some(dx) = dx {
            self.value = ((self.value * (p - 1.0)) + dx) / p;
        }
        Some(self.value)
    }

    fn lookback(&self) -> usize {
        2 * self.period - 1
    }

    fn reset(&mut self) {
        *self = Self::fresh(self.period);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run;

    #[test]
    fn rsi_extremes_and_lookback() {
        let up: Vec<f64> = (0..20).map(f64::from).collect();
        let rsi = run(Rsi::new(14).unwrap(), up.iter().copied());
        assert!(rsi[..14].iter().all(|v| v.is_nan()));
        assert!(rsi[14..].iter().all(|&v| (v - 100.0).abs() < 1e-12));
        let flat = run(Rsi::new(3).unwrap(), [5.0; 6].into_iter());
        assert_eq!(flat[5], 0.0);
    }

    #[test]
    fn macd_and_stoch_lookbacks_follow_ta_lib() {
        let m = Macd::new(12, 26, 9).unwrap();
        assert_eq!(m.lookback(), 33);
        assert_eq!(Macd::new(26, 12, 9).unwrap().lookback(), 33);
        assert_eq!(Stoch::new(5, 3, 3).unwrap().lookback(), 8);
        assert_eq!(Adx::new(14).unwrap().lookback(), 27);
        assert!(Adx::new(1).is_err());
    }
}
