//! Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011): a counter-based generator, one block of four 32-bit words per 128-bit counter.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// One block for `counter` under `key`.
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// The Philox rounds on eight lanes with AVX2: the same integer operations as
/// [`philox4x32_10`], lane by lane. Each round forms the products of the even and of the odd lanes
/// with `_mm256_mul_epu32` and blends their halves back into 32-bit lanes; the same integer
/// operations, so the same words.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::{M0, M1, W0, W1};
    use std::arch::x86_64::*;

    /// The low and high 32-bit halves of `a * m`, lane by lane.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn mul_hi_lo(a: __m256i, m: __m256i) -> (__m256i, __m256i) {
        let even = _mm256_mul_epu32(a, m);
        let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(a), m);
        let lo = _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd));
        let hi = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
        (hi, lo)
    }

    /// The four words of eight blocks (`w[word]`, lane = block) in block order: register `q`
    /// holds blocks `2q` and `2q + 1`, each as its four words.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn block_major(w: [__m256i; 4]) -> [__m256i; 4] {
        // Per 128-bit lane h: a 4 x 4 transpose gives block 4h + r in r_r.
        let a = _mm256_unpacklo_epi32(w[0], w[1]);
        let b = _mm256_unpackhi_epi32(w[0], w[1]);
        let c = _mm256_unpacklo_epi32(w[2], w[3]);
        let d = _mm256_unpackhi_epi32(w[2], w[3]);
        let r0 = _mm256_unpacklo_epi64(a, c);
        let r1 = _mm256_unpackhi_epi64(a, c);
        let r2 = _mm256_unpacklo_epi64(b, d);
        let r3 = _mm256_unpackhi_epi64(b, d);
        [
            _mm256_permute2x128_si256::<0x20>(r0, r1),
            _mm256_permute2x128_si256::<0x20>(r2, r3),
            _mm256_permute2x128_si256::<0x31>(r0, r1),
            _mm256_permute2x128_si256::<0x31>(r2, r3),
        ]
    }

    /// Philox4x32-10 of eight counters, on registers.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn rounds(mut c: [__m256i; 4], key: [u32; 2]) -> [__m256i; 4] {
        let (m0, m1) = (_mm256_set1_epi32(M0 as i32), _mm256_set1_epi32(M1 as i32));
        let mut k = key;
        for round in 0..10 {
            if round > 0 {
                k[0] = k[0].wrapping_add(W0);
                k[1] = k[1].wrapping_add(W1);
            }
            let (hi0, lo0) = mul_hi_lo(c[0], m0);
            let (hi1, lo1) = mul_hi_lo(c[2], m1);
            let k0 = _mm256_set1_epi32(k[0] as i32);
            let k1 = _mm256_set1_epi32(k[1] as i32);
            c = [
                _mm256_xor_si256(_mm256_xor_si256(hi1, c[1]), k0),
                lo1,
                _mm256_xor_si256(_mm256_xor_si256(hi0, c[3]), k1),
                lo0,
            ];
        }
        c
    }

    /// The counters `(first + l, tail[0], tail[1], tail[2])` of eight consecutive blocks.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn counters8(first: u32, tail: [u32; 3]) -> [__m256i; 4] {
        let lanes = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
        [
            _mm256_add_epi32(_mm256_set1_epi32(first as i32), lanes),
            _mm256_set1_epi32(tail[0] as i32),
            _mm256_set1_epi32(tail[1] as i32),
            _mm256_set1_epi32(tail[2] as i32),
        ]
    }
}

/// The Philox rounds on sixteen lanes with AVX-512, on registers: lane `l` of `c[w]` is word
/// `w` of lane `l`'s counter. The same integer operations as [`philox4x32_10_lanes`].
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use super::{M0, M1, W0, W1};
    use std::arch::x86_64::*;

    /// The high and low 32-bit halves of `a * m`, lane by lane.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn mul_hi_lo(a: __m512i, m: __m512i) -> (__m512i, __m512i) {
        let even = _mm512_mul_epu32(a, m);
        let odd = _mm512_mul_epu32(_mm512_srli_epi64::<32>(a), m);
        let lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64::<32>(odd));
        let hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64::<32>(even), odd);
        (hi, lo)
    }

    /// Philox4x32-10 of sixteen counters.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn rounds(mut c: [__m512i; 4], key: [u32; 2]) -> [__m512i; 4] {
        let (m0, m1) = (_mm512_set1_epi32(M0 as i32), _mm512_set1_epi32(M1 as i32));
        let mut k = key;
        for round in 0..10 {
            if round > 0 {
                k[0] = k[0].wrapping_add(W0);
                k[1] = k[1].wrapping_add(W1);
            }
            let (hi0, lo0) = mul_hi_lo(c[0], m0);
            let (hi1, lo1) = mul_hi_lo(c[2], m1);
            let k0 = _mm512_set1_epi32(k[0] as i32);
            let k1 = _mm512_set1_epi32(k[1] as i32);
            // 0x96: a ^ b ^ c.
            c = [
                _mm512_ternarylogic_epi32::<0x96>(hi1, c[1], k0),
                lo1,
                _mm512_ternarylogic_epi32::<0x96>(hi0, c[3], k1),
                lo0,
            ];
        }
        c
    }

    /// The counters `(first + l, tail[0], tail[1], tail[2])` of sixteen consecutive blocks.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn counters16(first: u32, tail: [u32; 3]) -> [__m512i; 4] {
        let lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        [
            _mm512_add_epi32(_mm512_set1_epi32(first as i32), lanes),
            _mm512_set1_epi32(tail[0] as i32),
            _mm512_set1_epi32(tail[1] as i32),
            _mm512_set1_epi32(tail[2] as i32),
        ]
    }

    /// The four words of sixteen blocks (`w[word]`, lane = block) in block order: register
    /// `q` holds blocks `4q .. 4q + 4`, each as its four words.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn block_major(w: [__m512i; 4]) -> [__m512i; 4] {
        // Per 128-bit lane q: a 4 x 4 transpose gives block 4q + r in r_r.
        let a = _mm512_unpacklo_epi32(w[0], w[1]);
        let b = _mm512_unpackhi_epi32(w[0], w[1]);
        let c = _mm512_unpacklo_epi32(w[2], w[3]);
        let d = _mm512_unpackhi_epi32(w[2], w[3]);
        let r0 = _mm512_unpacklo_epi64(a, c);
        let r1 = _mm512_unpackhi_epi64(a, c);
        let r2 = _mm512_unpacklo_epi64(b, d);
        let r3 = _mm512_unpackhi_epi64(b, d);
        // Then a 4 x 4 transpose of the 128-bit lanes.
        let s0 = _mm512_shuffle_i32x4::<0b01_00_01_00>(r0, r1);
        let s1 = _mm512_shuffle_i32x4::<0b01_00_01_00>(r2, r3);
        let s2 = _mm512_shuffle_i32x4::<0b11_10_11_10>(r0, r1);
        let s3 = _mm512_shuffle_i32x4::<0b11_10_11_10>(r2, r3);
        [
            _mm512_shuffle_i32x4::<0b10_00_10_00>(s0, s1),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(s0, s1),
            _mm512_shuffle_i32x4::<0b10_00_10_00>(s2, s3),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(s2, s3),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_random123_known_answers() {
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }
}
