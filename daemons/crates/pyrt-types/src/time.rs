//! UTC timestamps as nanoseconds since the Unix epoch.
//!
//! Alpaca stamps every trade, quote and order event with RFC 3339 and up to nine fractional digits
//! ("2024-08-08T23:54:14.123456789Z"). The parser here is hand-written because it sits on the
//! market-data hot path: it allocates nothing and touches each byte once. The `time` crate is its
//! oracle in the property tests.

use std::fmt;
use std::str::FromStr;

use bytemuck::{Pod, Zeroable};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Why a string is not an RFC 3339 timestamp we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error(
        "timestamp is not of the form YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM); problem at byte {at}"
    )]
    Syntax { at: usize },
    #[error("timestamp has a field out of range: {field}")]
    Range { field: &'static str },
    #[error("timestamp fraction has more than 9 digits")]
    TooPrecise,
    #[error("timestamp is outside the years 1678..=2261 that nanoseconds in an i64 can hold")]
    Overflow,
}

/// Nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Pod, Zeroable)]
#[cfg_attr(
    feature = "python",
    pyo3::pyclass(frozen, eq, ord, hash, str, module = "pyrt._core")
)]
#[repr(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const EPOCH: Self = Self(0);

    #[must_use]
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    #[must_use]
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// Wall-clock now. Saturates outside the representable range rather than panicking.
    #[must_use]
    pub fn now() -> Self {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        Self(since.map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
    }

    /// Parses RFC 3339 with 0 to 9 fractional digits and a `Z` or numeric offset.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let b = text.as_bytes();
        let year = digits(b, 0, 4)?;
        expect(b, 4, b'-')?;
        let month = digits(b, 5, 2)?;
        expect(b, 7, b'-')?;
        let day = digits(b, 8, 2)?;
        match b.get(10) {
            Some(b'T' | b't' | b' ') => {}
            _ => return Err(TimestampError::Syntax { at: 10 }),
        }
        let hour = digits(b, 11, 2)?;
        expect(b, 13, b':')?;
        let minute = digits(b, 14, 2)?;
        expect(b, 16, b':')?;
        let second = digits(b, 17, 2)?;
        let mut pos = 19;
        let mut nanos: i64 = 0;
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                if pos - start == 9 {
                    return Err(TimestampError::TooPrecise);
                }
                nanos = nanos * 10 + i64::from(b[pos] - b'0');
                pos += 1;
            }
            let n = pos - start;
            if n == 0 {
                return Err(TimestampError::Syntax { at: pos });
            }
            for _ in n..9 {
                nanos *= 10;
            }
        }
        let offset_secs = match b.get(pos) {
            Some(b'Z' | b'z') => {
                pos += 1;
                0
            }
            Some(&sign @ (b'+' | b'-')) => {
                let oh = digits(b, pos + 1, 2)?;
                expect(b, pos + 3, b':')?;
                let om = digits(b, pos + 4, 2)?;
                if oh > 23 {
                    return Err(TimestampError::Range {
                        field: "offset hour",
                    });
                }
                if om > 59 {
                    return Err(TimestampError::Range {
                        field: "offset minute",
                    });
                }
                pos += 6;
                let secs = oh * 3600 + om * 60;
                if sign == b'-' { -secs } else { secs }
            }
            _ => return Err(TimestampError::Syntax { at: pos }),
        };
        if pos != b.len() {
            return Err(TimestampError::Syntax { at: pos });
        }
        if !(1..=12).contains(&month) {
            return Err(TimestampError::Range { field: "month" });
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(TimestampError::Range { field: "day" });
        }
        if hour > 23 {
            return Err(TimestampError::Range { field: "hour" });
        }
        if minute > 59 {
            return Err(TimestampError::Range { field: "minute" });
        }
        // Leap seconds (":60") are rejected: no feed we consume sends them.
        if second > 59 {
            return Err(TimestampError::Range { field: "second" });
        }
        let secs =
            days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second
                - offset_secs;
        secs.checked_mul(NANOS_PER_SEC)
            .and_then(|n| n.checked_add(nanos))
            .map(Self)
            .ok_or(TimestampError::Overflow)
    }

    /// Calendar fields in UTC: (year, month, day, hour, minute, second, nanosecond).
    #[must_use]
    pub fn to_civil(self) -> (i64, i64, i64, i64, i64, i64, i64) {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        (y, m, d, sod / 3600, sod % 3600 / 60, sod % 60, nanos)
    }
}

fn expect(b: &[u8], at: usize, want: u8) -> Result<(), TimestampError> {
    if b.get(at) == Some(&want) {
        Ok(())
    } else {
        Err(TimestampError::Syntax { at })
    }
}

fn digits(b: &[u8], at: usize, count: usize) -> Result<i64, TimestampError> {
    let field = b
        .get(at..at + count)
        .ok_or(TimestampError::Syntax { at: b.len() })?;
    let mut value = 0;
    for (i, &d) in field.iter().enumerate() {
        if !d.is_ascii_digit() {
            return Err(TimestampError::Syntax { at: at + i });
        }
        value = value * 10 + i64::from(d - b'0');
    }
    Ok(value)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with trailing fractional zeros trimmed (Go's `RFC3339Nano`, which Alpaca uses).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day, hour, minute, second, mut nanos) = self.to_civil();
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
        )?;
        if nanos != 0 {
            let mut width = 9;
            while nanos % 10 == 0 {
                nanos /= 10;
                width -= 1;
            }
            write!(f, ".{nanos:0width$}")?;
        }
        f.write_str("Z")
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn parses_alpaca_forms() {
        assert_eq!(ts("1970-01-01T00:00:00Z").unix_nanos(), 0);
        assert_eq!(
            ts("2021-10-13T08:00:00.000000001Z").unix_nanos(),
            1_634_112_000_000_000_001
        );
        assert_eq!(ts("2024-11-01T04:00:00Z"), ts("2024-11-01T00:00:00-04:00"));
        assert_eq!(
            ts("2024-08-08T23:54:14.5+00:00").unix_nanos() % NANOS_PER_SEC,
            500_000_000
        );
        assert_eq!(ts("1969-12-31T23:59:59.999999999Z").unix_nanos(), -1);
        assert_eq!(ts("2024-02-29 12:00:00z"), ts("2024-02-29T12:00:00Z"));
    }

    #[test]
    fn displays_trimmed_utc() {
        assert_eq!(
            ts("2021-10-13T08:00:00.120000000Z").to_string(),
            "2021-10-13T08:00:00.12Z"
        );
        assert_eq!(
            ts("2021-10-13T04:00:00-04:00").to_string(),
            "2021-10-13T08:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(-1).to_string(),
            "1969-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn rejects_bad_input() {
        let err = |s: &str| Timestamp::parse_rfc3339(s).unwrap_err();
        assert_eq!(err(""), TimestampError::Syntax { at: 0 });
        assert_eq!(
            err("2024-13-01T00:00:00Z"),
            TimestampError::Range { field: "month" }
        );
        assert_eq!(
            err("2023-02-29T00:00:00Z"),
            TimestampError::Range { field: "day" }
        );
        assert_eq!(
            err("2024-01-01T24:00:00Z"),
            TimestampError::Range { field: "hour" }
        );
        assert_eq!(
            err("2024-01-01T23:59:60Z"),
            TimestampError::Range { field: "second" }
        );
        assert_eq!(
            err("2024-01-01T00:00:00.1234567891Z"),
            TimestampError::TooPrecise
        );
        assert_eq!(
            err("2024-01-01T00:00:00."),
            TimestampError::Syntax { at: 20 }
        );
        assert_eq!(
            err("2024-01-01T00:00:00"),
            TimestampError::Syntax { at: 19 }
        );
        assert_eq!(
            err("2024-01-01T00:00:00Zjunk"),
            TimestampError::Syntax { at: 20 }
        );
        assert_eq!(
            err("2024-01-01T00:00:00+5:00"),
            TimestampError::Syntax { at: 21 }
        );
        assert_eq!(err("2300-01-01T00:00:00Z"), TimestampError::Overflow);
        assert_eq!(
            err("2024-01-01T00:00:00+24:00"),
            TimestampError::Range {
                field: "offset hour"
            }
        );
    }
}
