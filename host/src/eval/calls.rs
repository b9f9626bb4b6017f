//! Running one plugin's calls for an evaluation: its products cut into chunks of product-days,
//! each chunk in a fresh instance, the chunks spread over the machine's cores.
//!
//! Why threads: a report of a large estate is mostly time inside the plugin (the pvu plugin
//! spends ~15 ms a product-period of the 10,000-server estate; the concurrent plugin ~0.1 s a
//! product over 1M sessions), and products are independent. Each worker lowers the facts into
//! its own instance and the plugin indexes them again, so a split costs that fixed part once
//! more per worker; it is taken only when there are at least two products.
//!
//! Memory: each worker holds one call (one memory cap reserved from the service's plugin
//! budget) and a copy of the facts while it lowers them. A worker never waits for a second
//! reservation while holding one, so evaluations sharing the budget queue but cannot deadlock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use licmetric_sdk::types as sdk;

use super::EvalError;
use crate::runtime::{Call, LoadedPlugin, PluginFailure};

/// Most threads one evaluation runs plugin calls on (fewer on a machine with fewer cores).
pub const MAX_WORKERS: usize = 4;

/// What every chunk's input shares: the rule data and the facts.
pub(super) struct Shared {
    pub rule_data: String,
    pub run_at: i64,
    pub strings: sdk::StringTable,
    pub timelines: Vec<sdk::Timeline>,
}

/// Cuts `products` into chunks of at most `per_call` product-days, and small enough that
/// `workers` workers get about the same number of product-days each.
pub(super) fn chunks(
    products: Vec<sdk::ProductDays>,
    per_call: usize,
    workers: usize,
) -> Vec<Vec<sdk::ProductDays>> {
    let total: usize = products.iter().map(|p| p.days.len()).sum();
    let target = per_call.min(total.div_ceil(workers.max(1))).max(1);
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    let mut days = 0;
    for product in products {
        days += product.days.len();
        chunk.push(product);
        if days >= target {
            out.push(std::mem::take(&mut chunk));
            days = 0;
        }
    }
    if !chunk.is_empty() {
        out.push(chunk);
    }
    out
}

/// The workers an evaluation of `products` products uses: one per core, at most
/// [`MAX_WORKERS`], at most one per product.
pub(super) fn workers_for(products: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(MAX_WORKERS).min(products).max(1)
}

/// Runs `call_chunk` on every chunk, each in a fresh call, on up to `workers` threads; the
/// answers come back in chunk order. The first failure is returned (other chunks may still
/// have run).
pub(super) fn run_chunks<T: Send>(
    plugin: &LoadedPlugin,
    shared: Shared,
    chunks: Vec<Vec<sdk::ProductDays>>,
    workers: usize,
    call_chunk: &(dyn Fn(&mut Call<'_>, sdk::Evaluation) -> Result<T, PluginFailure> + Sync),
) -> Result<Vec<T>, EvalError> {
    let input = |products, strings, timelines| sdk::Evaluation {
        rule_data: shared.rule_data.clone(),
        run_at: shared.run_at,
        products,
        strings,
        timelines,
    };
    if chunks.len() == 1 || workers <= 1 {
        let count = chunks.len();
        let mut shared_facts = Some((shared.strings.clone(), shared.timelines.clone()));
        let mut answers = Vec::with_capacity(count);
        for (i, products) in chunks.into_iter().enumerate() {
            // The last chunk takes the facts instead of copying them.
            let (strings, timelines) = if i + 1 == count {
                shared_facts.take().expect("facts until the last chunk")
            } else {
                (shared.strings.clone(), shared.timelines.clone())
            };
            let mut call = plugin.call()?;
            answers.push(call_chunk(&mut call, input(products, strings, timelines))?);
        }
        return Ok(answers);
    }

    let slots: Vec<Mutex<Option<Vec<sdk::ProductDays>>>> =
        chunks.into_iter().map(|c| Mutex::new(Some(c))).collect();
    let answers: Vec<Mutex<Option<Result<T, EvalError>>>> =
        slots.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(slots.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = slots.get(i) else { break };
                    let products = slot.lock().expect("chunk").take().expect("taken once");
                    let answer = plugin.call().map_err(EvalError::from).and_then(|mut call| {
                        let input =
                            input(products, shared.strings.clone(), shared.timelines.clone());
                        call_chunk(&mut call, input).map_err(EvalError::from)
                    });
                    let failed = answer.is_err();
                    *answers[i].lock().expect("answer") = Some(answer);
                    if failed {
                        // Nothing after a failure is used: let the other workers stop.
                        next.store(slots.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    let mut out = Vec::with_capacity(answers.len());
    for answer in answers {
        match answer.into_inner().expect("answer") {
            Some(answer) => out.push(answer?),
            // A chunk skipped after another failed: that failure comes first in order or
            // was returned above.
            None => continue,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, days: usize) -> sdk::ProductDays {
        sdk::ProductDays {
            product: sdk::ProductRef {
                id: id.into(),
                parameters: "{}".into(),
            },
            days: (0..days)
                .map(|d| sdk::Day {
                    date: format!("2026-11-{:02}", d + 1),
                    start: d as i64,
                    end: d as i64 + 1,
                })
                .collect(),
        }
    }

    fn sizes(chunks: &[Vec<sdk::ProductDays>]) -> Vec<usize> {
        chunks.iter().map(Vec::len).collect()
    }

    #[test]
    fn chunks_share_the_product_days_among_workers() {
        let products = || (0..11).map(|i| product(&format!("p{i}"), 90)).collect();
        assert_eq!(sizes(&chunks(products(), 9_000, 1)), vec![11]);
        assert_eq!(sizes(&chunks(products(), 9_000, 2)), vec![6, 5]);
        assert_eq!(sizes(&chunks(products(), 9_000, 4)), vec![3, 3, 3, 2]);
        // The per-call cap still holds.
        assert_eq!(sizes(&chunks(products(), 180, 1)), vec![2, 2, 2, 2, 2, 1]);
        assert!(chunks(Vec::new(), 9_000, 2).is_empty());
    }
}
