//! Run-time choice of the instruction-set level: detected once, cached, overridable.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::arch::Level;
use crate::element::DType;
use crate::error::Error;

/// An instruction-set level (see the table in the crate docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Portable code at the build's baseline (SSE2 on x86-64).
    Scalar,
    /// x86-64-v3: AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE.
    V3,
    /// x86-64-v4: v3 plus AVX-512 F/BW/CD/DQ/VL.
    V4,
}

impl Isa {
    /// Every level, lowest first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::V3, Isa::V4];

    /// `"scalar"`, `"v3"` or `"v4"` (the values of `RECTIFY_ISA`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::V3 => "v3",
            Isa::V4 => "v4",
        }
    }

    /// Parses a name as [`Isa::name`] writes it.
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name.trim().to_ascii_lowercase())
    }

    /// Whether this CPU has every feature of the level.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::V3 => {
                std::is_x86_feature_detected!("avx")
                    && std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
                    && std::is_x86_feature_detected!("f16c")
                    && std::is_x86_feature_detected!("bmi1")
                    && std::is_x86_feature_detected!("bmi2")
                    && std::is_x86_feature_detected!("lzcnt")
                    && std::is_x86_feature_detected!("movbe")
                    && std::is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::V4 => {
                Isa::V3.is_available()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512cd")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The levels this CPU has, lowest first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.is_available()).collect()
    }

    /// The best level this CPU has.
    pub fn best_available() -> Isa {
        *Isa::available().last().expect("scalar is always available")
    }

    pub(crate) fn level(self) -> Result<Level, Error> {
        if self.is_available() {
            // SAFETY: just checked that the CPU has the level's features.
            Ok(unsafe { Level::new_unchecked(self) })
        } else {
            Err(Error::IsaUnavailable { isa: self.name() })
        }
    }
}

impl core::fmt::Display for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

const UNKNOWN: u8 = u8::MAX;
static CHOSEN: AtomicU8 = AtomicU8::new(UNKNOWN);

thread_local! {
    static FORCED: Cell<Option<Level>> = const { Cell::new(None) };
}

fn encode(isa: Isa) -> u8 {
    isa as u8
}

fn decode(v: u8) -> Isa {
    Isa::ALL[v as usize]
}

#[cold]
fn detect() -> Isa {
    let best = Isa::best_available();
    let chosen = match std::env::var("RECTIFY_ISA") {
        Ok(name) if !name.is_empty() => match Isa::from_name(&name) {
            Some(isa) if isa.is_available() => isa,
            Some(isa) => {
                eprintln!("rectify: RECTIFY_ISA={name}: level {isa} is not available on this CPU; using {best}");
                best
            }
            None => {
                eprintln!("rectify: RECTIFY_ISA={name}: unknown level (expected scalar, v3 or v4); using {best}");
                best
            }
        },
        _ => best,
    };
    CHOSEN.store(encode(chosen), Ordering::Relaxed);
    chosen
}

/// The process-wide level: the best the CPU has, or `RECTIFY_ISA` if it names an
/// available one. Detected once; afterwards one relaxed atomic load.
#[inline]
fn global() -> Isa {
    match CHOSEN.load(Ordering::Relaxed) {
        UNKNOWN => detect(),
        v => decode(v),
    }
}

/// The level the kernels called from this thread use now.
#[inline]
pub(crate) fn level() -> Level {
    if let Some(level) = FORCED.with(Cell::get) {
        return level;
    }
    // SAFETY: `detect` stores only levels that it found available on this CPU.
    unsafe { Level::new_unchecked(global()) }
}

/// The instruction-set level that calls from this thread use now.
///
/// ```
/// let isa = rectify::isa();
/// assert!(isa.is_available());
/// ```
pub fn isa() -> Isa {
    level().isa()
}

/// Runs `f` with the kernels of this thread (and of the worker threads its calls start)
/// forced to `isa`. For tests and benchmarks; errors if the CPU lacks the level.
///
/// ```
/// use rectify::Isa;
/// let y = rectify::with_isa(Isa::Scalar, || {
///     let mut y = [0.0_f32; 3];
///     rectify::relu(&[-1.0, 0.0, 2.0], &mut y);
///     y
/// })?;
/// assert_eq!(y, [0.0, 0.0, 2.0]);
/// # Ok::<(), rectify::Error>(())
/// ```
pub fn with_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> Result<R, Error> {
    let level = isa.level()?;
    Ok(with_level(level, f))
}

pub(crate) fn with_level<R>(level: Level, f: impl FnOnce() -> R) -> R {
    crate::par::with_thread_local(&FORCED, Some(level), f)
}

/// Whether the CPU has AVX-512 BF16, which v4's bf16 ops that multiply round with (not
/// part of x86-64-v4, so not in [`Isa`]; `is_x86_feature_detected!` caches it).
pub(crate) fn bf16_extension() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx512bf16");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the CPU is AMD's, whose streaming stores take another order and threshold
/// (`arch::stream`, `arch::stream_min_bytes`): detected once.
pub(crate) fn amd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AMD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AMD.get_or_init(|| {
            // CPUID leaf 0: the vendor string in EBX, EDX, ECX.
            let id = core::arch::x86_64::__cpuid(0);
            [id.ebx, id.edx, id.ecx].map(u32::to_le_bytes).concat() == b"AuthenticAMD"
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the CPU has AVX-512 FP16, with which v4's f16 ops whose product is the input
/// times an f16 value multiply in f16 (not part of x86-64-v4 either).
pub(crate) fn fp16_extension() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx512fp16");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// What runs for one dtype at the current level, in words (for `rectify info`).
pub fn kernel_path(dtype: DType) -> String {
    let isa = isa();
    let width = match isa {
        Isa::Scalar => 16,
        Isa::V3 => 32,
        Isa::V4 => 64,
    };
    let vector = isa != Isa::Scalar;
    let how = match dtype {
        DType::F16 if isa == Isa::V4 && fp16_extension() => {
            "compare/select on raw 16-bit lanes; ops that multiply widen 16 lanes into one AVX-512 register (vcvtph2ps), compute in f32 and round once (vcvtps2ph), except that where the slope is an f16 value (every PReLU weight; leaky slopes such as 0.25) the product is AVX-512 FP16's vmulph on 32 lanes, the same bits (the forward with slopes in (0, 1], the leaky and PReLU backward with any)"
        }
        DType::F16 if isa == Isa::V4 => {
            "compare/select on raw 16-bit lanes; ops that multiply widen 16 lanes into one AVX-512 register (vcvtph2ps), compute in f32 and round once (vcvtps2ph)"
        }
        DType::F16 if vector => {
            "compare/select on raw 16-bit lanes; ops that multiply widen 16 lanes with F16C, compute in f32 and round once (F16C)"
        }
        DType::BF16 if isa == Isa::V4 && bf16_extension() => {
            "compare/select on raw 16-bit lanes; ops that multiply widen 16 lanes into one AVX-512 register by a shift, compute in f32 and round once (AVX-512 BF16 vcvtneps2bf16; 16 lanes with a denormal among them by integer rounding)"
        }
        DType::BF16 if isa == Isa::V4 => {
            "compare/select on raw 16-bit lanes; ops that multiply widen 16 lanes into one AVX-512 register by a shift, compute in f32 and round once (integer rounding)"
        }
        DType::BF16 if vector => {
            "compare/select on raw 16-bit lanes; ops that multiply widen 16 lanes by a shift, compute in f32 and round once (AVX2 integer rounding)"
        }
        DType::F16 | DType::BF16 => {
            "compare/select on raw 16-bit lanes; ops that multiply widen each lane to f32 in software and round once"
        }
        DType::F32 | DType::F64 if isa == Isa::V4 => {
            "compare + select (NaN kept, -0.0 to +0.0); ReLU out of place in L1 by vfixupimm (one instruction a vector)"
        }
        DType::F32 | DType::F64 => "compare + select (NaN kept, -0.0 to +0.0)",
        _ => "integer max/clamp",
    };
    let mask = if isa == Isa::V4 && matches!(dtype, DType::F16 | DType::BF16 | DType::F32 | DType::F64) {
        "; the 1-bit mask through AVX-512 mask registers (compares, zeroing loads)"
    } else {
        ""
    };
    format!("{isa} ({width}-byte vectors): {how}{mask}")
}
