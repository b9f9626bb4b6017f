//! Stable integer ids of products and bundles. ILMT's clients decode `product_id`, `bundle_id`
//! and `flex_id` as integers, while licmetric's records are named by text ids; each record id
//! gets a number the first time it is stored (or, for a bundle only facts claim, first
//! reported), from 1 up, kept in the record, and never reused: a record deleted and stored
//! again gets its old number back. Products and bundles draw from one sequence, as ILMT's
//! catalogue does, so a bundle's parent row never shares a `product_id` with a product.
//!
//! The `numbers` tree holds, per kind, `id → number`; and for both, `number → kind and id` and
//! the next free number.
//! Assigning takes one lock and at most three sled writes; reading a kept number is one
//! lookup.

use super::Store;

/// What a number names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbered {
    Product,
    Bundle,
}

impl Numbered {
    fn tag(self) -> u8 {
        match self {
            Numbered::Product => b'p',
            Numbered::Bundle => b'b',
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Numbered::Product => "product",
            Numbered::Bundle => "bundle",
        }
    }
}

/// A record asked for a number that another record holds, or that is not its own.
#[derive(Debug, thiserror::Error)]
#[error("numeric_id: {0}")]
pub struct NumberConflict(pub String);

fn by_id(kind: Numbered, id: &str) -> Vec<u8> {
    let mut key = vec![kind.tag(), b'i'];
    key.extend_from_slice(id.as_bytes());
    key
}

fn by_number(number: u64) -> Vec<u8> {
    let mut key = vec![b'n'];
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// The next free number.
const NEXT: &[u8] = b"next";

fn decode(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().unwrap_or([0; 8]))
}

impl Store {
    /// The number kept for `id`, if it has one.
    pub fn kept_number(&self, kind: Numbered, id: &str) -> anyhow::Result<Option<u64>> {
        Ok(self.numbers.get(by_id(kind, id))?.map(|v| decode(&v)))
    }

    /// The number of `id`: the kept one, else the next free one, kept from now on.
    pub fn number(&self, kind: Numbered, id: &str) -> anyhow::Result<u64> {
        if let Some(n) = self.kept_number(kind, id)? {
            return Ok(n);
        }
        Ok(self.claim_number(kind, id, None)?)
    }

    /// The number `id` keeps, with `wanted` (a record's `numeric_id` as sent) checked: it must
    /// be the number `id` already has, or, for an id without one, a number no other id holds
    /// (so a record copied from another licmetric keeps its number).
    pub fn claim_number(
        &self,
        kind: Numbered,
        id: &str,
        wanted: Option<u64>,
    ) -> Result<u64, ClaimError> {
        let _guard = self.numbers_lock.lock().unwrap_or_else(|e| e.into_inner());
        let kept = self.kept_number(kind, id)?;
        match (kept, wanted) {
            (Some(n), None) => return Ok(n),
            (Some(n), Some(w)) if n == w => return Ok(n),
            (Some(n), Some(w)) => {
                return Err(NumberConflict(format!(
                    "{} {id:?} has number {n}, not {w} (numbers are assigned once)",
                    kind.noun()
                ))
                .into());
            }
            (None, _) => {}
        }
        let next = self.numbers.get(NEXT)?.map_or(1, |v| decode(&v));
        let number = match wanted {
            None => next,
            Some(0) => {
                return Err(NumberConflict(
                    "0 is not a number licmetric assigns (they start at 1; 0 means no bundle)"
                        .into(),
                )
                .into());
            }
            Some(w) => {
                if let Some(holder) = self.numbers.get(by_number(w))? {
                    let noun = if holder.first() == Some(&Numbered::Product.tag()) {
                        Numbered::Product.noun()
                    } else {
                        Numbered::Bundle.noun()
                    };
                    return Err(NumberConflict(format!(
                        "{w} is the number of {noun} {:?}",
                        String::from_utf8_lossy(holder.get(1..).unwrap_or_default())
                    ))
                    .into());
                }
                w
            }
        };
        let mut batch = sled::Batch::default();
        batch.insert(by_id(kind, id), &number.to_be_bytes());
        let mut holder = vec![kind.tag()];
        holder.extend_from_slice(id.as_bytes());
        batch.insert(by_number(number), holder);
        batch.insert(NEXT, &next.max(number + 1).to_be_bytes());
        self.numbers.apply_batch(batch)?;
        Ok(number)
    }
}

/// Why [`Store::claim_number`] gave no number.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(transparent)]
    Conflict(#[from] NumberConflict),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<sled::Error> for ClaimError {
    fn from(e: sled::Error) -> Self {
        ClaimError::Store(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_start_at_one_are_kept_and_never_reused() {
        let store = Store::temporary().unwrap();
        assert_eq!(store.number(Numbered::Product, "mq").unwrap(), 1);
        assert_eq!(store.number(Numbered::Product, "db2").unwrap(), 2);
        assert_eq!(store.number(Numbered::Product, "mq").unwrap(), 1);
        // Bundles draw from the same sequence; a bundle may share a product's text id.
        assert_eq!(store.number(Numbered::Bundle, "cp4i").unwrap(), 3);
        assert_eq!(store.number(Numbered::Bundle, "mq").unwrap(), 4);
        // A number sent with a new record is kept when free, and the count moves past it.
        assert_eq!(
            store
                .claim_number(Numbered::Product, "was", Some(40))
                .unwrap(),
            40
        );
        assert_eq!(store.number(Numbered::Product, "ace").unwrap(), 41);
        for (id, wanted) in [("mq", 7), ("new", 2), ("new", 3), ("other", 0)] {
            let e = store
                .claim_number(Numbered::Product, id, Some(wanted))
                .unwrap_err();
            assert!(matches!(e, ClaimError::Conflict(_)), "{id}: {e}");
        }
        assert_eq!(
            store
                .claim_number(Numbered::Product, "mq", Some(1))
                .unwrap(),
            1
        );
    }
}
