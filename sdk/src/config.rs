//! Rule data and product parameters (SPEC §3.0): strict parsing whose errors name the JSON
//! path at fault, as `rule_data_invalid` / `product_parameter_invalid` (SPEC §5.3).

use serde::de::DeserializeOwned;

use crate::RuleError;
use crate::types::ProductRef;

/// A plugin's rule-data document ([`crate::Metric::RuleData`]): parsed strictly by the SDK
/// once per call, then checked for what its type alone cannot say.
pub trait RuleDocument: DeserializeOwned {
    /// The rule section a parse error cites (`SPEC §3.5.1`), if any.
    const SECTION: Option<&'static str> = None;

    /// Rules across fields; an error is `rule_data_invalid` naming the JSON pointer
    /// ([`invalid_rule_data`]). None by default.
    fn check(&self) -> Result<(), RuleError> {
        Ok(())
    }
}

/// A product's parameters ([`crate::Metric::Parameters`]), likewise.
pub trait ParameterDocument: DeserializeOwned {
    /// The rule section a parse error cites, if any.
    const SECTION: Option<&'static str> = None;

    /// Rules across fields; an error is `product_parameter_invalid` naming the product. None by
    /// default.
    fn check(&self, _product: &ProductRef) -> Result<(), RuleError> {
        Ok(())
    }
}

/// Reads a rule-data document as the SDK does before every call: strictly (an error names the
/// JSON pointer, citing the type's section), then [`RuleDocument::check`].
pub fn read_rules<T: RuleDocument>(plugin: &str, text: &str) -> Result<T, RuleError> {
    let rules: T = rule_data(plugin, text).map_err(|e| cite(e, T::SECTION))?;
    rules.check()?;
    Ok(rules)
}

/// Reads a product's parameters as the SDK does before every call.
pub fn read_parameters<T: ParameterDocument>(product: &ProductRef) -> Result<T, RuleError> {
    let p: T = parameters(product).map_err(|e| cite(e, T::SECTION))?;
    p.check(product)?;
    Ok(p)
}

fn cite(e: RuleError, section: Option<&str>) -> RuleError {
    match section {
        Some(s) => e.section(s),
        None => e,
    }
}

/// Any JSON: for a plugin that takes no rule data or parameters, or reads them itself.
impl RuleDocument for serde_json::Value {}
impl ParameterDocument for serde_json::Value {}

/// Parses a rule-data document; an error names the path, e.g. `/table/0/max_sockets`.
pub fn rule_data<T: DeserializeOwned>(plugin: &str, text: &str) -> Result<T, RuleError> {
    parse(text).map_err(|m| RuleError::new("rule_data_invalid", format!("{plugin} rule data: {m}")))
}

/// Parses a product's parameters (an empty text reads as `{}`).
pub fn parameters<T: DeserializeOwned>(product: &ProductRef) -> Result<T, RuleError> {
    let text = if product.parameters.trim().is_empty() {
        "{}"
    } else {
        &product.parameters
    };
    parse(text).map_err(|m| {
        RuleError::new(
            "product_parameter_invalid",
            format!("parameters of product {}: {m}", product.id),
        )
        .product(&product.id)
    })
}

/// An error for a value that parsed but breaks a rule, at `pointer`.
pub fn invalid_rule_data(plugin: &str, pointer: &str, reason: impl std::fmt::Display) -> RuleError {
    RuleError::new(
        "rule_data_invalid",
        format!("{plugin} rule data: {pointer}: {reason}"),
    )
}

fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        use serde_path_to_error::Segment;
        let mut pointer = String::new();
        for segment in e.path().iter() {
            match segment {
                Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
                Segment::Map { key } => pointer.push_str(&format!("/{key}")),
                Segment::Enum { variant } => pointer.push_str(&format!("/{variant}")),
                Segment::Unknown => pointer.push_str("/?"),
            }
        }
        if pointer.is_empty() {
            pointer.push('/');
        }
        format!("{pointer}: {}", e.inner())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        version: String,
        #[serde(default)]
        rows: Vec<Row>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Row {
        rate: u32,
    }

    #[test]
    fn errors_name_the_json_path() {
        let e = rule_data::<Doc>("pvu", r#"{"version":"1","rows":[{"rate":1},{"rate":"x"}]}"#)
            .unwrap_err();
        assert_eq!(e.0.code, "rule_data_invalid");
        assert!(e.0.message.contains("/rows/1/rate"), "{}", e.0.message);
        let e = rule_data::<Doc>("pvu", r#"{"version":"1","colour":1}"#).unwrap_err();
        assert!(e.0.message.contains("colour"), "{}", e.0.message);
    }
}
