//! Volatility: ATR, Bollinger Bands, rolling z-score, rolling volatility of log returns.

use crate::momentum::true_range;
use crate::moving::Sma;
use crate::window::Window;
use crate::{Hlc, Indicator, IndicatorError, check_period};

/// Average true range, Wilder-smoothed and seeded with the mean of the first `period` ranges.
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    seen: usize,
    prev_close: f64,
    seed_sum: f64,
    value: f64,
}

impl Atr {
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("ATR period", period, 1)?;
        Ok(Self {
            period,
            seen: 0,
            prev_close: 0.0,
            seed_sum: 0.0,
            value: 0.0,
        })
    }
}

impl Indicator for Atr {
    type Input = Hlc;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Hlc) -> Option<f64> {
        self.seen += 1;
        let prev_close = std::mem::replace(&mut self.prev_close, bar.close);
        if self.seen == 1 {
            return None;
        }
        let tr = true_range(bar.high, bar.low, prev_close);
        #[allow(clippy::cast_precision_loss)]
        let p = self.period as f64;
        if self.seen <= self.period + 1 {
            self.seed_sum += tr;
            if self.seen <= self.period {
                return None;
            }
            self.value = self.seed_sum / p;
        } else {
            self.value *= p - 1.0;
            self.value += tr;
            self.value /= p;
        }
        Some(self.value)
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        *self = Self {
            period: self.period,
            seen: 0,
            prev_close: 0.0,
            seed_sum: 0.0,
            value: 0.0,
        };
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBandsOutput {
    pub upper: f64,
    pub middle: f64,
    pub lower: f64,
}

/// Bollinger Bands around an SMA, population standard deviation from running sums of squares
/// (TA-Lib's formulation, including its clamp of tiny negative variances to zero).
#[derive(Debug, Clone)]
pub struct BBands {
    sma: Sma,
    squares: Window,
    sum_squares: f64,
    dev_up: f64,
    dev_down: f64,
    period: usize,
}

impl BBands {
    pub fn new(period: usize, dev_up: f64, dev_down: f64) -> Result<Self, IndicatorError> {
        check_period("BBANDS period", period, 2)?;
        Ok(Self {
            sma: Sma::new(period)?,
            squares: Window::new(period),
            sum_squares: 0.0,
            dev_up,
            dev_down,
            period,
        })
    }
}

impl Indicator for BBands {
    type Input = f64;
    type Output = BBandsOutput;

    #[inline]
    fn update(&mut self, x: f64) -> Option<BBandsOutput> {
        let square = x * x;
        self.sum_squares += square;
        self.squares.push(square);
        let middle = self.sma.update(x)?;
        #[allow(clippy::cast_precision_loss)]
        let mut variance = self.sum_squares / self.period as f64;
        self.sum_squares -= self.squares.oldest().unwrap_or(0.0);
        variance -= middle * middle;
        let std = if variance < 0.000_000_01 {
            0.0
        } else {
            variance.sqrt()
        };
        Some(BBandsOutput {
            upper: middle + std * self.dev_up,
            middle,
            lower: middle - std * self.dev_down,
        })
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.sma.reset();
        self.squares.clear();
        self.sum_squares = 0.0;
    }
}

/// Mean and population or sample standard deviation of a window, two-pass (no cancellation).
fn mean_std(window: &Window, ddof: usize) -> (f64, f64) {
    #[allow(clippy::cast_precision_loss)]
    let n = window.len() as f64;
    let mean = window.iter().sum::<f64>() / n;
    let squares: f64 = window.iter().map(|v| (v - mean) * (v - mean)).sum();
    #[allow(clippy::cast_precision_loss)]
    let std = (squares / (n - ddof as f64)).sqrt();
    (mean, std)
}

/// How many population standard deviations the newest value is from the window's mean; `0` when
/// the window is flat.
#[derive(Debug, Clone)]
pub struct ZScore {
    window: Window,
}

impl ZScore {
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("z-score period", period, 2)?;
        Ok(Self {
            window: Window::new(period),
        })
    }
}

impl Indicator for ZScore {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        if !self.window.is_full() {
            return None;
        }
        let (mean, std) = mean_std(&self.window, 0);
        Some(if std > 0.0 { (x - mean) / std } else { 0.0 })
    }

    fn lookback(&self) -> usize {
        self.window.len().max(1) - 1
    }

    fn reset(&mut self) {
        self.window.clear();
    }
}

/// Sample standard deviation (ddof 1, as pandas' `rolling().std()`) of the last `period` log
/// returns; not annualised.
#[derive(Debug, Clone)]
pub struct RollingVolatility {
    returns: Window,
    prev: Option<f64>,
    period: usize,
}

impl RollingVolatility {
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("volatility period", period, 2)?;
        Ok(Self {
            returns: Window::new(period),
            prev: None,
            period,
        })
    }
}

impl Indicator for RollingVolatility {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, price: f64) -> Option<f64> {
        let prev = self.prev.replace(price)?;
        self.returns.push((price / prev).ln());
        self.returns.is_full().then(|| mean_std(&self.returns, 1).1)
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.returns.clear();
        self.prev = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run;

    #[test]
    fn bands_zscore_and_volatility_by_hand() {
        let mut bb = BBands::new(2, 2.0, 2.0).unwrap();
        assert_eq!(bb.update(1.0), None);
        let out = bb.update(3.0).unwrap();
        assert_eq!((out.middle, out.upper, out.lower), (2.0, 4.0, 0.0));
        let z = run(ZScore::new(2).unwrap(), [1.0, 3.0, 3.0].into_iter());
        assert_eq!(&z[1..], &[1.0, 0.0]);
        let vol = run(
            RollingVolatility::new(2).unwrap(),
            [1.0, std::f64::consts::E, 1.0].into_iter(),
        );
        assert!((vol[2] - 2f64.sqrt()).abs() < 1e-12);
        let atr = run(
            Atr::new(1).unwrap(),
            [
                Hlc {
                    high: 2.0,
                    low: 1.0,
                    close: 1.5,
                },
                Hlc {
                    high: 3.0,
                    low: 2.5,
                    close: 2.8,
                },
            ]
            .into_iter(),
        );
        assert_eq!(atr[1], 1.5);
    }
}
