//! PReLU: a learned slope per channel.

use core::mem::{size_of, size_of_val};

use crate::arch;
use crate::dispatch;
use crate::element::{Compute, Float};
use crate::error::check_len;
use crate::kernels::{Fused, LeakyBackward, Sloped, SlopedBackward, SlopedBy, SlopedUnit, Swapped};
use crate::op::Kink;
use crate::par::{self, split_mut};
use crate::run;

/// Where the channel axis of a PReLU input lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelLayout {
    /// `[outer, C, inner]` flattened (PyTorch NCHW, channel = dim 1): element `i` is in
    /// channel `(i / inner) % C`. `inner` is the product of the dimensions after the channel
    /// (H * W for NCHW; 1 for `[N, C]`).
    First {
        /// Elements per channel per outer index.
        inner: usize,
    },
    /// `[.., C]` flattened (NHWC; ONNX broadcast of a `[C]` slope): channel `i % C`.
    Last,
}

/// Elements per block of the slope-gradient sum (rounded to whole rows): each block's
/// sums are taken on their own and the blocks' sums added in order, whatever the threads
/// ([`prelu_backward`] has the whole order).
pub const PRELU_SUM_BLOCK: usize = 1 << 14;

/// Interleaved partial sums of one channel plane in the slope-gradient sum
/// ([`prelu_backward`]): element `i` of a plane goes to lane `i % PRELU_SUM_LANES`.
pub const PRELU_SUM_LANES: usize = 16;

/// The geometry of one PReLU call: rows of `row` elements, each `channels` runs of `run`.
/// The smallest channel plane that [`prelu`] writes with streaming stores.
const STREAM_MIN_RUN: usize = 4096;

#[derive(Clone, Copy)]
struct Shape {
    channels: usize,
    run: usize,
    row: usize,
}

#[track_caller]
fn shape(len: usize, channels: usize, layout: ChannelLayout) -> Shape {
    assert!(channels > 0, "length mismatch: PReLU needs at least one channel slope, got 0");
    let run = match layout {
        ChannelLayout::First { inner } => {
            assert!(inner > 0, "length mismatch: ChannelLayout::First needs inner >= 1, got 0");
            inner
        }
        ChannelLayout::Last => 1,
    };
    let row = channels * run;
    assert!(
        len.is_multiple_of(row),
        "length mismatch: x has {len} elements, not a multiple of {channels} channels x {run} inner elements"
    );
    Shape { channels, run, row }
}

impl Shape {
    fn rows_per_block(&self) -> usize {
        (PRELU_SUM_BLOCK / self.row).max(1)
    }
}

/// PReLU forward: `y = x > 0 ? x : weight[c] * x` (NaN kept; `+0.0` where the slope is 0),
/// `c` the channel of the element under `layout`.
///
/// # Panics
/// If `x` and `y` differ in length, `weight` is empty, or `x.len()` is not a whole number of
/// rows of `weight.len()` channels (times `inner` for [`ChannelLayout::First`]).
///
/// ```
/// use rectify::ChannelLayout;
/// // [N=1, C=2, H*W=2]
/// let x = [-1.0_f32, 1.0, -1.0, 1.0];
/// let mut y = [0.0_f32; 4];
/// rectify::prelu(&x, &[0.1, 0.2], ChannelLayout::First { inner: 2 }, &mut y);
/// assert_eq!(y, [-0.1, 1.0, -0.2, 1.0]);
/// ```
#[track_caller]
pub fn prelu<T: Float>(x: &[T], weight: &[T], layout: ChannelLayout, y: &mut [T]) {
    check_len("x", x.len(), "y", y.len());
    let s = shape(x.len(), weight.len(), layout);
    let level = dispatch::level();
    // Large outputs in planes of at least STREAM_MIN_RUN elements go out with streaming
    // stores; smaller planes would mix plain and streaming stores in the lines at their
    // ends.
    let stream = s.run >= STREAM_MIN_RUN && run::streams::<T>(y.len(), 1);
    let forward = |x: &[T], y: &mut [T]| {
        if s.run == 1 {
            for (x, y) in x.chunks_exact(s.row).zip(y.chunks_exact_mut(s.row)) {
                arch::product_select(level, &SlopedBy, x, weight, y);
            }
        } else if stream {
            for ((x, y), w) in x.chunks_exact(s.run).zip(y.chunks_exact_mut(s.run)).zip(weight.iter().cycle()) {
                let a = w.widen();
                if size_of::<T>() != 2 {
                    arch::map1_stream(level, &Fused(&Sloped(a)), x, y);
                } else if SlopedUnit::fits(a) {
                    arch::product_select_stream(level, &SlopedUnit(a), x, x, y);
                } else {
                    arch::product_select_stream(level, &Sloped(a), x, x, y);
                }
            }
        } else {
            arch::prelu_planes(planes_level::<T>(level), x, weight, s.run, y);
        }
    };
    run::over_whole(s.row, y, |r, y| forward(&x[r], y));
}

/// The level whose code runs [`prelu`]'s planes: x86-64-v3's where v4 was chosen, for f32
/// and f64. Measured on the AVX-512 Xeon (throughput bench, 64 channels first, one thread,
/// two runs): planes of 1024 f32 (64K) ran 0.71-0.73x of the copy with v4's own code
/// against 0.92-0.97x with v3's (about 20 ns more per plane on v4; cause not found), f64
/// 0.77x against 0.92-0.93x; 256K 0.80-0.83x against 0.87-0.92x; level at 4K and 1M.
/// The 16-bit planes keep v4, whose conversions and selects are its own.
fn planes_level<T>(level: arch::Level) -> arch::Level {
    if size_of::<T>() != 2 { level.v3_for_v4() } else { level }
}

/// [`prelu`] in place.
///
/// # Panics
/// As [`prelu`].
#[track_caller]
pub fn prelu_inplace<T: Float>(x: &mut [T], weight: &[T], layout: ChannelLayout) {
    let s = shape(x.len(), weight.len(), layout);
    let level = dispatch::level();
    let forward = |x: &mut [T]| {
        if s.run == 1 {
            for x in x.chunks_exact_mut(s.row) {
                arch::product_select_inplace(level, &Swapped(&SlopedBy), Some(weight), x);
            }
        } else {
            arch::prelu_planes_inplace(level, weight, s.run, x);
        }
    };
    run::over_in_place_whole(s.row, x, |_, x| forward(x));
}

/// PReLU backward: `dx` as the ramp backward with the channel's slope (`kink` at 0), and the
/// slope gradient `dweight[c]`, the sum over the channel's elements with `x < 0` of
/// `x * dy` (elements at the kink contribute 0: both one-sided derivatives with respect to
/// the slope are 0 there). Products and sums are taken in f64 and rounded once to the
/// dtype, in a fixed order, the same for every thread count and instruction set:
///
/// 1. A *plane* is one channel's run within one row: the `inner` elements of
///    [`ChannelLayout::First`], a single element for [`ChannelLayout::Last`]. Its terms
///    go into [`PRELU_SUM_LANES`] partial sums, element `i` of the plane into lane
///    `i % 16`, each lane in index order from `+0.0`; then lane `j` adds lane `j + h` for
///    `h` = 8, 4, 2, 1, and lane 0 is the plane's sum. (Sixteen independent sums keep a
///    vector unit busy where one sum in index order waits for each addition.)
/// 2. Within a block (as many whole rows as fit in [`PRELU_SUM_BLOCK`] elements, at least
///    one), each channel adds its planes' sums row after row, from `+0.0`.
/// 3. The blocks' sums are added in order.
///
/// A sum that is NaN (a NaN `dy` below zero, `-inf * 0`, `inf - inf`) is the positive
/// quiet NaN with no payload: which NaN an addition of two NaNs returns is not specified
/// (the compiler may swap the operands), so no payload is passed on.
///
/// # Panics
/// As [`prelu`], and if `dy`, `dx` or `dweight` do not match `x` and `weight`.
///
/// ```
/// use rectify::{ChannelLayout, Kink};
/// let x = [-2.0_f32, 3.0, -4.0, 5.0]; // [N=2, C=2]
/// let dy = [1.0_f32; 4];
/// let (mut dx, mut dw) = ([0.0_f32; 4], [0.0_f32; 2]);
/// rectify::prelu_backward(&x, &[0.5, 0.25], ChannelLayout::Last, &dy, &mut dx, &mut dw, Kink::Lower);
/// assert_eq!(dx, [0.5, 1.0, 0.5, 1.0]);
/// assert_eq!(dw, [-6.0, 0.0]);
/// ```
#[allow(clippy::too_many_arguments)]
#[track_caller]
pub fn prelu_backward<T: Float>(
    x: &[T],
    weight: &[T],
    layout: ChannelLayout,
    dy: &[T],
    dx: &mut [T],
    dweight: &mut [T],
    kink: Kink,
) {
    check_len("x", x.len(), "dy", dy.len());
    check_len("dy", dy.len(), "dx", dx.len());
    check_len("weight", weight.len(), "dweight", dweight.len());
    let s = shape(x.len(), weight.len(), layout);
    let level = dispatch::level();
    let block = s.rows_per_block() * s.row;
    // One row (one block of the sum) splits between threads by channels: each channel's
    // sum is the same chain of additions on whichever thread. The splits fall on whole
    // planes that end on whole cache lines.
    let by_channels = x.len() == s.row && s.run > 1;
    let planes_grain = s.run / gcd(s.run, 64) * 64;
    // Large channel-first f32 and f64 `dx` goes out with streaming stores
    // (`run::streams`, as two inputs' output): measured on the project's AMD EPYC (Zen 4,
    // a scratch loop, 64 channels first, one thread, ns an element, four runs each), f32
    // 4M elements 0.35-0.44 -> 0.31-0.35, 16M 0.53-0.56 -> 0.38-0.58; f64 1M 0.54-0.60
    // -> 0.42-0.47, 4M 0.93-1.01 -> 0.83-0.95, 16M level. The 16-bit planes are bound
    // by their arithmetic there: streamed in pieces they ran 7-10% slower at 4M.
    let stream = s.run > 1 && size_of::<T>() >= 4 && run::streams::<T>(x.len(), 2);
    let planes = PlanesBackward {
        level,
        run: s.run,
        weight,
        kink,
        far: size_of_val(x) >= PREFETCH_MIN_BYTES && arch::prefetches_ahead(),
        stream,
    };
    // A thread's walk adds each block's sums (by channels: its channels' sums) to `sums`.
    let walk = |x: &[T], dy: &[T], dx: &mut [T], first_channel: usize, sums: &mut Vec<f64>| {
        if by_channels {
            let planes = PlanesBackward { weight: &weight[first_channel..], ..planes };
            let start = sums.len();
            sums.resize(start + x.len() / s.run, 0.0);
            arch::prelu_backward_rows(level, x, dy, dx, &planes, &mut sums[start..]);
            return;
        }
        for ((x, dy), dx) in x.chunks(block).zip(dy.chunks(block)).zip(dx.chunks_mut(block)) {
            let start = sums.len();
            sums.resize(start + s.channels, 0.0);
            arch::prelu_backward_rows(level, x, dy, dx, &planes, &mut sums[start..]);
        }
    };
    // Every block's sums, in order (by channels: the one block's, channel after channel).
    let sums = if !par::worth_splitting(x.len(), size_of::<T>()) {
        // Straight on this thread, without the plan, the tasks and the partials.
        let mut sums = Vec::new();
        walk(x, dy, dx, 0, &mut sums);
        sums
    } else {
        let ranges = par::plan(x.len(), size_of::<T>(), if by_channels { planes_grain } else { block });
        let mut partials: Vec<Vec<f64>> = vec![Vec::new(); ranges.len()];
        let tasks: Vec<_> = split_mut(dx, &ranges).into_iter().zip(partials.iter_mut()).zip(&ranges).collect();
        par::run(tasks, |((dx, partial), r)| walk(&x[r.clone()], &dy[r.clone()], dx, r.start / s.run, partial));
        partials.concat()
    };
    let mut total = vec![0.0_f64; s.channels];
    for block in sums.chunks_exact(s.channels) {
        for (t, b) in total.iter_mut().zip(block) {
            *t += b;
        }
    }
    for (dw, t) in dweight.iter_mut().zip(total) {
        *dw = T::from_f64(canonical_nan(t));
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `f64::NAN` for every NaN, other values unchanged.
fn canonical_nan(v: f64) -> f64 {
    if v.is_nan() { f64::NAN } else { v }
}

/// Arrays from this size on are prefetched by [`prelu_backward`]'s walk
/// ([`arch::generic::PreluDx::far`]): at 1M f32 elements (4 MiB) it measured neither
/// faster nor slower, at 4M faster.
const PREFETCH_MIN_BYTES: usize = 8 << 20;

/// The `dx` kernel of one channel-first plane: the ramp backward with the channel's slope,
/// by the one-compare kernel where it fits.
struct PlaneBackward<C> {
    sloped: SlopedBackward<C>,
    leaky: bool,
}

impl<C: Compute> PlaneBackward<C> {
    fn new(slope: C, kink: Kink) -> Self {
        let sloped = SlopedBackward::new(slope, kink);
        let leaky = LeakyBackward::fits_sloped(&sloped);
        PlaneBackward { sloped, leaky }
    }
}

/// PReLU backward's `dx`, piece by piece as the slope gradient walks the input: channel-first
/// `weight` from the first channel the walk takes (a thread that takes the channels from `c`
/// on gets them from `c` on). Each plane's kernel is resolved from its slope where the walk
/// asks for it: a table of them, one a channel, allocated on every call, took 7% of a
/// call of 4K f32 elements in 64 channels.
struct PlanesBackward<'w, T: Float> {
    level: arch::Level,
    run: usize,
    weight: &'w [T],
    kink: Kink,
    far: bool,
    stream: bool,
}

impl<T: Float> PlanesBackward<'_, T> {
    #[inline(always)]
    fn kernel(&self, channel: usize) -> PlaneBackward<T::C> {
        PlaneBackward::new(self.weight[channel].widen(), self.kink)
    }
}

impl<T: Float> arch::generic::PreluDx<T> for PlanesBackward<'_, T> {
    fn run(&self) -> usize {
        self.run
    }

    fn leaky_dx(&self, channel: usize) -> Option<LeakyBackward<T::C>> {
        let k = self.kernel(channel);
        k.leaky.then_some(LeakyBackward(k.sloped.a))
    }

    fn piece(&self, channel: usize, x: &[T], dy: &[T], dx: &mut [T]) {
        let k = self.kernel(channel);
        if k.leaky {
            arch::product_select(self.level, &LeakyBackward(k.sloped.a), x, dy, dx)
        } else {
            arch::product_select(self.level, &k.sloped, x, dy, dx)
        }
    }

    fn far(&self) -> bool {
        self.far
    }

    fn stream(&self) -> bool {
        self.stream
    }

    fn slopes(&self) -> (&[T], Kink) {
        (self.weight, self.kink)
    }
}

/// The slope gradient by the definition, for tests: the order [`prelu_backward`]
/// documents, element by element, one thread.
#[doc(hidden)]
pub fn reference_weight_grad<T: Float>(x: &[T], dy: &[T], channels: usize, layout: ChannelLayout) -> Vec<f64> {
    let s = shape(x.len(), channels, layout);
    let block = s.rows_per_block() * s.row;
    let mut total = vec![0.0_f64; channels];
    for (xb, dyb) in x.chunks(block).zip(dy.chunks(block)) {
        let mut part = vec![0.0_f64; channels];
        for (p, (x, dy)) in xb.chunks(s.run).zip(dyb.chunks(s.run)).enumerate() {
            let mut lanes = [0.0_f64; PRELU_SUM_LANES];
            for (i, (&x, &dy)) in x.iter().zip(dy).enumerate() {
                // Widened through the compute type, as the kernel does: a NaN keeps its
                // sign and payload (`to_f64` of a 16-bit NaN is the canonical NaN).
                if x.widen() < T::C::ZERO {
                    lanes[i % PRELU_SUM_LANES] += x.widen().to_f64() * dy.widen().to_f64();
                }
            }
            for h in [8, 4, 2, 1] {
                for j in 0..h {
                    lanes[j] += lanes[j + h];
                }
            }
            part[p % channels] += lanes[0];
        }
        for (t, p) in total.iter_mut().zip(part) {
            *t += p;
        }
    }
    total.into_iter().map(canonical_nan).collect()
}
