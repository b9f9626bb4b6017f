//! Builds guest crates (metric plugins) for wasm32-wasip2 from a build script.
//!
//! Shared by host/build.rs (the standard plugins) and tests/build.rs (the hostile test plugins)
//! through `#[path]`. Guests cannot share the host's target triple, so they build with the
//! workspace's `guest` profile in a target directory of their own (the outer cargo holds a lock
//! on its own). The wasm32-wasip2 target comes from rust-toolchain.toml via
//! `rustup toolchain install`, which the README's commands and .ci/run run first.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `packages` and returns the path of each one's `.wasm`, in the same order.
pub fn build(packages: &[&str]) -> Vec<PathBuf> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for watched in [
        "wit",
        "sdk/src",
        "sdk/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_relative() { root.join(d) } else { d })
        .unwrap_or_else(|| root.join("target"))
        .join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args([
            "build",
            "--profile",
            "guest",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command
        .status()
        .expect("run cargo to build the wasm plugins");
    assert!(
        status.success(),
        "building the wasm plugins {packages:?} failed; is the wasm32-wasip2 target installed? \
         Run `rustup toolchain install` in the repository root."
    );
    packages.iter().map(|p| wasm_path(&target_dir, p)).collect()
}

/// Watches a guest crate's sources, and the fixture folder each
/// `licmetric_sdk::bundle_example!("dir")` in them names, so the build script reruns when
/// either changes (the guest's own cargo tracks `include_bytes!`, but only once it runs).
pub fn watch(crate_dir: &Path) {
    println!("cargo:rerun-if-changed={}", crate_dir.join("src").display());
    println!(
        "cargo:rerun-if-changed={}",
        crate_dir.join("Cargo.toml").display()
    );
    for example in bundled_examples(crate_dir) {
        println!("cargo:rerun-if-changed={}", example.display());
    }
}

/// The folders named by `bundle_example!("…")` in the crate's `src/*.rs`.
fn bundled_examples(crate_dir: &Path) -> Vec<PathBuf> {
    const MACRO: &str = "bundle_example!(\"";
    let Ok(entries) = std::fs::read_dir(crate_dir.join("src")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for (at, _) in text.match_indices(MACRO) {
            let rest = &text[at + MACRO.len()..];
            if let Some(end) = rest.find('"') {
                found.push(crate_dir.join(&rest[..end]));
            }
        }
    }
    found
}

fn wasm_path(target_dir: &Path, package: &str) -> PathBuf {
    target_dir
        .join("wasm32-wasip2")
        .join("guest")
        .join(format!("{}.wasm", package.replace('-', "_")))
}
