//! Learning curves and predicted-vs-experimental plots, as PNG and SVG.
//!
//! The font ships with the binary (DejaVu Sans, `assets/fonts`) so plots render the same
//! on machines without system fonts.

use super::metrics::Metrics;
use super::run_dir::{Plot, RunDir};
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

/// One epoch of the learning curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochLosses {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub train: f64,
    /// Mean validation loss.
    pub val: f64,
}

/// One compound of the predicted-vs-experimental plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScatterPoint {
    /// `train`, `val` or `test`.
    pub part: &'static str,
    /// The measured value.
    pub label: f64,
    /// The prediction.
    pub prediction: f64,
}

/// Writes the learning curve and the predicted-vs-experimental plot (PNG and SVG) into
/// the run folder; `metrics` (per part) label the scatter's legend.
pub fn write_all(
    dir: &RunDir,
    curve: &[EpochLosses],
    points: &[ScatterPoint],
    metrics: &HashMap<String, Option<Metrics>>,
) -> Result<()> {
    register_font();
    for ext in ["png", "svg"] {
        let path = dir.plot(Plot::LearningCurve, ext);
        if ext == "png" {
            learning_curve(
                BitMapBackend::new(&path, (800, 500)).into_drawing_area(),
                curve,
            )
        } else {
            learning_curve(
                SVGBackend::new(&path, (800, 500)).into_drawing_area(),
                curve,
            )
        }
        .map_err(|e| plot_error(&path, e))?;
        let path = dir.plot(Plot::PredVsExp, ext);
        if ext == "png" {
            scatter(
                BitMapBackend::new(&path, (700, 700)).into_drawing_area(),
                points,
                metrics,
            )
        } else {
            scatter(
                SVGBackend::new(&path, (700, 700)).into_drawing_area(),
                points,
                metrics,
            )
        }
        .map_err(|e| plot_error(&path, e))?;
    }
    Ok(())
}

pub(crate) type PlotResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn learning_curve<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    curve: &[EpochLosses],
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let curves: Vec<(f64, f64, f64)> = curve
        .iter()
        .map(|c| (c.epoch as f64, c.train, c.val))
        .collect();
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
    points: &[ScatterPoint],
    metrics: &HashMap<String, Option<Metrics>>,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let all = points.iter().flat_map(|p| [p.label, p.prediction]);
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
        let label = match metrics.get(part).copied().flatten() {
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
                    .filter(|p| p.part == part)
                    .map(|p| Circle::new((p.label, p.prediction), 4, color.filled())),
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
