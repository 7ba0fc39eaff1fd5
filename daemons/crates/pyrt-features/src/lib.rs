//! The model's feature vector, computed one quote at a time. The strategy daemon calls
//! [`QuoteFeatures::update`] on every quote of the md ring; research calls the same code through
//! `pyrt._core.features.quote_features` over recorded quotes, so a model is trained on exactly the
//! numbers it will see live.
//!
//! Features are dimensionless (basis points, ratios, oscillators), so one model can serve symbols
//! of different price levels. They are computed in `f64` from the fixed-point quote: they are model
//! inputs, never money.

#[cfg(feature = "python")]
pub mod python;

use pyrt_indicators::{Ema, Indicator, IndicatorError, RollingVolatility, Rsi, ZScore};

/// A feature period the indicators refuse.
pub use pyrt_indicators::IndicatorError as FeatureError;

/// Names in vector order; a model manifest's feature schema must list exactly these.
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "ret_1_bps",
    "ema_gap_bps",
    "rsi",
    "volatility_bps",
    "zscore",
    "spread_bps",
    "imbalance",
    "microprice_gap_bps",
];
pub const FEATURES: usize = 8;

/// Periods, in quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureSpec {
    pub ema_fast: usize,
    pub ema_slow: usize,
    pub rsi: usize,
    pub volatility: usize,
    pub zscore: usize,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        Self {
            ema_fast: 8,
            ema_slow: 32,
            rsi: 14,
            volatility: 20,
            zscore: 20,
        }
    }
}

/// One symbol's incremental feature state.
#[derive(Debug, Clone)]
pub struct QuoteFeatures {
    prev_mid: Option<f64>,
    ema_fast: Ema,
    ema_slow: Ema,
    rsi: Rsi,
    volatility: RollingVolatility,
    zscore: ZScore,
    /// Last value of each indicator (fast, slow, RSI, volatility, z-score): a bad quote
    /// updates none of them, so they carry over.
    latest: [Option<f64>; 5],
}

const BPS: f64 = 1e4;

impl QuoteFeatures {
    pub fn new(spec: FeatureSpec) -> Result<Self, IndicatorError> {
        Ok(Self {
            prev_mid: None,
            ema_fast: Ema::new(spec.ema_fast)?,
            ema_slow: Ema::new(spec.ema_slow)?,
            rsi: Rsi::new(spec.rsi)?,
            volatility: RollingVolatility::new(spec.volatility)?,
            zscore: ZScore::new(spec.zscore)?,
            latest: [None; 5],
        })
    }

    /// Feeds one quote; the full vector once every indicator has warmed up, else `None`. A
    /// crossed, locked or one-sided quote changes nothing and yields `None`.
    #[inline]
    pub fn update(
        &mut self,
        bid: f64,
        ask: f64,
        bid_size: f64,
        ask_size: f64,
    ) -> Option<[f32; FEATURES]> {
        if !(bid > 0.0 && ask > bid && bid_size >= 0.0 && ask_size >= 0.0) {
            return None;
        }
        let mid = 0.5 * (bid + ask);
        let ret = self
            .prev_mid
            .replace(mid)
            .map(|prev| (mid / prev).ln() * BPS);
        let [fast, slow, rsi, vol, z] = &mut self.latest;
        *fast = self.ema_fast.update(mid).or(*fast);
        *slow = self.ema_slow.update(mid).or(*slow);
        *rsi = self.rsi.update(mid).or(*rsi);
        *vol = self.volatility.update(mid).or(*vol);
        *z = self.zscore.update(mid).or(*z);
        let [fast, slow, rsi, vol, z] = self.latest;
        let depth = bid_size + ask_size;
        let (imbalance, microprice) = if depth > 0.0 {
            (
                (bid_size - ask_size) / depth,
                (bid * ask_size + ask * bid_size) / depth,
            )
        } else {
            (0.0, mid)
        };
        let (ret, fast, slow, rsi, vol, z) = (ret?, fast?, slow?, rsi?, vol?, z?);
        // Narrowing to f32 is the model's input type; the features are small, scaled numbers.
        #[allow(clippy::cast_possible_truncation)]
        Some([
            ret as f32,
            ((fast / slow - 1.0) * BPS) as f32,
            (rsi / 100.0) as f32,
            (vol * BPS) as f32,
            z as f32,
            ((ask - bid) / mid * BPS) as f32,
            imbalance as f32,
            ((microprice / mid - 1.0) * BPS) as f32,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> QuoteFeatures {
        QuoteFeatures::new(FeatureSpec::default()).unwrap()
    }

    #[test]
    fn warms_up_then_describes_the_quote() {
        let mut f = features();
        let mut first = None;
        for i in 0..40 {
            let bid = 100.0 + f64::from(i) * 0.01;
            if let Some(v) = f.update(bid, bid + 0.02, 300.0, 100.0) {
                first.get_or_insert(i);
                assert!(v.iter().all(|x| x.is_finite()));
                assert!(
                    v[1] > 0.0,
                    "a rising mid puts the fast EMA above the slow one"
                );
                assert!((v[6] - 0.5).abs() < 1e-6, "(300-100)/400");
                assert!(v[7] > 0.0, "more on the bid pulls the microprice up");
            }
        }
        assert_eq!(first, Some(31), "the slow EMA needs 32 quotes");
    }

    #[test]
    fn bad_quotes_change_nothing() {
        let mut a = features();
        let mut b = features();
        for i in 0..50 {
            let bid = 100.0 + f64::from(i % 7) * 0.05;
            assert_eq!(b.update(bid, bid - 0.01, 1.0, 1.0), None, "crossed");
            assert_eq!(b.update(0.0, bid, 1.0, 1.0), None, "one-sided");
            assert_eq!(
                a.update(bid, bid + 0.01, 5.0, 7.0),
                b.update(bid, bid + 0.01, 5.0, 7.0)
            );
        }
    }
}
