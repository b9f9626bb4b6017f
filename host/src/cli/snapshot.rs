//! `licmetric snapshot verify FILE [--public-key HEX]`: checks an audit snapshot's checksums
//! and signature and says what it checked.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::snapshot;

/// What `licmetric snapshot` does.
#[derive(Subcommand)]
pub enum SnapshotCommand {
    /// Recompute every checksum of a snapshot zip and check the signature of checksums.txt;
    /// exits 0 when all hold, 1 naming the first file that fails.
    Verify {
        file: PathBuf,
        /// The service's public key (hex). Without it, the key inside the zip is used, which
        /// proves the zip is whole but not who made it.
        #[arg(long)]
        public_key: Option<String>,
    },
}

/// Runs a snapshot command; returns the exit code.
pub fn run(command: SnapshotCommand) -> anyhow::Result<i32> {
    match command {
        SnapshotCommand::Verify { file, public_key } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            match snapshot::verify(&bytes, public_key.as_deref()) {
                Ok(verified) => {
                    for (name, hash) in &verified.files {
                        println!("ok  {name}  sha256 {hash}");
                    }
                    println!(
                        "ok  {}  Ed25519 signature of {} with public key {}{}",
                        snapshot::SIGNATURE,
                        snapshot::CHECKSUMS,
                        verified.public_key,
                        if public_key.is_some() {
                            " (the given key)"
                        } else {
                            " (the key in the zip)"
                        }
                    );
                    println!("{}: good", file.display());
                    Ok(0)
                }
                Err(failure) => {
                    eprintln!("licmetric: {}: FAILED: {failure}", file.display());
                    Ok(1)
                }
            }
        }
    }
}
