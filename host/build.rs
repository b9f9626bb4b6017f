//! Compiles the standard metric plugins (plugins/*) to wasm32-wasip2 components, so that
//! `cargo build` alone yields a `licmetric` binary with them built in.

#[path = "build_guests.rs"]
mod build_guests;

/// The standard plugins, the one list of them: (crate directory under plugins/, which is also
/// the plugin's name; package name).
const STANDARD: &[(&str, &str)] = &[
    ("concurrent", "licmetric-plugin-concurrent"),
    ("pvu", "licmetric-plugin-pvu"),
    ("vpc", "licmetric-plugin-vpc"),
    ("oracle-processor", "licmetric-plugin-oracle-processor"),
    ("named", "licmetric-plugin-named"),
];

fn main() {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    for (dir, _) in STANDARD {
        build_guests::watch(&root.join("plugins").join(dir));
    }
    // Shared counting code of pvu and vpc.
    build_guests::watch(&root.join("plugins").join("subcapacity"));
    let packages: Vec<&str> = STANDARD.iter().map(|p| p.1).collect();
    // The one list of standard plugins: runtime::STANDARD_PLUGINS includes what is written here.
    let mut list = String::from("&[\n");
    for ((dir, _), path) in STANDARD.iter().zip(build_guests::build(&packages)) {
        list.push_str(&format!(
            "    ({dir:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    list.push(']');
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out.join("standard_plugins.rs"), list).unwrap();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build_guests.rs");
}
