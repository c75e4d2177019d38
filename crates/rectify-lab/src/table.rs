//! Named ops with parameters, and tables of `f` and `f'` over a range.

use rectify::{Kink, Ramp};
use serde::Serialize;

/// An elementwise op the command line can name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// A member of the ReLU family ([`Ramp`]: relu, leaky, relu6, clipped, thresholded, ramp).
    Ramp(Ramp),
    /// PReLU with a single slope (the same as leaky in values, but run by `rectify::prelu`).
    Prelu(f64),
    /// The logistic sigmoid.
    Sigmoid,
    /// The hyperbolic tangent.
    Tanh,
}

/// The parameters an op may take; each op reads the ones it needs.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize)]
pub struct OpParams {
    /// Negative slope (leaky, prelu, ramp).
    pub slope: Option<f64>,
    /// Threshold (thresholded, ramp).
    pub threshold: Option<f64>,
    /// Cap (clipped, ramp).
    pub max_value: Option<f64>,
}

/// The op names [`Op::parse`] accepts.
pub const OP_NAMES: [&str; 9] =
    ["relu", "leaky", "relu6", "clipped", "thresholded", "ramp", "prelu", "sigmoid", "tanh"];

impl Op {
    /// The op `name` with `params` (defaults: leaky and prelu slope 0.01, clipped cap 6,
    /// thresholded threshold 0, ramp `(0, 0, +inf)`). Errors name the problem in one line.
    pub fn parse(name: &str, p: OpParams) -> Result<Op, String> {
        let e = |e: rectify::Error| format!("impossible parameters for {name}: {e}");
        Ok(match name {
            "relu" => Op::Ramp(Ramp::relu()),
            "leaky" => Op::Ramp(Ramp::leaky(p.slope.unwrap_or(0.01)).map_err(e)?),
            "relu6" => Op::Ramp(Ramp::clipped(6.0).map_err(e)?),
            "clipped" => Op::Ramp(Ramp::clipped(p.max_value.unwrap_or(6.0)).map_err(e)?),
            "thresholded" => Op::Ramp(Ramp::thresholded(p.threshold.unwrap_or(0.0)).map_err(e)?),
            "ramp" => Op::Ramp(
                Ramp::new(p.slope.unwrap_or(0.0), p.threshold.unwrap_or(0.0), p.max_value.unwrap_or(f64::INFINITY))
                    .map_err(e)?,
            ),
            "prelu" => {
                let a = p.slope.unwrap_or(0.01);
                if !a.is_finite() {
                    return Err(format!("impossible parameters for prelu: slope must be finite, got {a}"));
                }
                Op::Prelu(a)
            }
            "sigmoid" => Op::Sigmoid,
            "tanh" => Op::Tanh,
            other => return Err(format!("unknown op {other:?} (expected one of {})", OP_NAMES.join(", "))),
        })
    }

    /// `f(x)` in f64.
    pub fn eval(&self, x: f64) -> f64 {
        match self {
            Op::Ramp(r) => r.eval(x),
            Op::Prelu(a) => Ramp::leaky(*a).map_or(f64::NAN, |r| r.eval(x)),
            Op::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Op::Tanh => x.tanh(),
        }
    }

    /// `f'(x)` in f64, with `kink` deciding at the kinks of the ReLU family.
    pub fn derivative(&self, x: f64, kink: Kink) -> f64 {
        match self {
            Op::Ramp(r) => r.derivative(x, 1.0, kink),
            Op::Prelu(a) => Ramp::leaky(*a).map_or(f64::NAN, |r| r.derivative(x, 1.0, kink)),
            Op::Sigmoid => {
                let s = 1.0 / (1.0 + (-x).exp());
                s * (1.0 - s)
            }
            Op::Tanh => 1.0 - x.tanh() * x.tanh(),
        }
    }
}

/// One row of a [`Table`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The input.
    pub x: f64,
    /// `f(x)`.
    pub f: f64,
    /// `f'(x)` under the table's kink rule.
    pub df: f64,
}

/// Values of an op and its derivative on evenly spaced points.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    /// The op's name.
    pub op: String,
    /// Its parameters.
    pub params: OpParams,
    /// The kink rule.
    pub kink: &'static str,
    /// The rows, `x` ascending.
    pub rows: Vec<Row>,
}

/// `steps` points from `from` to `to` (inclusive; `steps >= 2`, `from < to`); each point is
/// computed as `from + i * (to - from) / (steps - 1)`, so 0 is hit exactly when it is on the grid.
pub fn table(name: &str, params: OpParams, kink: Kink, from: f64, to: f64, steps: usize) -> Result<Table, String> {
    let op = Op::parse(name, params)?;
    if !(from.is_finite() && to.is_finite() && from < to) {
        return Err(format!("the range must be finite with from < to, got {from}..{to}"));
    }
    if !(2..=100_000).contains(&steps) {
        return Err(format!("steps must be 2..=100000, got {steps}"));
    }
    let rows = (0..steps)
        .map(|i| {
            let x = if i == steps - 1 { to } else { from + i as f64 * (to - from) / (steps - 1) as f64 };
            Row { x, f: op.eval(x), df: op.derivative(x, kink) }
        })
        .collect();
    Ok(Table { op: name.to_string(), params, kink: kink.name(), rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_table_has_the_kink_rule_at_zero() {
        let t = table("relu", OpParams::default(), Kink::Mid, -2.0, 2.0, 5).unwrap();
        let df: Vec<f64> = t.rows.iter().map(|r| r.df).collect();
        assert_eq!(df, [0.0, 0.0, 0.5, 1.0, 1.0]);
        assert!(Op::parse("ramp", OpParams { threshold: Some(1.0), max_value: Some(0.5), slope: None }).is_err());
        assert!(Op::parse("nope", OpParams::default()).unwrap_err().contains("unknown op"));
    }
}
