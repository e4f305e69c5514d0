//! The exact float32 matrix-vector products inside the analog passes, and their summation order.
//!
//! Float sums depend on their order, so the order is part of the model:
//! - forward `v_i = sum_j W_ij u_j`: eight interleaved partial sums (lane `j mod 8`, in
//!   increasing `j`), then the fixed tree of [`reduce8`];
//! - backward `z_j = sum_i W_ij d_i`: one running sum in increasing `i`;
//! - every step of a sum is a fused multiply-add (`acc = fma(w, u, acc)`, one rounding), as a
//!   float32 GEMM does: half the instructions of a separate multiply and add.
//!
//! [`dot`] and [`axpy_order`] state the orders plainly (the reference implementation uses them);
//! the batched kernels below compute many products at once, in parallel over blocks of outputs,
//! and give the same bits because every output is summed in the same order. They are written
//! once, over eight float lanes ([`lanes::Lanes`]), and compiled three times: plain, with AVX2
//! and FMA, and with AVX-512 VL (32 vector registers: larger blocks of samples and rows).

mod lanes;

use std::cell::RefCell;

use crate::cpu::{isa, Isa};
use crate::threads::{for_each_range, Disjoint};

/// The output of a product, written by the threads in disjoint blocks.
type Out = Disjoint<f32>;
use lanes::Lanes;

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
        acc[j % LANES] = a.mul_add(*b, acc[j % LANES]);
    }
    reduce8(acc)
}

/// Backward order: `z += W[i, :] * d_i` for `i` in increasing order, starting from zero.
pub fn axpy_order(w: &[f32], out_size: usize, in_size: usize, d: &[f32]) -> Vec<f32> {
    let mut z = vec![0.0f32; in_size];
    for i in 0..out_size {
        for j in 0..in_size {
            z[j] = w[i * in_size + j].mul_add(d[i], z[j]);
        }
    }
    z
}

/// Estimated nanoseconds of one thread for `macs` multiply-adds of the batched products (about
/// 0.025 ns each with AVX-512 VL: a 1024 x 1024 forward product of 100 samples takes 2.6 ms).
pub(crate) fn product_ns(macs: usize) -> usize {
    macs / 40
}

/// Where a block of the forward product stands within its dot products: the partial sums of
/// a block that covers only part of the inputs are kept in memory between the parts.
#[derive(Debug, Clone, Copy)]
struct Part {
    /// `MR * NR * 8` partial sums, or null when the block covers all inputs at once.
    carry: *mut f32,
    /// Whether the block starts the dot products (else it continues the carried sums) and
    /// whether it ends them (else it leaves its sums in the carry).
    first: bool,
    last: bool,
}

/// `MR` samples times `NR` rows of the forward product over `k` inputs, each in the order of
/// [`dot`]: `rows` and `samples` point to the block's first input. A whole or last part returns
/// the dot products; other parts return zeros and leave their sums in `part.carry`.
///
/// # Safety
/// The pointers are valid for `k` floats, the carry for its sums; the CPU has `L`'s features.
#[inline(always)]
unsafe fn forward_block<L: Lanes, const MR: usize, const NR: usize>(
    rows: [*const f32; NR],
    samples: [*const f32; MR],
    k: usize,
    part: Part,
) -> [[f32; NR]; MR] {
    let full = k - k % LANES;
    let mut acc = [[L::zero(); NR]; MR];
    let sums = |s: usize, r: usize| part.carry.wrapping_add(8 * (s * NR + r));
    if !part.first {
        for s in 0..MR {
            for r in 0..NR {
                // SAFETY: the carry holds the block's sums.
                acc[s][r] = unsafe { L::load(sums(s, r)) };
            }
        }
    }
    let mut j = 0;
    while j < full {
        // SAFETY: j + 8 <= k.
        unsafe { forward_step(&mut acc, rows, samples, j, LANES) };
        j += LANES;
    }
    // The last elements go to lanes 0.. of the partial sums, zeros add nothing.
    if full < k {
        // SAFETY: j + (k - full) = k.
        unsafe { forward_step(&mut acc, rows, samples, full, k - full) };
    }
    let mut out = [[0.0f32; NR]; MR];
    if !part.last {
        for s in 0..MR {
            for r in 0..NR {
                // SAFETY: as above.
                unsafe { acc[s][r].store(sums(s, r)) };
            }
        }
        return out;
    }
    for s in 0..MR {
        let mut v = [L::zero(); 8];
        v[..NR].copy_from_slice(&acc[s]);
        out[s].copy_from_slice(&L::sums(v)[..NR]);
    }
    out
}

/// `acc[s][r] += w_r u_s` for the `n <= 8` elements from `j` on of rows `rows` and samples
/// `samples`.
///
/// # Safety
/// The pointers are valid for `j + n` floats; the CPU has `L`'s features.
#[inline(always)]
unsafe fn forward_step<L: Lanes, const MR: usize, const NR: usize>(
    acc: &mut [[L; NR]; MR],
    rows: [*const f32; NR],
    samples: [*const f32; MR],
    j: usize,
    n: usize,
) {
    // Plain loops rather than `array::from_fn`, whose closures LLVM may leave out of line.
    let mut u = [L::zero(); MR];
    for s in 0..MR {
        // SAFETY: the caller's guarantee.
        u[s] = unsafe { load_at(samples[s], j, n) };
    }
    for r in 0..NR {
        // SAFETY: the caller's guarantee.
        let w = unsafe { load_at(rows[r], j, n) };
        for s in 0..MR {
            acc[s][r] = acc[s][r].mul_add(w, u[s]);
        }
    }
}

/// The `n <= 8` floats from `p + j` on, zeros after them.
///
/// # Safety
/// `p + j .. p + j + n` is readable; the CPU has `L`'s features.
#[inline(always)]
unsafe fn load_at<L: Lanes>(p: *const f32, j: usize, n: usize) -> L {
    // SAFETY: the caller's guarantee.
    unsafe {
        if n == LANES {
            L::load(p.add(j))
        } else {
            L::load_first(p.add(j), n)
        }
    }
}

/// Vector `c` (columns `8c .. 8c + 8`) of a row at `p` of which columns `0 .. cols` are valid:
/// zeros past them.
///
/// # Safety
/// The valid columns are readable; the CPU has `L`'s features.
#[inline(always)]
unsafe fn load_cols<L: Lanes>(p: *const f32, c: usize, cols: usize) -> L {
    if 8 * c < cols {
        // SAFETY: the caller's guarantee.
        unsafe { load_at(p, 8 * c, (cols - 8 * c).min(LANES)) }
    } else {
        L::zero()
    }
}

/// The block kernels of one instruction set: [`forward_block`] and [`backward_block`] over its
/// lanes, compiled for it. Each call does a whole block (all of a dot product's length, or a
/// panel's rows), so the drivers call them as functions; what they inline is compiled with the
/// instruction set's features.
trait Kernels {
    /// [`forward_block`].
    ///
    /// # Safety
    /// As [`forward_block`]; the CPU has the instruction set.
    unsafe fn forward_block<const MR: usize, const NR: usize>(
        rows: [*const f32; NR],
        samples: [*const f32; MR],
        k: usize,
        part: Part,
    ) -> [[f32; NR]; MR];

    /// [`backward_block`].
    ///
    /// # Safety
    /// As [`backward_block`]; the CPU has the instruction set.
    #[allow(clippy::too_many_arguments)]
    unsafe fn backward_block<const MR: usize, const NR: usize>(
        panel: *const f32,
        stride: usize,
        kc: usize,
        read: usize,
        cols: usize,
        d: [*const f32; MR],
        z: [*mut f32; MR],
        start: bool,
    );
}

/// Plain Rust over arrays of eight floats.
struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    unsafe fn forward_block<const MR: usize, const NR: usize>(
        rows: [*const f32; NR],
        samples: [*const f32; MR],
        k: usize,
        part: Part,
    ) -> [[f32; NR]; MR] {
        // SAFETY: the caller's guarantees.
        unsafe { forward_block::<[f32; 8], MR, NR>(rows, samples, k, part) }
    }

    #[inline(always)]
    unsafe fn backward_block<const MR: usize, const NR: usize>(
        panel: *const f32,
        stride: usize,
        kc: usize,
        read: usize,
        cols: usize,
        d: [*const f32; MR],
        z: [*mut f32; MR],
        start: bool,
    ) {
        // SAFETY: the caller's guarantees.
        unsafe { backward_block::<[f32; 8], MR, NR>(panel, stride, kc, read, cols, d, z, start) }
    }
}

/// Inputs per part of the forward product's dot products: a block of rows (`NR x 512`) and
/// of samples then stays in L1 while the block is computed.
const FORWARD_PART: usize = 512;

/// Floats between the rows of a packed block of the forward product: a part plus one cache
/// line, so that the block's rows fall into different cache sets. Rows of `W` a multiple of
/// 4 KiB long map to the same sets of L1, and the samples streaming past evict them.
const FORWARD_STRIDE: usize = FORWARD_PART + 16;

thread_local! {
    /// A thread's partial sums of the forward product and its packed block of rows, kept from
    /// call to call.
    static CARRY: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static ROWS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The forward products of rows `rows` of `w` with all `n` samples of `u`, into `v` (`n x
/// out_size`): `NR` rows at a time (the last block repeats its last row); for each, the inputs
/// in parts of [`FORWARD_PART`], and in each part `MR` samples at a time, then pairs and single
/// samples.
///
/// # Safety
/// The sizes hold; the CPU has `K`'s instruction set; no other thread writes these rows of `v`.
#[inline(always)]
unsafe fn forward_rows<K: Kernels, const MR: usize, const NR: usize>(
    w: &[f32],
    (out_size, in_size): (usize, usize),
    u: &[f32],
    n: usize,
    rows: std::ops::Range<usize>,
    v: Out,
) {
    let parts = in_size.div_ceil(FORWARD_PART);
    let pack = n >= PACK_MIN_SAMPLES;
    CARRY.with_borrow_mut(|carry| {
        ROWS.with_borrow_mut(|packed| {
            if parts > 1 && carry.len() < n * NR * 8 {
                carry.resize(n * NR * 8, 0.0);
            }
            if pack && packed.len() < NR * FORWARD_STRIDE {
                packed.resize(NR * FORWARD_STRIDE, 0.0);
            }
            let carry_base = carry.as_mut_ptr();
            for r0 in rows.clone().step_by(NR) {
                let nr = NR.min(rows.end - r0);
                let source = |r: usize| (r0 + r.min(nr - 1)) * in_size;
                for p in 0..parts {
                    let j0 = p * FORWARD_PART;
                    let k = FORWARD_PART.min(in_size - j0);
                    // Many samples pass over the block: its rows are copied next to each other.
                    let row: [*const f32; NR] = if pack {
                        for (r, to) in packed.chunks_exact_mut(FORWARD_STRIDE).enumerate() {
                            to[..k].copy_from_slice(&w[source(r) + j0..source(r) + j0 + k]);
                        }
                        std::array::from_fn(|r| packed[r * FORWARD_STRIDE..].as_ptr())
                    } else {
                        std::array::from_fn(|r| w[source(r) + j0..].as_ptr())
                    };
                    let sample = |s: usize| u[s * in_size + j0..].as_ptr();
                    let last = p + 1 == parts;
                    let part = |s: usize| Part {
                        carry: if parts > 1 {
                            carry_base.wrapping_add(s * NR * 8)
                        } else {
                            std::ptr::null_mut()
                        },
                        first: p == 0,
                        last,
                    };
                    let mut s = 0;
                    while s < n {
                        let m = if n - s >= MR { MR } else { (n - s).min(2) };
                        // SAFETY (the blocks and stores): rows r0 .. r0 + nr and samples s .. s + m
                        // exist; the carry holds the sums of n samples.
                        unsafe {
                            // Only the last part has the dot products.
                            let put = |q: usize, values: &[f32]| {
                                if last {
                                    let at = (s + q) * out_size + r0;
                                    v.slice(at, nr).copy_from_slice(&values[..nr]);
                                }
                            };
                            if m == MR {
                                let samples = std::array::from_fn(|q| sample(s + q));
                                let out = K::forward_block::<MR, NR>(row, samples, k, part(s));
                                out.iter().enumerate().for_each(|(q, o)| put(q, o));
                            } else if m == 2 {
                                let samples = [sample(s), sample(s + 1)];
                                let out = K::forward_block::<2, NR>(row, samples, k, part(s));
                                out.iter().enumerate().for_each(|(q, o)| put(q, o));
                            } else {
                                let out = K::forward_block::<1, NR>(row, [sample(s)], k, part(s));
                                put(0, &out[0]);
                            }
                        }
                        s += m;
                    }
                }
            }
        })
    });
}

/// Rows per parallel chunk of the forward product: a multiple of every kernel's block.
const FORWARD_ROWS: usize = 48;

/// `V = U W^T` for `n` inputs `u` (`n x in_size`), into `v` (`n x out_size`); every element
/// equal to [`dot`] of its row and sample. Over the engine's threads (blocks of rows) when
/// `split` and the work is large enough.
pub fn forward_product(
    w: &[f32],
    out_size: usize,
    in_size: usize,
    u: &[f32],
    n: usize,
    v: &mut [f32],
    split: bool,
) {
    assert!(w.len() == out_size * in_size && u.len() == n * in_size && v.len() == n * out_size);
    let driver: Driver = match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::forward_rows_avx512,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::forward_rows_avx2,
        _ => forward_rows::<Portable, 4, 2>,
    };
    // SAFETY: the sizes were checked; `isa` never exceeds what the CPU has.
    unsafe {
        run_product(
            driver,
            w,
            (out_size, in_size),
            u,
            n,
            v,
            (out_size, FORWARD_ROWS),
            split,
        )
    }
}

/// A driver of one instruction set: a product over a range of its outputs (rows of `W` forward,
/// columns backward) for all samples: [`forward_rows`] or [`backward_cols`] with its blocks.
type Driver = unsafe fn(&[f32], (usize, usize), &[f32], usize, std::ops::Range<usize>, Out);

/// Runs `driver` over the `len` outputs of `W` a product has, in chunks of `chunk` (over the
/// engine's threads when `split` and the work is large enough), for the `n` samples of `x`
/// into `y`.
///
/// # Safety
/// The sizes of `w`, `x` and `y` hold for the product; the CPU has the driver's instruction set.
#[allow(clippy::too_many_arguments)]
unsafe fn run_product(
    driver: Driver,
    w: &[f32],
    sizes: (usize, usize),
    x: &[f32],
    n: usize,
    y: &mut [f32],
    (len, chunk): (usize, usize),
    split: bool,
) {
    if y.is_empty() {
        return;
    }
    // Outputs over an empty sum.
    if w.is_empty() {
        return y.fill(0.0);
    }
    let work = if split { product_ns(w.len() * n) } else { 0 };
    let (x_stride, y_stride) = (x.len() / n, y.len() / n);
    // Many more sample values than weights (a convolution's patches): the samples go in blocks
    // that stay in L2 while every output passes over them, and the blocks spread over the
    // threads. Otherwise one block, so that the matrix is read once. Either way every element
    // is the same sum.
    let block = if n * x_stride > w.len() {
        (SAMPLE_BLOCK_BYTES / (4 * x_stride) / 8 * 8).max(8).min(n)
    } else {
        n
    };
    let chunks = len.div_ceil(chunk);
    let out = Out::new(y);
    for_each_range(n.div_ceil(block) * chunks, 1, work, |items| {
        for item in items {
            let (s0, c0) = (item / chunks * block, item % chunks * chunk);
            let samples = block.min(n - s0);
            let x = &x[s0 * x_stride..(s0 + samples) * x_stride];
            // SAFETY: the caller's guarantees; the items write disjoint outputs of disjoint
            // samples.
            unsafe {
                let y = out.offset(s0 * y_stride);
                driver(w, sizes, x, samples, c0..(c0 + chunk).min(len), y)
            }
        }
    });
}

/// The bytes of samples a block of a product's samples holds when they outnumber the weights.
const SAMPLE_BLOCK_BYTES: usize = 256 << 10;

/// `MR` samples times `8 NR` columns of the backward product over `kc` rows of a panel
/// (`stride` floats from row to row, columns `0 .. read` readable, `0 .. cols` of the output
/// valid), continuing the sums in
/// `z` unless `start`; `d[s]` points to the errors of sample `s` at the panel's first row.
///
/// # Safety
/// The pointers are valid for what they are read or written for; the CPU has `L`'s features;
/// no other thread writes these elements of `z`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn backward_block<L: Lanes, const MR: usize, const NR: usize>(
    panel: *const f32,
    stride: usize,
    kc: usize,
    read: usize,
    cols: usize,
    d: [*const f32; MR],
    z: [*mut f32; MR],
    start: bool,
) {
    let mut acc = [[L::zero(); NR]; MR];
    if !start {
        for s in 0..MR {
            for c in 0..NR {
                // SAFETY: the caller's guarantee.
                acc[s][c] = unsafe { load_cols(z[s], c, cols) };
            }
        }
    }
    // SAFETY: the caller's guarantees.
    unsafe {
        if read == 8 * NR {
            backward_rows::<L, MR, NR, true>(&mut acc, panel, stride, kc, read, d);
        } else {
            backward_rows::<L, MR, NR, false>(&mut acc, panel, stride, kc, read, d);
        }
    }
    for s in 0..MR {
        for c in 0..NR {
            // SAFETY: as for the loads.
            unsafe {
                if 8 * c + 8 <= cols {
                    acc[s][c].store(z[s].add(8 * c));
                } else if 8 * c < cols {
                    acc[s][c].store_first(z[s].add(8 * c), cols - 8 * c);
                }
            }
        }
    }
}

/// `acc[s] += W_i d[s][i]` for the `kc` rows `i` of a panel (see [`backward_block`]); with
/// `FULL` all `8 NR` columns are valid.
///
/// # Safety
/// As [`backward_block`].
#[inline(always)]
unsafe fn backward_rows<L: Lanes, const MR: usize, const NR: usize, const FULL: bool>(
    acc: &mut [[L; NR]; MR],
    panel: *const f32,
    stride: usize,
    kc: usize,
    cols: usize,
    d: [*const f32; MR],
) {
    for i in 0..kc {
        // SAFETY: row i of the panel.
        let row = unsafe { panel.add(i * stride) };
        let mut wv = [L::zero(); NR];
        for c in 0..NR {
            // SAFETY: as above; the columns read are valid.
            wv[c] = unsafe {
                if FULL {
                    L::load(row.add(8 * c))
                } else {
                    load_cols(row, c, cols)
                }
            };
        }
        for s in 0..MR {
            // SAFETY: error i of sample s.
            let ds = L::splat(unsafe { *d[s].add(i) });
            for c in 0..NR {
                acc[s][c] = acc[s][c].mul_add(wv[c], ds);
            }
        }
    }
}

/// From this many samples on, a column panel of `W` is copied into contiguous memory before
/// the samples pass over it: the rows of `W` are `in_size` apart, and walking down a column
/// block with that stride thrashes the caches. Fewer samples read `W` where it is.
const PACK_MIN_SAMPLES: usize = 4;

/// Rows of a packed panel: its columns stay in L1 while the samples pass over them.
const PANEL_ROWS: usize = 128;

thread_local! {
    /// A thread's packed panel, kept from call to call.
    static PANEL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The backward products of columns `cols` (a multiple of `8 NR` from its start) of `w` with
/// all `n` samples of `d`, into `z` (`n x in_size`): `8 NR` columns at a time, `MR` samples at a
/// time, then fewer.
///
/// # Safety
/// The sizes hold; the CPU has `L`'s features; no other thread writes these columns of `z`.
#[inline(always)]
unsafe fn backward_cols<K: Kernels, const MR: usize, const NR: usize>(
    w: &[f32],
    (out_size, in_size): (usize, usize),
    d: &[f32],
    n: usize,
    cols: std::ops::Range<usize>,
    z: Out,
) {
    let width = 8 * NR;
    PANEL.with_borrow_mut(|panel| {
        if panel.len() < PANEL_ROWS * width {
            panel.resize(PANEL_ROWS * width, 0.0);
        }
        for j0 in cols.clone().step_by(width) {
            let valid = width.min(cols.end - j0);
            let pack = n >= PACK_MIN_SAMPLES;
            let kc_max = if pack { PANEL_ROWS } else { out_size };
            for i0 in (0..out_size).step_by(kc_max) {
                let kc = kc_max.min(out_size - i0);
                let (rows, stride, cols) = if pack {
                    // Zeros past the valid columns: every panel is read whole.
                    for (i, p) in panel.chunks_exact_mut(width).take(kc).enumerate() {
                        let at = (i0 + i) * in_size + j0;
                        p[..valid].copy_from_slice(&w[at..at + valid]);
                        p[valid..].fill(0.0);
                    }
                    (panel.as_ptr(), width, width)
                } else {
                    (w[i0 * in_size + j0..].as_ptr(), in_size, valid)
                };
                let err = |s: usize| d[s * out_size + i0..].as_ptr();
                // SAFETY: samples s .. s + m exist; the caller's guarantees.
                let out = |s: usize| unsafe { z.slice(s * in_size + j0, valid).as_mut_ptr() };
                let start = i0 == 0;
                let mut s = 0;
                while s < n {
                    let m = if n - s >= MR { MR } else { (n - s).min(2) };
                    // SAFETY: samples s .. s + m exist; the caller's guarantees.
                    unsafe {
                        if m == MR {
                            let errs = std::array::from_fn(|q| err(s + q));
                            let outs = std::array::from_fn(|q| out(s + q));
                            K::backward_block::<MR, NR>(
                                rows, stride, kc, cols, valid, errs, outs, start,
                            );
                        } else if m == 2 {
                            let (errs, outs) = ([err(s), err(s + 1)], [out(s), out(s + 1)]);
                            K::backward_block::<2, NR>(
                                rows, stride, kc, cols, valid, errs, outs, start,
                            );
                        } else {
                            let (errs, outs) = ([err(s)], [out(s)]);
                            K::backward_block::<1, NR>(
                                rows, stride, kc, cols, valid, errs, outs, start,
                            );
                        }
                    }
                    s += m;
                }
            }
        }
    });
}

/// Columns per parallel chunk of the backward product: a multiple of every kernel's panel.
const BACKWARD_COLS: usize = 64;

/// `Z = D W` for `n` errors `d` (`n x out_size`), into `z` (`n x in_size`); every element summed
/// in the order of [`axpy_order`]. Over the engine's threads (blocks of columns) when `split`
/// and the work is large enough.
pub fn backward_product(
    w: &[f32],
    out_size: usize,
    in_size: usize,
    d: &[f32],
    n: usize,
    z: &mut [f32],
    split: bool,
) {
    assert!(w.len() == out_size * in_size && d.len() == n * out_size && z.len() == n * in_size);
    let driver: Driver = match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::backward_cols_avx512,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::backward_cols_avx2,
        _ => backward_cols::<Portable, 4, 2>,
    };
    // SAFETY: the sizes were checked; `isa` never exceeds what the CPU has.
    unsafe {
        run_product(
            driver,
            w,
            (out_size, in_size),
            d,
            n,
            z,
            (in_size, BACKWARD_COLS),
            split,
        )
    }
}

/// The kernels compiled for AVX2 (16 vector registers) and AVX-512 VL (32, so the drivers
/// take larger blocks).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{backward_block, backward_cols, forward_block, forward_rows, Kernels, Out, Part};
    use std::arch::x86_64::__m256;
    use std::ops::Range;

    /// Defines an instruction set's [`Kernels`] (`$kernels`) and the drivers of its products
    /// with its block sizes: the same code as the portable one, compiled with `$features`.
    macro_rules! instruction_set {
        ($kernels:ident, $features:literal, $forward:ident ($fmr:literal, $fnr:literal),
         $backward:ident ($bmr:literal, $bnr:literal)) => {
            pub(super) struct $kernels;

            impl $kernels {
                #[target_feature(enable = $features)]
                #[inline]
                unsafe fn forward<const MR: usize, const NR: usize>(
                    rows: [*const f32; NR],
                    samples: [*const f32; MR],
                    k: usize,
                    part: Part,
                ) -> [[f32; NR]; MR] {
                    // SAFETY: the caller's guarantees.
                    unsafe { forward_block::<__m256, MR, NR>(rows, samples, k, part) }
                }

                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = $features)]
                #[inline]
                unsafe fn backward<const MR: usize, const NR: usize>(
                    panel: *const f32,
                    stride: usize,
                    kc: usize,
                    read: usize,
                    cols: usize,
                    d: [*const f32; MR],
                    z: [*mut f32; MR],
                    start: bool,
                ) {
                    // SAFETY: the caller's guarantees.
                    unsafe {
                        backward_block::<__m256, MR, NR>(panel, stride, kc, read, cols, d, z, start)
                    }
                }
            }

            impl Kernels for $kernels {
                #[inline(always)]
                unsafe fn forward_block<const MR: usize, const NR: usize>(
                    rows: [*const f32; NR],
                    samples: [*const f32; MR],
                    k: usize,
                    part: Part,
                ) -> [[f32; NR]; MR] {
                    // SAFETY: the caller's guarantees.
                    unsafe { Self::forward::<MR, NR>(rows, samples, k, part) }
                }

                #[inline(always)]
                unsafe fn backward_block<const MR: usize, const NR: usize>(
                    panel: *const f32,
                    stride: usize,
                    kc: usize,
                    read: usize,
                    cols: usize,
                    d: [*const f32; MR],
                    z: [*mut f32; MR],
                    start: bool,
                ) {
                    // SAFETY: the caller's guarantees.
                    unsafe { Self::backward::<MR, NR>(panel, stride, kc, read, cols, d, z, start) }
                }
            }

            /// The forward product's rows with this instruction set.
            ///
            /// # Safety
            /// As `forward_rows`; the CPU has the instruction set.
            pub(super) unsafe fn $forward(
                w: &[f32],
                sizes: (usize, usize),
                u: &[f32],
                n: usize,
                rows: Range<usize>,
                v: Out,
            ) {
                // SAFETY: the caller's guarantees.
                unsafe { forward_rows::<$kernels, $fmr, $fnr>(w, sizes, u, n, rows, v) }
            }

            /// The backward product's columns with this instruction set.
            ///
            /// # Safety
            /// As `backward_cols`; the CPU has the instruction set.
            pub(super) unsafe fn $backward(
                w: &[f32],
                sizes: (usize, usize),
                d: &[f32],
                n: usize,
                cols: Range<usize>,
                z: Out,
            ) {
                // SAFETY: the caller's guarantees.
                unsafe { backward_cols::<$kernels, $bmr, $bnr>(w, sizes, d, n, cols, z) }
            }
        };
    }

    instruction_set!(
        Avx2,
        "avx2,fma",
        forward_rows_avx2(3, 4),
        backward_cols_avx2(2, 4)
    );
    instruction_set!(
        Avx512,
        "avx2,fma,avx512f,avx512vl",
        forward_rows_avx512(4, 6),
        backward_cols_avx512(6, 4)
    );
}
