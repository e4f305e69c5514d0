//! Which instruction set the kernels run with: detected once, capped by `RPUSIM_ISA` or
//! [`set_max_isa`]. Every kernel has a portable version, and every faster version gives the
//! same bits (integer operations, float operations each rounded once: a product's multiply-add
//! is one IEEE fused multiply-add everywhere, other multiplies and adds are never fused), so the
//! choice changes the speed only.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// An instruction-set level, from the plainest to the widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust, for any CPU.
    Portable = 1,
    /// x86-64 with AVX2, FMA and POPCNT.
    Avx2 = 2,
    /// x86-64 with AVX-512 F, BW, DQ, VL and VPOPCNTDQ (and AVX2, FMA).
    Avx512 = 3,
}

impl Isa {
    /// All levels, plainest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// The name `RPUSIM_ISA` and [`std::str::FromStr`] take: `portable`, `avx2`, `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    fn from_u8(v: u8) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| *i as u8 == v)
    }
}

impl std::str::FromStr for Isa {
    type Err = Error;

    fn from_str(s: &str) -> Result<Isa> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                Error::invalid(
                    "isa",
                    format!("expected one of portable, avx2, avx512, got {s:?}"),
                )
            })
    }
}

/// The widest level this CPU supports (read once).
pub fn detected_isa() -> Isa {
    static DETECTED: OnceLock<Isa> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

fn detect() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma") && has!("popcnt");
        let avx512 = has!("avx512f")
            && has!("avx512bw")
            && has!("avx512dq")
            && has!("avx512vl")
            && has!("avx512vpopcntdq");
        if avx2 && avx512 {
            return Isa::Avx512;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// The cap set by [`set_max_isa`] (0: none yet, read `RPUSIM_ISA`).
static CAP: AtomicU8 = AtomicU8::new(0);

fn env_cap() -> Isa {
    static ENV: OnceLock<Isa> = OnceLock::new();
    *ENV.get_or_init(|| {
        std::env::var("RPUSIM_ISA")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Isa::Avx512)
    })
}

/// Caps the instruction set of every following call (all threads) at `isa`; the CPU's own
/// limit still applies. For comparing the kernels' speed, or ruling them out when debugging:
/// the results are the same bits at every level.
pub fn set_max_isa(isa: Isa) {
    CAP.store(isa as u8, Ordering::Relaxed);
}

/// The level the kernels use now: the detected one, capped.
#[inline]
pub fn isa() -> Isa {
    let cap = Isa::from_u8(CAP.load(Ordering::Relaxed)).unwrap_or_else(env_cap);
    detected_isa().min(cap)
}

/// Runs `f` compiled for the instruction set `isa`: `f` (an `#[inline(always)]` closure,
/// inlined into a function built with those features) then works on 256-bit (AVX2) or 512-bit
/// (AVX-512) vectors where the compiler vectorises it, and counts bits in one instruction. The
/// same results either way.
#[inline(always)]
pub(crate) fn compiled_for<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match isa {
        // SAFETY: `isa` never exceeds what the CPU has.
        Isa::Avx512 => return unsafe { avx512(f) },
        // SAFETY: as above.
        Isa::Avx2 => return unsafe { avx2(f) },
        Isa::Portable => {}
    }
    let _ = isa;
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,popcnt")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,popcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for isa in Isa::ALL {
            assert_eq!(isa.name().parse::<Isa>().unwrap(), isa);
        }
        assert_eq!(" AVX2 ".parse::<Isa>().unwrap(), Isa::Avx2);
        assert!("sse".parse::<Isa>().is_err());
    }
}
