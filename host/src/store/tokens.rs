//! API tokens: who may call which routes and, for readers, which consumers they may see.
//!
//! A token is `lmt_<id>_<secret>`. Only the SHA-256 of the secret is stored, under the id, so a
//! copy of the store hands out no usable token; a presented secret's hash is compared with the
//! stored one in constant time. Secrets are 32 random bytes, so an unsalted hash is enough.

use std::str::FromStr;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Store;
use super::scope::Scope;

/// What a token may do. Roles are not nested except that `operator` also reads and `admin`
/// may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads figures: usage, chargeback, the compatible query APIs, snapshots.
    Reader,
    /// Sends facts.
    Ingest,
    /// Reads, and changes products, bundles, plugins and rule data.
    Operator,
    /// Everything, including tokens.
    Admin,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 4] = [Role::Reader, Role::Ingest, Role::Operator, Role::Admin];

    /// Whether a token of this role may call a route that needs `required`.
    pub fn allows(self, required: Role) -> bool {
        match self {
            Role::Admin => true,
            Role::Operator => matches!(required, Role::Reader | Role::Operator),
            Role::Ingest => required == Role::Ingest,
            Role::Reader => required == Role::Reader,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Ingest => "ingest",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("{s:?} is not a role (reader, ingest, operator, admin)"))
    }
}

/// A stored token: everything but the secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub role: Role,
    /// A scoped reader sees only consumers in these groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub created: String,
}

/// What the store keeps: the record and the hex SHA-256 of the secret (never shown).
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    record: TokenRecord,
    secret_sha256: String,
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    Ok(hex::encode(buf))
}

impl Store {
    /// Makes a token and returns it with its record; the token text is shown only here.
    /// A scope narrows what a reader sees; other roles change or send data for everyone and
    /// cannot be scoped.
    pub fn create_token(
        &self,
        role: Role,
        scope: Option<Scope>,
        label: Option<String>,
    ) -> anyhow::Result<(String, TokenRecord)> {
        if scope.is_some() && role != Role::Reader {
            anyhow::bail!(
                "--scope: only reader tokens can be scoped; a {} token acts on every consumer",
                role.name()
            );
        }
        let id = random_hex(6)?;
        let secret = random_hex(32)?;
        let record = TokenRecord {
            id: id.clone(),
            role,
            scope,
            label,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let stored = Stored {
            record: record.clone(),
            secret_sha256: digest(&secret),
        };
        self.tokens
            .insert(id.as_bytes(), serde_json::to_vec(&stored)?)?;
        self.tokens.flush()?;
        Ok((format!("lmt_{id}_{secret}"), record))
    }

    /// The record of a presented token, or None when it is not a valid token.
    pub fn authenticate(&self, token: &str) -> anyhow::Result<Option<TokenRecord>> {
        let Some((id, secret)) = token
            .strip_prefix("lmt_")
            .and_then(|rest| rest.split_once('_'))
        else {
            return Ok(None);
        };
        let Some(bytes) = self.tokens.get(id.as_bytes())? else {
            return Ok(None);
        };
        let stored: Stored =
            serde_json::from_slice(&bytes).with_context(|| format!("reading token record {id}"))?;
        let presented = digest(secret);
        let equal: bool = presented
            .as_bytes()
            .ct_eq(stored.secret_sha256.as_bytes())
            .into();
        Ok(equal.then_some(stored.record))
    }

    /// Every token's record (no secrets, no hashes).
    pub fn tokens(&self) -> anyhow::Result<Vec<TokenRecord>> {
        self.tokens
            .iter()
            .map(|item| Ok(serde_json::from_slice::<Stored>(&item?.1)?.record))
            .collect()
    }

    /// Removes a token; true when it existed.
    pub fn revoke_token(&self, id: &str) -> anyhow::Result<bool> {
        let existed = self.tokens.remove(id.as_bytes())?.is_some();
        self.tokens.flush()?;
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_authenticates_and_a_changed_one_does_not() {
        let store = Store::temporary().unwrap();
        let (token, record) = store.create_token(Role::Reader, None, None).unwrap();
        assert_eq!(store.authenticate(&token).unwrap().unwrap().id, record.id);
        let mut wrong = token.clone();
        wrong.pop();
        wrong.push('x');
        assert!(store.authenticate(&wrong).unwrap().is_none());
        assert!(store.authenticate("lmt_nope_nope").unwrap().is_none());
        assert!(store.authenticate("").unwrap().is_none());
        // The secret is not stored.
        let stored = String::from_utf8(
            store
                .tokens
                .get(record.id.as_bytes())
                .unwrap()
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(!stored.contains(token.rsplit('_').next().unwrap()));
    }

    #[test]
    fn only_readers_are_scoped() {
        let store = Store::temporary().unwrap();
        let scope = Scope::parse("cost_center=CC1").unwrap();
        assert!(
            store
                .create_token(Role::Admin, Some(scope.clone()), None)
                .is_err()
        );
        assert!(store.create_token(Role::Reader, Some(scope), None).is_ok());
    }

    #[test]
    fn roles_allow_what_they_say() {
        assert!(Role::Admin.allows(Role::Ingest));
        assert!(Role::Operator.allows(Role::Reader));
        assert!(!Role::Operator.allows(Role::Ingest));
        assert!(!Role::Operator.allows(Role::Admin));
        assert!(!Role::Reader.allows(Role::Operator));
        assert!(!Role::Ingest.allows(Role::Reader));
    }
}
