//! The benchmark's figure: per-target Spearman ρ of every arm (PNG and SVG).

use super::Report;
use crate::error::Result;
use crate::train::plots::{PlotResult, plot_error, register_font};
use plotters::prelude::*;
use std::path::Path;

/// Writes `per_target_rho.png` and `per_target_rho.svg` into `out`.
pub fn write(report: &Report, out: &Path) -> Result<()> {
    register_font();
    let size = ((160 + 70 * report.targets.len() as u32).max(760), 560);
    let png = out.join("per_target_rho.png");
    draw(BitMapBackend::new(&png, size).into_drawing_area(), report)
        .map_err(|e| plot_error(&png, e))?;
    let svg = out.join("per_target_rho.svg");
    draw(SVGBackend::new(&svg, size).into_drawing_area(), report).map_err(|e| plot_error(&svg, e))
}

fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let targets: Vec<&String> = report.targets.keys().collect();
    let t = targets.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&area)
        .caption(
            "Per-target Spearman ρ (out-of-fold test predictions)",
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5..t - 0.5, -1.0..1.0)?;
    chart
        .configure_mesh()
        .x_labels(targets.len().max(1))
        .x_label_formatter(&|x| {
            let k = x.round();
            let name = (k >= 0.0 && (k - x).abs() < 1e-6)
                .then(|| targets.get(k as usize))
                .flatten();
            name.map_or(String::new(), |n| n.to_string())
        })
        .y_desc("Spearman ρ")
        .draw()?;
    chart.draw_series(LineSeries::new(
        [(-0.5, 0.0), (t - 0.5, 0.0)],
        BLACK.mix(0.4),
    ))?;
    let arms = report.arms.len().max(1) as f64;
    for (a, arm) in report.arms.iter().enumerate() {
        let color = Palette99::pick(a).to_rgba();
        let offset = (a as f64 - (arms - 1.0) / 2.0) * 0.6 / arms;
        let points: Vec<(f64, f64)> = targets
            .iter()
            .enumerate()
            .filter_map(|(k, name)| {
                let m = arm.metrics.per_target.get(*name)?;
                Some((k as f64 + offset, m.spearman.value))
            })
            .collect();
        let label = match arm.metrics.mean_spearman {
            Some(m) => format!("{} (mean {:.2})", arm.arm, m.value),
            None => arm.arm.to_string(),
        };
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 5, color.filled())))?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    area.present()?;
    Ok(())
}
