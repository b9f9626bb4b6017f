//! Builds the test plugins (tests/plugins/*) to wasm32-wasip2 components: the hostile ones,
//! `fixed` (well-behaved, with an example that passes) and `wit-v2` (built against an
//! incompatible copy of the WIT).

#[path = "../host/build_guests.rs"]
mod build_guests;

const TEST_PLUGINS: &[(&str, &str)] = &[
    ("spin-forever", "LICMETRIC_TEST_SPIN_FOREVER"),
    ("memory-bomb", "LICMETRIC_TEST_MEMORY_BOMB"),
    ("panic", "LICMETRIC_TEST_PANIC"),
    ("huge-output", "LICMETRIC_TEST_HUGE_OUTPUT"),
    ("fixed", "LICMETRIC_TEST_FIXED"),
    ("wit-v2", "LICMETRIC_TEST_WIT_V2"),
];

fn main() {
    let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    for (name, _) in TEST_PLUGINS {
        build_guests::watch(&dir.join("plugins").join(name));
    }
    let packages: Vec<String> = TEST_PLUGINS
        .iter()
        .map(|(n, _)| format!("licmetric-plugin-{n}"))
        .collect();
    let refs: Vec<&str> = packages.iter().map(String::as_str).collect();
    for ((_, var), path) in TEST_PLUGINS.iter().zip(build_guests::build(&refs)) {
        println!("cargo:rustc-env={var}={}", path.display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("plugins/common.rs").display()
    );
    // wit-v2 binds its own copy of the WIT, which build_guests does not watch.
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("plugins/wit-v2/wit").display()
    );
    println!("cargo:rerun-if-changed=build.rs");
}
