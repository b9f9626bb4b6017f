//! The trait a plugin implements, and the glue between it and the generated bindings.

use crate::facts::Facts;
use crate::types::{Evaluation, FactRequest, Outcome, PluginError, PluginInfo, ProductRef, wire};

/// A metric plugin. Implement it on a unit struct and export it with [`crate::export_metric!`].
pub trait Metric {
    /// Name, version, metrics, the facts read and the schemas (static).
    fn describe() -> PluginInfo;

    /// Validates the rule data and every product's parameters, and says which facts to send.
    /// Called before every evaluation and when an operator loads rule data, so keep it cheap.
    fn prepare(rule_data: &str, products: &[ProductRef]) -> Result<Vec<FactRequest>, RuleError>;

    /// Counts. `facts` reads the timelines of the requests `prepare` returned. Contributors and
    /// explanation lines are wanted only when [`Facts::is_explaining`] is true (a distinct-union
    /// metric lists its day's identities as contributors either way); building them for every
    /// day of a large estate is most of a plugin's cost.
    fn evaluate(input: &Evaluation, facts: &Facts<'_>) -> Outcome;
}

/// A plugin error under construction: `RuleError::new("invalid-value", "…").product("mq")`.
#[derive(Debug, Clone)]
pub struct RuleError(pub PluginError);

impl RuleError {
    /// An error with a SPEC §5.3 code (`missing_attribute`, `invalid_value`, `rule_data_invalid` …).
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        RuleError(PluginError {
            code: code.to_string(),
            message: message.into(),
            product: None,
            date: None,
            fact_kind: None,
            fact_key: None,
            attribute: None,
            at: None,
            section: None,
        })
    }

    /// The product it concerns.
    pub fn product(mut self, product: &str) -> Self {
        self.0.product = Some(product.to_string());
        self
    }

    /// The one day it concerns (other days of the product still count).
    pub fn date(mut self, date: &str) -> Self {
        self.0.date = Some(date.to_string());
        self
    }

    /// The fact at fault.
    pub fn fact(mut self, kind: &str, key: &str) -> Self {
        self.0.fact_kind = Some(kind.to_string());
        self.0.fact_key = Some(key.to_string());
        self
    }

    /// The attribute at fault.
    pub fn attribute(mut self, attribute: &str) -> Self {
        self.0.attribute = Some(attribute.to_string());
        self
    }

    /// The instant at fault (ms).
    pub fn at(mut self, at: i64) -> Self {
        self.0.at = Some(at);
        self
    }

    /// The rule section, e.g. `SPEC §3.4.1`.
    pub fn section(mut self, section: &str) -> Self {
        self.0.section = Some(section.to_string());
        self
    }
}

impl From<RuleError> for PluginError {
    fn from(f: RuleError) -> Self {
        f.0
    }
}

/// Routes panic messages to the host's log before the trap, so the host's error says why.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            #[cfg(target_arch = "wasm32")]
            crate::bindings::licmetric::plugin::log::log(
                crate::bindings::licmetric::plugin::log::Level::Error,
                &format!("panic: {info}"),
            );
            #[cfg(not(target_arch = "wasm32"))]
            eprintln!("panic: {info}");
        }));
    });
}

#[doc(hidden)]
pub fn describe<M: Metric>() -> PluginInfo {
    install_panic_hook();
    M::describe()
}

#[doc(hidden)]
pub fn prepare<M: Metric>(
    rule_data: String,
    products: Vec<ProductRef>,
) -> Result<Vec<FactRequest>, PluginError> {
    install_panic_hook();
    M::prepare(&rule_data, &products).map_err(PluginError::from)
}

/// Runs the metric on `input`; `explaining` says whether contributors and explanations are
/// wanted. Natively (tests, benchmarks) this is the whole answer as the plugin built it.
#[doc(hidden)]
pub fn run<M: Metric>(input: Evaluation, explaining: bool) -> Outcome {
    install_panic_hook();
    let refs: Vec<ProductRef> = input.products.iter().map(|p| p.product.clone()).collect();
    let requests = match M::prepare(&input.rule_data, &refs) {
        Ok(requests) => requests,
        Err(failure) => {
            return Outcome {
                days: Vec::new(),
                errors: vec![failure.0],
            };
        }
    };
    let facts = Facts::new(&input, &requests).explaining(explaining);
    M::evaluate(&input, &facts)
}

/// The whole answer, contributors and explanations included (native tests).
#[doc(hidden)]
pub fn evaluate<M: Metric>(input: Evaluation) -> Outcome {
    run::<M>(input, true)
}

/// The contract's `evaluate`: numbers only.
#[doc(hidden)]
pub fn count<M: Metric>(input: Evaluation) -> wire::Outcome {
    let outcome = run::<M>(input, false);
    crate::result::quantities(outcome, &M::describe().metrics)
}

/// The contract's `explain`: who held each asked day's peak and why.
#[doc(hidden)]
pub fn explain<M: Metric>(input: Evaluation) -> wire::Explained {
    crate::result::details(run::<M>(input, true))
}
