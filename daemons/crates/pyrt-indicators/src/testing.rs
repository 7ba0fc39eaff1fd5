//! Test support: reproducible bar series and comparisons of a batch kernel with its incremental
//! indicator.

use crate::{Hlc, Indicator};

/// Columns of a bar series.
pub(crate) struct Bars {
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<f64>,
}

impl Bars {
    /// A geometric random walk around 100 (about 1% a bar) with highs above and lows below the
    /// close, from a fixed seed: no two runs differ, yet rises, falls, ties and gaps all occur.
    pub(crate) fn walk(n: usize, seed: u64) -> Self {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut uniform = move || {
            // xorshift64*: plenty for test data.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            // 53 random bits, exact in an f64.
            #[allow(clippy::cast_precision_loss)]
            let u = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64;
            u / 9_007_199_254_740_992.0
        };
        let mut price = 100.0;
        let mut bars = Self {
            high: Vec::with_capacity(n),
            low: Vec::with_capacity(n),
            close: Vec::with_capacity(n),
            volume: Vec::with_capacity(n),
        };
        for i in 0..n {
            // Every 17th bar repeats the close, so "unchanged" branches run too.
            if i % 17 != 0 {
                price *= 1.0 + (uniform() - 0.5) * 0.02;
            }
            bars.close.push(price);
            bars.high.push(price * (1.0 + uniform() * 0.01));
            bars.low.push(price * (1.0 - uniform() * 0.01));
            bars.volume.push((100.0 + uniform() * 10_000.0).floor());
        }
        bars
    }

    pub(crate) fn hlc(&self) -> impl ExactSizeIterator<Item = Hlc> + '_ {
        self.high
            .iter()
            .zip(&self.low)
            .zip(&self.close)
            .map(|((&high, &low), &close)| Hlc { high, low, close })
    }

    /// The first `n` bars.
    pub(crate) fn take(&self, n: usize) -> Self {
        Self {
            high: self.high[..n].to_vec(),
            low: self.low[..n].to_vec(),
            close: self.close[..n].to_vec(),
            volume: self.volume[..n].to_vec(),
        }
    }

    /// `NaN` in every column at `at`.
    pub(crate) fn with_nans(mut self, at: &[usize]) -> Self {
        for &i in at {
            for column in [
                &mut self.high,
                &mut self.low,
                &mut self.close,
                &mut self.volume,
            ] {
                column[i] = f64::NAN;
            }
        }
        self
    }
}

/// Lengths around a lookback (empty, shorter, exactly enough, one more) and a long one.
pub(crate) fn lengths(lookback: usize, long: usize) -> Vec<usize> {
    let mut out = vec![0, 1, 2, lookback.saturating_sub(1), lookback, lookback + 1];
    out.extend([lookback + 2, lookback + 7, long]);
    out.retain(|&n| n <= long);
    out
}

/// Feeds `indicator` one input at a time; one column per output, `NaN` while warming up.
pub(crate) fn incremental<I: Indicator, const K: usize>(
    mut indicator: I,
    inputs: impl IntoIterator<Item = I::Input>,
    split: impl Fn(I::Output) -> [f64; K],
) -> [Vec<f64>; K] {
    let mut columns: [Vec<f64>; K] = std::array::from_fn(|_| Vec::new());
    for input in inputs {
        let values = indicator.update(input).map_or([f64::NAN; K], &split);
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
    }
    columns
}

/// Equal bit for bit, any `NaN` matching any `NaN`.
#[track_caller]
pub(crate) fn assert_same_bits(batch: &[f64], incremental: &[f64], label: &str) {
    assert_eq!(batch.len(), incremental.len(), "{label}: length");
    for (i, (b, r)) in batch.iter().zip(incremental).enumerate() {
        assert!(
            b.to_bits() == r.to_bits() || (b.is_nan() && r.is_nan()),
            "{label}[{i}]: batch {b:e}, incremental {r:e}"
        );
    }
}

/// `NaN` in the same places, and elsewhere within `tolerance` of `scale` (pass the series'
/// magnitude for values that cross zero) or of the value itself, whichever is larger.
#[track_caller]
pub(crate) fn assert_close(
    batch: &[f64],
    incremental: &[f64],
    tolerance: f64,
    scale: f64,
    label: &str,
) {
    assert_eq!(batch.len(), incremental.len(), "{label}: length");
    for (i, (b, r)) in batch.iter().zip(incremental).enumerate() {
        assert_eq!(
            b.is_nan(),
            r.is_nan(),
            "{label}[{i}]: batch {b:e}, incremental {r:e}"
        );
        assert!(
            b.is_nan() || (b - r).abs() <= tolerance * r.abs().max(scale),
            "{label}[{i}]: batch {b:e}, incremental {r:e}"
        );
    }
}

/// The largest magnitude in `values`, ignoring `NaN`.
pub(crate) fn magnitude(values: &[f64]) -> f64 {
    values
        .iter()
        .filter(|v| !v.is_nan())
        .fold(0.0, |m, v| v.abs().max(m))
}
