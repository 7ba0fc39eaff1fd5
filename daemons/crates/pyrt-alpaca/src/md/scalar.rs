//! Scalars of market-data text in the forms Alpaca sends, each read in one pass: plain decimals
//! straight into raw 10⁻⁹ units, and UTC RFC 3339 timestamps of the fixed-width layout. Any other
//! form gives `None`, and the caller takes `pyrt-types`' general parser, so the two paths accept
//! the same input and produce the same values (the property tests below hold them to it).

use pyrt_types::Timestamp;

/// Longest integer part read here: 10 digits times 10⁹ still fits a `u64`, and every price or
/// size in range (±9.2·10⁹) has at most 10.
const MAX_INT_DIGITS: usize = 10;
const MAX_FRAC_DIGITS: usize = 9;

const POW10: [u64; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

#[inline]
fn digit(byte: u8) -> Option<u64> {
    let d = byte.wrapping_sub(b'0');
    (d <= 9).then_some(u64::from(d))
}

/// The run of ASCII digits at `at`: its value and length, `None` if it has more than `max` digits.
/// (A byte at a time beats eight-byte SWAR conversion here: runs are short, and the SWAR
/// multiplication chain measured 30% slower on the order-book frames.)
#[inline]
fn digit_run(bytes: &[u8], at: usize, max: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    let mut len = 0;
    while let Some(d) = bytes.get(at + len).copied().and_then(digit) {
        if len == max {
            return None;
        }
        value = value * 10 + d;
        len += 1;
    }
    Some((value, len))
}

/// The one to nine digits after a point at `at`, in units of 10⁻⁹, and how many there are.
#[inline]
fn fraction(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
    let (digits, places) = digit_run(bytes, at, MAX_FRAC_DIGITS)?;
    (places > 0).then(|| (digits * POW10[MAX_FRAC_DIGITS - places], places))
}

/// A plain decimal, `-?D{1,10}(.D{1,9})?`, at the start of `bytes`: its raw 10⁻⁹ value and its
/// length. Whoever reads a token checks that it ends there: a further digit, point or exponent
/// makes it a form for the general parser.
#[inline]
pub(crate) fn decimal_prefix(bytes: &[u8]) -> Option<(i64, usize)> {
    let negative = bytes.first() == Some(&b'-');
    let mut at = usize::from(negative);
    let (int, int_len) = digit_run(bytes, at, MAX_INT_DIGITS)?;
    if int_len == 0 {
        return None;
    }
    at += int_len;
    let mut frac = 0u64;
    if bytes.get(at) == Some(&b'.') {
        let places;
        (frac, places) = fraction(bytes, at + 1)?;
        at += 1 + places;
    }
    // At most 9_999_999_999 · 10⁹ + 999_999_999 < 2⁶⁴; the range check is the conversion.
    let magnitude = i64::try_from(int * POW10[MAX_FRAC_DIGITS] + frac).ok()?;
    Some((if negative { -magnitude } else { magnitude }, at))
}

/// All of `bytes` as a plain decimal (a quoted number, for instance).
#[inline]
pub(crate) fn decimal(bytes: &[u8]) -> Option<i64> {
    decimal_prefix(bytes)
        .filter(|&(_, len)| len == bytes.len())
        .map(|(raw, _)| raw)
}

const FIRST_YEAR: usize = 1970;
const YEARS: usize = 230;

/// Days from 1970-01-01 to 1 January of each year from 1970, one entry past the last.
const DAYS_TO_YEAR: [i64; YEARS + 1] = {
    let mut table = [0i64; YEARS + 1];
    let mut i = 1;
    while i <= YEARS {
        let year = FIRST_YEAR + i - 1;
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        table[i] = table[i - 1] + if leap { 366 } else { 365 };
        i += 1;
    }
    table
};

/// Days from 1 January to the first of each month, one entry past December; common, leap years.
const DAYS_TO_MONTH: [[i64; 13]; 2] = [
    [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365],
    [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366],
];

/// `YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z` at the start of `bytes`, years 1970 to 2199, every field in
/// range: the instant and the length read. Other separators, numeric offsets, leap seconds, more
/// digits or fields out of range are the general parser's to accept or refuse.
#[inline]
pub(crate) fn utc_timestamp(bytes: &[u8]) -> Option<(Timestamp, usize)> {
    let b: &[u8; 20] = bytes.get(..20)?.try_into().ok()?;
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let two = |i: usize| Some(digit(b[i])? * 10 + digit(b[i + 1])?);
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)?, two(8)?);
    let (hour, minute, second) = (two(11)?, two(14)?, two(17)?);
    let year_index = usize::try_from(year).ok()?.checked_sub(FIRST_YEAR)?;
    if year_index >= YEARS || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59
    {
        return None;
    }
    let leap = usize::from(DAYS_TO_YEAR[year_index + 1] - DAYS_TO_YEAR[year_index] == 366);
    let month = usize::try_from(month).ok()?;
    let (month_start, month_end) = (DAYS_TO_MONTH[leap][month - 1], DAYS_TO_MONTH[leap][month]);
    let day = i64::try_from(day).ok()?;
    if day < 1 || day > month_end - month_start {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0;
    if b[19] == b'.' {
        let places;
        (nanos, places) = fraction(bytes, 20)?;
        at = 20 + places;
    }
    if bytes.get(at) != Some(&b'Z') {
        return None;
    }
    let days = DAYS_TO_YEAR[year_index] + month_start + day - 1;
    let clock = i64::try_from(hour * 3600 + minute * 60 + second).ok()?;
    // Below 2200 the count of nanoseconds stays far inside an i64; nanos < 10⁹.
    let unix = (days * 86_400 + clock) * 1_000_000_000 + i64::try_from(nanos).ok()?;
    Some((Timestamp::from_unix_nanos(unix), at + 1))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use pyrt_types::{Price, Timestamp};

    use super::*;

    fn general_decimal(text: &str) -> Option<i64> {
        Price::parse(text).ok().map(Price::raw)
    }

    #[test]
    fn plain_decimals_read_exactly_and_the_rest_is_left_to_the_general_parser() {
        for (text, raw) in [
            ("0", 0),
            ("-0", 0),
            ("187.23", 187_230_000_000),
            ("-5", -5_000_000_000),
            ("0.000000001", 1),
            ("9223372036.854775807", i64::MAX),
            ("-9223372036.854775807", -i64::MAX),
            ("007.5", 7_500_000_000),
        ] {
            assert_eq!(decimal(text.as_bytes()), Some(raw), "{text}");
            assert_eq!(general_decimal(text), Some(raw), "{text}");
        }
        for text in [
            "",
            "-",
            ".5",
            "1.",
            "+1",
            "1e3",
            "1.5E-2",
            "1.0000000000",
            "0.0000000001",
            "9223372036.854775808",
            "-9223372036.854775808",
            "12345678901",
            "1 ",
            "1.2.3",
        ] {
            assert_eq!(decimal(text.as_bytes()), None, "{text}");
        }
        assert_eq!(
            decimal_prefix(b"61837.63,\"s\""),
            Some((61_837_630_000_000, 8))
        );
    }

    #[test]
    fn utc_timestamps_read_exactly_and_the_rest_is_left_to_the_general_parser() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59.999999999Z",
            "2024-11-01T13:30:00.5Z",
            "2199-12-31T23:59:59Z",
            "2100-02-28T00:00:00.000000001Z",
        ] {
            let (ts, len) = utc_timestamp(text.as_bytes()).unwrap();
            assert_eq!(
                (ts, len),
                (Timestamp::parse_rfc3339(text).unwrap(), text.len())
            );
        }
        for text in [
            "1969-12-31T23:59:59Z",
            "2200-01-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00.1234567891Z",
            "2024-01-01T00:00:00",
            "2024-1-01T00:00:00Z",
            "",
        ] {
            assert_eq!(utc_timestamp(text.as_bytes()), None, "{text}");
        }
        assert_eq!(
            utc_timestamp(b"2024-11-01T13:30:00.25Z\",\"x\"").map(|(_, len)| len),
            Some(23)
        );
    }

    fn is_number_byte(b: u8) -> bool {
        matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
    }

    fn in_plain_form(text: &str) -> bool {
        let plain = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = plain.split_once('.').unwrap_or((plain, "1"));
        !int.is_empty()
            && int.len() <= MAX_INT_DIGITS
            && !frac.is_empty()
            && frac.len() <= MAX_FRAC_DIGITS
            && plain.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    }

    fn timestamp_text() -> impl Strategy<Value = String> {
        (
            (1890u32..2300, 0u32..14, 0u32..33),
            (0u32..25, 0u32..61, 0u32..61),
            prop::collection::vec(0u8..10, 0..11),
            prop_oneof![
                Just("Z".to_owned()),
                Just("z".to_owned()),
                (any::<bool>(), 0u32..25, 0u32..60).prop_map(|(neg, h, m)| format!(
                    "{}{h:02}:{m:02}",
                    if neg { '-' } else { '+' }
                )),
            ],
            prop_oneof![Just('T'), Just('t'), Just(' ')],
        )
            .prop_map(|((y, mo, d), (h, mi, s), frac, zone, sep)| {
                let mut text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}");
                if !frac.is_empty() {
                    text.push('.');
                    text.extend(frac.iter().map(|d| char::from(b'0' + d)));
                }
                text + &zone
            })
    }

    fn decimal_text() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just(""), Just("-"), Just("+")],
            prop::collection::vec(0u8..10, 0..13),
            prop::option::of(prop::collection::vec(0u8..10, 0..12)),
            prop::option::of((prop_oneof![Just("e"), Just("E-"), Just("e+")], 0u32..25)),
        )
            .prop_map(|(sign, int, frac, exp)| {
                let digits = |d: &[u8]| d.iter().map(|d| char::from(b'0' + d)).collect::<String>();
                let mut text = format!("{sign}{}", digits(&int));
                if let Some(frac) = frac {
                    text.push('.');
                    text.push_str(&digits(&frac));
                }
                if let Some((e, n)) = exp {
                    text = format!("{text}{e}{n}");
                }
                text
            })
    }

    proptest! {
        #[test]
        fn decimal_prefixes_agree_with_the_general_parser(
            text in decimal_text(),
            suffix in prop_oneof![Just(""), Just(","), Just("}]"), Just(",\"s\":1.5}"), Just("\"   \"")],
        ) {
            let general = general_decimal(&text);
            let padded = format!("{text}{suffix}");
            match decimal_prefix(padded.as_bytes()) {
                Some((raw, len)) if len == text.len() => prop_assert_eq!(Some(raw), general),
                // A shorter prefix is only ever part of a longer token, which the caller refuses.
                Some((_, len)) => prop_assert!(len < text.len() && is_number_byte(text.as_bytes()[len])),
                None => {}
            }
            if in_plain_form(&text) && general.is_some() {
                prop_assert_eq!(decimal_prefix(padded.as_bytes()), general.map(|raw| (raw, text.len())));
            }
        }

        #[test]
        fn fast_decimal_agrees_with_the_general_parser(text in decimal_text()) {
            let general = general_decimal(&text);
            if let Some(raw) = decimal(text.as_bytes()) {
                prop_assert_eq!(Some(raw), general);
            }
            if in_plain_form(&text) && general.is_some() {
                prop_assert_eq!(decimal(text.as_bytes()), general, "the fast path covers its form");
            }
        }

        #[test]
        fn fast_decimal_of_any_price_in_range(raw in any::<i64>(), places in 0usize..10) {
            let raw = raw / 10i64.pow(u32::try_from(9 - places).unwrap()) * 10i64.pow(u32::try_from(9 - places).unwrap());
            let text = Price::from_raw(raw).to_string();
            prop_assume!(raw != i64::MIN);
            prop_assert_eq!(decimal(text.as_bytes()), Some(raw));
        }

        #[test]
        fn fast_timestamp_agrees_with_the_general_parser(text in timestamp_text()) {
            let general = Timestamp::parse_rfc3339(&text).ok();
            let fast = utc_timestamp(text.as_bytes());
            if let Some((ts, len)) = fast {
                prop_assert_eq!(len, text.len());
                prop_assert_eq!(Some(ts), general);
            }
            let year: usize = text[..4].parse().unwrap();
            let common_form = text.as_bytes()[10] == b'T'
                && text.ends_with('Z')
                && (FIRST_YEAR..FIRST_YEAR + YEARS).contains(&year);
            if common_form && general.is_some() {
                prop_assert!(fast.is_some(), "the fast path covers its form");
            }
        }

        #[test]
        fn fast_timestamp_of_any_instant(nanos in 0i64..7_258_118_400_000_000_000) {
            let text = Timestamp::from_unix_nanos(nanos).to_string();
            prop_assert_eq!(
                utc_timestamp(text.as_bytes()),
                Some((Timestamp::from_unix_nanos(nanos), text.len()))
            );
        }
    }
}
