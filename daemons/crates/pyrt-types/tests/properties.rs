//! Property tests: decimal and timestamp round trips against independent oracles.

use std::fmt::Write as _;

use proptest::prelude::*;
use pyrt_types::{DecimalError, Notional, OverflowError, Price, Qty, SCALE, Timestamp};
use time::format_description::well_known::Rfc3339;

proptest! {
    /// The fast conversion of floats agrees with formatting the float and parsing the text, for
    /// any bit pattern and for floats made from nine-decimal values (prices as pandas holds them).
    #[test]
    fn floats_convert_like_their_shortest_text(bits in any::<u64>(), raw in -999_999_999_999_999i64..999_999_999_999_999) {
        #[allow(clippy::cast_precision_loss)]
        for value in [f64::from_bits(bits), raw as f64 / 1e9, (raw / 1000) as f64 / 1e6, (raw / 100_000) as f64] {
            if !value.is_finite() {
                // NaN and infinities have no decimal text to compare with (refused either way).
                prop_assert_eq!(Price::from_f64_shortest(value), Err(DecimalError::NotFinite));
                continue;
            }
            let text = format!("{value:e}");
            prop_assert_eq!(Price::from_f64_shortest(value), Price::parse(&text), "{}", text);
        }
    }

    #[test]
    fn any_raw_value_formats_and_parses_back(raw in any::<i64>()) {
        let price = Price::from_raw(raw);
        prop_assert_eq!(Price::parse(&price.to_string()), Ok(price));
    }

    #[test]
    fn canonical_strings_round_trip_exactly(
        negative in any::<bool>(),
        whole in 0u64..9_000_000_000,
        frac in 0u64..1_000_000_000,
        places in 0usize..=9,
    ) {
        // Build a canonical decimal (no trailing fractional zeros) the way Alpaca writes one.
        let frac = frac % 10u64.pow(u32::try_from(places).unwrap());
        let mut text = whole.to_string();
        if places > 0 && frac != 0 {
            let digits = format!("{frac:0places$}");
            text.push('.');
            text.push_str(digits.trim_end_matches('0'));
        }
        if negative && text != "0" {
            text.insert(0, '-');
        }
        let qty = Qty::parse(&text).unwrap();
        prop_assert_eq!(qty.to_string(), text);
    }

    #[test]
    fn parse_agrees_with_integer_arithmetic(units in -9_000_000i64..9_000_000, nanos in 0i64..SCALE) {
        let text = format!("{units}.{nanos:09}");
        let sign = if text.starts_with('-') { -1 } else { 1 };
        let expected = units * SCALE + sign * nanos;
        prop_assert_eq!(Price::parse(&text).unwrap().raw(), expected);
    }

    #[test]
    fn exponent_forms_equal_plain_forms(mantissa in -999_999_999i64..999_999_999, exp in -9i32..=0) {
        let plain = Price::from_raw(mantissa * 10i64.pow(u32::try_from(9 + exp).unwrap()));
        prop_assert_eq!(Price::parse(&format!("{mantissa}e{exp}")).unwrap(), plain);
    }

    #[test]
    fn ten_decimals_never_parse(units in 0i64..1000, tail in 1u32..10) {
        let text = format!("{units}.000000000{tail}");
        prop_assert_eq!(Price::parse(&text), Err(DecimalError::TooPrecise));
    }

    #[test]
    fn arithmetic_is_checked_like_i64(a in any::<i64>(), b in any::<i64>()) {
        let (pa, pb) = (Notional::from_raw(a), Notional::from_raw(b));
        prop_assert_eq!(pa.checked_add(pb).map(Notional::raw), a.checked_add(b).ok_or(OverflowError));
        prop_assert_eq!(pa.checked_sub(pb).map(Notional::raw), a.checked_sub(b).ok_or(OverflowError));
    }

    #[test]
    fn notional_is_exact_for_cent_prices_and_whole_shares(cents in 0i64..10_000_000, shares in 0i64..10_000) {
        let price = Price::from_raw(cents * 10_000_000);
        let qty = Qty::from_units(shares).unwrap();
        prop_assert_eq!(price.checked_notional(qty).unwrap().raw(), cents * shares * 10_000_000);
    }

    #[test]
    fn timestamps_match_the_time_crate(
        secs in -9_000_000_000i64..9_000_000_000,
        nanos in 0u32..1_000_000_000,
        digits in 0usize..=9,
        offset_min in -1439i32..=1439,
    ) {
        let truncate = 10u32.pow(u32::try_from(9 - digits).unwrap());
        let nanos = nanos / truncate * truncate;
        let utc = time::OffsetDateTime::from_unix_timestamp(secs).unwrap()
            + time::Duration::nanoseconds(i64::from(nanos));
        let offset = time::UtcOffset::from_whole_seconds(offset_min * 60).unwrap();
        let local = utc.to_offset(offset);
        let mut text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            local.year(), u8::from(local.month()), local.day(),
            local.hour(), local.minute(), local.second()
        );
        if digits > 0 {
            write!(text, ".{:0digits$}", nanos / truncate).unwrap();
        }
        if offset_min == 0 {
            text.push('Z');
        } else {
            let sign = if offset_min < 0 { '-' } else { '+' };
            let abs = offset_min.abs();
            write!(text, "{sign}{:02}:{:02}", abs / 60, abs % 60).unwrap();
        }
        let ours = Timestamp::parse_rfc3339(&text).unwrap();
        let oracle = time::OffsetDateTime::parse(&text, &Rfc3339).unwrap();
        prop_assert_eq!(i128::from(ours.unix_nanos()), oracle.unix_timestamp_nanos());
        // Our output is RFC 3339 too, and parses back to the same instant.
        let printed = ours.to_string();
        prop_assert_eq!(Timestamp::parse_rfc3339(&printed).unwrap(), ours);
        prop_assert_eq!(time::OffsetDateTime::parse(&printed, &Rfc3339).unwrap().unix_timestamp_nanos(),
            oracle.unix_timestamp_nanos());
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
        let _ = Price::parse(&text);
        let _ = Timestamp::parse_rfc3339(&text);
    }

    #[test]
    fn timestamp_shaped_noise_never_panics(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})?") {
        if let Ok(ts) = Timestamp::parse_rfc3339(&text) {
            prop_assert_eq!(Timestamp::parse_rfc3339(&ts.to_string()), Ok(ts));
        }
    }
}
