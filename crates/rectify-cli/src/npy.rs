//! Reading and writing `.npy` files of f2, f4 and f8 in either byte order, any shape, C or
//! Fortran order (the ops are elementwise, so the order is carried through unchanged).

use rectify::f16;

/// The element type of a `.npy` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `f2`.
    F16,
    /// `f4`.
    F32,
    /// `f8`.
    F64,
}

/// The data, converted to native values.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// `f2`.
    F16(Vec<f16>),
    /// `f4`.
    F32(Vec<f32>),
    /// `f8`.
    F64(Vec<f64>),
}

/// A parsed `.npy` array.
#[derive(Clone, Debug, PartialEq)]
pub struct Npy {
    /// Big-endian on disk.
    pub big_endian: bool,
    /// Fortran (column-major) order.
    pub fortran_order: bool,
    /// The shape.
    pub shape: Vec<usize>,
    /// The elements in file order.
    pub data: Data,
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::F16 => 2,
            Kind::F32 => 4,
            Kind::F64 => 8,
        }
    }
    fn code(self) -> &'static str {
        match self {
            Kind::F16 => "f2",
            Kind::F32 => "f4",
            Kind::F64 => "f8",
        }
    }
}

impl Data {
    /// The element type.
    pub fn kind(&self) -> Kind {
        match self {
            Data::F16(_) => Kind::F16,
            Data::F32(_) => Kind::F32,
            Data::F64(_) => Kind::F64,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::F16(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
        }
    }
}

/// Finds `'key': value` in the header dict and returns the value's text (up to the next
/// top-level comma or the closing brace).
fn field<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let k1 = format!("'{key}'");
    let k2 = format!("\"{key}\"");
    let start = dict.find(&k1).map(|i| i + k1.len()).or_else(|| dict.find(&k2).map(|i| i + k2.len()))?;
    let rest = dict[start..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    None
}

/// Parses a `.npy` file; errors are one line naming the problem.
pub fn parse(bytes: &[u8]) -> Result<Npy, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("malformed header: not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("malformed header: truncated header length".into());
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(format!("malformed header: unsupported .npy version {v}")),
    };
    let Some(header) = bytes.get(hstart..hstart + hlen) else {
        return Err(format!(
            "malformed header: header of {hlen} bytes but the file has {} after the preamble",
            bytes.len() - hstart
        ));
    };
    let dict = std::str::from_utf8(header).map_err(|_| "malformed header: not text".to_string())?.trim();
    if !dict.starts_with('{') {
        return Err(format!("malformed header: expected a dict, got {:?}", dict.chars().take(20).collect::<String>()));
    }
    let descr = field(dict, "descr").ok_or("malformed header: no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let (big_endian, code) = match descr.split_at_checked(1) {
        Some(("<", c)) => (false, c),
        Some((">", c)) => (true, c),
        Some(("=", c)) => (cfg!(target_endian = "big"), c),
        Some(("|", c)) => (false, c),
        _ => (false, descr),
    };
    let kind = match code {
        "f2" | "e" => Kind::F16,
        "f4" | "f" => Kind::F32,
        "f8" | "d" => Kind::F64,
        _ => return Err(format!("unknown dtype {descr:?}: expected f2, f4 or f8 (either byte order)")),
    };
    let fortran_order = match field(dict, "fortran_order").ok_or("malformed header: no 'fortran_order'")? {
        "True" => true,
        "False" => false,
        other => return Err(format!("malformed header: fortran_order is {other:?}, not True or False")),
    };
    let shape_text = field(dict, "shape").ok_or("malformed header: no 'shape'")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("malformed header: shape {shape_text:?} is not a tuple"))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>().map_err(|_| format!("malformed header: shape {shape_text:?} has a bad dimension {s:?}"))
        })
        .collect::<Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("malformed header: shape {shape_text:?} is too large"))?;
    let body = &bytes[hstart + hlen..];
    let need = count.checked_mul(kind.size()).ok_or("malformed header: shape too large")?;
    if body.len() < need {
        return Err(format!(
            "truncated data: shape {shape_text} of {} needs {need} bytes, the file has {}",
            kind.code(),
            body.len()
        ));
    }
    if body.len() > need {
        return Err(format!("malformed file: {} bytes after the {need} bytes of data", body.len() - need));
    }
    let data = match kind {
        Kind::F16 => Data::F16(
            body.chunks_exact(2)
                .map(|c| {
                    let b = [c[0], c[1]];
                    f16::from_bits(if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
                })
                .collect(),
        ),
        Kind::F32 => Data::F32(
            body.chunks_exact(4)
                .map(|c| {
                    let b = [c[0], c[1], c[2], c[3]];
                    if big_endian { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) }
                })
                .collect(),
        ),
        Kind::F64 => Data::F64(
            body.chunks_exact(8)
                .map(|c| {
                    let b: [u8; 8] = c.try_into().expect("8 bytes");
                    if big_endian { f64::from_be_bytes(b) } else { f64::from_le_bytes(b) }
                })
                .collect(),
        ),
    };
    Ok(Npy { big_endian, fortran_order, shape, data })
}

/// Serialises a `.npy` (version 1.0, or 2.0 if the header needs it), header padded so the
/// data starts at a multiple of 64 bytes.
pub fn write(a: &Npy) -> Vec<u8> {
    let shape = match a.shape.len() {
        1 => format!("({},)", a.shape[0]),
        _ => format!("({})", a.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let dict = format!(
        "{{'descr': '{}{}', 'fortran_order': {}, 'shape': {}, }}",
        if a.big_endian { '>' } else { '<' },
        a.data.kind().code(),
        if a.fortran_order { "True" } else { "False" },
        shape
    );
    let v1 = dict.len() + 11 <= 65535 + 10;
    let pre = if v1 { 10 } else { 12 };
    let total = (pre + dict.len() + 1).div_ceil(64) * 64;
    let hlen = total - pre;
    let mut out = Vec::with_capacity(total + a.data.len() * a.data.kind().size());
    out.extend_from_slice(b"\x93NUMPY");
    out.push(if v1 { 1 } else { 2 });
    out.push(0);
    if v1 {
        out.extend_from_slice(&(hlen as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(hlen as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    let be = a.big_endian;
    match &a.data {
        Data::F16(v) => v.iter().for_each(|x| {
            out.extend_from_slice(&if be { x.to_bits().to_be_bytes() } else { x.to_bits().to_le_bytes() })
        }),
        Data::F32(v) => {
            v.iter().for_each(|x| out.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() }))
        }
        Data::F64(v) => {
            v.iter().for_each(|x| out.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() }))
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_errors() {
        for (data, be, fo, shape) in [
            (Data::F16(vec![f16::from_f32(-1.5), f16::from_f32(2.0)]), true, false, vec![2]),
            (Data::F32(vec![1.0, -2.0, 3.0, 4.0, 5.0, 6.0]), false, true, vec![2, 3]),
            (Data::F64(vec![]), false, false, vec![0, 3]),
            (Data::F64(vec![7.0]), true, false, vec![]),
        ] {
            let a = Npy { big_endian: be, fortran_order: fo, shape, data };
            let bytes = write(&a);
            assert_eq!((bytes.len() - a.data.len() * a.data.kind().size()) % 64, 0);
            assert_eq!(parse(&bytes).unwrap(), a);
        }
        assert!(parse(b"hello world").unwrap_err().contains("malformed header"));
        let a = Npy { big_endian: false, fortran_order: false, shape: vec![3], data: Data::F32(vec![1.0; 3]) };
        let b = write(&a);
        assert!(parse(&b[..b.len() - 1]).unwrap_err().starts_with("truncated data"));
        let mut bad = b.clone();
        let i = bad.windows(3).position(|w| w == b"<f4").unwrap();
        bad[i + 1] = b'i';
        assert!(parse(&bad).unwrap_err().starts_with("unknown dtype \"<i4\""));
    }
}
