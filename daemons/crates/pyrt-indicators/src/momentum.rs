//! Momentum and trend: RSI, MACD, stochastic, ADX.

use crate::column::{Column, Rows, check_columns, collect};
use crate::fma::fma_dispatch;
use crate::moving::{Ema, Sma};
use crate::window::Window;
use crate::{Hlc, Indicator, IndicatorError, check_period, is_zero, same_len};

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
        rsi_value(self.gain, self.loss)
    }

    /// The whole series at once, with TA-Lib 0.8's arithmetic: the averages are scaled by a
    /// hoisted `1 / period` instead of divided (keeping the divide off the loop-carried chain)
    /// and each change is split into gain and loss without a branch (a rising or falling bar
    /// is a coin flip to a branch predictor). The incremental object divides, so the two
    /// differ in the last bits; the split adds the same terms bit for bit for every finite
    /// change, and after a `NaN` both give `NaN`.
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
        check_period("RSI period", period, 2)?;
        check_columns(out, values.len())?;
        let [out] = out;
        if !out.warm_up(values.len(), period) {
            return Ok(());
        }
        #[allow(clippy::cast_precision_loss)]
        let p = period as f64;
        let (scale, keep) = (1.0 / p, p - 1.0);
        let mut prev = values[0];
        let (mut gain, mut loss) = (0.0, 0.0);
        for &x in &values[1..=period] {
            let change = x - prev;
            prev = x;
            let up = rising(change);
            gain += up;
            loss += up - change;
        }
        gain *= scale;
        loss *= scale;
        out.push(rsi_value(gain, loss));
        let mut rows = out.rows();
        for &x in &values[period + 1..] {
            let change = x - prev;
            prev = x;
            let up = rising(change);
            gain = (gain * keep + up) * scale;
            loss = (loss * keep + (up - change)) * scale;
            rows.push([rsi_value(gain, loss)]);
        }
        Ok(())
    }
}

/// The rise of a change, `0` for a fall: `change - rising(change)` is then the fall's size with
/// the same rounding as subtracting the change itself (exactly, for every finite change).
#[inline]
fn rising(change: f64) -> f64 {
    if change > 0.0 { change } else { 0.0 }
}

#[inline]
fn rsi_value(gain: f64, loss: f64) -> f64 {
    let total = gain + loss;
    if is_zero(total) {
        0.0
    } else {
        100.0 * (gain / total)
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

/// MACD over a whole series, one column per output, `NaN` while warming up.
#[derive(Debug, Clone, PartialEq)]
pub struct MacdColumns {
    pub macd: Vec<f64>,
    pub signal: Vec<f64>,
    pub histogram: Vec<f64>,
}

/// Checked `(fast, slow, signal)`, fast and slow swapped when given in the wrong order (TA-Lib).
fn macd_periods(
    fast: usize,
    slow: usize,
    signal: usize,
) -> Result<(usize, usize, usize), IndicatorError> {
    check_period("MACD fast period", fast, 2)?;
    check_period("MACD slow period", slow, 2)?;
    check_period("MACD signal period", signal, 1)?;
    Ok(if slow < fast {
        (slow, fast, signal)
    } else {
        (fast, slow, signal)
    })
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, IndicatorError> {
        let (fast, slow, signal) = macd_periods(fast, slow, signal)?;
        Ok(Self {
            fast: Ema::with_skip(fast, slow - fast)?,
            slow: Ema::new(slow)?,
            signal: Ema::new(signal)?,
            lookback: slow - 1 + signal - 1,
        })
    }
}

impl Macd {
    /// The whole series at once: the three averages of [`Macd::new`] advanced in one pass, each
    /// step `(x - ema) * k + ema` one fused multiply-add as in TA-Lib 0.8 (the incremental
    /// object rounds the product first, so the two differ in the last bits).
    pub fn batch(
        values: &[f64],
        fast: usize,
        slow: usize,
        signal: usize,
    ) -> Result<MacdColumns, IndicatorError> {
        let [macd, signal, histogram] = collect(values.len(), |out| {
            Self::batch_into(values, fast, slow, signal, out)
        })?;
        Ok(MacdColumns {
            macd,
            signal,
            histogram,
        })
    }

    /// Into `out`: the MACD line, the signal and the histogram.
    #[inline(never)]
    pub(crate) fn batch_into(
        values: &[f64],
        fast: usize,
        slow: usize,
        signal: usize,
        out: &mut [Column<'_>; 3],
    ) -> Result<(), IndicatorError> {
        let (fast, slow, signal) = macd_periods(fast, slow, signal)?;
        check_columns(out, values.len())?;
        macd_into(values, fast, slow, signal, out);
        Ok(())
    }
}

fma_dispatch!(
    fn macd_into(values: &[f64], fast: usize, slow: usize, signal: usize, out: &mut [Column<'_>; 3])
        => macd_kernel
);

// Inlined into each target-feature copy of its dispatcher, or `mul_add` becomes a libm call.
#[allow(clippy::inline_always)]
#[inline(always)]
fn macd_kernel(values: &[f64], fast: usize, slow: usize, signal: usize, out: &mut [Column<'_>; 3]) {
    let lookback = slow - 1 + signal - 1;
    let warm_up = lookback.min(values.len());
    for column in out.iter_mut() {
        column.push_n(f64::NAN, warm_up);
    }
    if values.len() <= lookback {
        return;
    }
    #[allow(clippy::cast_precision_loss)]
    let k = |period: usize| 2.0 / (period as f64 + 1.0);
    let (k_fast, k_slow, k_signal) = (k(fast), k(slow), k(signal));
    // Both price averages are seeded on bar `slow - 1`, the fast one from its own last bars.
    #[allow(clippy::cast_precision_loss)]
    let seed = |bars: &[f64]| bars.iter().fold(0.0, |s, &x| s + x) / bars.len() as f64;
    let mut ema_fast = seed(&values[slow - fast..slow]);
    let mut ema_slow = seed(&values[..slow]);
    let mut macd = ema_fast - ema_slow;
    // Seeded like the signal average's own sum: from +0.0, so a -0.0 line value becomes +0.0.
    let mut signal_sum = 0.0;
    signal_sum += macd;
    let mut step = |x: f64| {
        ema_fast = (x - ema_fast).mul_add(k_fast, ema_fast);
        ema_slow = (x - ema_slow).mul_add(k_slow, ema_slow);
        ema_fast - ema_slow
    };
    for &x in &values[slow..=lookback] {
        macd = step(x);
        signal_sum += macd;
    }
    #[allow(clippy::cast_precision_loss)]
    let mut ema_signal = signal_sum / signal as f64;
    let mut rows = Rows::new(out);
    rows.push([macd, ema_signal, macd - ema_signal]);
    for &x in &values[lookback + 1..] {
        let macd = step(x);
        ema_signal = (macd - ema_signal).mul_add(k_signal, ema_signal);
        rows.push([macd, ema_signal, macd - ema_signal]);
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

/// Slow stochastic over a whole series, `NaN` in both columns while warming up.
#[derive(Debug, Clone, PartialEq)]
pub struct StochColumns {
    pub slow_k: Vec<f64>,
    pub slow_d: Vec<f64>,
}

impl Stoch {
    /// The whole series at once: [`Stoch::update`] fed one bar at a time, the same window
    /// extremes and running means, except that fast %K is `(close - low) / range * 100` as in
    /// TA-Lib 0.8 (one division; the incremental object divides by `range / 100`, so the two
    /// differ in the last bits). A flat window gives 0 in both.
    pub fn batch(
        high: &[f64],
        low: &[f64],
        close: &[f64],
        fast_k: usize,
        slow_k: usize,
        slow_d: usize,
    ) -> Result<StochColumns, IndicatorError> {
        let [slow_k, slow_d] = collect(high.len(), |out| {
            Self::batch_into(high, low, close, [fast_k, slow_k, slow_d], out)
        })?;
        Ok(StochColumns { slow_k, slow_d })
    }

    /// Into `out`: slow %K and %D; `periods` are fast %K, slow %K and slow %D.
    #[inline(never)]
    pub(crate) fn batch_into(
        high: &[f64],
        low: &[f64],
        close: &[f64],
        [fast_k, slow_k, slow_d]: [usize; 3],
        out: &mut [Column<'_>; 2],
    ) -> Result<(), IndicatorError> {
        check_period("STOCH fast %K period", fast_k, 1)?;
        check_period("SMA period", slow_k, 1)?;
        let mut d_mean = RunningMean::new(slow_d)?;
        let n = same_len(&[high, low, close])?;
        check_columns(out, n)?;
        let [k_out, d_out] = out;
        let lookback = fast_k - 1 + slow_k - 1 + slow_d - 1;
        if n <= lookback {
            k_out.push_n(f64::NAN, n);
            d_out.push_n(f64::NAN, n);
            return Ok(());
        }
        // Three passes, as TA-Lib makes them: interleaved, each bar would chain three divisions.
        // Fast %K first, into the %D column as scratch.
        let fast = fast_k - 1;
        d_out.push_n(f64::NAN, fast);
        let mut raw = FastK {
            highest: Extreme::new(),
            lowest: Extreme::new(),
            scan: fast_k <= SCANNED_WINDOW,
        };
        let mut rows = d_out.rows();
        for i in fast..n {
            rows.push([raw.at(high, low, close, i - fast, i)]);
        }
        drop(rows);
        // Slow %K, the SMA of fast %K; its values before the outputs start seed the %D mean.
        let fast_values = &d_out.written()[fast..];
        #[allow(clippy::cast_precision_loss)]
        let k_n = slow_k as f64;
        let mut sum = fast_values[..slow_k - 1].iter().fold(0.0, |s, &x| s + x);
        let mut slow_k_at = |(&x, &trailing): (&f64, &f64)| {
            sum += x;
            let mean = sum / k_n;
            sum -= trailing;
            mean
        };
        let mut bars = fast_values[slow_k - 1..].iter().zip(fast_values);
        for bar in bars.by_ref().take(slow_d - 1) {
            d_mean.warm(slow_k_at(bar));
        }
        k_out.push_n(f64::NAN, lookback);
        let mut rows = k_out.rows();
        for bar in bars {
            rows.push([slow_k_at(bar)]);
        }
        drop(rows);
        // Slow %D over slow %K, over the scratch.
        d_out.clear();
        d_out.push_n(f64::NAN, lookback);
        let mut rows = d_out.rows();
        for &k in &k_out.written()[lookback..] {
            rows.push([d_mean.next(k)]);
        }
        Ok(())
    }
}

/// Up to this many bars, the window's extremes are scanned on every bar (branch-free, a
/// compare each); beyond, tracked from bar to bar. Whether the extreme has left the window is a
/// coin flip to a branch predictor on short windows and a rare event on long ones.
const SCANNED_WINDOW: usize = 16;

/// Fast %K bar by bar from the window's extremes.
struct FastK {
    highest: Extreme<true>,
    lowest: Extreme<false>,
    scan: bool,
}

impl FastK {
    /// %K of bar `i` over the window from `start`.
    #[inline]
    fn at(&mut self, high: &[f64], low: &[f64], close: &[f64], start: usize, i: usize) -> f64 {
        let (highest, lowest) = if self.scan {
            // `>` and `<` skip NaN as the incremental object's `f64::max` and `f64::min` do
            // (which of +0.0 and -0.0 is kept may differ), in one instruction each.
            let highest = high[start..=i]
                .iter()
                .fold(f64::MIN, |a, &b| if b > a { b } else { a });
            let lowest = low[start..=i]
                .iter()
                .fold(f64::MAX, |a, &b| if b < a { b } else { a });
            (highest, lowest)
        } else {
            (
                self.highest.update(high, start, i),
                self.lowest.update(low, start, i),
            )
        };
        // TA-Lib 0.8's form: one division where the incremental object's has two in a chain.
        let range = highest - lowest;
        if range == 0.0 {
            0.0
        } else {
            (close[i] - lowest) / range * 100.0
        }
    }
}

/// The highest (`HIGH`) or lowest value of a sliding window, as the incremental object's
/// `fold(f64::MIN, f64::max)` (or `fold(f64::MAX, f64::min)`) over it, `NaN` ignored (the sign
/// of a zero extreme aside), kept from bar to bar and rescanned only when the bar holding it
/// leaves the window, as TA-Lib does: `O(1)` a bar on most bars.
struct Extreme<const HIGH: bool> {
    value: f64,
    /// The bar holding `value`; `None` before the first window.
    at: Option<usize>,
}

impl<const HIGH: bool> Extreme<HIGH> {
    /// The fold's start value, what a window of nothing but `NaN` gives.
    const EMPTY: f64 = if HIGH { f64::MIN } else { f64::MAX };

    fn new() -> Self {
        Self {
            value: Self::EMPTY,
            at: None,
        }
    }

    /// Whether `v` replaces the current extreme; ties move it to the newer bar (it stays longer).
    #[inline]
    fn beats(v: f64, current: f64) -> bool {
        if HIGH { v >= current } else { v <= current }
    }

    /// The extreme of `values[start..=i]`, called for consecutive `i`.
    #[inline]
    fn update(&mut self, values: &[f64], start: usize, i: usize) -> f64 {
        if self.at.is_none_or(|at| at < start) {
            (self.value, self.at) = (Self::EMPTY, Some(start));
            for (j, &v) in values.iter().enumerate().take(i + 1).skip(start) {
                if Self::beats(v, self.value) {
                    (self.value, self.at) = (v, Some(j));
                }
            }
        } else if Self::beats(values[i], self.value) {
            (self.value, self.at) = (values[i], Some(i));
        }
        self.value
    }
}

/// [`Sma`]'s running sum over a ring allocated once, for an input that is not kept whole: the
/// same additions and subtractions, with the warm-up values fed separately instead of tested for
/// on every one.
struct RunningMean {
    /// The window, written in a circle; `head` is the next slot, and once the window is full
    /// the oldest value.
    ring: Box<[f64]>,
    head: usize,
    sum: f64,
    n: f64,
}

impl RunningMean {
    fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("SMA period", period, 1)?;
        #[allow(clippy::cast_precision_loss)]
        let n = period as f64;
        Ok(Self {
            ring: vec![0.0; period].into_boxed_slice(),
            head: 0,
            sum: 0.0,
            n,
        })
    }

    /// One of the first `period - 1` values.
    #[inline]
    fn warm(&mut self, x: f64) {
        self.sum += x;
        self.ring[self.head] = x;
        self.head += 1;
    }

    /// Any later value: the mean including it.
    #[inline]
    fn next(&mut self, x: f64) -> f64 {
        self.sum += x;
        self.ring[self.head] = x;
        self.head += 1;
        if self.head == self.ring.len() {
            self.head = 0;
        }
        let mean = self.sum / self.n;
        self.sum -= self.ring[self.head];
        mean
    }
}

#[inline]
fn fast_k_value(close: f64, highest: f64, lowest: f64) -> f64 {
    // TA-Lib divides by range/100 rather than multiplying by 100; the rounding differs.
    let range = (highest - lowest) / 100.0;
    if range == 0.0 {
        0.0
    } else {
        (close - lowest) / range
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
        let fast_k = fast_k_value(bar.close, highest, lowest);
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
        directional_index([self.plus_dm, self.minus_dm], self.tr)
    }

    /// The whole series at once, equal bit for bit to [`Adx::update`] fed one bar at a time (the
    /// same divisions in the same order, as TA-Lib 0.8 still does them). Which directional
    /// movement a bar adds to is chosen without a branch: it is a coin flip to a predictor.
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
        check_period("ADX period", period, 2)?;
        let n = same_len(&[high, low, close])?;
        check_columns(out, n)?;
        let [out] = out;
        let lookback = 2 * period - 1;
        if !out.warm_up(n, lookback) {
            return Ok(());
        }
        #[allow(clippy::cast_precision_loss)]
        let p = period as f64;
        let mut state = Directional {
            dm: [0.0, 0.0],
            tr: 0.0,
            p,
        };
        for i in 1..period {
            let moved = directional_movement(high[i], low[i], high[i - 1], low[i - 1]);
            state.dm = [state.dm[0] + moved[0], state.dm[1] + moved[1]];
            state.tr += true_range(high[i], low[i], close[i - 1]);
        }
        let mut smooth = |i: usize| state.smooth(high, low, close, i);
        let mut sum_dx = 0.0;
        for i in period..=lookback {
            if let Some(dx) = smooth(i) {
                sum_dx += dx;
            }
        }
        let mut adx = sum_dx / p;
        out.push(adx);
        let mut rows = out.rows();
        for i in lookback + 1..n {
            if let Some(dx) = smooth(i) {
                adx = ((adx * (p - 1.0)) + dx) / p;
            }
            rows.push([adx]);
        }
        Ok(())
    }
}

/// Wilder-smoothed `[+DM, -DM]` and true range. The two movements side by side take the same
/// divisions, which then pair into one two-lane instruction each: the divider is what limits
/// this indicator.
struct Directional {
    dm: [f64; 2],
    tr: f64,
    p: f64,
}

impl Directional {
    /// Smooths bar `i` in; its DX. Called from two loops, and outlined it costs a call a bar.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn smooth(&mut self, high: &[f64], low: &[f64], close: &[f64], i: usize) -> Option<f64> {
        let p = self.p;
        let decay = self.dm.map(|d| d / p);
        let moved = directional_movement(high[i], low[i], high[i - 1], low[i - 1]);
        self.dm = [
            (self.dm[0] - decay[0]) + moved[0],
            (self.dm[1] - decay[1]) + moved[1],
        ];
        self.tr = self.tr - (self.tr / p) + true_range(high[i], low[i], close[i - 1]);
        directional_index(self.dm, self.tr)
    }
}

/// What a bar adds to +DM and -DM: its up move or its down move, whichever is larger and
/// positive, the other `-0.0` (which adds nothing, bit for bit, to any sum).
#[inline]
fn directional_movement(high: f64, low: f64, prev_high: f64, prev_low: f64) -> [f64; 2] {
    let diff_plus = high - prev_high;
    let diff_minus = prev_low - low;
    let minus = if diff_minus > 0.0 && diff_plus < diff_minus {
        diff_minus
    } else {
        -0.0
    };
    // Exclusive with the above: it needs diff_plus > diff_minus.
    let plus = if diff_plus > 0.0 && diff_plus > diff_minus {
        diff_plus
    } else {
        -0.0
    };
    [plus, minus]
}

/// DX from smoothed `[+DM, -DM]` and true range; `None` where TA-Lib skips the bar.
#[inline]
fn directional_index(dm: [f64; 2], tr: f64) -> Option<f64> {
    if is_zero(tr) {
        return None;
    }
    let [plus, minus] = dm.map(|d| 100.0 * (d / tr));
    let total = minus + plus;
    (!is_zero(total)).then(|| 100.0 * ((minus - plus).abs() / total))
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
    use crate::testing::{Bars, assert_close, assert_same_bits, incremental, lengths, magnitude};

    #[test]
    fn the_batch_rsi_is_the_incremental_one_with_a_reciprocal() {
        let bars = Bars::walk(3000, 11);
        for period in [2, 3, 14, 30] {
            for n in lengths(period, 3000) {
                let x = &bars.close[..n];
                let batch = Rsi::batch(x, period).unwrap();
                let reference = run(Rsi::new(period).unwrap(), x.iter().copied());
                assert_close(
                    &batch,
                    &reference,
                    1e-13,
                    100.0,
                    &format!("RSI-{period}, {n}"),
                );
            }
        }
        let flat = Rsi::batch(&[5.0; 6], 3).unwrap();
        assert_same_bits(
            &flat,
            &run(Rsi::new(3).unwrap(), [5.0; 6].into_iter()),
            "flat",
        );
        let rising: Vec<f64> = (0..20).map(f64::from).collect();
        let batch = Rsi::batch(&rising, 14).unwrap();
        assert!(batch[14..].iter().all(|&v| (v - 100.0).abs() < 1e-12));
        // NaN in the seed and later: NaN from there on in both forms.
        for at in [5, 200] {
            let x = Bars::walk(300, 12).with_nans(&[at]).close;
            let reference = run(Rsi::new(14).unwrap(), x.iter().copied());
            assert_close(
                &Rsi::batch(&x, 14).unwrap(),
                &reference,
                1e-13,
                100.0,
                "RSI, NaN",
            );
        }
        assert_eq!(
            Rsi::batch(&rising, 1).unwrap_err(),
            Rsi::new(1).unwrap_err()
        );
    }

    #[test]
    fn the_batch_macd_is_the_incremental_one_with_its_steps_fused() {
        let bars = Bars::walk(3000, 13);
        let scale = magnitude(&bars.close);
        for (fast, slow, signal) in [(12, 26, 9), (26, 12, 9), (3, 5, 1), (2, 2, 2), (5, 35, 5)] {
            let lookback = Macd::new(fast, slow, signal).unwrap().lookback();
            for n in lengths(lookback, 3000) {
                let x = &bars.close[..n];
                let batch = Macd::batch(x, fast, slow, signal).unwrap();
                let reference = incremental(
                    Macd::new(fast, slow, signal).unwrap(),
                    x.iter().copied(),
                    |o| [o.macd, o.signal, o.histogram],
                );
                let columns = [&batch.macd, &batch.signal, &batch.histogram];
                for (name, (b, r)) in ["macd", "signal", "hist"]
                    .iter()
                    .zip(columns.iter().zip(&reference))
                {
                    let label = format!("MACD {fast}/{slow}/{signal} {name}, {n}");
                    assert_close(b, r, 1e-14, scale, &label);
                }
            }
        }
        let x = Bars::walk(300, 14).with_nans(&[30, 100]).close;
        let batch = Macd::batch(&x, 12, 26, 9).unwrap();
        let [m, ..] = incremental(Macd::new(12, 26, 9).unwrap(), x.iter().copied(), |o| {
            [o.macd, o.signal, o.histogram]
        });
        assert_close(&batch.macd, &m, 1e-14, scale, "MACD, NaN");
        assert_eq!(
            Macd::batch(&x, 1, 26, 9).unwrap_err(),
            Macd::new(1, 26, 9).unwrap_err()
        );
    }

    #[test]
    fn the_batch_adx_is_the_incremental_one_bit_for_bit() {
        let bars = Bars::walk(3000, 15);
        for period in [2, 3, 14, 30] {
            for n in lengths(2 * period - 1, 3000) {
                let b = bars.take(n);
                let batch = Adx::batch(&b.high, &b.low, &b.close, period).unwrap();
                let reference = run(Adx::new(period).unwrap(), b.hlc());
                assert_same_bits(&batch, &reference, &format!("ADX-{period}, {n}"));
            }
        }
        // Flat bars: no true range, so no DX; the ADX holds its seed (TA-Lib's skip).
        let flat = [7.0; 40];
        let batch = Adx::batch(&flat, &flat, &flat, 5).unwrap();
        let hlc = flat.iter().map(|&p| Hlc {
            high: p,
            low: p,
            close: p,
        });
        assert_same_bits(&batch, &run(Adx::new(5).unwrap(), hlc), "flat ADX");
        for at in [[3], [20], [100]] {
            let b = Bars::walk(300, 16).with_nans(&at);
            let batch = Adx::batch(&b.high, &b.low, &b.close, 14).unwrap();
            assert_same_bits(&batch, &run(Adx::new(14).unwrap(), b.hlc()), "ADX, NaN");
        }
        let b = Bars::walk(10, 17);
        assert_eq!(
            Adx::batch(&b.high, &b.low[..9], &b.close, 14).unwrap_err(),
            IndicatorError::LengthMismatch(10, 9)
        );
        assert_eq!(
            Adx::batch(&b.high, &b.low, &b.close, 1).unwrap_err(),
            Adx::new(1).unwrap_err()
        );
    }

    #[test]
    fn the_batch_stoch_is_the_incremental_one_with_one_division() {
        let bars = Bars::walk(3000, 18);
        // Windows up to 16 bars are scanned, longer ones tracked: both kinds.
        let periods = [
            (5, 3, 3),
            (14, 1, 1),
            (1, 1, 1),
            (3, 5, 2),
            (17, 3, 3),
            (40, 2, 5),
        ];
        for (fast_k, slow_k, slow_d) in periods {
            let lookback = Stoch::new(fast_k, slow_k, slow_d).unwrap().lookback();
            for n in lengths(lookback, 3000) {
                let b = bars.take(n);
                let batch =
                    Stoch::batch(&b.high, &b.low, &b.close, fast_k, slow_k, slow_d).unwrap();
                let [k, d] =
                    incremental(Stoch::new(fast_k, slow_k, slow_d).unwrap(), b.hlc(), |o| {
                        [o.slow_k, o.slow_d]
                    });
                let label = format!("STOCH {fast_k}/{slow_k}/{slow_d}, {n}");
                assert_close(&batch.slow_k, &k, 1e-13, 100.0, &label);
                assert_close(&batch.slow_d, &d, 1e-13, 100.0, &label);
            }
        }
        // A flat window (no range) gives %K 0; NaN highs and lows drop out of the extremes.
        let b = Bars::walk(200, 19).with_nans(&[50, 120]);
        let (mut high, mut low, mut close) = (b.high, b.low, b.close);
        for i in 60..70 {
            (high[i], low[i], close[i]) = (42.0, 42.0, 42.0);
        }
        for fast_k in [5, 20] {
            let batch = Stoch::batch(&high, &low, &close, fast_k, 3, 3).unwrap();
            let hlc = (0..200).map(|i| Hlc {
                high: high[i],
                low: low[i],
                close: close[i],
            });
            let [k, d] = incremental(Stoch::new(fast_k, 3, 3).unwrap(), hlc, |o| {
                [o.slow_k, o.slow_d]
            });
            assert_close(&batch.slow_k, &k, 1e-13, 100.0, "STOCH, NaN and flat");
            assert_close(&batch.slow_d, &d, 1e-13, 100.0, "STOCH, NaN and flat");
        }
        // No range at all: %K 0 in both forms.
        let flat = [42.0; 30];
        let batch = Stoch::batch(&flat, &flat, &flat, 5, 3, 3).unwrap();
        assert!(
            batch.slow_k[8..]
                .iter()
                .chain(&batch.slow_d[8..])
                .all(|&v| v == 0.0)
        );
        assert_eq!(
            Stoch::batch(&high, &low, &close, 0, 3, 3).unwrap_err(),
            Stoch::new(0, 3, 3).unwrap_err()
        );
        assert_eq!(
            Stoch::batch(&high, &low, &close, 5, 0, 3).unwrap_err(),
            Stoch::new(5, 0, 3).unwrap_err()
        );
    }

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
