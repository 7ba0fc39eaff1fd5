//! The New York calendar date of a UTC timestamp: the trading day of US equities, on which the
//! daily loss limit resets.
//!
//! Only `America/New_York`'s rule in force since 2007 is encoded (EDT from the second Sunday of
//! March at 02:00 EST to the first Sunday of November at 02:00 EDT), not a time-zone database: the
//! live daemon dates events of today, and the backtester takes its sessions from the research
//! data. Earlier timestamps are dated under the same rule.

use std::fmt;

use pyrt_types::Timestamp;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;
const SECS_PER_HOUR: i64 = 3_600;
const EST: i64 = -5 * SECS_PER_HOUR;
const EDT: i64 = -4 * SECS_PER_HOUR;

/// New York's offset from UTC at `ts`, in seconds.
fn utc_offset(ts: Timestamp) -> i64 {
    let (_, month, day, hour, ..) = ts.to_civil();
    let days = ts
        .unix_nanos()
        .div_euclid(NANOS_PER_SEC)
        .div_euclid(SECS_PER_DAY);
    // 1970-01-01 was a Thursday; 0 is Sunday.
    let weekday = (days + 4).rem_euclid(7);
    // Every Sunday of the month falls on this day of the month modulo 7.
    let sunday = day - weekday;
    let summer = match month {
        4..=10 => true,
        3 => {
            let second_sunday = (sunday - 8).rem_euclid(7) + 8;
            // 02:00 EST is 07:00 UTC, on the same UTC date.
            day > second_sunday || (day == second_sunday && hour >= 7)
        }
        11 => {
            let first_sunday = (sunday - 1).rem_euclid(7) + 1;
            // 02:00 EDT is 06:00 UTC.
            day < first_sunday || (day == first_sunday && hour < 6)
        }
        _ => false,
    };
    if summer { EDT } else { EST }
}

/// A calendar date in New York, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NyDate(pub i64);

impl NyDate {
    /// The New York date at `ts`.
    #[must_use]
    pub fn of(ts: Timestamp) -> Self {
        let secs = ts.unix_nanos().div_euclid(NANOS_PER_SEC);
        Self((secs + utc_offset(ts)).div_euclid(SECS_PER_DAY))
    }

    /// The instant this date begins in New York (its local midnight); days are 23 or 25 hours
    /// long when the clocks change.
    #[must_use]
    pub fn start(self) -> Timestamp {
        let midnight = self.0.saturating_mul(SECS_PER_DAY);
        // 05:00 UTC is 00:00 EST or 01:00 EDT: past the previous day's change, before this one's,
        // so its offset is the one in force at local midnight.
        let probe =
            Timestamp::from_unix_nanos(midnight.saturating_add(-EST).saturating_mul(NANOS_PER_SEC));
        Timestamp::from_unix_nanos(
            midnight
                .saturating_sub(utc_offset(probe))
                .saturating_mul(NANOS_PER_SEC),
        )
    }

    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for NyDate {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noon = self.0.saturating_mul(SECS_PER_DAY) + SECS_PER_DAY / 2;
        let (year, month, day, ..) =
            Timestamp::from_unix_nanos(noon.saturating_mul(NANOS_PER_SEC)).to_civil();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn date(text: &str) -> String {
        NyDate::of(ts(text)).to_string()
    }

    /// Expected values from Python's `zoneinfo` (IANA `America/New_York`).
    #[test]
    fn dates_around_midnight_in_winter_and_summer() {
        assert_eq!(date("2024-01-16T04:59:59.999999999Z"), "2024-01-15");
        assert_eq!(date("2024-01-16T05:00:00Z"), "2024-01-16");
        assert_eq!(date("2024-07-16T03:59:59.999999999Z"), "2024-07-15");
        assert_eq!(date("2024-07-16T04:00:00Z"), "2024-07-16");
        assert_eq!(date("2024-12-31T23:00:00Z"), "2024-12-31");
        assert_eq!(date("2025-01-01T04:59:00Z"), "2024-12-31");
        assert_eq!(date("2025-01-01T05:00:00Z"), "2025-01-01");
        // 29 February, and a date before the epoch.
        assert_eq!(date("2024-03-01T04:00:00Z"), "2024-02-29");
        assert_eq!(date("1969-12-31T12:00:00Z"), "1969-12-31");
    }

    #[test]
    fn dst_changes_move_midnight_and_the_length_of_the_day() {
        // Spring forward on Sunday 2024-03-10 at 07:00 UTC: Sunday starts at 05:00 UTC (EST),
        // Monday at 04:00 UTC (EDT); Sunday has 23 hours.
        assert_eq!(date("2024-03-10T04:59:59Z"), "2024-03-09");
        assert_eq!(date("2024-03-10T05:00:00Z"), "2024-03-10");
        assert_eq!(date("2024-03-11T03:59:59Z"), "2024-03-10");
        assert_eq!(date("2024-03-11T04:00:00Z"), "2024-03-11");
        let sunday = NyDate::of(ts("2024-03-10T12:00:00Z"));
        assert_eq!(sunday.start(), ts("2024-03-10T05:00:00Z"));
        assert_eq!(sunday.next().start(), ts("2024-03-11T04:00:00Z"));
        // Fall back on Sunday 2024-11-03 at 06:00 UTC: Sunday has 25 hours.
        assert_eq!(date("2024-11-03T03:59:59Z"), "2024-11-02");
        assert_eq!(date("2024-11-03T04:00:00Z"), "2024-11-03");
        assert_eq!(date("2024-11-04T04:59:59Z"), "2024-11-03");
        assert_eq!(date("2024-11-04T05:00:00Z"), "2024-11-04");
        let sunday = NyDate::of(ts("2024-11-03T12:00:00Z"));
        assert_eq!(sunday.start(), ts("2024-11-03T04:00:00Z"));
        assert_eq!(sunday.next().start(), ts("2024-11-04T05:00:00Z"));
        // Other years put the change on other dates (2025: 9 March, 2 November; 2026: 8 March,
        // 1 November).
        assert_eq!(date("2025-03-10T03:30:00Z"), "2025-03-09");
        assert_eq!(date("2025-03-08T04:30:00Z"), "2025-03-07");
        assert_eq!(date("2025-11-03T04:30:00Z"), "2025-11-02");
        assert_eq!(date("2025-11-02T04:30:00Z"), "2025-11-02");
        assert_eq!(date("2026-03-09T03:30:00Z"), "2026-03-08");
        assert_eq!(date("2026-11-01T03:30:00Z"), "2026-10-31");
        assert_eq!(date("2026-11-02T04:30:00Z"), "2026-11-01");
    }

    /// `America/New_York`'s changes from Python's `zoneinfo`: (year, day of March, day of
    /// November), always at 07:00 and 06:00 UTC.
    #[rustfmt::skip]
    const CHANGES: [(i32, i64, i64); 31] = [
        (2007, 11, 4), (2008, 9, 2), (2009, 8, 1), (2010, 14, 7), (2011, 13, 6), (2012, 11, 4),
        (2013, 10, 3), (2014, 9, 2), (2015, 8, 1), (2016, 13, 6), (2017, 12, 5), (2018, 11, 4),
        (2019, 10, 3), (2020, 8, 1), (2021, 14, 7), (2022, 13, 6), (2023, 12, 5), (2024, 10, 3),
        (2025, 9, 2), (2026, 8, 1), (2027, 14, 7), (2028, 12, 5), (2029, 11, 4), (2030, 10, 3),
        (2031, 9, 2), (2032, 14, 7), (2033, 13, 6), (2034, 12, 5), (2035, 11, 4), (2036, 9, 2),
        (2037, 8, 1),
    ];

    #[test]
    fn the_offset_matches_the_time_zone_database_every_hour_and_at_each_change() {
        let hour = SECS_PER_HOUR * NANOS_PER_SEC;
        for (year, march, november) in CHANGES {
            let spring = ts(&format!("{year}-03-{march:02}T07:00:00Z")).unix_nanos();
            let fall = ts(&format!("{year}-11-{november:02}T06:00:00Z")).unix_nanos();
            let expected = |at: i64| {
                if (spring..fall).contains(&at) {
                    EDT
                } else {
                    EST
                }
            };
            let first = ts(&format!("{year}-01-01T00:00:00Z")).unix_nanos();
            let last = ts(&format!("{}-01-01T00:00:00Z", year + 1)).unix_nanos();
            let changes = [spring - 1, spring, fall - 1, fall];
            for at in (first..last)
                .step_by(usize::try_from(hour / 2).unwrap())
                .chain(changes)
            {
                let offset = utc_offset(Timestamp::from_unix_nanos(at));
                assert_eq!(offset, expected(at), "{}", Timestamp::from_unix_nanos(at));
            }
        }
    }

    #[test]
    fn every_instant_lies_between_its_dates_midnight_and_the_next() {
        let first = ts("2020-01-01T00:00:00Z").unix_nanos();
        let hour = SECS_PER_HOUR * NANOS_PER_SEC;
        for step in 0..7 * 366 * 24 {
            for offset in [0, 1, hour - 1] {
                let at = Timestamp::from_unix_nanos(first + step * hour + offset);
                let day = NyDate::of(at);
                assert!(
                    day.start() <= at && at < day.next().start(),
                    "{at} on {day}"
                );
                let length = day.next().start().unix_nanos() - day.start().unix_nanos();
                assert!(
                    [23, 24, 25].contains(&(length / hour)) && length % hour == 0,
                    "{day} lasts {length} ns"
                );
            }
        }
    }
}
