//! The kernel of `fire.rs` with AVX-512: sixteen devices of a row at once.
//!
//! For each group of sixteen columns the pulse counts come from the planes in one
//! `and` + `popcount` per train word; a device's first normal is the running sum of the draws
//! of the devices before it (a prefix sum across the lanes); the pulses are applied lane-wise
//! with masks, one pulse of every device with pulses left per round, each pulse's normal
//! gathered from the row's normals (or, when no device of the group has more than one pulse,
//! expanded from the next normals in one instruction). Every lane does what the scalar kernel
//! does to its device, in the same order, so the bits are the same.

use std::arch::x86_64::*;

use crate::device::PulsedDevice;
use crate::rng::Stream;

use super::fire::{fill, RowTarget, Scratch};
use super::lines::{padded, Firing, Payload, Samples, GROUP};

/// The lanes of columns `j0 .. j0 + 16` that exist in a row of `in_size`.
#[inline(always)]
fn lanes(j0: usize, in_size: usize) -> __mmask16 {
    let left = in_size - j0;
    if left >= GROUP {
        0xffff
    } else {
        ((1u32 << left) - 1) as __mmask16
    }
}

/// The running sums of the lanes before each lane (lane 0 gets 0), and the sum of all.
#[target_feature(enable = "avx512f")]
#[inline]
fn prefix_sums(v: __m512i) -> (__m512i, i32) {
    let z = _mm512_setzero_si512();
    let mut s = _mm512_add_epi32(v, _mm512_alignr_epi32::<15>(v, z));
    s = _mm512_add_epi32(s, _mm512_alignr_epi32::<14>(s, z));
    s = _mm512_add_epi32(s, _mm512_alignr_epi32::<12>(s, z));
    s = _mm512_add_epi32(s, _mm512_alignr_epi32::<8>(s, z));
    let total = _mm_extract_epi32::<3>(_mm512_extracti32x4_epi32::<3>(s));
    (_mm512_sub_epi32(s, v), total)
}

/// The devices of one group of sixteen columns that take pulses in a row and sample.
#[derive(Clone, Copy)]
struct Group {
    /// The index of the group's first device in the tile.
    k0: usize,
    /// The lanes with pulses, and those whose weight grows.
    hit: __mmask16,
    up: __mmask16,
    /// Pulses per lane.
    counts: __m512i,
    /// The devices' bounds.
    lo: __m512,
    hi: __m512,
}

/// Applies the pulses of `g` to its weights `w`, one round per pulse (a device with pulses
/// left takes one per round); pulse `p` of the device in lane `l` takes `normal(first[l] +
/// p)` (with `per_pulse`; else no noise). Returns the weights.
///
/// # Safety
/// AVX-512; `normal` is safe for the positions the lanes of `g` draw.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn pulse_group<D: PulsedDevice>(
    dev: &D,
    g: &Group,
    mut w: __m512,
    first: __m512i,
    per_pulse: bool,
    normal: impl Fn(__m512i, __mmask16) -> __m512,
) -> __m512 {
    let mut p = 0;
    let mut active = g.hit;
    while active != 0 {
        let xi = if per_pulse {
            normal(_mm512_add_epi32(first, _mm512_set1_epi32(p)), active)
        } else {
            _mm512_setzero_ps()
        };
        // SAFETY: the caller's guarantee.
        let v = unsafe { dev.pulse16(g.k0, w, g.up, xi, active) };
        w = _mm512_mask_mov_ps(w, active, _mm512_min_ps(_mm512_max_ps(v, g.lo), g.hi));
        p += 1;
        active = _mm512_mask_cmpgt_epu32_mask(g.hit, g.counts, _mm512_set1_epi32(p));
    }
    w
}

/// Adds the pulse counts `c` of the lanes in `hit` to the counters `[down, up]` of the
/// devices of a group of sixteen (`counts` starts at the group), by direction (`up`).
#[inline(always)]
fn count16(counts: &mut [[u64; 2]], hit: __mmask16, up: __mmask16, c: __m512i) {
    let mut n = [0u32; 16];
    // SAFETY: a 16-lane store into an array of 16; AVX-512 F, as every caller of this module.
    unsafe { _mm512_storeu_si512(n.as_mut_ptr().cast(), c) };
    for (l, (&n, count)) in n.iter().zip(counts).enumerate() {
        if hit >> l & 1 == 1 {
            count[usize::from(up >> l & 1 == 1)] += u64::from(n);
        }
    }
}

/// Fires row `i` in every sample, in order; returns the pulses applied.
///
/// # Safety
/// The CPU has AVX-512 ([`crate::cpu::Isa::Avx512`]).
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,popcnt")]
pub(super) unsafe fn fire_row<P: Payload, D: PulsedDevice>(
    dev: &D,
    i: usize,
    samples: &Samples<'_>,
    t: &mut RowTarget<'_>,
    noise: &Stream,
    sub: u32,
    scratch: &mut Scratch,
) -> u64 {
    let mut pulses = 0;
    samples.for_each_firing(i, |sample, words| {
        let address = [sample.sample, i as u32, sub];
        // SAFETY: the caller's guarantee.
        pulses += unsafe { fire_sample::<P, D>(dev, words, sample, t, noise, address, scratch) };
    });
    pulses
}

/// Fires the row whose words are `row` in one sample (see the module documentation).
///
/// # Safety
/// The CPU has AVX-512.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,popcnt")]
unsafe fn fire_sample<P: Payload, D: PulsedDevice>(
    dev: &D,
    row: &[u32],
    s: &Firing<'_>,
    t: &mut RowTarget<'_>,
    noise: &Stream,
    address: [u32; 3],
    scratch: &mut Scratch,
) -> u64 {
    let in_size = t.weights.len();
    let in_pad = padded(in_size);
    let row_neg: __mmask16 = if s.row_neg[address[1] as usize] {
        0xffff
    } else {
        0
    };
    // The lines were made for this kernel, with dense columns; the scalar kernel takes any.
    let Some(dense) = &s.dense else {
        return super::fire::fire_sample::<P, D>(dev, row, s, t, noise, address, scratch);
    };
    let per_pulse = i32::from(dev.c2c_std() > 0.0);
    let per_device = i32::from(t.persistent.is_some());
    // SAFETY (all unaligned loads of 16 lanes below): a group's columns j0 .. j0 + 16 lie
    // inside the padded planes; weights and device arrays are loaded with the group's lanes
    // as the mask, which suppresses the lanes past the end of the row.
    let counts = |g: u32| unsafe { P::counts16(row, dense.cols, in_pad, g as usize * GROUP) };
    // A device's draws: a normal per pulse, and one after them for write noise.
    let draws_of = |c: __m512i| {
        let per_pulse = if per_pulse == 1 {
            c
        } else {
            _mm512_setzero_si512()
        };
        let hit = _mm512_test_epi32_mask(c, c);
        _mm512_mask_add_epi32(per_pulse, hit, per_pulse, _mm512_set1_epi32(per_device))
    };
    // The row's draws and pulses: from the shared words when the columns are uniform.
    let (draws, pulses) = match s.uniform {
        Some(words) => {
            let n = P::pulses(row, |w| words[w]);
            if n == 0 {
                return 0;
            }
            let per = n as usize * per_pulse as usize + per_device as usize;
            let fire = s.packed.fire;
            (fire * per, u64::from(n) * fire as u64)
        }
        None => {
            let (mut draws, mut pulses) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            for &g in dense.groups {
                let c = counts(g);
                draws = _mm512_add_epi32(draws, draws_of(c));
                pulses = _mm512_add_epi32(pulses, c);
            }
            let pulses = _mm512_reduce_add_epi32(pulses) as u32;
            if pulses == 0 {
                return 0;
            }
            (
                _mm512_reduce_add_epi32(draws) as u32 as usize,
                u64::from(pulses),
            )
        }
    };
    let normals = fill(&mut scratch.normals, draws, noise, address);
    let arrays = dev.arrays();
    let (b_min, b_max) = (arrays.b_min[t.k0..].as_ptr(), arrays.b_max[t.k0..].as_ptr());
    let weights = t.weights.as_mut_ptr();
    let persistent = t.persistent.as_deref_mut().map(|p| p.as_mut_ptr());
    // The pulses act on the persistent weights when there are any.
    let stored = persistent.unwrap_or(weights);
    let write_noise = _mm512_set1_ps(t.write_noise);
    let mut pos = 0i32;
    // With `raise_only`, the pulses applied (only the lanes whose weight grows).
    let mut raised = 0u64;
    for &g in dense.groups {
        let j0 = g as usize * GROUP;
        let c = counts(g);
        let hit = _mm512_mask_test_epi32_mask(lanes(j0, in_size), c, c);
        if hit == 0 {
            continue;
        }
        // W grows when d_i x_j < 0: the row's and the column's signs differ.
        let up = dense.neg[g as usize] ^ row_neg;
        // One pulse per device and no write noise: the group draws one normal per lane hit.
        let single = per_device == 0 && _mm512_cmpgt_epu32_mask(c, _mm512_set1_epi32(1)) == 0;
        // The lanes whose pulses are applied: all of them, or those that raise the weight
        // (the others keep the places of their normals).
        let apply = if t.raise_only { hit & up } else { hit };
        if apply == 0 {
            pos += if single {
                hit.count_ones() as i32
            } else {
                prefix_sums(draws_of(c)).1
            };
            continue;
        }
        if t.raise_only {
            raised += u64::from(_mm512_mask_reduce_add_epi32(apply, c) as u32);
        }
        if let Some(counts) = t.counts.as_deref_mut() {
            count16(&mut counts[j0..], apply, up, c);
        }
        // SAFETY: masked loads and stores of the group's lanes (see above); `normals` holds
        // 64 numbers past the row's draws, and the lanes draw positions below `span`.
        unsafe {
            let g = Group {
                k0: t.k0 + j0,
                hit: apply,
                up,
                counts: c,
                lo: _mm512_maskz_loadu_ps(apply, b_min.add(j0)),
                hi: _mm512_maskz_loadu_ps(apply, b_max.add(j0)),
            };
            let w = _mm512_maskz_loadu_ps(apply, stored.add(j0));
            let base = normals.as_ptr().add(pos as usize);
            if single {
                // One pulse per device: the next normals, one per lane with a pulse.
                let xi = if per_pulse == 1 {
                    _mm512_maskz_expand_ps(hit, _mm512_loadu_ps(base))
                } else {
                    _mm512_setzero_ps()
                };
                let v = dev.pulse16(g.k0, w, up, xi, apply);
                let w = _mm512_min_ps(_mm512_max_ps(v, g.lo), g.hi);
                _mm512_mask_storeu_ps(stored.add(j0), apply, w);
                pos += hit.count_ones() as i32;
                continue;
            }
            let draws = draws_of(c);
            let (first, span) = prefix_sums(draws);
            // The group's normals from two or four registers by permutes when it draws at most
            // 32 or 64 of them, else gathered.
            let (r0, r1) = (_mm512_loadu_ps(base), _mm512_loadu_ps(base.add(16)));
            let (r2, r3) = (_mm512_loadu_ps(base.add(32)), _mm512_loadu_ps(base.add(48)));
            let from2 = |at: __m512i, _: __mmask16| _mm512_permutex2var_ps(r0, at, r1);
            let from4 = |at: __m512i, _: __mmask16| {
                let high = _mm512_cmpgt_epi32_mask(at, _mm512_set1_epi32(31));
                let low = _mm512_permutex2var_ps(r0, at, r1);
                _mm512_mask_blend_ps(high, low, _mm512_permutex2var_ps(r2, at, r3))
            };
            let gathered = |at: __m512i, mask: __mmask16| {
                _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, at, base)
            };
            let pp = per_pulse == 1;
            let w = if span <= 32 {
                pulse_group(dev, &g, w, first, pp, from2)
            } else if span <= 64 {
                pulse_group(dev, &g, w, first, pp, from4)
            } else {
                pulse_group(dev, &g, w, first, pp, gathered)
            };
            if per_device == 1 {
                // The weight read: the persistent one plus the normal after the pulses.
                let at = _mm512_add_epi32(first, _mm512_sub_epi32(draws, _mm512_set1_epi32(1)));
                let xi = gathered(at, apply);
                // Clipped to the float32 range, as `numeric::saturate`.
                let read = _mm512_add_ps(w, _mm512_mul_ps(write_noise, xi));
                let read = _mm512_min_ps(
                    _mm512_max_ps(read, _mm512_set1_ps(-f32::MAX)),
                    _mm512_set1_ps(f32::MAX),
                );
                _mm512_mask_storeu_ps(weights.add(j0), apply, read);
            }
            _mm512_mask_storeu_ps(stored.add(j0), apply, w);
            pos += span;
        }
    }
    if t.raise_only {
        return raised;
    }
    pulses
}
