//! IBM License Service style tables of a [`Report`]: the rows `/products`, `/bundled_products`
//! and `/services` serve (as JSON or CSV) and the CSV files of an audit snapshot hold.
//!
//! Field names are License Service's (`metricPeakDate`, `metricQuantity`, `cloudpakId` …).
//! Every figure is formatted from the report (or, for per-consumer detail, from the same
//! evaluated days the report was made from); nothing here counts anything itself.
//! A product or bundle whose evaluation failed keeps its row, with empty figures and the
//! reason in an `error` column, never a zero.

use std::collections::BTreeMap;

use licmetric_sdk::Exact;
use serde_json::{Map, Value};

use super::numbers;
use crate::eval::chargeback::{self, Chargeback};
use crate::eval::period;
use crate::eval::report::{ProductFigures, Report};
use crate::eval::{EvalError, ProductDays};
use crate::store::records::Product;
use crate::store::results::Contributor;

/// One value of a row: text, or a decimal that JSON shows as a number.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Number(Option<String>),
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(Some(s.into()))
}

fn opt_text(s: Option<&str>) -> Cell {
    Cell::Text(s.map(str::to_string))
}

/// A figure's text; one that is no terminating decimal (`1/3`) is written by
/// [`numbers::decimal_text`] (`0.333333`), so CSV and JSON rows show it as every API does. A
/// decimal keeps the digits it was given (chargeback's `8.000`).
fn number(s: impl Into<String>) -> Cell {
    let s = s.into();
    Cell::Number(Some(match s.parse::<Exact>() {
        Ok(n) if s.contains('/') => numbers::decimal_text(&n),
        _ => s,
    }))
}

fn opt_number(s: Option<&str>) -> Cell {
    match s {
        Some(s) => number(s),
        None => Cell::Number(None),
    }
}

/// Rows under named columns.
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    /// Columns left out of a JSON row when empty (`error`).
    pub optional: Vec<&'static str>,
}

impl Table {
    fn new(columns: &[&'static str]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
            optional: vec!["error"],
        }
    }

    /// A JSON array with one object per row; numbers as JSON numbers with the digits of their
    /// text (see [`number`]; text that is no number stays a string).
    pub fn to_json(&self) -> Value {
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let mut object = Map::new();
                for (column, cell) in self.columns.iter().zip(row) {
                    let value = match cell {
                        Cell::Text(None) | Cell::Number(None) => {
                            if self.optional.contains(column) {
                                continue;
                            }
                            Value::Null
                        }
                        Cell::Text(Some(s)) => Value::String(s.clone()),
                        Cell::Number(Some(s)) => s
                            .parse::<serde_json::Number>()
                            .map(Value::Number)
                            .unwrap_or_else(|_| Value::String(s.clone())),
                    };
                    object.insert(column.to_string(), value);
                }
                Value::Object(object)
            })
            .collect();
        Value::Array(rows)
    }

    /// CSV with a header row; an empty value is an empty field.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        // Writing to a Vec cannot fail.
        writer.write_record(&self.columns).expect("csv header");
        for row in &self.rows {
            writer
                .write_record(row.iter().map(|c| match c {
                    Cell::Text(s) | Cell::Number(s) => s.as_deref().unwrap_or(""),
                }))
                .expect("csv row");
        }
        writer.into_inner().expect("csv buffer")
    }
}

/// The evaluated days a report was made from, by product id.
pub type DaysById<'a> = BTreeMap<&'a str, &'a Result<ProductDays, EvalError>>;

/// The report's evaluated days by product id: the detail comes from the same evaluation as
/// the figures.
pub fn days_by_id(report: &Report) -> DaysById<'_> {
    report
        .products
        .iter()
        .map(|p| (p.record.id.as_str(), &p.days))
        .collect()
}

fn product_name(p: &ProductFigures) -> String {
    p.record.name.clone().unwrap_or_else(|| p.record.id.clone())
}

fn metric_code(p: &ProductFigures) -> Option<&str> {
    p.usage.as_ref().ok().map(|u| u.metric_code_name.as_str())
}

/// Whether a product passes a `metricName` filter (a failed product's metric is unknown, so
/// it is left out when one is given).
fn metric_matches(p: &ProductFigures, metric: Option<&str>) -> bool {
    metric.is_none_or(|m| metric_code(p) == Some(m))
}

/// The quantity License Service's `/products` answers for a product that could not be
/// evaluated: a number, so the column keeps its type, that no real quantity takes.
const UNMEASURED: &str = "-1";

/// `/products`: each product's period quantity (high-water mark) and peak day. With
/// `detail`, also the threshold and what produced the figure (the snapshot's columns).
pub fn products(report: &Report, metric: Option<&str>, detail: bool) -> Table {
    let mut columns = vec![
        "name",
        "id",
        "metricPeakDate",
        "metricQuantity",
        "metricName",
    ];
    if detail {
        columns.extend([
            "threshold",
            "thresholdDelta",
            "plugin",
            "pluginDigest",
            "ruleDataVersion",
        ]);
    }
    columns.push("error");
    let mut table = Table::new(&columns);
    for p in report.products.iter().filter(|p| metric_matches(p, metric)) {
        let mut row = vec![text(product_name(p)), text(&p.record.id)];
        match &p.usage {
            Ok(u) => {
                row.extend([
                    opt_text(u.peak_date.as_deref()),
                    number(&u.quantity),
                    text(&u.metric_code_name),
                ]);
                if detail {
                    row.extend([
                        opt_number(u.threshold.as_deref()),
                        opt_number(u.threshold_delta.as_deref()),
                        text(&u.plugin),
                        text(&u.plugin_digest),
                        text(&u.rule_data_version),
                    ]);
                }
                row.push(Cell::Text(None));
            }
            // The snapshot leaves a failed product's figures empty beside the reason; the
            // query API keeps its columns' types for clients that decode them (a quantity of
            // -1, as ILMT's hwm_quantity, and the metric its plugin declares).
            Err(e) if detail => {
                row.extend(std::iter::repeat_n(Cell::Text(None), 8));
                row.push(text(e.to_string()));
            }
            Err(e) => {
                row.extend([
                    Cell::Text(None),
                    number(UNMEASURED),
                    opt_text(p.metric.as_ref().map(|m| m.code_name.as_str())),
                    text(e.to_string()),
                ]);
            }
        }
        table.rows.push(row);
    }
    table
}

/// `/products?groupName=…`: each product's part in one chargeback group (SPEC §4.8, with the
/// product record's chargeback configuration). Products with no line for the group are left
/// out; a failed product keeps its row with the error.
pub fn products_in_group(
    report: &Report,
    days: &DaysById,
    metric: Option<&str>,
    group: &str,
) -> Table {
    let mut table = Table::new(&[
        "name",
        "id",
        "metricPeakDate",
        "metricQuantity",
        "metricName",
        "groupName",
        "error",
    ]);
    for p in report.products.iter().filter(|p| metric_matches(p, metric)) {
        let answer = p
            .usage
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|_| allocate(report, &p.record, days));
        let mut row = vec![text(product_name(p)), text(&p.record.id)];
        match answer {
            Ok(cb) => {
                let Some(line) = cb.groups.iter().find(|g| g.group == group) else {
                    continue;
                };
                let u = p.usage.as_ref().expect("checked above");
                row.extend([
                    opt_text(u.peak_date.as_deref()),
                    number(&line.quantity),
                    text(&u.metric_code_name),
                    text(group),
                    Cell::Text(None),
                ]);
            }
            Err(e) => {
                row.extend([
                    Cell::Text(None),
                    number(UNMEASURED),
                    opt_text(p.metric.as_ref().map(|m| m.code_name.as_str())),
                    text(group),
                    text(e.to_string()),
                ]);
            }
        }
        table.rows.push(row);
    }
    table
}

/// A product's chargeback over the report's period with its record's configuration.
fn allocate(report: &Report, record: &Product, days: &DaysById) -> Result<Chargeback, EvalError> {
    let days = match days.get(record.id.as_str()) {
        Some(Ok(d)) => d,
        Some(Err(e)) => return Err(e.clone()),
        None => {
            return Err(EvalError::Product {
                product: record.id.clone(),
                reason: "not evaluated".into(),
            });
        }
    };
    let usage = period::usage(days, report.start, report.end, None, chrono::Weekday::Mon)?;
    let config = record.chargeback.clone().unwrap_or_default();
    chargeback::allocate(days, &usage, &config)
}

/// The snapshot's per-product, per-day values.
pub fn products_daily(report: &Report, metric: Option<&str>) -> Table {
    let mut table = Table::new(&[
        "name",
        "id",
        "metricName",
        "date",
        "metricQuantity",
        "error",
    ]);
    for p in report.products.iter().filter(|p| metric_matches(p, metric)) {
        match &p.usage {
            Ok(u) => {
                for d in &u.daily {
                    table.rows.push(vec![
                        text(product_name(p)),
                        text(&p.record.id),
                        text(&u.metric_code_name),
                        text(&d.date),
                        number(&d.quantity),
                        Cell::Text(None),
                    ]);
                }
            }
            Err(e) => table.rows.push(vec![
                text(product_name(p)),
                text(&p.record.id),
                Cell::Text(None),
                Cell::Text(None),
                Cell::Number(None),
                text(e.to_string()),
            ]),
        }
    }
    table
}

/// The metric code name of product `id` in the report.
fn member_metric<'r>(report: &'r Report, id: &str) -> Option<&'r str> {
    report
        .products
        .iter()
        .find(|p| p.record.id == id)
        .and_then(metric_code)
}

/// A chargeback group to cut a table along: its name and the days whose contributors say who
/// belongs to it (every day's, from a report made with `Detail::All`).
pub struct Group<'a> {
    pub name: &'a str,
    pub days: &'a DaysById<'a>,
}

/// The attribute `product`'s chargeback groups its consumers by.
fn grouped_by<'r>(report: &'r Report, product: &str) -> &'r str {
    report
        .products
        .iter()
        .find(|p| p.record.id == product)
        .and_then(|p| p.record.chargeback.as_ref())
        .map_or("cost_center", chargeback::grouped_by)
}

/// The part of `product`'s value on `date` in `partition` that `group`'s contributors hold: the
/// weight of those charged to it (by the product's chargeback `group_by`) over the weight of
/// all; `None` when none of them is (or the day names no contributor).
fn group_share(
    report: &Report,
    group: &Group,
    product: &str,
    date: &str,
    partition: &str,
) -> Option<Exact> {
    let group_by = grouped_by(report, product);
    let contributors = day_contributors(group.days, product, date, partition);
    let total: Exact = contributors.iter().map(|c| c.weight).sum();
    let mine: Vec<&DayContributor> = contributors
        .iter()
        .filter(|c| c.group(group_by) == group.name)
        .collect();
    if total.is_zero() || mine.is_empty() {
        return None;
    }
    Some(mine.iter().map(|c| c.weight).sum::<Exact>() / total)
}

/// `/bundled_products`: each bundle member's measured and converted quantity on the bundle's
/// peak day (one row per member per partition peak), License Service's Cloud Pak view. With a
/// group, each member's part in it (both quantities times [`group_share`]); members with no
/// consumer in the group are left out.
pub fn bundled_products(report: &Report, metric: Option<&str>, group: Option<&Group>) -> Table {
    let mut table = Table::new(&[
        "productName",
        "productId",
        "cloudpakName",
        "cloudpakId",
        "cloudpakMetric",
        // License Service's own spelling beside licmetric's first one; the version is the
        // bundle record's `version`, when it has one.
        "cloudpakMetricName",
        "cloudpakVersion",
        "metricName",
        "metricPeakDate",
        "metricMeasuredQuantity",
        "metricConversion",
        "metricConvertedQuantity",
        "error",
    ]);
    if group.is_some() {
        table.columns.insert(table.columns.len() - 1, "groupName");
    }
    for b in &report.bundles {
        let cloudpak_name = b.record.name.clone().unwrap_or_else(|| b.record.id.clone());
        let version = match b.record.rest.get("version") {
            Some(Value::String(v)) => text(v),
            _ => Cell::Text(None),
        };
        match &b.usage {
            Ok(u) => {
                for m in &u.products {
                    let code = member_metric(report, &m.product);
                    if metric.is_some_and(|want| code != Some(want)) {
                        continue;
                    }
                    let (measured, converted) = match group {
                        None => (number(&m.measured), number(&m.converted)),
                        Some(g) => {
                            let Some(part) =
                                group_share(report, g, &m.product, &m.date, &m.partition)
                            else {
                                continue;
                            };
                            let of = |q: &str| number((exact(q) * part).to_string());
                            (of(&m.measured), of(&m.converted))
                        }
                    };
                    // A bundle whose record names no metric counts in its members'.
                    let cloudpak_metric = u.metric_name.as_deref().or(code);
                    let mut row = vec![
                        text(m.name.clone().unwrap_or_else(|| m.product.clone())),
                        text(&m.product),
                        text(&cloudpak_name),
                        text(&b.record.id),
                        opt_text(cloudpak_metric),
                        opt_text(cloudpak_metric),
                        version.clone(),
                        opt_text(code),
                        text(&m.date),
                        measured,
                        text(&m.conversion),
                        converted,
                    ];
                    if let Some(g) = group {
                        row.push(text(g.name));
                    }
                    row.push(Cell::Text(None));
                    table.rows.push(row);
                }
            }
            Err(e) => {
                if metric.is_some() {
                    continue;
                }
                let mut row = vec![Cell::Text(None), Cell::Text(None)];
                row.extend([
                    text(&cloudpak_name),
                    text(&b.record.id),
                    opt_text(b.record.metric_name.as_deref()),
                    opt_text(b.record.metric_name.as_deref()),
                    version,
                ]);
                row.extend(std::iter::repeat_n(Cell::Text(None), 5));
                if let Some(g) = group {
                    row.push(text(g.name));
                }
                row.push(text(e.to_string()));
                table.rows.push(row);
            }
        }
    }
    table
}

/// The snapshot's per-bundle, per-day converted sums.
pub fn bundled_daily(report: &Report, metric: Option<&str>) -> Table {
    let mut table = Table::new(&[
        "cloudpakName",
        "cloudpakId",
        "cloudpakMetric",
        "date",
        "metricQuantity",
        "error",
    ]);
    for b in &report.bundles {
        let name = b.record.name.clone().unwrap_or_else(|| b.record.id.clone());
        // A bundle's metric is its record's, else the one its usage counted.
        let bundle_metric = match &b.usage {
            Ok(u) => u.metric_name.as_deref(),
            Err(_) => b.record.metric_name.as_deref(),
        };
        if metric.is_some_and(|m| bundle_metric != Some(m)) {
            continue;
        }
        match &b.usage {
            Ok(u) => {
                for d in &u.daily {
                    table.rows.push(vec![
                        text(&name),
                        text(&b.record.id),
                        opt_text(u.metric_name.as_deref()),
                        text(&d.date),
                        number(&d.quantity),
                        Cell::Text(None),
                    ]);
                }
            }
            Err(e) => table.rows.push(vec![
                text(&name),
                text(&b.record.id),
                opt_text(b.record.metric_name.as_deref()),
                Cell::Text(None),
                Cell::Number(None),
                text(e.to_string()),
            ]),
        }
    }
    table
}

/// `/services`: what each consumer ("service") of a bundled product contributed to the
/// product's measured quantity on the bundle's peak day — the member's measured quantity
/// split in proportion to the contributor weights its plugin reported that day. A member
/// whose day names no contributor gets one row without a service. With a group, only the
/// services charged to it (by the member's chargeback `group_by`).
pub fn services(
    report: &Report,
    days: &DaysById,
    metric: Option<&str>,
    group: Option<&str>,
) -> Table {
    let mut table = Table::new(&[
        "cloudpakId",
        "cloudpakMetricName",
        "productName",
        "productId",
        "metricName",
        "serviceName",
        "serviceId",
        "serviceMetricValue",
        "metricPeakDate",
        // License Service's name for the same day.
        "metricDate",
        "error",
    ]);
    if group.is_some() {
        table.columns.insert(table.columns.len() - 1, "groupName");
    }
    for b in &report.bundles {
        let Ok(u) = &b.usage else { continue };
        for m in &u.products {
            let code = member_metric(report, &m.product);
            if metric.is_some_and(|want| code != Some(want)) {
                continue;
            }
            let head = [
                text(&b.record.id),
                opt_text(u.metric_name.as_deref().or(code)),
                text(m.name.clone().unwrap_or_else(|| m.product.clone())),
                text(&m.product),
                opt_text(code),
            ];
            let measured = exact(&m.measured);
            let contributors = day_contributors(days, &m.product, &m.date, &m.partition);
            let total: Exact = contributors.iter().map(|c| c.weight).sum();
            let group_by = grouped_by(report, &m.product);
            if total.is_zero() {
                if group.is_some() {
                    continue;
                }
                let mut row = head.to_vec();
                row.extend([
                    Cell::Text(None),
                    Cell::Text(None),
                    number(&m.measured),
                    text(&m.date),
                    text(&m.date),
                    Cell::Text(None),
                ]);
                table.rows.push(row);
                continue;
            }
            for c in &contributors {
                if group.is_some_and(|want| c.group(group_by) != want) {
                    continue;
                }
                let mut row = head.to_vec();
                row.extend([
                    text(c.key),
                    text(format!("{}:{}", c.kind, c.key)),
                    number((measured * c.weight / total).to_string()),
                    text(&m.date),
                    text(&m.date),
                ]);
                if let Some(g) = group {
                    row.push(text(g));
                }
                row.push(Cell::Text(None));
                table.rows.push(row);
            }
        }
    }
    table
}

/// A consumer of a product on one day: its weight summed over the day's records, and the
/// attributes of its first one (which say its chargeback group).
struct DayContributor<'d> {
    kind: &'d str,
    key: &'d str,
    weight: Exact,
    first: &'d Contributor,
}

impl DayContributor<'_> {
    fn group(&self, group_by: &str) -> &str {
        chargeback::group_of(self.first, group_by)
    }
}

/// Each contributor of `product` on `date` in `partition`, summed per consumer, in consumer
/// order.
fn day_contributors<'d>(
    days: &'d DaysById,
    product: &str,
    date: &str,
    partition: &str,
) -> Vec<DayContributor<'d>> {
    let mut out: BTreeMap<(&str, &str), DayContributor> = BTreeMap::new();
    let Some(Ok(days)) = days.get(product) else {
        return Vec::new();
    };
    for (_, result) in &days.days {
        let Ok(records) = result else { continue };
        for r in records
            .iter()
            .filter(|r| r.date == date && r.partition == partition)
        {
            for c in &r.contributors {
                out.entry((&c.kind, &c.key))
                    .or_insert(DayContributor {
                        kind: &c.kind,
                        key: &c.key,
                        weight: Exact::ZERO,
                        first: c,
                    })
                    .weight += exact(&c.weight);
            }
        }
    }
    out.into_values().collect()
}

/// A stored figure as a number (0 when it is none, which stored figures always are).
fn exact(text: &str) -> Exact {
    text.parse().unwrap_or(Exact::ZERO)
}

/// The snapshot's chargeback: every product's group lines (SPEC §4.8) with its record's
/// configuration; a product whose chargeback cannot be computed gets one row with the error.
pub fn chargeback(report: &Report, days: &DaysById, metric: Option<&str>) -> Table {
    let mut table = Table::new(&[
        "productId",
        "productName",
        "metricName",
        "groupBy",
        "approach",
        "groupName",
        "metricQuantity",
        "cost",
        "currency",
        "error",
    ]);
    for p in report.products.iter().filter(|p| metric_matches(p, metric)) {
        let answer = p
            .usage
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|_| allocate(report, &p.record, days));
        match answer {
            Ok(cb) => {
                for g in &cb.groups {
                    table.rows.push(vec![
                        text(&p.record.id),
                        text(product_name(p)),
                        opt_text(metric_code(p)),
                        text(&cb.group_by),
                        text(cb.approach),
                        text(&g.group),
                        number(&g.quantity),
                        opt_number(g.cost.as_deref()),
                        opt_text(cb.currency.as_deref()),
                        Cell::Text(None),
                    ]);
                }
            }
            Err(e) => {
                let mut row = vec![
                    text(&p.record.id),
                    text(product_name(p)),
                    opt_text(metric_code(p)),
                ];
                row.extend(std::iter::repeat_n(Cell::Text(None), 6));
                row.push(text(e.to_string()));
                table.rows.push(row);
            }
        }
    }
    table
}
