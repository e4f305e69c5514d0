//! The exact float32 matrix-vector products inside the analog passes, and their summation order.
//!
//! Float sums depend on their order, so the order is part of the model:
//! - forward `v_i = sum_j W_ij u_j`: eight interleaved partial sums (lane `j mod 8`, in
//!   increasing `j`), then the fixed tree of [`reduce8`];
//! - backward `z_j = sum_i W_ij d_i`: one running sum in increasing `i`.
//!
//! [`dot`] and [`axpy_order`] state the orders plainly (the reference implementation uses them);
//! the batched kernels below compute many products at once with SIMD registers, in parallel over
//! blocks of outputs, and give the same bits because every output is summed in the same order.

use crate::threads::for_each_chunk;

const LANES: usize = 8;

/// The fixed reduction of the eight partial sums.
#[inline(always)]
pub fn reduce8(a: [f32; LANES]) -> f32 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// Forward order: `sum_j w_j u_j` with lane `j mod 8` partial sums.
pub fn dot(w: &[f32], u: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    for (j, (a, b)) in w.iter().zip(u).enumerate() {
        acc[j % LANES] += a * b;
    }
    reduce8(acc)
}

/// Backward order: `z += W[i, :] * d_i` for `i` in increasing order, starting from zero.
pub fn axpy_order(w: &[f32], out_size: usize, in_size: usize, d: &[f32]) -> Vec<f32> {
    let mut z = vec![0.0f32; in_size];
    for i in 0..out_size {
        for j in 0..in_size {
            z[j] += w[i * in_size + j] * d[i];
        }
    }
    z
}

/// Estimated nanoseconds of one thread for `macs` multiply-adds of the batched products (about
/// 0.045 ns each with AVX2: a 1024 x 1024 forward product of 100 samples takes 4.3 ms).
pub(crate) fn product_ns(macs: usize) -> usize {
    macs / 20
}

/// A forward kernel: `MR` samples times `NR` rows at once, each in the order of [`dot`].
trait Dots {
    /// # Safety
    /// The CPU has the features the implementation is compiled for.
    unsafe fn dots<const MR: usize, const NR: usize>(
        us: [&[f32]; MR],
        ws: [&[f32]; NR],
    ) -> [[f32; NR]; MR];
}

/// The portable kernel.
struct Portable;

impl Dots for Portable {
    #[inline(always)]
    unsafe fn dots<const MR: usize, const NR: usize>(
        us: [&[f32]; MR],
        ws: [&[f32]; NR],
    ) -> [[f32; NR]; MR] {
        dots(us, ws)
    }
}

/// `MR` samples times `NR` rows of the forward product at once, each in the order of [`dot`].
#[inline(always)]
fn dots<const MR: usize, const NR: usize>(us: [&[f32]; MR], ws: [&[f32]; NR]) -> [[f32; NR]; MR] {
    let n = ws[0].len();
    let full = n - n % LANES;
    let mut acc = [[[0.0f32; LANES]; NR]; MR];
    let mut j = 0;
    while j < full {
        let mut u = [[0.0f32; LANES]; MR];
        for s in 0..MR {
            u[s].copy_from_slice(&us[s][j..j + LANES]);
        }
        for r in 0..NR {
            let mut w = [0.0f32; LANES];
            w.copy_from_slice(&ws[r][j..j + LANES]);
            for s in 0..MR {
                for l in 0..LANES {
                    acc[s][r][l] += w[l] * u[s][l];
                }
            }
        }
        j += LANES;
    }
    for j in full..n {
        for s in 0..MR {
            for r in 0..NR {
                acc[s][r][j - full] += ws[r][j] * us[s][j];
            }
        }
    }
    let mut out = [[0.0f32; NR]; MR];
    for s in 0..MR {
        for r in 0..NR {
            out[s][r] = reduce8(acc[s][r]);
        }
    }
    out
}

/// Forward products of rows `r0..r0 + rows` of `w` with all samples of `u`, written row-major
/// into `vt` (`rows x n_samples`): four samples by two rows at a time, a single sample by eight
/// or four rows (as many independent accumulator chains), remainders one by one.
///
/// # Safety
/// The CPU has the features `K` is compiled for.
#[inline(always)]
unsafe fn forward_rows<K: Dots>(
    w: &[f32],
    in_size: usize,
    r0: usize,
    u: &[f32],
    n_samples: usize,
    vt: &mut [f32],
) {
    let rows = vt.len() / n_samples;
    let row = |r: usize| &w[(r0 + r) * in_size..(r0 + r + 1) * in_size];
    let sample = |s: usize| &u[s * in_size..(s + 1) * in_size];
    let mut s = 0;
    while s < n_samples {
        let quad = n_samples - s >= 4;
        let mut r = 0;
        while r < rows {
            let left = rows - r;
            // SAFETY (the kernel calls): the caller guarantees K's CPU features.
            r += if quad {
                let us = [sample(s), sample(s + 1), sample(s + 2), sample(s + 3)];
                if left >= 2 {
                    store(vt, n_samples, r, s, unsafe {
                        K::dots(us, [row(r), row(r + 1)])
                    })
                } else {
                    store(vt, n_samples, r, s, unsafe { K::dots(us, [row(r)]) })
                }
            } else if left >= 8 {
                let ws = std::array::from_fn::<_, 8, _>(|p| row(r + p));
                store(vt, n_samples, r, s, unsafe { K::dots([sample(s)], ws) })
            } else if left >= 4 {
                let ws = std::array::from_fn::<_, 4, _>(|p| row(r + p));
                store(vt, n_samples, r, s, unsafe { K::dots([sample(s)], ws) })
            } else {
                store(vt, n_samples, r, s, unsafe {
                    K::dots([sample(s)], [row(r)])
                })
            };
        }
        s += if quad { 4 } else { 1 };
    }
}

/// Writes the products of samples `s..s + MR` and rows `r..r + NR` into `vt`; returns `NR`.
#[inline(always)]
fn store<const MR: usize, const NR: usize>(
    vt: &mut [f32],
    n_samples: usize,
    r: usize,
    s: usize,
    v: [[f32; NR]; MR],
) -> usize {
    for (q, vq) in v.iter().enumerate() {
        for (p, x) in vq.iter().enumerate() {
            vt[(r + p) * n_samples + s + q] = *x;
        }
    }
    NR
}

fn forward_rows_dispatch(
    w: &[f32],
    in_size: usize,
    r0: usize,
    u: &[f32],
    n_samples: usize,
    vt: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2::forward_rows(w, in_size, r0, u, n_samples, vt) };
    }
    // SAFETY: the portable kernel needs no CPU feature.
    unsafe { forward_rows::<Portable>(w, in_size, r0, u, n_samples, vt) }
}

/// Rows per parallel chunk: about 64 KiB of weights, so that a chunk stays in L2.
fn rows_per_chunk(in_size: usize) -> usize {
    ((64 * 1024 / 4) / in_size.max(1)).clamp(2, 64) & !1
}

/// `V = U W^T` for `n_samples` inputs `u` (`n_samples x in_size`), row-major `n_samples x
/// out_size`; every element equal to [`dot`] of its row and sample.
pub fn forward_product(
    w: &[f32],
    out_size: usize,
    in_size: usize,
    u: &[f32],
    n_samples: usize,
) -> Vec<f32> {
    if n_samples == 0 || out_size == 0 {
        return Vec::new();
    }
    let rows = rows_per_chunk(in_size);
    let mut vt = vec![0.0f32; out_size * n_samples];
    for_each_chunk(
        &mut vt,
        rows * n_samples,
        product_ns(out_size * in_size * n_samples),
        |c, chunk| forward_rows_dispatch(w, in_size, c * rows, u, n_samples, chunk),
    );
    transposed(vt, out_size, n_samples)
}

/// Columns per parallel chunk of the backward product: two SIMD registers wide.
const BACKWARD_COLS: usize = 2 * LANES;

/// Backward products for columns `c0..c0 + cols` and all samples of `d`, written into `zt`
/// (`cols x n_samples`).
#[inline(always)]
fn backward_cols(
    w: &[f32],
    out_size: usize,
    in_size: usize,
    c0: usize,
    d: &[f32],
    n_samples: usize,
    zt: &mut [f32],
) {
    let cols = zt.len() / n_samples;
    if cols == BACKWARD_COLS {
        let mut s = 0;
        while s + 4 <= n_samples {
            let mut acc = [[0.0f32; BACKWARD_COLS]; 4];
            for i in 0..out_size {
                let mut wi = [0.0f32; BACKWARD_COLS];
                wi.copy_from_slice(&w[i * in_size + c0..i * in_size + c0 + BACKWARD_COLS]);
                for q in 0..4 {
                    let di = d[(s + q) * out_size + i];
                    for l in 0..BACKWARD_COLS {
                        acc[q][l] += wi[l] * di;
                    }
                }
            }
            for (q, a) in acc.iter().enumerate() {
                for (l, v) in a.iter().enumerate() {
                    zt[l * n_samples + s + q] = *v;
                }
            }
            s += 4;
        }
        for s in s..n_samples {
            let mut acc = [0.0f32; BACKWARD_COLS];
            for i in 0..out_size {
                let di = d[s * out_size + i];
                for l in 0..BACKWARD_COLS {
                    acc[l] += w[i * in_size + c0 + l] * di;
                }
            }
            for (l, v) in acc.iter().enumerate() {
                zt[l * n_samples + s] = *v;
            }
        }
    } else {
        for s in 0..n_samples {
            for l in 0..cols {
                let mut z = 0.0f32;
                for i in 0..out_size {
                    z += w[i * in_size + c0 + l] * d[s * out_size + i];
                }
                zt[l * n_samples + s] = z;
            }
        }
    }
}

fn backward_cols_dispatch(
    w: &[f32],
    out_size: usize,
    in_size: usize,
    c0: usize,
    d: &[f32],
    n_samples: usize,
    zt: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2::backward_cols(w, out_size, in_size, c0, d, n_samples, zt) };
    }
    backward_cols(w, out_size, in_size, c0, d, n_samples, zt)
}

/// Up to this many samples the backward product streams the rows of `W` ([`backward_stream`]);
/// more samples share each loaded column panel ([`backward_cols`]).
const STREAM_MAX_SAMPLES: usize = 3;

/// Columns per parallel chunk of [`backward_stream`]: a sample's partial sums stay in L1.
const STREAM_COLS: usize = 256;

/// Backward products of columns `c0..c0 + cols` for all samples, row by row of `w`:
/// `z[s][l] += W[i][c0 + l] d[s][i]` for `i` in increasing order, the order of
/// [`axpy_order`]. `z` (`n_samples x cols`) is zero on entry. Every column is its own chain of
/// adds, so a single sample runs at the throughput of the adds, not at their latency.
#[inline(always)]
fn backward_stream(
    w: &[f32],
    out_size: usize,
    in_size: usize,
    c0: usize,
    d: &[f32],
    n_samples: usize,
    z: &mut [f32],
) {
    let cols = z.len() / n_samples;
    for i in 0..out_size {
        let wi = &w[i * in_size + c0..i * in_size + c0 + cols];
        for (s, zs) in z.chunks_exact_mut(cols).enumerate() {
            let di = d[s * out_size + i];
            for (z, &w) in zs.iter_mut().zip(wi) {
                *z += w * di;
            }
        }
    }
}

fn backward_stream_dispatch(
    w: &[f32],
    out_size: usize,
    in_size: usize,
    c0: usize,
    d: &[f32],
    n_samples: usize,
    z: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2::backward_stream(w, out_size, in_size, c0, d, n_samples, z) };
    }
    backward_stream(w, out_size, in_size, c0, d, n_samples, z)
}

/// `Z = D W` for `n_samples` errors `d` (`n_samples x out_size`), row-major `n_samples x
/// in_size`; every element summed in the order of [`axpy_order`].
pub fn backward_product(
    w: &[f32],
    out_size: usize,
    in_size: usize,
    d: &[f32],
    n_samples: usize,
) -> Vec<f32> {
    if n_samples == 0 || in_size == 0 {
        return Vec::new();
    }
    let work = product_ns(out_size * in_size * n_samples);
    if n_samples <= STREAM_MAX_SAMPLES {
        // Chunk `c` holds columns `c * width ..` of every sample, `n_samples x width`.
        let width = STREAM_COLS.min(in_size);
        let mut chunks = vec![0.0f32; in_size * n_samples];
        for_each_chunk(&mut chunks, width * n_samples, work, |c, z| {
            backward_stream_dispatch(w, out_size, in_size, c * width, d, n_samples, z)
        });
        // One sample, or one chunk: the chunks are already the rows of z.
        if width == in_size || n_samples == 1 {
            return chunks;
        }
        let mut z = vec![0.0f32; in_size * n_samples];
        for (c, chunk) in chunks.chunks(width * n_samples).enumerate() {
            let cols = chunk.len() / n_samples;
            for (s, part) in chunk.chunks_exact(cols).enumerate() {
                let at = s * in_size + c * width;
                z[at..at + cols].copy_from_slice(part);
            }
        }
        return z;
    }
    let mut zt = vec![0.0f32; in_size * n_samples];
    for_each_chunk(&mut zt, BACKWARD_COLS * n_samples, work, |c, chunk| {
        backward_cols_dispatch(w, out_size, in_size, c * BACKWARD_COLS, d, n_samples, chunk)
    });
    transposed(zt, in_size, n_samples)
}

/// Row-major `rows x cols` to row-major `cols x rows` (a single row or column is its own
/// transpose).
fn transposed(a: Vec<f32>, rows: usize, cols: usize) -> Vec<f32> {
    if rows == 1 || cols == 1 {
        return a;
    }
    let mut t = vec![0.0f32; a.len()];
    const B: usize = 32;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    t[c * rows + r] = a[r * cols + c];
                }
            }
        }
    }
    t
}

/// The same kernels written with AVX2 intrinsics: LLVM does not keep the portable versions'
/// accumulator arrays in registers. Multiplies and adds stay separate (no FMA), lane by lane,
/// so every output has the bits of the portable order.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{reduce8, BACKWARD_COLS, LANES};
    use std::arch::x86_64::*;

    /// `MR x NR` forward dot products, as [`super::dots`].
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn dots<const MR: usize, const NR: usize>(
        us: [&[f32]; MR],
        ws: [&[f32]; NR],
    ) -> [[f32; NR]; MR] {
        let n = ws[0].len();
        let full = n - n % LANES;
        // SAFETY (all loads below): j + 8 <= full <= n, the length of every slice.
        let mut acc = [[_mm256_setzero_ps(); NR]; MR];
        let mut j = 0;
        while j < full {
            let mut wv = [_mm256_setzero_ps(); NR];
            for r in 0..NR {
                wv[r] = unsafe { _mm256_loadu_ps(ws[r].as_ptr().add(j)) };
            }
            for s in 0..MR {
                let uv = unsafe { _mm256_loadu_ps(us[s].as_ptr().add(j)) };
                for r in 0..NR {
                    acc[s][r] = _mm256_add_ps(acc[s][r], _mm256_mul_ps(wv[r], uv));
                }
            }
            j += LANES;
        }
        let mut out = [[0.0f32; NR]; MR];
        for s in 0..MR {
            for r in 0..NR {
                let mut lanes = [0.0f32; LANES];
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[s][r]) };
                for j in full..n {
                    lanes[j - full] += ws[r][j] * us[s][j];
                }
                out[s][r] = reduce8(lanes);
            }
        }
        out
    }

    /// The AVX2 kernel of [`super::forward_rows`].
    pub(super) struct Avx2;

    impl super::Dots for Avx2 {
        #[inline(always)]
        unsafe fn dots<const MR: usize, const NR: usize>(
            us: [&[f32]; MR],
            ws: [&[f32]; NR],
        ) -> [[f32; NR]; MR] {
            // SAFETY: the caller guarantees AVX2 (the trait's contract).
            unsafe { dots(us, ws) }
        }
    }

    /// [`super::forward_rows`] with the AVX2 kernel.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn forward_rows(
        w: &[f32],
        in_size: usize,
        r0: usize,
        u: &[f32],
        n_samples: usize,
        vt: &mut [f32],
    ) {
        // SAFETY: AVX2 is enabled for this function.
        unsafe { super::forward_rows::<Avx2>(w, in_size, r0, u, n_samples, vt) }
    }

    /// [`super::backward_stream`] compiled for AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn backward_stream(
        w: &[f32],
        out_size: usize,
        in_size: usize,
        c0: usize,
        d: &[f32],
        n_samples: usize,
        z: &mut [f32],
    ) {
        super::backward_stream(w, out_size, in_size, c0, d, n_samples, z)
    }

    /// As [`super::backward_cols`].
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn backward_cols(
        w: &[f32],
        out_size: usize,
        in_size: usize,
        c0: usize,
        d: &[f32],
        n_samples: usize,
        zt: &mut [f32],
    ) {
        let cols = zt.len() / n_samples;
        if cols != BACKWARD_COLS {
            return super::backward_cols(w, out_size, in_size, c0, d, n_samples, zt);
        }
        // Pack the 16 columns into one contiguous panel: the rows of W are in_size apart, and
        // walking down a column block with that stride thrashes the caches.
        let mut panel = vec![0.0f32; out_size * BACKWARD_COLS];
        for (i, p) in panel.chunks_exact_mut(BACKWARD_COLS).enumerate() {
            p.copy_from_slice(&w[i * in_size + c0..i * in_size + c0 + BACKWARD_COLS]);
        }
        assert!(d.len() >= n_samples * out_size);
        let mut store = |acc: &[[__m256; 2]], s: usize| {
            for (q, a) in acc.iter().enumerate() {
                let mut lanes = [0.0f32; BACKWARD_COLS];
                // SAFETY: `lanes` holds two registers.
                unsafe {
                    _mm256_storeu_ps(lanes.as_mut_ptr(), a[0]);
                    _mm256_storeu_ps(lanes.as_mut_ptr().add(LANES), a[1]);
                }
                for (l, v) in lanes.iter().enumerate() {
                    zt[l * n_samples + s + q] = *v;
                }
            }
        };
        let mut s = 0;
        while s < n_samples {
            let group = (n_samples - s).min(4);
            let mut acc = [[_mm256_setzero_ps(); 2]; 4];
            for (i, p) in panel.chunks_exact(BACKWARD_COLS).enumerate() {
                // SAFETY: each panel row holds 16 values.
                let (w0, w1) = unsafe {
                    (
                        _mm256_loadu_ps(p.as_ptr()),
                        _mm256_loadu_ps(p.as_ptr().add(LANES)),
                    )
                };
                for (q, a) in acc.iter_mut().enumerate().take(group) {
                    let dv = _mm256_set1_ps(d[(s + q) * out_size + i]);
                    a[0] = _mm256_add_ps(a[0], _mm256_mul_ps(w0, dv));
                    a[1] = _mm256_add_ps(a[1], _mm256_mul_ps(w1, dv));
                }
            }
            store(&acc[..group], s);
            s += group;
        }
    }
}
