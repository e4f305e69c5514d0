//! Standard normals from 16-bit words by a fixed inverse-CDF polynomial: two per 32-bit word,
//! eight per Philox block.
//!
//! A word `h` (16 bits) gives `z = ±|z|`: the top bit is the sign, the low 15 bits `k` pick
//! `|z| = Φ⁻¹(1 − v/2)` with `v = (2k + 1) / 2¹⁶`, the midpoint of bin `k` of the upper-tail
//! probability `P(|Z| > |z|)`, so `|z|` runs from 1.9e-5 to 4.33 in 32 768 steps. With
//! `2k + 1 = 2^e m` (`e` in 0..15, `m` in [1, 2)), `|z|` is a polynomial of degree 5 in
//! `t = m − 1.5` per octave `e`, evaluated by Horner's rule with each multiply and add rounded
//! (no fused multiply-add): the same bits on every platform, in scalar code and in vectors,
//! where the octave's coefficients are one permute from a register. The coefficients were
//! fitted by `tools/fit_normal.py`; the float32 values differ from the exact quantiles by at
//! most 3.6e-6 (tested below), a tenth of the spacing of neighbouring values at the centre.
//!
//! The distribution is the normal one truncated at ±4.33 and resolved in 65 536 values (the
//! cycle-to-cycle noise of aihwkit's CPU path draws from a table of 32 768): mean 0, variance
//! 1 − 3e-4, every tail probability `P(|Z| > a)` exact to 1/32 768.

/// The coefficients `c_d` of `|z| = c0 + t (c1 + t (c2 + ...))` per octave `e` (columns).
const COEFFICIENTS: [[f32; 16]; 6] = [
    [
        4.324919, 4.0762067, 3.9151633, 3.7412267, 3.5633085, 3.3771472, 3.1815612, 2.9750226,
        2.755551, 2.5205045, 2.2662292, 1.9874305, 1.6759425, 1.3180139, 0.88714975, 0.31864268,
    ],
    [
        0.0,
        0.0,
        -0.16235872,
        -0.167509,
        -0.17492713,
        -0.1833701,
        -0.19311129,
        -0.20451261,
        -0.21809447,
        -0.23463154,
        -0.25533822,
        -0.28224567,
        -0.31905878,
        -0.37342206,
        -0.46442077,
        -0.6593035,
    ],
    [
        0.0,
        0.0,
        0.0,
        0.054317694,
        0.054450996,
        0.056668203,
        0.059193365,
        0.0620707,
        0.065377295,
        0.06921212,
        0.07369885,
        0.07897342,
        0.085103326,
        0.09167948,
        0.095441565,
        0.06901523,
    ],
    [
        0.0,
        0.0,
        0.0,
        -0.023680763,
        -0.023485295,
        -0.024342585,
        -0.025338642,
        -0.026483474,
        -0.027793523,
        -0.029302252,
        -0.031057432,
        -0.033121362,
        -0.0355783,
        -0.03856916,
        -0.04269204,
        -0.05714959,
    ],
    [
        0.0,
        0.0,
        0.0,
        0.0,
        0.012557938,
        0.013253289,
        0.0138780605,
        0.014534194,
        0.015248195,
        0.016048158,
        0.016963277,
        0.01802684,
        0.019279582,
        0.02076996,
        0.022496985,
        0.02151815,
    ],
    [
        0.0,
        0.0,
        0.0,
        0.0,
        -0.0067562526,
        -0.0072593614,
        -0.0076441956,
        -0.008006603,
        -0.0083913645,
        -0.008820519,
        -0.009307119,
        -0.009869003,
        -0.010527462,
        -0.011308907,
        -0.012253814,
        -0.014381889,
    ],
];

/// The bits of `2k + 1` as a float: exponent `e + 127`, mantissa `m`.
const ODD_MASK: u32 = 0xfffe;
const MANTISSA: u32 = 0x007f_ffff;
const ONE: u32 = 0x3f80_0000;
const SIGN: u32 = 0x8000;

/// The standard normal of the low 16 bits of `h`.
#[inline(always)]
pub fn normal16(h: u32) -> f32 {
    let x = (((h << 1) & ODD_MASK) | 1) as f32;
    let bits = x.to_bits();
    let e = ((bits >> 23) - 127) as usize;
    let t = f32::from_bits((bits & MANTISSA) | ONE) - 1.5;
    let c = |d: usize| COEFFICIENTS[d][e];
    let mut p = c(5);
    for d in (0..5).rev() {
        p = c(d) + t * p;
    }
    f32::from_bits(p.to_bits() ^ ((h & SIGN) << 16))
}

/// The eight normals of one Philox block: element `2w + h` from half `h` (0: the low 16 bits)
/// of word `w`.
#[inline(always)]
pub fn normals_of_block(words: [u32; 4]) -> [f32; 8] {
    // A plain loop: `array::from_fn`'s closure may be left out of line.
    let mut out = [0.0f32; 8];
    for (k, o) in out.iter_mut().enumerate() {
        *o = normal16(words[k / 2] >> (16 * (k % 2)));
    }
    out
}

/// [`normal16`] of eight lanes with AVX2 (the octave's coefficients from two permutes).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::{COEFFICIENTS, MANTISSA, ODD_MASK, ONE, SIGN};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn normals(h: __m256i) -> __m256 {
        let set = |v: u32| _mm256_set1_epi32(v as i32);
        let odd = _mm256_or_si256(
            _mm256_and_si256(_mm256_slli_epi32::<1>(h), set(ODD_MASK)),
            set(1),
        );
        let bits = _mm256_castps_si256(_mm256_cvtepi32_ps(odd));
        let e = _mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), set(127));
        // The sign bit of `high` says e >= 8: the upper half of the octaves.
        let high = _mm256_castsi256_ps(_mm256_slli_epi32::<28>(e));
        let m = _mm256_or_si256(_mm256_and_si256(bits, set(MANTISSA)), set(ONE));
        let t = _mm256_sub_ps(_mm256_castsi256_ps(m), _mm256_set1_ps(1.5));
        let c = |d: usize| {
            // SAFETY: each half of a row of 16 coefficients is 8 floats, one unaligned load.
            let (lo, hi) = unsafe {
                (
                    _mm256_loadu_ps(COEFFICIENTS[d].as_ptr()),
                    _mm256_loadu_ps(COEFFICIENTS[d].as_ptr().add(8)),
                )
            };
            _mm256_blendv_ps(
                _mm256_permutevar8x32_ps(lo, e),
                _mm256_permutevar8x32_ps(hi, e),
                high,
            )
        };
        let mut p = c(5);
        for d in (0..5).rev() {
            p = _mm256_add_ps(c(d), _mm256_mul_ps(t, p));
        }
        let sign = _mm256_slli_epi32::<16>(_mm256_and_si256(h, set(SIGN)));
        _mm256_xor_ps(p, _mm256_castsi256_ps(sign))
    }
}

/// [`normal16`] of sixteen lanes with AVX-512 (the octave's coefficients from one permute).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use super::{COEFFICIENTS, MANTISSA, ODD_MASK, ONE, SIGN};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn normals(h: __m512i) -> __m512 {
        let set = |v: u32| _mm512_set1_epi32(v as i32);
        let odd = _mm512_or_si512(
            _mm512_and_si512(_mm512_slli_epi32::<1>(h), set(ODD_MASK)),
            set(1),
        );
        let bits = _mm512_castps_si512(_mm512_cvtepi32_ps(odd));
        let e = _mm512_sub_epi32(_mm512_srli_epi32::<23>(bits), set(127));
        let m = _mm512_or_si512(_mm512_and_si512(bits, set(MANTISSA)), set(ONE));
        let t = _mm512_sub_ps(_mm512_castsi512_ps(m), _mm512_set1_ps(1.5));
        // SAFETY: a row of coefficients is 16 floats, one unaligned load.
        let c = |d: usize| {
            _mm512_permutexvar_ps(e, unsafe { _mm512_loadu_ps(COEFFICIENTS[d].as_ptr()) })
        };
        let mut p = c(5);
        for d in (0..5).rev() {
            p = _mm512_add_ps(c(d), _mm512_mul_ps(t, p));
        }
        let sign = _mm512_slli_epi32::<16>(_mm512_and_si512(h, set(SIGN)));
        _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(p), sign))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Φ⁻¹(q)` for `q` in (0, 1/2], by bisection on `erfc` in f64.
    fn lower_quantile(q: f64) -> f64 {
        let cdf = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
        let (mut lo, mut hi) = (-10.0f64, 0.0f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if cdf(mid) < q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    #[test]
    fn every_value_is_its_quantile_to_four_millionths() {
        let mut worst = 0.0f64;
        for k in 0..32_768u32 {
            let exact = -lower_quantile(f64::from(2 * k + 1) / 131_072.0);
            let z = normal16(k);
            assert!(z > 0.0, "k {k}");
            assert_eq!(normal16(k | SIGN).to_bits(), (-z).to_bits());
            worst = worst.max((f64::from(z) - exact).abs());
        }
        assert!(worst < 4e-6, "largest error {worst}");
        // The extremes: the outermost bin's midpoint and the innermost.
        assert!((normal16(0) - 4.3255).abs() < 1e-3, "{}", normal16(0));
        assert!(normal16(0x7fff) < 4e-5);
    }

    #[test]
    fn magnitudes_fall_with_k() {
        for k in 1..32_768u32 {
            assert!(normal16(k) < normal16(k - 1), "k {k}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_versions_equal_the_scalar_one() {
        use std::arch::x86_64::*;
        let isa = crate::cpu::detected_isa();
        for first in (0..65_536u32).step_by(16) {
            let h: [u32; 16] = std::array::from_fn(|l| first + l as u32);
            let expected = h.map(normal16);
            if isa >= crate::cpu::Isa::Avx2 {
                for half in 0..2 {
                    let mut out = [0.0f32; 8];
                    // SAFETY: AVX2 is there; loads and stores of 8 lanes.
                    unsafe {
                        let v = _mm256_loadu_si256(h[8 * half..].as_ptr().cast());
                        _mm256_storeu_ps(out.as_mut_ptr(), avx2::normals(v));
                    }
                    assert_eq!(
                        out.map(f32::to_bits),
                        std::array::from_fn(|l| expected[8 * half + l].to_bits())
                    );
                }
            }
            if isa >= crate::cpu::Isa::Avx512 {
                let mut out = [0.0f32; 16];
                // SAFETY: AVX-512 is there; a load and a store of 16 lanes.
                unsafe {
                    let v = _mm512_loadu_si512(h.as_ptr().cast());
                    _mm512_storeu_ps(out.as_mut_ptr(), avx512::normals(v));
                }
                assert_eq!(out.map(f32::to_bits), expected.map(f32::to_bits));
            }
        }
    }
}
