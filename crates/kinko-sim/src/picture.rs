//! A picture of the day: one SVG with two panels, drawn with `plotters`.
//!
//! 1. The hot and cold share of custody (percent of hot + cold) at each of
//!    the report's [`Snapshot`](crate::Snapshot)s, over the time of day.
//! 2. The attack: the attacker's cumulative take
//!    ([`AttackReport::stolen_over_time`](crate::AttackReport::stolen_over_time))
//!    against the policy's loss bound, and when the circuit breaker fired.
//!
//! Text is written as SVG `<text>` elements for the viewer to set in its
//! own sans-serif font: `plotters` is built without its `ttf` feature, so no
//! font is looked up or loaded (its text sizes are estimates). The same
//! report gives the same bytes.
//!
//! Amounts become `f64` only as coordinates on the page; shares are worked
//! out in integer basis points and labels from satoshis, as in
//! [`DayReport::table`].

use std::ops::Range;

use bitcoin::Amount;
use kinko_policy::Timestamp;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::DayReport;

/// Why the picture could not be drawn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PictureError {
    /// The drawing library refused (the message says why).
    #[error("drawing the picture of the day: {0}")]
    Draw(String),
    /// A time in the report lies outside the years 0000 to 9999 (UTC).
    #[error("the picture of the day: time {0} out of range")]
    Time(Timestamp),
}

fn draw<E: std::fmt::Display>(e: E) -> PictureError {
    PictureError::Draw(e.to_string())
}

/// The first panel's title.
pub const SHARES_TITLE: &str = "Hot and cold share of custody";
/// The second panel's title.
pub const ATTACK_TITLE: &str = "The attack: what the attacker got against the loss bound";

/// The picture's size in pixels (width, height).
const SIZE: (u32, u32) = (1000, 1000);
const FONT: &str = "sans-serif";

const HOT: RGBColor = RGBColor(214, 39, 40);
const COLD: RGBColor = RGBColor(31, 119, 180);
const TAKE: RGBColor = RGBColor(255, 127, 14);
const BOUND: RGBColor = RGBColor(214, 39, 40);
const BREAKER: RGBColor = RGBColor(148, 103, 189);
const GREY: RGBColor = RGBColor(90, 90, 90);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The picture of `report` as SVG text: the hot and cold share of custody
/// over the day above, the attacker's take against the loss bound below.
/// A report without snapshots or without an attack gets a panel that says
/// so.
///
/// # Errors
/// [`PictureError::Time`] when a time in the report lies outside the years
/// 0000 to 9999, [`PictureError::Draw`] when `plotters` fails to draw.
pub fn svg(report: &DayReport) -> Result<String, PictureError> {
    let a = &report.attack;
    let times = report.snapshots.iter().map(|s| s.at);
    let times = times
        .chain(
            [a.started_at, a.ended_at, a.breaker_fired_at]
                .into_iter()
                .flatten(),
        )
        .chain(a.stolen_over_time.iter().map(|p| p.0));
    for t in times {
        if !(Timestamp::MIN_RFC3339..=Timestamp::MAX_RFC3339).contains(&t) {
            return Err(PictureError::Time(t));
        }
    }
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw)?;
        let day = report
            .snapshots
            .first()
            .map(|s| s.at)
            .or(report.attack.started_at)
            .map(|t| format!(", {} (simulated)", date(t)))
            .unwrap_or_default();
        let root = root
            .titled(
                &format!("kinko: the exchange's day{day}"),
                (FONT, 28).into_font().style(FontStyle::Bold),
            )
            .map_err(draw)?;
        let (top, bottom) = root.split_vertically(SIZE.1 / 2 - 30);
        shares(&top, report)?;
        attack(&bottom, report)?;
        root.present().map_err(draw)?;
    }
    Ok(out)
}

/// A page coordinate for an instant: seconds since the Unix epoch (exact in
/// an `f64` for the years 0000 to 9999, which [`svg`] checks).
fn x(t: Timestamp) -> f64 {
    t.unix() as f64
}

/// A page coordinate for an amount, in BTC. The one place an amount becomes
/// an `f64`, and only to place it on the page: no money is added or compared
/// in floating point (the labels are worked out from satoshis).
fn y_btc(a: Amount) -> f64 {
    a.to_btc()
}

/// `2026-01-26` of an instant.
fn date(t: Timestamp) -> String {
    let s = t.to_string();
    s.split('T').next().unwrap_or(&s).to_owned()
}

/// `hh:mm` (UTC) of a page coordinate in seconds since the epoch.
fn hh_mm(x: f64) -> String {
    let s = (x.round() as i64).rem_euclid(86_400);
    format!("{:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// `hh:mm:ss` (UTC) of an instant.
fn hh_mm_ss(t: Timestamp) -> String {
    let s = t.unix().rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// `1.21 BTC`: the exact amount, its fraction's trailing zeros dropped
/// (at least two digits kept), in integer arithmetic.
fn btc(a: Amount) -> String {
    let s = a.to_sat();
    let mut frac = format!("{:08}", s % 100_000_000);
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    format!("{}.{frac} BTC", s / 100_000_000)
}

/// An axis from `lo` to `hi` with tick marks at `ticks` and no light grid
/// (`plotters`' own `with_key_points` leaves an `f64` axis without label
/// formatting).
struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo..self.hi).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// The time axis from `lo` to `hi` (seconds since the epoch), a tick mark
/// every whole `step`.
fn clock_axis(lo: i64, hi: i64, step: i64) -> Ticked {
    Ticked {
        lo: lo as f64,
        hi: hi as f64,
        ticks: ticks(lo, hi, step),
    }
}

/// Tick marks every whole `step` from `lo` to `hi`, in seconds since the
/// epoch.
fn ticks(lo: i64, hi: i64, step: i64) -> Vec<f64> {
    let first = lo.div_euclid(step) * step + if lo.rem_euclid(step) == 0 { 0 } else { step };
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= hi)
        .map(|t| t as f64)
        .collect()
}

/// The whole step (minutes, hours or days) that puts at most about a dozen
/// tick marks between `lo` and `hi` (seconds).
fn tick_step(lo: i64, hi: i64) -> i64 {
    let span = hi.saturating_sub(lo).max(1);
    [60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 86_400]
        .into_iter()
        .find(|s| span / s <= 12)
        .unwrap_or_else(|| (span / 86_400 / 12 + 1) * 86_400)
}

/// `lo` and `hi` (seconds) widened to whole `step`s.
fn widen(lo: i64, hi: i64, step: i64) -> (i64, i64) {
    let down = lo.div_euclid(step) * step;
    let up = hi.div_euclid(step) * step + if hi.rem_euclid(step) == 0 { 0 } else { step };
    (down, up.max(down + step))
}

/// A panel with only a title and a line saying why there is nothing more.
fn nothing(area: &Area<'_>, title: &str, why: &str) -> Result<(), PictureError> {
    let area = area.titled(title, (FONT, 22)).map_err(draw)?;
    let (w, h) = area.dim_in_pixel();
    let style = TextStyle::from((FONT, 18).into_font())
        .color(&GREY)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(why, &style, (w as i32 / 2, h as i32 / 2))
        .map_err(draw)
}

/// Panel 1: hot and cold as percent of hot + cold at each snapshot.
fn shares(area: &Area<'_>, report: &DayReport) -> Result<(), PictureError> {
    // (time, hot basis points, label): shares in integer arithmetic.
    let points: Vec<(f64, u128, &str)> = report
        .snapshots
        .iter()
        .filter_map(|s| {
            let total = u128::from(s.hot.to_sat()) + u128::from(s.cold.to_sat());
            if total == 0 {
                return None;
            }
            let hot_bps = u128::from(s.hot.to_sat()) * 10_000 / total;
            Some((x(s.at), hot_bps, s.label))
        })
        .collect();
    let (Some(first), Some(last)) = (report.snapshots.first(), report.snapshots.last()) else {
        return nothing(area, SHARES_TITLE, "no snapshots in this report");
    };
    if points.is_empty() {
        return nothing(area, SHARES_TITLE, "no custody at any snapshot");
    }
    // The whole day from midnight (UTC), longer if the snapshots are.
    let lo = first.at.unix().div_euclid(86_400) * 86_400;
    let hi = (lo + 86_400).max(last.at.unix().div_euclid(3600) * 3600 + 3600);
    let mut chart = ChartBuilder::on(area)
        .caption(SHARES_TITLE, (FONT, 22))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            clock_axis(lo, hi, tick_step(lo, hi)),
            Ticked {
                lo: 0.0,
                hi: 100.0,
                ticks: (0..=10).map(|i| f64::from(i) * 10.0).collect(),
            },
        )
        .map_err(draw)?;
    chart
        .configure_mesh()
        .x_desc("time of day (UTC)")
        .y_desc("share of hot + cold (%)")
        // The day's end is 24:00, not the next day's 00:00.
        .x_label_formatter(&|v| {
            if *v >= hi as f64 && hi.rem_euclid(86_400) == 0 {
                "24:00".into()
            } else {
                hh_mm(*v)
            }
        })
        .y_label_formatter(&|v| format!("{v:.0}%"))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .light_line_style(WHITE)
        .draw()
        .map_err(draw)?;
    // Percent on the page (coordinates only).
    let percent = |bps: u128| bps as f64 / 100.0;
    for (name, color, hot) in [("cold wallet", COLD, false), ("hot wallet", HOT, true)] {
        let at = |p: &(f64, u128, &str)| {
            let bps = if hot { p.1 } else { 10_000 - p.1 };
            (p.0, percent(bps))
        };
        chart
            .draw_series(LineSeries::new(
                points.iter().map(at),
                color.stroke_width(2),
            ))
            .map_err(draw)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|p| Circle::new(at(p), 4, color.filled())))
            .map_err(draw)?;
    }
    // Each snapshot's hot share and what had just happened, above the hot
    // line (right-aligned in the day's second half, so it stays inside).
    let mid = (lo + hi) as f64 / 2.0;
    for (i, p) in points.iter().enumerate() {
        let h = if p.0 > mid { HPos::Right } else { HPos::Left };
        let style = TextStyle::from((FONT, 14).into_font())
            .color(&GREY)
            .pos(Pos::new(h, VPos::Bottom));
        let dx = if p.0 > mid { -6 } else { 6 };
        let dy = -8 - 18 * (i as i32 % 3);
        chart
            .plotting_area()
            .draw(
                &(EmptyElement::at((p.0, percent(p.1)))
                    + Text::new(
                        format!("hot {}.{:02}% after {}", p.1 / 100, p.1 % 100, p.2),
                        (dx, dy),
                        style,
                    )),
            )
            .map_err(draw)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .draw()
        .map_err(draw)?;
    Ok(())
}

/// Panel 2: the attacker's cumulative take against the loss bound, and the
/// circuit breaker.
fn attack(area: &Area<'_>, report: &DayReport) -> Result<(), PictureError> {
    let a = &report.attack;
    let Some(start) = a.started_at else {
        return nothing(area, ATTACK_TITLE, "no attack in this report");
    };
    let end = [a.ended_at, a.breaker_fired_at]
        .into_iter()
        .flatten()
        .chain(a.stolen_over_time.iter().map(|p| p.0))
        .map(Timestamp::unix)
        .fold(start.unix(), i64::max);
    let step = tick_step(start.unix(), end);
    let (lo, hi) = widen(start.unix(), end, step);
    let top = a
        .stolen_over_time
        .iter()
        .map(|p| p.1)
        .chain([a.bound, a.stolen])
        .max()
        .unwrap_or(Amount::ZERO);
    // Room above the bound for the legend.
    let y_hi = if top == Amount::ZERO {
        1.0
    } else {
        y_btc(top) * 1.6
    };
    let mut chart = ChartBuilder::on(area)
        .caption(ATTACK_TITLE, (FONT, 22))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(clock_axis(lo, hi, step), 0.0..y_hi)
        .map_err(draw)?;
    chart
        .configure_mesh()
        .x_desc("time of day (UTC)")
        .y_desc("BTC")
        .x_label_formatter(&|v| hh_mm(*v))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .light_line_style(WHITE)
        .draw()
        .map_err(draw)?;

    // The bound, over the whole attack.
    let bound = y_btc(a.bound);
    let horizon = if a.horizon.is_empty() {
        String::new()
    } else {
        format!(" over {}", a.horizon)
    };
    let rule = if a.bound_rule.is_empty() {
        String::new()
    } else {
        format!(" (set by {})", a.bound_rule)
    };
    chart
        .draw_series(LineSeries::new(
            [(lo as f64, bound), (hi as f64, bound)],
            BOUND.stroke_width(2),
        ))
        .map_err(draw)?
        .label(format!("loss bound{horizon}: {}{rule}", btc(a.bound)))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BOUND.stroke_width(2)));

    // The take, a step at each payment, flat to the attack's end.
    let mut steps = Vec::new();
    let mut held = 0.0;
    for (t, got) in &a.stolen_over_time {
        steps.push((x(*t), held));
        held = y_btc(*got);
        steps.push((x(*t), held));
    }
    if steps.is_empty() {
        steps.push((x(start), 0.0));
    }
    steps.push((end as f64, held));
    chart
        .draw_series(LineSeries::new(steps, TAKE.stroke_width(3)))
        .map_err(draw)?
        .label(format!(
            "attacker's take, paid on chain: {} in {} payments",
            btc(a.stolen),
            a.paid
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], TAKE.stroke_width(3)));
    chart
        .draw_series(
            a.stolen_over_time
                .iter()
                .skip(1)
                .map(|(t, got)| Circle::new((x(*t), y_btc(*got)), 4, TAKE.filled())),
        )
        .map_err(draw)?;

    // The breaker, if it fired.
    match a.breaker_fired_at {
        Some(t) => {
            chart
                .draw_series(DashedLineSeries::new(
                    [(x(t), 0.0), (x(t), y_hi)],
                    8,
                    5,
                    BREAKER.stroke_width(2),
                ))
                .map_err(draw)?
                .label(format!("circuit breaker fired at {}", hh_mm_ss(t)))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], BREAKER.stroke_width(2))
                });
        }
        // Said in the legend, with nothing drawn.
        None => {
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
                .map_err(draw)?
                .label("the circuit breaker did not fire")
                .legend(EmptyElement::at);
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .draw()
        .map_err(draw)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttackReport, Snapshot};

    fn at(t: &str) -> Timestamp {
        Timestamp::parse_rfc3339(t).expect("test time")
    }

    fn day() -> DayReport {
        let sat = Amount::from_sat;
        DayReport {
            snapshots: vec![
                Snapshot {
                    at: at("2026-01-26T08:00:00Z"),
                    label: "deposits and sweeps",
                    hot: sat(9_000_000_000),
                    cold: sat(141_000_000_000),
                },
                Snapshot {
                    at: at("2026-01-26T19:30:00Z"),
                    label: "withdrawals and refills",
                    hot: sat(8_000_000_000),
                    cold: sat(128_000_000_000),
                },
                Snapshot {
                    at: at("2026-01-26T21:01:00Z"),
                    label: "the attack",
                    hot: sat(7_000_000_000),
                    cold: sat(128_000_000_000),
                },
            ],
            attack: AttackReport {
                paid: 2,
                stolen: sat(121_000_000),
                bound: sat(291_000_000),
                bound_rule: "velocity".into(),
                horizon: "1h".into(),
                started_at: Some(at("2026-01-26T20:00:00Z")),
                ended_at: Some(at("2026-01-26T21:00:00Z")),
                breaker_fired_at: Some(at("2026-01-26T20:05:00Z")),
                stolen_over_time: vec![
                    (at("2026-01-26T20:00:00Z"), Amount::ZERO),
                    (at("2026-01-26T20:01:00Z"), sat(60_500_000)),
                    (at("2026-01-26T20:02:00Z"), sat(121_000_000)),
                ],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn both_panels_bound_and_breaker() {
        let s = svg(&day()).expect("svg");
        assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(80)]);
        assert!(s.trim_end().ends_with("</svg>"));
        assert!(s.contains(SHARES_TITLE));
        assert!(s.contains(ATTACK_TITLE));
        assert!(s.contains("loss bound over 1h: 2.91 BTC (set by velocity)"));
        assert!(s.contains("circuit breaker fired at 20:05:00"));
        assert!(s.contains("1.21 BTC in 2 payments"));
        assert!(s.contains("hot 6.00% after deposits and sweeps"));
        assert!(s.contains("20:00"));
        // Text is left to the viewer's font: <text> elements, no glyph paths.
        assert!(s.contains("<text"));
        assert!(s.contains("font-family=\"sans-serif\""));
    }

    #[test]
    fn same_report_same_bytes() {
        assert_eq!(svg(&day()).expect("svg"), svg(&day()).expect("svg"));
    }

    #[test]
    fn empty_report_says_so() {
        let s = svg(&DayReport::default()).expect("an empty report draws");
        assert!(s.starts_with("<svg"));
        assert!(s.contains(SHARES_TITLE));
        assert!(s.contains(ATTACK_TITLE));
        assert!(s.contains("no snapshots in this report"));
        assert!(s.contains("no attack in this report"));
    }

    #[test]
    fn breaker_that_did_not_fire_and_no_custody() {
        let mut r = day();
        r.attack.breaker_fired_at = None;
        r.attack.stolen_over_time.truncate(1);
        r.attack.stolen = Amount::ZERO;
        r.attack.bound = Amount::ZERO;
        for s in &mut r.snapshots {
            s.hot = Amount::ZERO;
            s.cold = Amount::ZERO;
        }
        let s = svg(&r).expect("svg");
        assert!(s.contains("the circuit breaker did not fire"));
        assert!(s.contains("no custody at any snapshot"));
    }

    #[test]
    fn times_out_of_range_are_refused() {
        let mut r = day();
        r.attack.ended_at = Some(Timestamp::from_unix(i64::MAX));
        assert!(matches!(svg(&r), Err(PictureError::Time(_))));
        let mut r = day();
        r.snapshots[0].at = Timestamp::MIN_RFC3339;
        assert!(svg(&r).is_ok(), "a long day still draws");
    }

    #[test]
    fn labels_from_satoshis() {
        assert_eq!(btc(Amount::from_sat(291_000_000)), "2.91 BTC");
        assert_eq!(btc(Amount::from_sat(1)), "0.00000001 BTC");
        assert_eq!(btc(Amount::ZERO), "0.00 BTC");
        assert_eq!(hh_mm_ss(at("2026-01-26T20:05:07Z")), "20:05:07");
        let (lo, hi) = (
            at("2026-01-26T20:01:00Z").unix(),
            at("2026-01-26T21:01:00Z").unix(),
        );
        assert_eq!(tick_step(lo, hi), 300);
        let (lo, hi) = widen(lo, hi, 300);
        assert_eq!(
            (hh_mm(lo as f64), hh_mm(hi as f64)),
            ("20:00".into(), "21:05".into())
        );
        assert_eq!(ticks(lo, hi, 300).len(), 14);
    }
}
