//! The firing lines of the samples of an update call: which rows and columns carry pulses,
//! and what they carry.
//!
//! A line fires when its pulse train has a pulse (for `deterministic_implicit`, when its
//! probability is above zero). Trains are sampled only for lines with a probability above
//! zero, eight lines per Philox call ([`trains`]), the rows first and the columns only when a
//! row fires. Each side is then cut to the pulses the other side can meet, which changes no
//! coincidence but drops the lines without a partner.

use crate::pulse::{abs_max, plan, trains, TRAIN_LANES};
use crate::rng::Stream;

use super::UpdateCall;

/// What a row or column carries into coincidence counting.
pub(super) trait Payload: Copy + PartialEq + Send + Sync {
    /// A line that does not fire.
    const SILENT: Self;

    fn active(&self) -> bool;

    /// Pulses a device gets from its row and its column.
    fn pulses(row: &Self, col: &Self) -> u32;

    /// Adds the pulses of `other` (a union of trains; nothing for other payloads).
    fn merge(&mut self, other: &Self);

    /// Keeps only the pulses that can meet one of `union` (the merged lines of the other
    /// side): no coincidence changes.
    fn restrict(&mut self, union: &Self);
}

/// A sampled pulse train of up to `64 W` bits.
impl<const W: usize> Payload for [u64; W] {
    const SILENT: Self = [0; W];

    #[inline(always)]
    fn active(&self) -> bool {
        self.iter().any(|&m| m != 0)
    }

    #[inline(always)]
    fn pulses(row: &Self, col: &Self) -> u32 {
        row.iter().zip(col).map(|(r, c)| (r & c).count_ones()).sum()
    }

    #[inline(always)]
    fn merge(&mut self, other: &Self) {
        for (a, b) in self.iter_mut().zip(other) {
            *a |= b;
        }
    }

    #[inline(always)]
    fn restrict(&mut self, union: &Self) {
        for (a, b) in self.iter_mut().zip(union) {
            *a &= b;
        }
    }
}

/// A firing probability with the sample's train length, for `deterministic_implicit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Implicit {
    p: f32,
    bl: u32,
}

impl Payload for Implicit {
    const SILENT: Self = Implicit { p: 0.0, bl: 0 };

    #[inline(always)]
    fn active(&self) -> bool {
        self.p > 0.0
    }

    #[inline(always)]
    fn pulses(row: &Self, col: &Self) -> u32 {
        crate::pulse::implicit_pulses(row.bl, row.p, col.p)
    }

    fn merge(&mut self, _other: &Self) {}

    fn restrict(&mut self, _union: &Self) {}
}

/// Exactly one pulse for every device (`Tile::pulse`); every line fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct One;

impl Payload for One {
    const SILENT: Self = One;

    #[inline(always)]
    fn active(&self) -> bool {
        true
    }

    #[inline(always)]
    fn pulses(_row: &Self, _col: &Self) -> u32 {
        1
    }

    fn merge(&mut self, _other: &Self) {}

    fn restrict(&mut self, _union: &Self) {}
}

/// A row or column of one sample.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<P> {
    pub index: u32,
    pub negative: bool,
    pub payload: P,
}

impl<P: Payload> Line<P> {
    const SILENT: Self = Line {
        index: 0,
        negative: false,
        payload: P::SILENT,
    };
}

/// How the payloads of lines with a firing probability are made.
pub(super) trait Maker<P>: Sync {
    /// Payloads of at most [`TRAIN_LANES`] lines `index` of sample `sample` with
    /// probabilities `p` (all above zero) and train length `bl`: rows when `row`, else columns.
    fn make(&self, row: bool, sample: u32, index: &[u32], p: &[f32], bl: u32, out: &mut [P]);
}

/// Sampled pulse trains: rows from the d stream, columns from the x stream.
#[derive(Debug)]
pub(super) struct Trains {
    pub rows: Stream,
    pub cols: Stream,
}

impl<const W: usize> Maker<[u64; W]> for Trains {
    #[inline(always)]
    fn make(
        &self,
        row: bool,
        sample: u32,
        index: &[u32],
        p: &[f32],
        bl: u32,
        out: &mut [[u64; W]],
    ) {
        let stream = if row { &self.rows } else { &self.cols };
        trains(stream, sample, index, p, bl, out);
    }
}

/// The probabilities themselves (`deterministic_implicit`).
#[derive(Debug)]
pub(super) struct Probabilities;

impl Maker<Implicit> for Probabilities {
    #[inline]
    fn make(
        &self,
        _row: bool,
        _sample: u32,
        _index: &[u32],
        p: &[f32],
        bl: u32,
        out: &mut [Implicit],
    ) {
        for (o, &p) in out.iter_mut().zip(p) {
            *o = Implicit { p, bl };
        }
    }
}

/// A firing column with its position among the sample's firing columns.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ranked {
    pub col: u32,
    pub rank: u32,
}

/// The firing columns of a sample whose columns all carry the same payload, by the sign of
/// their input: each row then meets every one of them with the same number of pulses, and
/// the devices of either direction are known without comparing lines.
#[derive(Debug, Clone, Copy)]
pub(super) struct Uniform<'a> {
    pub positive: &'a [Ranked],
    pub negative: &'a [Ranked],
}

/// Where one firing sample's lines are in the buffers of [`TaskLines`].
#[derive(Debug, Clone, Copy)]
struct Entry {
    sample: u32,
    col0: usize,
    n_cols: usize,
    row0: usize,
    /// With uniform columns: where they start in `ranked`, and how many are positive.
    uniform: Option<(usize, usize)>,
}

/// The lines of the samples of one task, kept in growing buffers.
#[derive(Debug)]
pub(super) struct TaskLines<P> {
    entries: Vec<Entry>,
    /// The firing columns of each sample, in increasing order.
    cols: Vec<Line<P>>,
    /// Every row of each firing sample, by index.
    rows: Vec<Line<P>>,
    /// The uniform samples' columns by sign ([`Uniform`]).
    ranked: Vec<Ranked>,
    /// Pairs of a firing row and a firing column, summed over the samples: the work of
    /// applying them.
    pub pairs: usize,
}

/// The lines of one sample that fires.
#[derive(Debug, Clone, Copy)]
pub(super) struct Firing<'a, P> {
    pub sample: u32,
    pub cols: &'a [Line<P>],
    /// All `out_size` rows, by index.
    pub rows: &'a [Line<P>],
    /// The columns by sign when they all carry the same payload.
    pub uniform: Option<Uniform<'a>>,
}

impl<P: Payload> TaskLines<P> {
    /// The lines of samples `samples` of `call` (`x`: `n x in_size`, `d`: `n x out_size`) with
    /// the planning step `dw_min`.
    #[inline(always)]
    pub fn new(
        maker: &impl Maker<P>,
        call: &UpdateCall,
        dw_min: f64,
        out_size: usize,
        in_size: usize,
        samples: std::ops::Range<usize>,
    ) -> Self {
        let count = samples.len();
        let mut t = TaskLines {
            entries: Vec::new(),
            cols: Vec::with_capacity(count * in_size),
            rows: Vec::with_capacity(count * out_size),
            ranked: Vec::new(),
            pairs: 0,
        };
        for b in samples {
            t.add_sample(maker, call, dw_min, b, out_size, in_size);
        }
        t
    }

    #[inline(always)]
    fn add_sample(
        &mut self,
        maker: &impl Maker<P>,
        call: &UpdateCall,
        dw_min: f64,
        b: usize,
        out_size: usize,
        in_size: usize,
    ) {
        let x = &call.x[b * in_size..(b + 1) * in_size];
        let d = &call.d[b * out_size..(b + 1) * out_size];
        let Some(plan) = plan(call.update, dw_min, call.lr, abs_max(x), abs_max(d)) else {
            return;
        };
        let sample = b as u32;
        // Rows: every row at its index, silent or not.
        let row0 = self.rows.len();
        self.rows.extend(d.iter().enumerate().map(|(i, &v)| Line {
            index: i as u32,
            negative: v < 0.0,
            payload: P::SILENT,
        }));
        let rows = &mut self.rows[row0..];
        let mut row_union = P::SILENT;
        let mut fired = 0;
        // Branch-free: whether a line fires is a coin toss the CPU cannot predict.
        side(
            maker,
            true,
            sample,
            d,
            |v| plan.p_row(v),
            plan.bl,
            |i, p| {
                rows[i].payload = p;
                row_union.merge(&p);
                fired += usize::from(p.active());
            },
        );
        if fired == 0 {
            self.rows.truncate(row0);
            return;
        }
        // Columns: the firing ones, packed, cut to the rows' pulses (each written at the end,
        // and kept by advancing the end when it fires).
        let col0 = self.cols.len();
        self.cols.resize(col0 + in_size, Line::SILENT);
        let cols = &mut self.cols[col0..];
        let mut n_cols = 0;
        side(
            maker,
            false,
            sample,
            x,
            |v| plan.p_col(v),
            plan.bl,
            |j, mut p| {
                p.restrict(&row_union);
                cols[n_cols] = Line {
                    index: j as u32,
                    negative: x[j] < 0.0,
                    payload: p,
                };
                n_cols += usize::from(p.active());
            },
        );
        self.cols.truncate(col0 + n_cols);
        if n_cols == 0 {
            self.rows.truncate(row0);
            return;
        }
        let mut col_union = P::SILENT;
        for c in &self.cols[col0..] {
            col_union.merge(&c.payload);
        }
        let mut n_rows = 0;
        for r in &mut self.rows[row0..] {
            r.payload.restrict(&col_union);
            n_rows += usize::from(r.payload.active());
        }
        let cols = &self.cols[col0..];
        let uniform = cols.iter().all(|c| c.payload == cols[0].payload).then(|| {
            let start = self.ranked.len();
            for negative in [false, true] {
                let ranked = cols
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.negative == negative);
                self.ranked.extend(ranked.map(|(rank, c)| Ranked {
                    col: c.index,
                    rank: rank as u32,
                }));
            }
            (start, cols.iter().filter(|c| !c.negative).count())
        });
        self.entries.push(Entry {
            sample,
            col0,
            n_cols,
            row0,
            uniform,
        });
        self.pairs += n_rows * n_cols;
    }

    /// The firing samples, in order.
    pub fn firing(&self, out_size: usize) -> impl Iterator<Item = Firing<'_, P>> {
        self.entries.iter().map(move |e| Firing {
            sample: e.sample,
            cols: &self.cols[e.col0..e.col0 + e.n_cols],
            rows: &self.rows[e.row0..e.row0 + out_size],
            uniform: e.uniform.map(|(start, positive)| {
                let ranked = &self.ranked[start..start + e.n_cols];
                Uniform {
                    positive: &ranked[..positive],
                    negative: &ranked[positive..],
                }
            }),
        })
    }
}

/// Calls `emit(i, payload)`, in increasing `i`, for every line `i` of one side of a sample
/// (values `v`: `d` for rows, `x` for columns) with a firing probability `prob(v_i) > 0`;
/// the payloads are made up to [`TRAIN_LANES`] at once. A payload may still be silent.
#[inline(always)]
fn side<P: Payload>(
    maker: &impl Maker<P>,
    row: bool,
    sample: u32,
    v: &[f32],
    prob: impl Fn(f32) -> f32,
    bl: u32,
    mut emit: impl FnMut(usize, P),
) {
    let mut index = [0u32; TRAIN_LANES];
    let mut p = [0.0f32; TRAIN_LANES];
    let mut payload = [P::SILENT; TRAIN_LANES];
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
        maker.make(
            row,
            sample,
            &index[..count],
            &p[..count],
            bl,
            &mut payload[..count],
        );
        for l in 0..count {
            emit(index[l] as usize, payload[l]);
        }
    }
}
