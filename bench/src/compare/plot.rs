//! SVG plots of a comparison: per scenario and phase, msg/s accepted and forwarded by
//! system, and the submit→resp
//! latency percentiles (p50, p99, p99.9) by system on a log scale.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::{Results, Row};

const WIDTH: u32 = 800;
const HEIGHT: u32 = 480;
const PERCENTILES: [(&str, RGBColor); 3] = [
    ("p50", RGBColor(0x7f, 0xb3, 0xd5)),
    ("p99", RGBColor(0x2b, 0x6c, 0xb0)),
    ("p99.9", RGBColor(0x0b, 0x2a, 0x55)),
];

fn error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a plot: {e}")
}

/// Writes the plots of every scenario and phase into `dir`; returns their paths.
pub fn write(results: &Results, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (scenario, phase, rows) in results.tables() {
        let suffix = if phase == "max" { "" } else { "-rate" };
        let title = match rows[0].target_rate {
            Some(rate) => format!("{} at {rate:.0} msg/s", scenario.name()),
            None => format!("{} {}", scenario.name(), scenario.title()),
        };
        let path = dir.join(format!("{}{suffix}-throughput.svg", scenario.name()));
        throughput(&path, &format!("{title}: msg/s"), &rows)?;
        written.push(path);
        let path = dir.join(format!("{}{suffix}-latency.svg", scenario.name()));
        latency(&path, &format!("{title}: submit→resp latency (ms)"), &rows)?;
        written.push(path);
    }
    Ok(written)
}

fn names(rows: &[&Row]) -> Vec<String> {
    rows.iter().map(|r| r.system.name().to_owned()).collect()
}

fn throughput(path: &Path, title: &str, rows: &[&Row]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(error)?;
    let values = |r: &Row| [r.msg_per_sec, r.forwarded_per_sec];
    let top = rows.iter().flat_map(|r| values(r)).fold(1.0_f64, f64::max) * 1.15;
    let labels = names(rows);
    let n = rows.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)
        .map_err(error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("msg/s")
        .draw()
        .map_err(error)?;
    for (k, (name, color)) in [
        ("accepted", PERCENTILES[1].1),
        ("forwarded", PERCENTILES[0].1),
    ]
    .into_iter()
    .enumerate()
    {
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| {
                let x = i as f64 + 0.15 + 0.35 * k as f64;
                Rectangle::new([(x, 0.0), (x + 0.33, values(r)[k])], color.filled())
            }))
            .map_err(error)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| {
                let v = values(r)[k];
                Text::new(
                    format!("{v:.0}"),
                    (i as f64 + 0.15 + 0.35 * k as f64, v + top * 0.02),
                    ("sans-serif", 12),
                )
            }))
            .map_err(error)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(error)?;
    name_slots(&root, |x| chart.backend_coord(&(x, 0.0)), &labels)?;
    root.present().map_err(error)?;
    Ok(())
}

/// Each system's name under the middle of its slot (x from `i` to `i + 1`), below the
/// point `(x, y_axis)` of the chart.
fn name_slots(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    at: impl Fn(f64) -> (i32, i32),
    labels: &[String],
) -> anyhow::Result<()> {
    let style =
        TextStyle::from(("sans-serif", 15).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, label) in labels.iter().enumerate() {
        let (x, y) = at(i as f64 + 0.5);
        root.draw(&Text::new(label.clone(), (x, y + 8), style.clone()))
            .map_err(error)?;
    }
    Ok(())
}

fn latency(path: &Path, title: &str, rows: &[&Row]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(error)?;
    let values = |r: &Row| [r.latency_ms.p50, r.latency_ms.p99, r.latency_ms.p999];
    let top = rows.iter().flat_map(|r| values(r)).fold(1.0_f64, f64::max) * 2.0;
    let bottom = rows
        .iter()
        .flat_map(|r| values(r))
        .filter(|v| *v > 0.0)
        .fold(top, f64::min)
        .max(0.001)
        / 2.0;
    let labels = names(rows);
    let n = rows.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, (bottom..top).log_scale())
        .map_err(error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|_| String::new())
        .y_desc("ms (log)")
        .draw()
        .map_err(error)?;
    for (k, (name, color)) in PERCENTILES.iter().enumerate() {
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| {
                let x = i as f64 + 0.15 + 0.23 * k as f64;
                let v = values(r)[k].max(bottom);
                Rectangle::new([(x, bottom), (x + 0.2, v)], color.filled())
            }))
            .map_err(error)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(error)?;
    name_slots(&root, |x| chart.backend_coord(&(x, bottom)), &labels)?;
    root.present().map_err(error)?;
    Ok(())
}
