//! The oracle-processor rule data (SPEC §3.3.2) and product parameters (SPEC §3.3.1): strict
//! parsing whose errors name the JSON pointer at fault, the core factor of a server, and the
//! per-edition settings (socket basis, NUP minimums, edition limits).
//!
//! The core factor table is data loaded from Oracle's Processor Core Factor Table, never code.
//! `DEFAULT_RULE_DATA` is SPEC §3.3.2's example document (its `db-host-3` override included)
//! plus a few more rows of that table after the example's.

use std::collections::BTreeMap;

use licmetric_sdk::estate::Server;
use licmetric_sdk::serde_json::Value;
use licmetric_sdk::types::ProductRef;
use licmetric_sdk::{Exact, RuleError, config};
use serde::{Deserialize, Deserializer};

use licmetric_sdk::fail;

/// The plugin's name, as errors and `describe` give it.
pub const PLUGIN: &str = "oracle-processor";

pub const DEFAULT_RULE_DATA: &str = r#"{
  "version": "oracle-cft-2009-03-16",
  "partitioning_scope": "cluster",
  "default_core_factor": "1.0",
  "core_factors": [
    { "vendor": "Intel", "brand": "Xeon", "processor_models": ["E5-26*", "E7-88*"], "factor": "0.5" },
    { "vendor": "HP", "brand": "PA-RISC", "factor": "0.75" },
    { "vendor": "Intel", "brand": "Xeon", "factor": "0.5" },
    { "vendor": "AMD", "brand": "EPYC", "factor": "0.5" },
    { "vendor": "AMD", "brand": "Opteron", "factor": "0.5" },
    { "vendor": "IBM", "brand": "POWER8", "factor": "1.0" },
    { "vendor": "IBM", "brand": "POWER9", "factor": "1.0" },
    { "vendor": "IBM", "brand": "POWER10", "factor": "1.0" }
  ],
  "overrides": { "db-host-3": "0.5" },
  "socket_editions": ["SE", "SE1", "SE2"],
  "nup_minimum": { "EE": { "per_processor": 25 }, "SE2": { "per_server": 10, "cloud_block_vcpus": 8 },
                   "SE": { "per_server": 5 }, "SE1": { "per_server": 5 } },
  "edition_limits": { "SE": { "max_sockets": 4, "max_cloud_vcpus": 16 }, "SE2": { "max_sockets": 2, "max_cloud_vcpus": 8 } },
  "uncapped_lpar": "virtual_processors",
  "chargeback_key": "installed_vcpus"
}"#;

pub const RULE_DATA_SCHEMA: &str = r##"{
  "type": "object", "required": ["version"], "additionalProperties": false,
  "$defs": {
    "factor": {"oneOf": [
      {"type": "string", "pattern": "^\\s*\\+?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$"},
      {"type": "number", "exclusiveMinimum": 0}]},
    "count": {"type": "integer", "minimum": 0}
  },
  "properties": {
    "version": {"type": "string"},
    "partitioning_scope": {"enum": ["host", "cluster", "vcenter", "all"]},
    "default_core_factor": {"$ref": "#/$defs/factor"},
    "core_factors": {"type": "array", "items": {
      "type": "object", "required": ["vendor", "brand", "factor"], "additionalProperties": false,
      "properties": {
        "vendor": {"type": "string"}, "brand": {"type": "string"},
        "processor_models": {"type": "array", "items": {"type": "string"}},
        "factor": {"$ref": "#/$defs/factor"}}}},
    "overrides": {"type": "object", "additionalProperties": {"$ref": "#/$defs/factor"}},
    "socket_editions": {"type": "array", "items": {"type": "string"}},
    "nup_minimum": {"type": "object", "additionalProperties": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "per_processor": {"$ref": "#/$defs/count"},
        "per_server": {"$ref": "#/$defs/count"},
        "cloud_block_vcpus": {"type": "integer", "minimum": 1}}}},
    "edition_limits": {"type": "object", "additionalProperties": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "max_sockets": {"$ref": "#/$defs/count"},
        "max_cloud_vcpus": {"$ref": "#/$defs/count"}}}},
    "uncapped_lpar": {"enum": ["virtual_processors", "pool", "server"]},
    "chargeback_key": {"enum": ["installed_vcpus", "equal_split"]}
  }
}"##;

pub const PARAMETER_SCHEMA: &str = r#"{
  "type": "object", "additionalProperties": false,
  "properties": {
    "measure": {"enum": ["processor", "nup"]},
    "license_type": {"type": "string", "minLength": 1},
    "processors_of": {"type": "string", "minLength": 1}
  }
}"#;

/// An exact, positive decimal read from a JSON string or number (SPEC §1.6, §2.1).
///
/// Parsed through `serde_json::Value` so that it works whether or not serde_json's
/// `arbitrary_precision` is enabled in the build (the host enables it): with it the number's text
/// is kept as written; without it the shortest text that reads back as the same binary value is
/// used, which is the text written for any decimal of up to 15 significant digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Factor(pub Exact);

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = match Value::deserialize(d)? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other => {
                return Err(D::Error::custom(format!(
                    "expected a decimal (string or number), found {other}"
                )));
            }
        };
        if text.contains('/') {
            return Err(D::Error::custom(format!(
                "{text:?} is not a decimal (write it as digits)"
            )));
        }
        text.parse::<Exact>()
            .map(Factor)
            .map_err(|e| D::Error::custom(e.to_string()))
    }
}

/// Which servers a soft-partitioned vm makes licensable (SPEC §3.3.1 step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Host,
    #[default]
    Cluster,
    Vcenter,
    All,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Host => "host",
            Scope::Cluster => "cluster",
            Scope::Vcenter => "vcenter",
            Scope::All => "all",
        }
    }
}

/// How an uncapped LPAR counts (SPEC §3.3.1 step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncappedLpar {
    #[default]
    VirtualProcessors,
    Pool,
    Server,
}

impl UncappedLpar {
    pub fn name(self) -> &'static str {
        match self {
            UncappedLpar::VirtualProcessors => "virtual_processors",
            UncappedLpar::Pool => "pool",
            UncappedLpar::Server => "server",
        }
    }
}

/// How a scope's value is shared among its installations (SPEC §3.3.2, §3.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargebackKey {
    #[default]
    InstalledVcpus,
    EqualSplit,
}

/// One row of the core factor table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorRow {
    pub vendor: String,
    pub brand: String,
    #[serde(default)]
    pub processor_models: Option<Vec<String>>,
    pub factor: Factor,
}

/// NUP minimums of an edition (SPEC §3.3.1 step 12).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NupMinimum {
    /// Core basis: NUP per processor.
    pub per_processor: Option<u32>,
    /// Socket basis: NUP per licensed server (and per cloud block).
    pub per_server: Option<u32>,
    /// Socket basis in the cloud: vCPUs per block; absent = one block per instance.
    pub cloud_block_vcpus: Option<u32>,
}

/// Limits of an edition (checked, never enforced: warning `edition_limit_exceeded`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditionLimit {
    pub max_sockets: Option<u32>,
    pub max_cloud_vcpus: Option<u32>,
}

/// The parsed rule data. Absent keys take SPEC §3.3.2's example values.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleData {
    #[allow(dead_code)]
    pub version: String,
    #[serde(default)]
    pub partitioning_scope: Scope,
    #[serde(default = "one")]
    pub default_core_factor: Factor,
    #[serde(default)]
    pub core_factors: Vec<FactorRow>,
    #[serde(default)]
    pub overrides: BTreeMap<String, Factor>,
    #[serde(default = "socket_editions")]
    pub socket_editions: Vec<String>,
    #[serde(default = "nup_minimum")]
    pub nup_minimum: BTreeMap<String, NupMinimum>,
    #[serde(default = "edition_limits")]
    pub edition_limits: BTreeMap<String, EditionLimit>,
    #[serde(default)]
    pub uncapped_lpar: UncappedLpar,
    #[serde(default)]
    pub chargeback_key: ChargebackKey,
}

fn one() -> Factor {
    Factor(Exact::ONE)
}

fn socket_editions() -> Vec<String> {
    ["SE", "SE1", "SE2"].map(String::from).to_vec()
}

fn nup_minimum() -> BTreeMap<String, NupMinimum> {
    let m = |per_processor, per_server, cloud_block_vcpus| NupMinimum {
        per_processor,
        per_server,
        cloud_block_vcpus,
    };
    BTreeMap::from([
        ("EE".into(), m(Some(25), None, None)),
        ("SE2".into(), m(None, Some(10), Some(8))),
        ("SE".into(), m(None, Some(5), None)),
        ("SE1".into(), m(None, Some(5), None)),
    ])
}

fn edition_limits() -> BTreeMap<String, EditionLimit> {
    let l = |s, c| EditionLimit {
        max_sockets: Some(s),
        max_cloud_vcpus: Some(c),
    };
    BTreeMap::from([("SE".into(), l(4, 16)), ("SE2".into(), l(2, 8))])
}

/// A JSON-pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
fn segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Case-insensitive after trimming (SPEC §2.1); an entry ending in `*` matches as a prefix.
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

/// The edition an installation counts under: its `edition`, `EE` when absent (SPEC §2.7).
pub fn edition_of(edition: Option<&str>) -> &str {
    edition
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .unwrap_or("EE")
}

/// A server's core factor and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreFactor {
    pub factor: Exact,
    /// `core_factor_unidentified` when the default applied.
    pub warning: Option<String>,
}

impl config::RuleDocument for RuleData {
    /// Factors above 0, cloud blocks of at least 1 vCPU (`rule_data_invalid` naming the pointer).
    fn check(&self) -> Result<(), RuleError> {
        let rules = self;
        let positive = |pointer: &str, f: &Factor| {
            if f.0 > Exact::ZERO {
                Ok(())
            } else {
                Err(config::invalid_rule_data(
                    PLUGIN,
                    pointer,
                    format!("factor {} must be greater than 0", f.0),
                ))
            }
        };
        positive("/default_core_factor", &rules.default_core_factor)?;
        for (i, row) in rules.core_factors.iter().enumerate() {
            positive(&format!("/core_factors/{i}/factor"), &row.factor)?;
        }
        for (key, f) in &rules.overrides {
            positive(&format!("/overrides/{}", segment(key)), f)?;
        }
        for (edition, m) in &rules.nup_minimum {
            if m.cloud_block_vcpus == Some(0) {
                return Err(config::invalid_rule_data(
                    PLUGIN,
                    &format!("/nup_minimum/{}/cloud_block_vcpus", segment(edition)),
                    "must be at least 1",
                ));
            }
        }
        Ok(())
    }
}

impl RuleData {
    /// True when `edition` counts occupied sockets (SPEC §3.3.1).
    pub fn socket_basis(&self, edition: &str) -> bool {
        self.socket_editions.iter().any(|e| same(e, Some(edition)))
    }

    /// The NUP minimums of `edition` (none when the rule data names none).
    pub fn minimum(&self, edition: &str) -> NupMinimum {
        self.nup_minimum
            .iter()
            .find(|(k, _)| same(k, Some(edition)))
            .map(|(_, m)| *m)
            .unwrap_or_default()
    }

    /// The limits of `edition` (none when the rule data names none).
    pub fn limit(&self, edition: &str) -> EditionLimit {
        self.edition_limits
            .iter()
            .find(|(k, _)| same(k, Some(edition)))
            .map(|(_, l)| *l)
            .unwrap_or_default()
    }

    /// The core factor of server `key` at `at` (SPEC §3.3.2), first applicable wins:
    /// `overrides[key]` → `server.core_factor` → first matching row → `default_core_factor`
    /// with `core_factor_unidentified`.
    pub fn core_factor(
        &self,
        key: &str,
        server: &Server<'_>,
        at: i64,
    ) -> Result<CoreFactor, RuleError> {
        if let Some(f) = self.overrides.get(key) {
            return Ok(CoreFactor {
                factor: f.0,
                warning: None,
            });
        }
        let section = "SPEC §3.3.2";
        if let Some(f) = fail::decimal(server.core_factor, "server", key, "core_factor", at)? {
            if f <= Exact::ZERO {
                return Err(fail::invalid(
                    "server",
                    key,
                    "core_factor",
                    at,
                    section,
                    format!("core_factor {f} of server {key:?} is not greater than 0"),
                ));
            }
            return Ok(CoreFactor {
                factor: f,
                warning: None,
            });
        }
        let row = self.core_factors.iter().find(|r| {
            same(&r.vendor, server.processor_vendor)
                && same(&r.brand, server.processor_brand)
                && r.processor_models
                    .as_ref()
                    .is_none_or(|models| models.iter().any(|m| same(m, server.processor_model)))
        });
        if let Some(row) = row {
            return Ok(CoreFactor {
                factor: row.factor.0,
                warning: None,
            });
        }
        let described = [
            server.processor_vendor,
            server.processor_brand,
            server.processor_model,
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let factor = self.default_core_factor.0;
        Ok(CoreFactor {
            factor,
            warning: Some(format!(
                "core_factor_unidentified: server {key} ({}) matches no core factor row; default factor {factor} (SPEC §3.3.2)",
                if described.is_empty() {
                    "no processor data"
                } else {
                    &described
                }
            )),
        })
    }
}

/// What a product counts (SPEC §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    #[default]
    Processor,
    Nup,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParameters {
    #[serde(default)]
    pub measure: Measure,
    license_type: Option<String>,
    processors_of: Option<String>,
}

/// A product's parameters with their defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameters {
    pub measure: Measure,
    /// Assignments counted for `nup` (default: the product id).
    pub license_type: String,
    /// The product whose installations and daily processor count set the NUP minimum
    /// (default: the product itself). Ignored for `processor`.
    pub processors_of: String,
}

impl config::ParameterDocument for RawParameters {
    /// `license_type` and `processors_of` may be absent, never empty.
    fn check(&self, product: &ProductRef) -> Result<(), RuleError> {
        let id = product.id.as_str();
        for (name, value) in [
            ("license_type", &self.license_type),
            ("processors_of", &self.processors_of),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(RuleError::new(
                    "product_parameter_invalid",
                    format!("parameters of product {id}: /{name}: must not be empty"),
                )
                .product(id));
            }
        }
        Ok(())
    }
}

impl Parameters {
    /// `product`'s parameters with their defaults applied.
    pub fn of(product: &ProductRef, raw: &RawParameters) -> Parameters {
        let or_id = |v: &Option<String>| v.clone().unwrap_or_else(|| product.id.clone());
        Parameters {
            measure: raw.measure,
            license_type: or_id(&raw.license_type),
            processors_of: or_id(&raw.processors_of),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server<'a>(vendor: &'a str, brand: &'a str, model: &'a str) -> Server<'a> {
        Server {
            cores: Some(8),
            sockets: Some(2),
            max_sockets: None,
            processor_vendor: Some(vendor),
            processor_brand: Some(brand),
            processor_model: Some(model),
            server_model: None,
            threads_per_core: None,
            pvu_per_core: None,
            core_factor: None,
            region: None,
            cluster: None,
            vcenter: None,
            cloud: None,
            hypervisor_data: true,
            organisation: Default::default(),
        }
    }

    #[test]
    fn default_rule_data_parses_with_the_example_rows() {
        let r = config::read_rules::<RuleData>(PLUGIN, DEFAULT_RULE_DATA).unwrap();
        assert_eq!(r.partitioning_scope, Scope::Cluster);
        assert_eq!(r.default_core_factor.0, Exact::ONE);
        let f = r
            .core_factor("x", &server(" intel ", "XEON", "E5-2690 v4"), 0)
            .unwrap();
        assert_eq!(f.factor, Exact::ratio(1, 2));
        assert_eq!(f.warning, None);
        let hp = r
            .core_factor("x", &server("HP", "PA-RISC", "8900"), 0)
            .unwrap();
        assert_eq!(hp.factor, Exact::ratio(3, 4));
        let sparc = r
            .core_factor("x", &server("Oracle", "SPARC", "M8"), 0)
            .unwrap();
        assert_eq!(sparc.factor, Exact::ONE);
        assert!(
            sparc
                .warning
                .unwrap()
                .starts_with("core_factor_unidentified:")
        );
        assert!(r.socket_basis("se2") && !r.socket_basis("EE"));
        assert_eq!(r.minimum("SE2").cloud_block_vcpus, Some(8));
        assert_eq!(r.limit("SE2").max_cloud_vcpus, Some(8));
    }

    #[test]
    fn override_then_collector_then_rows() {
        let r = config::read_rules::<RuleData>(PLUGIN,
            r#"{"version":"t","overrides":{"db-host-3":0.25},"core_factors":[{"vendor":"HP","brand":"PA-RISC","factor":0.75}]}"#,
        )
        .unwrap();
        let mut s = server("HP", "PA-RISC", "x");
        assert_eq!(
            r.core_factor("db-host-3", &s, 0).unwrap().factor,
            Exact::ratio(1, 4)
        );
        assert_eq!(
            r.core_factor("h", &s, 0).unwrap().factor,
            Exact::ratio(3, 4)
        );
        s.core_factor = Some(Ok(Exact::ratio(1, 2)));
        assert_eq!(
            r.core_factor("h", &s, 0).unwrap().factor,
            Exact::ratio(1, 2)
        );
        s.core_factor = Some(Ok(Exact::ZERO));
        assert_eq!(
            r.core_factor("h", &s, 0).unwrap_err().0.code,
            "invalid_value"
        );
    }

    #[test]
    fn invalid_rule_data_names_the_pointer() {
        let cases = [
            (
                r#"{"version":"t","core_factors":[{"vendor":"a","brand":"b","factor":"0"}]}"#,
                "/core_factors/0/factor",
            ),
            (
                r#"{"version":"t","core_factors":[{"vendor":"a","brand":"b","factor":"x"}]}"#,
                "/core_factors/0/factor",
            ),
            (
                r#"{"version":"t","core_factors":[{"vendor":"a","brand":"b","factor":"1/3"}]}"#,
                "/core_factors/0/factor",
            ),
            (
                r#"{"version":"t","overrides":{"h/1":-1}}"#,
                "/overrides/h~11",
            ),
            (
                r#"{"version":"t","partitioning_scope":"rack"}"#,
                "/partitioning_scope",
            ),
            (
                r#"{"version":"t","uncapped_lpar":"always"}"#,
                "/uncapped_lpar",
            ),
            (r#"{"version":"t","chargeback_key":"x"}"#, "/chargeback_key"),
            (
                r#"{"version":"t","nup_minimum":{"SE2":{"per_server":10,"cloud_block_vcpus":0}}}"#,
                "/nup_minimum/SE2/cloud_block_vcpus",
            ),
            (
                r#"{"version":"t","nup_minimum":{"EE":{"per_cpu":25}}}"#,
                "/nup_minimum/EE",
            ),
            (
                r#"{"version":"t","edition_limits":{"SE":{"max_sockets":-1}}}"#,
                "/edition_limits/SE/max_sockets",
            ),
            (
                r#"{"version":"t","default_core_factor":true}"#,
                "/default_core_factor",
            ),
            (r#"{"version":"t","colour":1}"#, "colour"),
            (r#"{"partitioning_scope":"host"}"#, "version"),
        ];
        for (text, pointer) in cases {
            let e = config::read_rules::<RuleData>(PLUGIN, text).unwrap_err();
            assert_eq!(e.0.code, "rule_data_invalid", "{text}");
            assert!(e.0.message.contains(pointer), "{text}: {}", e.0.message);
        }
    }

    fn parse_parameters(product: &ProductRef) -> Result<Parameters, RuleError> {
        config::read_parameters::<RawParameters>(product).map(|raw| Parameters::of(product, &raw))
    }

    #[test]
    fn parameters_are_strict_with_defaults() {
        let p = |json: &str| ProductRef {
            id: "ora".into(),
            parameters: json.into(),
        };
        assert_eq!(
            parse_parameters(&p("")).unwrap(),
            Parameters {
                measure: Measure::Processor,
                license_type: "ora".into(),
                processors_of: "ora".into()
            }
        );
        let nup = parse_parameters(&p(r#"{"measure":"nup","processors_of":"ora-ee"}"#)).unwrap();
        assert_eq!(nup.measure, Measure::Nup);
        assert_eq!(nup.processors_of, "ora-ee");
        for (json, pointer) in [
            (r#"{"measure":"cores"}"#, "/measure"),
            (r#"{"licence_type":"x"}"#, "licence_type"),
            (r#"{"license_type":""}"#, "/license_type"),
            (r#"{"processors_of":7}"#, "/processors_of"),
        ] {
            let e = parse_parameters(&p(json)).unwrap_err();
            assert_eq!(e.0.code, "product_parameter_invalid");
            assert_eq!(e.0.product.as_deref(), Some("ora"));
            assert!(e.0.message.contains(pointer), "{json}: {}", e.0.message);
        }
    }
}
