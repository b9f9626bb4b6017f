//! The trait a plugin implements, and the glue between it and the generated bindings.

use crate::config::{self, ParameterDocument, RuleDocument};
use crate::facts::Facts;
use crate::types::{Evaluation, FactRequest, Outcome, PluginError, PluginInfo, ProductRef, wire};

/// A metric plugin. Implement it on a unit struct and export it with [`crate::export_metric!`].
///
/// The SDK parses the rule data and every product's parameters once per call, strictly, into
/// [`Metric::RuleData`] and [`Metric::Parameters`] ([`crate::config`]: an error names the JSON
/// pointer at fault, `rule_data_invalid` or `product_parameter_invalid`), and hands them to
/// [`Metric::requests`] and [`Metric::evaluate`] already typed.
pub trait Metric {
    /// The rule-data document (e.g. a PVU table); `serde_json::Value` to take any.
    type RuleData: RuleDocument;
    /// A product's parameters; `serde_json::Value` to take any.
    type Parameters: ParameterDocument;

    /// Name, version, metrics, the facts read and the schemas (static).
    fn describe() -> PluginInfo;

    /// Rules across products of one call (e.g. one product naming another); an error fails
    /// the call. None by default.
    fn check(
        _rules: &Self::RuleData,
        _products: &[ProductRef],
        _parameters: &[Self::Parameters],
    ) -> Result<(), RuleError> {
        Ok(())
    }

    /// Which facts to send for these products (`parameters` in the order of the products).
    /// Called before every evaluation and when an operator loads rule data, so keep it cheap.
    fn requests(rules: &Self::RuleData, parameters: &[Self::Parameters]) -> Vec<FactRequest>;

    /// Counts. `parameters` are `input.products`' in order; `facts` reads the timelines of the
    /// requests [`Metric::requests`] returned. Contributors and explanation lines are wanted
    /// only when [`Facts::is_explaining`] is true (a distinct-union metric lists its day's
    /// identities as contributors either way); building them for every day of a large estate
    /// is most of a plugin's cost.
    fn evaluate(
        input: &Evaluation,
        rules: &Self::RuleData,
        parameters: &[Self::Parameters],
        facts: &Facts<'_>,
    ) -> Outcome;
}

/// The rule data and each product's parameters, parsed and checked once.
type Parsed<M> = (<M as Metric>::RuleData, Vec<<M as Metric>::Parameters>);

fn parse<M: Metric>(rule_data: &str, products: &[ProductRef]) -> Result<Parsed<M>, RuleError> {
    let rules = config::read_rules::<M::RuleData>(&M::describe().name, rule_data)?;
    let parameters = products
        .iter()
        .map(config::read_parameters::<M::Parameters>)
        .collect::<Result<Vec<_>, RuleError>>()?;
    M::check(&rules, products, &parameters)?;
    Ok((rules, parameters))
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
    prepare_parsed::<M>(&rule_data, &products).map_err(PluginError::from)
}

/// Validates the rule data and every product's parameters and says which facts to send
/// (the contract's `prepare`, and test inputs').
pub fn prepare_parsed<M: Metric>(
    rule_data: &str,
    products: &[ProductRef],
) -> Result<Vec<FactRequest>, RuleError> {
    let (rules, parameters) = parse::<M>(rule_data, products)?;
    Ok(M::requests(&rules, &parameters))
}

/// Runs the metric on `input`; `explaining` says whether contributors and explanations are
/// wanted. Natively (tests, benchmarks) this is the whole answer as the plugin built it.
#[doc(hidden)]
pub fn run<M: Metric>(input: Evaluation, explaining: bool) -> Outcome {
    install_panic_hook();
    let refs: Vec<ProductRef> = input.products.iter().map(|p| p.product.clone()).collect();
    let (rules, parameters) = match parse::<M>(&input.rule_data, &refs) {
        Ok(parsed) => parsed,
        Err(failure) => {
            return Outcome {
                days: Vec::new(),
                errors: vec![failure.0],
            };
        }
    };
    let requests = M::requests(&rules, &parameters);
    let facts = Facts::new(&input, &requests).explaining(explaining);
    M::evaluate(&input, &rules, &parameters, &facts)
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
