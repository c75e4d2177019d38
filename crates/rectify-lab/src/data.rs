//! Data sets: the UCI optical digits (shipped), the two spirals (generated) and any CSV.

use std::fmt;
use std::io::Read;
use std::path::Path;

use ndarray::{Array2, Axis};
use serde::Serialize;

use crate::rng::Rng;

/// The UCI optical handwritten digits as shipped by scikit-learn (see `data/NOTICE.md`).
const DIGITS_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// A classification data set: one row of features per sample and a class per sample.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// A short name for reports ("digits", "spirals", or the CSV's path).
    pub name: String,
    /// `samples x features`, already scaled for training.
    pub x: Array2<f64>,
    /// The class of each sample, `0..classes`.
    pub y: Vec<usize>,
    /// The number of classes (`max(y) + 1`).
    pub classes: usize,
}

/// Why a data set could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum DataError {
    /// The file could not be read.
    Io {
        /// The path.
        path: String,
        /// The system's message.
        message: String,
    },
    /// A line of the CSV is not `number,...,number,label`.
    Csv {
        /// Where the text came from.
        source: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Some other problem (an empty file, a bad name).
    Other(String),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Io { path, message } => write!(f, "cannot read {path}: {message}"),
            DataError::Csv { source, line, message } => write!(f, "{source}: line {line}: {message}"),
            DataError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DataError {}

/// Parses CSV text with one sample per line, `feature,...,feature,label`, no header; blank
/// lines are skipped. Every row must have the same number of fields (at least 2), every
/// feature must be a finite number and every label a non-negative integer.
pub fn parse_csv(text: &str, source: &str) -> Result<Dataset, DataError> {
    let mut feats: Vec<f64> = Vec::new();
    let mut labels = Vec::new();
    let mut width: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |message: String| DataError::Csv { source: source.to_string(), line, message };
        let l = raw.trim();
        if l.is_empty() {
            continue;
        }
        let fields: Vec<&str> = l.split(',').map(str::trim).collect();
        if fields.len() < 2 {
            return Err(err(format!("expected features and a label, got {} field", fields.len())));
        }
        match width {
            None => width = Some(fields.len()),
            Some(w) if w != fields.len() => {
                return Err(err(format!("expected {w} fields like the first row, got {}", fields.len())));
            }
            _ => {}
        }
        let (label, features) = fields.split_last().expect("at least two fields");
        for (j, f) in features.iter().enumerate() {
            let v: f64 = f.parse().map_err(|_| err(format!("field {}: {f:?} is not a number", j + 1)))?;
            if !v.is_finite() {
                return Err(err(format!("field {}: {f:?} is not finite", j + 1)));
            }
            feats.push(v);
        }
        let lv: f64 = label.parse().map_err(|_| err(format!("label {label:?} is not a number")))?;
        if !(lv >= 0.0 && lv.fract() == 0.0 && lv < 1e6) {
            return Err(err(format!("label {label:?} is not a class number 0, 1, 2, ...")));
        }
        labels.push(lv as usize);
    }
    let Some(width) = width else {
        return Err(DataError::Other(format!("{source}: no data rows")));
    };
    let n = labels.len();
    let x = Array2::from_shape_vec((n, width - 1), feats).expect("rows have the same width");
    let classes = labels.iter().copied().max().unwrap_or(0) + 1;
    if classes < 2 {
        return Err(DataError::Other(format!("{source}: only one class (label 0) in the data")));
    }
    Ok(Dataset { name: source.to_string(), x, y: labels, classes })
}

/// The 1,797 8x8 digits, features scaled from `0..=16` to `[0, 1]`.
pub fn digits() -> Dataset {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_GZ).read_to_string(&mut text).expect("the shipped digits.csv.gz is valid");
    let mut d = parse_csv(&text, "digits").expect("the shipped digits.csv.gz parses");
    d.x.mapv_inplace(|v| v / 16.0);
    d
}

/// Reads a CSV file (see [`parse_csv`]) and scales each feature column to `[0, 1]` by its
/// minimum and maximum over the file (a constant column becomes 0).
pub fn load_csv(path: &Path) -> Result<Dataset, DataError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DataError::Io { path: path.display().to_string(), message: e.to_string() })?;
    let mut d = parse_csv(&text, &path.display().to_string())?;
    for mut col in d.x.axis_iter_mut(Axis(1)) {
        let lo = col.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let span = hi - lo;
        col.mapv_inplace(|v| if span > 0.0 { (v - lo) / span } else { 0.0 });
    }
    Ok(d)
}

/// The two interleaved spirals (Lang and Witbrock's benchmark), `n` points per arm, with
/// Gaussian noise of standard deviation `noise`, from `seed`. Coordinates lie in about
/// `[-1, 1]`.
pub fn spirals(n: usize, noise: f64, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let mut x = Array2::zeros((2 * n, 2));
    let mut y = Vec::with_capacity(2 * n);
    for i in 0..n {
        let t = 0.25 + 2.75 * core::f64::consts::PI * (i as f64 / n as f64).sqrt();
        let r = t / (3.0 * core::f64::consts::PI);
        for arm in 0..2 {
            let s = if arm == 0 { 1.0 } else { -1.0 };
            let row = 2 * i + arm;
            x[[row, 0]] = s * r * t.cos() + noise * rng.normal();
            x[[row, 1]] = s * r * t.sin() + noise * rng.normal();
            y.push(arm);
        }
    }
    Dataset { name: "spirals".into(), x, y, classes: 2 }
}

/// Where the data of an experiment comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// [`digits`].
    Digits,
    /// [`spirals`] with 500 points per arm, noise 0.02, from the experiment's seed.
    Spirals,
    /// [`load_csv`] of this path.
    Csv(String),
}

impl DataSource {
    /// `"digits"`, `"spirals"` or a path to a CSV file.
    pub fn parse(s: &str) -> DataSource {
        match s {
            "digits" => DataSource::Digits,
            "spirals" => DataSource::Spirals,
            path => DataSource::Csv(path.to_string()),
        }
    }

    /// Loads the data set.
    pub fn load(&self, seed: u64) -> Result<Dataset, DataError> {
        match self {
            DataSource::Digits => Ok(digits()),
            DataSource::Spirals => Ok(spirals(500, 0.02, seed)),
            DataSource::Csv(p) => load_csv(Path::new(p)),
        }
    }
}

impl Dataset {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The number of features.
    pub fn features(&self) -> usize {
        self.x.ncols()
    }

    /// The samples at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Dataset {
        Dataset {
            name: self.name.clone(),
            x: self.x.select(Axis(0), idx),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            classes: self.classes,
        }
    }

    /// A fixed split: the samples are shuffled by `seed` and the first
    /// `round(len * test_fraction)` go to the test set. Returns `(train, test)`.
    pub fn split(&self, test_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        Rng::new(seed ^ 0x5EED_5B11_7000_0000).shuffle(&mut idx);
        let n_test = ((self.len() as f64) * test_fraction).round() as usize;
        let n_test = n_test.clamp(1, self.len().saturating_sub(1).max(1));
        let (test, train) = idx.split_at(n_test);
        (self.select(train), self.select(test))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_has_the_documented_shape() {
        let d = digits();
        assert_eq!((d.len(), d.features(), d.classes), (1797, 64, 10));
        assert!(d.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let mut counts = [0usize; 10];
        d.y.iter().for_each(|&c| counts[c] += 1);
        assert!(counts.iter().all(|&c| (170..=190).contains(&c)), "{counts:?}");
        assert_eq!(d.y[..3], [0, 1, 2]);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let e = parse_csv("1,2,0\n\n3,x,1\n", "t.csv").unwrap_err();
        assert_eq!(e.to_string(), "t.csv: line 3: field 2: \"x\" is not a number");
        let e = parse_csv("1,2,0\n3,1\n", "t.csv").unwrap_err();
        assert_eq!(e.to_string(), "t.csv: line 2: expected 3 fields like the first row, got 2");
        let e = parse_csv("1,2,0\n3,4,1.5\n", "t.csv").unwrap_err();
        assert!(e.to_string().starts_with("t.csv: line 2: label \"1.5\""), "{e}");
        assert!(parse_csv("", "e.csv").unwrap_err().to_string().contains("no data"));
        let ok = parse_csv("1,2,0\n3,4,1\n", "t.csv").unwrap();
        assert_eq!((ok.len(), ok.features(), ok.classes), (2, 2, 2));
    }

    #[test]
    fn split_is_fixed_and_disjoint() {
        let d = spirals(50, 0.0, 1);
        let (a, b) = d.split(0.25, 3);
        let (a2, _) = d.split(0.25, 3);
        assert_eq!((a.len(), b.len()), (75, 25));
        assert_eq!(a.x, a2.x);
    }
}
