//! Moving averages: simple, exponential (SMA-seeded, as TA-Lib), weighted.

use crate::column::{Column, check_columns, collect};
use crate::fma::fma_dispatch;
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
        let [out] = collect(values.len(), |out| Self::batch_into(values, period, out))?;
        Ok(out)
    }

    #[inline(never)]
    pub(crate) fn batch_into(
        values: &[f64],
        period: usize,
        out: &mut [Column<'_>; 1],
    ) -> Result<(), IndicatorError> {
        check_period("SMA period", period, 1)?;
        check_columns(out, values.len())?;
        let [out] = out;
        let lookback = period - 1;
        if !out.warm_up(values.len(), lookback) {
            return Ok(());
        }
        #[allow(clippy::cast_precision_loss)]
        let n = period as f64;
        let mut sum = values[..lookback].iter().fold(0.0, |s, &x| s + x);
        let mut rows = out.rows();
        for (&x, &trailing) in values[lookback..].iter().zip(values) {
            sum += x;
            rows.push([sum / n]);
            sum -= trailing;
        }
        Ok(())
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

impl Ema {
    /// The whole series at once: [`Ema::new`] fed one value at a time, except that the step
    /// `(x - ema) * k + ema` is one fused multiply-add, as TA-Lib 0.8 computes it (the
    /// incremental object rounds the product first; the two differ in the last bits, rarely).
    pub fn batch(values: &[f64], period: usize) -> Result<Vec<f64>, IndicatorError> {
        let [out] = collect(values.len(), |out| Self::batch_into(values, period, out))?;
        Ok(out)
    }

    #[inline(never)]
    pub(crate) fn batch_into(
        values: &[f64],
        period: usize,
        out: &mut [Column<'_>; 1],
    ) -> Result<(), IndicatorError> {
        check_period("EMA period", period, 1)?;
        check_columns(out, values.len())?;
        let [out] = out;
        ema_into(values, period, out);
        Ok(())
    }
}

fma_dispatch!(fn ema_into(values: &[f64], period: usize, out: &mut Column<'_>) => ema_kernel);

// Inlined into each target-feature copy of its dispatcher, or `mul_add` becomes a libm call.
#[allow(clippy::inline_always)]
#[inline(always)]
fn ema_kernel(values: &[f64], period: usize, out: &mut Column<'_>) {
    let lookback = period - 1;
    if !out.warm_up(values.len(), lookback) {
        return;
    }
    #[allow(clippy::cast_precision_loss)]
    let (n, k) = (period as f64, 2.0 / (period as f64 + 1.0));
    let mut ema = values[..period].iter().fold(0.0, |s, &x| s + x) / n;
    out.push(ema);
    let mut rows = out.rows();
    for &x in &values[period..] {
        ema = (x - ema).mul_add(k, ema);
        rows.push([ema]);
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

/// TA-Lib 0.8 rebuilds WMA's running sums from the window on every `8 * period`-th output, so
/// their rounding no longer accumulates over the whole series.
const WMA_RESEED_PERIODS: usize = 8;

impl Wma {
    /// The whole series at once: the incremental recurrence, plus TA-Lib 0.8's periodic rebuild
    /// of both running sums (every `8 * period` outputs, from the window, in input order). Equal
    /// bit for bit to [`Wma::update`] until the first rebuild; after it the incremental object
    /// keeps the drift of a never-rebuilt sum (about 5e-8 relative after a million bars), the
    /// batch form stays within rounding of the exact weighted mean. For the same reason a `NaN`
    /// input stops poisoning the batch output at the first rebuild after it left the window.
    pub fn batch(values: &[f64], period: usize) -> Result<Vec<f64>, IndicatorError> {
        let [out] = collect(values.len(), |out| Self::batch_into(values, period, out))?;
        Ok(out)
    }

    #[inline(never)]
    pub(crate) fn batch_into(
        values: &[f64],
        period: usize,
        out: &mut [Column<'_>; 1],
    ) -> Result<(), IndicatorError> {
        check_period("WMA period", period, 1)?;
        check_columns(out, values.len())?;
        let [out] = out;
        let lookback = period - 1;
        if !out.warm_up(values.len(), lookback) {
            return Ok(());
        }
        #[allow(clippy::cast_precision_loss)]
        let (weight, divider) = (period as f64, (period * (period + 1) / 2) as f64);
        // Σ weight·x and Σ x over the window: TA-Lib's periodSum and periodSub.
        let (mut weighted, mut plain) = (0.0, 0.0);
        for (i, &x) in values[..lookback].iter().enumerate() {
            plain += x;
            #[allow(clippy::cast_precision_loss)]
            let w = (i + 1) as f64;
            weighted += x * w;
        }
        let mut trailing = 0.0;
        let mut until_reseed = WMA_RESEED_PERIODS * period;
        let mut rows = out.rows();
        for i in lookback..values.len() {
            until_reseed -= 1;
            let total = if until_reseed == 0 {
                until_reseed = WMA_RESEED_PERIODS * period;
                let window = &values[i - lookback..=i];
                plain = window.iter().fold(0.0, |s, &x| s + x);
                #[allow(clippy::cast_precision_loss)]
                let total = window
                    .iter()
                    .enumerate()
                    .fold(0.0, |s, (j, &x)| s + (j + 1) as f64 * x);
                total
            } else {
                let x = values[i];
                plain += x;
                plain -= trailing;
                weighted + x * weight
            };
            trailing = values[i - lookback];
            rows.push([total / divider]);
            weighted = total - plain;
        }
        Ok(())
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
    use crate::testing::{Bars, assert_close, assert_same_bits, incremental, lengths};

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
    fn the_batch_ema_is_the_incremental_one_with_its_step_fused() {
        let bars = Bars::walk(3000, 1);
        for period in [1, 2, 3, 14, 30, 200] {
            for n in lengths(period - 1, 3000) {
                let x = &bars.close[..n];
                let batch = Ema::batch(x, period).unwrap();
                let [reference] =
                    incremental(Ema::new(period).unwrap(), x.iter().copied(), |v| [v]);
                assert_close(
                    &batch,
                    &reference,
                    1e-13,
                    0.0,
                    &format!("EMA-{period}, {n}"),
                );
            }
        }
        // A NaN before the seed and one after: both poison what follows, in both forms.
        let x = Bars::walk(400, 2).with_nans(&[3, 250]).close;
        let batch = Ema::batch(&x, 10).unwrap();
        let [reference] = incremental(Ema::new(10).unwrap(), x.iter().copied(), |v| [v]);
        assert_close(&batch, &reference, 1e-13, 0.0, "EMA with NaN");
        assert!(batch.iter().all(|v| v.is_nan()));
        assert_eq!(Ema::batch(&x, 0).unwrap_err(), Ema::new(0).unwrap_err());
    }

    #[test]
    fn the_batch_wma_is_the_incremental_one_until_it_rebuilds_its_sums() {
        let bars = Bars::walk(5000, 3);
        for period in [1, 2, 5, 30] {
            // The first rebuild is on the `8 * period`-th output.
            let before_rebuild = period - 1 + 8 * period - 1;
            for n in lengths(period - 1, before_rebuild) {
                let x = &bars.close[..n];
                let batch = Wma::batch(x, period).unwrap();
                let [reference] =
                    incremental(Wma::new(period).unwrap(), x.iter().copied(), |v| [v]);
                assert_same_bits(&batch, &reference, &format!("WMA-{period}, {n}"));
            }
            let x = &bars.close;
            let batch = Wma::batch(x, period).unwrap();
            let [reference] = incremental(Wma::new(period).unwrap(), x.iter().copied(), |v| [v]);
            // What separates them is the incremental sums' drift, largest at short periods.
            assert_close(&batch, &reference, 1e-9, 0.0, &format!("WMA-{period}"));
            // The rebuilt sums stay at rounding of the weighted mean computed directly.
            #[allow(clippy::cast_precision_loss)]
            let divider = (period * (period + 1) / 2) as f64;
            for (i, window) in x.windows(period).enumerate() {
                #[allow(clippy::cast_precision_loss)]
                let exact = window
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (j + 1) as f64 * v)
                    .sum::<f64>()
                    / divider;
                let got = batch[i + period - 1];
                assert!(
                    (got - exact).abs() <= 1e-13 * exact,
                    "WMA-{period}[{i}]: {got} {exact}"
                );
            }
        }
        // A NaN poisons both forms' sums; the batch form's next rebuild after the NaN has left
        // the window clears them (the 72nd output of WMA-9, bar 79), the incremental object's
        // never.
        let x = Bars::walk(400, 4).with_nans(&[3]).close;
        let batch = Wma::batch(&x, 9).unwrap();
        let [reference] = incremental(Wma::new(9).unwrap(), x.iter().copied(), |v| [v]);
        assert_same_bits(&batch[..79], &reference[..79], "WMA with NaN");
        assert!(reference[79..].iter().all(|v| v.is_nan()));
        let clean = Wma::batch(&x[4..], 9).unwrap();
        assert_close(&batch[79..], &clean[75..], 1e-13, 0.0, "WMA after NaN");
        assert_eq!(Wma::batch(&x, 0).unwrap_err(), Wma::new(0).unwrap_err());
    }

    #[test]
    fn the_batch_sma_handles_short_inputs_and_nan() {
        let x = Bars::walk(300, 5).with_nans(&[100]).close;
        for period in [1, 2, 30] {
            for n in lengths(period - 1, x.len()) {
                let batch = Sma::batch(&x[..n], period).unwrap();
                let reference = run(Sma::new(period).unwrap(), x[..n].iter().copied());
                assert_same_bits(&batch, &reference, &format!("SMA-{period}, {n}"));
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
