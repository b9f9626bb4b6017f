//! Rule data and product parameters (SPEC §3.0): strict parsing whose errors name the JSON
//! path at fault, as `rule_data_invalid` / `product_parameter_invalid` (SPEC §5.3).

use serde::de::DeserializeOwned;

use crate::RuleError;
use crate::types::ProductRef;

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
