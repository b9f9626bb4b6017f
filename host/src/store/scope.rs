//! A reader token's scope: the groups it may see under one organisation attribute
//! (`cost_center=CC1,CC2`). Stored with its token; what a scope admits of a product's figures
//! is `eval::scope`'s.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::records::check_group_by;

/// A set of groups under one organisation attribute (SPEC §4.8.1's `group_by` names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub attribute: String,
    pub groups: BTreeSet<String>,
}

impl Scope {
    /// Parses `attribute=group[,group…]`, e.g. `cost_center=CC1,CC2`.
    pub fn parse(text: &str) -> Result<Scope, String> {
        let (attribute, groups) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?} is not attribute=group[,group…]"))?;
        let attribute = attribute.trim();
        check_group_by(attribute)?;
        let groups: BTreeSet<String> = groups
            .split(',')
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect();
        if groups.is_empty() {
            return Err(format!("{text:?} names no group"));
        }
        Ok(Scope {
            attribute: attribute.to_string(),
            groups,
        })
    }

    /// Whether a contributor with these resolved attributes is in the scope.
    pub fn admits(&self, attrs: &std::collections::BTreeMap<String, String>) -> bool {
        attrs
            .get(&self.attribute)
            .is_some_and(|g| self.groups.contains(g))
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        write!(f, "{}={}", self.attribute, groups.join(","))
    }
}
