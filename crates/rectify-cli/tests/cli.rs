//! End-to-end tests of every subcommand of the built `rectify` binary, with asserted content.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rectify"));
    c.env_remove("RECTIFY_ISA").env_remove("RECTIFY_NUM_THREADS");
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rectify-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str], dir: &Path) -> Output {
    bin().args(args).current_dir(dir).output().expect("the binary runs")
}

fn ok(args: &[&str], dir: &Path) -> String {
    let o = run(args, dir);
    assert!(o.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn json(args: &[&str], dir: &Path) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    serde_json::from_str(&ok(&a, dir)).expect("valid JSON on stdout")
}

/// A failing run: exit code 1, one line on stderr that contains `needle`, nothing on stdout.
fn fails(args: &[&str], dir: &Path, needle: &str) {
    let o = run(args, dir);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    assert!(o.stdout.is_empty());
}

#[test]
fn tour_proves_the_claims_on_digits() {
    let dir = tmp("tour");
    let t0 = std::time::Instant::now();
    let v = json(&["tour"], &dir);
    let secs = t0.elapsed().as_secs_f64();
    assert!(secs < 60.0, "tour took {secs}s");
    let runs = v["experiment"]["runs"].as_array().unwrap();
    let get = |a: &str| runs.iter().find(|r| r["activation"] == a).unwrap_or_else(|| panic!("no {a}"));
    let (sig, relu) = (get("sigmoid"), get("relu"));
    for a in ["leaky", "tanh"] {
        get(a);
    }
    let f = |r: &Value, k: &str| r[k].as_f64().unwrap();
    assert!(
        f(sig, "grad_first") * 100.0 <= f(relu, "grad_first"),
        "{} vs {}",
        f(sig, "grad_first"),
        f(relu, "grad_first")
    );
    assert!(f(relu, "test_accuracy") >= 0.9, "{}", f(relu, "test_accuracy"));
    assert!(f(sig, "test_accuracy") <= 0.3, "{}", f(sig, "test_accuracy"));
    assert_eq!(v["experiment"]["config"]["depth"], 8);
    assert_eq!(v["experiment"]["config"]["width"], 64);
    assert!(f(&v["throughput"]["throughput"], "relu") > 0.0);
    for name in ["activations", "gradient-norms", "accuracy", "activation-histogram"] {
        for ext in ["svg", "png"] {
            let p = dir.join("rectify-out").join(format!("{name}.{ext}"));
            assert!(std::fs::metadata(&p).map(|m| m.len() > 1000).unwrap_or(false), "{}", p.display());
        }
    }
    // The human tour: the ReLU table, the result table and the throughput line.
    let out = ok(&["tour", "--out", "figs"], &dir);
    assert!(out.contains("relu (kink rule: lower)"), "{out}");
    let row = out.lines().find(|l| l.trim_start().starts_with("0.5 ")).expect("a row at x = 0.5");
    assert_eq!(row.split_whitespace().collect::<Vec<_>>(), ["0.5", "0.5", "1"]);
    let sig_row = out.lines().find(|l| l.starts_with("sigmoid ")).expect("a sigmoid row");
    assert!(sig_row.contains("glorot"), "{sig_row}");
    assert!(out.contains("first-layer gradient is"), "{out}");
    assert!(out.contains("GB/s"), "{out}");
    assert!(dir.join("figs/activations.svg").exists());
}

/// The points of the polylines of `class` inside the group `id`, in data coordinates.
fn polylines(svg: &str, id: &str, class: &str) -> Vec<Vec<(f64, f64)>> {
    let start = svg.find(&format!("<g id=\"{id}\"")).expect("the panel");
    let group = &svg[start..start + svg[start..].find("</g>").unwrap()];
    let attr = |name: &str| -> Vec<f64> {
        let i = group.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        group[i..i + group[i..].find('"').unwrap()].split(' ').map(|s| s.parse().unwrap()).collect()
    };
    let (mx, my) = (attr("data-x"), attr("data-y"));
    group
        .match_indices(&format!("<polyline class=\"{class}\" points=\""))
        .map(|(i, m)| {
            let s = &group[i + m.len()..];
            s[..s.find('"').unwrap()]
                .split(' ')
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                    ((x - mx[1]) / mx[0], (y - my[1]) / my[0])
                })
                .collect()
        })
        .collect()
}

#[test]
fn plot_is_byte_identical_and_the_derivative_jumps_at_zero() {
    let dir = tmp("plot");
    let v = json(&["plot", "--out", "a"], &dir);
    assert_eq!(v["figures"].as_array().unwrap().len(), 2);
    ok(&["plot", "--out", "b"], &dir);
    for f in ["activations.svg", "activations.png"] {
        let a = std::fs::read(dir.join("a").join(f)).unwrap();
        assert_eq!(a, std::fs::read(dir.join("b").join(f)).unwrap(), "{f} differs between runs");
    }
    let png = std::fs::read(dir.join("a/activations.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(dir.join("a/activations.svg")).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(!svg.contains("<text"), "text is drawn as glyph outlines");
    assert!(svg.contains("aria-label=\"max f\u{2032} = f\u{2032}(0) = 0.25\""));
    assert!(svg.contains("kink rule: lower"));
    let lines = polylines(&svg, "panel-relu", "derivative");
    assert_eq!(lines.len(), 2, "two pieces: the jump is not bridged by the line");
    let pts: Vec<(f64, f64)> = lines.concat();
    let left: Vec<&(f64, f64)> = pts.iter().filter(|p| p.0 < -1e-3).collect();
    let right: Vec<&(f64, f64)> = pts.iter().filter(|p| p.0 > 1e-3).collect();
    assert!(left.len() > 50 && right.len() > 50);
    assert!(left.iter().all(|p| p.1.abs() < 0.01), "f' is 0 left of the axis");
    assert!(right.iter().all(|p| (p.1 - 1.0).abs() < 0.01), "f' is 1 right of the axis");
    assert!(left.iter().any(|p| p.0 < -2.9) && right.iter().any(|p| p.0 > 2.9));
    // The kink value follows the rule.
    ok(&["plot", "--out", "mid", "--kink", "mid"], &dir);
    let mid = std::fs::read_to_string(dir.join("mid/activations.svg")).unwrap();
    assert!(mid.contains("f\u{2032}(0) = 0.5 (kink rule: mid)"));
}

#[test]
fn train_and_vanish_small_runs() {
    let dir = tmp("train");
    let v = json(
        &[
            "train",
            "--data",
            "spirals",
            "--depth",
            "2",
            "--width",
            "32",
            "--epochs",
            "5",
            "-a",
            "relu,prelu",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
        ],
        &dir,
    );
    let runs = v["experiment"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["activation"], "prelu");
    assert_eq!(runs[0]["test_accuracy_per_epoch"].as_array().unwrap().len(), 6);
    assert_eq!(v["experiment"]["config"]["optimizer"]["name"], "adam");
    assert_eq!(v["figures"].as_array().unwrap().len(), 6);
    let svg = std::fs::read_to_string(dir.join("rectify-out/gradient-norms.svg")).unwrap();
    assert!(svg.contains("data-log-y=\"true\""));
    // The same run again gives the same numbers (wall-clock fields aside).
    let w = json(
        &[
            "train",
            "--data",
            "spirals",
            "--depth",
            "2",
            "--width",
            "32",
            "--epochs",
            "5",
            "-a",
            "relu,prelu",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "--no-plots",
        ],
        &dir,
    );
    assert_eq!(v["experiment"]["runs"][1]["loss_per_epoch"], w["experiment"]["runs"][1]["loss_per_epoch"]);

    let out = ok(&["vanish", "--depth", "4", "--width", "16", "--epochs", "1", "--no-plots"], &dir);
    for a in ["sigmoid ", "relu ", "leaky ", "tanh "] {
        assert!(out.lines().any(|l| l.starts_with(a)), "{a} row missing: {out}");
    }
    // A CSV by path, and errors.
    std::fs::write(dir.join("ok.csv"), "0,0,0\n1,1,1\n0,1,1\n1,0,0\n0,0.1,0\n1,0.9,1\n0,0.8,1\n0.9,0,0\n").unwrap();
    let v = json(&["train", "--data", "ok.csv", "--depth", "1", "--width", "4", "--epochs", "2", "--no-plots"], &dir);
    assert_eq!(v["experiment"]["features"], 2);
    assert_eq!(
        v["experiment"]["train_samples"].as_u64().unwrap() + v["experiment"]["test_samples"].as_u64().unwrap(),
        8
    );
    std::fs::write(dir.join("bad.csv"), "0,0,0\n1,1,1\n1,oops,1\n").unwrap();
    fails(&["train", "--data", "bad.csv", "--no-plots"], &dir, "bad.csv: line 3: field 2: \"oops\" is not a number");
    fails(&["train", "--data", "missing.csv"], &dir, "cannot read missing.csv");
    fails(&["train", "-a", "swish"], &dir, "unknown activation \"swish\"");
    fails(&["train", "--depth", "0", "--no-plots"], &dir, "depth must be");
}

#[test]
fn table_of_any_op_and_kink() {
    let dir = tmp("table");
    let v = json(&["table", "relu", "--kink", "mid", "--from", "-1", "--to", "1", "--steps", "3"], &dir);
    let rows: Vec<(f64, f64, f64)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["x"].as_f64().unwrap(), r["f"].as_f64().unwrap(), r["df"].as_f64().unwrap()))
        .collect();
    assert_eq!(rows, [(-1.0, 0.0, 0.0), (0.0, 0.0, 0.5), (1.0, 1.0, 1.0)]);
    let out = ok(
        &[
            "table",
            "ramp",
            "--slope",
            "0.1",
            "--threshold",
            "1",
            "--max-value",
            "3",
            "--from",
            "0",
            "--to",
            "4",
            "--steps",
            "5",
        ],
        &dir,
    );
    let cols: Vec<Vec<String>> =
        out.lines().skip(2).map(|l| l.split_whitespace().map(String::from).collect()).collect();
    assert_eq!(cols[0], ["0", "-0.1", "0.1"]);
    assert_eq!(cols[1], ["1", "0", "0.1"], "lower rule at the threshold");
    assert_eq!(cols[3], ["3", "3", "0"], "lower rule at the cap");
    let s = json(&["table", "sigmoid", "--from", "0", "--to", "1", "--steps", "2"], &dir);
    assert_eq!(s["rows"][0]["df"].as_f64().unwrap(), 0.25);
    fails(&["table", "clipped", "--max-value", "-1"], &dir, "impossible parameters for clipped");
    fails(&["table", "gelu"], &dir, "unknown op \"gelu\"");
}

#[derive(Clone, Copy, Debug)]
enum Dt {
    F2,
    F4,
    F8,
}

/// A .npy written by hand, as NumPy would: version 1.0, header padded to 64.
fn npy(dt: Dt, big: bool, fortran: bool, shape: &str, vals: &[f64]) -> Vec<u8> {
    let code = match dt {
        Dt::F2 => "f2",
        Dt::F4 => "f4",
        Dt::F8 => "f8",
    };
    let dict = format!(
        "{{'descr': '{}{code}', 'fortran_order': {}, 'shape': {shape}, }}",
        if big { '>' } else { '<' },
        if fortran { "True" } else { "False" }
    );
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    for &v in vals {
        let b: Vec<u8> = match (dt, big) {
            (Dt::F2, false) => rectify::f16::from_f64(v).to_bits().to_le_bytes().to_vec(),
            (Dt::F2, true) => rectify::f16::from_f64(v).to_bits().to_be_bytes().to_vec(),
            (Dt::F4, false) => (v as f32).to_le_bytes().to_vec(),
            (Dt::F4, true) => (v as f32).to_be_bytes().to_vec(),
            (Dt::F8, false) => v.to_le_bytes().to_vec(),
            (Dt::F8, true) => v.to_be_bytes().to_vec(),
        };
        out.extend(b);
    }
    out
}

fn read_values(bytes: &[u8], dt: Dt, big: bool) -> (String, Vec<f64>) {
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8(bytes[10..10 + hlen].to_vec()).unwrap();
    let body = &bytes[10 + hlen..];
    let vals = match dt {
        Dt::F2 => body
            .chunks(2)
            .map(|c| {
                let b = [c[0], c[1]];
                rectify::f16::from_bits(if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) }).to_f64()
            })
            .collect(),
        Dt::F4 => body
            .chunks(4)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3]];
                (if big { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) }) as f64
            })
            .collect(),
        Dt::F8 => body
            .chunks(8)
            .map(|c| {
                let b: [u8; 8] = c.try_into().unwrap();
                if big { f64::from_be_bytes(b) } else { f64::from_le_bytes(b) }
            })
            .collect(),
    };
    (header, vals)
}

#[test]
fn npy_round_trips_every_dtype_byte_order_and_memory_order() {
    let dir = tmp("npy");
    let x = [-2.0, -0.5, 0.0, 0.5, 1.0, 7.0];
    for dt in [Dt::F2, Dt::F4, Dt::F8] {
        for big in [false, true] {
            for fortran in [false, true] {
                let shape = if fortran { "(2, 3)" } else { "(3, 1, 2)" };
                std::fs::write(dir.join("x.npy"), npy(dt, big, fortran, shape, &x)).unwrap();
                let case = format!("{dt:?} big={big} fortran={fortran}");
                ok(&["apply", "relu6", "x.npy", "y.npy"], &dir);
                let (h, y) = read_values(&std::fs::read(dir.join("y.npy")).unwrap(), dt, big);
                assert_eq!(y, [0.0, 0.0, 0.0, 0.5, 1.0, 6.0], "{case}");
                assert!(
                    h.contains(&format!("'shape': {shape}")) && h.contains(if fortran { "True" } else { "False" }),
                    "{case}: {h}"
                );
                assert!(h.contains(if big { "'>" } else { "'<" }), "{case}: {h}");
                ok(&["apply", "leaky", "x.npy", "y.npy", "--slope", "0.5"], &dir);
                assert_eq!(
                    read_values(&std::fs::read(dir.join("y.npy")).unwrap(), dt, big).1,
                    [-1.0, -0.25, 0.0, 0.5, 1.0, 7.0],
                    "{case}"
                );
                ok(&["grad", "relu", "x.npy", "dx.npy", "--kink", "upper"], &dir);
                assert_eq!(
                    read_values(&std::fs::read(dir.join("dx.npy")).unwrap(), dt, big).1,
                    [0.0, 0.0, 1.0, 1.0, 1.0, 1.0],
                    "{case}"
                );
                std::fs::write(dir.join("dy.npy"), npy(dt, big, fortran, shape, &[3.0; 6])).unwrap();
                ok(&["grad", "prelu", "x.npy", "dx.npy", "--dy", "dy.npy", "--slope", "0.25"], &dir);
                assert_eq!(
                    read_values(&std::fs::read(dir.join("dx.npy")).unwrap(), dt, big).1,
                    [0.75, 0.75, 0.75, 3.0, 3.0, 3.0],
                    "{case}"
                );
                ok(&["apply", "sigmoid", "x.npy", "s.npy"], &dir);
                let s = read_values(&std::fs::read(dir.join("s.npy")).unwrap(), dt, big).1;
                assert_eq!(s[2], 0.5, "{case}");
            }
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn bad_npy_inputs_fail_in_one_line_and_never_clobber_the_output() {
    let dir = tmp("npybad");
    let keep = b"precious".to_vec();
    let good = npy(Dt::F4, false, false, "(3,)", &[1.0, -1.0, 2.0]);
    let check = |bytes: &[u8], args: &[&str], needle: &str| {
        std::fs::write(dir.join("in.npy"), bytes).unwrap();
        std::fs::write(dir.join("out.npy"), &keep).unwrap();
        fails(args, &dir, needle);
        assert_eq!(std::fs::read(dir.join("out.npy")).unwrap(), keep, "{args:?} clobbered the output");
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    };
    let apply = ["apply", "relu", "in.npy", "out.npy"];
    // Unknown dtype.
    let mut int = good.clone();
    let i = int.windows(3).position(|w| w == b"<f4").unwrap();
    int[i + 1] = b'i';
    check(&int, &apply, "unknown dtype \"<i4\"");
    check(b"", &apply, "malformed header");
    // Malformed headers.
    check(b"not an npy file at all", &apply, "malformed header: not a .npy file");
    let mut no_shape = good.clone();
    let i = no_shape.windows(7).position(|w| w == b"'shape'").unwrap();
    no_shape[i + 1] = b'x';
    check(&no_shape, &apply, "malformed header: no 'shape'");
    let mut bad_order = good.clone();
    let i = bad_order.windows(5).position(|w| w == b"False").unwrap();
    bad_order[i] = b'f';
    check(&bad_order, &apply, "fortran_order");
    check(&good[..20], &apply, "malformed header");
    // Truncated data.
    check(&good[..good.len() - 3], &apply, "truncated data");
    // Impossible parameters, and a dy that does not match.
    check(&good, &["apply", "clipped", "in.npy", "out.npy", "--max-value", "0"], "impossible parameters for clipped");
    check(
        &good,
        &["apply", "ramp", "in.npy", "out.npy", "--threshold", "2", "--max-value", "1"],
        "impossible parameters for ramp",
    );
    check(&good, &["apply", "leaky", "in.npy", "out.npy", "--slope", "nan"], "impossible parameters for leaky");
    std::fs::write(dir.join("dy.npy"), npy(Dt::F8, false, false, "(3,)", &[1.0; 3])).unwrap();
    check(&good, &["grad", "relu", "in.npy", "out.npy", "--dy", "dy.npy"], "dy does not match x");
    check(&good, &["apply", "relu", "nope.npy", "out.npy"], "cannot read nope.npy");
    // And a good input replaces the output in one piece.
    std::fs::write(dir.join("in.npy"), &good).unwrap();
    ok(&apply, &dir);
    assert_eq!(read_values(&std::fs::read(dir.join("out.npy")).unwrap(), Dt::F4, false).1, [1.0, 0.0, 2.0]);
}

#[test]
fn info_reports_isa_paths_and_threads() {
    let dir = tmp("info");
    let v = json(&["info"], &dir);
    let isa = v["isa"].as_str().unwrap();
    assert!(["scalar", "v3", "v4"].contains(&isa), "{isa}");
    let paths = v["kernel_paths"].as_array().unwrap();
    assert!(paths.iter().any(|p| p["dtype"] == "float32" && p["path"].as_str().unwrap().starts_with(isa)));
    assert!(v["threads"].as_u64().unwrap() >= 1);
    let out = ok(&["info"], &dir);
    assert!(out.contains("isa in use:") && out.contains("bfloat16"), "{out}");
    let forced = bin().args(["info", "--format", "json"]).env("RECTIFY_ISA", "scalar").output().unwrap();
    let f: Value = serde_json::from_slice(&forced.stdout).unwrap();
    assert_eq!(f["isa"], "scalar");
}

#[test]
fn bench_quick_smoke() {
    let dir = tmp("bench");
    let v = json(&["bench", "--quick"], &dir);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    for r in rows {
        assert!(r["gb_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    let copy = rows.iter().find(|r| r["op"] == "copy_from_slice").unwrap();
    assert_eq!(copy["ratio_to_copy"].as_f64().unwrap(), 1.0);
    let out = ok(&["bench", "--quick"], &dir);
    assert!(out.contains("relu_backward_from_mask") && out.contains("vs copy"), "{out}");
}

#[test]
fn usage_errors_exit_nonzero() {
    let dir = tmp("usage");
    let o = run(&["frobnicate"], &dir);
    assert!(!o.status.success());
    let o = run(&["--help"], &dir);
    assert!(String::from_utf8_lossy(&o.stdout).contains("tour"));
}
