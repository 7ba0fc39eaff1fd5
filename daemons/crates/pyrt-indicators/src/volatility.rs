//! Volatility: ATR, Bollinger Bands, rolling z-score, rolling volatility of log returns.

use crate::column::{Column, Rows, check_columns, collect};
use crate::fma::fma_dispatch;
use crate::momentum::true_range;
use crate::moving::Sma;
use crate::window::Window;
use crate::{Hlc, Indicator, IndicatorError, check_period, same_len};

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

impl Atr {
    /// The whole series at once, with TA-Lib 0.8's Wilder step: `atr * β + α * tr` as one fused
    /// multiply-add, `β = (period - 1) / period` and `α = 1 - β`, which keeps the divide off the
    /// loop-carried chain. The incremental object multiplies, adds and divides, so the two differ
    /// in the last bits; the seed (mean of the first `period` true ranges) is the same.
    pub fn batch(
        high: &[f64],
        low: &[f64],
        close: &[f64],
        period: usize,
    ) -> Result<Vec<f64>, IndicatorError> {
        let [out] = collect(high.len(), |out| {
            Self::batch_into(high, low, close, period, out)
        })?;
        Ok(out)
    }

    #[inline(never)]
    pub(crate) fn batch_into(
        high: &[f64],
        low: &[f64],
        close: &[f64],
        period: usize,
        out: &mut [Column<'_>; 1],
    ) -> Result<(), IndicatorError> {
        check_period("ATR period", period, 1)?;
        check_columns(out, same_len(&[high, low, close])?)?;
        let [out] = out;
        atr_into(high, low, close, period, out);
        Ok(())
    }
}

fma_dispatch!(
    fn atr_into(high: &[f64], low: &[f64], close: &[f64], period: usize, out: &mut Column<'_>)
        => atr_kernel
);

// Inlined into each target-feature copy of its dispatcher, or `mul_add` becomes a libm call.
#[allow(clippy::inline_always)]
#[inline(always)]
fn atr_kernel(high: &[f64], low: &[f64], close: &[f64], period: usize, out: &mut Column<'_>) {
    if !out.warm_up(out.len(), period) {
        return;
    }
    #[allow(clippy::cast_precision_loss)]
    let p = period as f64;
    // β first and α from it: then α + β is exactly 1.
    let beta = (p - 1.0) / p;
    let alpha = 1.0 - beta;
    let seed = (1..=period).fold(0.0, |s, i| s + true_range(high[i], low[i], close[i - 1]));
    let mut atr = seed / p;
    out.push(atr);
    let bars = high[period + 1..]
        .iter()
        .zip(&low[period + 1..])
        .zip(&close[period..]);
    let mut rows = out.rows();
    for ((&h, &l), &prev_close) in bars {
        atr = atr.mul_add(beta, alpha * true_range(h, l, prev_close));
        rows.push([atr]);
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

/// Bollinger Bands over a whole series, one column per band, `NaN` while warming up.
#[derive(Debug, Clone, PartialEq)]
pub struct BBandsColumns {
    pub upper: Vec<f64>,
    pub middle: Vec<f64>,
    pub lower: Vec<f64>,
}

/// Bollinger Bands around an SMA, population standard deviation from running sums of squares
/// (TA-Lib 0.7's formulation, including its clamp of tiny variances to zero; [`BBands::batch`]
/// follows TA-Lib 0.8's more precise one).
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

/// TA-Lib 0.8 rebuilds its variance sums from the window at least every `32 * period` bars.
const VARIANCE_RESEED_PERIODS: usize = 32;

impl BBands {
    /// The whole series at once with TA-Lib 0.8's arithmetic: the middle band is the SMA's
    /// running sum (bit for bit the incremental one's), the deviation comes from running sums of
    /// deviations from a shift near the window instead of raw squares (which cancel
    /// catastrophically: `E[x²]` and `E[x]²` are both about the price squared), the shift
    /// re-anchored on the window mean when the sums lose digits or every `32 * period` bars.
    /// The incremental object keeps the raw squares (2e-9 relative off TA-Lib 0.8's bands on a
    /// million daily bars) and TA-Lib 0.7's zeroing of variances under 1e-8, so on a window whose
    /// deviation is below 1e-4 its bands collapse onto the middle one and these do not.
    pub fn batch(
        values: &[f64],
        period: usize,
        dev_up: f64,
        dev_down: f64,
    ) -> Result<BBandsColumns, IndicatorError> {
        let [upper, middle, lower] = collect(values.len(), |out| {
            Self::batch_into(values, period, dev_up, dev_down, out)
        })?;
        Ok(BBandsColumns {
            upper,
            middle,
            lower,
        })
    }

    /// Into `out`: the upper, middle and lower band.
    #[inline(never)]
    pub(crate) fn batch_into(
        values: &[f64],
        period: usize,
        dev_up: f64,
        dev_down: f64,
        out: &mut [Column<'_>; 3],
    ) -> Result<(), IndicatorError> {
        check_period("BBANDS period", period, 2)?;
        check_columns(out, values.len())?;
        bbands_into(values, period, dev_up, dev_down, out);
        Ok(())
    }
}

fma_dispatch!(
    fn bbands_into(values: &[f64], period: usize, up: f64, down: f64, out: &mut [Column<'_>; 3])
        => bbands_kernel
);

/// Running `Σ(x - shift)` and `Σ(x - shift)²` over a window (TA-Lib 0.8's VAR).
struct ShiftedSums {
    shift: f64,
    deviations: f64,
    squares: f64,
}

impl ShiftedSums {
    #[inline]
    fn add(&mut self, x: f64) {
        let d = x - self.shift;
        self.deviations += d;
        self.squares += d * d;
    }

    /// Removes `x`; returns its squared deviation.
    #[inline]
    fn remove(&mut self, x: f64) -> f64 {
        let d = x - self.shift;
        self.deviations -= d;
        let square = d * d;
        self.squares -= square;
        square
    }

    #[inline]
    fn variance(&self, inv_period: f64) -> f64 {
        let mean = self.deviations * inv_period;
        self.squares * inv_period - mean * mean
    }

    /// Sums of `window` anchored on its mean, afresh (a two-pass variance), and that variance,
    /// zeroed where it is below rounding of the sums themselves. A new value rather than a
    /// `&mut self` update, so the rarely run, outlined call cannot make the hot loop keep
    /// these sums in memory.
    #[inline(never)]
    fn rebuilt(window: &[f64], inv_period: f64) -> (Self, f64) {
        let mut sums = Self {
            shift: window.iter().fold(0.0, |s, &x| s + x) * inv_period,
            deviations: 0.0,
            squares: 0.0,
        };
        for &x in window {
            sums.add(x);
        }
        let variance = sums.variance(inv_period);
        let floor = 0.000_000_000_001 * (sums.squares * inv_period);
        (sums, if variance < floor { 0.0 } else { variance })
    }
}

// Inlined into each target-feature copy of its dispatcher, or `mul_add` becomes a libm call.
#[allow(clippy::inline_always)]
#[inline(always)]
fn bbands_kernel(values: &[f64], period: usize, up: f64, down: f64, out: &mut [Column<'_>; 3]) {
    // TA-Lib's own test: equal multipliers share one product. Decided once, not per bar.
    #[allow(clippy::float_cmp)]
    if up == down {
        bbands_rows::<true>(values, period, up, down, out);
    } else {
        bbands_rows::<false>(values, period, up, down, out);
    }
}

// Inlined into each target-feature copy of its dispatcher, or `mul_add` becomes a libm call.
#[allow(clippy::inline_always)]
#[inline(always)]
fn bbands_rows<const EQUAL: bool>(
    values: &[f64],
    period: usize,
    up: f64,
    down: f64,
    out: &mut [Column<'_>; 3],
) {
    let lookback = period - 1;
    let warm_up = lookback.min(values.len());
    for column in out.iter_mut() {
        column.push_n(f64::NAN, warm_up);
    }
    if values.len() <= lookback {
        return;
    }
    #[allow(clippy::cast_precision_loss)]
    let (n, inv_period) = (period as f64, 1.0 / period as f64);
    let mut sums = ShiftedSums {
        shift: values[0],
        deviations: 0.0,
        squares: 0.0,
    };
    let mut total = 0.0;
    for &x in &values[..lookback] {
        total += x;
        sums.add(x);
    }
    let mut until_reseed = VARIANCE_RESEED_PERIODS * period;
    let mut rows = Rows::new(out);
    for (i, &x) in values.iter().enumerate().skip(lookback) {
        total += x;
        sums.add(x);
        let mut variance = sums.variance(inv_period);
        let mean = total / n;
        let trailing = values[i - lookback];
        total -= trailing;
        let removed = sums.remove(trailing);
        until_reseed -= 1;
        // Rebuild when the variance is small against the squares it is extracted from (digits
        // lost to cancellation), when a value just left that dwarfed the rest (its rounding
        // buried the small terms), or on schedule, so drift stays bounded.
        if variance < 0.000_001 * (sums.squares * inv_period)
            || removed > 1_000_000.0 * sums.squares
            || until_reseed == 0
        {
            until_reseed = VARIANCE_RESEED_PERIODS * period;
            (sums, variance) = ShiftedSums::rebuilt(&values[i - lookback..=i], inv_period);
            sums.remove(trailing);
        }
        let deviation = if variance == 0.0 {
            0.0
        } else {
            variance.sqrt()
        };
        if EQUAL {
            let width = deviation * up;
            rows.push([mean + width, mean, mean - width]);
        } else {
            rows.push([deviation.mul_add(up, mean), mean, mean - deviation * down]);
        }
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

/// Mean and population or sample standard deviation of `len` values, two-pass (no
/// cancellation), oldest first: a ring's or a slice's, with the same additions in the same order.
#[inline]
fn mean_std(values: impl Iterator<Item = f64> + Clone, len: usize, ddof: usize) -> (f64, f64) {
    #[allow(clippy::cast_precision_loss)]
    let n = len as f64;
    let mean = values.clone().sum::<f64>() / n;
    let squares: f64 = values.map(|v| (v - mean) * (v - mean)).sum();
    #[allow(clippy::cast_precision_loss)]
    let std = (squares / (n - ddof as f64)).sqrt();
    (mean, std)
}

#[inline]
fn z_value(x: f64, mean: f64, std: f64) -> f64 {
    if std > 0.0 { (x - mean) / std } else { 0.0 }
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

impl ZScore {
    /// The whole series at once, equal bit for bit to [`ZScore::update`] fed one value at a time
    /// (the same two-pass statistics over the same window, read from the input instead of a
    /// ring). Still `O(period)` a value: a running variance would not be the same numbers.
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
        check_period("z-score period", period, 2)?;
        check_columns(out, values.len())?;
        let [out] = out;
        out.push_n(f64::NAN, (period - 1).min(values.len()));
        let mut rows = out.rows();
        for window in values.windows(period) {
            let (mean, std) = mean_std(window.iter().copied(), period, 0);
            rows.push([z_value(window[period - 1], mean, std)]);
        }
        Ok(())
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
        let (mean, std) = mean_std(self.window.iter(), self.window.len(), 0);
        Some(z_value(x, mean, std))
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

impl RollingVolatility {
    /// The whole series at once, equal bit for bit to [`RollingVolatility::update`] fed one
    /// price at a time: each log return is computed once into a ring of `period` (allocated
    /// once), read oldest first as the incremental window is.
    pub fn batch(prices: &[f64], period: usize) -> Result<Vec<f64>, IndicatorError> {
        let [out] = collect(prices.len(), |out| Self::batch_into(prices, period, out))?;
        Ok(out)
    }

    #[inline(never)]
    pub(crate) fn batch_into(
        prices: &[f64],
        period: usize,
        out: &mut [Column<'_>; 1],
    ) -> Result<(), IndicatorError> {
        check_period("volatility period", period, 2)?;
        check_columns(out, prices.len())?;
        let [out] = out;
        out.push_n(f64::NAN, period.min(prices.len()));
        let mut returns = prices.windows(2).map(|pair| (pair[1] / pair[0]).ln());
        // The window in a circle; `head` is the next slot, and once it is full the oldest.
        let mut ring = vec![0.0; period].into_boxed_slice();
        let mut head = 0;
        for log_return in returns.by_ref().take(period - 1) {
            ring[head] = log_return;
            head += 1;
        }
        let mut rows = out.rows();
        for log_return in returns {
            ring[head] = log_return;
            head = if head + 1 == period { 0 } else { head + 1 };
            let window = ring[head..].iter().chain(&ring[..head]).copied();
            rows.push([mean_std(window, period, 1).1]);
        }
        Ok(())
    }
}

impl Indicator for RollingVolatility {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, price: f64) -> Option<f64> {
        let prev = self.prev.replace(price)?;
        self.returns.push((price / prev).ln());
        self.returns
            .is_full()
            .then(|| mean_std(self.returns.iter(), self.returns.len(), 1).1)
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
    use crate::testing::{Bars, assert_close, assert_same_bits, incremental, lengths, magnitude};

    #[test]
    fn the_batch_atr_is_the_incremental_one_with_a_fused_wilder_step() {
        let bars = Bars::walk(3000, 21);
        for period in [1, 2, 14, 30] {
            for n in lengths(period, 3000) {
                let b = bars.take(n);
                let batch = Atr::batch(&b.high, &b.low, &b.close, period).unwrap();
                let reference = run(Atr::new(period).unwrap(), b.hlc());
                assert_close(
                    &batch,
                    &reference,
                    1e-13,
                    0.0,
                    &format!("ATR-{period}, {n}"),
                );
            }
        }
        // A NaN close drops out of the next true range (its comparisons fail); a NaN high
        // poisons the average, in both forms.
        for at in [[5], [100]] {
            let b = Bars::walk(300, 22).with_nans(&at);
            let batch = Atr::batch(&b.high, &b.low, &b.close, 14).unwrap();
            let reference = run(Atr::new(14).unwrap(), b.hlc());
            assert_close(&batch, &reference, 1e-13, 0.0, "ATR, NaN");
        }
        let b = Bars::walk(10, 23);
        assert_eq!(
            Atr::batch(&b.high, &b.low, &b.close[..3], 2).unwrap_err(),
            IndicatorError::LengthMismatch(10, 3)
        );
        assert_eq!(
            Atr::batch(&b.high, &b.low, &b.close, 0).unwrap_err(),
            Atr::new(0).unwrap_err()
        );
    }

    /// Population standard deviation of each full window, two-pass (the textbook reference).
    fn exact_deviation(values: &[f64], period: usize) -> Vec<f64> {
        #[allow(clippy::cast_precision_loss)]
        let n = period as f64;
        let mut out = vec![f64::NAN; values.len()];
        for (i, window) in values.windows(period).enumerate() {
            // A constant window's mean rounds, and two passes would make a deviation of that.
            if window.iter().all(|&v| v == window[0]) {
                out[i + period - 1] = 0.0;
                continue;
            }
            let mean = window.iter().sum::<f64>() / n;
            let squares: f64 = window.iter().map(|v| (v - mean) * (v - mean)).sum();
            out[i + period - 1] = (squares / n).sqrt();
        }
        out
    }

    fn bbands_columns(x: &[f64], period: usize, up: f64, down: f64) -> [Vec<f64>; 3] {
        incremental(
            BBands::new(period, up, down).unwrap(),
            x.iter().copied(),
            |o| [o.upper, o.middle, o.lower],
        )
    }

    /// The batch deviation, read back from the upper band, is the exact one to 2e-10 relative
    /// (the rebuild trigger lets the shifted sums cancel by up to 1e6, `1e6 * ε` in the variance),
    /// plus the rounding of the band itself, a few ulps of the price level.
    #[track_caller]
    fn assert_precise_deviation(batch: &BBandsColumns, exact: &[f64], up: f64, label: &str) {
        for (i, &e) in exact.iter().enumerate().filter(|(_, e)| !e.is_nan()) {
            let deviation = (batch.upper[i] - batch.middle[i]) / up;
            let tolerance = 2e-10 * e + 4.0 * f64::EPSILON * batch.upper[i].abs();
            assert!(
                (deviation - e).abs() <= tolerance,
                "{label}[{i}]: deviation {deviation:e}, exact {e:e}"
            );
        }
    }

    #[test]
    fn the_batch_bbands_shares_the_middle_band_and_has_a_precise_deviation() {
        let bars = Bars::walk(5000, 24);
        let scale = magnitude(&bars.close);
        for (period, up, down) in [(2, 2.0, 2.0), (20, 2.0, 2.0), (20, 1.5, 2.5), (5, 1.0, 1.0)] {
            for n in lengths(period - 1, 5000) {
                let x = &bars.close[..n];
                let batch = BBands::batch(x, period, up, down).unwrap();
                let [upper, middle, lower] = bbands_columns(x, period, up, down);
                let label = format!("BBANDS-{period} {up}/{down}, {n}");
                assert_same_bits(&batch.middle, &middle, &label);
                assert_precise_deviation(&batch, &exact_deviation(x, period), up, &label);
                // The incremental object's raw squares cancel (to about 1e-8 of the price here)
                // and it zeroes variances under 1e-8, as TA-Lib 0.7 did: a deviation under 1e-4.
                for (b, r, m) in [(&batch.upper, &upper, up), (&batch.lower, &lower, down)] {
                    for i in period - 1..n {
                        let clamped = r[i] == middle[i] && (b[i] - middle[i]).abs() <= 1e-4 * m;
                        assert!(
                            clamped || (b[i] - r[i]).abs() <= 1e-7 * scale,
                            "{label}[{i}]: batch {:e}, incremental {:e}",
                            b[i],
                            r[i]
                        );
                    }
                }
            }
        }
        // A NaN poisons the middle band's running sum, so every band from there on, in both.
        let x = Bars::walk(400, 26).with_nans(&[50]).close;
        let batch = BBands::batch(&x, 20, 2.0, 2.0).unwrap();
        let [upper, middle, lower] = bbands_columns(&x, 20, 2.0, 2.0);
        assert_same_bits(&batch.middle, &middle, "BBANDS, NaN");
        assert_close(&batch.upper, &upper, 1e-7, scale, "BBANDS, NaN");
        assert_close(&batch.lower, &lower, 1e-7, scale, "BBANDS, NaN");
        assert!(batch.upper[50..].iter().all(|v| v.is_nan()));
        assert_eq!(
            BBands::batch(&x, 1, 2.0, 2.0).unwrap_err(),
            BBands::new(1, 2.0, 2.0).unwrap_err()
        );
    }

    #[test]
    fn the_batch_bbands_deviation_survives_level_shifts_outliers_and_flat_stretches() {
        // A quiet series far from the first value (the shift goes stale), a huge print passing
        // through the window, a flat stretch: the three rebuild triggers and a zero variance.
        let mut x = Bars::walk(3000, 25).close;
        for (i, v) in x.iter_mut().enumerate().skip(1000) {
            *v = 1e6 + (*v - 100.0) * 1e-3 + if i == 2000 { 1e9 } else { 0.0 };
        }
        x[2500..2600].fill(123.456);
        for period in [2, 20] {
            let batch = BBands::batch(&x, period, 2.0, 2.0).unwrap();
            let exact = exact_deviation(&x, period);
            assert_precise_deviation(&batch, &exact, 2.0, &format!("stress, {period}"));
            // Zero width on a flat window (the middle band itself keeps the running sum's
            // rounding of the 1e9 print, as the SMA does).
            for i in 2500 + period - 1..2600 {
                assert_eq!(batch.upper[i], batch.middle[i], "flat window at {i}");
                assert_eq!(batch.lower[i], batch.middle[i], "flat window at {i}");
            }
        }
    }

    #[test]
    fn the_batch_zscore_and_volatility_are_the_incremental_ones_bit_for_bit() {
        let bars = Bars::walk(2000, 27);
        for period in [2, 3, 20, 60] {
            for n in lengths(period, 2000) {
                let x = &bars.close[..n];
                let label = format!("{period}, {n}");
                let reference = run(ZScore::new(period).unwrap(), x.iter().copied());
                assert_same_bits(&ZScore::batch(x, period).unwrap(), &reference, &label);
                let reference = run(RollingVolatility::new(period).unwrap(), x.iter().copied());
                assert_same_bits(
                    &RollingVolatility::batch(x, period).unwrap(),
                    &reference,
                    &label,
                );
            }
        }
        // A flat window scores 0; a NaN makes its windows' deviation NaN (a z-score of 0, as
        // `std > 0` fails) until it leaves.
        let mut x = Bars::walk(300, 28).with_nans(&[40]).close;
        x[100..130].fill(50.0);
        for period in [2, 20] {
            let reference = run(ZScore::new(period).unwrap(), x.iter().copied());
            assert_same_bits(&ZScore::batch(&x, period).unwrap(), &reference, "z, NaN");
            let reference = run(RollingVolatility::new(period).unwrap(), x.iter().copied());
            assert_same_bits(
                &RollingVolatility::batch(&x, period).unwrap(),
                &reference,
                "vol",
            );
        }
        assert_eq!(
            ZScore::batch(&x, 1).unwrap_err(),
            ZScore::new(1).unwrap_err()
        );
        assert_eq!(
            RollingVolatility::batch(&x, 1).unwrap_err(),
            RollingVolatility::new(1).unwrap_err()
        );
    }

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
