//! Which bundle a product counts in over a period, and with which ratio (SPEC §4.7.1): read
//! from its record and its facts' claims. Both the period rules (for its warnings) and the
//! bundle figures need it; it needs neither.

use super::{EvalError, ProductDays};
use crate::store::fact::parse_ratio;

/// Which bundle a product counts in, and with which ratio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub bundle: String,
    pub ratio: Option<String>,
}

/// A product's bundle over a period (SPEC §4.7.1): its configuration decides, and facts that
/// claim otherwise raise `bundle_ratio_conflict`; an unconfigured product takes the one bundle
/// its facts claim, and claims that disagree are `inconsistent_facts`. Returns the membership
/// and the warnings to report.
pub fn membership(days: &ProductDays) -> Result<(Option<Membership>, Vec<String>), EvalError> {
    let product = &days.product;
    let mut claims: Vec<Membership> = Vec::new();
    for (_, result) in &days.days {
        for record in result.iter().flatten() {
            for (bundle, ratio) in &record.bundle_claims {
                let claim = Membership {
                    bundle: bundle.clone(),
                    ratio: ratio.clone(),
                };
                if !claims.iter().any(|c| same_membership(c, &claim)) {
                    claims.push(claim);
                }
            }
        }
    }
    match &product.bundle {
        Some(configured) => {
            let configured = Membership {
                bundle: configured.id.clone(),
                ratio: configured.ratio.clone(),
            };
            let warnings = claims
                .iter()
                .filter(|c| !same_membership(c, &configured))
                .map(|c| {
                    format!(
                        "bundle_ratio_conflict: the facts of product {} claim bundle {} at {}; its configuration, {} at {}, decides (SPEC §4.7.1)",
                        product.id,
                        c.bundle,
                        c.ratio.as_deref().unwrap_or("1:1"),
                        configured.bundle,
                        configured.ratio.as_deref().unwrap_or("1:1")
                    )
                })
                .collect();
            Ok((Some(configured), warnings))
        }
        None if claims.len() > 1 => Err(EvalError::Rule {
            plugin: days.plugin.label(),
            product: product.id.clone(),
            code: "inconsistent_facts".into(),
            message: format!(
                "the facts of product {} claim different bundles or ratios ({}) and its configuration names none",
                product.id,
                claims
                    .iter()
                    .map(|c| format!("{} {}", c.bundle, c.ratio.as_deref().unwrap_or("1:1")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            date: None,
            fact_kind: None,
            fact_key: None,
            attribute: None,
            at: None,
            section: Some("SPEC §4.7.1".into()),
        }),
        None => Ok((claims.pop(), Vec::new())),
    }
}

fn same_membership(a: &Membership, b: &Membership) -> bool {
    let ratio = |m: &Membership| conversion(m.ratio.as_deref()).ok();
    a.bundle == b.bundle && ratio(a) == ratio(b)
}

/// `a:b` of a membership; none = 1:1.
pub fn conversion(ratio: Option<&str>) -> Result<(u64, u64), String> {
    match ratio {
        None => Ok((1, 1)),
        Some(r) => parse_ratio(r),
    }
}
