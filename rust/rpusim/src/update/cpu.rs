//! Compiling a kernel for the CPU it runs on.

/// Runs `f` compiled for AVX2 and POPCNT when the CPU has them: `f` (inlined into a function
/// built with those features) then works on 256-bit vectors and counts bits in one
/// instruction. Same results either way: integer operations and plain float multiplies and
/// adds (no fused multiply-add).
#[inline(always)]
pub(super) fn native<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt")
    {
        // SAFETY: the CPU supports AVX2 and POPCNT, checked just above.
        return unsafe { avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
