//! The pvu plugin's rule data (SPEC §3.1.2): the PVU table, operator overrides and the default
//! and cloud rates, and the rate lookup of a server or node.
//!
//! The table is data loaded from IBM's current PVU table, never code. The default document
//! (`DEFAULT_RULE_DATA`) carries only the rows SPEC.md lists; operators must load the real one.

use std::collections::BTreeMap;

use licmetric_sdk::RuleError;
use licmetric_sdk::config;
use licmetric_subcapacity::Rate;
use serde::Deserialize;

pub const DEFAULT_RULE_DATA: &str = r#"{
  "version": "ibm-pvu-2026-01-09",
  "default_pvu_per_core": 120,
  "cloud_pvu_per_vcpu": 70,
  "overrides": {},
  "table": [
    { "vendor": "IBM", "brand": "POWER10", "server_models": ["E1080"], "max_sockets": ">4", "pvu_per_core": 120 },
    { "vendor": "IBM", "brand": "POWER10", "server_models": ["E1050"], "pvu_per_core": 100 }
  ]
}"#;

pub const RULE_DATA_SCHEMA: &str = r#"{
  "type": "object", "required": ["version"], "additionalProperties": false,
  "properties": {
    "version": {"type": "string"},
    "default_pvu_per_core": {"type": "integer", "minimum": 1},
    "cloud_pvu_per_vcpu": {"type": "integer", "minimum": 1},
    "overrides": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
    "regions": {"type": "array", "items": {"type": "string"}},
    "table": {"type": "array", "items": {
      "type": "object", "required": ["vendor", "brand", "pvu_per_core"], "additionalProperties": false,
      "properties": {
        "vendor": {"type": "string"}, "brand": {"type": "string"},
        "server_models": {"type": "array", "items": {"type": "string"}},
        "processor_models": {"type": "array", "items": {"type": "string"}},
        "max_sockets": {"type": "string", "pattern": "^(all|[0-9]+|<=[0-9]+|>[0-9]+)$"},
        "pvu_per_core": {"type": "integer", "minimum": 1}}}}
  }
}"#;

/// The parsed rule data.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleData {
    #[allow(dead_code)]
    pub version: String,
    #[serde(default = "default_rate")]
    pub default_pvu_per_core: u32,
    #[serde(default = "cloud_rate")]
    pub cloud_pvu_per_vcpu: u32,
    #[serde(default)]
    pub overrides: BTreeMap<String, u32>,
    /// Regions besides IBM's 1, 2 and 3 the operator accepts without a warning.
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub table: Vec<Row>,
}

fn default_rate() -> u32 {
    120
}

fn cloud_rate() -> u32 {
    70
}

/// One row of the PVU table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub vendor: String,
    pub brand: String,
    #[serde(default)]
    pub server_models: Option<Vec<String>>,
    #[serde(default)]
    pub processor_models: Option<Vec<String>>,
    #[serde(default)]
    pub max_sockets: Option<String>,
    pub pvu_per_core: u32,
}

/// A socket condition on `max_sockets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sockets {
    All,
    Exactly(i64),
    AtMost(i64),
    MoreThan(i64),
}

impl Sockets {
    fn parse(text: &str) -> Option<Sockets> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("all") {
            return Some(Sockets::All);
        }
        let (make, digits): (fn(i64) -> Sockets, &str) = if let Some(n) = t.strip_prefix("<=") {
            (Sockets::AtMost, n)
        } else if let Some(n) = t.strip_prefix('>') {
            (Sockets::MoreThan, n)
        } else {
            (Sockets::Exactly, t)
        };
        digits.trim().parse().ok().map(make)
    }

    /// `None`: cannot be decided because the server's `max_sockets` is absent.
    fn holds(self, max_sockets: Option<i64>) -> Option<bool> {
        match (self, max_sockets) {
            (Sockets::All, _) => Some(true),
            (_, None) => None,
            (Sockets::Exactly(n), Some(s)) => Some(s == n),
            (Sockets::AtMost(n), Some(s)) => Some(s <= n),
            (Sockets::MoreThan(n), Some(s)) => Some(s > n),
        }
    }
}

/// What the table is matched against: a server's or a node's processor.
pub struct Processor<'a> {
    pub vendor: Option<&'a str>,
    pub brand: Option<&'a str>,
    pub model: Option<&'a str>,
    pub server_model: Option<&'a str>,
    pub max_sockets: Option<i64>,
}

/// Case-insensitive after trimming; an entry ending in `*` matches as a prefix.
fn same(pattern: &str, value: Option<&str>) -> bool {
    let Some(value) = value else {
        return false;
    };
    let (p, v) = (pattern.trim().to_lowercase(), value.trim().to_lowercase());
    match p.strip_suffix('*') {
        Some(prefix) => v.starts_with(prefix),
        None => p == v,
    }
}

fn in_list(list: &Option<Vec<String>>, value: Option<&str>) -> bool {
    match list {
        None => true,
        Some(entries) => entries.iter().any(|e| same(e, value)),
    }
}

impl RuleData {
    /// The rate of a server or node at an instant (SPEC §3.1.2 steps 3–7).
    pub fn rate(
        &self,
        what: &str,
        key: &str,
        override_allowed: bool,
        reported: Option<i64>,
        p: &Processor<'_>,
    ) -> Rate {
        if override_allowed {
            if let Some(rate) = self.overrides.get(key) {
                return Rate {
                    per_core: *rate as i64,
                    warning: None,
                };
            }
        }
        if let Some(rate) = reported.filter(|r| *r > 0) {
            return Rate {
                per_core: rate,
                warning: None,
            };
        }
        let candidates: Vec<&Row> = self
            .table
            .iter()
            .filter(|r| {
                same(&r.vendor, p.vendor)
                    && same(&r.brand, p.brand)
                    && in_list(&r.server_models, p.server_model)
                    && in_list(&r.processor_models, p.model)
            })
            .collect();
        let socket = |r: &Row| {
            r.max_sockets
                .as_deref()
                .and_then(Sockets::parse)
                .unwrap_or(Sockets::All)
                .holds(p.max_sockets)
        };
        if let Some(row) = candidates.iter().find(|r| socket(r) == Some(true)) {
            return Rate {
                per_core: row.pvu_per_core as i64,
                warning: None,
            };
        }
        let described = [p.vendor, p.brand, p.model, p.server_model]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if p.max_sockets.is_none() {
            if let Some(best) = candidates
                .iter()
                .filter(|r| socket(r).is_none())
                .map(|r| r.pvu_per_core)
                .max()
            {
                return Rate {
                    per_core: best as i64,
                    warning: Some(format!(
                        "pvu_rate_socket_assumed: {what} {key} ({described}) has no max_sockets; the highest rate of its table rows applies, {best} PVU per core (SPEC §3.1.2)"
                    )),
                };
            }
        }
        Rate {
            per_core: self.default_pvu_per_core as i64,
            warning: Some(format!(
                "pvu_rate_unidentified: {what} {key} ({}) matches no PVU table row; {} PVU per core (SPEC §3.1.2)",
                if described.is_empty() {
                    "no processor data"
                } else {
                    &described
                },
                self.default_pvu_per_core
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn power(model: &str, sockets: Option<i64>) -> Processor<'_> {
        Processor {
            vendor: Some(" ibm "),
            brand: Some("Power10"),
            model: None,
            server_model: Some(model),
            max_sockets: sockets,
        }
    }

    #[test]
    fn default_table_matches_case_insensitively_with_socket_conditions() {
        let rules = config::read_rules::<RuleData>("pvu", DEFAULT_RULE_DATA).unwrap();
        let r = rules.rate("server", "p1", true, None, &power("e1080", Some(8)));
        assert_eq!(
            r,
            Rate {
                per_core: 120,
                warning: None
            }
        );
        let r = rules.rate("server", "p2", true, None, &power("E1050", Some(4)));
        assert_eq!(r.per_core, 100);
        // E1080 with 4 sockets fails ">4" and no other row matches: unidentified.
        let r = rules.rate("server", "p3", true, None, &power("E1080", Some(4)));
        assert_eq!(r.per_core, 120);
        assert!(r.warning.unwrap().starts_with("pvu_rate_unidentified"));
        // Unknown sockets: the highest rate of the rows that match on all but sockets.
        let r = rules.rate("server", "p4", true, None, &power("E1080", None));
        assert_eq!(r.per_core, 120);
        assert!(r.warning.unwrap().starts_with("pvu_rate_socket_assumed"));
    }

    #[test]
    fn override_then_collector_then_table() {
        let rules = config::read_rules::<RuleData>("pvu",
            r#"{"version":"t","overrides":{"esx-12":70},"table":[{"vendor":"Intel","brand":"Xeon","processor_models":["E5-26*"],"pvu_per_core":70}]}"#,
        )
        .unwrap();
        let xeon = Processor {
            vendor: Some("Intel"),
            brand: Some("Xeon"),
            model: Some("E5-2690 v4"),
            server_model: None,
            max_sockets: Some(2),
        };
        assert_eq!(
            rules
                .rate("server", "esx-12", true, Some(100), &xeon)
                .per_core,
            70
        );
        assert_eq!(
            rules
                .rate("server", "esx-1", true, Some(100), &xeon)
                .per_core,
            100
        );
        assert_eq!(
            rules.rate("server", "esx-1", true, None, &xeon),
            Rate {
                per_core: 70,
                warning: None
            }
        );
        assert_eq!(
            rules.rate("node", "esx-12", false, None, &xeon).per_core,
            70
        );
    }

    #[test]
    fn invalid_rows_name_their_path() {
        let e = config::read_rules::<RuleData>("pvu", r#"{"version":"t","table":[{"vendor":"IBM","brand":"P","pvu_per_core":1,"max_sockets":"4+"}]}"#).unwrap_err();
        assert!(
            e.0.message.contains("/table/0/max_sockets"),
            "{}",
            e.0.message
        );
        let e = config::read_rules::<RuleData>("pvu", r#"{"version":"t","tabel":[]}"#).unwrap_err();
        assert_eq!(e.0.code, "rule_data_invalid");
    }
}

impl config::RuleDocument for RuleData {
    fn check(&self) -> Result<(), RuleError> {
        let rules = self;
        if rules.default_pvu_per_core == 0 {
            return Err(config::invalid_rule_data(
                "pvu",
                "/default_pvu_per_core",
                "must be at least 1",
            ));
        }
        if rules.cloud_pvu_per_vcpu == 0 {
            return Err(config::invalid_rule_data(
                "pvu",
                "/cloud_pvu_per_vcpu",
                "must be at least 1",
            ));
        }
        for (key, rate) in &rules.overrides {
            if *rate == 0 {
                return Err(config::invalid_rule_data(
                    "pvu",
                    &format!("/overrides/{key}"),
                    "must be at least 1",
                ));
            }
        }
        for (i, row) in rules.table.iter().enumerate() {
            if row.pvu_per_core == 0 {
                return Err(config::invalid_rule_data(
                    "pvu",
                    &format!("/table/{i}/pvu_per_core"),
                    "must be at least 1",
                ));
            }
            if let Some(s) = &row.max_sockets {
                if Sockets::parse(s).is_none() {
                    return Err(config::invalid_rule_data(
                        "pvu",
                        &format!("/table/{i}/max_sockets"),
                        format!("{s:?} is not \"all\", \"N\", \"<=N\" or \">N\""),
                    ));
                }
            }
        }
        Ok(())
    }
}
