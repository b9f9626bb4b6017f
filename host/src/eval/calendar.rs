//! A product's days (SPEC §1.1, §1.4): local midnight to local midnight in its time zone
//! (23, 24 or 25 hours), UTC when it names none.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use licmetric_sdk::types::Day;

/// The days `[start, end)` in `tz`.
pub fn days(tz: Tz, start: NaiveDate, end: NaiveDate) -> Vec<Day> {
    let mut out = Vec::new();
    let mut date = start;
    while date < end {
        let next = date.succ_opt().unwrap_or(date);
        out.push(Day {
            date: date.to_string(),
            start: midnight(tz, date),
            end: midnight(tz, next),
        });
        if next == date {
            break;
        }
        date = next;
    }
    out
}

/// The first instant of `date` in `tz` (ms). Where midnight does not exist (a DST gap), the
/// day starts at the first instant that does.
pub fn midnight(tz: Tz, date: NaiveDate) -> i64 {
    let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    (0..=180)
        .find_map(|minutes| {
            tz.from_local_datetime(&(naive + chrono::Duration::minutes(minutes)))
                .earliest()
        })
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| naive.and_utc().timestamp_millis())
}

/// Parses a product's time zone (UTC when absent).
pub fn zone(name: Option<&str>) -> Result<Tz, String> {
    match name {
        None => Ok(Tz::UTC),
        Some(n) => n
            .parse()
            .map_err(|_| format!("{n:?} is not an IANA time zone")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dst_days_have_23_and_25_hours() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let spring = days(tz, d("2026-03-29"), d("2026-03-30"));
        assert_eq!(spring[0].end - spring[0].start, 23 * 3_600_000);
        let autumn = days(tz, d("2026-10-25"), d("2026-10-26"));
        assert_eq!(autumn[0].end - autumn[0].start, 25 * 3_600_000);
        let utc = days(Tz::UTC, d("2026-11-01"), d("2026-11-03"));
        assert_eq!(utc.len(), 2);
        assert_eq!(utc[1].start, utc[0].end);
    }
}
