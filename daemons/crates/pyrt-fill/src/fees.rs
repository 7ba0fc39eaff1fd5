//! Costs of an execution: broker commission (per share and/or basis points) and the US regulatory
//! fees passed on for sells (SEC fee on the notional, FINRA TAF per share with a cap).

use pyrt_types::{Notional, Price, Qty, Side};

/// Fee schedule. All zero is Alpaca's commission-free equities with no regulatory fees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeeModel {
    /// Commission per share, in dollars.
    pub per_share: Price,
    /// Commission in basis points of the notional.
    pub bps: i64,
    /// SEC Section 31 fee in dollars per million dollars of sell notional (27.80 in 2024).
    pub sec_per_million: Notional,
    /// FINRA Trading Activity Fee per share sold (0.000166 in 2024).
    pub finra_taf_per_share: Price,
    /// Cap of the TAF per trade (8.30 in 2024).
    pub finra_taf_max: Notional,
}

const CENT: i64 = 10_000_000;

/// Rounds a positive amount up to the next cent, as the SEC and FINRA fees are.
fn ceil_cent(amount: Notional) -> Notional {
    let raw = amount.raw();
    let rem = raw.rem_euclid(CENT);
    Notional::from_raw(if rem == 0 {
        raw
    } else {
        raw.saturating_add(CENT - rem)
    })
}

impl FeeModel {
    /// Alpaca's pass-through regulatory fees (2024 rates) and no commission.
    #[must_use]
    pub fn alpaca_regulatory() -> Self {
        Self {
            per_share: Price::ZERO,
            bps: 0,
            sec_per_million: Notional::from_raw(27_800_000_000),
            finra_taf_per_share: Price::from_raw(166_000),
            finra_taf_max: Notional::from_raw(8_300_000_000),
        }
    }

    /// Total fee of one execution (never negative).
    #[must_use]
    pub fn fee(&self, side: Side, qty: Qty, price: Price) -> Notional {
        let qty = qty.abs();
        let notional = price.checked_notional(qty).unwrap_or(Notional::MAX).abs();
        let mut total = self
            .per_share
            .checked_notional(qty)
            .unwrap_or(Notional::ZERO);
        total = total.saturating_add(notional.checked_bps(self.bps).unwrap_or(Notional::ZERO));
        if side == Side::Sell {
            let sec = i128::from(notional.raw()) * i128::from(self.sec_per_million.raw())
                / 1_000_000_000_000_000;
            let sec = Notional::from_raw(i64::try_from(sec).unwrap_or(i64::MAX));
            let taf = self
                .finra_taf_per_share
                .checked_notional(qty)
                .unwrap_or(Notional::ZERO);
            let taf = if self.finra_taf_max.is_zero() {
                taf
            } else {
                taf.min(self.finra_taf_max)
            };
            total = total
                .saturating_add(ceil_cent(sec))
                .saturating_add(ceil_cent(taf));
        }
        total.max(Notional::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regulatory_fees_apply_to_sells_only_rounded_up() {
        let fees = FeeModel::alpaca_regulatory();
        let px = Price::parse("100").unwrap();
        let qty = Qty::from_units(100).unwrap();
        assert_eq!(fees.fee(Side::Buy, qty, px), Notional::ZERO);
        // SEC: $10,000 × 27.80 / 1e6 = $0.278 → $0.28; TAF: 100 × 0.000166 = $0.0166 → $0.02.
        assert_eq!(fees.fee(Side::Sell, qty, px).to_string(), "0.3");
        // TAF cap: 100,000 shares × 0.000166 = $16.60 → capped at $8.30.
        let big = Qty::from_units(100_000).unwrap();
        let fee = fees.fee(Side::Sell, big, Price::parse("1").unwrap());
        assert_eq!(fee.to_string(), "11.08"); // SEC $2.78 + TAF $8.30
    }

    #[test]
    fn commissions_per_share_and_bps() {
        let fees = FeeModel {
            per_share: Price::parse("0.005").unwrap(),
            bps: 10,
            ..FeeModel::default()
        };
        let fee = fees.fee(
            Side::Buy,
            Qty::from_units(200).unwrap(),
            Price::parse("50").unwrap(),
        );
        assert_eq!(fee.to_string(), "11"); // $1 per-share + 10 bps of $10,000
    }
}
