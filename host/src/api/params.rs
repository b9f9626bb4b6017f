//! The query parameters every family reads: periods and dates, each error a 400 problem that
//! names the parameter (and shows the dates as sent).

use std::collections::HashMap;

use chrono::NaiveDate;

use super::openapi::{Param, param};
use super::problem::Problem;

/// License Service's `startDate` (as the status page takes it too).
pub const START_DATE: Param = param(
    "startDate",
    "query",
    false,
    "date",
    "first day (YYYY-MM-DD); default endDate − 29 days",
);
/// License Service's `endDate`, included.
pub const END_DATE: Param = param(
    "endDate",
    "query",
    false,
    "date",
    "last day, inclusive (YYYY-MM-DD); default today (UTC)",
);

/// The `[start, end)` of [`START_DATE`] and [`END_DATE`]: both included, by default the 30 days
/// ending today (UTC), as License Service reads them.
pub fn start_and_end_dates(q: &HashMap<String, String>) -> Result<(NaiveDate, NaiveDate), Problem> {
    inclusive_period(
        ("startDate", q.get("startDate").map(String::as_str)),
        ("endDate", q.get("endDate").map(String::as_str)),
        PeriodDefaults {
            last: chrono::Utc::now().date_naive(),
            start_days_before: 29,
        },
    )
}

/// The `[start, end)` dates of a query: both required, end after start, at most ten years.
pub fn period_of(q: &HashMap<String, String>) -> Result<(NaiveDate, NaiveDate), Problem> {
    let start = date(q, "start")?;
    let end = date(q, "end")?;
    check_period("end", start, end)?;
    Ok((start, end))
}

/// Refuses an empty, reversed or over-long period, naming `parameter` (the end's name).
pub fn check_period(parameter: &str, start: NaiveDate, end: NaiveDate) -> Result<(), Problem> {
    if end <= start {
        return Err(Problem::bad_parameter(
            parameter,
            format!("{end} is not after start {start}"),
        ));
    }
    if (end - start).num_days() > 3660 {
        return Err(Problem::bad_parameter(
            parameter,
            "the period is longer than ten years",
        ));
    }
    Ok(())
}

/// A required `YYYY-MM-DD` query parameter.
pub fn date(q: &HashMap<String, String>, name: &str) -> Result<NaiveDate, Problem> {
    let text = q
        .get(name)
        .ok_or_else(|| Problem::bad_parameter(name, "is required (YYYY-MM-DD)"))?;
    parse_date(name, text)
}

/// `text` as a `YYYY-MM-DD` date, or a 400 naming `name`.
pub fn parse_date(name: &str, text: &str) -> Result<NaiveDate, Problem> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Problem::bad_parameter(name, format!("{text:?} is not a date (YYYY-MM-DD)")))
}

/// What an inclusive period defaults to when the client leaves a date out: the last day, and
/// how many days before the last day (the given one or the default) the first day is.
#[derive(Debug, Clone, Copy)]
pub struct PeriodDefaults {
    /// The last day (included) when the end parameter is absent.
    pub last: NaiveDate,
    /// First day = last day − this many days when the start parameter is absent.
    pub start_days_before: u64,
}

/// The `[start, end)` of a query whose dates are both included, as the compatible APIs (License
/// Service, Octane, ILMT, the status page) take them: `start` and `end` are each a parameter's
/// name and its text (`YYYY-MM-DD`) when the client sent one. A last day before the first is a
/// 400 naming the end parameter, showing the dates as sent; then [`check_period`] applies.
pub fn inclusive_period(
    start: (&str, Option<&str>),
    end: (&str, Option<&str>),
    defaults: PeriodDefaults,
) -> Result<(NaiveDate, NaiveDate), Problem> {
    let (start_name, start_text) = start;
    let (end_name, end_text) = end;
    let last = match end_text {
        Some(t) => parse_date(end_name, t)?,
        None => defaults.last,
    };
    let first = match start_text {
        Some(t) => parse_date(start_name, t)?,
        None => last
            .checked_sub_days(chrono::Days::new(defaults.start_days_before))
            .ok_or_else(|| Problem::bad_parameter(end_name, format!("{last} is too early")))?,
    };
    if last < first {
        let shown =
            |text: Option<&str>, date: NaiveDate| text.map_or(date.to_string(), str::to_string);
        return Err(Problem::bad_parameter(
            end_name,
            format!(
                "{} is before {start_name} {}",
                shown(end_text, last),
                shown(start_text, first)
            ),
        ));
    }
    let end = last
        .succ_opt()
        .ok_or_else(|| Problem::bad_parameter(end_name, format!("{last} is too late")))?;
    check_period(end_name, first, end)?;
    Ok((first, end))
}
