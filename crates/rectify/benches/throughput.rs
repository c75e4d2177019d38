//! Throughput of every kernel beside the machine's copy bandwidth, measured in the same run.
//!
//! ```text
//! cargo bench -p rectify --bench throughput --features ndarray -- [--quick] [--sizes 4K,64K,1M,16M,256M]
//!     [--dtypes f32,f64,f16,bf16] [--filter 'SUBSTRING|SUBSTRING'] [--rounds N] [--threads N] [--markdown] [--split]
//! ```
//!
//! GB/s counts bytes read + bytes written by the op (forward 2 arrays, backward 3, the mask
//! 1/8 byte per element). In-place rows first restore their array from a pristine copy (so
//! every call sees mixed signs) and count that copy's bytes too. Rows of one size run
//! interleaved, round after round, and each row reports its median, so a noisy neighbour
//! slows every row of a round alike (the machine is shared; compare only within one run);
//! before each sample a few untimed calls of the same row put the caches in the state that
//! row leaves them, whatever its neighbour did. `--filter` keeps the rows whose names
//! contain one of its `|`-separated substrings (the copies always run).
//! Baselines in every group: copies of the same streams (`copy_from_slice`, an AVX2 loop,
//! AVX2 streaming stores in order and four pages side by side as rectify's streaming
//! drivers write; two arrays in and one out for the backward), the naive scalar loop,
//! and ndarray's `mapv_inplace`. From 1M elements the main rows run again on `--threads`
//! threads (default: every core), to show what the split gains; `--split` adds one thread
//! against all of them forced to split at 2-16 MiB per array, the measurement behind the
//! split threshold.
//!
//! This harness, not criterion, makes BENCHMARKS.md: criterion measures one benchmark after
//! another, while on a shared machine only rows interleaved round by round can be compared.
//! `benches/criterion.rs` has the same kernels for criterion's statistics and reports.

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

use rectify::{Isa, Kink, Par, Ramp, ReluMask, bf16, f16};

mod common;
use common::{Sample, data, parse_size};

/// Which copy a row is held against: its own streams copied.
#[derive(Clone, Copy, PartialEq)]
enum Streams {
    /// One array read, one written (forward, mask ops).
    OneToOne,
    /// Two arrays read, one written (the backward from the input: x, dy -> dx).
    TwoToOne,
    /// In-place rows: the refresh copy, then one array read and written back.
    InPlace,
    /// In-place backward rows: the refresh copy, then x read and dy read and written back.
    InPlaceTwo,
}

struct Row {
    group: String,
    name: String,
    streams: Streams,
    bytes: f64,
    run: Box<dyn FnMut()>,
    samples: Vec<f64>,
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}M", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}K", n >> 10),
        n => n.to_string(),
    }
}

trait BenchFloat: Sample + Default {
    /// The obvious scalar ReLU a user would write.
    fn naive_relu(self) -> Self;
    /// Whether the type has `max` (f32, f64).
    const HAS_MAX: bool = false;
    /// `self.max(0.0)` where the type has it.
    fn max0(self) -> Self {
        self
    }
}
impl BenchFloat for f32 {
    fn naive_relu(self) -> Self {
        if self > 0.0 { self } else { 0.0 }
    }
    const HAS_MAX: bool = true;
    fn max0(self) -> Self {
        self.max(0.0)
    }
}
impl BenchFloat for f64 {
    fn naive_relu(self) -> Self {
        if self > 0.0 { self } else { 0.0 }
    }
    const HAS_MAX: bool = true;
    fn max0(self) -> Self {
        self.max(0.0)
    }
}
impl BenchFloat for f16 {
    fn naive_relu(self) -> Self {
        if self > f16::ZERO { self } else { f16::ZERO }
    }
}
impl BenchFloat for bf16 {
    fn naive_relu(self) -> Self {
        if self > bf16::ZERO { self } else { bf16::ZERO }
    }
}

/// The arrays of one group, shared by its rows (which run one at a time): at 256M elements
/// a private copy per row would not fit in memory.
struct Bufs<T> {
    x: Vec<T>,
    dy: Vec<T>,
    out: Vec<T>,
    /// Overwritten by the in-place rows.
    work: Vec<T>,
    mask: ReluMask,
}

/// Restores an in-place row's array before each call, so that every call sees the same
/// mixed-sign data (after one ReLU everything is non-negative, which would hide
/// data-dependent store costs). The copy is part of the row: its bytes are counted.
fn refresh<T: Copy>(work: &mut [T], src: &[T]) {
    #[cfg(target_arch = "x86_64")]
    if Isa::V3.is_available() {
        // SAFETY: AVX2 was just detected; both arrays have the same length.
        unsafe { vector_copy(src.as_ptr().cast(), work.as_mut_ptr().cast(), size_of_val(src)) };
        return;
    }
    work.copy_from_slice(src);
}

/// What a row does with the group's arrays.
type RowBody<T> = Box<dyn FnMut(&mut Bufs<T>)>;

/// Rows for one dtype at one size: baselines, then every op on every level.
fn rows_for<T: BenchFloat + 'static>(n: usize, levels: &[Isa], threads: usize, rows: &mut Vec<Row>, filter: &str) {
    let dtype = T::DTYPE.name();
    let group = format!("{dtype} {}", label(n));
    let e = size_of::<T>() as f64 * n as f64;
    let x = data::<T>(n, 5);
    let mask = ReluMask::from_input(&x);
    let bufs =
        Rc::new(RefCell::new(Bufs { dy: data::<T>(n, 6), out: data::<T>(n, 7), work: data::<T>(n, 8), x, mask }));
    let mut add = |name: String, streams: Streams, bytes: f64, mut f: RowBody<T>| {
        if filter.is_empty() || filter.split('|').any(|f| name.contains(f)) || name.starts_with("copy") {
            let b = Rc::clone(&bufs);
            let run = Box::new(move || f(&mut b.borrow_mut()));
            rows.push(Row { group: group.clone(), name, streams, bytes, run, samples: Vec::new() });
        }
    };

    use Streams::{InPlace, InPlaceTwo, OneToOne, TwoToOne};
    // Baselines.
    add("copy (copy_from_slice)".into(), OneToOne, 2.0 * e, Box::new(|b| b.out.copy_from_slice(black_box(&b.x))));
    #[cfg(target_arch = "x86_64")]
    if Isa::V3.is_available() {
        add(
            "copy (AVX2 loop)".into(),
            OneToOne,
            2.0 * e,
            Box::new(move |b| {
                // SAFETY: AVX2 was just detected; both arrays have n elements.
                unsafe { vector_copy(b.x.as_ptr().cast(), b.out.as_mut_ptr().cast(), size_of::<T>() * n) };
            }),
        );
        // The streaming copies and the copies of two arrays into one, plain or streaming.
        for (name, streams, bytes, walk) in [
            ("copy (non-temporal)", OneToOne, 2.0, NT),
            ("copy (non-temporal, 4 pages side by side)", OneToOne, 2.0, Walk { spans: true, ..NT }),
            ("copy 2 in, 1 out (AVX2 loop)", TwoToOne, 3.0, Walk { merge: true, ..PLAIN }),
            ("copy 2 in, 1 out (non-temporal)", TwoToOne, 3.0, Walk { merge: true, ..NT }),
            (
                "copy 2 in, 1 out (non-temporal, 4 pages side by side)",
                TwoToOne,
                3.0,
                Walk { merge: true, spans: true, ..NT },
            ),
        ] {
            add(
                name.into(),
                streams,
                bytes * e,
                Box::new(move |b| {
                    let (a, g, out) = (b.x.as_ptr().cast(), b.dy.as_ptr().cast(), b.out.as_mut_ptr().cast());
                    // SAFETY: AVX2 was just detected; x, dy and out have n elements each.
                    unsafe { copy_ceiling(a, g, out, size_of::<T>() * n, walk) };
                }),
            );
        }
        // The in-place ceilings: the refresh, then the array loaded and stored back (or
        // `dy = x | dy` for the backward written over dy).
        for (name, streams, bytes, walk) in [
            ("copy: refresh, then rewrite in place (AVX2)", InPlace, 4.0, PLAIN),
            ("copy: refresh, then 2 in, 1 over (AVX2)", InPlaceTwo, 5.0, Walk { merge: true, ..PLAIN }),
            (
                "copy: refresh, then rewrite in place (AVX2, 4 pages side by side)",
                InPlace,
                4.0,
                Walk { spans: true, ..PLAIN },
            ),
            (
                "copy: refresh, then 2 in, 1 over (AVX2, 4 pages side by side)",
                InPlaceTwo,
                5.0,
                Walk { merge: true, spans: true, ..PLAIN },
            ),
        ] {
            add(
                name.into(),
                streams,
                bytes * e,
                Box::new(move |b| {
                    refresh(&mut b.work, if walk.merge { &b.dy } else { &b.x });
                    let w = b.work.as_mut_ptr().cast::<u8>();
                    let a = if walk.merge { b.x.as_ptr().cast() } else { w.cast_const() };
                    // SAFETY: AVX2 was just detected; x and work have n elements each; the
                    // output is work itself, element for element.
                    unsafe { copy_ceiling(a, w, w, size_of::<T>() * n, walk) };
                }),
            );
        }
    }
    add(
        "naive loop in place (if x > 0 {x} else {0})".into(),
        InPlace,
        4.0 * e,
        Box::new(|b| {
            refresh(&mut b.work, &b.x);
            for v in black_box(&mut b.work).iter_mut() {
                *v = v.naive_relu();
            }
        }),
    );
    if T::HAS_MAX {
        add(
            "naive loop in place (f32::max / f64::max)".into(),
            InPlace,
            4.0 * e,
            Box::new(move |b| {
                refresh(&mut b.work, &b.x);
                for v in black_box(&mut b.work).iter_mut() {
                    *v = v.max0();
                }
            }),
        );
        #[cfg(feature = "ndarray")]
        add(
            "ndarray mapv_inplace(max)".into(),
            InPlace,
            4.0 * e,
            Box::new(move |b| {
                refresh(&mut b.work, &b.x);
                ndarray::ArrayViewMut1::from(black_box(&mut b.work[..])).mapv_inplace(T::max0)
            }),
        );
    }

    let leaky = Ramp::leaky(0.01).unwrap();
    let relu6 = Ramp::relu6();
    let general = Ramp::new(0.1, 0.5, 4.0).unwrap();
    let m = n as f64 / 8.0;
    let mut runs: Vec<(Isa, Par)> = levels.iter().map(|&isa| (isa, Par::Seq)).collect();
    if threads > 1 && n >= 1 << 20 {
        // The best level again on all cores, for the rows where threads matter.
        runs.push((*levels.last().expect("scalar is always there"), Par::Threads(threads)));
    }
    for (isa, par) in runs {
        let l = match par {
            Par::Seq => isa.name().to_string(),
            _ => format!("{}, {threads} threads", isa.name()),
        };
        let threaded = par != Par::Seq;
        let mut row = |name: &str, streams: Streams, bytes: f64, f: fn(&mut Bufs<T>, &Ramps)| {
            let ramps = Ramps { leaky, relu6, general };
            add(
                format!("{name} [{l}]"),
                streams,
                bytes,
                Box::new(move |b| {
                    rectify::with_isa(isa, || rectify::with_par(par, || f(b, &ramps))).unwrap();
                }),
            );
        };
        row("relu out of place", OneToOne, 2.0 * e, |b, _| rectify::relu(black_box(&b.x), &mut b.out));
        row("relu in place", InPlace, 4.0 * e, |b, _| {
            refresh(&mut b.work, &b.x);
            rectify::relu_inplace(black_box(&mut b.work))
        });
        row("relu backward (x, dy -> dx)", TwoToOne, 3.0 * e, |b, _| rectify::relu_backward(&b.x, &b.dy, &mut b.out));
        row("relu backward (dx over dy)", InPlaceTwo, 5.0 * e, |b, _| {
            refresh(&mut b.work, &b.dy);
            rectify::relu_backward_inplace(&b.x, &mut b.work)
        });
        row("leaky 0.01 out of place", OneToOne, 2.0 * e, |b, r| r.leaky.forward(&b.x, &mut b.out));
        // One row of 64 channel planes: two threads split it by channels.
        row("prelu backward (dx, dweight), 64 channels first", TwoToOne, 3.0 * e, |b, _| {
            let w = [T::from_f32(0.25); 64];
            let mut dw = [T::from_f32(0.0); 64];
            let layout = rectify::ChannelLayout::First { inner: b.x.len() / 64 };
            rectify::prelu_backward(&b.x, &w, layout, &b.dy, &mut b.out, &mut dw, rectify::Kink::Lower);
            black_box(dw);
        });
        if threaded {
            continue;
        }
        row("relu backward from mask", OneToOne, 2.0 * e + m, |b, _| {
            rectify::relu_backward_from_mask(&b.mask, &b.dy, &mut b.out)
        });
        row("relu forward with mask", OneToOne, 2.0 * e + m, |b, _| {
            rectify::relu_with_mask(&b.x, &mut b.out, &mut b.mask)
        });
        row("leaky 0.01 in place", InPlace, 4.0 * e, |b, r| {
            refresh(&mut b.work, &b.x);
            r.leaky.forward_inplace(black_box(&mut b.work))
        });
        row("leaky 0.01 backward from output", TwoToOne, 3.0 * e, |b, r| {
            r.leaky.backward_from_output(&b.x, &b.dy, &mut b.out).unwrap()
        });
        row("relu6 out of place", OneToOne, 2.0 * e, |b, r| r.relu6.forward(&b.x, &mut b.out));
        row("relu6 backward", TwoToOne, 3.0 * e, |b, r| r.relu6.backward(&b.x, &b.dy, &mut b.out, Kink::Lower));
        row("ramp(0.1, 0.5, 4) backward Mid", TwoToOne, 3.0 * e, |b, r| {
            r.general.backward(&b.x, &b.dy, &mut b.out, Kink::Mid)
        });
        row("threshold(0.5, -1)", OneToOne, 2.0 * e, |b, _| rectify::threshold(&b.x, 0.5, -1.0, &mut b.out).unwrap());
        row("prelu, 64 channels first", OneToOne, 2.0 * e, |b, _| {
            let w = [T::from_f32(0.25); 64];
            let layout = rectify::ChannelLayout::First { inner: b.x.len() / 64 };
            rectify::prelu(&b.x, &w, layout, &mut b.out)
        });
    }
}

#[derive(Clone, Copy)]
struct Ramps {
    leaky: Ramp,
    relu6: Ramp,
    general: Ramp,
}

/// A plain AVX2 copy loop, 4 vectors an iteration: glibc's `memcpy` (behind
/// `copy_from_slice`) uses `rep movsb` at some sizes, which is slow for some alignments on
/// AMD parts, so the best of the two copies is the fair ceiling.
///
/// # Safety
/// AVX2 must be available; `src` and `dst` valid for `bytes` bytes and not overlapping.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vector_copy(src: *const u8, dst: *mut u8, bytes: usize) {
    use std::arch::x86_64::*;
    let mut i = 0;
    while i + 128 <= bytes {
        // SAFETY: i + 128 <= bytes.
        unsafe {
            let a = _mm256_loadu_si256(src.add(i).cast());
            let b = _mm256_loadu_si256(src.add(i + 32).cast());
            let c = _mm256_loadu_si256(src.add(i + 64).cast());
            let d = _mm256_loadu_si256(src.add(i + 96).cast());
            _mm256_storeu_si256(dst.add(i).cast(), a);
            _mm256_storeu_si256(dst.add(i + 32).cast(), b);
            _mm256_storeu_si256(dst.add(i + 64).cast(), c);
            _mm256_storeu_si256(dst.add(i + 96).cast(), d);
        }
        i += 128;
    }
    while i < bytes {
        // SAFETY: i < bytes.
        unsafe { *dst.add(i) = *src.add(i) };
        i += 1;
    }
}

/// How a copy ceiling reads, walks and writes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Walk {
    /// Two arrays read (`out = a | b`, the ceiling of a backward) instead of one.
    merge: bool,
    /// Streaming (non-temporal) stores instead of plain ones.
    nt: bool,
    /// In the order rectify's streaming and large in-place drivers walk their output: four
    /// 4 KiB spans side by side, 256 bytes of each in turn (as glibc's `memcpy` copies four
    /// pages at once); else front to back.
    spans: bool,
}

/// Front to back, one array, plain stores; and with streaming stores.
#[cfg(target_arch = "x86_64")]
const PLAIN: Walk = Walk { merge: false, nt: false, spans: false };
#[cfg(target_arch = "x86_64")]
const NT: Walk = Walk { nt: true, ..PLAIN };

/// The copy ceilings other than `copy_from_slice` and [`vector_copy`]: 32 bytes at a time
/// from the output's first cache line, in 256-byte steps walked as `walk` says, each
/// vector through an empty `asm!` so that the compiler cannot drop the store of an
/// unchanged value (the in-place rewrite, where `out` is `a`).
///
/// # Safety
/// AVX2 must be available; `a` (and with `walk.merge` `b`) readable and `out` writable for
/// `bytes` bytes; `out` overlaps neither, or is `a` or `b` itself (each 32 bytes are read
/// before they are written).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_ceiling(a: *const u8, b: *const u8, out: *mut u8, bytes: usize, walk: Walk) {
    use std::arch::x86_64::*;
    const STEP: usize = 256;
    const SPAN: usize = 4096;
    let byte = |i: usize| {
        // SAFETY: i < bytes (callers).
        unsafe { *out.add(i) = if walk.merge { *a.add(i) | *b.add(i) } else { *a.add(i) } };
    };
    let mut i = 0;
    while i < bytes && !(out as usize + i).is_multiple_of(64) {
        byte(i);
        i += 1;
    }
    let step = |at: usize| {
        for k in (at..at + STEP).step_by(32) {
            // SAFETY: at + STEP <= bytes (callers); out + k is 32-byte aligned; the asm
            // block names one register and touches nothing else.
            unsafe {
                let v = _mm256_loadu_si256(a.add(k).cast());
                let mut v = if walk.merge { _mm256_or_si256(v, _mm256_loadu_si256(b.add(k).cast())) } else { v };
                std::arch::asm!("/* {0} */", inout(ymm_reg) v, options(pure, nomem, nostack, preserves_flags));
                if walk.nt {
                    _mm256_stream_si256(out.add(k).cast(), v);
                } else {
                    _mm256_storeu_si256(out.add(k).cast(), v);
                }
            }
        }
    };
    if walk.spans {
        while i + 4 * SPAN <= bytes {
            for j in (0..SPAN).step_by(STEP) {
                for p in 0..4 {
                    step(i + p * SPAN + j);
                }
            }
            i += 4 * SPAN;
        }
    }
    while i + STEP <= bytes {
        step(i);
        i += STEP;
    }
    while i < bytes {
        byte(i);
        i += 1;
    }
    _mm_sfence();
}

/// Untimed calls of a row before each of its samples, for a row whose one call took
/// `once` seconds: the caches in the state that the row's own calls leave them, whatever
/// row ran before. Without them, rows of 4M f32 ran
/// at 0.5-0.75x of the same row measured alone (`relu` out of place 14 GB/s after an
/// in-place row, 29 alone) and which rows suffered depended on their neighbours; it took
/// about four calls of the row to settle (at 16M f32, one untimed call before each sample
/// still left the in-place rows at 0.80x in a full run). A call over 50 ms streams about a gigabyte,
/// several times any cache, and gets none.
fn warm_up_calls(once: f64) -> usize {
    if once > 50e-3 { 0 } else { 4 }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let quick = flag("--quick");
    let sizes: Vec<usize> = value("--sizes")
        .map(|s| s.split(',').map(parse_size).collect())
        .unwrap_or_else(|| if quick { vec![1 << 10] } else { vec![1 << 12, 1 << 16, 1 << 20, 1 << 24] });
    let rounds: usize = value("--rounds").map_or(if quick { 1 } else { 7 }, |r| r.parse().unwrap());
    let filter = value("--filter").unwrap_or_default();
    let dtypes = value("--dtypes").unwrap_or_else(|| "f32,f64,f16,bf16".into());
    let levels = Isa::available();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: usize = value("--threads").map_or(cores, |t| t.parse().unwrap());

    let markdown = flag("--markdown");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let level_names: Vec<&str> = levels.iter().map(|l| l.name()).collect();
    if markdown {
        println!(
            "Machine: {cpu}, {cores} cores; levels available: {level_names:?}; rows run on one thread unless they say `{threads} threads` (from 1M elements)."
        );
        println!(
            "GB/s = (bytes read + written) / time, median of {rounds} interleaved rounds, each sample after four untimed calls of the same row (none where a call takes over 50 ms); `x copy` = ratio to the best copy of the same streams in the same run: one array in and one out (`copy_from_slice`, an AVX2 loop, or AVX2 streaming stores, in order or four pages side by side) for forward and mask rows; two in and one out (`out = a | b`, AVX2, plain or streaming stores, the latter in order or four pages side by side) for the backward rows that read x and dy and write dx; for in-place rows, the same refresh followed by an AVX2 loop that loads and stores back the same array (or `dy = x | dy` for the backward written over dy), in order or four pages side by side."
        );
        println!();
        println!("| size | row | GB/s | x copy | ns/call |");
        println!("|---|---|---:|---:|---:|");
    } else {
        println!(
            "# rectify throughput on {cpu} ({cores} cores), GB/s = (bytes read + written) / time, median of {rounds} interleaved rounds"
        );
        println!("# levels available: {level_names:?}; one thread unless the row says otherwise");
        println!("{:<10} {:<52} {:>10} {:>8} {:>10}", "group", "row", "GB/s", "x copy", "ns/call");
    }
    for &n in &sizes {
        for dtype in dtypes.split(',') {
            let mut rows = Vec::new();
            match dtype {
                "f32" => rows_for::<f32>(n, &levels, threads, &mut rows, &filter),
                "f64" => rows_for::<f64>(n, &levels, threads, &mut rows, &filter),
                "f16" => rows_for::<f16>(n, &levels, threads, &mut rows, &filter),
                "bf16" => rows_for::<bf16>(n, &levels, threads, &mut rows, &filter),
                other => panic!("unknown dtype {other}"),
            }
            // Calibrate: timed calls per sample so that a sample takes about 2 ms, and the
            // untimed calls before each sample ([`warm_up_calls`]).
            let iters: Vec<(usize, usize)> = rows
                .iter_mut()
                .map(|r| {
                    let t = Instant::now();
                    (r.run)();
                    let once = t.elapsed().as_secs_f64().max(1e-8);
                    let timed = if quick { 1 } else { ((2e-3 / once) as usize).clamp(1, 1_000_000) };
                    (timed, if quick { 0 } else { warm_up_calls(once) })
                })
                .collect();
            for _ in 0..rounds {
                for (r, &(k, warm)) in rows.iter_mut().zip(&iters) {
                    for _ in 0..warm {
                        (r.run)();
                    }
                    let t = Instant::now();
                    for _ in 0..k {
                        (r.run)();
                    }
                    r.samples.push(t.elapsed().as_secs_f64() / k as f64);
                }
            }
            // The ceilings: the best of the copies of the same streams in this run.
            let ceiling = |streams: Streams| {
                rows.iter()
                    .filter(|r| r.name.starts_with("copy") && r.streams == streams)
                    .map(|r| r.bytes / median(&mut r.samples.clone()))
                    .reduce(f64::max)
            };
            let ceilings = [
                ceiling(Streams::OneToOne),
                ceiling(Streams::TwoToOne),
                ceiling(Streams::InPlace),
                ceiling(Streams::InPlaceTwo),
            ];
            for r in &mut rows {
                let t = median(&mut r.samples);
                let gbs = r.bytes / t / 1e9;
                let copy = ceilings[r.streams as usize].or(ceilings[0]);
                let ratio = copy.map_or(f64::NAN, |c| r.bytes / t / c);
                if markdown {
                    println!("| {} | {} | {gbs:.1} | {ratio:.2} | {:.0} |", r.group, r.name, t * 1e9);
                } else {
                    println!("{:<10} {:<52} {:>10.1} {:>8.2} {:>10.1}", r.group, r.name, gbs, ratio, t * 1e9);
                }
            }
        }
    }
    // Per-call overhead at 16 elements: the median of batches, so that one preemption of
    // this shared machine does not decide the figure (the best batch is printed too).
    let x = [1.0f32; 16];
    let mut y = [0.0f32; 16];
    let (batches, k) = if quick { (1, 10) } else { (15, 200_000) };
    let mut per_call: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..k {
                rectify::relu(black_box(&x), black_box(&mut y));
            }
            t.elapsed().as_secs_f64() / k as f64 * 1e9
        })
        .collect();
    let best = per_call.iter().copied().fold(f64::INFINITY, f64::min);
    let per_call = median(&mut per_call);
    if markdown {
        println!();
    }
    println!(
        "Per-call cost: `relu` on 16 f32 takes {per_call:.1} ns (median of {batches} batches of {k} calls; best batch {best:.1} ns)."
    );
    if flag("--split") && threads > 1 {
        split_table(threads, if quick { 1 } else { 9 }, markdown);
    }
}

/// One thread against `threads` forced to split (the split threshold lowered to one byte),
/// per array size: the measurement behind `rectify::par::MIN_BYTES_PER_THREAD`.
fn split_table(threads: usize, rounds: usize, markdown: bool) {
    let mibs = [2usize, 4, 8, 16];
    /// A row: its name and what makes its call for arrays of `n` elements.
    type MakeOp = Box<dyn Fn(usize) -> Box<dyn FnMut()>>;
    let ops: Vec<(&str, MakeOp)> = vec![
        (
            "f32 relu out of place",
            Box::new(|n| {
                let (x, mut y) = (data::<f32>(n, 1), vec![0.0f32; n]);
                Box::new(move || rectify::relu(black_box(&x), black_box(&mut y)))
            }),
        ),
        (
            "f32 relu backward (x, dy -> dx)",
            Box::new(|n| {
                let (x, dy, mut dx) = (data::<f32>(n, 1), data::<f32>(n, 2), vec![0.0f32; n]);
                Box::new(move || rectify::relu_backward(black_box(&x), black_box(&dy), black_box(&mut dx)))
            }),
        ),
        (
            "f32 relu in place (repeated: signs mixed only on the first call)",
            Box::new(|n| {
                let mut x = data::<f32>(n, 1);
                Box::new(move || rectify::relu_inplace(black_box(&mut x)))
            }),
        ),
        (
            "f32 relu backward from mask",
            Box::new(|n| {
                let (x, dy, mut dx) = (data::<f32>(n, 1), data::<f32>(n, 2), vec![0.0f32; n]);
                let mask = ReluMask::from_input(&x);
                Box::new(move || rectify::relu_backward_from_mask(black_box(&mask), black_box(&dy), black_box(&mut dx)))
            }),
        ),
        (
            "f16 leaky 0.01 out of place (computes more per byte)",
            Box::new(|n| {
                let (x, mut y) = (data::<f16>(2 * n, 1), vec![f16::ZERO; 2 * n]);
                let leaky = Ramp::leaky(0.01).unwrap();
                Box::new(move || leaky.forward(black_box(&x), black_box(&mut y)))
            }),
        ),
    ];
    if markdown {
        println!();
        println!("## Threads: where a split pays");
        println!();
        println!(
            "One thread against {threads} forced to split, per size of each array (f32 elements; f16 rows twice as many), median of {rounds} interleaved rounds; an out-of-place call splits by itself from `2 * MIN_BYTES_PER_THREAD` = {} MiB per array, an in-place call from eight times that on Intel and never on AMD (its row shows what a forced split would give).",
            2 * (rectify::par::MIN_BYTES_PER_THREAD >> 20)
        );
        println!();
        println!("| op | {} |", mibs.map(|m| format!("{m} MiB")).join(" | "));
        println!("|---|{}", "---:|".repeat(mibs.len()));
    } else {
        println!("# {threads} threads forced to split against one, per MiB of each array");
    }
    for (name, make) in &ops {
        let mut cells = Vec::new();
        for &mib in &mibs {
            let mut run = make((mib << 20) / 4);
            let (mut one, mut split) = (Vec::new(), Vec::new());
            let mut time = |par: Par, samples: &mut Vec<f64>| {
                rectify::with_par(par, || {
                    rectify::par::with_split_threshold(1, || {
                        let t = Instant::now();
                        for _ in 0..10 {
                            run();
                        }
                        samples.push(t.elapsed().as_secs_f64() / 10.0);
                    })
                })
            };
            time(Par::Seq, &mut Vec::new());
            for _ in 0..rounds {
                time(Par::Seq, &mut one);
                time(Par::Threads(threads), &mut split);
            }
            cells.push(format!("{:.2}x", median(&mut one) / median(&mut split)));
        }
        if markdown {
            println!("| {name} | {} |", cells.join(" | "));
        } else {
            println!("{name:<66} {}", cells.join("  "));
        }
    }
}
