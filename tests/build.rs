//! Builds the test plugins (tests/plugins/*: hostile ones, and the swap versions) to
//! wasm32-wasip2 components.

#[path = "../host/build_guests.rs"]
mod build_guests;

const TEST_PLUGINS: &[(&str, &str)] = &[
    ("spin-forever", "LICMETRIC_TEST_SPIN_FOREVER"),
    ("memory-bomb", "LICMETRIC_TEST_MEMORY_BOMB"),
    ("panic", "LICMETRIC_TEST_PANIC"),
    ("huge-output", "LICMETRIC_TEST_HUGE_OUTPUT"),
    ("swap-1-0", "LICMETRIC_TEST_SWAP_1_0"),
    ("swap-1-1", "LICMETRIC_TEST_SWAP_1_1"),
    ("swap-2-0", "LICMETRIC_TEST_SWAP_2_0"),
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
    for shared in [
        "plugins/common.rs",
        "plugins/swap.rs",
        "plugins/swap-example",
    ] {
        println!("cargo:rerun-if-changed={}", dir.join(shared).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
