//! A Unix time (SPEC.md §2: whole seconds) as a UTC calendar date and time
//! of day, for the places that show times to people (the operator CLI, the
//! demo), so that the date arithmetic is written once and tested once.

/// A UTC date and time of day, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    /// The year (proleptic Gregorian).
    pub year: u64,
    /// 1 to 12.
    pub month: u64,
    /// 1 to 31.
    pub day: u64,
    /// 0 to 23.
    pub hour: u64,
    /// 0 to 59.
    pub minute: u64,
    /// 0 to 59.
    pub second: u64,
}

impl UtcDateTime {
    /// The UTC date and time `unix_secs` seconds after 1970-01-01T00:00:00Z.
    pub fn from_unix(unix_secs: u64) -> UtcDateTime {
        let (days, secs) = (unix_secs / 86_400, unix_secs % 86_400);
        let (year, month, day) = civil_date(days);
        UtcDateTime {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
        }
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01: counted in
/// 400-year eras of 146 097 days, each starting on a 1 March so that the
/// leap day falls at the end of its year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // 719 468 days lie between 0000-03-01 and 1970-01-01.
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 153 days per five months.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::UtcDateTime;

    fn utc(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
        let t = UtcDateTime::from_unix(secs);
        (t.year, t.month, t.day, t.hour, t.minute, t.second)
    }

    #[test]
    fn dates_and_times_of_day() {
        assert_eq!(utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc(1_767_225_600), (2026, 1, 1, 0, 0, 0));
        // A leap day, the second before a new year, a century's March.
        assert_eq!(utc(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(utc(1_767_225_599), (2025, 12, 31, 23, 59, 59));
        assert_eq!(utc(4_107_542_399), (2100, 2, 28, 23, 59, 59));
        assert_eq!(utc(4_107_542_400), (2100, 3, 1, 0, 0, 0));
        assert_eq!(utc(1_795_000_000), (2026, 11, 18, 11, 6, 40));
    }
}
