//! ILMT's `criteria` query parameter: its grammar, checked against the column table, and its
//! evaluation on a row.
//!
//! ```text
//! <criteria>  ::= { "and"|"or" : [ <criterion> {, <criterion>} ] }
//! <criterion> ::= <criteria> | [ <column>, <operator>, <value> ]
//! ```
//! One level of nesting is accepted (a criterion may be a criteria object whose criteria are
//! all plain). A missing value (`["threshold","=",]`, ILMT's own example) means null.
//!
//! Evaluation rules (where ILMT's document is silent):
//! - integer, number and boolean columns compare numerically (values may be JSON numbers or
//!   strings such as `"0"`; `true`/`false` mean 1/0); text columns compare as text, ignoring
//!   case, as ILMT's database does; the date column compares instants, or days when the value is
//!   a `YYYY-MM-DD` date.
//! - `= null` / `!= null` (and `is_empty` / `is_not_empty`) test for a missing value; a null cell
//!   fails every other comparison except the negated ones (`!=`, `not_contains`,
//!   `not_begins_with`, `not_ends_with`), which are the exact negation of their counterparts.
//! - `contains`, `begins_with`, `ends_with` (and their negations) look at the cell's text.
//! - `in` takes an array, or a string holding a JSON array (`"[0,1]"`).
//! - `last` / `next` take `PxD`, `PxW`, `PxM` or `PxY` (x in 1–999) and only apply to date
//!   columns: `last P7D` = within the 7 days before now, `next` the same after now.
//! - ILMT's not-measured markers (`hwm_quantity` −1, `threshold_delta` 2147483647) match no
//!   criterion but the not-null tests.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use licmetric_sdk::Exact;
use serde_json::Value;

use super::columns::{self, Cell, Column, Kind};

/// How deep criteria objects may nest: the top level and one level inside it.
const MAX_DEPTH: usize = 2;

/// Why a `criteria` text was refused, with the column or operator at fault when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct CriteriaError {
    pub reason: String,
    pub column: Option<String>,
    pub operator: Option<String>,
}

impl CriteriaError {
    fn new(reason: impl Into<String>) -> CriteriaError {
        CriteriaError {
            reason: reason.into(),
            column: None,
            operator: None,
        }
    }

    fn at(mut self, column: &str, operator: Option<&str>) -> CriteriaError {
        self.column = Some(column.to_string());
        self.operator = operator.map(str::to_string);
        self
    }
}

/// A parsed criteria object.
#[derive(Debug, Clone)]
pub struct Criteria {
    any: bool,
    items: Vec<Criterion>,
}

#[derive(Debug, Clone)]
enum Criterion {
    Nested(Criteria),
    Test(Test),
}

#[derive(Debug, Clone)]
struct Test {
    column: &'static Column,
    operator: Operator,
    operand: Operand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    NotContains,
    BeginsWith,
    NotBeginsWith,
    EndsWith,
    NotEndsWith,
    IsEmpty,
    IsNotEmpty,
    Last,
    Next,
    In,
}

impl Operator {
    fn parse(text: &str) -> Option<Operator> {
        Some(match text {
            "=" => Operator::Eq,
            "!=" => Operator::Ne,
            "<" => Operator::Lt,
            "<=" => Operator::Le,
            ">" => Operator::Gt,
            ">=" => Operator::Ge,
            "contains" => Operator::Contains,
            "not_contains" => Operator::NotContains,
            "begins_with" => Operator::BeginsWith,
            "not_begins_with" => Operator::NotBeginsWith,
            "ends_with" => Operator::EndsWith,
            "not_ends_with" => Operator::NotEndsWith,
            "is_empty" => Operator::IsEmpty,
            "is_not_empty" => Operator::IsNotEmpty,
            "last" => Operator::Last,
            "next" => Operator::Next,
            "in" => Operator::In,
            _ => return None,
        })
    }
}

/// A criterion's value, read for its column's kind when parsed.
#[derive(Debug, Clone)]
enum Operand {
    None,
    Scalar(Scalar),
    List(Vec<Scalar>),
    /// Lower-cased text for the text operators.
    Pattern(String),
    Span(Span),
}

#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Text(String),
    Number(Exact),
    Instant(DateTime<Utc>),
    Day(NaiveDate),
}

/// `PxD`, `PxW`, `PxM` or `PxY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Days(u32),
    Months(u32),
}

impl Criteria {
    /// Parses the text of a `criteria` parameter, checking every column, operator and value.
    pub fn parse(text: &str) -> Result<Criteria, CriteriaError> {
        let fixed = fill_missing_values(&double_quoted(text));
        let value: Value = serde_json::from_str(&fixed)
            .map_err(|e| CriteriaError::new(format!("is not a criteria object: {e}")))?;
        criteria(&value, 1)
    }

    /// Every one of `all` (ILMT ANDs a `criteria` parameter given more than once).
    pub fn all(mut all: Vec<Criteria>) -> Criteria {
        if all.len() == 1 {
            return all.remove(0);
        }
        Criteria {
            any: false,
            items: all.into_iter().map(Criterion::Nested).collect(),
        }
    }

    /// Whether a row (read through `cell`) matches, `now` being the instant for `last`/`next`.
    pub fn matches(&self, cell: &dyn Fn(&Column) -> Cell, now: DateTime<Utc>) -> bool {
        let mut results = self.items.iter().map(|c| match c {
            Criterion::Nested(inner) => inner.matches(cell, now),
            Criterion::Test(t) => t.matches(&cell(t.column), now),
        });
        if self.any {
            results.any(|m| m)
        } else {
            results.all(|m| m)
        }
    }
}

/// ILMT also takes strings in single quotes (`{'and':[['bundle_id','<=','0']]}`, as IBM's Go
/// client writes them): rewrite them as JSON strings, escaping the `"` they contain; `\'`
/// inside one is a quote. Double-quoted strings pass unchanged.
fn double_quoted(text: &str) -> String {
    if !text.contains('\'') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    // The quote of the string we are in, and whether the last character was a backslash.
    let (mut quote, mut escaped) = (None, false);
    for ch in text.chars() {
        match (quote, ch) {
            (Some(_), _) if escaped => {
                escaped = false;
                if ch != '\'' || quote == Some('"') {
                    out.push('\\');
                }
                out.push(ch);
            }
            (Some(_), '\\') => escaped = true,
            (Some('\''), '\'') | (Some('"'), '"') => {
                quote = None;
                out.push('"');
            }
            (Some('\''), '"') => out.push_str("\\\""),
            (Some(_), _) => out.push(ch),
            (None, '\'' | '"') => {
                quote = Some(ch);
                out.push('"');
            }
            (None, _) => out.push(ch),
        }
    }
    if escaped {
        out.push('\\');
    }
    out
}

/// ILMT writes a missing value as `["threshold","=",]`: put `null` where a `,` is directly
/// followed by the `]` closing a criterion (an array in a criteria object's list), outside
/// strings, so the text is JSON. A trailing comma anywhere else (`["bundle_type","in",[0,1,]]`)
/// is left for the JSON parser to refuse, never read as a null value.
fn fill_missing_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut in_string = false;
    let mut escaped = false;
    let mut pending_comma = false;
    // The open brackets and braces, innermost last.
    let mut open: Vec<char> = Vec::new();
    for ch in text.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
            continue;
        }
        match ch {
            '[' | '{' => open.push(ch),
            ']' | '}' => {
                // A criterion: `[` in a `[` that is a member of a `{`.
                let criterion = open.ends_with(&['{', '[', '[']);
                if ch == ']' && pending_comma && criterion {
                    out.push_str("null");
                }
                open.pop();
            }
            _ => {}
        }
        if !ch.is_whitespace() {
            pending_comma = ch == ',';
        }
        if ch == '"' {
            in_string = true;
        }
        out.push(ch);
    }
    out
}

fn criteria(value: &Value, depth: usize) -> Result<Criteria, CriteriaError> {
    let object = value.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        CriteriaError::new("a criteria object has exactly one member, \"and\" or \"or\"")
    })?;
    let (key, list) = object.iter().next().expect("one member");
    let any = match key.as_str() {
        "and" => false,
        "or" => true,
        other => {
            return Err(CriteriaError::new(format!(
                "{other:?} is not a boolean operator (\"and\" or \"or\")"
            )));
        }
    };
    let list = list
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| CriteriaError::new(format!("{key:?} takes a non-empty array")))?;
    let items = list
        .iter()
        .map(|item| match item {
            Value::Object(_) if depth < MAX_DEPTH => {
                criteria(item, depth + 1).map(Criterion::Nested)
            }
            Value::Object(_) => Err(CriteriaError::new("criteria nest at most one level deep")),
            Value::Array(parts) => test(parts).map(Criterion::Test),
            other => Err(CriteriaError::new(format!(
                "{other} is neither a criterion [column, operator, value] nor a criteria object"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Criteria { any, items })
}

fn test(parts: &[Value]) -> Result<Test, CriteriaError> {
    if !(2..=3).contains(&parts.len()) {
        return Err(CriteriaError::new(format!(
            "a criterion is [column, operator, value], not {}",
            Value::Array(parts.to_vec())
        )));
    }
    let name = parts[0]
        .as_str()
        .ok_or_else(|| CriteriaError::new(format!("column {} is not a string", parts[0])))?;
    let column = columns::find(name)
        .ok_or_else(|| CriteriaError::new(format!("no column {name:?}")).at(name, None))?;
    if !column.filterable {
        return Err(CriteriaError::new(format!("column {name} cannot be filtered")).at(name, None));
    }
    let op_text = parts[1].as_str().unwrap_or_default();
    let operator = Operator::parse(op_text).ok_or_else(|| {
        CriteriaError::new(format!("{} is not an operator", parts[1])).at(name, Some(op_text))
    })?;
    let value = parts.get(2).unwrap_or(&Value::Null);
    let operand = operand(column, operator, value)
        .map_err(|reason| CriteriaError::new(reason).at(name, Some(op_text)))?;
    Ok(Test {
        column,
        operator,
        operand,
    })
}

fn operand(column: &Column, operator: Operator, value: &Value) -> Result<Operand, String> {
    use Operator::*;
    Ok(match operator {
        IsEmpty | IsNotEmpty => Operand::None,
        Eq | Ne => Operand::Scalar(scalar(column.kind, value)?),
        Lt | Le | Gt | Ge => match scalar(column.kind, value)? {
            Scalar::Null => return Err(format!("{value} cannot be ordered against")),
            s => Operand::Scalar(s),
        },
        Contains | NotContains | BeginsWith | NotBeginsWith | EndsWith | NotEndsWith => match value
        {
            Value::String(s) => Operand::Pattern(s.to_lowercase()),
            Value::Number(n) => Operand::Pattern(n.to_string()),
            other => return Err(format!("value {other} is not a text")),
        },
        In => {
            let list = match value {
                Value::Array(items) => items.clone(),
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(Value::Array(items)) => items,
                    _ => return Err(format!("value {s:?} is not a JSON array")),
                },
                other => return Err(format!("value {other} is not an array")),
            };
            if list.is_empty() {
                return Err("value is an empty array".into());
            }
            Operand::List(
                list.iter()
                    .map(|v| scalar(column.kind, v))
                    .collect::<Result<_, _>>()?,
            )
        }
        Last | Next => {
            if column.kind != Kind::DateTime {
                return Err(format!(
                    "operator applies to date columns only, and {} is a {}",
                    column.name,
                    column.kind.name()
                ));
            }
            Operand::Span(span(value)?)
        }
    })
}

/// A comparison value read for a column of `kind`.
fn scalar(kind: Kind, value: &Value) -> Result<Scalar, String> {
    let text = match value {
        Value::Null => return Ok(Scalar::Null),
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) if kind.numeric() => u8::from(*b).to_string(),
        other => return Err(format!("value {other} is not a string or a number")),
    };
    match kind {
        Kind::Text => Ok(Scalar::Text(match value {
            Value::String(s) => s.clone(),
            _ => text,
        })),
        Kind::Integer | Kind::Number | Kind::Boolean => {
            let text = match text.as_str() {
                "true" if kind == Kind::Boolean => "1".to_string(),
                "false" if kind == Kind::Boolean => "0".to_string(),
                _ => text,
            };
            text.parse::<Exact>()
                .map(Scalar::Number)
                .map_err(|_| format!("value {value} is not a number"))
        }
        Kind::DateTime => {
            if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
                Ok(Scalar::Instant(t.with_timezone(&Utc)))
            } else if let Ok(d) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                Ok(Scalar::Day(d))
            } else {
                Err(format!(
                    "value {value} is not a date (YYYY-MM-DD) or a time (RFC 3339)"
                ))
            }
        }
    }
}

fn span(value: &Value) -> Result<Span, String> {
    let bad = || format!("value {value} is not PxD, PxW, PxM or PxY with x in 1-999");
    let text = value.as_str().ok_or_else(bad)?;
    let rest = text.strip_prefix('P').ok_or_else(bad)?;
    let (digits, unit) = rest.split_at(rest.len().saturating_sub(1));
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let x: u32 = digits.parse().map_err(|_| bad())?;
    if x == 0 {
        return Err(bad());
    }
    match unit {
        "D" => Ok(Span::Days(x)),
        "W" => Ok(Span::Days(x * 7)),
        "M" => Ok(Span::Months(x)),
        "Y" => Ok(Span::Months(x * 12)),
        _ => Err(bad()),
    }
}

impl Span {
    fn before(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Span::Days(d) => now - Duration::days(i64::from(d)),
            Span::Months(m) => now.checked_sub_months(Months::new(m)).unwrap_or(now),
        }
    }

    fn after(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Span::Days(d) => now + Duration::days(i64::from(d)),
            Span::Months(m) => now.checked_add_months(Months::new(m)).unwrap_or(now),
        }
    }
}

impl Test {
    fn matches(&self, cell: &Cell, now: DateTime<Utc>) -> bool {
        use Operator::*;
        let empty = match cell {
            Cell::Null => true,
            Cell::Text(s) => s.is_empty(),
            _ => false,
        };
        if matches!(cell, Cell::Unmeasured(_)) {
            return match (self.operator, &self.operand) {
                (IsNotEmpty, _) => true,
                (Ne, Operand::Scalar(Scalar::Null)) => true,
                _ => false,
            };
        }
        match (self.operator, &self.operand) {
            (IsEmpty, _) | (Eq, Operand::Scalar(Scalar::Null)) => empty,
            (IsNotEmpty, _) | (Ne, Operand::Scalar(Scalar::Null)) => !empty,
            (Eq, Operand::Scalar(s)) => compare(cell, s) == Some(Ordering::Equal),
            (Ne, Operand::Scalar(s)) => compare(cell, s) != Some(Ordering::Equal),
            (Lt, Operand::Scalar(s)) => compare(cell, s) == Some(Ordering::Less),
            (Le, Operand::Scalar(s)) => {
                matches!(compare(cell, s), Some(Ordering::Less | Ordering::Equal))
            }
            (Gt, Operand::Scalar(s)) => compare(cell, s) == Some(Ordering::Greater),
            (Ge, Operand::Scalar(s)) => {
                matches!(compare(cell, s), Some(Ordering::Greater | Ordering::Equal))
            }
            (In, Operand::List(list)) => list.iter().any(|s| match s {
                Scalar::Null => empty,
                s => compare(cell, s) == Some(Ordering::Equal),
            }),
            (Contains, Operand::Pattern(p)) => !empty && cell.text().to_lowercase().contains(p),
            (NotContains, Operand::Pattern(p)) => empty || !cell.text().to_lowercase().contains(p),
            (BeginsWith, Operand::Pattern(p)) => {
                !empty && cell.text().to_lowercase().starts_with(p)
            }
            (NotBeginsWith, Operand::Pattern(p)) => {
                empty || !cell.text().to_lowercase().starts_with(p)
            }
            (EndsWith, Operand::Pattern(p)) => !empty && cell.text().to_lowercase().ends_with(p),
            (NotEndsWith, Operand::Pattern(p)) => empty || !cell.text().to_lowercase().ends_with(p),
            (Last, Operand::Span(span)) => match cell {
                Cell::Time(t) => {
                    let t = t.with_timezone(&Utc);
                    span.before(now) <= t && t <= now
                }
                _ => false,
            },
            (Next, Operand::Span(span)) => match cell {
                Cell::Time(t) => {
                    let t = t.with_timezone(&Utc);
                    now <= t && t <= span.after(now)
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// How a cell compares with a criterion value; None when they cannot be compared (a null
/// cell, a value of another kind).
fn compare(cell: &Cell, value: &Scalar) -> Option<Ordering> {
    match (cell, value) {
        (Cell::Number(n), Scalar::Number(v)) => Some(n.cmp(v)),
        (Cell::Bool(b), Scalar::Number(v)) => Some(Exact::int(i128::from(*b)).cmp(v)),
        (Cell::Text(s), Scalar::Text(v)) => Some(s.to_lowercase().cmp(&v.to_lowercase())),
        (Cell::Time(t), Scalar::Instant(v)) => Some(t.with_timezone(&Utc).cmp(v)),
        (Cell::Time(t), Scalar::Day(d)) => Some(t.with_timezone(&Utc).date_naive().cmp(d)),
        _ => None,
    }
}

/// How two cells of one column sort, ascending: nulls first, then values. ILMT's not-measured
/// markers are handled by the caller (always last).
pub fn order(a: &Cell, b: &Cell) -> Ordering {
    let rank = |c: &Cell| match c {
        Cell::Null => 0,
        _ => 1,
    };
    match (a, b) {
        (Cell::Number(x), Cell::Number(y)) => x.cmp(y),
        (Cell::Bool(x), Cell::Bool(y)) => x.cmp(y),
        (Cell::Text(x), Cell::Text(y)) => x
            .to_lowercase()
            .cmp(&y.to_lowercase())
            .then_with(|| x.cmp(y)),
        (Cell::Time(x), Cell::Time(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn single_quoted_strings_become_json_strings() {
        assert_eq!(
            double_quoted(r#"{'and':[['bundle_id','<=','0']]}"#),
            r#"{"and":[["bundle_id","<=","0"]]}"#
        );
        assert_eq!(
            double_quoted(r#"{'and':[['product_name','=','say "hi" it\'s']]}"#),
            r#"{"and":[["product_name","=","say \"hi\" it's"]]}"#
        );
        // Double-quoted strings keep their text, a single quote inside included.
        let json = r#"{"and":[["product_name","=","it's \"x\""]]}"#;
        assert_eq!(double_quoted(json), json);
        assert!(Criteria::parse(r#"{'and':[['bundle_id','<=','0']]}"#).is_ok());
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    }

    /// A row of cells by column name.
    fn row<'a>(cells: &'a [(&'a str, Cell)]) -> impl Fn(&Column) -> Cell + 'a {
        move |c: &Column| {
            cells
                .iter()
                .find(|(n, _)| *n == c.name)
                .map(|(_, v)| v.clone())
                .unwrap_or(Cell::Null)
        }
    }

    fn num(n: i128) -> Cell {
        Cell::Number(Exact::int(n))
    }

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    fn time(s: &str) -> Cell {
        Cell::Time(DateTime::parse_from_rfc3339(s).unwrap())
    }

    fn check(criteria: &str, cells: &[(&str, Cell)]) -> bool {
        Criteria::parse(criteria)
            .unwrap_or_else(|e| panic!("{criteria}: {e:?}"))
            .matches(&row(cells), now())
    }

    fn error(criteria: &str) -> CriteriaError {
        Criteria::parse(criteria).expect_err(criteria)
    }

    #[test]
    fn comparisons_are_numeric_for_number_columns_and_textual_otherwise() {
        let r = [
            ("hwm_quantity", num(480)),
            ("product_name", text("WebSphere")),
        ];
        for (c, want) in [
            (r#"{"and":[["hwm_quantity","=",480]]}"#, true),
            (r#"{"and":[["hwm_quantity","=","480.0"]]}"#, true),
            (r#"{"and":[["hwm_quantity","!=","480"]]}"#, false),
            (r#"{"and":[["hwm_quantity","<","1000"]]}"#, true),
            // Numerically 480 > 90, though "480" < "90" as text.
            (r#"{"and":[["hwm_quantity","<",90]]}"#, false),
            (r#"{"and":[["hwm_quantity","<=",480]]}"#, true),
            (r#"{"and":[["hwm_quantity",">",479.5]]}"#, true),
            (r#"{"and":[["hwm_quantity",">=",481]]}"#, false),
            (r#"{"and":[["product_name","=","websphere"]]}"#, true),
            (r#"{"and":[["product_name","<","Zeta"]]}"#, true),
            (r#"{"and":[["product_name",">","x"]]}"#, false),
        ] {
            assert_eq!(check(c, &r), want, "{c}");
        }
    }

    #[test]
    fn text_operators() {
        let r = [
            ("product_name", text("IBM WebSphere")),
            ("bundle_name", Cell::Null),
        ];
        for (c, want) in [
            (r#"{"and":[["product_name","contains","sphere"]]}"#, true),
            (
                r#"{"and":[["product_name","not_contains","sphere"]]}"#,
                false,
            ),
            (r#"{"and":[["product_name","begins_with","ibm "]]}"#, true),
            (
                r#"{"and":[["product_name","not_begins_with","ibm"]]}"#,
                false,
            ),
            (r#"{"and":[["product_name","ends_with","SPHERE"]]}"#, true),
            (r#"{"and":[["product_name","not_ends_with","x"]]}"#, true),
            (r#"{"and":[["bundle_name","contains",""]]}"#, false),
            (r#"{"and":[["bundle_name","not_contains","a"]]}"#, true),
            (r#"{"and":[["bundle_name","is_empty",null]]}"#, true),
            (r#"{"and":[["bundle_name","is_not_empty",null]]}"#, false),
            (r#"{"and":[["product_name","is_not_empty"]]}"#, true),
        ] {
            assert_eq!(check(c, &r), want, "{c}");
        }
    }

    #[test]
    fn missing_value_means_null() {
        let with = [("threshold", num(1000))];
        let without = [("threshold", Cell::Null)];
        assert!(check(r#"{"and":[["threshold","!=",]]}"#, &with));
        assert!(!check(r#"{"and":[["threshold","!=",]]}"#, &without));
        assert!(check(r#"{"and":[["threshold","=", ]]}"#, &without));
        assert!(!check(r#"{"and":[["threshold","=",null]]}"#, &with));
        // A null cell is not equal to a number and is not below it.
        assert!(check(r#"{"and":[["threshold","!=",5]]}"#, &without));
        assert!(!check(r#"{"and":[["threshold","<",5]]}"#, &without));
        // A ",]" inside a string is left alone.
        assert!(!check(r#"{"and":[["product_name","=",",]"]]}"#, &without));
        // So in a nested criteria object.
        assert!(check(r#"{"and":[{"or":[["threshold","=",]]}]}"#, &without));
    }

    #[test]
    fn a_trailing_comma_inside_a_value_is_no_missing_value() {
        let nested = r#"{"and":[["bundle_type","in",[0,1,]]]}"#;
        assert_eq!(fill_missing_values(nested), nested);
        let e = error(nested);
        assert!(e.reason.contains("not a criteria object"), "{e:?}");
        assert_eq!(
            fill_missing_values(r#"{"or":[["threshold","=", ],["bundle_type","in",[0, ]]]}"#),
            r#"{"or":[["threshold","=", null],["bundle_type","in",[0, ]]]}"#
        );
    }

    #[test]
    fn in_takes_an_array_or_a_json_array_string() {
        let r = [("bundle_type", num(1)), ("product_name", text("mq"))];
        assert!(check(r#"{"and":[["bundle_type","in","[0,1]"]]}"#, &r));
        assert!(check(r#"{"and":[["bundle_type","in",[1]]]}"#, &r));
        assert!(!check(r#"{"and":[["bundle_type","in",["-1","0"]]]}"#, &r));
        assert!(check(r#"{"and":[["product_name","in",["MQ","was"]]]}"#, &r));
    }

    #[test]
    fn booleans_compare_as_zero_and_one() {
        let r = [("entitled", Cell::Bool(true))];
        assert!(check(r#"{"and":[["entitled","=",1]]}"#, &r));
        assert!(check(r#"{"and":[["entitled","=",true]]}"#, &r));
        assert!(!check(r#"{"and":[["entitled","=","false"]]}"#, &r));
    }

    #[test]
    fn dates_last_and_next() {
        let r = [("hwm_peak_time", time("2026-11-15T09:30:00Z"))];
        for (c, want) in [
            (r#"{"and":[["hwm_peak_time","last","P7D"]]}"#, true),
            (r#"{"and":[["hwm_peak_time","last","P1D"]]}"#, false),
            (r#"{"and":[["hwm_peak_time","last","P1W"]]}"#, true),
            (r#"{"and":[["hwm_peak_time","last","P1M"]]}"#, true),
            (r#"{"and":[["hwm_peak_time","last","P1Y"]]}"#, true),
            (r#"{"and":[["hwm_peak_time","next","P999D"]]}"#, false),
            (r#"{"and":[["hwm_peak_time","=","2026-11-15"]]}"#, true),
            (r#"{"and":[["hwm_peak_time","<","2026-11-15"]]}"#, false),
            (
                r#"{"and":[["hwm_peak_time",">","2026-11-15T09:00:00Z"]]}"#,
                true,
            ),
            (
                r#"{"and":[["hwm_peak_time","begins_with","2026-11"]]}"#,
                true,
            ),
        ] {
            assert_eq!(check(c, &r), want, "{c}");
        }
        let future = [("hwm_peak_time", time("2026-12-01T00:00:00Z"))];
        assert!(check(
            r#"{"and":[["hwm_peak_time","next","P2W"]]}"#,
            &future
        ));
        assert!(!check(
            r#"{"and":[["hwm_peak_time","next","P1W"]]}"#,
            &future
        ));
        assert!(!check(r#"{"and":[["hwm_peak_time","last","P7D"]]}"#, &[]));
    }

    #[test]
    fn and_or_and_one_level_of_nesting() {
        let r = [("product_name", text("MQ")), ("hwm_quantity", num(560))];
        assert!(check(
            r#"{"or":[["product_name","=","DB2"],["hwm_quantity",">",500]]}"#,
            &r
        ));
        assert!(!check(
            r#"{"and":[["product_name","=","DB2"],["hwm_quantity",">",500]]}"#,
            &r
        ));
        assert!(check(
            r#"{"and":[["hwm_quantity",">",500],{"or":[["product_name","=","DB2"],["product_name","=","mq"]]}]}"#,
            &r
        ));
        assert!(!check(
            r#"{"and":[["hwm_quantity",">",500],{"or":[["product_name","=","DB2"],["product_name","=","WAS"]]}]}"#,
            &r
        ));
        let deep = error(r#"{"and":[{"or":[{"and":[["product_name","=","x"]]}]}]}"#);
        assert!(deep.reason.contains("nest"), "{deep:?}");
    }

    #[test]
    fn unmeasured_markers_match_no_comparison() {
        let r = [
            ("hwm_quantity", Cell::Unmeasured(-1)),
            ("threshold_delta", Cell::Unmeasured(2_147_483_647)),
        ];
        for c in [
            r#"{"and":[["hwm_quantity","=",-1]]}"#,
            r#"{"and":[["hwm_quantity","<",0]]}"#,
            r#"{"and":[["hwm_quantity","!=",5]]}"#,
            r#"{"and":[["threshold_delta",">",0]]}"#,
            r#"{"and":[["threshold_delta","in",[2147483647]]]}"#,
            r#"{"and":[["hwm_quantity","contains","1"]]}"#,
            r#"{"and":[["hwm_quantity","is_empty"]]}"#,
        ] {
            assert!(!check(c, &r), "{c}");
        }
        assert!(check(r#"{"and":[["threshold_delta","!=",]]}"#, &r));
        assert!(check(r#"{"and":[["hwm_quantity","is_not_empty"]]}"#, &r));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let e = error(r#"{"and":[["colour","=","red"]]}"#);
        assert_eq!(e.column.as_deref(), Some("colour"));
        let e = error(r#"{"and":[["product_name","like","x"]]}"#);
        assert_eq!(e.operator.as_deref(), Some("like"));
        assert_eq!(e.column.as_deref(), Some("product_name"));
        let e = error(r#"{"and":[["hwm_quantity","<","lots"]]}"#);
        assert!(e.reason.contains("not a number"), "{e:?}");
        let e = error(r#"{"and":[["hwm_quantity","last","P7D"]]}"#);
        assert!(e.reason.contains("date columns"), "{e:?}");
        for bad in ["P0D", "P1000D", "P7H", "7D", "P", "PD"] {
            let e = error(&format!(r#"{{"and":[["hwm_peak_time","last","{bad}"]]}}"#));
            assert!(e.reason.contains("PxD"), "{bad}: {e:?}");
        }
        let e = error(r#"{"and":[["hwm_peak_time","=","yesterday"]]}"#);
        assert!(e.reason.contains("not a date"), "{e:?}");
        let e = error(r#"{"and":[["bundle_type","in","0,1"]]}"#);
        assert!(e.reason.contains("JSON array"), "{e:?}");
        let e = error(r#"{"and":[["threshold","<",]]}"#);
        assert_eq!(e.column.as_deref(), Some("threshold"));
        let e = error(r#"{"and":[["is_reaggregation_needed","=",0]]}"#);
        assert!(e.reason.contains("cannot be filtered"), "{e:?}");
        assert!(
            error(r#"{"xor":[["product_name","=","x"]]}"#)
                .reason
                .contains("xor")
        );
        assert!(error(r#"{"and":[]}"#).reason.contains("non-empty"));
        assert!(error(r#"{"and":[["a"]]}"#).reason.contains("criterion"));
        assert!(error(r#"{"and":[1]}"#).reason.contains("neither"));
        assert!(error("not json").reason.contains("not a criteria object"));
        assert!(
            error(r#"{"and":[],"or":[]}"#)
                .reason
                .contains("exactly one")
        );
    }

    #[test]
    fn order_puts_nulls_first_and_compares_numbers_numerically() {
        assert_eq!(order(&num(90), &num(480)), Ordering::Less);
        assert_eq!(order(&Cell::Null, &num(0)), Ordering::Less);
        assert_eq!(order(&text("b"), &text("A")), Ordering::Greater);
    }
}
