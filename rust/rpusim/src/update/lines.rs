//! The firing lines of the samples of an update call: what every row and every column of a
//! sample carries into coincidence counting, laid out densely for the kernels of `fire.rs`.
//!
//! A line carries `WORDS` 32-bit words: its pulse train (bit `k` is pulse `k`), or for
//! `deterministic_implicit` its firing probability. All zero means it does not fire. Trains
//! are sampled only for lines with a probability above zero, eight lines per Philox call, the
//! rows first and the columns only when a row fires. The columns of a sample are kept as
//! `WORDS` planes of `in_size` rounded up to 16 (a SIMD group), the signs of their inputs as one
//! 16-bit mask per group, and the groups that hold a firing column are listed, so that a
//! kernel visits only those.

use crate::pulse::{abs_max, implicit_pulses, plan, trains, SamplePlan, TRAIN_LANES};
use crate::rng::Stream;

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

    /// The words of up to [`TRAIN_LANES`] lines `index` of sample `sample` with probabilities `p`
    /// (all above zero) and train length `bl`, `WORDS` per line into `out`: rows when `row`,
    /// else columns.
    fn make(
        lines: &TrainStreams,
        row: bool,
        sample: u32,
        index: &[u32],
        p: &[f32],
        bl: u32,
        out: &mut [u32],
    );
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

    #[inline(always)]
    fn make(
        lines: &TrainStreams,
        row: bool,
        sample: u32,
        index: &[u32],
        p: &[f32],
        bl: u32,
        out: &mut [u32],
    ) {
        let mut masks = [[0u32; W]; TRAIN_LANES];
        let n = index.len();
        let stream = if row { &lines.rows } else { &lines.cols };
        trains(stream, sample, index, p, bl, &mut masks[..n]);
        for (o, m) in out.chunks_exact_mut(W).zip(&masks[..n]) {
            o.copy_from_slice(m);
        }
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

    #[inline(always)]
    fn make(
        _lines: &TrainStreams,
        row: bool,
        _sample: u32,
        _index: &[u32],
        p: &[f32],
        bl: u32,
        out: &mut [u32],
    ) {
        for (o, &p) in out.iter_mut().zip(p) {
            *o = if row {
                (bl as f32 * p).to_bits()
            } else {
                p.to_bits()
            };
        }
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
    cols: usize,
    col_neg: usize,
    groups: (usize, usize),
    uniform: Option<usize>,
    fire: u32,
}

/// The lines of a range of samples, in growing buffers that a call keeps for the next.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    entries: Vec<Entry>,
    /// Every row's words, row after row, per firing sample.
    rows: Vec<u32>,
    /// Whether each row's error is negative, per firing sample.
    row_neg: Vec<bool>,
    /// The column planes of each firing sample: word `w` of column `j` at `w * in_pad + j`.
    cols: Vec<u32>,
    /// Per firing sample and group of columns, bit `l` set when column `16 g + l` has a
    /// negative input.
    col_neg: Vec<u16>,
    /// Per firing sample, the groups that hold a firing column, increasing.
    groups: Vec<u32>,
    /// The words every firing column carries, for samples where they are all the same.
    uniform: Vec<u32>,
    /// Pairs of a firing row and a visited column (16 per group), summed over the samples:
    /// the work of applying them.
    pub visits: usize,
}

/// The lines of one sample that fires.
#[derive(Debug, Clone, Copy)]
pub(super) struct Firing<'a> {
    pub sample: u32,
    /// All `out_size` rows' words, row after row (`WORDS` each).
    pub rows: &'a [u32],
    pub row_neg: &'a [bool],
    /// `WORDS` planes of `in_pad` columns.
    pub cols: &'a [u32],
    /// One sign mask per group of columns.
    pub col_neg: &'a [u16],
    /// The groups with a firing column.
    pub groups: &'a [u32],
    /// The words all firing columns carry, when they carry the same.
    pub uniform: Option<&'a [u32]>,
    /// How many columns fire.
    pub fire: u32,
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
    pub fn iter(&self) -> impl Iterator<Item = Firing<'a>> + 'a {
        let (words, out_size, in_size) = (self.words, self.out_size, self.in_size);
        self.lines
            .iter()
            .flat_map(move |l| l.firing(words, out_size, in_size))
    }

    /// The work of applying the samples' coincidences ([`Lines::visits`]).
    pub fn visits(&self) -> usize {
        self.lines.iter().map(|l| l.visits).sum()
    }
}

/// `in_size` rounded up to a whole number of groups.
pub(super) fn padded(in_size: usize) -> usize {
    in_size.div_ceil(GROUP) * GROUP
}

impl Lines {
    /// Forgets the lines, keeping the buffers.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.rows.clear();
        self.row_neg.clear();
        self.cols.clear();
        self.col_neg.clear();
        self.groups.clear();
        self.uniform.clear();
        self.visits = 0;
    }

    /// Adds the lines of samples `samples` of `call` (`x`: `n x in_size`, `d`: `n x
    /// out_size`) with the planning step `dw_min`.
    #[inline(always)]
    pub(super) fn add<P: Payload>(
        &mut self,
        makers: &TrainStreams,
        call: &UpdateCall,
        dw_min: f64,
        (out_size, in_size): (usize, usize),
        samples: std::ops::Range<usize>,
    ) {
        for b in samples {
            let x = &call.x[b * in_size..(b + 1) * in_size];
            let d = &call.d[b * out_size..(b + 1) * out_size];
            if let Some(plan) = plan(call.update, dw_min, call.lr, abs_max(x), abs_max(d)) {
                self.add_sample::<P>(makers, b as u32, plan, x, d);
            }
        }
    }

    /// One sample whose every row and column fires once (a train of one pulse), the rows in
    /// direction `up`: the lines of `Tile::pulse`.
    pub(super) fn add_all_firing(&mut self, out_size: usize, in_size: usize, up: bool) {
        let in_pad = padded(in_size);
        let mut entry = self.begin(0);
        self.rows.resize(entry.rows + out_size, 1);
        // A device's weight grows when its row's and its column's signs differ.
        self.row_neg.resize(entry.row_neg + out_size, up);
        self.cols.resize(entry.cols + in_pad, 0);
        self.cols[entry.cols..entry.cols + in_size].fill(1);
        self.col_neg.resize(entry.col_neg + in_pad / GROUP, 0);
        self.groups.extend(0..(in_pad / GROUP) as u32);
        entry.uniform = Some(self.uniform.len());
        self.uniform.push(1);
        self.finish(entry, out_size, in_size as u32);
    }

    fn begin(&self, sample: u32) -> Entry {
        Entry {
            sample,
            rows: self.rows.len(),
            row_neg: self.row_neg.len(),
            cols: self.cols.len(),
            col_neg: self.col_neg.len(),
            groups: (self.groups.len(), 0),
            uniform: None,
            fire: 0,
        }
    }

    fn finish(&mut self, mut entry: Entry, firing_rows: usize, fire: u32) {
        entry.groups.1 = self.groups.len();
        entry.fire = fire;
        self.visits += firing_rows * GROUP * (entry.groups.1 - entry.groups.0);
        self.entries.push(entry);
    }

    /// Drops what a sample that turned out silent added.
    fn undo(&mut self, entry: &Entry) {
        self.rows.truncate(entry.rows);
        self.row_neg.truncate(entry.row_neg);
        self.cols.truncate(entry.cols);
        self.col_neg.truncate(entry.col_neg);
        self.groups.truncate(entry.groups.0);
    }

    #[inline(always)]
    fn add_sample<P: Payload>(
        &mut self,
        makers: &TrainStreams,
        sample: u32,
        plan: SamplePlan,
        x: &[f32],
        d: &[f32],
    ) {
        let (out_size, in_size, words) = (d.len(), x.len(), P::WORDS);
        let in_pad = padded(in_size);
        let mut entry = self.begin(sample);
        // Rows: every row at its index, silent or not.
        self.rows.resize(entry.rows + out_size * words, 0);
        self.row_neg.extend(d.iter().map(|&v| v < 0.0));
        let rows = &mut self.rows[entry.rows..];
        let mut firing_rows = 0;
        side::<P>(
            makers,
            true,
            sample,
            d,
            |v| plan.p_row(v),
            plan.bl,
            |i, w| {
                rows[i * words..(i + 1) * words].copy_from_slice(w);
                firing_rows += usize::from(w.iter().any(|&v| v != 0));
            },
        );
        if firing_rows == 0 {
            return self.undo(&entry);
        }
        // Columns: dense planes, a sign mask per group, the groups that fire, and whether all
        // firing columns carry the same words (then those of the first are kept).
        self.cols.resize(entry.cols + words * in_pad, 0);
        self.col_neg.resize(entry.col_neg + in_pad / GROUP, 0);
        for (j, &v) in x.iter().enumerate() {
            self.col_neg[entry.col_neg + j / GROUP] |= u16::from(v < 0.0) << (j % GROUP);
        }
        let cols = &mut self.cols[entry.cols..];
        let groups = &mut self.groups;
        let mut first = None;
        let mut uniform = true;
        let mut fire = 0u32;
        side::<P>(
            makers,
            false,
            sample,
            x,
            |v| plan.p_col(v),
            plan.bl,
            |j, w| {
                if w.iter().all(|&v| v == 0) {
                    return;
                }
                for (k, &v) in w.iter().enumerate() {
                    cols[k * in_pad + j] = v;
                }
                fire += 1;
                let group = (j / GROUP) as u32;
                if groups.len() == entry.groups.0 || groups.last() != Some(&group) {
                    groups.push(group);
                }
                match first {
                    None => first = Some(j),
                    Some(j0) => uniform &= (0..words).all(|k| cols[k * in_pad + j0] == w[k]),
                }
            },
        );
        let Some(j0) = first else {
            return self.undo(&entry);
        };
        if uniform {
            entry.uniform = Some(self.uniform.len());
            let cols = &self.cols[entry.cols..];
            self.uniform
                .extend((0..words).map(|k| cols[k * in_pad + j0]));
        }
        self.finish(entry, firing_rows, fire);
    }

    /// The firing samples, in order; `words` per line, `in_size` columns.
    pub(super) fn firing(
        &self,
        words: usize,
        out_size: usize,
        in_size: usize,
    ) -> impl Iterator<Item = Firing<'_>> {
        let in_pad = padded(in_size);
        self.entries.iter().map(move |e| Firing {
            sample: e.sample,
            rows: &self.rows[e.rows..e.rows + out_size * words],
            row_neg: &self.row_neg[e.row_neg..e.row_neg + out_size],
            cols: &self.cols[e.cols..e.cols + words * in_pad],
            col_neg: &self.col_neg[e.col_neg..e.col_neg + in_pad / GROUP],
            groups: &self.groups[e.groups.0..e.groups.1],
            uniform: e.uniform.map(|u| &self.uniform[u..u + words]),
            fire: e.fire,
        })
    }
}

/// Calls `emit(i, words)`, in increasing `i`, for every line `i` of one side of a sample
/// (values `v`: `d` for rows, `x` for columns) with a firing probability `prob(v_i) > 0`;
/// the words are made up to [`TRAIN_LANES`] lines at once and may all be zero.
#[inline(always)]
fn side<P: Payload>(
    makers: &TrainStreams,
    row: bool,
    sample: u32,
    v: &[f32],
    prob: impl Fn(f32) -> f32,
    bl: u32,
    mut emit: impl FnMut(usize, &[u32]),
) {
    let words = P::WORDS;
    let mut index = [0u32; TRAIN_LANES];
    let mut p = [0.0f32; TRAIN_LANES];
    let mut out = [0u32; TRAIN_LANES * 8];
    let mut i = 0;
    while i < v.len() {
        // Gather the next lines with a probability, without branching on it.
        let mut count = 0;
        while i < v.len() && count < TRAIN_LANES {
            index[count] = i as u32;
            p[count] = prob(v[i]);
            count += usize::from(p[count] > 0.0);
            i += 1;
        }
        if count == 0 {
            break;
        }
        P::make(
            makers,
            row,
            sample,
            &index[..count],
            &p[..count],
            bl,
            &mut out[..count * words],
        );
        for l in 0..count {
            emit(index[l] as usize, &out[l * words..(l + 1) * words]);
        }
    }
}
