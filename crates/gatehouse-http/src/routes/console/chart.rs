//! The dashboard's sign-in chart: stacked bars computed here in integers (SVG presentation
//! attributes only, colours from classes in `style.css`), and the same numbers as table rows.

use gatehouse_core::rbac::{SignInOutcome, SignInSeries};

/// The SVG's coordinate system (`viewBox`).
pub const WIDTH: i64 = 480;
pub const HEIGHT: i64 = 150;
/// The bars' baseline; the labels go below it.
const BASE: i64 = 125;
/// The tallest bar's height.
const PLOT: i64 = 115;
/// Room left and right of the plot for the axis labels.
const MARGIN: i64 = 16;

/// One outcome: its label and the class that colours it.
pub struct Series {
    pub label: &'static str,
    pub class: &'static str,
    pub code: &'static str,
}

pub fn series_of(outcome: SignInOutcome) -> Series {
    let (label, class) = match outcome {
        SignInOutcome::Success => ("Signed in", "chart-success"),
        SignInOutcome::WrongPassword => ("Wrong password", "chart-wrong"),
        SignInOutcome::Locked => ("Locked", "chart-locked"),
        SignInOutcome::MfaFailed => ("Second factor failed", "chart-mfa"),
    };
    Series { label, class, code: outcome.as_str() }
}

pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub class: &'static str,
    /// The bar's tooltip (`<title>`).
    pub title: String,
}

pub struct Label {
    pub x: i64,
    pub y: i64,
    pub text: String,
}

/// One bucket as a table row.
pub struct Row {
    pub label: String,
    pub counts: [i64; 4],
}

pub struct Chart {
    /// Prefix of the element ids (title, description, total cells).
    pub id: &'static str,
    pub title: &'static str,
    pub desc: String,
    pub rects: Vec<Rect>,
    pub labels: Vec<Label>,
    pub rows: Vec<Row>,
    pub totals: [i64; 4],
    pub max: i64,
    pub base: i64,
}

/// How the buckets are named: in full (table rows, tooltips) and under the axis, where every
/// `every`th bucket is labelled.
pub struct Naming<F, G> {
    pub full: F,
    pub short: G,
    pub every: usize,
}

/// The chart of `s`.
pub fn chart<F: Fn(i64) -> String, G: Fn(i64) -> String>(
    id: &'static str,
    title: &'static str,
    s: &SignInSeries,
    naming: &Naming<F, G>,
) -> Chart {
    let n = i64::try_from(s.buckets.len()).unwrap_or(1).max(1);
    let slot = WIDTH / n;
    let bar = (slot * 2 / 3).max(1);
    let max = s.buckets.iter().map(|b| b.total()).max().unwrap_or(0).max(1);
    let mut rects = Vec::new();
    let mut labels = Vec::new();
    let mut rows = Vec::new();
    for (i, b) in s.buckets.iter().enumerate() {
        let x = i64::try_from(i).unwrap_or(0) * slot + (slot - bar) / 2;
        let name = (naming.full)(b.start);
        let mut below = 0;
        for outcome in SignInOutcome::ALL {
            let count = b.count(outcome);
            if count == 0 {
                continue;
            }
            // Heights from the cumulative count, so rounding never gaps or overlaps segments.
            let bottom = BASE - below * PLOT / max;
            below += count;
            let top = BASE - below * PLOT / max;
            let series = series_of(outcome);
            rects.push(Rect {
                x,
                y: top,
                width: bar,
                height: (bottom - top).max(1),
                class: series.class,
                title: format!("{name}: {count} {}", series.label.to_lowercase()),
            });
        }
        if i % naming.every.max(1) == 0 {
            labels.push(Label { x: x + bar / 2, y: HEIGHT - 8, text: (naming.short)(b.start) });
        }
        rows.push(Row { label: name, counts: b.counts });
    }
    let totals = s.totals();
    let desc = SignInOutcome::ALL
        .iter()
        .zip(totals)
        .map(|(o, n)| format!("{}: {n}", series_of(*o).label))
        .collect::<Vec<_>>()
        .join(", ");
    Chart { id, title, desc: format!("Totals. {desc}."), rects, labels, rows, totals, max, base: BASE }
}

impl Chart {
    pub fn series(&self) -> Vec<(Series, i64)> {
        SignInOutcome::ALL.into_iter().map(series_of).zip(self.totals).collect()
    }

    pub fn width(&self) -> i64 {
        WIDTH
    }

    /// The `viewBox`: the plot with a margin each side, so the first and last axis labels
    /// (centred under their bars) are not cut off.
    pub fn view_box(&self) -> String {
        format!("{} 0 {} {HEIGHT}", -MARGIN, WIDTH + 2 * MARGIN)
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_core::rbac::OutcomeBucket;

    use super::*;

    #[test]
    fn bars_stack_without_gaps_and_scale_to_the_tallest() {
        let s = SignInSeries {
            width: 10,
            buckets: vec![
                OutcomeBucket { start: 0, counts: [2, 1, 0, 0] },
                OutcomeBucket { start: 10, counts: [0, 0, 0, 0] },
                OutcomeBucket { start: 20, counts: [1, 1, 1, 3] },
            ],
        };
        let naming = Naming { full: |t| format!("<{t}>"), short: |t| format!("<{t}>"), every: 2 };
        let c = chart("t", "T", &s, &naming);
        assert_eq!(c.max, 6);
        assert_eq!(c.rects.len(), 6);
        // The first bar: 2 then 1 of 6, stacked from the baseline.
        assert_eq!((c.rects[0].y, c.rects[0].height), (BASE - 2 * PLOT / 6, 2 * PLOT / 6));
        assert_eq!(c.rects[1].y + c.rects[1].height, c.rects[0].y);
        // The tallest bar reaches the top of the plot exactly.
        assert_eq!(c.rects[5].y, BASE - PLOT);
        assert_eq!(c.rects[2].y + c.rects[2].height, BASE);
        assert_eq!(c.labels.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["<0>", "<20>"]);
        assert_eq!(c.totals, [3, 2, 1, 3]);
        assert!(c.desc.contains("Wrong password: 2"), "{}", c.desc);
        assert!(c.rects.iter().all(|r| r.x >= 0 && r.x + r.width <= WIDTH && r.y >= 0));
    }

    #[test]
    fn an_empty_series_has_no_bars() {
        let s = SignInSeries { width: 10, buckets: vec![OutcomeBucket::default(); 24] };
        let naming = Naming { full: |t: i64| t.to_string(), short: |t: i64| t.to_string(), every: 6 };
        let c = chart("t", "T", &s, &naming);
        assert!(c.rects.is_empty());
        assert_eq!(c.rows.len(), 24);
        assert_eq!(c.labels.len(), 4);
    }
}
