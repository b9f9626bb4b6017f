//! licmetric: a licence metric evaluation engine. Facts in sled, metrics in sandboxed wasm
//! plugins, period rules and the query API in the host.

pub mod api;
pub mod cli;
pub mod eval;
pub mod lifecycle;
pub mod runtime;
pub mod snapshot;
pub mod store;
