//! UTC calendar dates for log lines without a date-time dependency: Howard Hinnant's
//! `civil_from_days` (public domain, exact for the proleptic Gregorian calendar) is a dozen
//! lines, where chrono or time would add a crate for three fixed formats.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC instant broken down for printing, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Civil {
    /// `time` in UTC; an instant before 1970 (a clock gone badly wrong) prints as the epoch
    /// rather than failing the line.
    pub fn from_system_time(time: SystemTime) -> Civil {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = since.as_secs();
        let (days, of_day) = (seconds / 86_400, (seconds % 86_400) as u32);
        let (year, month, day) = civil_from_days(days as i64);
        Civil {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
            millis: since.subsec_millis(),
        }
    }

    fn month_name(&self) -> &'static str {
        MONTHS[(self.month - 1) as usize]
    }

    /// RFC 3339 in UTC with milliseconds: `2000-10-10T13:55:36.123Z`.
    pub fn write_rfc3339(&self, out: &mut Vec<u8>) {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        );
    }

    /// Common Log Format's date: `10/Oct/2000:13:55:36 +0000`.
    pub fn write_clf(&self, out: &mut Vec<u8>) {
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.minute,
            self.second
        );
    }

    /// HAProxy's accept date: `10/Oct/2000:13:55:36.123` (HAProxy prints local time; ours
    /// is UTC, so that lines from hosts in different zones sort together).
    pub fn write_haproxy(&self, out: &mut Vec<u8>) {
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.minute,
            self.second,
            self.millis
        );
    }
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian.
/// <https://howardhinnant.github.io/date_algorithms.html#civil_from_days>: shifting the
/// year to start in March puts the leap day last, so each 400-year era is uniform.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64, millis: u64) -> Civil {
        Civil::from_system_time(UNIX_EPOCH + Duration::from_millis(seconds * 1000 + millis))
    }

    #[test]
    fn known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29)); // a 400-year leap day
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1)); // 2100 is not a leap year
        assert_eq!(civil_from_days(47_540), (2100, 2, 28));
    }

    /// Walks day by day over a few centuries, checking each date follows the last.
    #[test]
    fn consecutive_days_follow_the_calendar() {
        let days_in = |y: i64, m: u32| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut previous = civil_from_days(-1);
        for days in 0..150_000 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let expected = if pd < days_in(py, pm) {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            assert_eq!((y, m, d), expected, "day {days}");
            previous = (y, m, d);
        }
    }

    #[test]
    fn formats() {
        // 2000-10-10T13:55:36Z, Apache's documentation example.
        let civil = at(971_186_136, 7);
        let mut out = Vec::new();
        civil.write_rfc3339(&mut out);
        out.push(b'|');
        civil.write_clf(&mut out);
        out.push(b'|');
        civil.write_haproxy(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2000-10-10T13:55:36.007Z|10/Oct/2000:13:55:36 +0000|10/Oct/2000:13:55:36.007"
        );
    }

    #[test]
    fn before_the_epoch_prints_the_epoch() {
        let civil = Civil::from_system_time(UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(
            (civil.year, civil.month, civil.day, civil.hour),
            (1970, 1, 1, 0)
        );
    }
}
