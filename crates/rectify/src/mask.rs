//! The 1-bit ReLU mask, and the fused bias + ReLU that writes it.
//!
//! ReLU's backward only needs to know where `x > 0`. Keeping that as one bit per element
//! instead of the f32 output (or input) saves 31/32 of the memory held between forward and
//! backward: 32 MiB of activations become 1 MiB of mask (16x for f16/bf16, 64x for f64).

use core::mem::size_of;

use crate::arch;
use crate::dispatch;
use crate::element::{Element, Float};
use crate::error::check_len;
use crate::par::{self, split_mut};

/// Where `x > 0`, one bit per element (bit `i % 64` of word `i / 64`); NaN, zeros and
/// negatives are 0. Unused bits of the last word are always 0.
///
/// ```
/// use rectify::ReluMask;
/// let mask = ReluMask::from_input(&[1.0_f32, -1.0, 0.0, f32::NAN, 2.0]);
/// assert_eq!(mask.len(), 5);
/// assert_eq!((0..5).map(|i| mask.get(i)).collect::<Vec<_>>(), [true, false, false, false, true]);
/// assert_eq!(mask.count_ones(), 2);
/// assert_eq!(mask.size_in_bytes(), 8); // one u64 word
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReluMask {
    words: Vec<u64>,
    len: usize,
}

/// Bits per mask word.
const WORD: usize = 64;
/// Splits of mask calls fall on whole cache lines of the mask (8 words).
const MASK_GRAIN: usize = 8 * WORD;

impl ReluMask {
    /// An all-zero mask for `len` elements.
    pub fn new(len: usize) -> ReluMask {
        ReluMask { words: vec![0; len.div_ceil(WORD)], len }
    }

    /// The mask of `x > 0`, without writing an output.
    pub fn from_input<T: Element>(x: &[T]) -> ReluMask {
        let mut mask = ReluMask::new(x.len());
        let level = dispatch::level();
        if !par::worth_splitting(x.len(), size_of::<T>()) {
            arch::pack_positive(level, x, &mut mask.words);
            return mask;
        }
        let ranges = par::plan(x.len(), size_of::<T>(), MASK_GRAIN);
        let tasks: Vec<_> = split_mut(&mut mask.words, &word_ranges(&ranges)).into_iter().zip(&ranges).collect();
        par::run(tasks, |(w, r)| arch::pack_positive(level, &x[r.clone()], w));
        mask
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mask covers no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bit of element `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn get(&self, i: usize) -> bool {
        assert!(i < self.len, "index {i} out of range for a mask of {} elements", self.len);
        (self.words[i / WORD] >> (i % WORD)) & 1 == 1
    }

    /// The number of set bits (elements with `x > 0`).
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The packed words.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// A mask from packed words; bits beyond `len` are cleared.
    ///
    /// # Panics
    /// If `words.len() != len.div_ceil(64)`.
    #[track_caller]
    pub fn from_words(mut words: Vec<u64>, len: usize) -> ReluMask {
        check_len("words", words.len(), "len.div_ceil(64)", len.div_ceil(WORD));
        if !len.is_multiple_of(WORD) {
            let last = words.len() - 1;
            words[last] &= (1u64 << (len % WORD)) - 1;
        }
        ReluMask { words, len }
    }

    /// Bytes held by the bits (`8 * ceil(len / 64)`).
    pub fn size_in_bytes(&self) -> usize {
        self.words.len() * size_of::<u64>()
    }

    /// Sets the length to `len` elements for a kernel that writes every word: unlike
    /// [`ReluMask::resize`], the words kept are not zeroed first (a forward pass over a
    /// training loop's mask would otherwise write it twice).
    fn set_len_for_overwrite(&mut self, len: usize) {
        self.words.resize(len.div_ceil(WORD), 0);
        self.len = len;
    }

    /// Resizes to `len` elements, reusing the allocation (for a training loop).
    pub fn resize(&mut self, len: usize) {
        self.words.clear();
        self.words.resize(len.div_ceil(WORD), 0);
        self.len = len;
    }
}

fn word_ranges(ranges: &[core::ops::Range<usize>]) -> Vec<core::ops::Range<usize>> {
    ranges.iter().map(|r| r.start / WORD..r.end.div_ceil(WORD)).collect()
}

/// ReLU forward writing `y` and the mask of `x > 0` in one pass; the mask is resized to
/// `x.len()`.
///
/// # Panics
/// If `x` and `y` differ in length.
///
/// ```
/// use rectify::ReluMask;
/// let x = [-1.0_f32, 2.0, -3.0, 4.0];
/// let mut y = [0.0_f32; 4];
/// let mut mask = ReluMask::default();
/// rectify::relu_with_mask(&x, &mut y, &mut mask);
/// let mut dx = [0.0_f32; 4];
/// rectify::relu_backward_from_mask(&mask, &[1.0; 4], &mut dx);
/// assert_eq!(dx, [0.0, 1.0, 0.0, 1.0]);
/// ```
#[track_caller]
pub fn relu_with_mask<T: Element>(x: &[T], y: &mut [T], mask: &mut ReluMask) {
    check_len("x", x.len(), "y", y.len());
    mask.set_len_for_overwrite(x.len());
    let level = dispatch::level();
    let driver = if crate::run::streams::<T>(y.len(), 1) { arch::relu_with_mask_stream } else { arch::relu_with_mask };
    if !par::worth_splitting(x.len(), size_of::<T>()) {
        return driver(level, x, y, &mut mask.words);
    }
    let ranges = par::plan(x.len(), size_of::<T>(), MASK_GRAIN);
    let words = split_mut(&mut mask.words, &word_ranges(&ranges));
    let tasks: Vec<_> = split_mut(y, &ranges).into_iter().zip(words).zip(&ranges).collect();
    par::run(tasks, |((y, w), r)| driver(level, &x[r.clone()], y, w));
}

/// [`relu_with_mask`] in place: `x` becomes `relu(x)` and the mask records `x > 0`.
///
/// ```
/// let mut x = [-1.0_f32, 2.0];
/// let mut mask = rectify::ReluMask::default();
/// rectify::relu_inplace_with_mask(&mut x, &mut mask);
/// assert_eq!(x, [0.0, 2.0]);
/// assert!(mask.get(1) && !mask.get(0));
/// ```
pub fn relu_inplace_with_mask<T: Element>(x: &mut [T], mask: &mut ReluMask) {
    mask.set_len_for_overwrite(x.len());
    let level = dispatch::level();
    let forward = |x: &mut [T], w: &mut [u64]| {
        arch::pack_positive(level, x, w);
        arch::map1_inplace(level, &crate::kernels::Relu, x);
    };
    if !par::worth_splitting_in_place(x.len(), size_of::<T>()) {
        return forward(x, &mut mask.words);
    }
    let ranges = par::plan(x.len(), size_of::<T>(), MASK_GRAIN);
    let words = split_mut(&mut mask.words, &word_ranges(&ranges));
    let tasks: Vec<_> = split_mut(x, &ranges).into_iter().zip(words).collect();
    par::run(tasks, |(x, w)| forward(x, w));
}

/// ReLU backward from the mask: `dx = bit ? dy : +0.0`, bitwise equal to
/// [`crate::relu_backward`] from the input.
///
/// # Panics
/// If the mask, `dy` and `dx` differ in length.
///
/// ```
/// let x = [3.0_f32, -1.0, 0.0, f32::NAN];
/// let mask = rectify::ReluMask::from_input(&x); // 8 bytes instead of 16
/// let mut dx = [9.0_f32; 4];
/// rectify::relu_backward_from_mask(&mask, &[f32::INFINITY; 4], &mut dx);
/// assert_eq!(dx, [f32::INFINITY, 0.0, 0.0, 0.0]);
/// ```
#[track_caller]
pub fn relu_backward_from_mask<T: Element>(mask: &ReluMask, dy: &[T], dx: &mut [T]) {
    check_len("mask", mask.len(), "dy", dy.len());
    check_len("dy", dy.len(), "dx", dx.len());
    let level = dispatch::level();
    let driver = if crate::run::streams::<T>(dx.len(), 1) { arch::select_by_mask_stream } else { arch::select_by_mask };
    if !par::worth_splitting(dy.len(), size_of::<T>()) {
        return driver(level, &mask.words, dy, dx);
    }
    let ranges = par::plan(dy.len(), size_of::<T>(), MASK_GRAIN);
    let tasks: Vec<_> = split_mut(dx, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(dx, r)| driver(level, &mask.words[r.start / WORD..r.end.div_ceil(WORD)], &dy[r.clone()], dx));
}

/// [`relu_backward_from_mask`] writing `dx` over `dy`.
///
/// # Panics
/// If the mask and `dy` differ in length.
///
/// ```
/// let mask = rectify::ReluMask::from_input(&[1.0_f32, -1.0]);
/// let mut g = [5.0_f32, 5.0];
/// rectify::relu_backward_from_mask_inplace(&mask, &mut g);
/// assert_eq!(g, [5.0, 0.0]);
/// ```
#[track_caller]
pub fn relu_backward_from_mask_inplace<T: Element>(mask: &ReluMask, dy: &mut [T]) {
    check_len("mask", mask.len(), "dy", dy.len());
    let level = dispatch::level();
    if !par::worth_splitting_in_place(dy.len(), size_of::<T>()) {
        return arch::select_by_mask_inplace(level, &mask.words, dy);
    }
    let ranges = par::plan(dy.len(), size_of::<T>(), MASK_GRAIN);
    let tasks: Vec<_> = split_mut(dy, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(dy, r)| {
        arch::select_by_mask_inplace(level, &mask.words[r.start / WORD..r.end.div_ceil(WORD)], dy)
    });
}

/// The fused layer activation of an MLP: over a row-major matrix `a` with `bias.len()`
/// columns, `a[r, c] = relu(a[r, c] + bias[c])` in place (the sum rounded to the dtype; a
/// NaN in `a`, else a NaN in `bias`, comes out with its bits unchanged),
/// optionally recording the mask of `a + bias > 0` for the backward.
///
/// # Panics
/// If `bias` is empty while `a` is not, or `a.len()` is not a multiple of `bias.len()`.
///
/// ```
/// let mut a = [1.0_f32, -1.0, /* row 2 */ -3.0, 0.5];
/// let mut mask = rectify::ReluMask::default();
/// rectify::bias_relu(&mut a, &[0.5, 2.0], Some(&mut mask));
/// assert_eq!(a, [1.5, 1.0, 0.0, 2.5]);
/// assert_eq!(mask.count_ones(), 3);
/// ```
#[track_caller]
pub fn bias_relu<T: Float>(a: &mut [T], bias: &[T], mask: Option<&mut ReluMask>) {
    crate::family::check_rows(a.len(), bias.len());
    if a.is_empty() {
        if let Some(mask) = mask {
            mask.resize(0);
        }
        return;
    }
    let level = dispatch::level();
    let cols = bias.len();
    // Split on whole rows and whole cache lines of the mask at once.
    let grain = lcm(cols, MASK_GRAIN);
    let with_mask = |a: &mut [T], w: &mut [u64]| {
        arch::bias_relu_rows(level, a, bias);
        // relu(s) > 0 exactly where s > 0, so the mask can be packed from the output.
        arch::pack_positive(level, a, w);
    };
    match mask {
        None => crate::run::over_in_place_whole(grain, a, |_, a| arch::bias_relu_rows(level, a, bias)),
        Some(mask) => {
            mask.set_len_for_overwrite(a.len());
            if !par::worth_splitting_in_place(a.len(), size_of::<T>()) {
                return with_mask(a, &mut mask.words);
            }
            let ranges = par::plan(a.len(), size_of::<T>(), grain);
            let words = split_mut(&mut mask.words, &word_ranges(&ranges));
            let tasks: Vec<_> = split_mut(a, &ranges).into_iter().zip(words).collect();
            par::run(tasks, |(a, w)| with_mask(a, w));
        }
    }
}

fn lcm(a: usize, b: usize) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    a / gcd(a, b) * b
}
