//! The pulse trains of one side of a sample with AVX-512, sixteen lines at a time, for trains
//! of one word (up to 32 slots, the default): the same draws and thresholds as
//! [`super::lines`]'s `side` and [`super::pulse::train_of`], so the same bits.

use std::arch::x86_64::*;

use crate::rng::Stream;

use super::pulse::{train_address, LINES_PER_ADDRESS};

/// The trains of all lines of one side of sample `sample` (values `v`, firing probability
/// `min(1, factor |v_i|)`, `bl <= 32` slots) into `trains` (as long as `v`; zero for the
/// lines that do not fire), the draws made into `draws`.
///
/// # Safety
/// The CPU has AVX-512 (F, BW, VL); `trains.len() == v.len()`, `bl <= 32`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn trains(
    stream: &Stream,
    sample: u32,
    v: &[f32],
    factor: f32,
    bl: u32,
    draws: &mut Vec<u32>,
    trains: &mut [u32],
) {
    let (factor, one) = (_mm512_set1_ps(factor), _mm512_set1_ps(1.0));
    let scale = _mm512_set1_ps(4_294_967_296.0);
    for (c, (lines, out)) in v
        .chunks(LINES_PER_ADDRESS)
        .zip(trains.chunks_mut(LINES_PER_ADDRESS))
        .enumerate()
    {
        let n = lines.len();
        draws.resize(n * bl as usize, 0);
        stream.fill_words(train_address(sample, c), draws);
        for i0 in (0..n).step_by(16) {
            let lanes = if n - i0 >= 16 {
                0xffff
            } else {
                ((1u32 << (n - i0)) - 1) as __mmask16
            };
            // SAFETY (loads and stores): the lanes of `lanes` lie inside `lines`, `out` and,
            // for every slot, inside `draws`.
            unsafe {
                let x = _mm512_maskz_loadu_ps(lanes, lines.as_ptr().add(i0));
                let p = _mm512_min_ps(_mm512_mul_ps(factor, _mm512_abs_ps(x)), one);
                // A draw below p 2^32 fires (truncated, as `bernoulli_threshold`); p >= 1
                // always fires, p 2^32 < 1 never.
                let always = _mm512_mask_cmp_ps_mask::<_CMP_GE_OQ>(lanes, p, one);
                let threshold = _mm512_cvttps_epu32(_mm512_mul_ps(p, scale));
                let mut train = _mm512_setzero_si512();
                for k in 0..bl as usize {
                    let w = _mm512_maskz_loadu_epi32(lanes, draws.as_ptr().add(k * n + i0).cast());
                    let fires = _mm512_mask_cmplt_epu32_mask(lanes, w, threshold) | always;
                    train = _mm512_mask_or_epi32(train, fires, train, _mm512_set1_epi32(1 << k));
                }
                _mm512_mask_storeu_epi32(out.as_mut_ptr().add(i0).cast(), lanes, train);
            }
        }
    }
}
