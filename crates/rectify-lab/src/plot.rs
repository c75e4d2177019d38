//! Figures as SVG and PNG, byte-identical across runs and machines: every number is printed
//! with a fixed number of decimals, the text is drawn as the outlines of an embedded font
//! (DejaVu Sans, subset; see `data/NOTICE.md`), and the PNG is rasterised by tiny-skia from
//! the same shapes.

use std::fmt::Write as _;

use rectify::{Kink, Ramp};
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Stroke, StrokeDash, Transform};

use crate::experiment::ExperimentResult;

const FONT: &[u8] = include_bytes!("../data/DejaVuSans-subset.ttf");

/// An RGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Color(pub u8, pub u8, pub u8);

impl Color {
    fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// The colours of the series, in order (colour-blind safe, Okabe and Ito).
pub const PALETTE: [Color; 6] = [
    Color(0, 114, 178),
    Color(213, 94, 0),
    Color(0, 158, 115),
    Color(204, 121, 167),
    Color(230, 159, 0),
    Color(86, 180, 233),
];
const BLACK: Color = Color(0, 0, 0);
const GREY: Color = Color(110, 110, 110);
const LIGHT: Color = Color(228, 228, 228);
const WHITE: Color = Color(255, 255, 255);

/// Horizontal alignment of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The text starts at x.
    Start,
    /// The text is centred on x.
    Middle,
    /// The text ends at x.
    End,
}

#[derive(Clone, Debug)]
enum Seg {
    M(f64, f64),
    L(f64, f64),
    Q(f64, f64, f64, f64),
    C(f64, f64, f64, f64, f64, f64),
    Z,
}

#[derive(Clone, Debug)]
enum Item {
    Group { id: String, attrs: String },
    End,
    Line { points: Vec<(f64, f64)>, color: Color, width: f64, dash: bool, class: &'static str },
    Rect { x: f64, y: f64, w: f64, h: f64, fill: Color },
    Circle { x: f64, y: f64, r: f64, color: Color, filled: bool, class: &'static str },
    Text { text: String, segs: Vec<Seg>, color: Color },
}

/// A figure: shapes in pixel coordinates (y down), written as SVG or PNG.
#[derive(Clone, Debug)]
pub struct Figure {
    width: f64,
    height: f64,
    items: Vec<Item>,
}

fn n(v: f64) -> String {
    let s = format!("{v:.2}");
    if s == "-0.00" { "0.00".into() } else { s }
}

struct Outline<'a> {
    segs: &'a mut Vec<Seg>,
    x: f64,
    y: f64,
    s: f64,
}

impl Outline<'_> {
    fn p(&self, x: f32, y: f32) -> (f64, f64) {
        (self.x + x as f64 * self.s, self.y - y as f64 * self.s)
    }
}

impl ttf_parser::OutlineBuilder for Outline<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let (a, b) = self.p(x, y);
        self.segs.push(Seg::M(a, b));
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let (a, b) = self.p(x, y);
        self.segs.push(Seg::L(a, b));
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (a, b) = self.p(x1, y1);
        let (c, d) = self.p(x, y);
        self.segs.push(Seg::Q(a, b, c, d));
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (a, b) = self.p(x1, y1);
        let (c, d) = self.p(x2, y2);
        let (e, f) = self.p(x, y);
        self.segs.push(Seg::C(a, b, c, d, e, f));
    }
    fn close(&mut self) {
        self.segs.push(Seg::Z);
    }
}

fn face() -> ttf_parser::Face<'static> {
    ttf_parser::Face::parse(FONT, 0).expect("the embedded font parses")
}

/// The width in pixels of `text` at `size` pixels per em.
pub fn text_width(text: &str, size: f64) -> f64 {
    let face = face();
    let s = size / face.units_per_em() as f64;
    text.chars()
        .map(|c| {
            face.glyph_index(c).and_then(|g| face.glyph_hor_advance(g)).unwrap_or(face.units_per_em() / 2) as f64 * s
        })
        .sum()
}

impl Figure {
    /// An empty white figure of `width x height` pixels.
    pub fn new(width: f64, height: f64) -> Figure {
        let mut f = Figure { width, height, items: Vec::new() };
        f.rect(0.0, 0.0, width, height, WHITE);
        f
    }

    /// Starts a group with an id and extra SVG attributes (closed by [`Figure::end`]).
    pub fn group(&mut self, id: &str, attrs: &str) {
        self.items.push(Item::Group { id: id.into(), attrs: attrs.into() });
    }

    /// Closes the last group.
    pub fn end(&mut self) {
        self.items.push(Item::End);
    }

    /// A polyline.
    pub fn line(&mut self, points: Vec<(f64, f64)>, color: Color, width: f64, dash: bool, class: &'static str) {
        self.items.push(Item::Line { points, color, width, dash, class });
    }

    /// A filled rectangle.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: Color) {
        self.items.push(Item::Rect { x, y, w, h, fill });
    }

    /// A circle, filled or open (white inside).
    pub fn circle(&mut self, x: f64, y: f64, r: f64, color: Color, filled: bool, class: &'static str) {
        self.items.push(Item::Circle { x, y, r, color, filled, class });
    }

    /// Text at `(x, y)` (the baseline), `size` pixels per em.
    pub fn text(&mut self, text: &str, x: f64, y: f64, size: f64, anchor: Anchor, color: Color) {
        let face = face();
        let s = size / face.units_per_em() as f64;
        let w = text_width(text, size);
        let mut pen = match anchor {
            Anchor::Start => x,
            Anchor::Middle => x - w / 2.0,
            Anchor::End => x - w,
        };
        let mut segs = Vec::new();
        for c in text.chars() {
            let Some(g) = face.glyph_index(c) else {
                pen += size / 2.0;
                continue;
            };
            face.outline_glyph(g, &mut Outline { segs: &mut segs, x: pen, y, s });
            pen += face.glyph_hor_advance(g).unwrap_or(0) as f64 * s;
        }
        self.items.push(Item::Text { text: text.into(), segs, color });
    }

    /// The figure as an SVG document.
    pub fn svg(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#,
            w = n(self.width),
            h = n(self.height)
        );
        for item in &self.items {
            match item {
                Item::Group { id, attrs } => {
                    let _ = writeln!(o, r#"<g id="{}"{}{}>"#, xml(id), if attrs.is_empty() { "" } else { " " }, attrs);
                }
                Item::End => o.push_str("</g>\n"),
                Item::Line { points, color, width, dash, class } => {
                    let pts: Vec<String> = points.iter().map(|&(x, y)| format!("{},{}", n(x), n(y))).collect();
                    let _ = writeln!(
                        o,
                        r#"<polyline class="{class}" points="{}" fill="none" stroke="{}" stroke-width="{}" stroke-linejoin="round" stroke-linecap="round"{}/>"#,
                        pts.join(" "),
                        color.hex(),
                        n(*width),
                        if *dash { r#" stroke-dasharray="6,4""# } else { "" }
                    );
                }
                Item::Rect { x, y, w, h, fill } => {
                    let _ = writeln!(
                        o,
                        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>"#,
                        n(*x),
                        n(*y),
                        n(*w),
                        n(*h),
                        fill.hex()
                    );
                }
                Item::Circle { x, y, r, color, filled, class } => {
                    let fill = if *filled { color.hex() } else { WHITE.hex() };
                    let _ = writeln!(
                        o,
                        r#"<circle class="{class}" cx="{}" cy="{}" r="{}" fill="{fill}" stroke="{}" stroke-width="2.00"/>"#,
                        n(*x),
                        n(*y),
                        n(*r),
                        color.hex()
                    );
                }
                Item::Text { text, segs, color } => {
                    let mut d = String::new();
                    for s in segs {
                        let _ = match *s {
                            Seg::M(x, y) => write!(d, "M{} {}", n(x), n(y)),
                            Seg::L(x, y) => write!(d, "L{} {}", n(x), n(y)),
                            Seg::Q(a, b, x, y) => write!(d, "Q{} {} {} {}", n(a), n(b), n(x), n(y)),
                            Seg::C(a, b, c, e, x, y) => {
                                write!(d, "C{} {} {} {} {} {}", n(a), n(b), n(c), n(e), n(x), n(y))
                            }
                            Seg::Z => write!(d, "Z"),
                        };
                    }
                    let _ = writeln!(
                        o,
                        r#"<path class="text" aria-label="{}" fill="{}" d="{d}"/>"#,
                        xml(text),
                        color.hex()
                    );
                }
            }
        }
        o.push_str("</svg>\n");
        o
    }

    /// The figure as a PNG, `scale` pixels per figure pixel.
    pub fn png(&self, scale: f32) -> Vec<u8> {
        let w = (self.width as f32 * scale).ceil() as u32;
        let h = (self.height as f32 * scale).ceil() as u32;
        let mut pm = Pixmap::new(w, h).expect("a non-empty figure");
        let t = Transform::from_scale(scale, scale);
        let paint = |c: Color| {
            let mut p = Paint::default();
            p.set_color_rgba8(c.0, c.1, c.2, 255);
            p.anti_alias = true;
            p
        };
        for item in &self.items {
            match item {
                Item::Group { .. } | Item::End => {}
                Item::Line { points, color, width, dash, .. } => {
                    let mut pb = PathBuilder::new();
                    for (i, &(x, y)) in points.iter().enumerate() {
                        if i == 0 { pb.move_to(x as f32, y as f32) } else { pb.line_to(x as f32, y as f32) }
                    }
                    if let Some(path) = pb.finish() {
                        let mut stroke = Stroke {
                            width: *width as f32,
                            line_cap: tiny_skia::LineCap::Round,
                            line_join: tiny_skia::LineJoin::Round,
                            ..Stroke::default()
                        };
                        if *dash {
                            stroke.dash = StrokeDash::new(vec![6.0, 4.0], 0.0);
                        }
                        pm.stroke_path(&path, &paint(*color), &stroke, t, None);
                    }
                }
                Item::Rect { x, y, w, h, fill } => {
                    if let Some(r) = tiny_skia::Rect::from_xywh(*x as f32, *y as f32, *w as f32, *h as f32) {
                        pm.fill_rect(r, &paint(*fill), t, None);
                    }
                }
                Item::Circle { x, y, r, color, filled, .. } => {
                    if let Some(path) = PathBuilder::from_circle(*x as f32, *y as f32, *r as f32) {
                        let inside = if *filled { *color } else { WHITE };
                        pm.fill_path(&path, &paint(inside), FillRule::Winding, t, None);
                        let stroke = Stroke { width: 2.0, ..Stroke::default() };
                        pm.stroke_path(&path, &paint(*color), &stroke, t, None);
                    }
                }
                Item::Text { segs, color, .. } => {
                    let mut pb = PathBuilder::new();
                    for s in segs {
                        match *s {
                            Seg::M(x, y) => pb.move_to(x as f32, y as f32),
                            Seg::L(x, y) => pb.line_to(x as f32, y as f32),
                            Seg::Q(a, b, x, y) => pb.quad_to(a as f32, b as f32, x as f32, y as f32),
                            Seg::C(a, b, c, d, x, y) => {
                                pb.cubic_to(a as f32, b as f32, c as f32, d as f32, x as f32, y as f32)
                            }
                            Seg::Z => pb.close(),
                        }
                    }
                    if let Some(path) = pb.finish() {
                        pm.fill_path(&path, &paint(*color), FillRule::Winding, t, None);
                    }
                }
            }
        }
        pm.encode_png().expect("PNG encoding of an in-memory pixmap")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A plotting area: data coordinates mapped onto a pixel box.
#[derive(Clone, Copy, Debug)]
pub struct Axes {
    /// Left edge in pixels.
    pub left: f64,
    /// Top edge in pixels.
    pub top: f64,
    /// Width in pixels.
    pub width: f64,
    /// Height in pixels.
    pub height: f64,
    /// Data range of x.
    pub x: (f64, f64),
    /// Data range of y.
    pub y: (f64, f64),
    /// Whether y is on a log10 scale.
    pub log_y: bool,
}

impl Axes {
    /// The pixel x of data `x`.
    pub fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x.0) / (self.x.1 - self.x.0) * self.width
    }

    fn ty(&self, y: f64) -> f64 {
        if self.log_y { y.log10() } else { y }
    }

    /// The pixel y of data `y`.
    pub fn py(&self, y: f64) -> f64 {
        let (a, b) = (self.ty(self.y.0), self.ty(self.y.1));
        self.top + self.height - (self.ty(y) - a) / (b - a) * self.height
    }

    /// `data-x="a b" data-y="c d"`: pixel = a * data + b (y in log10 units if log).
    pub fn data_attrs(&self) -> String {
        let ax = self.width / (self.x.1 - self.x.0);
        let (a, b) = (self.ty(self.y.0), self.ty(self.y.1));
        let ay = -self.height / (b - a);
        format!(
            r#"data-x="{:.6} {:.6}" data-y="{:.6} {:.6}" data-log-y="{}""#,
            ax,
            self.left - self.x.0 * ax,
            ay,
            self.top + self.height - a * ay,
            self.log_y
        )
    }

    fn clamp_py(&self, y: f64) -> f64 {
        self.py(y).clamp(self.top, self.top + self.height)
    }
}

fn nice_step(range: f64, target: f64) -> f64 {
    let raw = range / target;
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    p * if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    }
}

fn ticks(lo: f64, hi: f64, target: f64) -> Vec<f64> {
    let step = nice_step(hi - lo, target);
    let mut v = Vec::new();
    let mut k = (lo / step).ceil() as i64;
    while (k as f64) * step <= hi + step * 1e-9 {
        v.push(k as f64 * step);
        k += 1;
    }
    v
}

fn label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    s.replace('-', "\u{2212}")
}

/// Draws the frame, grid, ticks, labels and title of `ax`; `zero_axes` draws the lines
/// x = 0 and y = 0 in black (for function plots).
pub fn draw_axes(f: &mut Figure, ax: &Axes, title: &str, xlabel: &str, ylabel: &str, zero_axes: bool) {
    let (l, t, r, b) = (ax.left, ax.top, ax.left + ax.width, ax.top + ax.height);
    for x in ticks(ax.x.0, ax.x.1, (ax.width / 70.0).clamp(3.0, 8.0)) {
        let p = ax.px(x);
        f.line(vec![(p, t), (p, b)], LIGHT, 1.0, false, "grid");
        f.text(&label(x), p, b + 18.0, 13.0, Anchor::Middle, GREY);
    }
    let yt: Vec<(f64, String)> = if ax.log_y {
        let (a, c) = (ax.y.0.log10().ceil() as i32, ax.y.1.log10().floor() as i32);
        let every = ((c - a) / 6 + 1).max(1);
        (a..=c)
            .filter(|e| (e - a) % every == 0)
            .map(|e| (10f64.powi(e), format!("1e{e}").replace('-', "\u{2212}")))
            .collect()
    } else {
        ticks(ax.y.0, ax.y.1, 5.0).into_iter().map(|y| (y, label(y))).collect()
    };
    for (y, s) in yt {
        let p = ax.py(y);
        f.line(vec![(l, p), (r, p)], LIGHT, 1.0, false, "grid");
        f.text(&s, l - 6.0, p + 4.5, 13.0, Anchor::End, GREY);
    }
    if zero_axes {
        if ax.x.0 < 0.0 && ax.x.1 > 0.0 {
            f.line(vec![(ax.px(0.0), t), (ax.px(0.0), b)], BLACK, 1.2, false, "axis y-axis");
        }
        if !ax.log_y && ax.y.0 < 0.0 && ax.y.1 > 0.0 {
            f.line(vec![(l, ax.py(0.0)), (r, ax.py(0.0))], BLACK, 1.2, false, "axis x-axis");
        }
    }
    f.line(vec![(l, t), (r, t), (r, b), (l, b), (l, t)], GREY, 1.0, false, "frame");
    f.text(title, (l + r) / 2.0, t - 12.0, 17.0, Anchor::Middle, BLACK);
    f.text(xlabel, (l + r) / 2.0, b + 40.0, 14.0, Anchor::Middle, BLACK);
    if !ylabel.is_empty() {
        f.text(ylabel, l, t - 36.0, 13.0, Anchor::Start, GREY);
    }
}

/// A legend of `(name, colour, dashed)` entries at the top left of `ax`, or right of it.
pub fn legend(f: &mut Figure, ax: &Axes, entries: &[(String, Color, bool)], outside: bool) {
    let w = entries.iter().map(|(s, _, _)| text_width(s, 13.0)).fold(0.0, f64::max) + 48.0;
    let x = if outside { ax.left + ax.width + 8.0 } else { ax.left + 8.0 };
    let y = ax.top + 8.0;
    f.rect(x, y, w, 20.0 * entries.len() as f64 + 8.0, WHITE);
    for (i, (s, c, dash)) in entries.iter().enumerate() {
        let yy = y + 16.0 + 20.0 * i as f64;
        f.line(vec![(x + 8.0, yy - 4.0), (x + 32.0, yy - 4.0)], *c, 2.5, *dash, "legend");
        f.text(s, x + 38.0, yy, 13.0, Anchor::Start, BLACK);
    }
}

fn curve(ax: &Axes, xs: &[f64], ys: &[f64]) -> Vec<(f64, f64)> {
    xs.iter().zip(ys).map(|(&x, &y)| (ax.px(x), ax.clamp_py(y))).collect()
}

fn grid(lo: f64, hi: f64, steps: usize) -> Vec<f64> {
    (0..=steps).map(|i| lo + (hi - lo) * i as f64 / steps as f64).collect()
}

/// The textbook figure: ReLU and its derivative (the jump at 0 drawn as a jump, the value
/// `kink` picks at 0 marked), sigmoid and its derivative (its maximum 0.25 marked), and
/// leaky ReLU (slope 0.1, to be visible) with ReLU6. Every value is computed by the rectify
/// kernels (`Ramp::forward`, `Ramp::derivative`) except sigmoid's.
///
/// The ReLU panel is the group `panel-relu` whose `data-x`/`data-y` give the pixel mapping;
/// its derivative is drawn as the polylines of class `derivative`.
pub fn activation_figure(kink: Kink) -> Figure {
    let mut f = Figure::new(1500.0, 520.0);
    let panel = |i: usize, x: (f64, f64), y: (f64, f64)| Axes {
        left: 70.0 + 490.0 * i as f64,
        top: 70.0,
        width: 400.0,
        height: 370.0,
        x,
        y,
        log_y: false,
    };
    let (c_f, c_d) = (PALETTE[0], PALETTE[1]);

    // ReLU.
    let ax = panel(0, (-3.0, 3.0), (-0.5, 3.0));
    f.group("panel-relu", &ax.data_attrs());
    draw_axes(&mut f, &ax, "ReLU: f(x) = max(x, 0)", "x", "", true);
    let relu = Ramp::relu();
    let xs = grid(-3.0, 3.0, 240);
    let mut ys = vec![0.0; xs.len()];
    relu.forward(&xs, &mut ys);
    f.line(curve(&ax, &xs, &ys), c_f, 3.0, false, "function");
    let left: Vec<f64> = grid(-3.0, 0.0, 120)[..120].to_vec();
    let right: Vec<f64> = grid(0.0, 3.0, 120)[1..].to_vec();
    for side in [&left, &right] {
        let ds: Vec<f64> = side.iter().map(|&x| relu.derivative(x, 1.0, kink)).collect();
        let mut pts = curve(&ax, side, &ds);
        // Extend each piece to the axis, where the open circle sits.
        if side[0] > 0.0 {
            pts.insert(0, (ax.px(0.0), ax.py(1.0)));
        } else {
            pts.push((ax.px(0.0), ax.py(0.0)));
        }
        f.line(pts, c_d, 3.0, false, "derivative");
    }
    f.line(vec![(ax.px(0.0), ax.py(0.0)), (ax.px(0.0), ax.py(1.0))], c_d, 1.5, true, "jump");
    let at0 = relu.derivative(0.0, 1.0, kink);
    for v in [0.0, 1.0] {
        if v != at0 {
            f.circle(ax.px(0.0), ax.py(v), 5.0, c_d, false, "open");
        }
    }
    f.circle(ax.px(0.0), ax.py(at0), 5.0, c_d, true, "kink");
    f.text(
        &format!("f\u{2032}(0) = {} (kink rule: {})", label(at0), kink.name()),
        ax.px(0.0) + 12.0,
        ax.py(at0) - 10.0 + if at0 == 0.0 { -12.0 } else { 0.0 },
        13.0,
        Anchor::Start,
        c_d,
    );
    legend(&mut f, &ax, &[("f(x)".into(), c_f, false), ("f\u{2032}(x)".into(), c_d, false)], false);
    f.end();

    // Sigmoid.
    let ax = panel(1, (-6.0, 6.0), (-0.1, 1.1));
    f.group("panel-sigmoid", &ax.data_attrs());
    draw_axes(&mut f, &ax, "sigmoid: f(x) = 1 / (1 + exp(\u{2212}x))", "x", "", true);
    let xs = grid(-6.0, 6.0, 240);
    let s: Vec<f64> = xs.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect();
    let ds: Vec<f64> = s.iter().map(|&s| s * (1.0 - s)).collect();
    f.line(curve(&ax, &xs, &s), c_f, 3.0, false, "function");
    f.line(curve(&ax, &xs, &ds), c_d, 3.0, false, "derivative");
    f.line(vec![(ax.px(-6.0), ax.py(0.25)), (ax.px(6.0), ax.py(0.25))], c_d, 1.2, true, "max");
    f.circle(ax.px(0.0), ax.py(0.25), 5.0, c_d, true, "max");
    f.text("max f\u{2032} = f\u{2032}(0) = 0.25", ax.px(0.0) + 10.0, ax.py(0.25) - 10.0, 13.0, Anchor::Start, c_d);
    f.text(
        "f\u{2032} \u{2264} 0.25: each layer shrinks the gradient \u{2265} 4x",
        ax.px(0.0),
        ax.py(-0.1) - 10.0,
        13.0,
        Anchor::Middle,
        GREY,
    );
    legend(&mut f, &ax, &[("f(x)".into(), c_f, false), ("f\u{2032}(x)".into(), c_d, false)], false);
    f.end();

    // Leaky and ReLU6.
    let ax = panel(2, (-4.0, 8.0), (-1.0, 7.0));
    f.group("panel-leaky-relu6", &ax.data_attrs());
    draw_axes(&mut f, &ax, "leaky ReLU and ReLU6", "x", "", true);
    let xs = grid(-4.0, 8.0, 240);
    let leaky = Ramp::leaky(0.1).expect("finite slope");
    let relu6 = Ramp::clipped(6.0).expect("6 > 0");
    let mut yl = vec![0.0; xs.len()];
    let mut y6 = vec![0.0; xs.len()];
    leaky.forward(&xs, &mut yl);
    relu6.forward(&xs, &mut y6);
    f.line(curve(&ax, &xs, &yl), PALETTE[2], 3.0, false, "function");
    f.line(curve(&ax, &xs, &y6), PALETTE[3], 3.0, true, "function");
    f.circle(ax.px(6.0), ax.py(6.0), 4.0, PALETTE[3], true, "kink");
    f.circle(ax.px(0.0), ax.py(0.0), 4.0, PALETTE[2], true, "kink");
    legend(
        &mut f,
        &ax,
        &[("leaky: x > 0 ? x : 0.1x".into(), PALETTE[2], false), ("ReLU6: min(max(x, 0), 6)".into(), PALETTE[3], true)],
        false,
    );
    f.end();
    f
}

/// A line chart of several series `(name, points)`.
pub fn line_chart(
    title: &str,
    xlabel: &str,
    series: &[(String, Vec<(f64, f64)>)],
    log_y: bool,
    y_range: Option<(f64, f64)>,
) -> Figure {
    let mut f = Figure::new(900.0, 480.0);
    let all = series.iter().flat_map(|(_, p)| p.iter().copied());
    let (mut x0, mut x1, mut y0, mut y1): (f64, f64, f64, f64) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in all {
        if log_y && y <= 0.0 {
            continue;
        }
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !x0.is_finite() || !x1.is_finite() {
        (x0, x1) = (0.0, 1.0);
    } else if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let y = match y_range {
        Some(r) => r,
        None if log_y => (10f64.powf(y0.log10().floor()), 10f64.powf(y1.log10().ceil().max(y0.log10().floor() + 1.0))),
        None => (y0.min(0.0), if y1 > 0.0 { y1 * 1.05 } else { 1.0 }),
    };
    let ax = Axes { left: 80.0, top: 60.0, width: 640.0, height: 350.0, x: (x0, x1), y, log_y };
    f.group("chart", &ax.data_attrs());
    draw_axes(&mut f, &ax, title, xlabel, "", false);
    let mut entries = Vec::new();
    let k = series.len();
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let p: Vec<(f64, f64)> =
            pts.iter().filter(|p| !log_y || p.1 > 0.0).map(|&(x, y)| (ax.px(x), ax.clamp_py(y))).collect();
        // Series that coincide (ReLU and leaky ReLU often do) must stay visible: earlier
        // series are drawn wider and every other one dashed, so a later line on top of an
        // earlier one leaves its edges showing.
        let width = (2.5 + (k - 1 - i) as f64).min(4.5);
        let dashed = i % 2 == 1;
        for &(x, y) in &p {
            f.circle(x, y, 2.0 + width / 2.0, c, true, "point");
        }
        f.line(p, c, width, dashed, "series");
        entries.push((name.clone(), c, dashed));
    }
    legend(&mut f, &ax, &entries, true);
    f.end();
    f
}

/// The gradient norm of each layer at initialisation, log scale, one line per activation.
pub fn gradient_figure(r: &ExperimentResult) -> Figure {
    let series: Vec<(String, Vec<(f64, f64)>)> = r
        .runs
        .iter()
        .map(|run| {
            (
                run.activation.name().to_string(),
                run.grad_norm_per_layer.iter().enumerate().map(|(i, &g)| ((i + 1) as f64, g)).collect(),
            )
        })
        .collect();
    let title = format!("weight-gradient norm per layer at init (depth {}, {})", r.config.depth, r.data);
    line_chart(&title, "layer (1 = first hidden, last = output)", &series, true, None)
}

/// Test accuracy after each epoch (epoch 0 = before training), one line per activation.
pub fn accuracy_figure(r: &ExperimentResult) -> Figure {
    let series: Vec<(String, Vec<(f64, f64)>)> = r
        .runs
        .iter()
        .map(|run| {
            (
                run.activation.name().to_string(),
                run.test_accuracy_per_epoch.iter().enumerate().map(|(i, &a)| (i as f64, a)).collect(),
            )
        })
        .collect();
    let title = format!("test accuracy per epoch (depth {}, width {}, {})", r.config.depth, r.config.width, r.data);
    line_chart(&title, "epoch", &series, false, Some((0.0, 1.0)))
}

/// Histograms of the last hidden layer's activations on the test set, one panel per run.
pub fn histogram_figure(r: &ExperimentResult) -> Figure {
    let k = r.runs.len().max(1);
    let mut f = Figure::new(40.0 + 330.0 * k as f64, 420.0);
    for (i, run) in r.runs.iter().enumerate() {
        let h = &run.histogram;
        let total = h.total.max(1) as f64;
        let top = h.counts.iter().copied().max().unwrap_or(1) as f64 / total;
        let ax = Axes {
            left: 70.0 + 330.0 * i as f64,
            top: 60.0,
            width: 270.0,
            height: 290.0,
            x: (h.lo, h.hi),
            y: (0.0, (top * 1.1).max(1e-3)),
            log_y: false,
        };
        f.group(&format!("hist-{}", run.activation.name()), &ax.data_attrs());
        draw_axes(&mut f, &ax, &format!("{}: last hidden layer", run.activation.name()), "activation", "", false);
        let bw = (h.hi - h.lo) / h.counts.len() as f64;
        for (j, &c) in h.counts.iter().enumerate() {
            let x0 = ax.px(h.lo + bw * j as f64);
            let x1 = ax.px(h.lo + bw * (j + 1) as f64);
            let y = ax.py(c as f64 / total);
            f.rect(x0 + 0.5, y, (x1 - x0 - 1.0).max(0.5), ax.top + ax.height - y, PALETTE[i % PALETTE.len()]);
        }
        f.text(
            &format!("exactly 0: {:.1}%", 100.0 * h.exact_zeros as f64 / total),
            ax.left + ax.width - 8.0,
            ax.top + 22.0,
            13.0,
            Anchor::End,
            BLACK,
        );
        f.end();
    }
    f
}

/// Writes `name.svg` and `name.png` (PNG at 2x) into `dir` (created if needed), each through
/// a temporary file and a rename; returns the two paths.
pub fn save(fig: &Figure, dir: &std::path::Path, name: &str) -> std::io::Result<[std::path::PathBuf; 2]> {
    std::fs::create_dir_all(dir)?;
    let svg = dir.join(format!("{name}.svg"));
    let png = dir.join(format!("{name}.png"));
    write_atomic(&svg, fig.svg().as_bytes())?;
    write_atomic(&png, &fig.png(2.0))?;
    Ok([svg, png])
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// that `path` is never left half-written.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
