//! The drill-down from a product's figure: its high-water mark's day with the explanation of
//! how the number was reached, the top consumers then with the chargeback group each is
//! charged to, and the period's chargeback lines — as HTML, or one table as CSV. Costs one
//! evaluation of the product with every day's detail (mostly read from the day cache).

use std::fmt::Write;

use chrono::NaiveDate;

use super::escape;
use crate::eval::ProductDays;
use crate::eval::chargeback::{self, Chargeback};
use crate::eval::period::{self, Usage};

/// Consumers shown on the page (all of them in the CSV).
const TOP: usize = 20;

/// One table of the drill-down, for its CSV.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    Consumers,
    Chargeback,
}

/// A product's drill-down over `[start, end)`.
pub struct View<'d> {
    days: &'d ProductDays,
    start: NaiveDate,
    end: NaiveDate,
    usage: Result<Usage, String>,
    chargeback: Result<Chargeback, String>,
}

impl<'d> View<'d> {
    pub fn of(days: &'d ProductDays, start: NaiveDate, end: NaiveDate) -> View<'d> {
        let usage =
            period::usage(days, start, end, None, chrono::Weekday::Mon).map_err(|e| e.to_string());
        let config = days.product.chargeback.clone().unwrap_or_default();
        let chargeback = match &usage {
            Ok(u) => chargeback::allocate(days, u, &config).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        View {
            days,
            start,
            end,
            usage,
            chargeback,
        }
    }

    fn group_by(&self) -> &str {
        self.days
            .product
            .chargeback
            .as_ref()
            .map_or("cost_center", chargeback::grouped_by)
    }

    /// `(consumer, unit, weight, group)` at the peak, heaviest first.
    fn consumers(&self) -> Vec<[String; 4]> {
        let Ok(usage) = &self.usage else {
            return Vec::new();
        };
        let mut rows: Vec<(licmetric_sdk::Exact, [String; 4])> = usage
            .contributors
            .iter()
            .map(|c| {
                (
                    c.weight.parse().unwrap_or(licmetric_sdk::Exact::ZERO),
                    [
                        format!("{}:{}", c.kind, c.key),
                        c.unit.clone(),
                        c.weight.clone(),
                        chargeback::group_of(c, self.group_by()).to_string(),
                    ],
                )
            })
            .collect();
        rows.sort_by_key(|(weight, _)| std::cmp::Reverse(*weight));
        rows.into_iter().map(|(_, r)| r).collect()
    }

    /// `(group, quantity, cost)` of each chargeback group.
    fn groups(&self) -> Vec<[String; 3]> {
        match &self.chargeback {
            Ok(c) => c
                .groups
                .iter()
                .map(|g| {
                    [
                        g.group.clone(),
                        g.quantity.clone(),
                        g.cost.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// One table as CSV under a header row.
    pub fn csv(&self, table: Table) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        // Writing to a Vec cannot fail.
        match table {
            Table::Consumers => {
                writer
                    .write_record(["consumer", "unit", "weight", "group"])
                    .expect("csv");
                for row in self.consumers() {
                    writer.write_record(&row).expect("csv");
                }
            }
            Table::Chargeback => {
                writer
                    .write_record(["group", "quantity", "cost"])
                    .expect("csv");
                for row in self.groups() {
                    writer.write_record(&row).expect("csv");
                }
            }
        }
        writer.into_inner().expect("csv")
    }

    /// The page; links carry `token_query` (`&token=…` or nothing).
    pub fn render(&self, token_query: &str) -> String {
        let p = &self.days.product;
        let name = p.name.as_deref().unwrap_or(&p.id);
        let last = self.end.pred_opt().unwrap_or(self.end);
        let query = format!(
            "startDate={}&amp;endDate={last}{}",
            self.start,
            token_query.replace('&', "&amp;")
        );
        let id = escape(&p.id);
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{name} — licmetric</title><style>body{{font-family:system-ui,sans-serif;\
             margin:1.5rem;max-width:60rem}}table{{border-collapse:collapse}}td,th{{border:1px \
             solid #bbb;padding:.25rem .6rem;text-align:left}}thead th{{background:#f2f2f2}}\
             </style></head><body>\n<p><a href=\"/status?{query}#product-{id}\">← Status</a></p>\n\
             <h1>{name}</h1>\n<p>Period {} to {last} (included)</p>\n",
            self.start,
            name = escape(name),
        );
        match &self.usage {
            Err(e) => {
                let _ = writeln!(out, "<p class=\"error\">Not computed: {}</p>", escape(e));
            }
            Ok(u) => {
                let _ = write!(
                    out,
                    "<section id=\"peak\"><h2>Peak day {}</h2>\n<p>High-water mark {} {}</p>\n<ul>",
                    escape(u.peak_date.as_deref().unwrap_or("none")),
                    escape(&u.quantity),
                    escape(&u.metric_code_name),
                );
                for line in &u.explanation {
                    let _ = write!(out, "<li>{}</li>", escape(line));
                }
                out.push_str("</ul>\n");
                let consumers = self.consumers();
                let _ = writeln!(
                    out,
                    "<table id=\"consumers\"><caption>Top consumers at the peak ({} of {}; \
                     <a href=\"/status/products/{id}?{query}&amp;table=consumers&amp;format=csv\">\
                     CSV</a>)</caption><thead><tr><th scope=\"col\">Consumer</th>\
                     <th scope=\"col\">Unit</th><th scope=\"col\">Weight</th>\
                     <th scope=\"col\">Group ({})</th></tr></thead><tbody>",
                    consumers.len().min(TOP),
                    consumers.len(),
                    escape(self.group_by()),
                );
                for row in consumers.iter().take(TOP) {
                    let _ = writeln!(
                        out,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(&row[0]),
                        escape(&row[1]),
                        escape(&row[2]),
                        escape(&row[3])
                    );
                }
                out.push_str("</tbody></table></section>\n");
            }
        }
        let _ = write!(
            out,
            "<section id=\"chargeback\"><h2>Chargeback</h2>\n<table><caption>Who pays for the \
             period quantity (<a href=\"/status/products/{id}?{query}&amp;table=chargeback&amp;\
             format=csv\">CSV</a>)</caption><thead><tr><th scope=\"col\">Group</th>\
             <th scope=\"col\">Quantity</th><th scope=\"col\">Cost</th></tr></thead><tbody>\n"
        );
        if let Err(e) = &self.chargeback {
            let _ = writeln!(
                out,
                "<tr><td colspan=\"3\" class=\"error\">{}</td></tr>",
                escape(e)
            );
        }
        for row in self.groups() {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&row[0]),
                escape(&row[1]),
                escape(&row[2])
            );
        }
        out.push_str("</tbody></table></section>\n</body></html>\n");
        out
    }
}
