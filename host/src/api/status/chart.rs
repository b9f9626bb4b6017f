//! A product's or bundle's daily values over a period as an inline SVG chart (plotters' SVG
//! backend): one line per region (partition) stacked into the total, the entitlement as a red
//! horizontal line and the high-water mark's day as a dot. No script and no external file, so
//! the page works offline and prints. Costs one pass over the days; about 10 KB of SVG per
//! 30 days.

use chrono::NaiveDate;
use plotters::prelude::*;

use crate::eval::period::DailyValue;

/// The colour of the entitlement line; tests and the page's legend name it.
pub const ENTITLEMENT_COLOUR: RGBColor = RGBColor(0xC0, 0x39, 0x2B);
const TOTAL_COLOUR: RGBColor = RGBColor(0x1F, 0x4E, 0x79);
const REGION_COLOURS: [RGBColor; 4] = [
    RGBColor(0x2E, 0x86, 0xC1),
    RGBColor(0x28, 0xB4, 0x63),
    RGBColor(0xAF, 0x7A, 0xC5),
    RGBColor(0xF3, 0x9C, 0x12),
];

/// What one chart shows.
pub struct Chart<'a> {
    /// What the chart is of, for screen readers.
    pub title: &'a str,
    pub start: NaiveDate,
    pub daily: &'a [DailyValue],
    pub entitlement: Option<f64>,
    pub peak_date: Option<&'a str>,
}

/// `#RRGGBB` of a plotters colour, as the SVG carries it.
pub fn hex(colour: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2)
}

fn value(text: &str) -> f64 {
    text.parse::<licmetric_sdk::Exact>()
        .ok()
        .and_then(|e| e.to_string().parse().ok())
        .or_else(|| text.parse().ok())
        .unwrap_or(0.0)
}

/// The chart as an `<svg>` element, or why plotters could not draw it.
pub fn svg(chart: &Chart) -> Result<String, String> {
    let days: Vec<(i64, &DailyValue)> = chart
        .daily
        .iter()
        .filter_map(|d| {
            let date = NaiveDate::parse_from_str(&d.date, "%Y-%m-%d").ok()?;
            Some(((date - chart.start).num_days(), d))
        })
        .collect();
    let last = days.last().map_or(1, |(i, _)| (*i).max(1));
    let top = days
        .iter()
        .map(|(_, d)| value(&d.quantity))
        .chain(chart.entitlement)
        .fold(1.0_f64, f64::max)
        * 1.12;
    let regions: std::collections::BTreeSet<&String> =
        days.iter().flat_map(|(_, d)| d.partitions.keys()).collect();
    let start = chart.start;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (640, 220)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut plot = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(56)
            .build_cartesian_2d(0..last, 0.0..top)
            .map_err(|e| e.to_string())?;
        plot.configure_mesh()
            .x_labels(7)
            .y_labels(5)
            .x_label_formatter(&|i| {
                (start + chrono::Duration::days(*i))
                    .format("%m-%d")
                    .to_string()
            })
            .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
            .draw()
            .map_err(|e| e.to_string())?;
        // Regions stacked: each line is the sum of itself and the regions before it.
        if regions.len() > 1 {
            for n in 0..regions.len() {
                let colour = REGION_COLOURS[n % REGION_COLOURS.len()];
                let points = days.iter().map(|(i, d)| {
                    let below: f64 = regions
                        .iter()
                        .take(n + 1)
                        .map(|r| d.partitions.get(*r).map_or(0.0, |q| value(q)))
                        .sum();
                    (*i, below)
                });
                plot.draw_series(LineSeries::new(points, colour.stroke_width(1)))
                    .map_err(|e| e.to_string())?;
            }
        }
        plot.draw_series(LineSeries::new(
            days.iter().map(|(i, d)| (*i, value(&d.quantity))),
            TOTAL_COLOUR.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
        if let Some(e) = chart.entitlement {
            plot.draw_series(LineSeries::new(
                [(0, e), (last, e)],
                ENTITLEMENT_COLOUR.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        }
        if let Some((i, d)) = chart
            .peak_date
            .and_then(|p| days.iter().find(|(_, d)| d.date == p))
        {
            plot.draw_series(std::iter::once(Circle::new(
                (*i, value(&d.quantity)),
                5,
                BLACK.filled(),
            )))
            .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    // A title for screen readers, as the first child of the svg element.
    let title = format!("<title>{}</title>", super::escape(chart.title));
    Ok(match out.find('>') {
        Some(at) => {
            let mut svg = out;
            svg.insert_str(at + 1, &title);
            svg.replacen("<svg ", "<svg role=\"img\" ", 1)
        }
        None => out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, quantity: &str) -> DailyValue {
        DailyValue {
            date: date.into(),
            quantity: quantity.into(),
            partitions: Default::default(),
            measures: Default::default(),
        }
    }

    #[test]
    fn draws_the_values_the_entitlement_and_the_peak() {
        let daily = [
            day("2026-11-01", "4"),
            day("2026-11-02", "9"),
            day("2026-11-03", "6"),
        ];
        let svg = svg(&Chart {
            title: "MQ <VPC>",
            start: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            daily: &daily,
            entitlement: Some(8.0),
            peak_date: Some("2026-11-02"),
        })
        .unwrap();
        assert!(svg.starts_with("<svg role=\"img\" "), "{svg}");
        assert!(svg.contains("<title>MQ &lt;VPC&gt;</title>"), "{svg}");
        assert!(svg.contains(&hex(ENTITLEMENT_COLOUR)), "{svg}");
        assert!(svg.contains("<circle"), "{svg}");
        assert!(svg.contains("11-02"), "{svg}");
    }
}
