//! Native tests of a plugin: an evaluation built by hand, encoded as the host encodes it, and
//! run through the same glue the exported WIT functions use.
//!
//! ```ignore
//! use licmetric_sdk::testing::{TestInput, millis};
//!
//! let mut input = TestInput::new::<MyMetric>(r#"{"version":"1"}"#, &[("db", "{}")]);
//! input.state("installation", "vm-1/db", "2026-11-01T00:00:00Z", None,
//!             &[("product", "db"), ("on", "vm-1")]);
//! let outcome = input.evaluate::<MyMetric>("2026-11-03", "2026-11-05");
//! assert_eq!(outcome.days[0].quantity, "1");
//! ```
//!
//! Attribute values are written as in a fact file (text, integers, decimals, `true`/`false`,
//! RFC 3339 times) and converted to the type the plugin's `requests` asked for. A value or a kind
//! the plugin did not ask for panics with a message naming it: these are test helpers, a typo
//! should fail the test. Cost: one string-table entry per distinct string, one column value per
//! requested attribute and state.

use chrono::{DateTime, NaiveDate};

use crate::Metric;
use crate::facts::{ABSENT, Interner, OPEN};
use crate::types::{
    Day, Evaluation, FactRequest, Outcome, ProductDays, ProductRef, Timeline, ValueType,
};

const DAY_MS: i64 = 86_400_000;

/// Milliseconds since the epoch of an RFC 3339 instant (`2026-11-03T09:00:00Z`). Panics on
/// anything else.
pub fn millis(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339:?} is not an RFC 3339 instant: {e}"))
        .timestamp_millis()
}

/// Milliseconds since the epoch of midnight UTC at the start of `date` (`2026-11-03`).
pub fn midnight(date: &str) -> i64 {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .unwrap_or_else(|e| panic!("{date:?} is not a date (YYYY-MM-DD): {e}"));
    day.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

/// The input of one evaluation, built state by state.
pub struct TestInput {
    rule_data: String,
    products: Vec<ProductRef>,
    requests: Vec<FactRequest>,
    strings: Interner,
    /// Per request, its states.
    rows: Vec<Vec<Row>>,
}

/// One state: entity key, `[from, to)`, one value per requested attribute.
struct Row {
    key: String,
    from: i64,
    to: i64,
    values: Vec<i64>,
}

impl TestInput {
    /// An input for `products` (id, parameters as JSON text) under `rule_data`. The fact kinds
    /// and attributes are the ones `M::requests` asks for; panics with the error if the rule data or parameters are refused.
    pub fn new<M: Metric>(rule_data: &str, products: &[(&str, &str)]) -> Self {
        let products: Vec<ProductRef> = products
            .iter()
            .map(|(id, parameters)| ProductRef {
                id: id.to_string(),
                parameters: parameters.to_string(),
            })
            .collect();
        let requests = crate::plugin::prepare_parsed::<M>(rule_data, &products)
            .unwrap_or_else(|e| panic!("prepare refused the test input: {:?}", e.0));
        let rows = requests.iter().map(|_| Vec::new()).collect();
        TestInput {
            rule_data: rule_data.to_string(),
            products,
            requests,
            strings: Interner::default(),
            rows,
        }
    }

    /// Adds one state of entity (`kind`, `key`) holding over `[from, to)` (RFC 3339; `to`
    /// `None` = still holds) with `attrs` as (name, value as in a fact file). Attributes the
    /// plugin requested but `attrs` omits are absent.
    pub fn state(
        &mut self,
        kind: &str,
        key: &str,
        from: &str,
        to: Option<&str>,
        attrs: &[(&str, &str)],
    ) -> &mut Self {
        let r = self
            .requests
            .iter()
            .position(|r| r.kind == kind)
            .unwrap_or_else(|| panic!("kind {kind:?} was not requested by the plugin's prepare"));
        for (name, _) in attrs {
            if !self.requests[r].attributes.iter().any(|a| a.name == *name) {
                panic!("attribute {name:?} of kind {kind:?} was not requested by prepare");
            }
        }
        let wanted: Vec<(String, ValueType)> = self.requests[r]
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.type_))
            .collect();
        let values = wanted
            .iter()
            .map(|(name, ty)| match attrs.iter().find(|(n, _)| n == name) {
                None => ABSENT,
                Some((_, v)) => self.encode(name, *ty, v),
            })
            .collect();
        self.strings.intern(key);
        let to = to.map(millis).unwrap_or(OPEN);
        self.rows[r].push(Row {
            key: key.to_string(),
            from: millis(from),
            to,
            values,
        });
        self
    }

    fn encode(&mut self, name: &str, ty: ValueType, value: &str) -> i64 {
        match ty {
            ValueType::Text | ValueType::Decimal => self.strings.intern(value) as i64,
            ValueType::Integer => value
                .parse()
                .unwrap_or_else(|e| panic!("attribute {name:?}: {value:?} is not an integer: {e}")),
            ValueType::Boolean => match value {
                "true" => 1,
                "false" => 0,
                _ => panic!("attribute {name:?}: {value:?} is not true or false"),
            },
            ValueType::Time => millis(value),
        }
    }

    /// Evaluates every product on the UTC days from `start` to `end` (dates, `end` excluded),
    /// with "now" at the end, as the host would call the plugin, contributors and explanations
    /// included.
    pub fn evaluate<M: Metric>(&self, start: &str, end: &str) -> Outcome {
        crate::plugin::evaluate::<M>(self.input(start, end))
    }

    /// The same evaluation as [`TestInput::evaluate`], numbers only (the contract's
    /// `evaluate`, which a plugin may compute by a faster path than when explaining).
    pub fn count<M: Metric>(&self, start: &str, end: &str) -> Outcome {
        crate::plugin::run::<M>(self.input(start, end), false)
    }

    /// The input the host would send for the UTC days from `start` to `end`.
    pub fn input(&self, start: &str, end: &str) -> Evaluation {
        let (first, last) = (midnight(start), midnight(end));
        let days: Vec<Day> = (0..(last - first) / DAY_MS)
            .map(|i| {
                let start = first + i * DAY_MS;
                let date = DateTime::from_timestamp_millis(start).expect("a day in range");
                Day {
                    date: date.format("%Y-%m-%d").to_string(),
                    start,
                    end: start + DAY_MS,
                }
            })
            .collect();
        let timelines = self
            .requests
            .iter()
            .zip(&self.rows)
            .map(|(request, rows)| {
                // The host's order: by entity key, then time.
                let mut order: Vec<&Row> = rows.iter().collect();
                order.sort_by(|a, b| (&a.key, a.from).cmp(&(&b.key, b.from)));
                let mut t = Timeline {
                    kind: request.kind.clone(),
                    entity: Vec::new(),
                    from: Vec::new(),
                    to: Vec::new(),
                    columns: vec![Vec::new(); request.attributes.len()],
                };
                for row in order {
                    t.entity
                        .push(self.strings.get(&row.key).expect("interned with its row"));
                    t.from.push(row.from);
                    t.to.push(row.to);
                    for (column, value) in t.columns.iter_mut().zip(&row.values) {
                        column.push(*value);
                    }
                }
                t
            })
            .collect();
        Evaluation {
            rule_data: self.rule_data.clone(),
            run_at: last,
            products: self
                .products
                .iter()
                .map(|product| ProductDays {
                    product: product.clone(),
                    days: days.clone(),
                })
                .collect(),
            strings: self.strings.table(),
            timelines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleError;
    use crate::facts::Facts;
    use crate::types::{DayResult, PluginInfo, Selection};

    /// Reports, per day, the states of `installation` meeting the day and the text, integer
    /// and time values it read, so the encoding can be checked.
    struct Echo;

    /// Rule data must be `{"ok": true}`.
    #[derive(serde::Deserialize)]
    struct Rules {
        ok: bool,
    }

    impl crate::config::RuleDocument for Rules {
        fn check(&self) -> Result<(), RuleError> {
            match self.ok {
                true => Ok(()),
                false => Err(RuleError::new("rule_data_invalid", "not ok")),
            }
        }
    }

    impl Metric for Echo {
        type RuleData = Rules;
        type Parameters = serde_json::Value;

        fn describe() -> PluginInfo {
            PluginInfo {
                name: "echo".into(),
                version: "0.0.0".into(),
                sdk_version: crate::SDK_VERSION.into(),
                metrics: Vec::new(),
                facts: Vec::new(),
                rule_data_schema: String::new(),
                parameter_schema: String::new(),
                default_rule_data: String::new(),
            }
        }

        fn requests(_: &Rules, _: &[serde_json::Value]) -> Vec<FactRequest> {
            let attrs = [
                ("product", ValueType::Text),
                ("count", ValueType::Integer),
                ("seen", ValueType::Time),
            ];
            vec![crate::facts::request(
                "installation",
                &attrs,
                Selection::States,
            )]
        }

        fn evaluate(
            input: &Evaluation,
            _: &Rules,
            _: &[serde_json::Value],
            facts: &Facts<'_>,
        ) -> Outcome {
            let kind = facts.kind("installation").expect("requested");
            let days = input.products[0]
                .days
                .iter()
                .map(|day| {
                    let seen: Vec<String> = kind
                        .states()
                        .filter(|s| s.from() < day.end && s.to() > day.start)
                        .map(|s| {
                            format!(
                                "{}:{}:{:?}:{:?}",
                                s.key(),
                                s.text("product").unwrap_or("-"),
                                s.int("count"),
                                s.time("seen")
                            )
                        })
                        .collect();
                    DayResult {
                        product: input.products[0].product.id.clone(),
                        date: day.date.clone(),
                        metric: String::new(),
                        partition: String::new(),
                        quantity: seen.len().to_string(),
                        peak_at: day.start,
                        measures: Vec::new(),
                        contributors: Vec::new(),
                        explanation: seen,
                        warnings: Vec::new(),
                        bundle_claims: Vec::new(),
                    }
                })
                .collect();
            Outcome {
                days,
                errors: Vec::new(),
            }
        }
    }

    #[test]
    fn states_reach_the_metric_as_the_host_encodes_them() {
        let mut input = TestInput::new::<Echo>(r#"{"ok": true}"#, &[("db", "{}")]);
        input
            .state(
                "installation",
                "b",
                "2026-11-03T12:00:00Z",
                None,
                &[("product", "db"), ("seen", "2026-11-03T12:00:00Z")],
            )
            .state(
                "installation",
                "a",
                "2026-11-01T00:00:00Z",
                Some("2026-11-04T00:00:00Z"),
                &[("product", "db"), ("count", "7")],
            );
        let outcome = input.evaluate::<Echo>("2026-11-03", "2026-11-05");
        let days: Vec<(&str, &str)> = outcome
            .days
            .iter()
            .map(|d| (d.date.as_str(), d.quantity.as_str()))
            .collect();
        assert_eq!(days, [("2026-11-03", "2"), ("2026-11-04", "1")]);
        let seen = millis("2026-11-03T12:00:00Z");
        assert_eq!(
            outcome.days[0].explanation,
            [
                "a:db:Some(7):None".to_string(),
                format!("b:db:None:Some({seen})")
            ]
        );
        assert_eq!(outcome.days[0].peak_at, midnight("2026-11-03"));
        assert_eq!(seen - midnight("2026-11-03"), 12 * 3_600_000);
    }

    #[test]
    #[should_panic(expected = "attribute \"colour\" of kind \"installation\" was not requested")]
    fn an_attribute_not_requested_panics_naming_it() {
        let mut input = TestInput::new::<Echo>(r#"{"ok": true}"#, &[("db", "{}")]);
        input.state(
            "installation",
            "a",
            "2026-11-01T00:00:00Z",
            None,
            &[("colour", "red")],
        );
    }

    #[test]
    #[should_panic(expected = "prepare refused the test input")]
    fn a_refused_input_panics_with_the_error() {
        TestInput::new::<Echo>(r#"{"ok": false}"#, &[]);
    }
}
