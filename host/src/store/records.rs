//! Operator-defined records (SPEC §5.6): products, bundles, and each plugin's rule data.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Store;
use super::numbers::{ClaimError, Numbered};

/// A product: what is counted, by which plugin, and how its figures are reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub id: String,
    /// The product's stable integer id (ILMT's `product_id`), assigned when it is first
    /// stored ([`super::numbers`]); a record may only send the one it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Plugin binding `name@requirement`, e.g. `concurrent@^1`.
    pub metric: String,
    #[serde(default = "empty_object")]
    pub parameters: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleMembership>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<Entitlement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chargeback: Option<ChargebackConfig>,
    /// IANA time zone of the product's days (SPEC §1.1); UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// A product's place in a bundle (Cloud Pak, FlexPoints) with its `a:b` ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleMembership {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<String>,
}

/// Licensed quantity and price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entitlement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_unit: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// How a product's period quantity and cost are shared among groups (SPEC §4.8.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargebackConfig {
    #[serde(default)]
    pub approach: Approach,
    /// `namespace_group`, `cost_center`, `location` or `corporate_unit`; default `cost_center`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
    /// Group → percent, for `fixed_percentage` (Σ ≤ 100; the rest is `unallocated`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub percentages: BTreeMap<String, Value>,
}

/// A chargeback approach (SPEC §4.8.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approach {
    #[default]
    ByConsumptionAtPeak,
    ByOwnPeak,
    EqualSplit,
    FixedPercentage,
}

impl std::str::FromStr for Approach {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(Value::String(s.to_string())).map_err(|_| {
            format!(
                "{s:?} is not an approach (by_consumption_at_peak, by_own_peak, equal_split, \
                 fixed_percentage)"
            )
        })
    }
}

impl Approach {
    /// The name used in records and answers.
    pub fn name(self) -> &'static str {
        match self {
            Approach::ByConsumptionAtPeak => "by_consumption_at_peak",
            Approach::ByOwnPeak => "by_own_peak",
            Approach::EqualSplit => "equal_split",
            Approach::FixedPercentage => "fixed_percentage",
        }
    }
}

/// The attributes chargeback may group by (SPEC §4.8.1).
pub const GROUP_BY: &[&str] = &[
    "namespace_group",
    "cost_center",
    "location",
    "corporate_unit",
];

/// Checks a `group_by` value.
pub fn check_group_by(group_by: &str) -> Result<(), String> {
    if GROUP_BY.contains(&group_by) {
        Ok(())
    } else {
        Err(format!(
            "{group_by:?} is not a grouping attribute ({})",
            GROUP_BY.join(", ")
        ))
    }
}

/// An exact, non-negative decimal from a JSON number or string (SPEC §2.1 `dec`).
pub fn exact_value(value: &Value) -> Result<licmetric_sdk::Exact, String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(format!("{other} is not a number")),
    };
    match text.parse::<licmetric_sdk::Exact>() {
        Ok(e) if e >= licmetric_sdk::Exact::ZERO => Ok(e),
        _ => Err(format!("{text:?} is not a non-negative exact decimal")),
    }
}

/// `threshold`, else the entitlement's quantity (SPEC §5.6).
fn threshold_of(
    threshold: Option<&Value>,
    entitlement: Option<&Entitlement>,
) -> Option<licmetric_sdk::Exact> {
    threshold
        .or(entitlement.and_then(|e| e.quantity.as_ref()))
        .and_then(|v| exact_value(v).ok())
}

impl Bundle {
    /// The licensed quantity the bundle's usage is compared with, as a product's.
    pub fn threshold(&self) -> Option<licmetric_sdk::Exact> {
        threshold_of(self.threshold.as_ref(), self.entitlement.as_ref())
    }
}

/// Stores an operator record as JSON under its id, flushed before the answer.
fn put_record<T: Serialize>(tree: &sled::Tree, id: &str, value: &T) -> anyhow::Result<()> {
    tree.insert(id.as_bytes(), serde_json::to_vec(value)?)?;
    tree.flush()?;
    Ok(())
}

/// One operator record, if stored.
fn record<T: DeserializeOwned>(tree: &sled::Tree, id: &str) -> anyhow::Result<Option<T>> {
    Ok(match tree.get(id.as_bytes())? {
        Some(v) => Some(serde_json::from_slice(&v)?),
        None => None,
    })
}

/// Every operator record of a tree, by id.
fn records<T: DeserializeOwned>(tree: &sled::Tree) -> anyhow::Result<Vec<T>> {
    tree.iter()
        .map(|item| Ok(serde_json::from_slice(&item?.1)?))
        .collect()
}

/// Checks the threshold, entitlement and chargeback fields products and bundles share.
pub fn validate_terms(
    threshold: Option<&Value>,
    entitlement: Option<&Entitlement>,
    chargeback: Option<&ChargebackConfig>,
) -> Result<(), String> {
    if let Some(t) = threshold {
        exact_value(t).map_err(|e| format!("threshold: {e}"))?;
    }
    if let Some(e) = entitlement {
        if let Some(q) = &e.quantity {
            exact_value(q).map_err(|e| format!("entitlement.quantity: {e}"))?;
        }
        if let Some(c) = &e.cost_per_unit {
            exact_value(c).map_err(|e| format!("entitlement.cost_per_unit: {e}"))?;
        }
        if let Some(c) = &e.currency
            && (c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(format!(
                "entitlement.currency: {c:?} is not an ISO 4217 code such as \"USD\""
            ));
        }
    }
    if let Some(cb) = chargeback {
        if let Some(g) = &cb.group_by {
            check_group_by(g).map_err(|e| format!("chargeback.group_by: {e}"))?;
        }
        let mut sum = licmetric_sdk::Exact::ZERO;
        for (group, percent) in &cb.percentages {
            sum = sum
                + exact_value(percent)
                    .map_err(|e| format!("chargeback.percentages.{group}: {e}"))?;
        }
        if sum > licmetric_sdk::Exact::int(100) {
            return Err(format!(
                "chargeback.percentages: they add up to {sum}, more than 100"
            ));
        }
        if cb.approach == Approach::FixedPercentage && cb.percentages.is_empty() {
            return Err("chargeback.percentages: fixed_percentage needs at least one".into());
        }
    }
    Ok(())
}

/// A bundle record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub id: String,
    /// The bundle's stable integer id (ILMT's `bundle_id`), as a product's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metric_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<Entitlement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chargeback: Option<ChargebackConfig>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

impl Product {
    /// The licensed quantity usage is compared with: `threshold`, else the entitlement's
    /// quantity (SPEC §5.6).
    pub fn threshold(&self) -> Option<licmetric_sdk::Exact> {
        threshold_of(self.threshold.as_ref(), self.entitlement.as_ref())
    }

    /// The plugin name and version requirement of `metric` (`concurrent@^1` → `concurrent`, `^1`).
    pub fn binding(&self) -> Result<(String, semver::VersionReq), String> {
        let (name, req) = self.metric.split_once('@').unwrap_or((&self.metric, "*"));
        let req = semver::VersionReq::parse(req)
            .map_err(|e| format!("metric {:?}: version requirement {req:?}: {e}", self.metric))?;
        if name.is_empty() {
            return Err(format!("metric {:?}: no plugin name", self.metric));
        }
        Ok((name.to_string(), req))
    }

    /// Checks the fields the host itself interprets.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("id: must not be empty".into());
        }
        self.binding()?;
        if !self.parameters.is_object() {
            return Err("parameters: must be a JSON object".into());
        }
        if let Some(tz) = &self.timezone {
            tz.parse::<chrono_tz::Tz>()
                .map_err(|_| format!("timezone: {tz:?} is not an IANA time zone"))?;
        }
        validate_terms(
            self.threshold.as_ref(),
            self.entitlement.as_ref(),
            self.chargeback.as_ref(),
        )?;
        if let Some(ratio) = self.bundle.as_ref().and_then(|b| b.ratio.as_deref()) {
            super::fact::parse_ratio(ratio).map_err(|e| format!("bundle.ratio: {e}"))?;
        }
        Ok(())
    }
}

impl Store {
    /// Stores (or replaces) a product record with its number ([`Store::claim_number`]: a
    /// [`super::numbers::NumberConflict`] when it sends one that is not its own) and returns what was stored.
    pub fn put_product(&self, product: &Product) -> Result<Product, ClaimError> {
        let numeric_id =
            Some(self.claim_number(Numbered::Product, &product.id, product.numeric_id)?);
        let product = Product {
            numeric_id,
            ..product.clone()
        };
        put_record(&self.products, &product.id, &product)?;
        self.bump_records_generation();
        Ok(product)
    }

    /// One product.
    pub fn product(&self, id: &str) -> anyhow::Result<Option<Product>> {
        record(&self.products, id)
    }

    /// Every product, by id.
    pub fn products(&self) -> anyhow::Result<Vec<Product>> {
        records(&self.products)
    }

    /// Stores (or replaces) a bundle record with its number, as [`Store::put_product`].
    pub fn put_bundle(&self, bundle: &Bundle) -> Result<Bundle, ClaimError> {
        let numeric_id =
            Some(self.claim_number(Numbered::Bundle, &bundle.id, bundle.numeric_id)?);
        let bundle = Bundle {
            numeric_id,
            ..bundle.clone()
        };
        put_record(&self.bundles, &bundle.id, &bundle)?;
        self.bump_records_generation();
        Ok(bundle)
    }

    /// Gives the records stored before numbers existed theirs (in id order), once, at open.
    pub(crate) fn number_unnumbered_records(&self) -> anyhow::Result<()> {
        for mut p in self.products()? {
            if p.numeric_id.is_none() {
                p.numeric_id = Some(self.number(Numbered::Product, &p.id)?);
                put_record(&self.products, &p.id, &p)?;
            }
        }
        for mut b in self.bundles()? {
            if b.numeric_id.is_none() {
                b.numeric_id = Some(self.number(Numbered::Bundle, &b.id)?);
                put_record(&self.bundles, &b.id, &b)?;
            }
        }
        Ok(())
    }

    /// One bundle.
    pub fn bundle(&self, id: &str) -> anyhow::Result<Option<Bundle>> {
        record(&self.bundles, id)
    }

    /// Every bundle, by id.
    pub fn bundles(&self) -> anyhow::Result<Vec<Bundle>> {
        records(&self.bundles)
    }

    /// Remembers the data-quality warnings of a product's computed day (SPEC §5.4), newest
    /// per (product, code), for the health endpoint.
    pub fn note_warnings(
        &self,
        product: &str,
        date: &str,
        warnings: &[String],
    ) -> anyhow::Result<()> {
        for w in warnings {
            let code = w.split(':').next().unwrap_or(w);
            let key = format!("warning/{product}/{code}");
            let value =
                serde_json::json!({"product": product, "code": code, "message": w, "date": date});
            self.meta
                .insert(key.as_bytes(), serde_json::to_vec(&value)?)?;
        }
        Ok(())
    }

    /// The newest warning per (product, code).
    pub fn warnings(&self) -> anyhow::Result<Vec<Value>> {
        self.meta
            .scan_prefix(b"warning/")
            .map(|item| Ok(serde_json::from_slice(&item?.1)?))
            .collect()
    }

    /// Stores a plugin's rule-data document (already validated by the plugin): it is in force
    /// from now on, and kept under its version (see [`rule_data_version`]) for re-evaluating
    /// past periods. Callers refuse a changed document under a version already kept (the
    /// daily results are cached by version), so the kept one is never replaced by another.
    pub fn put_rule_data(&self, plugin: &str, document: &str) -> anyhow::Result<()> {
        let version = rule_data_version(document);
        self.rule_data_history
            .insert(history_key(plugin, &version), document.as_bytes())?;
        self.rule_data
            .insert(plugin.as_bytes(), document.as_bytes())?;
        self.rule_data_history.flush()?;
        self.rule_data.flush()?;
        self.bump_records_generation();
        Ok(())
    }

    /// A plugin's rule data, if an operator loaded any.
    pub fn rule_data(&self, plugin: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .rule_data
            .get(plugin.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The rule-data document an operator loaded for `plugin` under `version`, in force or
    /// not (documents loaded before versions were kept are found while they are in force).
    /// The plugin's default is not stored: it comes with the plugin. One or two sled reads.
    pub fn rule_data_version(&self, plugin: &str, version: &str) -> anyhow::Result<Option<String>> {
        if let Some(kept) = self.rule_data_history.get(history_key(plugin, version))? {
            return Ok(Some(String::from_utf8_lossy(&kept).into_owned()));
        }
        Ok(self
            .rule_data(plugin)?
            .filter(|in_force| rule_data_version(in_force) == version))
    }

    /// The versions of every rule-data document loaded for `plugin`, in byte order.
    pub fn rule_data_versions(&self, plugin: &str) -> anyhow::Result<Vec<String>> {
        let prefix = history_key(plugin, "");
        self.rule_data_history
            .scan_prefix(&prefix)
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?[prefix.len()..]).into_owned()))
            .collect()
    }
}

/// The `version` member of a rule-data document ("unversioned" when absent or not JSON): the
/// key the daily results are cached under, what results name as their rule-data version, and
/// the key a loaded document is kept under.
pub fn rule_data_version(document: &str) -> String {
    serde_json::from_str::<Value>(document)
        .ok()
        .and_then(|v| v.get("version").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| "unversioned".into())
}

/// `plugin NUL version`: a plugin name never holds a NUL, so one plugin's keys are a prefix.
fn history_key(plugin: &str, version: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(plugin.len() + 1 + version.len());
    key.extend_from_slice(plugin.as_bytes());
    key.push(0);
    key.extend_from_slice(version.as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_loaded_rule_data_document_is_kept_under_its_version() {
        let store = Store::temporary().unwrap();
        let v1 = r#"{"version": "v1", "rate": 1}"#;
        let v2 = r#"{"version": "v2", "rate": 2}"#;
        store.put_rule_data("pvu", v1).unwrap();
        store.put_rule_data("pvu", v2).unwrap();
        store.put_rule_data("pvux", r#"{"version": "v9"}"#).unwrap();
        assert_eq!(store.rule_data("pvu").unwrap().as_deref(), Some(v2));
        assert_eq!(
            store.rule_data_version("pvu", "v1").unwrap().as_deref(),
            Some(v1)
        );
        assert_eq!(
            store.rule_data_version("pvu", "v2").unwrap().as_deref(),
            Some(v2)
        );
        assert_eq!(store.rule_data_version("pvu", "v9").unwrap(), None);
        assert_eq!(store.rule_data_versions("pvu").unwrap(), ["v1", "v2"]);
        // A document in force from before versions were kept is still found by its version.
        let old = r#"{"version": "v0"}"#;
        store.rule_data.insert("old", old).unwrap();
        assert_eq!(
            store.rule_data_version("old", "v0").unwrap().as_deref(),
            Some(old)
        );
        assert_eq!(store.rule_data_version("old", "v1").unwrap(), None);
    }
}
