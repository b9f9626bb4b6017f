//! Test plugin swap@2.0.0: the SWAP metric (../../swap.rs) with factor 3.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

#[path = "../../swap.rs"]
mod swap;

const VERSION: &str = "2.0.0";
const FACTOR: u64 = 3;

licmetric_sdk::export_metric!(swap::Swap);
licmetric_sdk::bundle_example!("../swap-example");
