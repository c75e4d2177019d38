//! Out-of-place drivers with non-temporal stores, for outputs larger than the last-level
//! cache: each step of the output goes through a small cache-resident buffer and is then
//! streamed to memory, skipping the read-for-ownership of every destination line (measured
//! +35-45% from DRAM on the project's machines; 8x slower in L1, hence only for large
//! outputs), in the order that streams fastest on the machine: four 4 KiB spans side by side
//! on Intel, in order on AMD ([`for_each_stream_step!`]). The element kernels
//! are the same, so the bits are too.

#![cfg(target_arch = "x86_64")]

use core::arch::x86_64::{__m256i, _mm_sfence, _mm256_loadu_si256, _mm256_stream_si256};
use core::mem::size_of;

use super::generic;
use super::generic::unaligned_head;
use crate::kernels::{Map1, Map2};

/// Copies `bytes` (a multiple of 32) from `src` to the 32-byte aligned `dst` with
/// streaming stores.
///
/// # Safety
/// AVX must be available; `src` readable and `dst` writable for `bytes` bytes; `dst`
/// 32-byte aligned; the two do not overlap.
#[inline(always)]
pub(crate) unsafe fn stream_copy(src: *const u8, dst: *mut u8, bytes: usize) {
    let mut i = 0;
    while i < bytes {
        // SAFETY: i + 32 <= bytes, so both accesses are in bounds; dst + i is aligned.
        unsafe { _mm256_stream_si256(dst.add(i).cast::<__m256i>(), _mm256_loadu_si256(src.add(i).cast::<__m256i>())) };
        i += 32;
    }
}

/// Writes `dst` from front to back, block by block, with streaming stores at 32-byte
/// alignment whatever the alignment of `dst` or of the blocks: the elements before the
/// first aligned address and after the last go out with plain stores, and a block's last
/// partial 32 bytes wait in `carry` for the next block. For drivers whose blocks must start
/// at fixed element indices (the mask's 64-element words, for the integer types that have
/// no one-pass streaming mask driver), where [`map1`] and [`map2`] cannot peel an unaligned
/// head. Call [`Streamer::finish`] at the end.
pub(crate) struct Streamer<'a, T> {
    dst: &'a mut [T],
    /// Elements of `dst` written.
    pos: usize,
    /// Elements of `dst` before its first 32-byte aligned address.
    head: usize,
    carry: [T; 32],
    carry_len: usize,
}

impl<'a, T: Copy> Streamer<'a, T> {
    /// Elements per 32-byte store.
    const LANES: usize = 32 / size_of::<T>();

    #[inline(always)]
    pub(crate) fn new(dst: &'a mut [T], fill: T) -> Self {
        let head = unaligned_head(dst, STREAM_ALIGN);
        Streamer { dst, pos: 0, head, carry: [fill; 32], carry_len: 0 }
    }

    /// Appends `block` (the next `block.len()` elements of `dst`).
    ///
    /// # Safety
    /// AVX must be available; the blocks pushed must not add up to more than `dst`.
    #[inline(always)]
    pub(crate) unsafe fn push(&mut self, mut block: &[T]) {
        debug_assert!(self.pushed() + block.len() <= self.dst.len());
        if self.carry_len > 0 {
            let take = (Self::LANES - self.carry_len).min(block.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&block[..take]);
            self.carry_len += take;
            block = &block[take..];
            if self.carry_len < Self::LANES {
                return;
            }
            // SAFETY: AVX (caller); dst[pos..pos + LANES] is in bounds (the debug assert's
            // contract) and 32-byte aligned (pos is past the head, in whole stores).
            unsafe { stream_copy(self.carry.as_ptr().cast(), self.dst.as_mut_ptr().add(self.pos).cast(), 32) };
            self.pos += Self::LANES;
            self.carry_len = 0;
        } else if self.pos < self.head {
            let n = (self.head - self.pos).min(block.len());
            self.dst[self.pos..self.pos + n].copy_from_slice(&block[..n]);
            self.pos += n;
            block = &block[n..];
        }
        let whole = block.len() / Self::LANES * Self::LANES;
        if whole > 0 {
            // SAFETY: AVX (caller); dst[pos..pos + whole] is in bounds and starts 32-byte
            // aligned (the head is written and the carry empty); `block` is another array.
            unsafe {
                stream_copy(block.as_ptr().cast(), self.dst.as_mut_ptr().add(self.pos).cast(), whole * size_of::<T>())
            };
            self.pos += whole;
        }
        let rest = &block[whole..];
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carry_len = rest.len();
    }

    /// Elements of `dst` pushed so far (written, or waiting in `carry`).
    #[inline(always)]
    pub(crate) fn pushed(&self) -> usize {
        self.pos + self.carry_len
    }

    /// Writes what is left with plain stores and fences the streaming stores.
    #[inline(always)]
    pub(crate) fn finish(self) {
        self.dst[self.pos..self.pos + self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
        // Streaming stores are weakly ordered: fence before anyone reads the output.
        // SAFETY: SSE is part of every x86-64 baseline.
        unsafe { _mm_sfence() };
    }
}

// The drivers below are loops written out, not closures: a closure defined in a function
// without `#[target_feature]` is compiled without the level's features when LLVM does not
// inline it, and the element kernels inside it then run at the baseline's width (measured
// 2x slower for the general ramp backward).

/// Bytes computed per step of the fused drivers: eight 32-byte stores.
pub(crate) const STEP_BYTES: usize = 256;

/// The alignment of every streaming store, a cache line: the head before it takes plain
/// stores. Whole lines matter in the interleaved order ([`for_each_stream_step!`]): a line
/// left half-written until the next visit of its span is flushed in parts (measured on the
/// AVX-512 Xeon in a scratch loop, f32 ReLU at 64M elements, output 32 bytes off a line: 11
/// GB/s, against 23 from a line).
pub(crate) const STREAM_ALIGN: usize = 64;

/// How far ahead of a step of [`for_each_stream_step!`] its inputs are prefetched: one
/// group of spans, the same place in the pages read next (measured on the AVX-512 Xeon,
/// f16 leaky at 64M elements: 8 KiB no better than none, 16 KiB 1.16x, 32 and 64 KiB
/// between).
pub(crate) const PREFETCH_AHEAD_BYTES: usize = STREAM_SPANS * STREAM_SPAN_BYTES;

/// Prefetches the 256 bytes of one step at `p` into L1 (a hint: it never faults).
#[inline(always)]
pub(crate) fn prefetch_step(p: *const u8) {
    prefetch(p, STEP_BYTES);
}

/// Prefetches the lines of `bytes` bytes at `p` into L1 (a hint: it never faults).
#[inline(always)]
pub(crate) fn prefetch(p: *const u8, bytes: usize) {
    use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    for line in (0..bytes).step_by(64) {
        // SAFETY: SSE is part of every x86-64 baseline; a prefetch reads nothing and never
        // faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>().wrapping_add(line)) };
    }
}

/// The most output spans walked side by side by [`for_each_stream_step!`] (the number on
/// Intel CPUs), and their length in bytes (a page).
pub(crate) const STREAM_SPANS: usize = 4;
pub(crate) const STREAM_SPAN_BYTES: usize = 4096;

/// The spans walked side by side on AMD CPUs: one, in order. On the project's AMD EPYC (Zen
/// 4) `./scripts/bench`'s streaming copies (f32, one array in, one out) ran 37-40 GB/s in
/// order against 30-31 with four spans at 16M and 256M elements (two in, one out: 35-40
/// against 29-31), and its in-place copy 30-44 in order against 26-35 in span order at 4M,
/// 16M and 256M.
const STREAM_SPANS_AMD: usize = 1;

thread_local! {
    /// The spans [`for_each_stream_step!`] walks side by side in this thread: the machine's
    /// ([`STREAM_SPANS`] or [`STREAM_SPANS_AMD`]) unless a test set it
    /// (`rectify::with_stream_spans`).
    pub(crate) static SPANS: core::cell::Cell<usize> =
        core::cell::Cell::new(if crate::dispatch::amd() { STREAM_SPANS_AMD } else { STREAM_SPANS });
}

/// Whether the streaming drivers prefetch their inputs ahead in this thread: where they
/// walk spans side by side (Intel), not in order (AMD). On the project's AMD EPYC (Zen 4)
/// the hardware prefetchers keep ahead of an in-order walk by themselves, and the
/// prefetches held the two-input ops back (`./scripts/bench`, f32 at 16M and 256M
/// elements, two runs: the ReLU backward 27-28 GB/s with them, 32-38 without; the ramp
/// backward with the `Mid` kink 22-27, 29-42; the copy of two arrays into one 31-38).
#[inline(always)]
pub(crate) fn prefetches_ahead() -> bool {
    SPANS.with(core::cell::Cell::get) > 1
}

/// How many elements of `T` ahead the streaming drivers prefetch their inputs in this
/// thread: [`PREFETCH_AHEAD_BYTES`] where they prefetch ([`prefetches_ahead`]), `None`
/// where they do not.
#[inline(always)]
pub(crate) fn prefetch_ahead<T>() -> Option<usize> {
    prefetches_ahead().then_some(PREFETCH_AHEAD_BYTES / size_of::<T>())
}

/// Runs `$body` with `$i` the start of each step of `$step` elements (a divisor of a span)
/// over `$start..$n`, in the order that streams fastest to DRAM on this machine
/// ([`SPANS`]): that many spans of [`STREAM_SPAN_BYTES`] of the output side by side, a step
/// of each in turn (as glibc's `memcpy` copies four pages at once), then the steps left
/// over in order; evaluates to the end of the last whole step. Measured on the AVX-512
/// Xeon by `./scripts/bench`'s streaming copies (f32, one array in, one out): at 16M
/// elements 18.7 GB/s in order, 27.2 with four spans (glibc's `memcpy` 17.6); at 256M 20.8
/// and 22.6 (22.8). In a scratch loop, steps of 64 bytes to 1 KiB did alike, 2 KiB no
/// better than in order. (On the AMD EPYC the order is the other way round:
/// [`STREAM_SPANS_AMD`].) A macro for the reason of `generic::x86::for_each_step`.
macro_rules! for_each_stream_step {
    ($elem:ty, $start:expr, $n:expr, $step:expr, |$i:ident| $body:expr) => {{
        let (start, n, step): (usize, usize, usize) = ($start, $n, $step);
        let spans = $crate::arch::stream::SPANS.with(core::cell::Cell::get);
        let span = $crate::arch::stream::STREAM_SPAN_BYTES / core::mem::size_of::<$elem>();
        debug_assert!(step > 0 && span % step == 0);
        let group = spans * span;
        let mut base = start;
        while base + group <= n {
            let mut j = 0;
            while j < span {
                for p in 0..spans {
                    let $i = base + p * span + j;
                    $body
                }
                j += step;
            }
            base += group;
        }
        while base + step <= n {
            let $i = base;
            $body
            base += step;
        }
        base
    }};
}
pub(crate) use for_each_stream_step;

/// The walk of the streaming drivers over `$out`'s first `$n` elements of `$elem`: with
/// `$r` a range of the inputs and `$dst` where its results go, `$compute` writes the
/// elements before `$out`'s first cache line straight into it (plain stores), then each
/// step of [`STEP_BYTES`] into an L1 temporary (filled with `$fill` first) that is streamed
/// out at once, in the interleaved order of [`for_each_stream_step!`], after `$prefetch`
/// has prefetched the inputs at `$at` (one group of spans ahead; [`PREFETCH_AHEAD_BYTES`];
/// where [`prefetches_ahead`]),
/// and the elements after the last step straight into `$out`; then the fence. Where a
/// step's compute is more than a compare, the prefetch is what keeps DRAM busy: without
/// it the compute of one step holds up the loads of the next. AVX must be available.
macro_rules! stream_steps {
    ($elem:ty, $out:ident, $n:expr, $fill:expr, |$at:ident| $prefetch:expr, |$r:ident, $dst:ident| $compute:expr) => {{
        use $crate::arch::stream::{STEP_BYTES, STREAM_ALIGN, stream_copy};
        let n: usize = $n;
        let step = STEP_BYTES / core::mem::size_of::<$elem>();
        let head = $crate::arch::generic::unaligned_head($out, STREAM_ALIGN).min(n);
        {
            let ($r, $dst) = (0..head, &mut $out[..head]);
            $compute
        }
        // Sized for 1-byte elements, the most per step (wider ones use part).
        let mut tmp = $crate::arch::stream::Aligned([$fill; STEP_BYTES]);
        let tmp = &mut tmp.0;
        let ahead = $crate::arch::stream::prefetch_ahead::<$elem>();
        let tail = $crate::arch::stream::for_each_stream_step!($elem, head, n, step, |i| {
            if let Some(ahead) = ahead
                && i + ahead + step <= n
            {
                let $at = i + ahead;
                $prefetch
            }
            {
                let ($r, $dst) = (i..i + step, &mut tmp[..step]);
                $compute
            }
            // SAFETY: AVX (the caller's contract); $out[i..i + step] is in bounds and
            // line-aligned (past the head, in whole steps); tmp holds one step.
            unsafe { stream_copy(tmp.as_ptr().cast(), $out.as_mut_ptr().add(i).cast(), STEP_BYTES) };
        });
        {
            let ($r, $dst) = (tail..n, &mut $out[tail..n]);
            $compute
        }
        // Streaming stores are weakly ordered: fence before anyone reads the output.
        // SAFETY: SSE is part of every x86-64 baseline.
        unsafe { core::arch::x86_64::_mm_sfence() };
    }};
}
pub(crate) use stream_steps;

/// `y = k(x)` with streaming stores ([`stream_steps!`]: 256 bytes of results at a time
/// through an L1 temporary, the unaligned ends of `y` with plain stores).
///
/// # Safety
/// AVX must be available.
#[inline(always)]
pub(crate) unsafe fn map1<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
    let Some(&fill) = x.first() else { return };
    stream_steps!(T, y, y.len().min(x.len()), fill, |at| prefetch_step(x[at..].as_ptr().cast()), |r, dst| {
        generic::map1_loop(k, &x[r], dst)
    });
}

/// `out = k(a, b)` with streaming stores, as [`map1`].
///
/// # Safety
/// AVX must be available.
#[inline(always)]
pub(crate) unsafe fn map2<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    let Some(&fill) = a.first() else { return };
    let n = out.len().min(a.len()).min(b.len());
    stream_steps!(
        T,
        out,
        n,
        fill,
        |at| {
            prefetch_step(a[at..].as_ptr().cast());
            prefetch_step(b[at..].as_ptr().cast());
        },
        |r, dst| generic::map2_loop(k, &a[r.clone()], &b[r], dst)
    );
}

/// PReLU backward's `dx` streamed out ([`generic::prelu_planes_with`]): each piece is
/// written into a buffer in L1 and then pushed to a [`Streamer`], which skips the
/// read-for-ownership of `dx`'s lines.
pub(crate) struct DxStreamed<'a, T> {
    out: Streamer<'a, T>,
    buffer: Aligned<[T; generic::SUM_CHUNK_16]>,
    /// Elements in `buffer` now, the piece after those pushed to `out`.
    pending: usize,
}

impl<'a, T: Copy> DxStreamed<'a, T> {
    /// # Safety
    /// AVX must be available.
    #[inline(always)]
    pub(crate) unsafe fn new(dx: &'a mut [T], fill: T) -> Self {
        DxStreamed { out: Streamer::new(dx, fill), buffer: Aligned([fill; generic::SUM_CHUNK_16]), pending: 0 }
    }

    /// Fences the streaming stores (the pieces not marked written are not written).
    #[inline(always)]
    pub(crate) fn finish(self) {
        self.out.finish();
    }
}

impl<T: Copy> generic::DxPieces<T> for DxStreamed<'_, T> {
    const IN_PLACE: bool = false;
    #[inline(always)]
    fn piece(&mut self, range: core::ops::Range<usize>) -> &mut [T] {
        // Checked, not assumed: `written` streams the piece to the elements of `dx` after
        // those pushed.
        assert!(range.start == self.out.pushed() && range.end <= self.out.dst.len(), "pieces of dx out of order");
        self.pending = range.len();
        &mut self.buffer.0[..range.len()]
    }
    #[inline(always)]
    fn written(&mut self) {
        // SAFETY: AVX (`new`'s contract); the pieces pushed cover `dx` front to back and
        // end within it (checked by `piece`).
        unsafe { self.out.push(&self.buffer.0[..self.pending]) };
        self.pending = 0;
    }
    #[inline(always)]
    fn prefetch(&self, _: usize, _: usize) {}
}

/// A buffer on a cache line of its own, for the L1 temporaries that are streamed out:
/// [`stream_steps!`]'s, so that the bodies that take whole 64-byte registers from the
/// first line of their output write it without a masked head and tail, and those whose
/// pieces a [`Streamer`] pushes. [`DxStreamed`]'s buffer on the stack at 16 bytes off a
/// line made some processes (some placements of the stack) run PReLU backward 3x slower:
/// measured on the project's AMD EPYC (Zen 4), f32 at 4M elements, one thread, 0.30-0.36
/// ns an element in most placements against 0.99-1.08 in two of 23; on a line, 0.30-0.41
/// in every placement tried, with `dx` at each offset within a line.
#[repr(C, align(64))]
pub(crate) struct Aligned<A>(pub(crate) A);
