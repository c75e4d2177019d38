//! The element types that the kernels accept, behind sealed traits.
//!
//! [`Element`] is every dtype that has a ReLU (`max(x, 0)`): the four float types and the
//! integers. [`Float`] is the float types, which carry the whole family ([`crate::Ramp`],
//! PReLU, RReLU, ...). [`Int`] is the integers, which have ReLU and the clipped variant.
//!
//! f16 and bf16 compute in f32 and round once (round to nearest, ties to even); the
//! conversions used by the kernels are branch-free so that they vectorise, and they are
//! tested against the `half` crate on every input.

use core::fmt::Debug;
use core::ops::{Add, Mul, Neg, Sub};

use half::{bf16, f16};

/// The dtype of an element, as a value (for reports and error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    /// IEEE 754 binary16.
    F16,
    /// bfloat16 (the upper half of an f32).
    BF16,
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary64.
    F64,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
}

impl DType {
    /// The short name used by NumPy (`"float32"`, `"int8"`, ...; `"bfloat16"` as in `ml_dtypes`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
        }
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 => 1,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }
}

impl core::fmt::Display for DType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

pub(crate) mod sealed {
    use super::Compute;

    /// The per-type pieces that the kernels are written with. Private: the set of types is
    /// closed, and these methods are the kernels' business, not the user's.
    pub trait Sealed: Copy + Send + Sync + 'static {
        /// `max(x, 0)` with the contract's NaN and -0.0 rules, written branch-free.
        fn relu_elem(self) -> Self;
        /// `x > 0`, false for NaN: the ReLU backward select and the mask bit.
        fn is_positive(self) -> bool;
        /// The zero of the type (+0.0 for floats).
        fn zero() -> Self;

        /// One mask word (bit i: `chunk[i] > 0`) with AVX2.
        ///
        /// # Safety
        /// x86-64-v3 must be available.
        #[inline(always)]
        unsafe fn pack_word_v3(chunk: &[Self; 64]) -> u64 {
            crate::arch::generic::pack_word(chunk)
        }

        /// `y = relu(x)` and the mask word of `x > 0` (bit i: `x[i] > 0`) with AVX2, in one
        /// pass.
        ///
        /// # Safety
        /// x86-64-v3 must be available.
        #[inline(always)]
        unsafe fn relu_mask_word_v3(x: &[Self; 64], y: &mut [Self; 64]) -> u64 {
            crate::arch::generic::map1_loop(&crate::kernels::Relu, x, y);
            crate::arch::generic::pack_word(x)
        }

        /// [`Sealed::pack_word_v3`] with AVX-512 (default: the AVX2 body).
        ///
        /// # Safety
        /// x86-64-v4 must be available.
        #[inline(always)]
        unsafe fn pack_word_v4(chunk: &[Self; 64]) -> u64 {
            // SAFETY: v4 includes v3 (caller).
            unsafe { Self::pack_word_v3(chunk) }
        }

        /// [`Sealed::relu_mask_word_v3`] with AVX-512 (default: the AVX2 body).
        ///
        /// # Safety
        /// x86-64-v4 must be available.
        #[inline(always)]
        unsafe fn relu_mask_word_v4(x: &[Self; 64], y: &mut [Self; 64]) -> u64 {
            // SAFETY: v4 includes v3 (caller).
            unsafe { Self::relu_mask_word_v3(x, y) }
        }

        /// Whether [`Sealed::relu_word_v4`] has an AVX-512 body of its own: then the v4 ReLU
        /// driver steps through it 64 elements at a time, else it runs the generic loop.
        const RELU_WORD_V4: bool = false;

        /// `y = relu(x)` for 64 elements with AVX-512 (default: the generic loop).
        ///
        /// # Safety
        /// x86-64-v4 must be available.
        #[inline(always)]
        unsafe fn relu_word_v4(x: &[Self; 64], y: &mut [Self; 64]) {
            crate::arch::generic::map1_loop(&crate::kernels::Relu, x, y)
        }

        /// `y = relu(x)` and the mask of `x > 0` with AVX2 and streaming stores, for
        /// outputs beyond the cache; `words.len()` is `y.len().div_ceil(64)`.
        ///
        /// # Safety
        /// x86-64-v3 must be available.
        #[cfg(target_arch = "x86_64")]
        #[inline(always)]
        unsafe fn relu_with_mask_stream_v3(x: &[Self], y: &mut [Self], words: &mut [u64]) {
            // SAFETY: forwarded from the caller.
            unsafe { crate::arch::generic::x86::relu_with_mask_stream_buffered(x, y, words) }
        }

        /// `x = relu(x)` in place with AVX2.
        ///
        /// # Safety
        /// x86-64-v3 must be available.
        #[inline(always)]
        unsafe fn relu_inplace_v3(x: &mut [Self]) {
            crate::arch::generic::map1_inplace(&crate::kernels::Relu, x)
        }

        /// `y = relu(x)` with non-temporal stores, for outputs beyond the cache.
        ///
        /// # Safety
        /// x86-64-v3 must be available.
        #[cfg(target_arch = "x86_64")]
        #[inline(always)]
        unsafe fn relu_stream_v3(x: &[Self], y: &mut [Self]) {
            // SAFETY: forwarded from the caller.
            unsafe { crate::arch::stream::map1(&crate::kernels::Relu, x, y) }
        }

        /// `dy = x > 0 ? dy : zero` in place with AVX2.
        ///
        /// # Safety
        /// x86-64-v3 must be available.
        #[inline(always)]
        unsafe fn relu_backward_inplace_v3(x: &[Self], dy: &mut [Self]) {
            crate::arch::generic::map2_inplace(&crate::kernels::ReluBackward, x, dy)
        }

        /// `dx[i] = bit i of w ? dy[i] : zero` with AVX2.
        ///
        /// # Safety
        /// x86-64-v3 must be available.
        #[inline(always)]
        unsafe fn select_word_v3(w: u64, dy: &[Self; 64], dx: &mut [Self; 64]) {
            crate::arch::generic::select_word(w, dy, dx)
        }
    }

    /// Float-only pieces.
    pub trait FloatSealed: Sealed {
        /// The type arithmetic happens in: f32 for f16, bf16 and f32; f64 for f64.
        type C: Compute;
        /// A value whose order is the float order for every non-NaN input (`-0.0` equal to
        /// `+0.0`): the float itself for f32 and f64; a 16-bit integer for f16 and bf16, so
        /// that their compares need no widening. Meaningless for NaN: every kernel that
        /// compares keys selects NaN lanes separately.
        type Key: Copy + PartialOrd + Send + Sync + core::fmt::Debug;
        /// A key that no non-NaN element reaches (`x == k` and `x >= k` false for all):
        /// the cap key of a ramp without a cap, so that its compares need no extra flag.
        const KEY_ABOVE_ALL: Self::Key;
        /// Whether a NaN's key compares false with every key (f32 and f64, whose key is the
        /// float): then an ordered compare routes NaN lanes by itself, and the kernels skip
        /// the separate NaN select (one compare and one blend per vector).
        const KEY_UNORDERED_NAN: bool;
        fn key(self) -> Self::Key;
        fn widen(self) -> Self::C;
        /// Round once, to nearest, ties to even.
        fn narrow(c: Self::C) -> Self;

        /// `out = k(a, b)` for an op that multiplies, at x86-64-v3: f32 and f64 run the
        /// fused kernel (LLVM vectorises it); f16 and bf16 override this to widen and
        /// narrow whole vectors in registers (F16C, shifts) instead of lane by lane.
        ///
        /// # Safety
        /// x86-64-v3 must be available.
        #[inline(always)]
        unsafe fn product_select_v3<K: crate::kernels::Product<Self>>(k: &K, a: &[Self], b: &[Self], out: &mut [Self]) {
            crate::arch::generic::map2_loop(&crate::kernels::Fused(k), a, b, out)
        }

        /// [`FloatSealed::product_select_v3`] at x86-64-v4 (default: the same; bf16 narrows
        /// with AVX-512 BF16 where the CPU has it).
        ///
        /// # Safety
        /// x86-64-v4 must be available.
        #[inline(always)]
        unsafe fn product_select_v4<K: crate::kernels::Product<Self>>(k: &K, a: &[Self], b: &[Self], out: &mut [Self]) {
            // SAFETY: v4 includes v3 (caller).
            unsafe { Self::product_select_v3(k, a, b, out) }
        }

        /// The PReLU slope gradient's terms added to a plane's lanes at x86-64-v3
        /// ([`crate::arch::generic::add_terms_to_lanes_fma`]): the vector loop (default); f16
        /// and bf16 override this to widen in registers (F16C, shifts) instead of lane by
        /// lane.
        ///
        /// # Safety
        /// x86-64-v3 must be available.
        #[inline(always)]
        unsafe fn prelu_lanes_v3(x: &[Self], dy: &[Self], lanes: &mut crate::arch::generic::SumLanes)
        where
            Self: crate::element::Float,
        {
            crate::arch::generic::add_terms_to_lanes_fma(x, dy, lanes)
        }

        /// [`FloatSealed::prelu_lanes_v3`] at x86-64-v4 (default: the same; f16 and bf16
        /// each their own, `Half::prelu_lanes_v4`).
        ///
        /// # Safety
        /// x86-64-v4 must be available.
        #[inline(always)]
        unsafe fn prelu_lanes_v4(x: &[Self], dy: &[Self], lanes: &mut crate::arch::generic::SumLanes)
        where
            Self: crate::element::Float,
        {
            // SAFETY: v4 includes v3 (caller).
            unsafe { Self::prelu_lanes_v3(x, dy, lanes) }
        }

        /// PReLU backward of a whole channel plane of slope `a` in one pass at x86-64-v4:
        /// the terms into `lanes` as [`FloatSealed::prelu_lanes_v4`] and `dx` as
        /// `LeakyBackward(a)`, where the type has such a loop (f16 and bf16,
        /// `Half512::prelu_plane`); `false`, and nothing written, otherwise (default: f32
        /// and f64 take their pieces in one loop of plain code already). `far`: the plane
        /// lies beyond the caches.
        ///
        /// # Safety
        /// x86-64-v4 must be available; `x` starts on a plane's lane 0.
        #[inline(always)]
        unsafe fn prelu_plane_v4(
            a: Self::C,
            x: &[Self],
            dy: &[Self],
            dx: &mut [Self],
            lanes: &mut crate::arch::generic::SumLanes,
            far: bool,
        ) -> bool {
            let _ = (a, x, dy, dx, lanes, far);
            false
        }

        /// `b = k(a, b)` (`a` of `None`: `b = k(b)`) straight over `b` at x86-64-v4, where
        /// the type has a body that reads each vector before it writes it (f16 and bf16 ops
        /// that scale one input, with the CPU's FP16 or BF16 extension); `false`, and
        /// nothing written, elsewhere (default), and the caller goes through a buffer.
        ///
        /// # Safety
        /// x86-64-v4 must be available.
        #[inline(always)]
        unsafe fn scale_inplace_v4<K: crate::kernels::Product<Self>>(
            k: &K,
            a: Option<&[Self]>,
            b: &mut [Self],
        ) -> bool {
            let _ = (k, a, b);
            false
        }
        fn is_nan_elem(self) -> bool;
        /// Flip the sign bit (exact, NaN included).
        fn negate(self) -> Self;
        /// Round a parameter to this type (a threshold or cap is a value of the dtype).
        fn from_f64(v: f64) -> Self;
        fn to_f64(self) -> f64;
        fn bits(self) -> u64;
        fn from_bits_u64(b: u64) -> Self;
    }
}

/// The arithmetic type of a float dtype (f32 or f64). Sealed.
pub trait Compute:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + Send
    + Sync
    + Debug
    + 'static
    + compute_sealed::Sealed
{
    #[doc(hidden)]
    const ZERO: Self;
    #[doc(hidden)]
    fn from_f64(v: f64) -> Self;
    #[doc(hidden)]
    fn to_f64(self) -> f64;
}

mod compute_sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Compute for f32 {
    const ZERO: Self = 0.0;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Compute for f64 {
    const ZERO: Self = 0.0;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}

/// A type the kernels accept: `f32`, `f64`, [`half::f16`], [`half::bf16`], `i8`..`i64`,
/// `u8`..`u64`. Sealed: the set is closed.
pub trait Element: sealed::Sealed + Debug + PartialEq + Default {
    /// This type's dtype.
    const DTYPE: DType;
}

/// The float dtypes: `f32`, `f64`, [`half::f16`], [`half::bf16`]. Sealed.
pub trait Float: Element + sealed::FloatSealed {}

/// The integer dtypes: `i8`..`i64` (ReLU is `max(x, 0)`) and `u8`..`u64` (ReLU is the
/// identity). Sealed.
pub trait Int: Element + Ord {
    /// The zero of the type.
    #[doc(hidden)]
    const ZERO: Self;
}

// ---------------------------------------------------------------------------------------
// Branch-free conversions. Each is one select over candidates that are all computed, so
// that LLVM turns a loop over them into vector code under any target feature set.
// ---------------------------------------------------------------------------------------

/// f16 bits to f32, exactly as `half::f16::to_f32` (a NaN gets its quiet bit set, as the
/// F16C instruction does).
#[inline(always)]
pub(crate) fn f16_bits_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let sign = (h & 0x8000) << 16;
    let em = h & 0x7fff;
    let normal = (em << 13) + ((127 - 15) << 23);
    // A subnormal (or zero) is man * 2^-24, exact in f32.
    let subnormal = ((em as i32 as f32) * f32::from_bits(0x3380_0000)).to_bits();
    let man = em & 0x03ff;
    let quiet = if man != 0 { 0x0040_0000 } else { 0 };
    let inf_nan = 0x7f80_0000 | quiet | (man << 13);
    let magnitude = if em < 0x0400 {
        subnormal
    } else if em >= 0x7c00 {
        inf_nan
    } else {
        normal
    };
    f32::from_bits(magnitude | sign)
}

/// f32 to f16 bits, round to nearest, ties to even, as `half::f16::from_f32` (a NaN keeps
/// the top of its payload and gets the quiet bit).
#[inline(always)]
pub(crate) fn f32_to_f16_bits(f: f32) -> u16 {
    let x = f.to_bits();
    let sign = (x >> 16) & 0x8000;
    let a = x & 0x7fff_ffff;
    let nan = 0x7e00 | ((a >> 13) & 0x03ff);
    // Normal range: add the rounding bias (ties to even via the kept lsb); a carry out of
    // the mantissa bumps the exponent, up to infinity for 65520 and above.
    let normal = ((a + 0x0fff + ((a >> 13) & 1)) >> 13).wrapping_sub((127 - 15) << 10);
    // Subnormal range: adding 0.5 lets the FPU round at the f16 subnormal spacing.
    const HALF: u32 = 126 << 23;
    let subnormal = (f32::from_bits(a) + f32::from_bits(HALF)).to_bits().wrapping_sub(HALF);
    let magnitude = if a > 0x7f80_0000 {
        nan
    } else if a >= 0x4780_0000 {
        0x7c00
    } else if a >= 0x3880_0000 {
        normal
    } else {
        subnormal
    };
    (magnitude | sign) as u16
}

/// bf16 bits to f32, as `half::bf16::to_f32` (a NaN gets its quiet bit set).
#[inline(always)]
pub(crate) fn bf16_bits_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let quiet = if (h & 0x7fff) > 0x7f80 { 0x40 } else { 0 };
    f32::from_bits((h | quiet) << 16)
}

/// f32 to bf16 bits, round to nearest, ties to even, as `half::bf16::from_f32`.
#[inline(always)]
pub(crate) fn f32_to_bf16_bits(f: f32) -> u16 {
    let x = f.to_bits();
    let nan = (x >> 16) | 0x40;
    let rounded = (x.wrapping_add(0x7fff + ((x >> 16) & 1))) >> 16;
    (if (x & 0x7fff_ffff) > 0x7f80_0000 { nan } else { rounded }) as u16
}

macro_rules! native_float {
    ($t:ty, $bits:ty, $dtype:ident, $pack:ident, $select:ident, $relu_inplace:ident, $relu_backward_inplace:ident, $relu_stream:ident, $relu_mask_word:ident, $relu_word:ident) => {
        impl sealed::Sealed for $t {
            const RELU_WORD_V4: bool = cfg!(target_arch = "x86_64");
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_word_v4(x: &[Self; 64], y: &mut [Self; 64]) {
                // SAFETY: the caller guarantees x86-64-v4, which includes AVX-512F.
                unsafe { crate::arch::avx512::$relu_word(x, y) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_mask_word_v3(x: &[Self; 64], y: &mut [Self; 64]) -> u64 {
                // SAFETY: the caller guarantees x86-64-v3, which includes AVX2.
                unsafe { crate::arch::avx2::$relu_mask_word(x, y) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_mask_word_v4(x: &[Self; 64], y: &mut [Self; 64]) -> u64 {
                // SAFETY: the caller guarantees x86-64-v4, which includes AVX-512F.
                unsafe { crate::arch::avx512::$relu_mask_word(x, y) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn pack_word_v4(chunk: &[Self; 64]) -> u64 {
                // SAFETY: the caller guarantees x86-64-v4, which includes AVX-512F.
                unsafe { crate::arch::avx512::$pack(chunk) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_stream_v3(x: &[Self], y: &mut [Self]) {
                // SAFETY: the caller guarantees x86-64-v3, which includes AVX2.
                unsafe { crate::arch::avx2::$relu_stream(x, y) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_with_mask_stream_v3(x: &[Self], y: &mut [Self], words: &mut [u64]) {
                // SAFETY: the caller guarantees x86-64-v3, which includes AVX2, and the
                // mask's length.
                unsafe { crate::arch::avx2::relu_with_mask_stream(x, y, words) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_inplace_v3(x: &mut [Self]) {
                // SAFETY: the caller guarantees x86-64-v3, which includes AVX2.
                unsafe { crate::arch::avx2::$relu_inplace(x) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_backward_inplace_v3(x: &[Self], dy: &mut [Self]) {
                // SAFETY: the caller guarantees x86-64-v3, which includes AVX2.
                unsafe { crate::arch::avx2::$relu_backward_inplace(x, dy) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn pack_word_v3(chunk: &[Self; 64]) -> u64 {
                // SAFETY: the caller guarantees x86-64-v3, which includes AVX2.
                unsafe { crate::arch::avx2::$pack(chunk) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn select_word_v3(w: u64, dy: &[Self; 64], dx: &mut [Self; 64]) {
                // SAFETY: x86-64-v3 (caller); the lanes are of this type's size, and +0.0
                // is all-zero bits.
                unsafe { crate::arch::avx2::$select(w, dy, dx) }
            }
            #[inline(always)]
            fn relu_elem(self) -> Self {
                // `!(x <= 0)` is true for x > 0 and for NaN: one compare keeps NaN's bits
                // and sends -0.0 to +0.0 (f32::max would map NaN to 0).
                #[allow(clippy::neg_cmp_op_on_partial_ord)] // the point: true for NaN
                if !(self <= 0.0) { self } else { 0.0 }
            }
            #[inline(always)]
            fn is_positive(self) -> bool {
                self > 0.0
            }
            #[inline(always)]
            fn zero() -> Self {
                0.0
            }
        }
        impl sealed::FloatSealed for $t {
            type C = $t;
            type Key = $t;
            // NaN compares false with everything.
            const KEY_ABOVE_ALL: $t = <$t>::NAN;
            const KEY_UNORDERED_NAN: bool = true;
            #[inline(always)]
            fn key(self) -> $t {
                self
            }
            #[inline(always)]
            fn widen(self) -> $t {
                self
            }
            #[inline(always)]
            fn narrow(c: $t) -> Self {
                c
            }
            #[inline(always)]
            fn is_nan_elem(self) -> bool {
                self.is_nan()
            }
            #[inline(always)]
            fn negate(self) -> Self {
                <$t>::from_bits(self.to_bits() ^ (1 << (<$bits>::BITS - 1)))
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn bits(self) -> u64 {
                self.to_bits() as u64
            }
            #[inline(always)]
            fn from_bits_u64(b: u64) -> Self {
                <$t>::from_bits(b as $bits)
            }
        }
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
        }
        impl Float for $t {}
    };
}

native_float!(
    f32,
    u32,
    F32,
    pack_word_f32,
    select_word_32,
    relu_inplace_f32,
    relu_backward_inplace_f32,
    relu_stream_f32,
    relu_mask_word_f32,
    relu_word_f32
);
native_float!(
    f64,
    u64,
    F64,
    pack_word_f64,
    select_word_64,
    relu_inplace_f64,
    relu_backward_inplace_f64,
    relu_stream_f64,
    relu_mask_word_f64,
    relu_word_f64
);

macro_rules! half_float {
    ($t:ty, $dtype:ident, $inf:expr, $to:ident, $from:ident) => {
        impl sealed::Sealed for $t {
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn pack_word_v3(chunk: &[Self; 64]) -> u64 {
                // SAFETY: the caller guarantees x86-64-v3 (AVX2 and BMI2); 2-byte lanes.
                unsafe { crate::arch::avx2::pack_word_16(chunk, $inf) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_mask_word_v3(x: &[Self; 64], y: &mut [Self; 64]) -> u64 {
                // SAFETY: the caller guarantees x86-64-v3 (AVX2 and BMI2); 2-byte lanes;
                // +0.0 is all-zero bits.
                unsafe { crate::arch::avx2::relu_mask_word_16(x, y, $inf) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn pack_word_v4(chunk: &[Self; 64]) -> u64 {
                // SAFETY: the caller guarantees x86-64-v4 (AVX-512BW); 2-byte lanes.
                unsafe { crate::arch::avx512::pack_word_16(chunk, $inf) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_mask_word_v4(x: &[Self; 64], y: &mut [Self; 64]) -> u64 {
                // SAFETY: the caller guarantees x86-64-v4 (AVX-512BW); 2-byte lanes; +0.0 is
                // all-zero bits.
                unsafe { crate::arch::avx512::relu_mask_word_16(x, y, $inf) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_with_mask_stream_v3(x: &[Self], y: &mut [Self], words: &mut [u64]) {
                // SAFETY: the caller guarantees x86-64-v3 (AVX2 and BMI2) and the mask's
                // length.
                unsafe { crate::arch::avx2::relu_with_mask_stream(x, y, words) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn select_word_v3(w: u64, dy: &[Self; 64], dx: &mut [Self; 64]) {
                // SAFETY: x86-64-v3 (caller); 2-byte lanes; +0.0 is all-zero bits.
                unsafe { crate::arch::avx2::select_word_16(w, dy, dx) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_inplace_v3(x: &mut [Self]) {
                // SAFETY: x86-64-v3 (caller); 2-byte lanes; +0.0 is all-zero bits.
                unsafe { crate::arch::avx2::relu_inplace_16(x, $inf) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn relu_backward_inplace_v3(x: &[Self], dy: &mut [Self]) {
                // SAFETY: x86-64-v3 (caller); 2-byte lanes; +0.0 is all-zero bits.
                unsafe { crate::arch::avx2::relu_backward_inplace_16(x, dy, $inf) }
            }
            #[inline(always)]
            fn relu_elem(self) -> Self {
                // Keep the positive values and every NaN: one signed compare of the raw
                // bits, as the negative NaNs are the negative patterns above -inf's (the
                // positive NaNs are positive). +0.0 is kept as well, which is its own ReLU.
                let s = self.to_bits() as i16;
                if s > (0x8000 | $inf) as i16 { self } else { <$t>::from_bits(0) }
            }
            #[inline(always)]
            fn is_positive(self) -> bool {
                let s = self.to_bits() as i16;
                s > 0 && s <= $inf
            }
            #[inline(always)]
            fn zero() -> Self {
                <$t>::from_bits(0)
            }
        }
        impl sealed::FloatSealed for $t {
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn prelu_lanes_v3(x: &[Self], dy: &[Self], lanes: &mut crate::arch::generic::SumLanes) {
                // SAFETY: the caller guarantees x86-64-v3 (F16C, AVX2).
                unsafe { crate::arch::avx2::prelu_lanes_16(x, dy, lanes) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn prelu_lanes_v4(x: &[Self], dy: &[Self], lanes: &mut crate::arch::generic::SumLanes) {
                // SAFETY: the caller guarantees x86-64-v4.
                unsafe { <Self as crate::arch::avx2::Half>::prelu_lanes_v4(x, dy, lanes) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn prelu_plane_v4(
                a: f32,
                x: &[Self],
                dy: &[Self],
                dx: &mut [Self],
                lanes: &mut crate::arch::generic::SumLanes,
                far: bool,
            ) -> bool {
                // SAFETY: the caller guarantees x86-64-v4 and a plane's lane 0.
                unsafe { <Self as crate::arch::avx512::Half512>::prelu_plane(a, x, dy, dx, lanes, far) };
                true
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn product_select_v3<K: crate::kernels::Product<Self>>(
                k: &K,
                a: &[Self],
                b: &[Self],
                out: &mut [Self],
            ) {
                // SAFETY: the caller guarantees x86-64-v3 (AVX2, F16C).
                unsafe { crate::arch::avx2::product_select_16::<Self, K, crate::arch::avx2::Avx2Convert>(k, a, b, out) }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn product_select_v4<K: crate::kernels::Product<Self>>(
                k: &K,
                a: &[Self],
                b: &[Self],
                out: &mut [Self],
            ) {
                use crate::arch::avx512::Half512;
                let n = out.len().min(a.len()).min(b.len());
                // SAFETY: x86-64-v4 (caller); n lanes of `a`, `b` and `out`, which a `&mut`
                // keeps apart from the others.
                if unsafe { Self::scale_op(k, a.as_ptr(), b.as_ptr(), out.as_mut_ptr(), n) } {
                    return;
                }
                // AVX-512 BF16 is not part of x86-64-v4: where the CPU has it, bf16 narrows
                // with it, in a function compiled for it.
                if <Self as Element>::DTYPE == DType::BF16 && crate::dispatch::bf16_extension() {
                    // SAFETY: x86-64-v4 (caller) and AVX-512 BF16, just detected.
                    return unsafe { crate::arch::avx512::product_select_16_bf16(k, a, b, out) };
                }
                // SAFETY: the caller guarantees x86-64-v4 (AVX-512F, and AVX2 and F16C).
                unsafe {
                    crate::arch::avx2::product_select_16::<Self, K, crate::arch::avx512::Avx512Convert>(k, a, b, out)
                }
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn scale_inplace_v4<K: crate::kernels::Product<Self>>(
                k: &K,
                a: Option<&[Self]>,
                b: &mut [Self],
            ) -> bool {
                use crate::arch::avx512::Half512;
                let out = b.as_mut_ptr();
                match a {
                    // SAFETY: x86-64-v4 (caller); `b`'s lanes are read and written in place,
                    // which `scale_native` allows.
                    None if !K::BINARY => unsafe { Self::scale_op(k, out, out, out, b.len()) },
                    // SAFETY: as above, with `x`'s lanes read beside them.
                    Some(x) if K::BINARY && x.len() >= b.len() => unsafe {
                        Self::scale_op(k, x.as_ptr(), out, out, b.len())
                    },
                    _ => false,
                }
            }
            type C = f32;
            type Key = i16;
            // Above the key of +inf; NaN lanes are selected apart.
            const KEY_ABOVE_ALL: i16 = i16::MAX;
            const KEY_UNORDERED_NAN: bool = false;
            #[inline(always)]
            fn key(self) -> i16 {
                // Sign-magnitude to two's complement; -0.0 maps to 0 like +0.0.
                let s = self.to_bits() as i16;
                if s < 0 { -(s & 0x7fff) } else { s }
            }
            #[inline(always)]
            fn widen(self) -> f32 {
                $to(self.to_bits())
            }
            #[inline(always)]
            fn narrow(c: f32) -> Self {
                <$t>::from_bits($from(c))
            }
            #[inline(always)]
            fn is_nan_elem(self) -> bool {
                (self.to_bits() & 0x7fff) > $inf
            }
            #[inline(always)]
            fn negate(self) -> Self {
                <$t>::from_bits(self.to_bits() ^ 0x8000)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                <$t>::from_f64(v)
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                <$t>::to_f64(self)
            }
            #[inline(always)]
            fn bits(self) -> u64 {
                self.to_bits() as u64
            }
            #[inline(always)]
            fn from_bits_u64(b: u64) -> Self {
                <$t>::from_bits(b as u16)
            }
        }
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
        }
        impl Float for $t {}
    };
}

half_float! { f16, F16, 0x7c00, f16_bits_to_f32, f32_to_f16_bits }
half_float! { bf16, BF16, 0x7f80, bf16_bits_to_f32, f32_to_bf16_bits }

macro_rules! signed_int {
    ($($t:ty => $dtype:ident),*) => {$(
        impl sealed::Sealed for $t {
            #[inline(always)]
            fn relu_elem(self) -> Self {
                if self > 0 { self } else { 0 }
            }
            #[inline(always)]
            fn is_positive(self) -> bool {
                self > 0
            }
            #[inline(always)]
            fn zero() -> Self {
                0
            }
        }
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
        }
        impl Int for $t {
            const ZERO: Self = 0;
        }
    )*};
}

macro_rules! unsigned_int {
    ($($t:ty => $dtype:ident),*) => {$(
        impl sealed::Sealed for $t {
            #[inline(always)]
            fn relu_elem(self) -> Self {
                self
            }
            #[inline(always)]
            fn is_positive(self) -> bool {
                self > 0
            }
            #[inline(always)]
            fn zero() -> Self {
                0
            }
        }
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
        }
        impl Int for $t {
            const ZERO: Self = 0;
        }
    )*};
}

signed_int!(i8 => I8, i16 => I16, i32 => I32, i64 => I64);
unsigned_int!(u8 => U8, u16 => U16, u32 => U32, u64 => U64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_widening_matches_half_for_every_pattern() {
        for b in 0..=u16::MAX {
            let ours = f16_bits_to_f32(b).to_bits();
            let theirs = f16::from_bits(b).to_f32().to_bits();
            assert_eq!(ours, theirs, "f16 bits {b:#06x}");
        }
    }

    #[test]
    fn bf16_widening_matches_half_for_every_pattern() {
        for b in 0..=u16::MAX {
            let ours = bf16_bits_to_f32(b).to_bits();
            let theirs = bf16::from_bits(b).to_f32().to_bits();
            assert_eq!(ours, theirs, "bf16 bits {b:#06x}");
        }
    }

    /// Every one of the 2^32 f32 patterns in an optimised build (`cargo test --release`,
    /// as the project's test command runs); a dense sample in a debug build.
    #[test]
    fn narrowing_matches_half_for_every_f32() {
        let step = if cfg!(debug_assertions) { 4093 } else { 1 };
        std::thread::scope(|s| {
            for half_range in [0u32, 0x8000_0000] {
                s.spawn(move || {
                    let start = half_range as u64;
                    for bits in (start..start + 0x8000_0000).step_by(step) {
                        let x = bits as u32;
                        let f = f32::from_bits(x);
                        assert_eq!(f32_to_f16_bits(f), f16::from_f32(f).to_bits(), "f16 from f32 bits {x:#010x}");
                        assert_eq!(f32_to_bf16_bits(f), bf16::from_f32(f).to_bits(), "bf16 from f32 bits {x:#010x}");
                    }
                });
            }
        });
    }
}
