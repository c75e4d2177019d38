#!/usr/bin/env python3
"""Writes edge.rs: the contract's edge-case vector with the expected output bits of each op,
computed here independently of the Rust code (exact rational arithmetic, explicit rounding to
each format, the NaN rules of ../shared/SEMANTICS.md written out by hand).

Run: python3 crates/rectify/tests/kernels/gen_edge.py > crates/rectify/tests/kernels/edge.rs
Standard library only.
"""
from fractions import Fraction

# name: (exponent bits, mantissa bits, Rust type)
FORMATS = {
    "f16": (5, 10, "f16"),
    "bf16": (8, 7, "bf16"),
    "f32": (8, 23, "f32"),
    "f64": (11, 52, "f64"),
}
COMPUTE = {"f16": "f32", "bf16": "f32", "f32": "f32", "f64": "f64"}


class Fmt:
    def __init__(self, name):
        self.name = name
        self.e, self.m, self.rust = FORMATS[name]
        self.width = 1 + self.e + self.m
        self.sign = 1 << (self.width - 1)
        self.exp_mask = ((1 << self.e) - 1) << self.m
        self.quiet = 1 << (self.m - 1)
        self.bias = (1 << (self.e - 1)) - 1

    def is_nan(self, b):
        return (b & ~self.sign) > self.exp_mask

    def decode(self, b):
        """bits -> ('nan', bits) | ('inf', sign) | ('num', Fraction, negative_zero_flag)"""
        neg = bool(b & self.sign)
        e = (b & self.exp_mask) >> self.m
        f = b & ((1 << self.m) - 1)
        if e == (1 << self.e) - 1:
            return ("nan", b) if f else ("inf", -1 if neg else 1)
        if e == 0:
            v = Fraction(f, 1 << (self.m + self.bias - 1))
        else:
            v = Fraction((1 << self.m) | f, 1 << self.m) * Fraction(2) ** (e - self.bias)
        return ("num", -v if neg else v, neg)

    def encode(self, q, negative):
        """Round an exact rational to this format, to nearest, ties to even."""
        s = self.sign if negative else 0
        a = abs(q)
        if a == 0:
            return s
        emin = 1 - self.bias
        # exponent of the leading bit
        e = a.numerator.bit_length() - a.denominator.bit_length()
        if Fraction(2) ** e > a:
            e -= 1
        while Fraction(2) ** (e + 1) <= a:
            e += 1
        e = max(e, emin)
        scaled = a / Fraction(2) ** (e - self.m)  # significand as a multiple of the lsb
        n = scaled.numerator // scaled.denominator
        rem = scaled - n
        if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2 == 1):
            n += 1
        if n == 1 << (self.m + 1):
            n >>= 1
            e += 1
        if e > self.bias:
            return s | self.exp_mask  # overflow to infinity
        if n < (1 << self.m):  # subnormal
            return s | n
        return s | ((e + self.bias) << self.m) | (n & ((1 << self.m) - 1))

    def from_float(self, v):
        if v != v:
            return self.exp_mask | self.quiet
        if v in (float("inf"), float("-inf")):
            return self.exp_mask | (self.sign if v < 0 else 0)
        return self.encode(Fraction(v), str(v).startswith("-"))

    def ulp(self, b, up):
        positive = not (b & self.sign)
        return b + 1 if up == positive else b - 1


def compute_then_store(fmt, value):
    """Round an exact value to the compute type, then to the dtype (the contract's rule)."""
    kind = value[0]
    if kind != "num":
        raise ValueError
    c = Fmt(COMPUTE[fmt.name])
    cb = c.encode(value[1], value[2])
    d = c.decode(cb)
    if d[0] == "inf":
        return fmt.exp_mask | (fmt.sign if d[1] < 0 else 0)
    return fmt.encode(d[1], d[2])


def mul_param(fmt, a, xb):
    """a * x with a a parameter (rounded to the compute type), x a value of the dtype."""
    c = Fmt(COMPUTE[fmt.name])
    ab = c.from_float(a)
    _, av, aneg = c.decode(ab)
    x = fmt.decode(xb)
    if x[0] == "nan":
        return xb | fmt.quiet  # the NaN operand, quieted (payload and sign kept)
    if x[0] == "inf":
        s = (x[1] < 0) != aneg
        return fmt.exp_mask | (fmt.sign if s else 0)
    neg = x[2] != aneg
    return compute_then_store(fmt, ("num", av * x[1], neg))


def as_param(fmt, v):
    """A threshold or cap rounded to the dtype, as an exact value (or inf)."""
    b = fmt.from_float(v)
    return fmt.decode(b), b


def cmp(fmt, xb, p):
    """Compare x (bits) with a decoded param: returns -1, 0, 1 (x must not be NaN)."""
    x = fmt.decode(xb)
    xv = float("inf") * x[1] if x[0] == "inf" else x[1]
    pv = float("inf") * p[1] if p[0] == "inf" else p[1]
    return (xv > pv) - (xv < pv)


def ramp_forward(fmt, a, t, m, xb):
    if fmt.is_nan(xb):
        return xb
    (mp, mbits) = as_param(fmt, m)
    tp, _ = as_param(fmt, t)
    if mp[0] != "inf" and cmp(fmt, xb, mp) >= 0:
        return mbits
    if cmp(fmt, xb, tp) > 0:
        return xb
    c = Fmt(COMPUTE[fmt.name])
    if c.decode(c.from_float(a))[1] == 0:
        return 0
    assert t == 0.0, "the table only uses slopes with t = 0"
    return mul_param(fmt, a, xb)


def apply_factor(fmt, f, dyb):
    if f == 0:
        return 0
    if f == 1:
        return dyb
    return mul_param(fmt, f, dyb)


def ramp_backward(fmt, a, t, m, kink, xb, dyb):
    if fmt.is_nan(xb):
        return 0
    mp, _ = as_param(fmt, m)
    tp, _ = as_param(fmt, t)
    c = Fmt(COMPUTE[fmt.name])
    ac = float(c.decode(c.from_float(a))[1])
    pick = {"Lower": min, "Upper": max, "Mid": lambda p, q: (p + q) / 2}[kink]
    if mp[0] != "inf":
        r = cmp(fmt, xb, mp)
        if r > 0:
            return 0
        if r == 0:
            return apply_factor(fmt, pick(1.0, 0.0), dyb)
    r = cmp(fmt, xb, tp)
    if r > 0:
        return dyb
    if r == 0:
        return apply_factor(fmt, pick(ac, 1.0), dyb)
    if ac == 0:
        return 0
    return mul_param(fmt, a, dyb)


def edge_vector(fmt, t, m):
    e, q, s = fmt.exp_mask, fmt.quiet, fmt.sign
    min_normal = 1 << fmt.m
    max_finite = e - 1
    v = [e | q | 5, s | e | q | 3, e | 1, e, s | e, s, 0, 1, s | 1, min_normal, s | min_normal,
         fmt.from_float(1.0), fmt.from_float(-1.0), max_finite, s | max_finite]
    for p in (t, m):
        if p != float("inf"):
            b = fmt.from_float(p)
            for c in (b, fmt.ulp(b, True), fmt.ulp(b, False)) if b & ~s else (b,):
                if c not in v:
                    v.append(c)
    return v


OPS = [
    # (name, slope, threshold, cap)
    ("relu", 0.0, 0.0, float("inf")),
    ("relu6", 0.0, 0.0, 6.0),
    ("leaky_0_01", 0.01, 0.0, float("inf")),
    ("leaky_1_5", 1.5, 0.0, float("inf")),
    ("thresholded_1", 0.0, 1.0, float("inf")),
]
DYS = [1.0, -1.0, float("inf"), float("nan"), -0.0]


def main():
    out = []
    w = out.append
    w("//! GENERATED by gen_edge.py (beside this file) from exact arithmetic in Python, independent")
    w("//! of the Rust code: the contract's edge-case vector and the expected bits of each op.")
    w("//! Do not edit; rerun `python3 crates/rectify/tests/kernels/gen_edge.py > crates/rectify/tests/kernels/edge.rs`.")
    w("")
    w("use crate::common::{Bits, assert_bits_eq, on_every_level};")
    w("use rectify::{Kink, Par, Ramp, bf16, f16};")
    w("")
    w("/// One op on the whole edge vector: inputs, upstream gradient (backward), expected bits.")
    w("struct Case {")
    w("    op: &'static str,")
    w("    kink: Option<Kink>,")
    w("    dy: u64,")
    w("    x: &'static [u64],")
    w("    want: &'static [u64],")
    w("}")
    w("")
    for fname in FORMATS:
        fmt = Fmt(fname)
        w(f"const {fname.upper()}: &[Case] = &[")
        for (op, a, t, m) in OPS:
            xs = edge_vector(fmt, t, m)
            xs_s = ", ".join(f"{b:#x}" for b in xs)
            want = [ramp_forward(fmt, a, t, m, b) for b in xs]
            w(f"    Case {{ op: \"{op}\", kink: None, dy: 0, x: &[{xs_s}], want: &[{', '.join(f'{b:#x}' for b in want)}] }},")
            for kink in ("Lower", "Upper", "Mid"):
                for dy in DYS:
                    dyb = fmt.from_float(dy) if dy == dy else (fmt.exp_mask | fmt.quiet | 9)
                    want = [ramp_backward(fmt, a, t, m, kink, b, dyb) for b in xs]
                    w(f"    Case {{ op: \"{op}\", kink: Some(Kink::{kink}), dy: {dyb:#x}, x: &[{xs_s}], want: &[{', '.join(f'{b:#x}' for b in want)}] }},")
        w("];")
        w("")
    w("""fn ramp_of(op: &str) -> Ramp {
    match op {
        "relu" => Ramp::relu(),
        "relu6" => Ramp::relu6(),
        "leaky_0_01" => Ramp::leaky(0.01).unwrap(),
        "leaky_1_5" => Ramp::leaky(1.5).unwrap(),
        "thresholded_1" => Ramp::thresholded(1.0).unwrap(),
        _ => unreachable!("unknown op {op}"),
    }
}

/// Runs each case on every level, the vector repeated so that the vector bodies run too.
fn check<T: Bits>(cases: &[Case]) {
    const REPEAT: usize = 9;
    on_every_level(&[Par::Seq], |isa, _| {
        for case in cases {
            let x: Vec<T> = case.x.iter().cycle().take(case.x.len() * REPEAT).map(|&b| T::from_u64(b)).collect();
            let want: Vec<T> = case.want.iter().cycle().take(x.len()).map(|&b| T::from_u64(b)).collect();
            let ramp = ramp_of(case.op);
            let mut got = vec![T::from_u64(0); x.len()];
            let what = || format!("{} {:?} kink {:?} dy {:#x} on {isa}", case.op, T::DTYPE, case.kink, case.dy);
            match case.kink {
                None => {
                    ramp.forward(&x, &mut got);
                    if case.op == "relu" {
                        let mut direct = vec![T::from_u64(0); x.len()];
                        rectify::relu(&x, &mut direct);
                        assert_bits_eq(&direct, &want, &what);
                    }
                }
                Some(kink) => {
                    let dy = vec![T::from_u64(case.dy); x.len()];
                    ramp.backward(&x, &dy, &mut got, kink);
                }
            }
            assert_bits_eq(&got, &want, &what);
        }
    });
}
""")
    for fname in FORMATS:
        w("#[test]")
        w(f"fn edge_cases_{fname}() {{")
        w(f"    check::<{FORMATS[fname][2]}>({fname.upper()});")
        w("}")
        w("")
    print("\n".join(out).rstrip())


if __name__ == "__main__":
    main()
