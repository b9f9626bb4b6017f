//! The store directory is its owner's alone: it holds the snapshot signing key and every token
//! hash, so another local user must not read it, and nobody else may write it.
//!
//! A new directory is created 0700; on every open the directory and everything in it are set to
//! 0700 (directories) and 0600 (files), before and after sled creates its files. A store that
//! someone else can write to is refused rather than repaired: whatever was written there cannot
//! be trusted any more.
//!
//! Cost: one walk over the store directory's entries (a handful of files) per open.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};

/// Creates `dir` (0700) if it does not exist; refuses one that group or others may write;
/// otherwise tightens what is in it.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the store directory {}", dir.display()))?;
    }
    refuse_writable_by_others(dir)?;
    tighten(dir)
}

fn refuse_writable_by_others(path: &Path) -> anyhow::Result<()> {
    let meta = fs::symlink_metadata(path)
        .with_context(|| format!("reading the permissions of {}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        bail!(
            "{} is writable by its group or by others (mode {:o}); the store holds the signing key \
             and token hashes, so licmetric does not open it. Check it was not tampered with, then \
             `chmod -R go-w {}`",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            refuse_writable_by_others(&entry?.path())?;
        }
    }
    Ok(())
}

/// Sets directories to 0700 and files to 0600, recursively.
pub fn tighten(path: &Path) -> anyhow::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = if meta.is_dir() { 0o700 } else { 0o600 };
    if meta.permissions().mode() & 0o777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("making {} private to its owner", path.display()))?;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            tighten(&entry?.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn every_entry(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                every_entry(&path, out);
            }
            out.push(path);
        }
    }

    #[test]
    fn a_new_store_is_private_to_its_owner() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let store = Store::open(&dir).unwrap();
        store.flush().unwrap();
        drop(store);
        assert_eq!(mode(&dir), 0o700);
        let mut entries = Vec::new();
        every_entry(&dir, &mut entries);
        assert!(!entries.is_empty());
        for path in entries {
            let want = if path.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(mode(&path), want, "{}", path.display());
        }
    }

    #[test]
    fn an_existing_readable_store_is_tightened_and_a_writable_one_refused() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        drop(Store::open(&dir).unwrap());
        // As stores were made before: 0755 and 0644.
        let mut entries = Vec::new();
        every_entry(&dir, &mut entries);
        for path in &entries {
            let m = if path.is_dir() { 0o755 } else { 0o644 };
            fs::set_permissions(path, fs::Permissions::from_mode(m)).unwrap();
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        drop(Store::open(&dir).unwrap());
        assert_eq!(mode(&dir), 0o700);
        for path in &entries {
            assert_eq!(mode(path) & 0o077, 0, "{}", path.display());
        }

        let db = entries.iter().find(|p| p.ends_with("db")).unwrap();
        fs::set_permissions(db, fs::Permissions::from_mode(0o666)).unwrap();
        let refused = Store::open(&dir)
            .err()
            .expect("a world-writable file is refused");
        let message = format!("{refused:#}");
        assert!(
            message.contains("writable by its group or by others"),
            "{message}"
        );
        assert!(message.contains(&db.display().to_string()), "{message}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(Store::open(&dir).is_err());
    }
}
