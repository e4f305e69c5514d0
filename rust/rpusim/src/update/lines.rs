//! The firing lines of the samples of an update call: what every row and every column of a
//! sample carries into coincidence counting, laid out for the kernels of `fire.rs`.
//!
//! A line carries `WORDS` 32-bit words: its pulse train (bit `k` is pulse `k`), or for
//! `deterministic_implicit` its firing probability. All zero means it does not fire. Trains
//! are sampled only for lines with a probability above zero, eight lines per Philox call, the
//! rows first and the columns only when a row fires. Every row of a firing sample is kept at
//! its index. The firing columns are kept packed: their indices in increasing order, their
//! words as `WORDS` planes, the signs of their inputs as one 16-bit mask per 16 of them (a
//! SIMD register), all padded to a multiple of 16 with silent columns: the scalar kernel walks
//! them. For the AVX-512 kernel the columns are also kept dense: planes of `in_size` rounded up
//! to 16, a sign mask per group, and the groups that hold a firing column listed. It visits
//! those groups whole, with contiguous loads: even where few of a group's columns fire (MNIST
//! pixels), that touches fewer cache lines of the row's device arrays than gathering the
//! packed columns, which measured slower.

use crate::numeric::abs_max;
use crate::rng::Stream;

use super::pulse::{implicit_pulses, plan, train_address, train_of, SamplePlan, LINES_PER_ADDRESS};
use super::UpdateCall;

/// Columns per group: the lanes of an AVX-512 register.
pub(super) const GROUP: usize = 16;

/// What a line carries, and the pulses a row and a column make together.
pub(super) trait Payload: Send + Sync + 'static {
    /// 32-bit words per line.
    const WORDS: usize;

    /// Pulses of a device whose row carries `row` and whose column carries `col(w)` in word `w`.
    fn pulses(row: &[u32], col: impl Fn(usize) -> u32) -> u32;

    /// [`Payload::pulses`] of columns `j0 .. j0 + 16` with AVX-512, from `WORDS` planes of
    /// `in_pad` columns.
    ///
    /// # Safety
    /// The CPU has AVX-512 with VPOPCNTDQ; `j0 + 16 <= in_pad`, `cols.len() >= WORDS * in_pad`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn counts16(
        row: &[u32],
        cols: &[u32],
        in_pad: usize,
        j0: usize,
    ) -> std::arch::x86_64::__m512i;

    /// Whether the lines draw random numbers (sampled trains do).
    const RANDOM: bool;

    /// The `WORDS` words of a line with probability `p` (above zero) and train length `bl`
    /// into `out`, from its `bl` draws `draws`, in slot order (when `RANDOM`); `row` tells a
    /// row from a column.
    fn line(draws: impl Iterator<Item = u32>, p: f32, bl: u32, row: bool, out: &mut [u32]);
}

/// Sampled pulse trains of up to `32 W` pulses.
#[derive(Debug)]
pub(super) struct Trains<const W: usize>;

impl<const W: usize> Payload for Trains<W> {
    const WORDS: usize = W;

    #[inline(always)]
    fn pulses(row: &[u32], col: impl Fn(usize) -> u32) -> u32 {
        (0..W).map(|w| (row[w] & col(w)).count_ones()).sum()
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn counts16(
        row: &[u32],
        cols: &[u32],
        in_pad: usize,
        j0: usize,
    ) -> std::arch::x86_64::__m512i {
        use std::arch::x86_64::*;
        // SAFETY: AVX-512 with VPOPCNTDQ, and 16 columns of each plane inside `cols`, by the
        // contract.
        unsafe {
            let mut c = _mm512_setzero_si512();
            for (w, &r) in row.iter().enumerate().take(W) {
                let plane = _mm512_loadu_si512(cols.as_ptr().add(w * in_pad + j0).cast());
                let both = _mm512_and_si512(_mm512_set1_epi32(r as i32), plane);
                c = _mm512_add_epi32(c, _mm512_popcnt_epi32(both));
            }
            c
        }
    }

    const RANDOM: bool = true;

    #[inline(always)]
    fn line(draws: impl Iterator<Item = u32>, p: f32, _bl: u32, _row: bool, out: &mut [u32]) {
        train_of(draws, p, out);
    }
}

/// `deterministic_implicit`: a row carries `BL p_d` and a column `p_x` (as float bits), and a
/// device gets `round(BL p_d p_x)` pulses.
#[derive(Debug)]
pub(super) struct Implicit;

impl Payload for Implicit {
    const WORDS: usize = 1;

    #[inline(always)]
    fn pulses(row: &[u32], col: impl Fn(usize) -> u32) -> u32 {
        implicit_pulses(f32::from_bits(row[0]), f32::from_bits(col(0)))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn counts16(
        row: &[u32],
        cols: &[u32],
        _in_pad: usize,
        j0: usize,
    ) -> std::arch::x86_64::__m512i {
        use std::arch::x86_64::*;
        // SAFETY: AVX-512, and 16 columns of the plane inside `cols`, by the contract.
        unsafe {
            let p = _mm512_loadu_ps(cols.as_ptr().add(j0).cast());
            // Rounding to nearest, ties to even, as `implicit_pulses`; the products are in
            // [0, 256].
            _mm512_cvtps_epu32(_mm512_mul_ps(_mm512_set1_ps(f32::from_bits(row[0])), p))
        }
    }

    const RANDOM: bool = false;

    #[inline(always)]
    fn line(_draws: impl Iterator<Item = u32>, p: f32, bl: u32, row: bool, out: &mut [u32]) {
        out[0] = if row {
            (bl as f32 * p).to_bits()
        } else {
            p.to_bits()
        };
    }
}

/// The streams the sampled trains are drawn from: rows from the d stream, columns from the x
/// stream.
#[derive(Debug)]
pub(super) struct TrainStreams {
    pub rows: Stream,
    pub cols: Stream,
}

/// Where one firing sample's lines are in the buffers of [`Lines`].
#[derive(Debug, Clone, Copy)]
struct Entry {
    sample: u32,
    /// Offsets into the buffers of [`Lines`].
    rows: usize,
    row_neg: usize,
    index: usize,
    packed: usize,
    packed_neg: usize,
    /// Firing columns, and that rounded up to a multiple of 16.
    fire: usize,
    pad: usize,
    dense: Option<DenseEntry>,
    uniform: Option<usize>,
    /// Where the firing columns by sign start in `by_sign`, and how many are positive (for
    /// uniform samples of the scalar kernel).
    by_sign: (usize, usize),
}

#[derive(Debug, Clone, Copy)]
struct DenseEntry {
    cols: usize,
    neg: usize,
    groups: (usize, usize),
}

/// The lines of a range of samples, in growing buffers that a call keeps for the next.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    entries: Vec<Entry>,
    /// Whether dense columns are wanted (by the AVX-512 kernel).
    want_dense: bool,
    /// Every row's words, row after row, per firing sample.
    rows: Vec<u32>,
    /// Whether each row's error is negative, per firing sample.
    row_neg: Vec<bool>,
    /// The firing columns' indices, padded with 0 (a silent column).
    index: Vec<u32>,
    /// Their words: word `w` of packed column `c` at `w * pad + c`, per firing sample.
    packed: Vec<u32>,
    /// Per 16 packed columns, bit `l` set when column `16 q + l` has a negative input.
    packed_neg: Vec<u16>,
    /// Dense columns: word `w` of column `j` at `w * in_pad + j`, per dense sample.
    dense: Vec<u32>,
    /// Per dense sample and group of 16 columns, the signs as above.
    dense_neg: Vec<u16>,
    /// Per dense sample, the groups that hold a firing column, increasing.
    groups: Vec<u32>,
    /// The words every firing column carries, for samples where they are all the same.
    uniform: Vec<u32>,
    /// For such samples: the positions of the packed columns with a positive input, then those
    /// with a negative one.
    by_sign: Vec<u32>,
    /// The words of a sample's firing columns, column after column, while they are made.
    made: Vec<u32>,
    /// The draws of one side of a sample.
    draws: Vec<u32>,
    /// Pairs of a firing row and a visited column, summed over the samples: the work of
    /// applying them.
    pub visits: usize,
}

/// The firing columns of a sample, packed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Packed<'a> {
    /// Their indices, increasing, then zeros up to `pad`.
    pub index: &'a [u32],
    /// `WORDS` planes of `pad` columns.
    pub cols: &'a [u32],
    /// One sign mask per 16 of them.
    pub neg: &'a [u16],
    pub fire: usize,
    pub pad: usize,
}

/// The columns of a sample, dense.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dense<'a> {
    /// `WORDS` planes of `in_pad` columns.
    pub cols: &'a [u32],
    /// One sign mask per group of 16 columns.
    pub neg: &'a [u16],
    /// The groups with a firing column.
    pub groups: &'a [u32],
}

/// The lines of one sample that fires.
#[derive(Debug, Clone, Copy)]
pub(super) struct Firing<'a> {
    pub sample: u32,
    /// Whether each row's error is negative.
    pub row_neg: &'a [bool],
    pub packed: Packed<'a>,
    pub dense: Option<Dense<'a>>,
    /// The words all firing columns carry, when they carry the same.
    pub uniform: Option<&'a [u32]>,
    /// For uniform samples without dense columns: the packed positions of the columns with a
    /// positive input, and of those with a negative one.
    pub by_sign: (&'a [u32], &'a [u32]),
}

/// The firing samples of a call's tasks, in order.
#[derive(Debug, Clone, Copy)]
pub(super) struct Samples<'a> {
    pub lines: &'a [Lines],
    /// Words per line, and the tile's size.
    pub words: usize,
    pub out_size: usize,
    pub in_size: usize,
}

impl<'a> Samples<'a> {
    /// Calls `f(sample, words)` for every sample, in order, in which row `i` fires, with the
    /// row's words. A sample's view is made only then: most rows fire in few samples.
    #[inline(always)]
    pub fn for_each_firing(&self, i: usize, mut f: impl FnMut(&Firing<'a>, &'a [u32])) {
        let words = self.words;
        for lines in self.lines {
            for e in &lines.entries {
                let at = e.rows + i * words;
                let row = &lines.rows[at..at + words];
                if row.iter().any(|&w| w != 0) {
                    f(&lines.view(e, words, self.out_size, self.in_size), row);
                }
            }
        }
    }

    /// The work of applying the samples' coincidences ([`Lines::visits`]).
    pub fn visits(&self) -> usize {
        self.lines.iter().map(|l| l.visits).sum()
    }
}

/// `n` rounded up to a whole number of groups.
pub(super) fn padded(n: usize) -> usize {
    n.div_ceil(GROUP) * GROUP
}

impl Lines {
    /// Forgets the lines, keeping the buffers; dense columns are made when `want_dense`.
    pub(super) fn clear(&mut self, want_dense: bool) {
        self.entries.clear();
        self.want_dense = want_dense;
        self.rows.clear();
        self.row_neg.clear();
        self.index.clear();
        self.packed.clear();
        self.packed_neg.clear();
        self.dense.clear();
        self.dense_neg.clear();
        self.groups.clear();
        self.uniform.clear();
        self.by_sign.clear();
        self.visits = 0;
    }

    /// Adds the lines of samples `samples` of `call` (`x`: `n x in_size`, `d`: `n x
    /// out_size`) with the planning step `dw_min`.
    #[inline(always)]
    pub(super) fn add<P: Payload>(
        &mut self,
        streams: &TrainStreams,
        call: &UpdateCall,
        dw_min: f64,
        (out_size, in_size): (usize, usize),
        samples: std::ops::Range<usize>,
    ) {
        for b in samples {
            let x = &call.x[b * in_size..(b + 1) * in_size];
            let d = &call.d[b * out_size..(b + 1) * out_size];
            if let Some(plan) = plan(call.update, dw_min, call.lr, abs_max(x), abs_max(d)) {
                let entry = self.add_rows::<P>(streams, b as u32, &plan, d);
                if let Some(entry) = entry {
                    self.add_columns::<P>(streams, entry, &plan, x);
                }
            }
        }
    }

    /// One sample whose every row and column fires once (a train of one pulse), the rows in
    /// direction `up`: the lines of `Tile::pulse`.
    pub(super) fn add_all_firing(&mut self, out_size: usize, in_size: usize, up: bool) {
        let entry = self.begin(0);
        self.rows.resize(entry.rows + out_size, 1);
        // A device's weight grows when its row's and its column's signs differ.
        self.row_neg.resize(entry.row_neg + out_size, up);
        self.index.extend(0..in_size as u32);
        self.made.clear();
        self.made.resize(in_size, 1);
        self.keep_columns(entry, out_size, in_size, 1, |_| false);
    }

    fn begin(&self, sample: u32) -> Entry {
        Entry {
            sample,
            rows: self.rows.len(),
            row_neg: self.row_neg.len(),
            index: self.index.len(),
            packed: self.packed.len(),
            packed_neg: self.packed_neg.len(),
            fire: 0,
            pad: 0,
            dense: None,
            uniform: None,
            by_sign: (0, 0),
        }
    }

    /// The rows of a sample; `None` (and nothing kept) when none fires, else the entry and the
    /// number of firing rows.
    #[inline(always)]
    fn add_rows<P: Payload>(
        &mut self,
        streams: &TrainStreams,
        sample: u32,
        plan: &SamplePlan,
        d: &[f32],
    ) -> Option<(Entry, usize)> {
        let (out_size, words) = (d.len(), P::WORDS);
        let entry = self.begin(sample);
        self.rows.resize(entry.rows + out_size * words, 0);
        self.row_neg.extend(d.iter().map(|&v| v < 0.0));
        let rows = &mut self.rows[entry.rows..];
        let mut firing_rows = 0;
        if self.want_dense && P::RANDOM && words == 1 {
            one_word_trains(
                &streams.rows,
                sample,
                d,
                plan.a,
                plan.bl,
                &mut self.draws,
                rows,
            );
            let firing_rows = rows.iter().filter(|&&t| t != 0).count();
            return self.rows_made(entry, firing_rows);
        }
        side::<P>(
            streams,
            true,
            sample,
            d,
            |v| plan.p_row(v),
            plan.bl,
            &mut self.draws,
            |i, w| {
                rows[i * words..(i + 1) * words].copy_from_slice(w);
                firing_rows += usize::from(w.iter().any(|&v| v != 0));
            },
        );
        self.rows_made(entry, firing_rows)
    }

    /// The rows of `entry` are made: `None` (and nothing kept) when none fires.
    fn rows_made(&mut self, entry: Entry, firing_rows: usize) -> Option<(Entry, usize)> {
        if firing_rows == 0 {
            self.rows.truncate(entry.rows);
            self.row_neg.truncate(entry.row_neg);
            return None;
        }
        Some((entry, firing_rows))
    }

    /// The columns of the sample whose rows are in `entry`; nothing of the sample is kept when
    /// no column fires.
    #[inline(always)]
    fn add_columns<P: Payload>(
        &mut self,
        streams: &TrainStreams,
        (entry, firing_rows): (Entry, usize),
        plan: &SamplePlan,
        x: &[f32],
    ) {
        if self.want_dense && P::RANDOM && P::WORDS == 1 {
            return self.add_dense_trains(streams, (entry, firing_rows), plan, x);
        }
        let Lines {
            index, made, draws, ..
        } = &mut *self;
        made.clear();
        side::<P>(
            streams,
            false,
            entry.sample,
            x,
            |v| plan.p_col(v),
            plan.bl,
            draws,
            |j, w| {
                if w.iter().any(|&v| v != 0) {
                    index.push(j as u32);
                    made.extend_from_slice(w);
                }
            },
        );
        if self.index.len() == entry.index {
            self.rows.truncate(entry.rows);
            self.row_neg.truncate(entry.row_neg);
            return;
        }
        self.keep_columns(entry, firing_rows, x.len(), P::WORDS, |j| x[j] < 0.0);
    }

    /// The columns of the sample of `entry` for the AVX-512 kernel, with one-word trains: the
    /// trains made straight into the dense plane, the firing groups, the signs and whether the
    /// firing columns are uniform; no packed columns (that kernel reads the dense ones only).
    fn add_dense_trains(
        &mut self,
        streams: &TrainStreams,
        (mut entry, firing_rows): (Entry, usize),
        plan: &SamplePlan,
        x: &[f32],
    ) {
        let Lines {
            entries,
            rows,
            row_neg,
            dense,
            dense_neg,
            groups,
            uniform,
            draws,
            visits,
            ..
        } = self;
        let in_pad = padded(x.len());
        let (cols, neg, start) = (dense.len(), dense_neg.len(), groups.len());
        dense.resize(cols + in_pad, 0);
        let plane = &mut dense[cols..];
        one_word_trains(
            &streams.cols,
            entry.sample,
            x,
            plan.b,
            plan.bl,
            draws,
            plane,
        );
        let (mut fire, mut first, mut same) = (0, 0u32, true);
        for (g, trains) in plane.chunks_exact(GROUP).enumerate() {
            let n = trains.iter().filter(|&&t| t != 0).count();
            if n > 0 {
                groups.push(g as u32);
                fire += n;
                if first == 0 {
                    first = trains.iter().copied().find(|&t| t != 0).unwrap_or(0);
                }
                same &= trains.iter().all(|&t| t == 0 || t == first);
            }
        }
        if fire == 0 {
            dense.truncate(cols);
            rows.truncate(entry.rows);
            row_neg.truncate(entry.row_neg);
            return;
        }
        dense_neg.resize(neg + in_pad / GROUP, 0);
        sign_masks(x, &mut dense_neg[neg..]);
        if same {
            entry.uniform = Some(uniform.len());
            uniform.push(first);
        }
        let n_groups = groups.len() - start;
        entry.dense = Some(DenseEntry {
            cols,
            neg,
            groups: (start, groups.len()),
        });
        entry.fire = fire;
        *visits += firing_rows * GROUP * n_groups;
        entries.push(entry);
    }

    /// Packs the firing columns of the sample of `entry` (their indices from `index[entry.index]`
    /// on, their words in `made`, `words` each) with the signs `negative(j)`, and keeps them
    /// dense too when that is wanted and most columns of their groups fire; then keeps the
    /// entry.
    fn keep_columns(
        &mut self,
        mut entry: Entry,
        firing_rows: usize,
        in_size: usize,
        words: usize,
        negative: impl Fn(usize) -> bool,
    ) {
        let Lines {
            entries,
            want_dense,
            index,
            packed,
            packed_neg,
            dense,
            dense_neg,
            groups,
            uniform,
            by_sign,
            made,
            visits,
            ..
        } = self;
        let fire = index.len() - entry.index;
        let pad = padded(fire);
        index.resize(entry.index + pad, 0);
        let index = &index[entry.index..];
        packed.resize(entry.packed + words * pad, 0);
        packed_neg.resize(entry.packed_neg + pad / GROUP, 0);
        for (c, w) in made.chunks_exact(words).enumerate() {
            for (k, &v) in w.iter().enumerate() {
                packed[entry.packed + k * pad + c] = v;
            }
            let bit = u16::from(negative(index[c] as usize)) << (c % GROUP);
            packed_neg[entry.packed_neg + c / GROUP] |= bit;
        }
        let first = &made[..words];
        if made.chunks_exact(words).all(|w| w == first) {
            entry.uniform = Some(uniform.len());
            uniform.extend_from_slice(first);
            if !*want_dense {
                let start = by_sign.len();
                for negative_first in [false, true] {
                    let same = |&c: &usize| negative(index[c] as usize) == negative_first;
                    by_sign.extend((0..fire).filter(same).map(|c| c as u32));
                    if !negative_first {
                        entry.by_sign = (start, by_sign.len() - start);
                    }
                }
            }
        }
        let start = groups.len();
        for &j in &index[..fire] {
            let g = j / GROUP as u32;
            if groups.len() == start || groups.last() != Some(&g) {
                groups.push(g);
            }
        }
        let n_groups = groups.len() - start;
        if *want_dense {
            let in_pad = padded(in_size);
            let (cols, neg) = (dense.len(), dense_neg.len());
            dense.resize(cols + words * in_pad, 0);
            for (w, &j) in made.chunks_exact(words).zip(&index[..fire]) {
                for (k, &v) in w.iter().enumerate() {
                    dense[cols + k * in_pad + j as usize] = v;
                }
            }
            dense_neg.resize(neg + in_pad / GROUP, 0);
            for (g, m) in dense_neg[neg..].iter_mut().enumerate() {
                let group = g * GROUP..((g + 1) * GROUP).min(in_size);
                *m = group.fold(0, |m, j| m | u16::from(negative(j)) << (j % GROUP));
            }
            entry.dense = Some(DenseEntry {
                cols,
                neg,
                groups: (start, groups.len()),
            });
            *visits += firing_rows * GROUP * n_groups;
        } else {
            groups.truncate(start);
            *visits += firing_rows * pad;
        }
        entry.fire = fire;
        entry.pad = pad;
        entries.push(entry);
    }

    /// The view of the firing sample of `e`; `words` per line.
    fn view(&self, e: &Entry, words: usize, out_size: usize, in_size: usize) -> Firing<'_> {
        let in_pad = padded(in_size);
        Firing {
            sample: e.sample,
            row_neg: &self.row_neg[e.row_neg..e.row_neg + out_size],
            packed: Packed {
                index: &self.index[e.index..e.index + e.pad],
                cols: &self.packed[e.packed..e.packed + words * e.pad],
                neg: &self.packed_neg[e.packed_neg..e.packed_neg + e.pad / GROUP],
                fire: e.fire,
                pad: e.pad,
            },
            dense: e.dense.map(|d| Dense {
                cols: &self.dense[d.cols..d.cols + words * in_pad],
                neg: &self.dense_neg[d.neg..d.neg + in_pad / GROUP],
                groups: &self.groups[d.groups.0..d.groups.1],
            }),
            uniform: e.uniform.map(|u| &self.uniform[u..u + words]),
            by_sign: {
                let (start, positive) = e.by_sign;
                let all = if e.uniform.is_some() && e.dense.is_none() {
                    &self.by_sign[start..start + e.fire]
                } else {
                    &[]
                };
                all.split_at(positive.min(all.len()))
            },
        }
    }
}

/// Bit `l` of `masks[g]` set when `x[16 g + l]` is negative (`masks` zero on entry, a mask per
/// group of 16 values).
#[inline(always)]
fn sign_masks(x: &[f32], masks: &mut [u16]) {
    for (m, group) in masks.iter_mut().zip(x.chunks(GROUP)) {
        let mut bits = 0u32;
        for (l, &v) in group.iter().enumerate() {
            bits |= u32::from(v < 0.0) << l;
        }
        *m = bits as u16;
    }
}

/// The one-word trains of every line of one side of a sample with AVX-512
/// ([`super::lines_avx512::trains`]), for lines made with dense columns (only the AVX-512
/// kernel asks for those, so only a CPU with AVX-512 gets here).
#[inline(always)]
fn one_word_trains(
    stream: &Stream,
    sample: u32,
    v: &[f32],
    factor: f32,
    bl: u32,
    draws: &mut Vec<u32>,
    trains: &mut [u32],
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX-512 (see above); `trains` is as long as `v`; one word holds at most 32 slots.
    unsafe {
        super::lines_avx512::trains(stream, sample, v, factor, bl, draws, &mut trains[..v.len()])
    };
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!(
        "no AVX-512 off x86-64: {:?}",
        (stream, sample, v, factor, bl, draws, trains)
    );
}

/// Calls `emit(i, words)`, in increasing `i`, for every line `i` of one side of sample
/// `sample` (values `v`: `d` for rows, `x` for columns) with a firing probability `prob(v_i)
/// > 0`; the words may all be zero. The draws of all the side's lines come first, in bulk
/// from the side's stream (into `draws`; see [`train_address`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn side<P: Payload>(
    streams: &TrainStreams,
    row: bool,
    sample: u32,
    v: &[f32],
    prob: impl Fn(f32) -> f32,
    bl: u32,
    draws: &mut Vec<u32>,
    mut emit: impl FnMut(usize, &[u32]),
) {
    let stream = if row { &streams.rows } else { &streams.cols };
    let mut out = [0u32; 8];
    let out = &mut out[..P::WORDS];
    for (c, lines) in v.chunks(LINES_PER_ADDRESS).enumerate() {
        let (first, n) = (c * LINES_PER_ADDRESS, lines.len());
        if P::RANDOM {
            draws.resize(n * bl as usize, 0);
            stream.fill_words(train_address(sample, c), draws);
        }
        for (i, &x) in lines.iter().enumerate() {
            let p = prob(x);
            if p > 0.0 {
                let slots = (0..bl as usize).map(|k| draws[k * n + i]);
                P::line(slots, p, bl, row, out);
                emit(first + i, out);
            }
        }
    }
}
