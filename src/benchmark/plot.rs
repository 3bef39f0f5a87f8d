//! The benchmark's figures: per-target Spearman ρ and MAE of every arm (PNG and SVG).

use super::{ArmReport, Report};
use crate::error::Result;
use crate::train::metrics::{Interval, Metrics};
use crate::train::plots::{PlotResult, plot_error, register_font};
use plotters::prelude::*;
use std::path::Path;

/// One figure: which metric, its axis and file name.
struct Figure {
    stem: &'static str,
    title: &'static str,
    axis: &'static str,
    /// A correlation on [-1, 1]; else an error from 0 up.
    correlation: bool,
    value: fn(&Metrics) -> f64,
    mean: fn(&ArmReport) -> Option<Interval>,
}

const FIGURES: [Figure; 2] = [
    Figure {
        stem: "per_target_rho",
        title: "Per-target Spearman ρ (out-of-fold test predictions)",
        axis: "Spearman ρ",
        correlation: true,
        value: |m| m.spearman.value,
        mean: |a| a.metrics.mean_spearman,
    },
    Figure {
        stem: "per_target_mae",
        title: "Per-target MAE (out-of-fold test predictions; lower is better)",
        axis: "MAE (p units)",
        correlation: false,
        value: |m| m.mae.value,
        mean: |a| a.metrics.mean_mae,
    },
];

/// Writes `per_target_rho.{png,svg}` and `per_target_mae.{png,svg}` into `out`.
pub fn write(report: &Report, out: &Path) -> Result<()> {
    register_font();
    let size = ((160 + 70 * report.targets.len() as u32).max(760), 560);
    for f in &FIGURES {
        let png = out.join(format!("{}.png", f.stem));
        draw(
            BitMapBackend::new(&png, size).into_drawing_area(),
            report,
            f,
        )
        .map_err(|e| plot_error(&png, e))?;
        let svg = out.join(format!("{}.svg", f.stem));
        draw(SVGBackend::new(&svg, size).into_drawing_area(), report, f)
            .map_err(|e| plot_error(&svg, e))?;
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
    fig: &Figure,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let targets: Vec<&String> = report.targets.keys().collect();
    let t = targets.len().max(1) as f64;
    let values = report
        .arms
        .iter()
        .flat_map(|a| a.metrics.per_target.values().map(fig.value));
    let top = values.fold(0.0f64, |m, v| if v.is_finite() { m.max(v) } else { m });
    let range = if fig.correlation {
        -1.0..1.0
    } else {
        0.0..(top * 1.15).max(0.1)
    };
    let mut chart = ChartBuilder::on(&area)
        .caption(fig.title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5..t - 0.5, range)?;
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
        .y_desc(fig.axis)
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
                Some((k as f64 + offset, (fig.value)(m)))
            })
            .collect();
        let label = match (fig.mean)(arm) {
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
