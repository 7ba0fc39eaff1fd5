//! Volume: on-balance volume and volume-weighted average price.

use crate::column::{Column, check_columns, collect};
use crate::fma::fma_dispatch;
use crate::window::Window;
use crate::{Hlc, Indicator, IndicatorError, check_period, same_len};

/// On-balance volume, starting from the first bar's volume (TA-Lib's convention).
#[derive(Debug, Clone, Default)]
pub struct Obv {
    state: Option<(f64, f64)>,
}

impl Obv {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Obv {
    /// The whole series at once, equal bit for bit to [`Obv::update`] fed one bar at a time. The
    /// volume is added, subtracted or not without a branch (up or down is a coin flip to a
    /// predictor): "not" adds `-0.0`, which changes no sum.
    pub fn batch(close: &[f64], volume: &[f64]) -> Result<Vec<f64>, IndicatorError> {
        let [out] = collect(close.len(), |out| Self::batch_into(close, volume, out))?;
        Ok(out)
    }

    #[inline(never)]
    pub(crate) fn batch_into(
        close: &[f64],
        volume: &[f64],
        out: &mut [Column<'_>; 1],
    ) -> Result<(), IndicatorError> {
        check_columns(out, same_len(&[close, volume])?)?;
        let [out] = out;
        obv_into(close, volume, out);
        Ok(())
    }
}

// No multiply-add here, but the FMA copy is also compiled for AVX, where each select below is
// one blend instead of four SSE2 instructions.
fma_dispatch!(fn obv_into(close: &[f64], volume: &[f64], out: &mut Column<'_>) => obv_kernel);

// Inlined into each target-feature copy of its dispatcher (the point of dispatching it).
#[allow(clippy::inline_always)]
#[inline(always)]
fn obv_kernel(close: &[f64], volume: &[f64], out: &mut Column<'_>) {
    let Some((&first, rest)) = volume.split_first() else {
        return;
    };
    let mut obv = first;
    out.push(obv);
    let mut rows = out.rows();
    for (pair, &v) in close.windows(2).zip(rest) {
        let (prev, close) = (pair[0], pair[1]);
        // Two independent selects, not an if-chain the compiler may turn into branches; their
        // sum is `v`, `-v` or `-0.0`, exactly.
        let up = if close > prev { v } else { -0.0 };
        let down = if close < prev { -v } else { -0.0 };
        obv += up + down;
        rows.push([obv]);
    }
}

impl Indicator for Obv {
    /// (close, volume)
    type Input = (f64, f64);
    type Output = f64;

    #[inline]
    fn update(&mut self, (close, volume): (f64, f64)) -> Option<f64> {
        let obv = match self.state {
            None => volume,
            Some((prev_close, obv)) if close > prev_close => obv + volume,
            Some((prev_close, obv)) if close < prev_close => obv - volume,
            Some((_, obv)) => obv,
        };
        self.state = Some((close, obv));
        Some(obv)
    }

    fn lookback(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        self.state = None;
    }
}

/// VWAP of the typical price (H+L+C)/3 over the last `window` bars, or since the last reset when
/// built with [`Vwap::cumulative`] (the intraday convention: reset at each session open). Values
/// start on the first bar.
#[derive(Debug, Clone)]
pub struct Vwap {
    window: Option<(Window, Window)>,
    sum_pv: f64,
    sum_v: f64,
}

impl Vwap {
    pub fn rolling(window: usize) -> Result<Self, IndicatorError> {
        check_period("VWAP window", window, 1)?;
        Ok(Self {
            window: Some((Window::new(window), Window::new(window))),
            sum_pv: 0.0,
            sum_v: 0.0,
        })
    }

    #[must_use]
    pub fn cumulative() -> Self {
        Self {
            window: None,
            sum_pv: 0.0,
            sum_v: 0.0,
        }
    }
}

impl Vwap {
    /// The whole series at once, equal bit for bit to [`Vwap::rolling`] (`window` given) or
    /// [`Vwap::cumulative`] fed one bar at a time; the value leaving the window is recomputed
    /// from the input (the same operations, so the same bits) instead of kept in a ring.
    pub fn batch(
        high: &[f64],
        low: &[f64],
        close: &[f64],
        volume: &[f64],
        window: Option<usize>,
    ) -> Result<Vec<f64>, IndicatorError> {
        let [out] = collect(high.len(), |out| {
            Self::batch_into([high, low, close, volume], window, out)
        })?;
        Ok(out)
    }

    /// Into `out`, from the high, low, close and volume columns.
    #[inline(never)]
    pub(crate) fn batch_into(
        [high, low, close, volume]: [&[f64]; 4],
        window: Option<usize>,
        out: &mut [Column<'_>; 1],
    ) -> Result<(), IndicatorError> {
        if let Some(w) = window {
            check_period("VWAP window", w, 1)?;
        }
        check_columns(out, same_len(&[high, low, close, volume])?)?;
        let [out] = out;
        let window = window.unwrap_or(usize::MAX);
        let pv = |i: usize| (high[i] + low[i] + close[i]) / 3.0 * volume[i];
        // Σ price·volume and Σ volume over the window.
        let (mut traded, mut shares) = (0.0, 0.0);
        let mut rows = out.rows();
        for i in 0..volume.len() {
            traded += pv(i);
            shares += volume[i];
            if i >= window {
                traded -= pv(i - window);
                shares -= volume[i - window];
            }
            rows.push([if shares == 0.0 {
                f64::NAN
            } else {
                traded / shares
            }]);
        }
        Ok(())
    }
}

impl Indicator for Vwap {
    /// (bar, volume)
    type Input = (Hlc, f64);
    type Output = f64;

    #[inline]
    fn update(&mut self, (bar, volume): (Hlc, f64)) -> Option<f64> {
        let pv = (bar.high + bar.low + bar.close) / 3.0 * volume;
        self.sum_pv += pv;
        self.sum_v += volume;
        if let Some((pvs, vs)) = &mut self.window
            && let (Some(old_pv), Some(old_v)) = (pvs.push(pv), vs.push(volume))
        {
            self.sum_pv -= old_pv;
            self.sum_v -= old_v;
        }
        (self.sum_v != 0.0).then(|| self.sum_pv / self.sum_v)
    }

    fn lookback(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        if let Some((pvs, vs)) = &mut self.window {
            pvs.clear();
            vs.clear();
        }
        self.sum_pv = 0.0;
        self.sum_v = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run;
    use crate::testing::{Bars, assert_same_bits, lengths};

    #[test]
    fn the_batch_obv_is_the_incremental_one_bit_for_bit() {
        let bars = Bars::walk(2000, 31).with_nans(&[700, 701, 1500]);
        for n in lengths(0, 2000) {
            let b = bars.take(n);
            let reference = run(
                Obv::new(),
                b.close.iter().copied().zip(b.volume.iter().copied()),
            );
            assert_same_bits(&Obv::batch(&b.close, &b.volume).unwrap(), &reference, "OBV");
        }
        assert_eq!(
            Obv::batch(&bars.close, &bars.volume[1..]).unwrap_err(),
            IndicatorError::LengthMismatch(2000, 1999)
        );
    }

    #[test]
    fn the_batch_vwap_is_the_incremental_one_bit_for_bit() {
        let mut bars = Bars::walk(2000, 32);
        // No volume at all for a stretch: no price, NaN, in both forms.
        bars.volume[..5].fill(0.0);
        bars.volume[900..920].fill(0.0);
        let bars = bars.with_nans(&[1500]);
        for window in [Some(1), Some(14), Some(500), None] {
            for n in lengths(window.unwrap_or(1), 2000) {
                let b = bars.take(n);
                let indicator = window.map_or_else(Vwap::cumulative, |w| Vwap::rolling(w).unwrap());
                let reference = run(indicator, b.hlc().zip(b.volume.iter().copied()));
                let batch = Vwap::batch(&b.high, &b.low, &b.close, &b.volume, window).unwrap();
                assert_same_bits(&batch, &reference, &format!("VWAP {window:?}, {n}"));
            }
        }
        let b = bars.take(10);
        assert_eq!(
            Vwap::batch(&b.high, &b.low, &b.close, &b.volume, Some(0)).unwrap_err(),
            Vwap::rolling(0).unwrap_err()
        );
        assert_eq!(
            Vwap::batch(&b.high, &b.low, &b.close, &b.volume[..2], None).unwrap_err(),
            IndicatorError::LengthMismatch(10, 2)
        );
    }
}
