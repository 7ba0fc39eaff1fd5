//! Volume: on-balance volume and volume-weighted average price.

use crate::window::Window;
use crate::{Hlc, Indicator, IndicatorError, check_period};

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
