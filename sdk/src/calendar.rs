//! Day, ISO-week and month buckets (SPEC §1.5, §1.11). Dates only: the host turns instants into
//! a product's days, with its time zone, before anything is bucketed.

use chrono::{Datelike, NaiveDate, Weekday};

/// How an answer groups days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Days,
    Weeks,
    Months,
}

impl std::str::FromStr for TimeUnit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "days" | "day" => Ok(TimeUnit::Days),
            "weeks" | "week" => Ok(TimeUnit::Weeks),
            "months" | "month" => Ok(TimeUnit::Months),
            other => Err(format!(
                "time unit {other:?} is not one of days, weeks, months"
            )),
        }
    }
}

/// The first day of the bucket holding `date`. Weeks start on `week_start` (Monday for ISO).
pub fn bucket_start(date: NaiveDate, unit: TimeUnit, week_start: Weekday) -> NaiveDate {
    match unit {
        TimeUnit::Days => date,
        TimeUnit::Weeks => {
            let back =
                (7 + date.weekday().num_days_from_monday() - week_start.num_days_from_monday()) % 7;
            date - chrono::Days::new(back as u64)
        }
        TimeUnit::Months => date.with_day(1).unwrap_or(date),
    }
}

/// Groups `dates` (sorted ascending) into buckets: `(bucket start, indices of its dates)`.
/// A bucket cut by the edge of the period holds only the dates given.
pub fn group(
    dates: &[NaiveDate],
    unit: TimeUnit,
    week_start: Weekday,
) -> Vec<(NaiveDate, Vec<usize>)> {
    let mut out: Vec<(NaiveDate, Vec<usize>)> = Vec::new();
    for (i, &d) in dates.iter().enumerate() {
        let key = bucket_start(d, unit, week_start);
        match out.last_mut() {
            Some((k, members)) if *k == key => members.push(i),
            _ => out.push((key, vec![i])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn iso_weeks_start_monday_and_sunday_setting_moves_them() {
        assert_eq!(
            bucket_start(d("2019-10-20"), TimeUnit::Weeks, Weekday::Mon),
            d("2019-10-14")
        );
        assert_eq!(
            bucket_start(d("2019-10-21"), TimeUnit::Weeks, Weekday::Mon),
            d("2019-10-21")
        );
        assert_eq!(
            bucket_start(d("2019-10-20"), TimeUnit::Weeks, Weekday::Sun),
            d("2019-10-20")
        );
        assert_eq!(
            bucket_start(d("2019-10-19"), TimeUnit::Weeks, Weekday::Sun),
            d("2019-10-13")
        );
    }

    #[test]
    fn months_and_grouping() {
        let dates = [d("2019-10-30"), d("2019-10-31"), d("2019-11-01")];
        let groups = group(&dates, TimeUnit::Months, Weekday::Mon);
        assert_eq!(
            groups,
            vec![(d("2019-10-01"), vec![0, 1]), (d("2019-11-01"), vec![2])]
        );
    }
}
