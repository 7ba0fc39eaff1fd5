//! Moving averages: simple, exponential (SMA-seeded, as TA-Lib), weighted.

use crate::window::Window;
use crate::{Indicator, IndicatorError, check_period};

/// Simple moving average with TA-Lib's running sum: add the newest, output, then drop the oldest.
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    window: Window,
    sum: f64,
}

impl Sma {
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("SMA period", period, 1)?;
        Ok(Self {
            period,
            window: Window::new(period),
            sum: 0.0,
        })
    }
}

impl Sma {
    /// The whole series at once, equal bit for bit to feeding [`Sma::update`] one value at a
    /// time (the same additions and subtractions in the same order), but reading the trailing
    /// value from the input instead of a ring: about twice as fast on long series.
    pub fn batch(values: &[f64], period: usize) -> Result<Vec<f64>, IndicatorError> {
        check_period("SMA period", period, 1)?;
        if values.len() < period {
            return Ok(vec![f64::NAN; values.len()]);
        }
        // Each output written once (no NaN fill to overwrite): the series is memory-bound.
        let mut out = Vec::with_capacity(values.len());
        out.resize(period - 1, f64::NAN);
        #[allow(clippy::cast_precision_loss)]
        let n = period as f64;
        let mut sum = values[..period - 1].iter().fold(0.0, |s, &x| s + x);
        out.extend(
            values[period - 1..]
                .iter()
                .zip(values)
                .map(|(&x, &trailing)| {
                    sum += x;
                    let mean = sum / n;
                    sum -= trailing;
                    mean
                }),
        );
        Ok(out)
    }
}

impl Indicator for Sma {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        self.sum += x;
        self.window.push(x);
        if !self.window.is_full() {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let out = self.sum / self.period as f64;
        // TA-Lib subtracts the trailing value after using the sum; the window's oldest is it.
        self.sum -= self.window.oldest().unwrap_or(0.0);
        Some(out)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
        self.sum = 0.0;
    }
}

/// Exponential moving average, `k = 2 / (period + 1)`, seeded with the SMA of the first `period`
/// inputs. `skip` ignores that many leading inputs first (TA-Lib's MACD seeds its fast average
/// late, so both averages start on the same bar).
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    k: f64,
    skip: usize,
    seen: usize,
    seed_sum: f64,
    value: f64,
}

impl Ema {
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        Self::with_skip(period, 0)
    }

    pub fn with_skip(period: usize, skip: usize) -> Result<Self, IndicatorError> {
        check_period("EMA period", period, 1)?;
        #[allow(clippy::cast_precision_loss)]
        let k = 2.0 / (period as f64 + 1.0);
        Ok(Self {
            period,
            k,
            skip,
            seen: 0,
            seed_sum: 0.0,
            value: 0.0,
        })
    }
}

impl Indicator for Ema {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        self.seen += 1;
        if self.seen <= self.skip {
            return None;
        }
        let n = self.seen - self.skip;
        if n < self.period {
            self.seed_sum += x;
            return None;
        }
        if n == self.period {
            self.seed_sum += x;
            #[allow(clippy::cast_precision_loss)]
            let seed = self.seed_sum / self.period as f64;
            self.value = seed;
        } else {
            self.value = ((x - self.value) * self.k) + self.value;
        }
        Some(self.value)
    }

    fn lookback(&self) -> usize {
        self.skip + self.period - 1
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.seed_sum = 0.0;
        self.value = 0.0;
    }
}

/// Linearly weighted moving average (weights 1..=period, newest heaviest), TA-Lib's
/// sum-and-subtract recurrence.
#[derive(Debug, Clone)]
pub struct Wma {
    period: usize,
    divider: f64,
    window: Window,
    period_sum: f64,
    period_sub: f64,
    trailing: f64,
}

impl Wma {
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("WMA period", period, 1)?;
        #[allow(clippy::cast_precision_loss)]
        let divider = (period * (period + 1) / 2) as f64;
        Ok(Self {
            period,
            divider,
            window: Window::new(period),
            period_sum: 0.0,
            period_sub: 0.0,
            trailing: 0.0,
        })
    }
}

impl Indicator for Wma {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let filled = self.window.len();
        self.window.push(x);
        #[allow(clippy::cast_precision_loss)]
        if filled + 1 < self.period {
            self.period_sub += x;
            self.period_sum += x * (filled + 1) as f64;
            return None;
        }
        self.period_sub += x;
        self.period_sub -= self.trailing;
        #[allow(clippy::cast_precision_loss)]
        let weight = self.period as f64;
        self.period_sum += x * weight;
        self.trailing = self.window.oldest().unwrap_or(0.0);
        let out = self.period_sum / self.divider;
        self.period_sum -= self.period_sub;
        Some(out)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
        self.period_sum = 0.0;
        self.period_sub = 0.0;
        self.trailing = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run;

    #[test]
    fn hand_computed_values() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let sma = run(Sma::new(3).unwrap(), x.iter().copied());
        assert!(sma[..2].iter().all(|v| v.is_nan()));
        assert_eq!(&sma[2..], &[2.0, 3.0, 4.0]);
        let ema = run(Ema::new(3).unwrap(), x.iter().copied());
        assert_eq!(&ema[2..], &[2.0, 3.0, 4.0]);
        let wma = run(Wma::new(3).unwrap(), x.iter().copied());
        assert!((wma[2] - (1.0 + 4.0 + 9.0) / 6.0).abs() < 1e-12);
        assert!((wma[4] - (3.0 + 8.0 + 15.0) / 6.0).abs() < 1e-12);
        let skipped = run(Ema::with_skip(2, 2).unwrap(), x.iter().copied());
        assert_eq!(skipped[3], 3.5);
        assert!(Sma::new(0).is_err());
    }

    proptest::proptest! {
        #[test]
        fn the_batch_sma_is_the_incremental_one_bit_for_bit(
            values in proptest::collection::vec(-1e6f64..1e6, 0..400),
            period in 1usize..60,
        ) {
            let batch = Sma::batch(&values, period).unwrap();
            let incremental = run(Sma::new(period).unwrap(), values.iter().copied());
            proptest::prop_assert_eq!(batch.len(), incremental.len());
            for (b, i) in batch.iter().zip(&incremental) {
                proptest::prop_assert_eq!(b.to_bits(), i.to_bits());
            }
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut sma = Sma::new(2).unwrap();
        sma.update(10.0);
        assert_eq!(sma.update(20.0), Some(15.0));
        sma.reset();
        assert_eq!(sma.update(1.0), None);
        assert_eq!(sma.update(3.0), Some(2.0));
        assert_eq!(sma.lookback(), 1);
    }
}
