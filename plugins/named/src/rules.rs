//! Rule data and product parameters of the named metric (SPEC §3.5.1), validated strictly: an
//! unknown key, a wrong type or an unknown choice names its JSON pointer (SPEC §5.3).

use licmetric_sdk::config;
use licmetric_sdk::types::ProductRef;
use serde::Deserialize;

/// The plugin's name, as rule-data errors cite it.
pub const PLUGIN: &str = "named";

/// Rule data has nothing to tune: it only names the version every result cites.
pub const DEFAULT_RULE_DATA: &str = r#"{"version":"named-1"}"#;

pub const RULE_DATA_SCHEMA: &str = r#"{
  "type": "object", "required": ["version"], "additionalProperties": false,
  "properties": {"version": {"type": "string"}}
}"#;

pub const PARAMETER_SCHEMA: &str = r#"{
  "type": "object", "additionalProperties": false,
  "properties": {
    "license_type": {"type": "string"},
    "basis": {"enum": ["assignment", "installation_user"]},
    "compliance_quantity": {"enum": ["named_peak_active", "named_distinct"]}
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleData {
    #[allow(dead_code)]
    pub version: String,
}

impl config::RuleDocument for RuleData {
    const SECTION: Option<&'static str> = Some("SPEC §3.5.1");
}

/// Where identities come from (SPEC §3.5.1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Distinct users of active assignments of the licence type.
    #[default]
    Assignment,
    /// Installation owners (or their devices) and the users of sessions on those devices.
    InstallationUser,
}

impl Basis {
    pub fn name(self) -> &'static str {
        match self {
            Basis::Assignment => "assignment",
            Basis::InstallationUser => "installation_user",
        }
    }
}

/// Which of the two daily quantities is the product's compliance quantity (SPEC §3.5.1 step 4).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compliance {
    #[default]
    NamedPeakActive,
    NamedDistinct,
}

impl Compliance {
    /// The code name of the declared metric the quantity counts (the day result's `metric`), so
    /// that the host applies that metric's period rule (HWM or distinct union).
    pub fn metric(self) -> &'static str {
        match self {
            Compliance::NamedPeakActive => crate::PEAK_METRIC,
            Compliance::NamedDistinct => crate::DISTINCT_METRIC,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    #[serde(default)]
    pub license_type: Option<String>,
    #[serde(default)]
    pub basis: Basis,
    #[serde(default)]
    pub compliance_quantity: Compliance,
}

impl config::ParameterDocument for Parameters {
    const SECTION: Option<&'static str> = Some("SPEC §3.5.1");
}

/// A product's settings with the defaults applied.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The licence type assignments and sessions must carry (default: the product id).
    pub license_type: String,
    pub basis: Basis,
    pub compliance: Compliance,
}

impl Settings {
    /// `product`'s parameters with the defaults applied.
    pub fn of(product: &ProductRef, p: &Parameters) -> Settings {
        Settings {
            license_type: p.license_type.clone().unwrap_or_else(|| product.id.clone()),
            basis: p.basis,
            compliance: p.compliance_quantity,
        }
    }
}
