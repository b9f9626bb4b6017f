//! Builds the test plugins to wasm32-wasip2 components: the hostile ones, the swap versions,
//! `fixed` (well-behaved, its example passes) and `wit-v2` (built against an incompatible copy
//! of the WIT) (tests/plugins/*), and tests/pvu-next (a second pvu version).

#[path = "../host/build_guests.rs"]
mod build_guests;

/// (crate directory under tests/, package suffix, environment variable of its .wasm path).
const GUESTS: &[(&str, &str, &str)] = &[
    (
        "plugins/spin-forever",
        "spin-forever",
        "LICMETRIC_TEST_SPIN_FOREVER",
    ),
    (
        "plugins/memory-bomb",
        "memory-bomb",
        "LICMETRIC_TEST_MEMORY_BOMB",
    ),
    ("plugins/panic", "panic", "LICMETRIC_TEST_PANIC"),
    (
        "plugins/huge-output",
        "huge-output",
        "LICMETRIC_TEST_HUGE_OUTPUT",
    ),
    ("plugins/swap-1-0", "swap-1-0", "LICMETRIC_TEST_SWAP_1_0"),
    ("plugins/swap-1-1", "swap-1-1", "LICMETRIC_TEST_SWAP_1_1"),
    ("plugins/swap-2-0", "swap-2-0", "LICMETRIC_TEST_SWAP_2_0"),
    // pvu@1.1.0 from plugins/pvu's source (see tests/pvu-next/Cargo.toml).
    ("pvu-next", "pvu-next", "LICMETRIC_TEST_PVU_NEXT"),
    // Well-behaved, with an example that passes its self-test.
    ("plugins/fixed", "fixed", "LICMETRIC_TEST_FIXED"),
    // Loads, then lies in its answers as a product's `lie` parameter asks (issue 15.4).
    ("plugins/liar", "liar", "LICMETRIC_TEST_LIAR"),
    // Built against an incompatible copy of the WIT (plugins/wit-v2/wit).
    ("plugins/wit-v2", "wit-v2", "LICMETRIC_TEST_WIT_V2"),
    // Built against the frozen wit/v1.0, without the SDK.
    ("plugins/wit-v1-0", "wit-v1-0", "LICMETRIC_TEST_WIT_V1_0"),
];

fn main() {
    let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    for (path, _, _) in GUESTS {
        build_guests::watch(&dir.join(path));
    }
    build_guests::watch(&dir.join("../plugins/pvu"));
    build_guests::watch(&dir.join("../plugins/subcapacity"));
    let packages: Vec<String> = GUESTS
        .iter()
        .map(|(_, n, _)| format!("licmetric-plugin-{n}"))
        .collect();
    let refs: Vec<&str> = packages.iter().map(String::as_str).collect();
    for ((_, _, var), path) in GUESTS.iter().zip(build_guests::build(&refs)) {
        println!("cargo:rustc-env={var}={}", path.display());
    }
    for shared in [
        "plugins/common.rs",
        "plugins/swap.rs",
        "plugins/swap-example",
        "plugins/wit-v2/wit",
    ] {
        println!("cargo:rerun-if-changed={}", dir.join(shared).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
