//! Builds the hostile test plugins (tests/plugins/*) to wasm32-wasip2 components.

#[path = "../host/build_guests.rs"]
mod build_guests;

const HOSTILE: &[(&str, &str)] = &[
    ("spin-forever", "LICMETRIC_TEST_SPIN_FOREVER"),
    ("memory-bomb", "LICMETRIC_TEST_MEMORY_BOMB"),
    ("panic", "LICMETRIC_TEST_PANIC"),
    ("huge-output", "LICMETRIC_TEST_HUGE_OUTPUT"),
];

fn main() {
    let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    for (name, _) in HOSTILE {
        build_guests::watch(&dir.join("plugins").join(name));
    }
    let packages: Vec<String> = HOSTILE
        .iter()
        .map(|(n, _)| format!("licmetric-plugin-{n}"))
        .collect();
    let refs: Vec<&str> = packages.iter().map(String::as_str).collect();
    for ((_, var), path) in HOSTILE.iter().zip(build_guests::build(&refs)) {
        println!("cargo:rustc-env={var}={}", path.display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("plugins/common.rs").display()
    );
    println!("cargo:rerun-if-changed=build.rs");
}
