//! Charts as SVG text, drawn with plotters' `SVGBackend::with_string`. Text is emitted as SVG
//! `<text>` elements (no font files are read), so the SVG can be inlined in the HTML report.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::format;
use crate::lab::report::{Chart, ChartKind};

const SIZE: (u32, u32) = (760, 420);
const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
];

/// The chart as an `<svg>` element.
pub fn svg(chart: &Chart) -> Result<String, String> {
    let mut buf = String::new();
    match chart.kind {
        ChartKind::LinesLogX => lines_log_x(chart, &mut buf)?,
        ChartKind::Bars => bars(chart, &mut buf)?,
    }
    Ok(buf)
}

fn points(chart: &Chart) -> impl Iterator<Item = [f64; 2]> + '_ {
    chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|p| p[0].is_finite() && p[1].is_finite())
}

fn y_max(chart: &Chart) -> f64 {
    let max = points(chart).map(|p| p[1]).fold(0.0_f64, f64::max);
    if max > 0.0 {
        // Headroom for the legend above the data.
        max * 1.3
    } else {
        1.0
    }
}

fn lines_log_x(chart: &Chart, buf: &mut String) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let x_min = points(chart)
        .map(|p| p[0])
        .filter(|x| *x > 0.0)
        .fold(f64::INFINITY, f64::min);
    let x_max = points(chart).map(|p| p[0]).fold(0.0_f64, f64::max);
    let (x_min, x_max) = if x_min.is_finite() && x_max > x_min {
        (x_min / 1.4, x_max * 1.4)
    } else {
        (0.5, 2.0)
    };
    let y_max = y_max(chart);
    let root = SVGBackend::with_string(buf, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut cc = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d((x_min..x_max).log_scale(), 0.0..y_max)
        .map_err(|e| err(&e))?;
    let (x_unit, y_unit) = (chart.x_unit, chart.y_unit);
    cc.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_label_formatter(&|x| format::number(*x, x_unit))
        .y_label_formatter(&|y| format::number(*y, y_unit))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, series) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = series
            .points
            .iter()
            .filter(|p| p[0] > 0.0 && p[1].is_finite())
            .map(|p| (p[0], p[1]))
            .collect();
        cc.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(series.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        cc.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|e| err(&e))?;
    }
    cc.configure_series_labels()
        .position(SeriesLabelPosition::UpperMiddle)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

fn bars(chart: &Chart, buf: &mut String) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let n = chart.categories.len().max(1);
    let y_max = y_max(chart);
    let root = SVGBackend::with_string(buf, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut cc = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..y_max)
        .map_err(|e| err(&e))?;
    let categories = &chart.categories;
    let y_unit = chart.y_unit;
    cc.configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => categories.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|y| format::number(*y, y_unit))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, series) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let rects: Vec<Rectangle<(SegmentValue<usize>, f64)>> = series
            .points
            .iter()
            .filter(|p| p[0] >= 0.0 && (p[0] as usize) < n && p[1].is_finite())
            .map(|p| {
                let x = p[0] as usize;
                let right = if x + 1 >= n {
                    SegmentValue::Last
                } else {
                    SegmentValue::Exact(x + 1)
                };
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(x), 0.0), (right, p[1])],
                    color.filled(),
                );
                bar.set_margin(0, 0, 10, 10);
                bar
            })
            .collect();
        cc.draw_series(rects)
            .map_err(|e| err(&e))?
            .label(series.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    cc.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
