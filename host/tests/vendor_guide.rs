//! Follows docs/PLUGIN-GUIDE.md as a vendor would: its ```sh blocks, in order, in one `bash -e`
//! shell started in an empty folder with the `licmetric` just built on `PATH`. The guide makes a
//! plugin crate, tests and builds it, inspects and replays the component, then starts a service,
//! uploads the plugin, binds a product, ingests facts and checks the usage it reads.
//!
//! The guide's cargo builds get a persistent target folder of their own beside this build's
//! (`<target>/vendor-guide`; cargo locks the outer one while tests run), so a warm run only
//! relinks. Cold, they compile the SDK's dependencies twice (native tests, wasm32-wasip2
//! release): about two minutes on two cores.

#![cfg(unix)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GUIDE: &str = include_str!("../../docs/PLUGIN-GUIDE.md");
/// Cold builds on a busy CI machine stay well under this.
const TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The bodies of the fenced blocks of `markdown` whose info string is exactly `info`, in
/// order. A fence may be indented (inside a list item); its indentation is removed from the
/// body's lines.
fn blocks(markdown: &str, info: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None => {
                if let Some(rest) = trimmed.strip_prefix("```") {
                    open = Some((indent, rest.trim() == info, String::new()));
                }
            }
            Some((fence_indent, wanted, body)) => {
                if trimmed.starts_with("```") && trimmed.trim_end() == "```" {
                    if *wanted {
                        found.push(std::mem::take(body));
                    }
                    open = None;
                } else {
                    let cut = indent.min(*fence_indent);
                    body.push_str(&line[cut..]);
                    body.push('\n');
                }
            }
        }
    }
    assert!(
        open.is_none(),
        "docs/PLUGIN-GUIDE.md has an unclosed code block"
    );
    found
}

/// One script: the blocks in order, each announced on stderr, background jobs (the service)
/// stopped on exit whatever happens.
fn script(blocks: &[String]) -> String {
    let mut out = String::from(
        "set -o pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nstarted=$SECONDS\n",
    );
    for (i, block) in blocks.iter().enumerate() {
        // Single-quoted, so nothing in the line is expanded or run.
        let first = block.lines().next().unwrap_or("").replace('\'', "");
        out.push_str(&format!(
            "echo \"### step {} at $((SECONDS - started)) s: \"'{first}' >&2\n{block}",
            i + 1
        ));
    }
    out.push_str("echo \"### done at $((SECONDS - started)) s\" >&2\n");
    out
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// True for a variable the outer cargo (or rustup) set for this test that must not reach the
/// guide's own cargo: target folder, flags, wrappers, jobserver, toolchain override, package
/// metadata. Registry and network settings stay.
fn outer_build_variable(name: &str) -> bool {
    let keep = name == "CARGO_HOME"
        || [
            "CARGO_NET_",
            "CARGO_HTTP_",
            "CARGO_REGISTRIES_",
            "CARGO_REGISTRY_",
        ]
        .iter()
        .any(|p| name.starts_with(p));
    !keep
        && (name.starts_with("CARGO")
            || name.starts_with("__CARGO")
            || name.starts_with("RUSTC")
            || matches!(
                name,
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTDOC"
                    | "RUSTUP_TOOLCHAIN"
                    | "MAKEFLAGS"
                    | "MFLAGS"
            ))
}

#[test]
fn blocks_are_read_in_order_with_their_indentation_removed() {
    let md =
        "a\n```sh\necho 1\n```\n```text\nnot run\n```\n- item\n\n  ```sh\n  echo 2\n    x\n  ```\n";
    assert_eq!(blocks(md, "sh"), ["echo 1\n", "echo 2\n  x\n"]);
    assert_eq!(blocks(md, "text"), ["not run\n"]);
    assert!(outer_build_variable("CARGO_TARGET_DIR"));
    assert!(outer_build_variable("RUSTFLAGS"));
    assert!(outer_build_variable("RUSTUP_TOOLCHAIN"));
    assert!(!outer_build_variable("CARGO_HOME"));
    assert!(!outer_build_variable("CARGO_NET_OFFLINE"));
    assert!(!outer_build_variable("PATH"));
}

#[test]
fn the_vendor_guide_runs_as_written() {
    let steps = blocks(GUIDE, "sh");
    let all = steps.concat();
    // The guide must keep walking the whole way, not merely pass.
    for needed in [
        "licmetric plugin new ",
        "cargo test",
        "cargo build --release --target wasm32-wasip2",
        "licmetric plugin inspect ",
        "licmetric replay --plugin ",
        "licmetric serve ",
        "/api/v1/plugins/acme-installs/0.1.0",
        "/api/v1/products/acme-db",
        "/api/v1/usage?product=acme-db",
    ] {
        assert!(
            all.contains(needed),
            "no sh step of the guide runs {needed:?}"
        );
    }

    let binary = Path::new(env!("CARGO_BIN_EXE_licmetric"));
    // <target>/<profile>/licmetric → <target>/vendor-guide
    let target: PathBuf = binary
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in <target>/<profile>")
        .join("vendor-guide");
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(binary, bin.join("licmetric")).unwrap();
    let script_path = dir.path().join("guide.sh");
    std::fs::write(&script_path, script(&steps)).unwrap();
    let (stdout_path, stderr_path) = (dir.path().join("stdout"), dir.path().join("stderr"));

    let mut command = Command::new("bash");
    command
        .arg("-e")
        .arg(&script_path)
        .current_dir(&work)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .process_group(0);
    for (name, _) in std::env::vars() {
        if outer_build_variable(&name) {
            command.env_remove(&name);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.clone()];
    paths.extend(std::env::split_paths(&path));
    command
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env("CARGO_TARGET_DIR", &target)
        .env("PORT", free_port().to_string())
        .env("NO_COLOR", "1");

    let started = Instant::now();
    let mut child = command.spawn().expect("bash runs");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            // The whole group: bash, cargo, the service.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let steps_log: Vec<&str> = stderr.lines().filter(|l| l.starts_with("### ")).collect();
    eprintln!(
        "vendor guide: {} sh blocks in {:.1} s (cargo target {})\n{}",
        steps.len(),
        elapsed.as_secs_f64(),
        target.display(),
        steps_log.join("\n")
    );
    match status {
        Some(status) if status.success() => {}
        other => {
            let service_log = std::fs::read_to_string(work.join("service.log")).unwrap_or_default();
            panic!(
                "the guide failed ({}) after {:.1} s\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- service.log\n{service_log}",
                match other {
                    Some(status) => format!("{status}"),
                    None => format!("timed out after {TIMEOUT:?}"),
                },
                elapsed.as_secs_f64()
            );
        }
    }
    // What the guide's steps printed: the inspection, the replay and the usage read.
    assert!(stdout.contains("INSTALLATIONS  Installations"), "{stdout}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
    assert!(stdout.contains("\"peak_date\":\"2026-11-04\""), "{stdout}");
}
