//! Rule data and product parameters of the concurrent metric (SPEC §3.4.2), validated strictly:
//! an unknown key or a wrong type names its JSON pointer.

use std::collections::BTreeMap;

use licmetric_sdk::RuleError;
use serde::Deserialize;

/// The reserved licence type that selects the ALL CONCURRENT aggregate.
pub const AGGREGATE: &str = "license_type.aggregated.cc.all";

pub const RULE_DATA_SCHEMA: &str = r#"{
  "type": "object", "required": ["version"], "additionalProperties": false,
  "properties": {
    "version": {"type": "string"},
    "denial_fold_s": {"type": "integer", "minimum": 0},
    "aggregate_types": {"type": ["array", "null"], "items": {"type": "string"}},
    "license_types": {"type": "object", "additionalProperties": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "linger_publisher_s": {"type": "integer", "minimum": 0},
        "linger_operator_s": {"type": "integer", "minimum": 0},
        "dup_group": {"type": "array", "items": {"enum": ["user", "host", "display"]}}}}}
  }
}"#;

pub const PARAMETER_SCHEMA: &str = r#"{
  "type": "object", "additionalProperties": false,
  "properties": {"license_type": {"type": "string"}}
}"#;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleData {
    #[allow(dead_code)]
    pub version: String,
    #[serde(default)]
    pub denial_fold_s: Option<u64>,
    #[serde(default)]
    pub aggregate_types: Option<Vec<String>>,
    #[serde(default)]
    pub license_types: BTreeMap<String, LicenseType>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseType {
    #[serde(default)]
    pub linger_publisher_s: u64,
    #[serde(default)]
    pub linger_operator_s: u64,
    #[serde(default)]
    pub dup_group: Vec<String>,
}

impl LicenseType {
    /// An operator may lengthen the publisher's linger, never shorten it.
    pub fn linger_ms(&self) -> i64 {
        (self.linger_publisher_s.max(self.linger_operator_s) as i64).saturating_mul(1000)
    }
}

static NO_SETTINGS: LicenseType = LicenseType {
    linger_publisher_s: 0,
    linger_operator_s: 0,
    dup_group: Vec::new(),
};

impl licmetric_sdk::config::RuleDocument for RuleData {
    const SECTION: Option<&'static str> = Some("SPEC §3.4.2");

    fn check(&self) -> Result<(), RuleError> {
        let rules = self;
        for (name, t) in &rules.license_types {
            for (i, attribute) in t.dup_group.iter().enumerate() {
                if !matches!(attribute.as_str(), "user" | "host" | "display") {
                    return Err(RuleError::new(
                        "rule_data_invalid",
                        format!(
                            "/license_types/{name}/dup_group/{i}: {attribute:?} is not one of user, host, display"
                        ),
                    )
                    .section("SPEC §3.4.1"));
                }
            }
        }
        Ok(())
    }
}

impl RuleData {
    /// Settings of a licence type; a type absent from the rule data has no linger and no grouping.
    pub fn license_type(&self, name: &str) -> &LicenseType {
        self.license_types.get(name).unwrap_or(&NO_SETTINGS)
    }

    pub fn max_linger_ms(&self) -> i64 {
        self.license_types
            .values()
            .map(LicenseType::linger_ms)
            .max()
            .unwrap_or(0)
    }

    pub fn denial_fold_ms(&self) -> i64 {
        (self.denial_fold_s.unwrap_or(10) as i64).saturating_mul(1000)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    #[serde(default)]
    pub license_type: Option<String>,
}

impl licmetric_sdk::config::ParameterDocument for Parameters {
    const SECTION: Option<&'static str> = Some("SPEC §3.4.2");
}
