//! The columns of ILMT's `license_usage` (v2) as licmetric fills them: one table that says, for
//! each column, its name, type, description, whether it is shown by default, whether it may be
//! filtered and sorted, and how it is read from a product's figures.
//!
//! Rows are as ILMT has them: one per product, and one parent row per bundle (Cloud Pak or
//! FlexPoint bundle) beside its members, which is how IBM's clients pair members with their
//! bundle (`bundle_id` of a member = `flex_id` of its parent row).
//!
//! Mapping decisions where ILMT and licmetric differ:
//! - `product_id`, `bundle_id` and `flex_id` are the records' stable integer ids
//!   (`store::numbers`, from 1). 0 means none: a product in no bundle has `bundle_id` and
//!   `flex_id` 0 (ILMT's clients select standalone products with `bundle_id <= 0`); a parent row
//!   has `bundle_id` 0 and its own number as `product_id` and `flex_id`.
//! - `bundle_type` says what the row is: −1 a product (standalone or member), 0 a FlexPoint
//!   bundle's parent row, 1 a Cloud Pak's (also a bundle whose record names no kind, or which
//!   only its facts claim: that is how containers claim bundles). IBM's client selects parents
//!   with `bundle_type > -1`.
//! - `metric_id` is `"<plugin name>/<metric code name>"` (ILMT: an integer of its catalogue).
//! - `hwm_quantity`, `threshold`, `threshold_delta` are exact numbers: integers for IBM metrics,
//!   a decimal when the figure has a fraction (a scoped share, a decimal entitlement).
//! - A product whose evaluation failed has `hwm_quantity` −1 and, when it has a threshold,
//!   `threshold_delta` 2147483647 (as ILMT for a metric it cannot compute); those markers never
//!   match a comparison and sort last.
//! - Boolean columns are 0/1 as in ILMT's examples. `ibm_provided` is 0: the metric a product is
//!   counted by comes from its plugin's declaration (licmetric's catalogue), not from a user.
//!   `is_reaggregation_needed` is 0: figures are computed when asked, never stale.
//! - A parent row's `metric_code_name` is its record's `metric_name`, else its members' metric;
//!   its `metric_id`, `metric_name`, `metric_unit`, `hwm_peak_time` and ratio columns are null.
//! - `product_bundle_ratio_divider`/`_factor`: licmetric's ratio `a:b` (product units : bundle
//!   units) → divider `a`, factor `b` (ILMT's "5:1 → divider 5, factor 1").
//! - `product_family_guid`, `imported_part_numbers`, `bundle_guid` are always null: licmetric
//!   has no IBM catalogue GUIDs or part numbers. They are listed so ILMT's own examples work.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use licmetric_sdk::Exact;
use serde_json::{Value, json};

use crate::eval::report::{BundleFigures, ProductFigures};
use crate::snapshot::numbers::json_number;

/// A column's value type; decides how criteria values are read and how cells compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Number,
    Boolean,
    DateTime,
}

impl Kind {
    /// The type name the schema document gives.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "string",
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::DateTime => "datetime",
        }
    }

    /// Whether criteria compare this kind's cells as numbers.
    pub fn numeric(self) -> bool {
        matches!(self, Kind::Integer | Kind::Number | Kind::Boolean)
    }
}

/// One column's value in one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Number(Exact),
    Bool(bool),
    Time(DateTime<FixedOffset>),
    /// ILMT's "not measured" marker (−1, 2147483647): shown, never compared, sorted last.
    Unmeasured(i64),
}

impl Cell {
    /// The cell as JSON: exact numbers as JSON numbers, booleans as 0/1, times as RFC 3339.
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Number(n) => json_number(n),
            Cell::Bool(b) => json!(u8::from(*b)),
            Cell::Time(t) => Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Cell::Unmeasured(n) => json!(n),
        }
    }

    /// The text the text operators (`contains` …) look at; empty for null.
    pub fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Number(n) => n.to_string(),
            Cell::Bool(b) => u8::from(*b).to_string(),
            Cell::Time(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            Cell::Unmeasured(n) => n.to_string(),
        }
    }
}

/// One row of `license_usage` before its columns are read: a product, or a bundle's parent row.
pub enum Line<'a> {
    Product(&'a ProductFigures),
    Bundle {
        figures: &'a BundleFigures,
        /// The record's `metric_name`, else the first member's metric code name.
        metric_code_name: String,
    },
}

impl<'a> Line<'a> {
    /// Every row of a report: its products in order, then each bundle's parent row.
    pub fn all(products: &'a [ProductFigures], bundles: &'a [BundleFigures]) -> Vec<Line<'a>> {
        let mut lines: Vec<Line> = products.iter().map(Line::Product).collect();
        lines.extend(bundles.iter().map(|b| {
            let member_metric = || {
                products
                    .iter()
                    .find(|p| p.bundle.as_ref().is_some_and(|l| l.id == b.record.id))
                    .and_then(|p| p.metric.as_ref().map(|m| m.code_name.clone()))
            };
            Line::Bundle {
                figures: b,
                metric_code_name: b
                    .record
                    .metric_name
                    .clone()
                    .or_else(member_metric)
                    .unwrap_or_default(),
            }
        }));
        lines
    }
}

/// One column of `license_usage`.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub description: &'static str,
    /// Returned when `columns[]` is absent.
    pub default: bool,
    /// May be used in `criteria` and `order[]` (ILMT forbids `is_reaggregation_needed`).
    pub filterable: bool,
    pub read: fn(&Line) -> Cell,
}

const fn column(
    name: &'static str,
    kind: Kind,
    description: &'static str,
    read: fn(&Line) -> Cell,
) -> Column {
    Column {
        name,
        kind,
        description,
        default: false,
        filterable: true,
        read,
    }
}

const fn shown(mut c: Column) -> Column {
    c.default = true;
    c
}

/// Every column, in the order the schema lists them.
pub const COLUMNS: &[Column] = &[
    column(
        "product_id",
        Kind::Integer,
        "Identifier of the software product (its record's stable integer id); of the bundle on \
         a bundle's parent row.",
        |l| match l {
            Line::Product(p) => integer(p.record.numeric_id.unwrap_or_default()),
            Line::Bundle { figures, .. } => integer(figures.record.numeric_id.unwrap_or_default()),
        },
    ),
    shown(column(
        "product_name",
        Kind::Text,
        "Name of the software product, or of the bundle on its parent row (the record's id \
         when it names none).",
        |l| match l {
            Line::Product(p) => Cell::Text(name_of(&p.record.name, &p.record.id)),
            Line::Bundle { figures, .. } => {
                Cell::Text(name_of(&figures.record.name, &figures.record.id))
            }
        },
    )),
    column(
        "product_family_guid",
        Kind::Text,
        "GUID of the software product; always null (licmetric has no IBM catalogue GUIDs).",
        |_| Cell::Null,
    ),
    column(
        "metric_id",
        Kind::Text,
        "Identifier of the license metric: \"<plugin name>/<metric code name>\" (null on a \
         bundle's parent row).",
        |l| product(l, metric_id),
    ),
    shown(column(
        "metric_code_name",
        Kind::Text,
        "Code name of the license metric (e.g. PROCESSOR_VALUE_UNIT); for a product that failed, \
         its plugin's metric, or its record's metric binding when no loaded plugin matches; for \
         a bundle, its record's metric_name, else its members' metric.",
        |l| match l {
            Line::Product(p) => match (&p.metric, &p.usage) {
                (Some(m), _) => Cell::Text(m.code_name.clone()),
                (None, Ok(u)) => Cell::Text(u.metric_code_name.clone()),
                (None, Err(_)) => Cell::Text(p.record.metric.clone()),
            },
            Line::Bundle {
                metric_code_name, ..
            } => Cell::Text(metric_code_name.clone()),
        },
    )),
    column(
        "metric_name",
        Kind::Text,
        "Name of the license metric as its plugin declares it.",
        |l| product(l, |p| text(p.metric.as_ref().map(|m| m.name.clone()))),
    ),
    column(
        "metric_unit",
        Kind::Text,
        "Unit the metric counts, as its plugin declares it.",
        |l| product(l, |p| text(p.metric.as_ref().map(|m| m.unit.clone()))),
    ),
    shown(column(
        "hwm_quantity",
        Kind::Number,
        "The highest number of metric units the product (or bundle) used within the period (the \
         period value). -1 when it could not be computed; -1 cannot be used for sorting nor \
         filtering.",
        |l| match quantity(l) {
            Ok(q) => exact(Some(q)),
            Err(()) => Cell::Unmeasured(-1),
        },
    )),
    column(
        "hwm_peak_time",
        Kind::DateTime,
        "The date and time (RFC 3339) when the highest number of metric units was used in the \
         period (null on a bundle's parent row).",
        |l| {
            product(l, |p| match &p.usage {
                Ok(u) => u
                    .peak_at
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map_or(Cell::Null, Cell::Time),
                Err(_) => Cell::Null,
            })
        },
    ),
    column(
        "threshold",
        Kind::Number,
        "The licensed number of metric units (the record's threshold, else its entitlement's \
         quantity).",
        threshold,
    ),
    column(
        "threshold_delta",
        Kind::Number,
        "threshold minus hwm_quantity (negative when over-used). 2147483647 when a threshold is set \
         but the quantity could not be computed; 2147483647 cannot be used for sorting nor filtering.",
        |l| {
            let delta = match l {
                Line::Product(p) => p.usage.as_ref().map(|u| u.threshold_delta.as_ref()),
                Line::Bundle { figures, .. } => {
                    figures.usage.as_ref().map(|u| u.threshold_delta.as_ref())
                }
            };
            match delta {
                Ok(d) => exact(d),
                Err(_) => match threshold(l) {
                    Cell::Null => Cell::Null,
                    _ => Cell::Unmeasured(2_147_483_647),
                },
            }
        },
    ),
    column(
        "imported_part_numbers",
        Kind::Text,
        "Part number imported for the product; always null (licmetric imports no part numbers).",
        |_| Cell::Null,
    ),
    Column {
        filterable: false,
        ..column(
            "is_reaggregation_needed",
            Kind::Boolean,
            "Whether recalculation is needed; always 0 (figures are computed when asked). \
             Cannot be used to filter or sort.",
            |_| Cell::Bool(false),
        )
    },
    column(
        "ibm_provided",
        Kind::Boolean,
        "0: the product's metric comes from its plugin's declaration (licmetric's catalogue); \
         licmetric never reports 1.",
        |_| Cell::Bool(false),
    ),
    column(
        "entitled",
        Kind::Boolean,
        "1 when the product's (or bundle's) record has an entitlement, else 0.",
        |l| {
            Cell::Bool(match l {
                Line::Product(p) => p.record.entitlement.is_some(),
                Line::Bundle { figures, .. } => figures.record.entitlement.is_some(),
            })
        },
    ),
    column(
        "bundle_id",
        Kind::Integer,
        "Identifier of the FlexPoint bundle or Cloud Pak the product is assigned to; 0 for a \
         product in no bundle and on a bundle's parent row.",
        |l| match l {
            Line::Product(p) => integer(p.bundle.as_ref().map_or(0, |b| b.numeric_id)),
            Line::Bundle { .. } => integer(0),
        },
    ),
    column(
        "flex_id",
        Kind::Integer,
        "Identifier of the FlexPoint bundle or Cloud Pak the row's quantity is counted in: the \
         product's bundle, the bundle itself on its parent row, 0 for a product in no bundle.",
        |l| match l {
            Line::Product(p) => integer(p.bundle.as_ref().map_or(0, |b| b.numeric_id)),
            Line::Bundle { figures, .. } => integer(figures.record.numeric_id.unwrap_or_default()),
        },
    ),
    column(
        "bundle_guid",
        Kind::Text,
        "GUID of the bundle; always null (licmetric has no IBM catalogue GUIDs).",
        |_| Cell::Null,
    ),
    column(
        "bundle_name",
        Kind::Text,
        "Name of the FlexPoint bundle or Cloud Pak (its id when the record names none); null for \
         a product in no bundle.",
        |l| match l {
            Line::Product(p) => text(p.bundle.as_ref().map(|b| name_of(&b.name, &b.id))),
            Line::Bundle { figures, .. } => {
                Cell::Text(name_of(&figures.record.name, &figures.record.id))
            }
        },
    ),
    column(
        "bundle_type",
        Kind::Integer,
        "What the row is: -1 a product (standalone or a bundle's member), 0 a FlexPoint bundle's \
         parent row, 1 a Cloud Pak's (also a bundle that names no kind).",
        |l| {
            integer(match l {
                Line::Product(_) => -1,
                Line::Bundle { figures, .. } => {
                    if figures.record.kind.as_deref() == Some("flexpoint") {
                        0
                    } else {
                        1
                    }
                }
            })
        },
    ),
    column(
        "bundle_metric_contribution",
        Kind::Integer,
        "Bundle units the product contributes: ceil(hwm_quantity × factor / divider); null when \
         the product is in no bundle, its quantity could not be computed, and on a parent row.",
        |l| {
            product(l, |p| {
                exact(p.bundle.as_ref().and_then(|b| b.contribution.as_ref()))
            })
        },
    ),
    column(
        "product_bundle_ratio_factor",
        Kind::Integer,
        "Factor of the product-to-bundle ratio (b of licmetric's a:b; 5:1 → 1).",
        |l| product(l, |p| ratio_part(p, |(_, b)| b)),
    ),
    column(
        "product_bundle_ratio_divider",
        Kind::Integer,
        "Divider of the product-to-bundle ratio (a of licmetric's a:b; 5:1 → 5).",
        |l| product(l, |p| ratio_part(p, |(a, _)| a)),
    ),
];

/// The column called `name`.
pub fn find(name: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.name == name)
}

/// The columns shown when `columns[]` is absent.
pub fn defaults() -> Vec<&'static Column> {
    COLUMNS.iter().filter(|c| c.default).collect()
}

/// The schema document: every column with its type and description, keyed by name, in a
/// one-element array as ILMT's `license_usage.json` is.
pub fn schema() -> Value {
    let columns: serde_json::Map<String, Value> = COLUMNS
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                json!({"type": c.kind.name(), "description": c.description}),
            )
        })
        .collect();
    json!([columns])
}

fn text(value: Option<String>) -> Cell {
    value.map_or(Cell::Null, Cell::Text)
}

fn integer(n: impl Into<i128>) -> Cell {
    Cell::Number(Exact::int(n.into()))
}

fn name_of(name: &Option<String>, id: &str) -> String {
    name.clone().unwrap_or_else(|| id.to_string())
}

/// A column only product rows fill: null on a bundle's parent row.
fn product(line: &Line, read: fn(&ProductFigures) -> Cell) -> Cell {
    match line {
        Line::Product(p) => read(p),
        Line::Bundle { .. } => Cell::Null,
    }
}

/// The row's period quantity, or `Err` when it could not be computed.
fn quantity<'a>(line: &'a Line) -> Result<&'a String, ()> {
    match line {
        Line::Product(p) => p.usage.as_ref().map(|u| &u.quantity).map_err(|_| ()),
        Line::Bundle { figures, .. } => figures.usage.as_ref().map(|u| &u.quantity).map_err(|_| ()),
    }
}

fn exact(value: Option<&String>) -> Cell {
    value
        .and_then(|v| v.parse::<Exact>().ok())
        .map_or(Cell::Null, Cell::Number)
}

fn metric_id(p: &ProductFigures) -> Cell {
    let (plugin, code) = match (&p.usage, &p.days, &p.metric) {
        (Ok(u), _, metric) => (
            u.plugin.split('@').next().unwrap_or(&u.plugin),
            metric
                .as_ref()
                .map_or(u.metric_code_name.as_str(), |m| m.code_name.as_str()),
        ),
        // A failed product whose plugin is known keeps its metric's id.
        (Err(_), Ok(days), Some(m)) => (days.plugin.name(), m.code_name.as_str()),
        _ => return Cell::Null,
    };
    Cell::Text(format!("{plugin}/{code}"))
}

fn threshold(line: &Line) -> Cell {
    match line {
        Line::Product(p) => match &p.usage {
            Ok(u) => exact(u.threshold.as_ref()),
            Err(_) => p.record.threshold().map_or(Cell::Null, Cell::Number),
        },
        Line::Bundle { figures, .. } => match &figures.usage {
            Ok(u) => exact(u.threshold.as_ref()),
            Err(_) => figures.record.threshold().map_or(Cell::Null, Cell::Number),
        },
    }
}

fn ratio_part(p: &ProductFigures, pick: fn((u64, u64)) -> u64) -> Cell {
    p.bundle.as_ref().map_or(Cell::Null, |b| {
        Cell::Number(Exact::int(i128::from(pick(b.ratio))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_defaults_follow_ilmt() {
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len());
        let defaults: Vec<&str> = defaults().iter().map(|c| c.name).collect();
        assert_eq!(
            defaults,
            ["product_name", "metric_code_name", "hwm_quantity"]
        );
    }

    #[test]
    fn numbers_keep_their_digits() {
        let json = |n: Exact| Cell::Number(n).to_json().to_string();
        assert_eq!(json(Exact::int(480)), "480");
        assert_eq!(json("12.5".parse().unwrap()), "12.5");
        assert_eq!(json(Exact::ratio(1, 3)), "0.333333");
    }
}
