//! Threads: an explicit [`Par`] value with a process-wide default.
//!
//! Waking threads costs tens of microseconds, and one core already draws most of the
//! memory bandwidth, so a call splits only when every thread gets at least
//! [`MIN_BYTES_PER_THREAD`] of its largest array (in place: eight times that, never on
//! AMD). Splits fall on multiples of 64 elements (whole cache lines of every dtype, whole
//! words of a mask; 512 elements, whole cache lines of the mask, for the mask ops).
//! Element-wise results do not depend on the split; the PReLU slope gradient sums in fixed
//! blocks, so it does not either (a channel-first input of one row, one block, splits by
//! whole channels, each summed on one thread).

use std::cell::Cell;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many threads a call may use.
///
/// ```
/// use rectify::Par;
/// let x = vec![-1.0_f32; 1 << 10];
/// let mut y = vec![0.0_f32; 1 << 10];
/// rectify::with_par(Par::Threads(2), || rectify::relu(&x, &mut y));
/// assert!(y.iter().all(|&v| v == 0.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Par {
    /// The calling thread only.
    Seq,
    /// Up to this many threads, the calling one included; 0 means one per available core.
    Threads(usize),
}

impl Par {
    /// The number of threads this value allows (at least 1).
    pub fn threads(self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Threads(0) => available(),
            Par::Threads(n) => n,
        }
    }
}

/// Each thread of a split call gets at least this many bytes of the call's largest array,
/// so a call splits from 8 MiB per array. Starting the second (scoped) thread costs tens of
/// microseconds (about 50 on the project's AVX-512 Xeon VM). Measured there by
/// `cargo bench -p rectify --bench throughput --features ndarray -- --sizes 1K --filter none
/// --split` (one thread against two forced to split, f32 per array size 2/4/8/16 MiB): ReLU
/// out of place 0.80x/1.21x/1.54x/1.69x, its backward 1.15x/1.43x/1.69x/1.82x, in place
/// 0.60x/0.97x/1.27x/1.53x, the backward from the mask 0.99x/1.30x/1.51x/1.73x, f16 leaky
/// 0.90x/1.34x/1.49x/1.73x: from 8 MiB every one gains. `./scripts/bench` puts that table
/// in BENCHMARKS.md.
pub const MIN_BYTES_PER_THREAD: usize = 4 << 20;

fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

const UNSET: usize = usize::MAX;
static DEFAULT_THREADS: AtomicUsize = AtomicUsize::new(UNSET);

thread_local! {
    static OVERRIDE: Cell<Option<Par>> = const { Cell::new(None) };
    static SPLIT_MIN: Cell<usize> = const { Cell::new(MIN_BYTES_PER_THREAD) };
    static IN_PLACE_FACTOR: Cell<usize> = Cell::new(machine_in_place_factor());
}

/// The process-wide default: `RECTIFY_NUM_THREADS` (clamped to 1..=cores) if set, else one
/// thread per core.
pub fn default_par() -> Par {
    let n = match DEFAULT_THREADS.load(Ordering::Relaxed) {
        UNSET => {
            let cores = available();
            let n = std::env::var("RECTIFY_NUM_THREADS")
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .map_or(cores, |n| n.clamp(1, cores));
            DEFAULT_THREADS.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    };
    if n <= 1 { Par::Seq } else { Par::Threads(n) }
}

/// Sets the process-wide default (`Threads(n)` is clamped to the number of cores).
pub fn set_default_par(par: Par) {
    let n = par.threads().clamp(1, available());
    DEFAULT_THREADS.store(n, Ordering::Relaxed);
}

/// Runs `f` with calls from this thread using `par` instead of the default.
pub fn with_par<R>(par: Par, f: impl FnOnce() -> R) -> R {
    crate::par::with_thread_local(&OVERRIDE, Some(par), f)
}

/// Runs `f` with the thread-local `key` set to `value`, restoring the old value afterwards
/// (also when `f` panics): the scoped overrides of this crate.
pub(crate) fn with_thread_local<T: Copy + 'static, R>(
    key: &'static std::thread::LocalKey<Cell<T>>,
    value: T,
    f: impl FnOnce() -> R,
) -> R {
    struct Restore<T: Copy + 'static>(&'static std::thread::LocalKey<Cell<T>>, T);
    impl<T: Copy + 'static> Drop for Restore<T> {
        fn drop(&mut self) {
            self.0.with(|c| c.set(self.1));
        }
    }
    let _restore = Restore(key, key.with(|c| c.replace(value)));
    f()
}

/// The `Par` that calls from this thread use now.
pub fn current_par() -> Par {
    OVERRIDE.with(Cell::get).unwrap_or_else(default_par)
}

/// Runs `f` with the split threshold lowered to `bytes`, so that small inputs are split
/// too, in place as well (at the same threshold, whatever the machine's
/// [`IN_PLACE_SPLIT_FACTOR`]). For tests of the threaded paths and the split benchmark;
/// results must not change.
#[doc(hidden)]
pub fn with_split_threshold<R>(bytes: usize, f: impl FnOnce() -> R) -> R {
    crate::par::with_thread_local(&SPLIT_MIN, bytes.max(1), || crate::par::with_thread_local(&IN_PLACE_FACTOR, 1, f))
}

/// Whether a call of `len` elements of `bytes_per_element` would use more than one thread.
/// Cheap (no allocation): the single-thread fast path asks this first.
#[inline]
pub(crate) fn worth_splitting(len: usize, bytes_per_element: usize) -> bool {
    worth_splitting_from(len, bytes_per_element, 1)
}

/// [`worth_splitting`] with the threshold `factor` times as high.
#[inline]
fn worth_splitting_from(len: usize, bytes_per_element: usize, factor: usize) -> bool {
    let min = SPLIT_MIN.with(Cell::get);
    len.saturating_mul(bytes_per_element) >= factor.saturating_mul(2 * min) && current_par().threads() > 1
}

/// In-place calls split only from this many times the size of [`worth_splitting`] (64
/// MiB): their array is usually still in the cache from whoever wrote it, where a second
/// thread gains less than it costs. Measured by `./scripts/bench` on the AVX-512 Xeon,
/// in-place rows that copy their array in first: ReLU in place at 8 MiB per array on two
/// threads 0.90x (f16) and 0.84x (bf16) of one; at 32 MiB 0.84x (f16), 0.87x (bf16),
/// 0.86x (f64) in one full run; at 64 MiB 1.11x (f32), at 128 MiB 1.15x (f64).
///
/// On AMD CPUs in-place calls do not split at all: on the project's AMD EPYC (Zen 4) one
/// core already saturates in-place traffic. `./scripts/bench` there, f32 ReLU in place on
/// two threads against one: 0.90x at 64 MiB in a full run, then 0.94-1.07x at 64 MiB and
/// 0.89-1.02x at 256 MiB in three runs of that row alone.
pub(crate) const IN_PLACE_SPLIT_FACTOR: usize = 8;

/// This machine's in-place split factor: [`IN_PLACE_SPLIT_FACTOR`], or never on AMD.
fn machine_in_place_factor() -> usize {
    if crate::dispatch::amd() { usize::MAX } else { IN_PLACE_SPLIT_FACTOR }
}

/// Whether an in-place call of `len` elements of `bytes_per_element` would use more than
/// one thread ([`IN_PLACE_SPLIT_FACTOR`]).
#[inline]
pub(crate) fn worth_splitting_in_place(len: usize, bytes_per_element: usize) -> bool {
    worth_splitting_from(len, bytes_per_element, IN_PLACE_FACTOR.with(Cell::get))
}

/// The element ranges a call of `len` elements is split into; `bytes_per_element` is the
/// size of one element of the largest array, `grain` the multiple every split falls on.
pub(crate) fn plan(len: usize, bytes_per_element: usize, grain: usize) -> Vec<Range<usize>> {
    let threads = current_par().threads();
    let min = SPLIT_MIN.with(Cell::get);
    let by_size = len.saturating_mul(bytes_per_element) / min;
    let k = threads.min(by_size).min(len.div_ceil(grain)).max(1);
    if k == 1 {
        return std::iter::once(0..len).collect();
    }
    let chunk = len.div_ceil(k).div_ceil(grain) * grain;
    (0..len).step_by(chunk).map(|start| start..(start + chunk).min(len)).collect()
}

/// Splits `s` at the ranges of a [`plan`] (which cover `0..s.len()` in order).
pub(crate) fn split_mut<'a, T>(mut s: &'a mut [T], ranges: &[Range<usize>]) -> Vec<&'a mut [T]> {
    let mut parts = Vec::with_capacity(ranges.len());
    for r in ranges {
        let (head, tail) = s.split_at_mut(r.len());
        parts.push(head);
        s = tail;
    }
    parts
}

/// Runs `f` on every task: the first on the calling thread, the others on scoped threads.
pub(crate) fn run<W: Send>(tasks: Vec<W>, f: impl Fn(W) + Sync) {
    if tasks.len() <= 1 {
        tasks.into_iter().for_each(f);
        return;
    }
    let f = &f;
    std::thread::scope(|scope| {
        let mut tasks = tasks.into_iter();
        let first = tasks.next();
        for task in tasks {
            scope.spawn(move || f(task));
        }
        if let Some(task) = first {
            f(task);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_everything_in_order_on_grain_boundaries() {
        with_par(Par::Threads(3), || {
            with_split_threshold(1, || {
                for len in [0, 1, 63, 64, 65, 1000, 4097] {
                    let ranges = plan(len, 4, 64);
                    let mut next = 0;
                    for r in &ranges {
                        assert_eq!(r.start, next);
                        assert!(r.start % 64 == 0);
                        next = r.end;
                    }
                    assert_eq!(next, len);
                    assert!(ranges.len() <= 3);
                }
            })
        });
    }

    #[test]
    fn in_place_calls_split_later_and_never_on_amd() {
        with_par(Par::Threads(2), || {
            let f32s = |mib: usize| (mib << 20) / 4;
            assert!(worth_splitting(f32s(8), 4));
            assert!(!worth_splitting_in_place(f32s(32), 4));
            assert_eq!(worth_splitting_in_place(f32s(64), 4), !crate::dispatch::amd());
            // The tests' and the split benchmark's forced splits reach in-place calls too.
            with_split_threshold(1, || assert!(worth_splitting_in_place(1024, 4)));
        });
    }

    #[test]
    fn small_inputs_stay_on_one_thread() {
        with_par(Par::Threads(8), || assert_eq!(plan(1 << 20, 4, 64).len(), 1));
    }
}
