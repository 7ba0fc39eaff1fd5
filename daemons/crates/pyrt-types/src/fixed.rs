//! Fixed-point decimal quantities: `i64` counts of 10⁻⁹.
//!
//! Nine decimal places because Alpaca accepts quantities and notionals with up to nine decimals and
//! quotes sub-penny prices with four; one scale for all three types keeps conversions free. The range
//! is ±9,223,372,036.854775807, which bounds a single price, quantity or notional at about 9.2 billion.
//! Parsing is exact or fails: a string with more than nine decimals is an error, never silently rounded.

use std::fmt;
use std::str::FromStr;

use bytemuck::{Pod, Zeroable};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decimal places carried by every fixed-point type.
pub const SCALE_DIGITS: u32 = 9;
/// Raw units per whole unit (10⁹).
pub const SCALE: i64 = 1_000_000_000;

/// Why a decimal string could not become a fixed-point value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("empty decimal string")]
    Empty,
    #[error("invalid character {found:?} at byte {at} in decimal string")]
    InvalidChar { at: usize, found: char },
    #[error("decimal has no digits")]
    NoDigits,
    #[error(
        "decimal has more than {SCALE_DIGITS} decimal places and cannot be represented exactly"
    )]
    TooPrecise,
    #[error("decimal is out of the representable range (about ±9.2e9)")]
    Overflow,
    #[error("decimal is not a finite number")]
    NotFinite,
}

/// A checked arithmetic operation left the representable range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("fixed-point arithmetic overflow")]
pub struct OverflowError;

const POW10: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// Parses a decimal string (optional sign, digits, optional fraction, optional exponent) into raw
/// 10⁻⁹ units, exactly.
pub(crate) fn parse_raw(text: &str) -> Result<i64, DecimalError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(DecimalError::Empty);
    }
    let mut pos = 0;
    let negative = match bytes[0] {
        b'-' => {
            pos = 1;
            true
        }
        b'+' => {
            pos = 1;
            false
        }
        _ => false,
    };
    let int_start = pos;
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let int_digits = &bytes[int_start..pos];
    let mut frac_digits: &[u8] = &[];
    if pos < bytes.len() && bytes[pos] == b'.' {
        pos += 1;
        let frac_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        frac_digits = &bytes[frac_start..pos];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(if pos < bytes.len() {
            invalid_at(text, pos)
        } else {
            DecimalError::NoDigits
        });
    }
    let exponent = parse_exponent(text, &mut pos)?;
    if pos != bytes.len() {
        return Err(invalid_at(text, pos));
    }

    // Trailing fractional zeros carry no value; dropping them keeps "1.500000000000" exact and in range.
    let significant_frac = frac_digits
        .iter()
        .rposition(|&d| d != b'0')
        .map_or(0, |i| i + 1);
    let frac_digits = &frac_digits[..significant_frac];

    let mut mantissa: u128 = 0;
    for &digit in int_digits.iter().chain(frac_digits) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(digit - b'0')))
            .ok_or(DecimalError::Overflow)?;
    }
    // value = mantissa · 10^(exponent − frac_len); raw = value · 10^SCALE_DIGITS.
    let frac_len = i64::try_from(frac_digits.len()).map_err(|_| DecimalError::Overflow)?;
    let shift = exponent - frac_len + i64::from(SCALE_DIGITS);
    let magnitude = scale_mantissa(mantissa, shift)?;
    let signed = if negative {
        0i128.checked_sub_unsigned(magnitude)
    } else {
        i128::try_from(magnitude).ok()
    };
    signed
        .and_then(|v| i64::try_from(v).ok())
        .ok_or(DecimalError::Overflow)
}

/// Reads an optional `e[±]digits` suffix at `pos`, advancing past it.
fn parse_exponent(text: &str, pos: &mut usize) -> Result<i64, DecimalError> {
    let bytes = text.as_bytes();
    if !matches!(bytes.get(*pos), Some(b'e' | b'E')) {
        return Ok(0);
    }
    *pos += 1;
    let negative = match bytes.get(*pos) {
        Some(&sign @ (b'-' | b'+')) => {
            *pos += 1;
            sign == b'-'
        }
        _ => false,
    };
    let start = *pos;
    let mut exponent: i64 = 0;
    while *pos < bytes.len() && bytes[*pos].is_ascii_digit() {
        // Saturate: any exponent this large overflows or underflows anyway.
        exponent = (exponent * 10 + i64::from(bytes[*pos] - b'0')).min(1_000);
        *pos += 1;
    }
    if *pos == start {
        return Err(invalid_at(text, *pos));
    }
    Ok(if negative { -exponent } else { exponent })
}

/// `mantissa · 10^shift`, which must be an integer.
fn scale_mantissa(mantissa: u128, shift: i64) -> Result<u128, DecimalError> {
    if mantissa == 0 {
        return Ok(0);
    }
    let power = |exp: i64, err| {
        usize::try_from(exp)
            .ok()
            .and_then(|e| POW10.get(e))
            .ok_or(err)
    };
    if shift >= 0 {
        let factor = power(shift, DecimalError::Overflow)?;
        mantissa.checked_mul(*factor).ok_or(DecimalError::Overflow)
    } else {
        let divisor = power(-shift, DecimalError::TooPrecise)?;
        if !mantissa.is_multiple_of(*divisor) {
            return Err(DecimalError::TooPrecise);
        }
        Ok(mantissa / divisor)
    }
}

fn invalid_at(text: &str, at: usize) -> DecimalError {
    let found = text[at..].chars().next().unwrap_or('\0');
    DecimalError::InvalidChar { at, found }
}

/// Writes raw units as the shortest exact decimal ("187.23", "0.001", "-5", "100").
pub(crate) fn format_raw(raw: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let magnitude = raw.unsigned_abs();
    let scale = SCALE.unsigned_abs();
    let whole = magnitude / scale;
    let mut frac = magnitude % scale;
    // Sign, up to 20 integer digits, point, nine fraction digits.
    let mut buf = [0u8; 32];
    let mut len = 0;
    if raw < 0 {
        buf[0] = b'-';
        len = 1;
    }
    let mut digits = [0u8; 20];
    let mut n_digits = 0;
    let mut rest = whole;
    loop {
        // Truncation is the point: one decimal digit per iteration.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (rest % 10) as u8;
        digits[n_digits] = b'0' + digit;
        n_digits += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &d in digits[..n_digits].iter().rev() {
        buf[len] = d;
        len += 1;
    }
    if frac != 0 {
        buf[len] = b'.';
        len += 1;
        let mut places = SCALE_DIGITS;
        while frac.is_multiple_of(10) {
            frac /= 10;
            places -= 1;
        }
        for i in (0..places).rev() {
            #[allow(clippy::cast_possible_truncation)]
            let digit = ((frac / 10u64.pow(i)) % 10) as u8;
            buf[len] = b'0' + digit;
            len += 1;
        }
    }
    // Only ASCII digits, '-' and '.' were written.
    let text = std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?;
    f.pad(text)
}

/// Multiplies two raw values (each scaled by 10⁹) and rescales, rounding half away from zero.
fn mul_raw(a: i64, b: i64) -> Option<i64> {
    // Whole quantities (most equity orders) multiply exactly in 64 bits; the 128-bit division
    // below is a library call costing tens of nanoseconds on the hot path.
    if b % SCALE == 0 {
        return a.checked_mul(b / SCALE);
    }
    if a % SCALE == 0 {
        return b.checked_mul(a / SCALE);
    }
    let product = i128::from(a) * i128::from(b);
    let scale = i128::from(SCALE);
    let half = scale / 2;
    let rounded = if product >= 0 {
        product + half
    } else {
        product - half
    } / scale;
    i64::try_from(rounded).ok()
}

macro_rules! fixed_point {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Pod, Zeroable)]
        #[cfg_attr(
            feature = "python",
            pyo3::pyclass(frozen, eq, ord, hash, str, module = "pyrt._core")
        )]
        #[repr(transparent)]
        pub struct $name(i64);

        impl $name {
            pub const ZERO: Self = Self(0);
            pub const MIN: Self = Self(i64::MIN);
            pub const MAX: Self = Self(i64::MAX);

            /// Wraps raw 10⁻⁹ units.
            #[must_use]
            pub const fn from_raw(raw: i64) -> Self {
                Self(raw)
            }

            /// Raw 10⁻⁹ units.
            #[must_use]
            pub const fn raw(self) -> i64 {
                self.0
            }

            /// Whole units, if they fit.
            #[must_use]
            pub const fn from_units(units: i64) -> Option<Self> {
                match units.checked_mul(SCALE) {
                    Some(raw) => Some(Self(raw)),
                    None => None,
                }
            }

            /// Parses a decimal string exactly; see the module documentation for the accepted form.
            pub fn parse(text: &str) -> Result<Self, DecimalError> {
                parse_raw(text).map(Self)
            }

            /// The decimal a sender meant by a binary float: its shortest round-trip form, exact
            /// for any value written with at most 17 significant digits (feeds that encode prices
            /// as floats, such as Alpaca's MessagePack market data).
            pub fn from_f64_shortest(value: f64) -> Result<Self, DecimalError> {
                raw_from_f64(value).map(Self)
            }

            pub fn checked_add(self, other: Self) -> Result<Self, OverflowError> {
                self.0.checked_add(other.0).map(Self).ok_or(OverflowError)
            }

            pub fn checked_sub(self, other: Self) -> Result<Self, OverflowError> {
                self.0.checked_sub(other.0).map(Self).ok_or(OverflowError)
            }

            pub fn checked_neg(self) -> Result<Self, OverflowError> {
                self.0.checked_neg().map(Self).ok_or(OverflowError)
            }

            pub fn checked_mul_int(self, factor: i64) -> Result<Self, OverflowError> {
                self.0.checked_mul(factor).map(Self).ok_or(OverflowError)
            }

            #[must_use]
            pub const fn saturating_add(self, other: Self) -> Self {
                Self(self.0.saturating_add(other.0))
            }

            #[must_use]
            pub const fn saturating_sub(self, other: Self) -> Self {
                Self(self.0.saturating_sub(other.0))
            }

            #[must_use]
            pub const fn abs(self) -> Self {
                Self(self.0.saturating_abs())
            }

            #[must_use]
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            #[must_use]
            pub const fn is_negative(self) -> bool {
                self.0 < 0
            }

            /// Nearest `f64`, for features and plots only: never feed it back into money.
            #[must_use]
            #[allow(clippy::cast_precision_loss)]
            pub fn to_f64_lossy(self) -> f64 {
                let whole = self.0 / SCALE;
                let frac = self.0 % SCALE;
                whole as f64 + frac as f64 / SCALE as f64
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                format_raw(self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = DecimalError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl Serialize for $name {
            /// Alpaca encodes prices and quantities as decimal strings; so do we.
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any(DecimalVisitor).map(Self)
            }
        }
    };
}

/// Accepts a decimal string, an integer, or a float. A float is read through its shortest
/// round-trip representation, which is the literal the sender wrote for any price or size that has
/// at most 17 significant digits (Alpaca's market-data JSON sends prices as numbers).
struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal string or number with at most 9 decimal places")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_raw(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        v.checked_mul(SCALE)
            .ok_or_else(|| E::custom(DecimalError::Overflow))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v)
            .ok()
            .and_then(|v| v.checked_mul(SCALE))
            .ok_or_else(|| E::custom(DecimalError::Overflow))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        raw_from_f64(v).map_err(E::custom)
    }
}

fn raw_from_f64(value: f64) -> Result<i64, DecimalError> {
    if !value.is_finite() {
        return Err(DecimalError::NotFinite);
    }
    // Fast paths, exact. Whole numbers (sizes, volumes) scale by 10⁹ without rounding. Below
    // 2²² the doubles are closer together than 10⁻⁹, so at most one nine-decimal number rounds to
    // `value`; if the scaled, rounded candidate converts back to `value` (a correctly rounded
    // division), it is that number, hence the shortest form's value. Anything else takes the
    // formatting path, about twenty times slower.
    #[allow(clippy::cast_possible_truncation)]
    if value.fract() == 0.0 && value.abs() < 9.2e9 {
        return Ok(value as i64 * SCALE);
    }
    if value.abs() < 4_194_304.0 {
        #[allow(clippy::cast_possible_truncation)]
        let candidate = (value * 1e9).round() as i64;
        #[allow(clippy::cast_precision_loss)]
        if (candidate as f64 / 1e9).to_bits() == value.to_bits() {
            return Ok(candidate);
        }
    }
    let mut buf = FloatText::default();
    fmt::write(&mut buf, format_args!("{value:e}")).map_err(|_| DecimalError::Overflow)?;
    parse_raw(buf.as_str())
}

/// Stack buffer for formatting a float without allocating.
/// Shortest round-trip `{:e}` output of any f64 fits in 32 bytes ("-1.2345678901234567e-308").
#[derive(Default)]
struct FloatText {
    buf: [u8; 32],
    len: usize,
}

impl FloatText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for FloatText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fixed_point! {
    /// A price in dollars per share (or per unit of a crypto asset), 10⁻⁹ resolution.
    Price
}

fixed_point! {
    /// A quantity of shares or units, 10⁻⁹ resolution (Alpaca fractional shares use up to nine decimals).
    Qty
}

fixed_point! {
    /// An amount of money in dollars, 10⁻⁹ resolution: order notional, cash, P&L.
    Notional
}

/// Which way a division that does not come out even is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Toward negative infinity.
    Down,
    /// Toward positive infinity.
    Up,
}

impl Price {
    /// Price × quantity, rounded half away from zero to 10⁻⁹ dollars.
    pub fn checked_notional(self, qty: Qty) -> Result<Notional, OverflowError> {
        mul_raw(self.0, qty.0).map(Notional).ok_or(OverflowError)
    }

    /// This price after a split of `ratio` new shares per old (price ÷ ratio), rounded as told:
    /// an order's limit is rounded so the split never makes it more aggressive.
    pub fn checked_split(self, ratio: Qty, rounding: Rounding) -> Result<Self, OverflowError> {
        if ratio.0 <= 0 {
            return Err(OverflowError);
        }
        let numerator = i128::from(self.0) * i128::from(SCALE);
        let divisor = i128::from(ratio.0);
        let quotient = match rounding {
            Rounding::Down => numerator.div_euclid(divisor),
            Rounding::Up => -(-numerator).div_euclid(divisor),
        };
        i64::try_from(quotient).map(Self).map_err(|_| OverflowError)
    }
}

impl Qty {
    /// This quantity after a split of `ratio` new shares per old, rounded half away from zero.
    pub fn checked_split(self, ratio: Qty) -> Result<Self, OverflowError> {
        if ratio.0 <= 0 {
            return Err(OverflowError);
        }
        mul_raw(self.0, ratio.0).map(Self).ok_or(OverflowError)
    }
}

impl Notional {
    /// Fraction of this amount expressed in basis points, rounded half away from zero.
    pub fn checked_bps(self, bps: i64) -> Result<Self, OverflowError> {
        let product = i128::from(self.0) * i128::from(bps);
        let rounded = if product >= 0 {
            product + 5_000
        } else {
            product - 5_000
        } / 10_000;
        i64::try_from(rounded).map(Self).map_err(|_| OverflowError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_scale_quantities_and_divide_prices_the_way_asked() {
        let three = Qty::from_units(3).unwrap();
        let half = Qty::parse("0.5").unwrap();
        let p = Price::parse("100").unwrap();
        assert_eq!(
            p.checked_split(three, Rounding::Down).unwrap(),
            Price::parse("33.333333333").unwrap()
        );
        assert_eq!(
            p.checked_split(three, Rounding::Up).unwrap(),
            Price::parse("33.333333334").unwrap()
        );
        // A 1-for-2 reverse split doubles the price exactly, whichever way it rounds.
        assert_eq!(
            p.checked_split(half, Rounding::Up).unwrap(),
            Price::parse("200").unwrap()
        );
        assert_eq!(
            Qty::from_units(7).unwrap().checked_split(three).unwrap(),
            Qty::from_units(21).unwrap()
        );
        assert_eq!(
            Qty::from_units(7).unwrap().checked_split(half).unwrap(),
            Qty::parse("3.5").unwrap()
        );
        assert!(p.checked_split(Qty::ZERO, Rounding::Down).is_err());
        assert!(
            Qty::from_units(1)
                .unwrap()
                .checked_split(Qty::ZERO)
                .is_err()
        );
    }

    #[test]
    fn parses_alpaca_strings_exactly() {
        assert_eq!(Price::parse("187.23").unwrap().raw(), 187_230_000_000);
        assert_eq!(Qty::parse("0.001").unwrap().raw(), 1_000_000);
        assert_eq!(Qty::parse("100").unwrap().raw(), 100 * SCALE);
        assert_eq!(Price::parse("-0.5").unwrap().raw(), -500_000_000);
        assert_eq!(Price::parse("1.5e2").unwrap(), Price::parse("150").unwrap());
        assert_eq!(Price::parse("15E-1").unwrap(), Price::parse("1.5").unwrap());
        assert_eq!(Price::parse(".25").unwrap(), Price::parse("0.25").unwrap());
        assert_eq!(Price::parse("7.").unwrap(), Price::parse("7").unwrap());
        assert_eq!(
            Price::parse("1.100000000000000000000").unwrap().raw(),
            1_100_000_000
        );
    }

    #[test]
    fn formats_shortest_exact() {
        for text in [
            "187.23",
            "0.001",
            "100",
            "-5",
            "0",
            "0.000000001",
            "-9223372036.854775808",
        ] {
            assert_eq!(Price::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Price::MAX.to_string(), "9223372036.854775807");
        assert_eq!(format!("{:>8}", Price::parse("1.5").unwrap()), "     1.5");
    }

    #[test]
    fn rejects_what_is_not_exact() {
        assert_eq!(Price::parse(""), Err(DecimalError::Empty));
        assert_eq!(Price::parse("-"), Err(DecimalError::NoDigits));
        assert_eq!(Price::parse("."), Err(DecimalError::NoDigits));
        assert_eq!(Price::parse("0.0000000001"), Err(DecimalError::TooPrecise));
        assert_eq!(Price::parse("1e-10"), Err(DecimalError::TooPrecise));
        assert_eq!(Price::parse("9223372037"), Err(DecimalError::Overflow));
        assert_eq!(Price::parse("1e400"), Err(DecimalError::Overflow));
        assert_eq!(
            Price::parse("1e"),
            Err(DecimalError::InvalidChar { at: 2, found: '\0' })
        );
        assert_eq!(
            Price::parse("12a"),
            Err(DecimalError::InvalidChar { at: 2, found: 'a' })
        );
        assert_eq!(
            Price::parse("1,5"),
            Err(DecimalError::InvalidChar { at: 1, found: ',' })
        );
        assert_eq!(
            Price::parse(" 1"),
            Err(DecimalError::InvalidChar { at: 0, found: ' ' })
        );
        assert_eq!(
            Price::parse("NaN"),
            Err(DecimalError::InvalidChar { at: 0, found: 'N' })
        );
    }

    #[test]
    fn zero_with_huge_exponent_is_zero() {
        assert_eq!(Price::parse("0e999").unwrap(), Price::ZERO);
        assert_eq!(Price::parse("0.000e-999").unwrap(), Price::ZERO);
    }

    #[test]
    fn notional_rounds_half_away_from_zero() {
        let px = Price::parse("0.000000001").unwrap();
        let half = Qty::parse("0.5").unwrap();
        assert_eq!(px.checked_notional(half).unwrap().raw(), 1);
        assert_eq!(
            px.checked_neg()
                .unwrap()
                .checked_notional(half)
                .unwrap()
                .raw(),
            -1
        );
        let px = Price::parse("187.23").unwrap();
        let qty = Qty::parse("3.5").unwrap();
        assert_eq!(px.checked_notional(qty).unwrap().to_string(), "655.305");
        assert_eq!(
            Price::MAX.checked_notional(Qty::from_units(2).unwrap()),
            Err(OverflowError)
        );
    }

    #[test]
    fn checked_arithmetic_reports_overflow() {
        assert_eq!(
            Price::MAX.checked_add(Price::from_raw(1)),
            Err(OverflowError)
        );
        assert_eq!(
            Price::MIN.checked_sub(Price::from_raw(1)),
            Err(OverflowError)
        );
        assert_eq!(Price::MIN.checked_neg(), Err(OverflowError));
        assert_eq!(Qty::from_units(i64::MAX), None);
        assert_eq!(
            Notional::parse("100")
                .unwrap()
                .checked_bps(25)
                .unwrap()
                .to_string(),
            "0.25"
        );
    }

    #[test]
    fn serde_accepts_strings_integers_and_floats() {
        let p: Price = serde_json::from_str("\"187.23\"").unwrap();
        assert_eq!(p.to_string(), "187.23");
        let p: Price = serde_json::from_str("187.23").unwrap();
        assert_eq!(p.to_string(), "187.23");
        let q: Qty = serde_json::from_str("42").unwrap();
        assert_eq!(q, Qty::from_units(42).unwrap());
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"187.23\"");
        assert!(serde_json::from_str::<Price>("\"1.2.3\"").is_err());
        assert!(serde_json::from_str::<Price>("1e-12").is_err());
    }

    #[test]
    fn floats_become_the_decimal_they_print_as() {
        assert_eq!(
            Price::from_f64_shortest(187.23).unwrap().to_string(),
            "187.23"
        );
        assert_eq!(
            Qty::from_f64_shortest(0.000_123_4).unwrap().to_string(),
            "0.0001234"
        );
        assert_eq!(Qty::from_f64_shortest(1e-10), Err(DecimalError::TooPrecise));
        assert_eq!(
            Qty::from_f64_shortest(f64::NAN),
            Err(DecimalError::NotFinite)
        );
        assert_eq!(Qty::from_f64_shortest(1e300), Err(DecimalError::Overflow));
    }
}
