//! Eight float lanes: the vector the product kernels are written in, as a plain array (any
//! CPU; LLVM vectorises it where it can) or as an AVX register. Each multiply-add is fused
//! (one rounding, IEEE `fma`), lane by lane, so every implementation gives the same bits.

/// Eight float lanes.
pub(super) trait Lanes: Copy {
    fn zero() -> Self;

    fn splat(v: f32) -> Self;

    /// Eight floats from `p`.
    ///
    /// # Safety
    /// `p .. p + 8` is readable (and the CPU has the implementation's features).
    unsafe fn load(p: *const f32) -> Self;

    /// The first `n < 8` floats from `p`, zeros after them.
    ///
    /// # Safety
    /// `p .. p + n` is readable (and the CPU has the implementation's features).
    unsafe fn load_first(p: *const f32, n: usize) -> Self;

    /// # Safety
    /// `p .. p + 8` is writable (and the CPU has the implementation's features).
    unsafe fn store(self, p: *mut f32);

    /// Stores the first `n < 8` lanes.
    ///
    /// # Safety
    /// `p .. p + n` is writable (and the CPU has the implementation's features).
    unsafe fn store_first(self, p: *mut f32, n: usize);

    /// `self + a * b` with one rounding (a fused multiply-add).
    fn mul_add(self, a: Self, b: Self) -> Self;

    /// The sums of the lanes of eight vectors, each as [`super::reduce8`]: lane `k` of the
    /// result is the sum of `v[k]`.
    fn sums(v: [Self; 8]) -> [f32; 8];
}

impl Lanes for [f32; 8] {
    #[inline(always)]
    fn zero() -> Self {
        [0.0; 8]
    }

    #[inline(always)]
    fn splat(v: f32) -> Self {
        [v; 8]
    }

    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller's guarantee.
        unsafe { p.cast::<[f32; 8]>().read_unaligned() }
    }

    #[inline(always)]
    unsafe fn load_first(p: *const f32, n: usize) -> Self {
        let mut v = [0.0; 8];
        for (l, x) in v.iter_mut().enumerate().take(n) {
            // SAFETY: the caller's guarantee.
            *x = unsafe { *p.add(l) };
        }
        v
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller's guarantee.
        unsafe { p.cast::<[f32; 8]>().write_unaligned(self) }
    }

    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, n: usize) {
        for (l, x) in self.iter().enumerate().take(n) {
            // SAFETY: the caller's guarantee.
            unsafe { *p.add(l) = *x };
        }
    }

    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        let mut v = self;
        for l in 0..8 {
            v[l] = a[l].mul_add(b[l], v[l]);
        }
        v
    }

    #[inline(always)]
    fn sums(v: [Self; 8]) -> [f32; 8] {
        v.map(super::reduce8)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// Lanes below `n` set, as the mask of `maskload`/`maskstore`.
    #[inline(always)]
    fn first_lanes(n: usize) -> __m256i {
        // SAFETY: AVX, which every user of these lanes has (AVX2 or more).
        unsafe {
            let index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), index)
        }
    }

    // SAFETY (every method): the lanes are used only in functions compiled with AVX2 and FMA
    // (or AVX-512 VL), into which these are inlined; pointers as the trait says.
    impl super::Lanes for __m256 {
        #[inline(always)]
        fn zero() -> Self {
            unsafe { _mm256_setzero_ps() }
        }

        #[inline(always)]
        fn splat(v: f32) -> Self {
            unsafe { _mm256_set1_ps(v) }
        }

        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { _mm256_loadu_ps(p) }
        }

        #[inline(always)]
        unsafe fn load_first(p: *const f32, n: usize) -> Self {
            unsafe { _mm256_maskload_ps(p, first_lanes(n)) }
        }

        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm256_storeu_ps(p, self) }
        }

        #[inline(always)]
        unsafe fn store_first(self, p: *mut f32, n: usize) {
            unsafe { _mm256_maskstore_ps(p, first_lanes(n), self) }
        }

        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            unsafe { _mm256_fmadd_ps(a, b, self) }
        }

        /// Pairwise sums by horizontal adds, in the tree of `reduce8`: `hadd` adds neighbours,
        /// twice, then the two 128-bit halves are added.
        #[inline(always)]
        fn sums(v: [Self; 8]) -> [f32; 8] {
            unsafe {
                let q0 = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
                let q1 = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
                let s = _mm256_add_ps(
                    _mm256_permute2f128_ps::<0x20>(q0, q1),
                    _mm256_permute2f128_ps::<0x31>(q0, q1),
                );
                let mut out = [0.0f32; 8];
                _mm256_storeu_ps(out.as_mut_ptr(), s);
                out
            }
        }
    }
}
