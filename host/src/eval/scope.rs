//! What a scoped reader sees: a product as if only the consumers in its scope existed.
//!
//! A scope is a set of groups under one organisation attribute (`cost_center ∈ {CC1, CC2}`).
//! Each day's quantity is split among that day's contributors exactly as chargeback splits it
//! (SPEC §4.8.2: weights scaled to the day's quantity, per partition), and the scope keeps the
//! part of its own contributors. The period rules then run on those scoped days unchanged, so
//! a scoped high-water mark is the scope's own peak (as an ILMT computer group's is), and a
//! distinct-union count counts only the scope's identities.
//!
//! Nothing outside the scope survives: contributors, explanation lines and warnings of a
//! scoped day name only the scope's consumers (explanations and warnings name units and
//! servers of every consumer, so they are replaced by one line saying how the day was scoped).

use licmetric_sdk::Exact;
use licmetric_sdk::allocate::{Share, share, whole};
use licmetric_sdk::result::identity_name;

use super::{EvalError, ProductDays};
use crate::store::results::DayRecord;

pub use crate::store::scope::Scope;

/// `days` restricted to `scope`: each day record keeps its in-scope contributors and the
/// in-scope share of its quantity. Costs one pass over the records; no plugin call. The days
/// must carry their details (`Detail::All`).
/// A failed day keeps its error code and loses the text, which names facts of any group.
pub fn restrict(mut days: ProductDays, scope: &Scope) -> ProductDays {
    for (_, result) in &mut days.days {
        match result {
            Ok(records) => {
                for record in records.iter_mut() {
                    restrict_record(record, scope);
                }
            }
            Err(e) => *e = redact(e.clone()),
        }
    }
    days
}

/// An evaluation error as a scoped reader may see it: what failed (product, plugin, error
/// code, rule section), not which fact or what it said. A product fails for every scope when
/// any of its facts is at fault, whoever's it is.
pub fn redact(e: EvalError) -> EvalError {
    const HIDDEN: &str =
        "details name facts outside a scoped reader's view; an unscoped reader sees them";
    match e {
        EvalError::Rule {
            plugin,
            product,
            code,
            date,
            section,
            ..
        } => EvalError::Rule {
            plugin,
            product,
            code,
            message: HIDDEN.into(),
            date,
            fact_kind: None,
            fact_key: None,
            attribute: None,
            at: None,
            section,
        },
        EvalError::PluginFailure { plugin, kind, .. } => EvalError::PluginFailure {
            message: format!("{plugin}: plugin failure ({kind}); {HIDDEN}"),
            plugin,
            kind,
        },
        EvalError::Storage(_) => EvalError::Storage(HIDDEN.into()),
        other @ (EvalError::NoPlugin { .. } | EvalError::Product { .. }) => other,
    }
}

fn restrict_record(record: &mut DayRecord, scope: &Scope) {
    let weight = |w: &str| -> Share { share(w.parse::<Exact>().unwrap_or(Exact::ZERO)) };
    let all: Share = record.contributors.iter().map(|c| weight(&c.weight)).sum();
    record.contributors.retain(|c| scope.admits(&c.attrs));
    // A distinct-union day counts the scope's identities: those of its kept contributors.
    if !record.identities.is_empty() {
        record.identities = record
            .contributors
            .iter()
            .map(|c| identity_name(&c.kind, &c.key))
            .collect();
    }
    let mine: Share = record.contributors.iter().map(|c| weight(&c.weight)).sum();
    let quantity = share(record.quantity.parse::<Exact>().unwrap_or(Exact::ZERO));
    let scoped = if all == whole(0) {
        whole(0)
    } else {
        quantity * &mine / &all
    };
    record.quantity = share_to_exact(&scoped).to_string();
    // The whole day's peak instant is another group's as likely as ours: the scope's is the
    // earliest instant one of its contributors peaked at (the day's start when it has none).
    record.peak_at = record
        .contributors
        .iter()
        .map(|c| c.at.clone())
        .min()
        .unwrap_or_else(|| format!("{}T00:00:00Z", record.date));
    // Measures are per-product totals (e.g. named_distinct); only their scoped counterparts
    // can be told, which the period rules derive from the kept contributors.
    record.measures.clear();
    // No figure of the whole day: it would tell what the other groups consumed.
    record.explanation = vec![format!(
        "scoped to {scope}: this scope's share of the day's quantity, by contributor weight (SPEC §4.8.2)"
    )];
    record.warnings.clear();
}

/// `s` as an [`Exact`]; a share too fine for one is rounded half up to millionths.
fn share_to_exact(s: &Share) -> Exact {
    licmetric_sdk::allocate::exact(s).unwrap_or_else(|| {
        let millionths = (s * whole(1_000_000) + Share::new(1.into(), 2.into())).floor();
        let n = i128::try_from(millionths.to_integer()).unwrap_or(i128::MAX);
        Exact::ratio(n, 1_000_000)
    })
}
