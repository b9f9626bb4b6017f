//! The key that signs audit snapshots: an Ed25519 key made once per store from the system's
//! random source and kept in the `meta` tree, so every snapshot of one service verifies with
//! the same public key.

use anyhow::Context;
use ed25519_dalek::SigningKey;

use super::Store;

/// Where the signing key's 32 secret bytes live in the `meta` tree.
const KEY: &str = "snapshot/signing-key";

impl Store {
    /// The store's snapshot signing key, made (and flushed) on first use.
    pub fn snapshot_signing_key(&self) -> anyhow::Result<SigningKey> {
        if let Some(bytes) = self.meta.get(KEY)? {
            return key_from(&bytes);
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| anyhow::anyhow!("no randomness for the snapshot key: {e}"))?;
        // Two first snapshots at once: the first key stored wins, both use it.
        let stored = self
            .meta
            .compare_and_swap(KEY, None as Option<&[u8]>, Some(&secret[..]))?;
        let bytes = match stored {
            Ok(()) => {
                self.meta.flush().context("storing the snapshot key")?;
                secret.to_vec()
            }
            Err(e) => e.current.map(|v| v.to_vec()).unwrap_or_default(),
        };
        key_from(&bytes)
    }
}

fn key_from(bytes: &[u8]) -> anyhow::Result<SigningKey> {
    let secret: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the stored snapshot key is not 32 bytes"))?;
    Ok(SigningKey::from_bytes(&secret))
}
