//! Charts drawn here as inline SVG (no script and no chart library in the browser):
//! [`columns`] (bars per slot, side by side: calls per hour), [`hbars`] (bars per named
//! row: cases by category, by department) and [`lines`] (rates over days). Each mark
//! carries a `<title>` with its value, shown on hover; the legend is HTML beside the chart
//! ([`legend`]). Text from outside (a department's name) is escaped.

use std::fmt::Write;

/// The series colours, the stylesheet's accent first.
pub const BLUE: &str = "#1f6feb";
/// A light blue, for the series compared against (last week).
pub const PALE: &str = "#c9d6e8";
/// Green (done, on time).
pub const GREEN: &str = "#1a7f37";
/// Red (overdue, lost).
pub const RED: &str = "#cf222e";
/// Amber.
pub const AMBER: &str = "#bf8700";

/// One series: its name (in the marks' titles and the legend; may be empty), colour and
/// one value per slot, row or day.
pub struct Series<'a, T> {
    pub name: &'a str,
    pub colour: &'a str,
    pub values: &'a [T],
}

/// One slot of [`columns`]: the label under it (if any) and its name in titles.
pub struct Slot {
    pub tick: Option<String>,
    pub name: String,
}

/// Text put into SVG or HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The axis' top: the least of 1, 2, 5 × 10ⁿ (and 1) that is at least `max`.
pub fn nice_max(max: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max {
                return m * step;
            }
        }
        step *= 10;
    }
}

/// Horizontal grid lines at 0, half and the top, labelled with `label(fraction)`.
fn grid(
    svg: &mut String,
    (left, right, top, plot_h): (f64, f64, f64, f64),
    label: impl Fn(f64) -> Option<String>,
) {
    for k in 0..=2 {
        let f = f64::from(k) / 2.0;
        let y = top + plot_h * (1.0 - f);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}"/>"#
        );
        if let Some(text) = label(f) {
            let _ = write!(
                svg,
                r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{text}</text>"#,
                left - 4.0,
                y + 4.0
            );
        }
    }
}

fn open(id: &str, w: f64, h: f64) -> String {
    format!(
        r#"<svg class="chart" id="{}" viewBox="0 0 {w} {h}" role="img" xmlns="http://www.w3.org/2000/svg">"#,
        esc(id)
    )
}

/// Bars per slot, one per series side by side, over a grid from 0 to a round top.
pub fn columns(id: &str, slots: &[Slot], series: &[Series<'_, i64>]) -> String {
    let (w, h) = (960.0, 240.0);
    let (left, right, top, bottom) = (36.0, 8.0, 12.0, 24.0);
    let plot_h = h - top - bottom;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let max = nice_max(max.max(1));
    let mut svg = open(id, w, h);
    grid(&mut svg, (left, w - right, top, plot_h), |f| {
        let v = f * max as f64;
        (v.fract() == 0.0).then(|| format!("{v}"))
    });
    let slot = (w - left - right) / slots.len().max(1) as f64;
    let bw = ((slot - 4.0) / series.len().max(1) as f64 - 1.0).max(1.0);
    for (i, s) in slots.iter().enumerate() {
        let x0 = left + i as f64 * slot + 2.0;
        for (j, ser) in series.iter().enumerate() {
            let v = ser.values.get(i).copied().unwrap_or(0);
            let bh = plot_h * v as f64 / max as f64;
            let what = if ser.name.is_empty() {
                esc(&s.name)
            } else {
                format!("{} {}", esc(&s.name), esc(ser.name))
            };
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{bw:.1}" height="{bh:.1}" fill="{}"><title>{what} {v}</title></rect>"#,
                x0 + j as f64 * (bw + 1.0),
                top + plot_h - bh,
                ser.colour,
            );
        }
        if let Some(t) = &s.tick {
            let _ = write!(
                svg,
                r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x0 + (slot - 4.0) / 2.0,
                h - 6.0,
                esc(t)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// At most `n` characters of `s`, with `…` if cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// Horizontal bars: per row its label on the left (clipped; whole in the titles), then a
/// bar per series with its value at the end. Sized for half the page's width.
pub fn hbars(id: &str, rows: &[String], series: &[Series<'_, i64>]) -> String {
    let w = 480.0;
    let (label_w, value_w, top) = (128.0, 36.0, 6.0);
    let bar = 14.0;
    let row_h = series.len().max(1) as f64 * (bar + 2.0) + 10.0;
    let h = top * 2.0 + row_h * rows.len().max(1) as f64;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let max = nice_max(max.max(1)) as f64;
    let span = w - label_w - value_w;
    let mut svg = open(id, w, h);
    let _ = write!(
        svg,
        r#"<line class="grid" x1="{label_w}" y1="{top}" x2="{label_w}" y2="{:.1}"/>"#,
        h - top
    );
    for (i, name) in rows.iter().enumerate() {
        let y0 = top + i as f64 * row_h + 5.0;
        let _ = write!(
            svg,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{}<title>{}</title></text>"#,
            label_w - 8.0,
            y0 + (row_h - 10.0) / 2.0 + 5.0,
            esc(&clip(name, 8)),
            esc(name)
        );
        for (j, ser) in series.iter().enumerate() {
            let v = ser.values.get(i).copied().unwrap_or(0);
            let bw = span * v as f64 / max;
            let y = y0 + j as f64 * (bar + 2.0);
            let what = if ser.name.is_empty() {
                esc(name)
            } else {
                format!("{} {}", esc(name), esc(ser.name))
            };
            let _ = write!(
                svg,
                r#"<rect x="{label_w}" y="{y:.1}" width="{bw:.1}" height="{bar}" fill="{}"><title>{what} {v}</title></rect><text class="value" x="{:.1}" y="{:.1}">{v}</text>"#,
                ser.colour,
                label_w + bw + 4.0,
                y + bar - 3.0,
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Lines of rates (0 to 1, shown as percentages) over days: one point per day with a
/// value, the line broken where a day has none. `ticks` label the x axis (empty: none),
/// `names` name the days in the titles.
pub fn lines(
    id: &str,
    ticks: &[String],
    names: &[String],
    series: &[Series<'_, Option<f64>>],
) -> String {
    let (w, h) = (960.0, 240.0);
    let (left, right, top, bottom) = (44.0, 16.0, 12.0, 24.0);
    let plot_h = h - top - bottom;
    let n = names.len().max(1);
    let step = (w - left - right) / (n.max(2) - 1) as f64;
    let x = |i: usize| left + i as f64 * step;
    let y = |v: f64| top + plot_h * (1.0 - v.clamp(0.0, 1.0));
    let mut svg = open(id, w, h);
    grid(&mut svg, (left, w - right, top, plot_h), |f| {
        Some(format!("{}%", (f * 100.0) as i64))
    });
    for (i, t) in ticks.iter().enumerate().filter(|(_, t)| !t.is_empty()) {
        let _ = write!(
            svg,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(i),
            h - 6.0,
            esc(t)
        );
    }
    for ser in series {
        let mut d = String::new();
        let mut pen_down = false;
        let mut dots = String::new();
        for (i, v) in ser.values.iter().enumerate().take(n) {
            match v {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(i),
                        y(*v)
                    );
                    pen_down = true;
                    let name = names.get(i).map(String::as_str).unwrap_or("");
                    let _ = write!(
                        dots,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"><title>{} {} {:.1}%</title></circle>"#,
                        x(i),
                        y(*v),
                        ser.colour,
                        esc(name),
                        esc(ser.name),
                        v * 100.0
                    );
                }
                None => pen_down = false,
            }
        }
        if !d.is_empty() {
            let _ = write!(
                svg,
                r#"<path d="{}" fill="none" stroke="{}" stroke-width="2.5"/>"#,
                d.trim_end(),
                ser.colour
            );
        }
        svg.push_str(&dots);
    }
    svg.push_str("</svg>");
    svg
}

/// The legend of a chart's series, as HTML.
pub fn legend(series: &[(&str, &str)]) -> String {
    let mut html = String::from(r#"<p class="legend">"#);
    for (name, colour) in series {
        let _ = write!(
            html,
            r#"<span><i style="background:{colour}"></i>{}</span>"#,
            esc(name)
        );
    }
    html.push_str("</p>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        let tops: Vec<i64> = [0, 1, 2, 3, 6, 11, 20, 47, 51, 999]
            .into_iter()
            .map(nice_max)
            .collect();
        assert_eq!(tops, [1, 1, 2, 5, 10, 20, 20, 50, 100, 1000]);
    }

    #[test]
    fn columns_have_a_bar_per_slot_and_series_scaled_to_the_top() {
        let slots: Vec<Slot> = (0..4)
            .map(|i| Slot {
                tick: (i % 2 == 0).then(|| i.to_string()),
                name: format!("{i}:00"),
            })
            .collect();
        let svg = columns(
            "c",
            &slots,
            &[
                Series {
                    name: "a",
                    colour: BLUE,
                    values: &[1, 5, 0, 2],
                },
                Series {
                    name: "",
                    colour: PALE,
                    values: &[0, 0, 0, 0],
                },
            ],
        );
        assert!(svg.starts_with(r#"<svg class="chart" id="c""#) && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 8);
        assert!(svg.contains("<title>1:00 a 5</title>") && svg.contains("<title>1:00 0</title>"));
        // The top is 5: the 5 is a bar of the full plot height (240 − 12 − 24).
        assert!(svg.contains(r##"height="204.0" fill="#1f6feb""##), "{svg}");
        assert_eq!(
            svg.matches(r#"text-anchor="middle""#).count(),
            2,
            "ticks at 0 and 2"
        );
    }

    #[test]
    fn horizontal_bars_escape_and_clip_their_labels() {
        let rows = vec!["<b>&".to_string(), "一二三四五六七八九十".to_string()];
        let svg = hbars(
            "h",
            &rows,
            &[Series {
                name: "转办",
                colour: GREEN,
                values: &[2, 0],
            }],
        );
        assert!(!svg.contains("<b>") && svg.contains("&lt;b&gt;&amp;"));
        assert!(svg.contains(">一二三四五六七…<title>一二三四五六七八九十</title>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("<title>&lt;b&gt;&amp; 转办 2</title>"));
    }

    #[test]
    fn lines_break_where_a_day_has_no_value() {
        let names: Vec<String> = (1..=4).map(|d| format!("03-0{d}")).collect();
        let svg = lines(
            "t",
            &names,
            &names,
            &[Series {
                name: "满意率",
                colour: BLUE,
                values: &[Some(1.0), Some(0.5), None, Some(0.0)],
            }],
        );
        assert_eq!(svg.matches("<circle").count(), 3);
        // Two pieces: the first two days, then the fourth alone.
        let d = svg.split(r#"<path d=""#).nth(1).unwrap();
        let d = &d[..d.find('"').unwrap()];
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        assert!(svg.contains("<title>03-02 满意率 50.0%</title>"));
        assert!(svg.contains(">100%</text>") && svg.contains(">0%</text>"));
    }

    #[test]
    fn the_legend_names_each_series() {
        let html = legend(&[("接通", BLUE), ("<x>", RED)]);
        assert_eq!(
            html,
            "<p class=\"legend\"><span><i style=\"background:#1f6feb\"></i>接通</span>\
             <span><i style=\"background:#cf222e\"></i>&lt;x&gt;</span></p>"
        );
    }
}
