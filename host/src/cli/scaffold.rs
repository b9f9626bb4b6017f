//! `licmetric plugin new NAME [--dir DIR] [--sdk PATH]`: writes a new plugin crate on the SDK
//! that builds and passes its own tests as it is (docs/PLUGIN-GUIDE.md walks on from there).
//!
//! The crate counts INSTALLATIONS (the peak number of a product's installations per day), with
//! rule data, a product parameter, native unit tests and a replay fixture bundled into the
//! component as its example. The files are the templates in `cli/scaffold/` with the name and
//! the SDK path filled in, plus this repository's `rust-toolchain.toml` and `Cargo.lock` (so a
//! vendor builds with the toolchain and dependency versions the SDK was tested with).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The SDK folder this binary was built from, as the compiler saw it.
const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

/// The templates: (path in the new crate, text with `{{name}}`, `{{crate}}`, `{{sdk}}`).
const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("scaffold/Cargo.toml.tmpl")),
    ("Cargo.lock", include_str!("../../../Cargo.lock")),
    (
        "rust-toolchain.toml",
        include_str!("../../../rust-toolchain.toml"),
    ),
    (".gitignore", include_str!("scaffold/gitignore.tmpl")),
    ("README.md", include_str!("scaffold/README.md.tmpl")),
    ("src/lib.rs", include_str!("scaffold/lib.rs.tmpl")),
    ("example/case.json", include_str!("scaffold/case.json.tmpl")),
    (
        "example/facts.ndjson",
        include_str!("scaffold/facts.ndjson.tmpl"),
    ),
];

/// Words a crate cannot be named (Rust keywords and the built-in crates).
const RESERVED: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc-macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
    "licmetric",
    "licmetric-sdk",
];

/// Checks a plugin name: 1 to 64 lowercase ASCII letters, digits and `-`, starting with a
/// letter, not ending with `-`, and not a reserved word. The error names the argument.
pub fn validate_name(name: &str) -> Result<(), String> {
    let shape = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !shape {
        return Err(format!(
            "NAME: {name:?} is not a plugin name: use 1 to 64 lowercase letters, digits and '-', \
             starting with a letter and not ending with '-' (e.g. acme-installs)"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "NAME: {name:?} is reserved (a Rust keyword or a crate licmetric uses); choose another"
        ));
    }
    Ok(())
}

/// The SDK folder a new crate depends on: `sdk` (made absolute) or the folder this binary was
/// built from; either must hold the `licmetric-sdk` crate.
pub fn sdk_folder(sdk: Option<&Path>) -> anyhow::Result<PathBuf> {
    let (path, what) = match sdk {
        Some(p) => (p.to_path_buf(), "--sdk"),
        None => (
            PathBuf::from(BUILT_SDK),
            "the SDK this licmetric was built from",
        ),
    };
    let hint = if sdk.is_none() {
        "; pass --sdk PATH to the licmetric-sdk folder of a licmetric checkout"
    } else {
        ""
    };
    let path = path
        .canonicalize()
        .with_context(|| format!("{what}: {} is not a folder{hint}", path.display()))?;
    let manifest = path.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap_or_default();
    if !text.contains("name = \"licmetric-sdk\"") {
        bail!(
            "{what}: {} holds no licmetric-sdk crate (no Cargo.toml naming it){hint}",
            path.display()
        );
    }
    Ok(path)
}

/// `text` as a TOML basic string's contents.
fn toml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The files of a new crate named `name` depending on the SDK at `sdk`: (relative path, text).
pub fn files(name: &str, sdk: &Path) -> anyhow::Result<Vec<(&'static str, String)>> {
    let sdk = sdk
        .to_str()
        .with_context(|| format!("--sdk: {} is not valid UTF-8", sdk.display()))?;
    let crate_name = name.replace('-', "_");
    Ok(TEMPLATES
        .iter()
        .map(|(path, text)| {
            let text = text
                .replace("{{name}}", name)
                .replace("{{crate}}", &crate_name)
                .replace("{{sdk}}", &toml_escape(sdk));
            (*path, text)
        })
        .collect())
}

/// Writes the crate `name` into `dir` (default `./name`), refusing an existing non-empty
/// folder, and returns the folder.
pub fn create(name: &str, dir: Option<&Path>, sdk: Option<&Path>) -> anyhow::Result<PathBuf> {
    validate_name(name).map_err(anyhow::Error::msg)?;
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        let mut entries = std::fs::read_dir(&dir).with_context(|| {
            format!(
                "--dir: {} exists and is not a readable folder",
                dir.display()
            )
        })?;
        if entries.next().is_some() {
            bail!(
                "--dir: {} exists and is not empty; refusing to write a plugin crate over it",
                dir.display()
            );
        }
    }
    let sdk = sdk_folder(sdk)?;
    let files = files(name, &sdk)?;
    for (path, text) in &files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(dir)
}

/// Runs `plugin new`: writes the crate and says what to do next.
pub fn run(name: &str, dir: Option<&Path>, sdk: Option<&Path>) -> anyhow::Result<i32> {
    let dir = create(name, dir, sdk)?;
    let names: Vec<&str> = TEMPLATES.iter().map(|(path, _)| *path).collect();
    println!(
        "created plugin crate {name} 0.1.0 in {}: {}",
        dir.display(),
        names.join(", ")
    );
    println!(
        "next: cd {} && cargo test && cargo build --release --target wasm32-wasip2",
        dir.display()
    );
    println!(
        "the component: target/wasm32-wasip2/release/{}.wasm (see docs/PLUGIN-GUIDE.md)",
        name.replace('-', "_")
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_words_with_dashes() {
        for good in ["acme-installs", "a", "pvu2", "x-1-y"] {
            assert_eq!(validate_name(good), Ok(()), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "Acme",
            "1st",
            "-a",
            "a-",
            "a_b",
            "a b",
            "a/b",
            "é",
            long.as_str(),
        ] {
            let e = validate_name(bad).unwrap_err();
            assert!(e.starts_with("NAME: "), "{e}");
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        assert!(validate_name("fn").unwrap_err().contains("reserved"));
        assert!(
            validate_name("licmetric-sdk")
                .unwrap_err()
                .contains("reserved")
        );
    }

    #[test]
    fn files_fill_every_placeholder() {
        let sdk = sdk_folder(None).unwrap();
        let files = files("acme-installs", &sdk).unwrap();
        for (path, text) in &files {
            assert!(!text.contains("{{"), "{path} keeps a placeholder");
        }
        let text = |p: &str| &files.iter().find(|(path, _)| *path == p).unwrap().1;
        let manifest = text("Cargo.toml");
        assert!(
            manifest.contains("name = \"acme-installs\"\n"),
            "{manifest}"
        );
        assert!(manifest.contains("\n[workspace]\n"), "{manifest}");
        let sdk_line = format!("licmetric-sdk = {{ path = \"{}\" }}", sdk.display());
        assert!(manifest.contains(&sdk_line), "{manifest}");
        assert!(text("rust-toolchain.toml").contains("wasm32-wasip2"));
        assert!(text("Cargo.lock").contains("name = \"wit-bindgen\""));
        assert!(text("src/lib.rs").contains("licmetric_sdk::bundle_example!(\"example\");"));
        assert!(text("README.md").contains("release/acme_installs.wasm"));
        let case: serde_json::Value = serde_json::from_str(text("example/case.json")).unwrap();
        assert_eq!(case["products"][0]["metric"], "acme-installs");
        for line in text("example/facts.ndjson").lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn sdk_paths_are_escaped_for_toml() {
        assert_eq!(toml_escape(r#"C:\sdk "x""#), r#"C:\\sdk \"x\""#);
    }

    #[test]
    fn an_sdk_folder_without_the_sdk_is_refused_naming_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let e = sdk_folder(Some(dir.path())).unwrap_err();
        assert!(format!("{e:#}").starts_with("--sdk: "), "{e:#}");
        let e = sdk_folder(Some(&dir.path().join("missing"))).unwrap_err();
        assert!(format!("{e:#}").contains("is not a folder"), "{e:#}");
    }

    #[test]
    fn writes_a_crate_and_refuses_a_non_empty_folder() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("p");
        // An existing empty folder is fine.
        std::fs::create_dir(&target).unwrap();
        create("acme-installs", Some(&target), None).unwrap();
        for (path, _) in TEMPLATES {
            assert!(target.join(path).is_file(), "{path} was not written");
        }
        let before = std::fs::read(target.join("src/lib.rs")).unwrap();
        let e = create("other", Some(&target), None).unwrap_err();
        let message = format!("{e:#}");
        assert!(message.starts_with("--dir: "), "{message}");
        assert!(message.contains(&target.display().to_string()), "{message}");
        assert!(message.contains("not empty"), "{message}");
        assert_eq!(std::fs::read(target.join("src/lib.rs")).unwrap(), before);
        let e = create("Bad", Some(&dir.path().join("q")), None).unwrap_err();
        assert!(format!("{e:#}").starts_with("NAME: "), "{e:#}");
        assert!(!dir.path().join("q").exists());
    }
}
