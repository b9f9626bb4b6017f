//! Compiles the standard metric plugins (plugins/*) to wasm32-wasip2 components, so that
//! `cargo build` alone yields a `licmetric` binary with them built in.

#[path = "build_guests.rs"]
mod build_guests;

/// (crate directory under plugins/, package name, env var holding the built .wasm path)
const STANDARD: &[(&str, &str, &str)] = &[
    (
        "concurrent",
        "licmetric-plugin-concurrent",
        "LICMETRIC_PLUGIN_CONCURRENT",
    ),
    ("pvu", "licmetric-plugin-pvu", "LICMETRIC_PLUGIN_PVU"),
    ("vpc", "licmetric-plugin-vpc", "LICMETRIC_PLUGIN_VPC"),
    (
        "oracle-processor",
        "licmetric-plugin-oracle-processor",
        "LICMETRIC_PLUGIN_ORACLE_PROCESSOR",
    ),
    ("named", "licmetric-plugin-named", "LICMETRIC_PLUGIN_NAMED"),
];

fn main() {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    for (dir, _, _) in STANDARD {
        build_guests::watch(&root.join("plugins").join(dir));
    }
    // Shared counting code of pvu and vpc.
    build_guests::watch(&root.join("plugins").join("subcapacity"));
    let packages: Vec<&str> = STANDARD.iter().map(|p| p.1).collect();
    for ((_, _, var), path) in STANDARD.iter().zip(build_guests::build(&packages)) {
        println!("cargo:rustc-env={var}={}", path.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build_guests.rs");
}
