//! The status page's HTML: compliance first (worst first, in red, amber and green), each
//! product's and bundle's usage chart, links down to the peak day and its chargeback, then
//! freshness, warnings grouped by code and the plugins in force. Plain HTML and CSS, no
//! script: readable on a laptop, printable, and every table keeps its header row for screen
//! readers. Costs one pass over the report plus one chart per product and bundle.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::NaiveDate;
use licmetric_sdk::Exact;
use serde_json::Value;

use super::chart::{self, Chart};
use super::escape;
use crate::eval::period::DailyValue;
use crate::eval::report::Report;
use crate::store::sources::SourceTally;

/// Where a product or bundle stands against what is licensed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Used more than licensed.
    Over,
    /// Its figures could not be computed.
    Failed,
    /// Within 10 % of what is licensed.
    Near,
    Within,
    /// Nothing licensed to compare with.
    Unlicensed,
}

impl State {
    fn of(used: &Exact, licensed: Option<&Exact>) -> State {
        match licensed {
            None => State::Unlicensed,
            Some(l) if used > l => State::Over,
            Some(l) if *used * Exact::int(10) >= *l * Exact::int(9) => State::Near,
            Some(_) => State::Within,
        }
    }

    /// The CSS class and the word shown.
    fn name(self) -> (&'static str, &'static str) {
        match self {
            State::Over => ("over", "Over"),
            State::Failed => ("failed", "Failed"),
            State::Near => ("near", "Near"),
            State::Within => ("within", "Within"),
            State::Unlicensed => ("unlicensed", "No entitlement"),
        }
    }
}

/// One product or bundle as the page shows it.
struct Item<'r> {
    /// `product-<id>` or `bundle-<id>`: the anchor of its usage section.
    anchor: String,
    kind: &'static str,
    id: &'r str,
    name: &'r str,
    metric: String,
    state: State,
    used: Option<Exact>,
    licensed: Option<Exact>,
    peak_date: Option<&'r str>,
    daily: &'r [DailyValue],
    error: Option<String>,
}

/// A product's or bundle's period figures, as the page reads them.
struct Figures<'r> {
    quantity: &'r str,
    threshold: Option<&'r String>,
    peak_date: Option<&'r str>,
    daily: &'r [DailyValue],
}

impl<'r> Item<'r> {
    /// `(kind, id, name)`, its metric, its figures (or why there are none) and, for a failed
    /// one, the licensed quantity its record names.
    fn new<E: std::fmt::Display>(
        (kind, id, name): (&'static str, &'r str, Option<&'r str>),
        metric: String,
        figures: Result<Figures<'r>, E>,
        record_threshold: Option<Exact>,
    ) -> Item<'r> {
        let (state, used, licensed, peak_date, daily, error) = match figures {
            Ok(f) => {
                let used = f.quantity.parse::<Exact>().unwrap_or(Exact::ZERO);
                let licensed = f.threshold.and_then(|t| t.parse::<Exact>().ok());
                let state = State::of(&used, licensed.as_ref());
                (state, Some(used), licensed, f.peak_date, f.daily, None)
            }
            Err(e) => (
                State::Failed,
                None,
                record_threshold,
                None,
                &[][..],
                Some(e.to_string()),
            ),
        };
        Item {
            anchor: format!("{kind}-{id}"),
            kind,
            id,
            name: name.unwrap_or(id),
            metric,
            state,
            used,
            licensed,
            peak_date,
            daily,
            error,
        }
    }
}

impl Item<'_> {
    /// Worst first: by state, then the most over (or nearest) first.
    fn sort_key(&self) -> (State, Exact) {
        let room = match (&self.used, &self.licensed) {
            (Some(u), Some(l)) => *l - *u,
            _ => Exact::ZERO,
        };
        (self.state, room)
    }
}

fn items(report: &Report) -> Vec<Item<'_>> {
    let mut out = Vec::new();
    for p in &report.products {
        let figures = p.usage.as_ref().map(|u| Figures {
            quantity: &u.quantity,
            threshold: u.threshold.as_ref(),
            peak_date: u.peak_date.as_deref(),
            daily: &u.daily,
        });
        out.push(Item::new(
            ("product", &p.record.id, p.record.name.as_deref()),
            p.metric
                .as_ref()
                .map_or(p.record.metric.clone(), |m| m.code_name.clone()),
            figures,
            p.record.threshold(),
        ));
    }
    for b in &report.bundles {
        let figures = b.usage.as_ref().map(|u| Figures {
            quantity: &u.quantity,
            threshold: u.threshold.as_ref(),
            peak_date: u.peak_date.as_deref(),
            daily: &u.daily,
        });
        out.push(Item::new(
            ("bundle", &b.record.id, b.record.name.as_deref()),
            b.record.metric_name.clone().unwrap_or_default(),
            figures,
            b.record.threshold(),
        ));
    }
    out.sort_by_key(Item::sort_key);
    out
}

/// Everything the page shows besides the report.
pub struct Context<'a> {
    /// Data-quality warnings; `None` for a scoped caller (they name consumers).
    pub warnings: Option<&'a [Value]>,
    /// `(name, version, digest)` of each plugin in force.
    pub plugins: Vec<(String, String, String)>,
    pub sources: &'a [SourceTally],
    pub today: NaiveDate,
    /// `&token=…` when the page was asked for with `?token=`, so its links work the same way.
    pub token_query: String,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:70rem}\
table{border-collapse:collapse;margin:.5rem 0 1rem}caption{text-align:left;font-weight:600;padding:.2rem 0}\
td,th{border:1px solid #bbb;padding:.25rem .6rem;text-align:left}thead th{background:#f2f2f2}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
tr.over{background:#f8d7da}tr.failed{background:#e2e3e5}tr.near{background:#fff3cd}\
tr.within{background:#d4edda}.badge{font-weight:700}tr.over .badge{color:#8b1a1a}\
tr.near .badge{color:#7a5a00}tr.within .badge{color:#155724}\
section.item{border-top:1px solid #ddd;padding-top:.5rem;break-inside:avoid}\
figure{margin:0}figcaption{font-size:.9rem;color:#555}nav a{margin-right:1rem}\
@media print{nav{display:none}body{margin:0}}";

fn period_query(report: &Report, context: &Context) -> String {
    let last = report.end.pred_opt().unwrap_or(report.end);
    format!(
        "startDate={}&endDate={last}{}",
        report.start, context.token_query
    )
}

fn number(value: Option<&Exact>) -> String {
    value.map_or(String::new(), |v| {
        escape(&crate::snapshot::numbers::decimal_text(v))
    })
}

/// The whole page.
pub fn render(report: &Report, context: &Context) -> String {
    let mut out = String::new();
    let last = report.end.pred_opt().unwrap_or(report.end);
    let query = period_query(report, context);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>licmetric status</title><style>{STYLE}</style></head><body>\n\
         <header><h1>licmetric {} status</h1>\n<p>Period {} to {last} (included) · generated {} · \
         newest fact sequence {}</p>\n<nav><a href=\"#compliance\">Compliance</a>\
         <a href=\"#usage\">Usage over time</a><a href=\"#freshness\">Freshness</a>\
         <a href=\"#warnings\">Warnings</a><a href=\"#plugins\">Plugins</a></nav></header>\n",
        escape(env!("CARGO_PKG_VERSION")),
        report.start,
        escape(&report.generated),
        report.fact_sequence,
    );
    let items = items(report);
    compliance(&mut out, &items, &query);
    usage(&mut out, report, &items, &query);
    freshness(&mut out, report, context);
    warnings(&mut out, context.warnings);
    plugins(&mut out, &context.plugins);
    out.push_str("</body></html>\n");
    out
}

fn compliance(out: &mut String, items: &[Item], query: &str) {
    let _ = write!(
        out,
        "<section id=\"compliance\"><h2>Compliance</h2>\n<p>Worst first. Red: used more than \
         licensed; amber: within 10 % of it; green: under; grey: could not be computed. CSV: \
         <a href=\"/products?{query}&amp;format=csv\">products</a>, \
         <a href=\"/bundled_products?{query}&amp;format=csv\">bundled products</a>.</p>\n\
         <table class=\"compliance\"><caption>Used against licensed over the period</caption>\
         <thead><tr><th scope=\"col\">State</th><th scope=\"col\">Product or bundle</th>\
         <th scope=\"col\">Metric</th><th scope=\"col\">Used</th><th scope=\"col\">Licensed</th>\
         <th scope=\"col\">Delta</th><th scope=\"col\">Peak day</th></tr></thead><tbody>\n",
        query = query.replace('&', "&amp;"),
    );
    for item in items {
        let (class, word) = item.state.name();
        let delta = match (&item.used, &item.licensed) {
            (Some(u), Some(l)) => number(Some(&(*l - *u))),
            _ => String::new(),
        };
        let used = match &item.error {
            Some(e) => format!("<span class=\"error\">{}</span>", escape(e)),
            None => number(item.used.as_ref()),
        };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\" data-state=\"{class}\" data-{kind}=\"{id}\"><td class=\"badge\">\
             {word}</td><th scope=\"row\"><a href=\"#{anchor}\">{name}</a> <small>({kind})</small>\
             </th><td>{metric}</td><td class=\"n\">{used}</td><td class=\"n\">{licensed}</td>\
             <td class=\"n\">{delta}</td><td>{peak}</td></tr>",
            kind = item.kind,
            id = escape(item.id),
            anchor = escape(&item.anchor),
            name = escape(item.name),
            metric = escape(&item.metric),
            licensed = number(item.licensed.as_ref()),
            peak = escape(item.peak_date.unwrap_or("")),
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn usage(out: &mut String, report: &Report, items: &[Item], query: &str) {
    out.push_str("<section id=\"usage\"><h2>Usage over time</h2>\n");
    let query = query.replace('&', "&amp;");
    for item in items {
        let _ = writeln!(
            out,
            "<section class=\"item\" id=\"{}\"><h3>{} <small>({}, {})</small></h3>",
            escape(&item.anchor),
            escape(item.name),
            item.kind,
            escape(&item.metric)
        );
        if let Some(e) = &item.error {
            let _ = writeln!(out, "<p class=\"error\">Not computed: {}</p>", escape(e));
        }
        let entitlement = item
            .licensed
            .as_ref()
            .and_then(|l| l.to_string().parse().ok());
        let title = format!("{}: daily values", item.name);
        match chart::svg(&Chart {
            title: &title,
            start: report.start,
            daily: item.daily,
            entitlement,
            peak_date: item.peak_date,
        }) {
            Ok(svg) => {
                let entitlement_note = match &item.licensed {
                    Some(l) => format!(
                        "; the <span style=\"color:{}\">red line</span> is the entitlement, {}",
                        chart::hex(chart::ENTITLEMENT_COLOUR),
                        number(Some(l))
                    ),
                    None => String::new(),
                };
                let peak_note = match item.peak_date {
                    Some(d) => format!("; the dot marks the high-water mark on {}", escape(d)),
                    None => String::new(),
                };
                let _ = writeln!(
                    out,
                    "<figure class=\"chart\" data-entitlement=\"{}\" data-peak=\"{}\">{svg}\
                     <figcaption>Daily values{entitlement_note}{peak_note}.</figcaption></figure>",
                    number(item.licensed.as_ref()),
                    escape(item.peak_date.unwrap_or("")),
                );
            }
            Err(e) => {
                let _ = writeln!(out, "<p class=\"error\">No chart: {}</p>", escape(&e));
            }
        }
        let id = escape(item.id);
        let _ = match item.kind {
            "product" => writeln!(
                out,
                "<p class=\"drill\"><a class=\"peak\" href=\"/status/products/{id}?{query}\">Peak \
                 day: explanation and top consumers</a> · <a class=\"chargeback\" \
                 href=\"/status/products/{id}?{query}#chargeback\">Chargeback lines</a></p>"
            ),
            _ => writeln!(
                out,
                "<p class=\"drill\"><a class=\"chargeback\" \
                 href=\"/api/v1/chargeback?bundle={id}&amp;start={}&amp;end={}\">Chargeback \
                 (JSON)</a></p>",
                report.start, report.end
            ),
        };
        out.push_str("</section>\n");
    }
    out.push_str("</section>\n");
}

fn freshness(out: &mut String, report: &Report, context: &Context) {
    out.push_str(
        "<section id=\"freshness\"><h2>Freshness</h2>\n<table><caption>Facts per source\
         </caption><thead><tr><th scope=\"col\">Source</th><th scope=\"col\">Kind</th>\
         <th scope=\"col\">Facts</th><th scope=\"col\">Last batch</th></tr></thead><tbody>\n",
    );
    for s in context.sources {
        let last = chrono::DateTime::from_timestamp_millis(s.last_batch_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let source = if s.source.is_empty() {
            "(none named)"
        } else {
            &s.source
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{last}</td></tr>",
            escape(source),
            escape(&s.kind),
            s.facts
        );
    }
    out.push_str("</tbody></table>\n");
    if report.end > context.today {
        let _ = writeln!(
            out,
            "<p>{} is in progress: its figures grow until the day ends.</p>",
            context.today
        );
    }
    out.push_str("</section>\n");
}

fn warnings(out: &mut String, warnings: Option<&[Value]>) {
    out.push_str("<section id=\"warnings\"><h2>Warnings</h2>\n");
    let list = match warnings {
        None => {
            out.push_str("<p>Not shown to a scoped token (they name consumers).</p></section>\n");
            return;
        }
        Some([]) => {
            out.push_str("<p>None.</p></section>\n");
            return;
        }
        Some(list) => list,
    };
    // code → (count, products, one message)
    let mut by_code: BTreeMap<&str, (usize, std::collections::BTreeSet<&str>, &str)> =
        BTreeMap::new();
    for w in list {
        let field = |name: &str| w.get(name).and_then(Value::as_str).unwrap_or("");
        let entry =
            by_code
                .entry(field("code"))
                .or_insert((0, Default::default(), field("message")));
        entry.0 += 1;
        entry.1.insert(field("product"));
    }
    out.push_str(
        "<table><caption>Data-quality warnings by code</caption><thead><tr>\
         <th scope=\"col\">Code</th><th scope=\"col\">Count</th><th scope=\"col\">Products</th>\
         <th scope=\"col\">Example</th></tr></thead><tbody>\n",
    );
    for (code, (count, products, message)) in by_code {
        let products: Vec<String> = products.iter().map(|p| escape(p)).collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{count}</td><td>{}</td><td>{}</td></tr>",
            escape(code),
            products.join(", "),
            escape(message)
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn plugins(out: &mut String, plugins: &[(String, String, String)]) {
    out.push_str(
        "<section id=\"plugins\"><h2>Plugins</h2>\n<table><caption>Plugins in force</caption>\
         <thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Version</th>\
         <th scope=\"col\">Digest</th></tr></thead><tbody>\n",
    );
    for (name, version, digest) in plugins {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(name),
            escape(version),
            escape(digest)
        );
    }
    out.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_the_entitlement() {
        let e = |n: i128| Exact::int(n);
        assert_eq!(State::of(&e(6140), Some(&e(6000))), State::Over);
        assert_eq!(State::of(&e(5400), Some(&e(6000))), State::Near);
        assert_eq!(State::of(&e(5399), Some(&e(6000))), State::Within);
        assert_eq!(State::of(&e(5399), None), State::Unlicensed);
        assert!(State::Over < State::Failed && State::Failed < State::Near);
    }
}
