//! Learning curves and predicted-vs-experimental plots, as PNG and SVG.
//!
//! The font ships with the binary (DejaVu Sans, `assets/fonts`) so plots render the same
//! on machines without system fonts.

use super::Summary;
use super::trainer::Prepared;
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the bundled font once, before the first plot.
pub(crate) fn register_font() {
    REGISTER.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// The error of a plot that could not be drawn to `path`.
pub(crate) fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("plotting failed: {e}")),
    }
}

/// Writes `learning_curve.{png,svg}` and `pred_vs_exp.{png,svg}` into `out`.
pub fn write_all(
    out: &Path,
    prepared: &Prepared,
    by_part: &HashMap<String, Vec<(usize, f64)>>,
    summary: &Summary,
) -> Result<()> {
    register_font();
    let metrics_text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap_or_default();
    let mut curves: Vec<(f64, f64, f64)> = Vec::new();
    for line in metrics_text.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            curves.push((
                v["epoch"].as_f64().unwrap_or(0.0),
                v["train_loss"].as_f64().unwrap_or(f64::NAN),
                v["val_loss"].as_f64().unwrap_or(f64::NAN),
            ));
        }
    }
    for ext in ["png", "svg"] {
        let path = out.join(format!("learning_curve.{ext}"));
        if ext == "png" {
            learning_curve(
                BitMapBackend::new(&path, (800, 500)).into_drawing_area(),
                &curves,
            )
        } else {
            learning_curve(
                SVGBackend::new(&path, (800, 500)).into_drawing_area(),
                &curves,
            )
        }
        .map_err(|e| plot_error(&path, e))?;
        let path = out.join(format!("pred_vs_exp.{ext}"));
        if ext == "png" {
            scatter(
                BitMapBackend::new(&path, (700, 700)).into_drawing_area(),
                prepared,
                by_part,
                summary,
            )
        } else {
            scatter(
                SVGBackend::new(&path, (700, 700)).into_drawing_area(),
                prepared,
                by_part,
                summary,
            )
        }
        .map_err(|e| plot_error(&path, e))?;
    }
    Ok(())
}

pub(crate) type PlotResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn learning_curve<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    curves: &[(f64, f64, f64)],
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let finite = curves
        .iter()
        .flat_map(|c| [c.1, c.2])
        .filter(|v| v.is_finite());
    let hi = finite.clone().fold(f64::NEG_INFINITY, f64::max).max(1e-9) * 1.05;
    let last = curves.last().map_or(1.0, |c| c.0).max(1.0);
    let mut chart = ChartBuilder::on(&area)
        .caption("Learning curve", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..last + 0.5, 0.0..hi)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .draw()?;
    chart
        .draw_series(LineSeries::new(curves.iter().map(|c| (c.0, c.1)), &BLUE))?
        .label("train")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(
            curves
                .iter()
                .filter(|c| c.2.is_finite())
                .map(|c| (c.0, c.2)),
            &RED,
        ))?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    area.present()?;
    Ok(())
}

fn scatter<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    prepared: &Prepared,
    by_part: &HashMap<String, Vec<(usize, f64)>>,
    summary: &Summary,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let points: Vec<(String, f64, f64)> = ["train", "val", "test"]
        .iter()
        .flat_map(|part| {
            by_part
                .get(*part)
                .into_iter()
                .flatten()
                .filter_map(move |&(i, p)| {
                    let l = prepared.compounds[i].label.as_ref()?;
                    Some((part.to_string(), l.value, p))
                })
        })
        .collect();
    let all = points.iter().flat_map(|p| [p.1, p.2]);
    let lo = all.clone().fold(f64::INFINITY, f64::min) - 0.5;
    let hi = all.fold(f64::NEG_INFINITY, f64::max) + 0.5;
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let mut chart = ChartBuilder::on(&area)
        .caption("Predicted vs experimental", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(lo..hi, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("experimental")
        .y_desc("predicted")
        .draw()?;
    chart
        .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.5)))?
        .label("identity")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5)));
    for (part, color) in [("train", BLUE), ("val", GREEN), ("test", RED)] {
        let label = match summary.metrics.get(part).copied().flatten() {
            Some(m) => format!(
                "{part}: RMSE {:.2} [{:.2}, {:.2}], r {:.2}, ρ {:.2}",
                m.rmse.value, m.rmse.lo, m.rmse.hi, m.pearson.value, m.spearman.value
            ),
            None => part.to_string(),
        };
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.0 == part)
                    .map(|p| Circle::new((p.1, p.2), 4, color.filled())),
            )?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    area.present()?;
    Ok(())
}
