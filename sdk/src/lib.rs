//! The crate licmetric plugin authors depend on.
//!
//! A plugin implements [`Metric`] and names its type in [`export_metric!`]; the SDK hides the
//! generated WIT bindings (`wit/v1.1`). Everything else here is plain Rust that also builds and
//! tests natively (the host reuses it for period rules):
//!
//! - [`exact`]: exact decimal/rational numbers, parsed from text, printed as SPEC §5.5 asks;
//! - [`facts`]: a view over the interned, column-wise timelines the host sends, and the
//!   attribute lists of the standard fact kinds (SPEC §2);
//! - [`fail`]: the SPEC §5.3 errors about facts (missing attribute, invalid value, references);
//! - [`config`]: strict parsing of rule data and product parameters, errors naming the JSON path;
//! - [`estate`]: typed histories of servers, pools, VMs, installations, nodes, pods, namespaces;
//! - [`sweep`]: peaks of piecewise-constant sums over half-open intervals, per day;
//! - [`calendar`]: day, ISO-week and month buckets;
//! - [`allocate`]: largest-remainder allocation that always sums to the total;
//! - [`testing`]: native tests of a plugin on an evaluation built by hand.

extern crate self as licmetric_sdk;

pub mod allocate;
pub mod calendar;
pub mod config;
pub mod estate;
pub mod exact;
pub mod facts;
pub mod fail;
pub mod result;
pub mod sweep;
pub mod testing;

mod plugin;

pub use exact::Exact;
/// What the contract's `prepare` answers for a metric, as a plugin's own tests call it: the rule data
/// and every product's parameters read and checked, and the facts to send.
pub use plugin::prepare_parsed as prepare;
pub use plugin::{Metric, RuleError};
pub use serde_json;

/// Version of this SDK, stamped into every plugin's `describe`.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The generated bindings of `wit/v1.1` (guest side). Plugin code rarely needs them directly:
/// the common types are re-exported in [`types`].
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../wit/v1.1",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "licmetric_sdk::bindings",
        runtime_path: "licmetric_sdk::__rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen::rt as __rt;

/// The records a plugin builds and reads: the WIT's, but for the day results, which a plugin
/// builds whole and the export glue splits into the contract's two answers ([`result`]).
pub mod types {
    pub use crate::bindings::licmetric::plugin::types::{
        Attribute, BundleClaim, Contributor, Day, Evaluation, FactRequest, InstantSelection,
        IntervalSelection, MetricInfo, PeriodRule, PluginError, PluginInfo, ProductDays,
        ProductRef, Selection, StringTable, Timeline, ValueType,
    };
    pub use crate::result::{DayResult, Outcome};

    /// The records that cross the boundary as `evaluate` and `explain` answers (1.1).
    pub mod wire {
        pub use crate::bindings::licmetric::plugin::types::{
            DayDetail, DayResult, Exact, Explained, Outcome,
        };
    }
}

/// Sends a diagnostic line to the host (kept, bounded, with the evaluation's error if it fails).
pub fn log(message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::licmetric::plugin::log::log(bindings::licmetric::plugin::log::Level::Info, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = message;
}

/// Exports a [`Metric`] implementation as the plugin's `licmetric:plugin/metric` interface.
///
/// ```ignore
/// struct Concurrent;
/// impl licmetric_sdk::Metric for Concurrent { /* … */ }
/// licmetric_sdk::export_metric!(Concurrent);
/// ```
#[macro_export]
macro_rules! export_metric {
    ($metric:ty) => {
        struct __LicmetricExport;
        impl $crate::bindings::exports::licmetric::plugin::metric::Guest for __LicmetricExport {
            fn describe() -> $crate::types::PluginInfo {
                $crate::__private::describe::<$metric>()
            }
            fn prepare(
                rule_data: ::std::string::String,
                products: ::std::vec::Vec<$crate::types::ProductRef>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::types::FactRequest>,
                $crate::types::PluginError,
            > {
                $crate::__private::prepare::<$metric>(rule_data, products)
            }
            fn evaluate(input: $crate::types::Evaluation) -> $crate::types::wire::Outcome {
                $crate::__private::count::<$metric>(input)
            }
            fn explain(input: $crate::types::Evaluation) -> $crate::types::wire::Explained {
                $crate::__private::explain::<$metric>(input)
            }
        }
        // Only a wasm build exports the WIT functions; natively (tests, benchmarks) the
        // metric is called through `__private`.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
    $crate::bindings::export!(__LicmetricExport with_types_in $crate::bindings);
        };
    };
}

/// Bundles a replay fixture folder (`case.json` and `facts.ndjson`, the format of
/// `licmetric replay`) into the plugin as its example. The host evaluates it when the plugin is
/// uploaded or loaded, within the sandbox limits, and refuses a plugin whose example fails or
/// whose figures differ from the fixture's `expected`. The path is relative to the plugin
/// crate's `Cargo.toml`.
///
/// The files travel as two custom sections of the component (`licmetric-example-case`,
/// `licmetric-example-facts`), so the WIT contract is unchanged and a plugin without an
/// example still loads where no self-test is asked for.
///
/// ```ignore
/// licmetric_sdk::bundle_example!("example");
/// ```
#[macro_export]
macro_rules! bundle_example {
    ($dir:literal) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            const CASE: &[u8] =
                include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, "/case.json"));
            const FACTS: &[u8] = include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/",
                $dir,
                "/facts.ndjson"
            ));
            #[used]
            #[unsafe(link_section = "licmetric-example-case")]
            static EXAMPLE_CASE: [u8; CASE.len()] =
                *include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, "/case.json"));
            #[used]
            #[unsafe(link_section = "licmetric-example-facts")]
            static EXAMPLE_FACTS: [u8; FACTS.len()] = *include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/",
                $dir,
                "/facts.ndjson"
            ));
        };
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::plugin::{count, describe, evaluate, explain, prepare, prepare_parsed};
}
