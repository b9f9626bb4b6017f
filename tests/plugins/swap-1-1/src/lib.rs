//! Test plugin swap@1.1.0: the SWAP metric (../../swap.rs) with factor 2.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

#[path = "../../swap.rs"]
mod swap;

const VERSION: &str = "1.1.0";
const FACTOR: u64 = 2;

licmetric_sdk::export_metric!(swap::Swap);
licmetric_sdk::bundle_example!("../swap-example");
