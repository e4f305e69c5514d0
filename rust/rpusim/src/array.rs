//! A weight matrix held by a grid of physical arrays (MODEL.md §3.5).
//!
//! A physical array has at most `mapping.max_input_size` inputs and `mapping.max_output_size`
//! outputs. A larger matrix is split, as aihwkit's `TileModuleArray` splits it, into
//! `ceil(size / max)` nearly equal parts along each dimension (the first `size mod parts` parts
//! one larger). Every part is a whole [`Tile`] with its own periphery, noise and bound
//! management, weight scaling and random streams. The forward outputs of the tiles of one row
//! of the grid are summed digitally in the order of their inputs, the backward outputs of one
//! column in the order of their outputs, and every tile is updated with its part of `x` and
//! `d`. A matrix within the limits is one tile with the array's seed: the same bits as a plain
//! [`Tile`].

use std::ops::Range;
use std::sync::Mutex;

use crate::alloc::{reserve, zeros};
use crate::config::TileConfig;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::matrix::Matrix;
use crate::memory::{check_fits, with_estimate};
use crate::mvm::product_ns;
use crate::threads::for_each_pair_asking;
use crate::tile::{check_lr, check_sizes, wrapped_columns, Call, Counters, Tile};
use crate::workspace::buffers_are_not_state;

/// The sizes of the parts that split `size` into pieces of at most `max` (0: no limit), as
/// aihwkit splits a layer: `ceil(size / max)` parts, the first `size mod parts` one larger.
pub fn split_sizes(size: usize, max: usize) -> Vec<usize> {
    if max == 0 || size <= max {
        return vec![size];
    }
    let parts = size.div_ceil(max);
    let (base, extra) = (size / parts, size % parts);
    (0..parts).map(|p| base + usize::from(p < extra)).collect()
}

/// The seed of tile `index` (row-major over the grid) of an array seeded with `seed`: the
/// array's seed for the first tile, so that an unsplit matrix is the tile it was, and a
/// SplitMix64 mix of both for the others, so that neighbouring seeds of different layers give
/// unrelated streams.
pub fn tile_seed(seed: u64, index: usize) -> u64 {
    if index == 0 {
        return seed;
    }
    let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The bytes an `out_size x in_size` weight matrix of `config` takes once built, as a
/// [`TileArray`] split as `config.mapping` says: the sum of [`Tile::estimate_memory`] over its
/// physical arrays. The work space of its operations (which grows with the batch) is not
/// counted.
pub fn estimate_memory(out_size: usize, in_size: usize, config: &TileConfig) -> Result<u64> {
    config.validate()?;
    check_sizes(out_size, in_size, config)?;
    let mut bytes = 0;
    for &rows in &split_sizes(out_size, config.mapping.max_output_size) {
        for &cols in &split_sizes(in_size, config.mapping.max_input_size) {
            bytes += Tile::estimate_memory(rows, cols, config)?;
        }
    }
    Ok(bytes)
}

/// Where each part starts: the running sums of `sizes`.
fn ranges(sizes: &[usize]) -> Vec<Range<usize>> {
    let mut start = 0;
    sizes
        .iter()
        .map(|&s| {
            start += s;
            start - s..start
        })
        .collect()
}

/// Buffers kept from call to call (not part of the state).
#[derive(Default)]
struct Scratch {
    /// The columns of `x` (forward, update) of every input part.
    inputs: Vec<Vec<f32>>,
    /// The columns of `d` (backward, update) of every output part.
    errors: Vec<Vec<f32>>,
    /// Every tile's output of the last pass.
    results: Vec<Vec<f32>>,
}

buffers_are_not_state!(Scratch);

/// An `out_size x in_size` weight matrix on a grid of physical arrays ([`Tile`]s), with the
/// operations of one tile; see the module documentation.
#[derive(Debug, Clone)]
pub struct TileArray {
    out_size: usize,
    in_size: usize,
    seed: u64,
    out_rows: Vec<Range<usize>>,
    in_cols: Vec<Range<usize>>,
    /// Row-major over the grid: tile `i * in_parts + j` holds rows `out_rows[i]` and columns
    /// `in_cols[j]`.
    tiles: Vec<Tile>,
    scratch: Scratch,
}

impl PartialEq for TileArray {
    fn eq(&self, other: &Self) -> bool {
        self.tiles == other.tiles
    }
}

impl TileArray {
    /// An array of all-zero weights split as `config.mapping` says, tile `k` drawn from
    /// [`tile_seed`]`(seed, k)`.
    pub fn new(out_size: usize, in_size: usize, config: TileConfig, seed: u64) -> Result<Self> {
        let estimate = estimate_memory(out_size, in_size, &config)?;
        check_fits(out_size, in_size, estimate)?;
        let out_sizes = split_sizes(out_size, config.mapping.max_output_size);
        let in_sizes = split_sizes(in_size, config.mapping.max_input_size);
        let mut tiles = Vec::with_capacity(out_sizes.len() * in_sizes.len());
        for &rows in &out_sizes {
            for &cols in &in_sizes {
                let k = tiles.len();
                let tile = Tile::build(rows, cols, config.clone(), tile_seed(seed, k))
                    .map_err(|e| with_estimate(e, out_size, in_size, estimate))?;
                tiles.push(tile);
            }
        }
        Self::from_tiles(out_size, in_size, seed, tiles)
    }

    /// An array of the given tiles (row-major over the grid its configuration implies),
    /// checked: sizes, seeds and configurations must be those [`TileArray::new`] makes.
    pub(crate) fn from_tiles(
        out_size: usize,
        in_size: usize,
        seed: u64,
        tiles: Vec<Tile>,
    ) -> Result<Self> {
        let first = tiles
            .first()
            .ok_or_else(|| Error::State("a tile array without tiles".into()))?;
        let config = first.config().clone();
        let parts = |size: usize, max: usize| {
            if max == 0 {
                1
            } else {
                size.div_ceil(max)
            }
        };
        let (max_out, max_in) = (
            config.mapping.max_output_size,
            config.mapping.max_input_size,
        );
        if out_size == 0
            || in_size == 0
            || parts(out_size, max_out).checked_mul(parts(in_size, max_in)) != Some(tiles.len())
        {
            return Err(Error::State(format!(
                "{} tiles cannot hold {out_size} x {in_size} weights",
                tiles.len()
            )));
        }
        let out_sizes = split_sizes(out_size, config.mapping.max_output_size);
        let in_sizes = split_sizes(in_size, config.mapping.max_input_size);
        if tiles.len() != out_sizes.len() * in_sizes.len() {
            return Err(Error::State(format!(
                "{} tiles for a grid of {} x {}",
                tiles.len(),
                out_sizes.len(),
                in_sizes.len()
            )));
        }
        let pulses: u128 = tiles.iter().map(|t| u128::from(t.pulses())).sum();
        if pulses > u128::from(u64::MAX) {
            return Err(Error::State(format!(
                "pulses: the tiles' counts sum to {pulses}, past the largest count 2^64 - 1"
            )));
        }
        for (k, tile) in tiles.iter().enumerate() {
            let (i, j) = (k / in_sizes.len(), k % in_sizes.len());
            if tile.out_size() != out_sizes[i]
                || tile.in_size() != in_sizes[j]
                || tile.seed() != tile_seed(seed, k)
                || tile.config() != &config
            {
                return Err(Error::State(format!(
                    "tile {k} does not belong to the grid (size, seed or configuration)"
                )));
            }
        }
        Ok(TileArray {
            out_size,
            in_size,
            seed,
            out_rows: ranges(&out_sizes),
            in_cols: ranges(&in_sizes),
            tiles,
            scratch: Scratch::default(),
        })
    }

    /// The number of outputs (rows) of the whole matrix.
    pub fn out_size(&self) -> usize {
        self.out_size
    }

    /// The number of inputs (columns) of the whole matrix.
    pub fn in_size(&self) -> usize {
        self.in_size
    }

    /// The array's seed (the first tile's; the others' follow from it, [`tile_seed`]).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The configuration every tile of the array runs with.
    pub fn config(&self) -> &TileConfig {
        self.tiles[0].config()
    }

    /// The physical arrays, row-major over the grid.
    pub fn tiles(&self) -> &[Tile] {
        &self.tiles
    }

    /// The rows of every row of the grid and the columns of every column.
    pub fn grid(&self) -> (&[Range<usize>], &[Range<usize>]) {
        (&self.out_rows, &self.in_cols)
    }

    /// The rows and columns of tile `k`.
    pub fn tile_block(&self, k: usize) -> (Range<usize>, Range<usize>) {
        let p = self.in_cols.len();
        (self.out_rows[k / p].clone(), self.in_cols[k % p].clone())
    }

    /// The call counters (every tile makes every call).
    pub fn counters(&self) -> Counters {
        self.tiles[0].counters()
    }

    /// [`Tile::batch_shard`] of every tile.
    pub fn batch_shard(&self) -> u64 {
        self.tiles[0].batch_shard()
    }

    /// Sets [`Tile::batch_shard`] of every tile.
    pub fn set_batch_shard(&mut self, shard: u64) {
        for tile in &mut self.tiles {
            tile.set_batch_shard(shard);
        }
    }

    /// Pulses applied to all the tiles' devices.
    pub fn pulses(&self) -> u64 {
        self.tiles.iter().map(Tile::pulses).sum()
    }

    fn single(&mut self) -> Option<&mut Tile> {
        match self.tiles.as_mut_slice() {
            [tile] => Some(tile),
            _ => None,
        }
    }

    /// Changes the periphery or update parameters of every tile (neither the device model nor
    /// the split can change): [`TileArray::check_config`], then the change. An error leaves
    /// every tile as it was.
    pub fn set_config(&mut self, config: TileConfig) -> Result<()> {
        self.check_config(&config)?;
        for tile in &mut self.tiles {
            tile.replace_config(config.clone());
        }
        Ok(())
    }

    /// `Ok` when [`TileArray::set_config`] would take `config`: valid, the same devices and the
    /// same split.
    pub fn check_config(&self, config: &TileConfig) -> Result<()> {
        let sizes = |parts: &[Range<usize>]| parts.iter().map(Range::len).collect::<Vec<_>>();
        if split_sizes(self.out_size, config.mapping.max_output_size) != sizes(&self.out_rows)
            || split_sizes(self.in_size, config.mapping.max_input_size) != sizes(&self.in_cols)
        {
            return Err(Error::invalid(
                "mapping.max_input_size, mapping.max_output_size",
                "the split of an existing tile cannot change; make a new tile",
            ));
        }
        // Every tile checks the same things: the first refuses what all would refuse.
        self.tiles[0].check_config(config)
    }

    /// The blocks of a row-major `out_size x in_size` matrix, one per tile.
    fn blocks(&self, w: &[f32]) -> Vec<Vec<f32>> {
        (0..self.tiles.len())
            .map(|k| {
                let (rows, cols) = self.tile_block(k);
                rows.flat_map(|r| {
                    w[r * self.in_size + cols.start..r * self.in_size + cols.end]
                        .iter()
                        .copied()
                })
                .collect()
            })
            .collect()
    }

    /// A row-major `out_size x in_size` matrix from one block per tile.
    fn join(&self, block: impl Fn(&Tile) -> Vec<f32>) -> Vec<f32> {
        let mut w = vec![0.0; self.out_size * self.in_size];
        for (k, tile) in self.tiles.iter().enumerate() {
            let (rows, cols) = self.tile_block(k);
            for (r, values) in rows.zip(block(tile).chunks(cols.len())) {
                w[r * self.in_size + cols.start..r * self.in_size + cols.end]
                    .copy_from_slice(values);
            }
        }
        w
    }

    /// The analog weights the devices hold, row-major.
    pub fn weights(&self) -> Vec<f32> {
        self.join(|t| t.weights().to_vec())
    }

    /// The weights the array computes with: every tile's `diag(out_scales) W_a`.
    pub fn effective_weights(&self) -> Vec<f32> {
        self.join(Tile::effective_weights)
    }

    /// The digital scale of every output row, when every row has one: a grid of one column
    /// of tiles (with several, each tile of a row has its own: see [`TileArray::tiles`]).
    pub fn out_scales(&self) -> Result<Vec<f32>> {
        if self.in_cols.len() > 1 {
            return Err(Error::invalid(
                "out_scales",
                format!(
                    "the inputs are split over {} tiles, each with its own scales; read them \
                     from every tile",
                    self.in_cols.len()
                ),
            ));
        }
        Ok(self
            .tiles
            .iter()
            .flat_map(|t| t.out_scales().iter().copied())
            .collect())
    }

    /// Maps and programs the weights the array computes with, every tile its block with its
    /// own scales ([`Tile::set_weights`]).
    pub fn set_weights(&mut self, w: Matrix) -> Result<()> {
        self.write_blocks(w, Tile::set_weights)
    }

    /// Programs the analog weights as they are ([`Tile::program_weights`]).
    pub fn program_weights(&mut self, w: Matrix) -> Result<()> {
        self.write_blocks(w, Tile::program_weights)
    }

    /// `write(tile, block)` for every tile and its block of the row-major matrix `w`, checked
    /// first.
    fn write_blocks(
        &mut self,
        w: Matrix,
        write: fn(&mut Tile, Matrix) -> Result<()>,
    ) -> Result<()> {
        if let Some(tile) = self.single() {
            return write(tile, w);
        }
        w.expect("weights", Some(self.out_size), self.in_size, "in_size")?;
        let blocks = self.blocks(w.data());
        for (tile, block) in self.tiles.iter_mut().zip(blocks) {
            let (rows, cols) = (tile.out_size(), tile.in_size());
            write(tile, Matrix::new(&block, rows, cols)?)?;
        }
        Ok(())
    }

    /// Re-maps every tile ([`Tile::remap`]).
    pub fn remap(&mut self) -> Result<()> {
        self.tiles.iter_mut().try_for_each(Tile::remap)
    }

    /// One pulse in direction `up` to every device of every tile ([`Tile::pulse`]).
    pub fn pulse(&mut self, up: bool) -> Result<()> {
        self.check_countable(Call::Pulse)?;
        self.tiles.iter_mut().try_for_each(|t| t.pulse(up))
    }

    /// `Ok` when every tile can count `call` ([`Tile::check_countable`]) and the grid's pulse
    /// count, the sum of its tiles', cannot pass the largest u64: checked before any tile
    /// runs, so that a refused call changes none of them.
    fn check_countable(&self, call: Call) -> Result<()> {
        for tile in &self.tiles {
            tile.check_countable(call)?;
        }
        let most: u128 = (self.tiles.iter())
            .map(|t| u128::from(t.pulses()) + t.most_pulses(call))
            .sum();
        if most > u128::from(u64::MAX) {
            return Err(Error::State(format!(
                "pulses: {} applied so far on the grid's tiles; this call may take the count \
                 to {most}, past the largest count 2^64 - 1",
                self.pulses()
            )));
        }
        Ok(())
    }

    /// Resets `count` consecutive columns of the matrix from `start` on, wrapping past the
    /// last ([`Tile::reset_columns`]); each tile resets its part of them.
    pub fn reset_columns(&mut self, start: usize, count: usize, prob: f32) -> Result<()> {
        let columns = wrapped_columns(self.in_size, start, count)?;
        for k in 0..self.tiles.len() {
            let (_, cols) = self.tile_block(k);
            self.tiles[k].reset_column_mask(&columns[cols], prob)?;
        }
        Ok(())
    }

    /// The pulse counters of the whole matrix ([`Tile::pulse_counts`]): for each device that
    /// counts, `out_size x in_size` counts of the pulses that lowered the weight, then those
    /// that raised it, each tile's in its block.
    pub fn pulse_counts(&self) -> Option<Vec<u64>> {
        if let [tile] = self.tiles() {
            return tile.pulse_counts();
        }
        let (out, inp) = (self.out_size, self.in_size);
        let mut all: Vec<u64> = Vec::new();
        for k in 0..self.tiles.len() {
            let counts = self.tiles[k].pulse_counts()?;
            let (rows, cols) = self.tile_block(k);
            let per_block = rows.len() * cols.len();
            if all.is_empty() {
                all = vec![0; counts.len() / per_block * out * inp];
            }
            for (b, block) in counts.chunks(per_block).enumerate() {
                for (r, row) in block.chunks(cols.len()).enumerate() {
                    let at = b * out * inp + (rows.start + r) * inp + cols.start;
                    all[at..at + cols.len()].copy_from_slice(row);
                }
            }
        }
        Some(all)
    }

    /// Checks the length of an output buffer of `n` rows of `width` values.
    fn check_output(y: &[f32], n: usize, width: usize) -> Result<()> {
        if y.len() != n * width {
            return Err(Error::Shape {
                name: "output",
                expected: format!("{} values ({n} samples of {width})", n * width),
                got: format!("{} values", y.len()),
            });
        }
        Ok(())
    }

    /// `y = W x` ([`Tile::forward`]) for `n` samples `x` (`n x in_size`).
    pub fn forward(&mut self, x: Matrix, is_test: bool) -> Result<Vec<f32>> {
        let mut y = zeros(x.rows() * self.out_size, "output")?;
        self.forward_into(x, is_test, &mut y)?;
        Ok(y)
    }

    /// `z = W^T d` ([`Tile::backward`]) for `n` samples `d` (`n x out_size`).
    pub fn backward(&mut self, d: Matrix) -> Result<Vec<f32>> {
        let mut z = zeros(d.rows() * self.in_size, "output")?;
        self.backward_into(d, &mut z)?;
        Ok(z)
    }

    /// `y = W x` ([`Tile::forward_into`]) for `n` samples; `y` is `n x out_size`.
    pub fn forward_into(&mut self, x: Matrix, is_test: bool, y: &mut [f32]) -> Result<()> {
        self.forward_clipped_into(x, is_test, y, None).map(|_| ())
    }

    /// [`TileArray::forward_into`], and with `clipped` which outputs of every array reached
    /// its output bound: `clipped[j]` (`n x out_size`, for the arrays of grid column `j`) is
    /// true where the array's output, before its digital scale, is at `0.999 * out_scale *
    /// out_bound` or beyond, as aihwkit's tiles mark the outputs whose gradient the ADC's
    /// clipping stops. Returns whether any output was marked; marks nothing (and returns false)
    /// for a perfect forward pass or without an output bound.
    pub fn forward_clipped_into(
        &mut self,
        x: Matrix,
        is_test: bool,
        y: &mut [f32],
        clipped: Option<&mut Vec<Vec<bool>>>,
    ) -> Result<bool> {
        let n = x.rows();
        if let Some(tile) = self.single() {
            tile.forward_into(x, is_test, y)?;
        } else {
            x.expect("x", None, self.in_size, "in_size")?;
            Self::check_output(y, n, self.out_size)?;
            self.check_countable(Call::Forward)?;
            let x = x.data();
            gather(x, n, self.in_size, &self.in_cols, &mut self.scratch.inputs);
            let p = self.in_cols.len();
            let (inputs, work) = (&self.scratch.inputs, self.work(n));
            run(
                &mut self.tiles,
                &mut self.scratch.results,
                work,
                &Interrupt::never(),
                |k, tile, out| {
                    reserve(out, n * tile.out_size(), "tile outputs")?;
                    out.resize(n * tile.out_size(), 0.0);
                    let x = Matrix::new(part(x, inputs, k % p), n, tile.in_size())?;
                    tile.forward_into(x, is_test, out)
                },
            )?;
            reduce(
                &self.scratch.results,
                y,
                n,
                self.out_size,
                &self.out_rows,
                p,
                |i, j| i * p + j,
            );
        }
        let (Some(clipped), Some(bound)) = (clipped, self.gradient_bound()) else {
            return Ok(false);
        };
        let p = self.in_cols.len();
        clipped.resize_with(p, Vec::new);
        let mut any = false;
        for (j, mask) in clipped.iter_mut().enumerate() {
            mask.clear();
            mask.resize(n * self.out_size, false);
            for (i, rows) in self.out_rows.iter().enumerate() {
                let k = i * p + j;
                let scales = self.tiles[k].out_scales();
                let out: &[f32] = if self.tiles.len() == 1 {
                    y
                } else {
                    &self.scratch.results[k]
                };
                for b in 0..n {
                    let part = &out[b * rows.len()..(b + 1) * rows.len()];
                    let marks =
                        &mut mask[b * self.out_size + rows.start..b * self.out_size + rows.end];
                    for ((m, &v), &s) in marks.iter_mut().zip(part).zip(scales) {
                        *m = v.abs() >= (bound * f64::from(s)) as f32;
                        any |= *m;
                    }
                }
            }
        }
        Ok(any)
    }

    /// The analog output at which aihwkit stops the gradient, `0.999 * out_scale *
    /// out_bound` (its `get_forward_out_bound`), or `None` for a perfect forward pass or
    /// without an output bound.
    fn gradient_bound(&self) -> Option<f64> {
        let io = &self.config().forward;
        (!io.is_perfect && io.out_bound > 0.0).then_some(0.999 * io.out_scale * io.out_bound)
    }

    /// `z = W^T d` ([`Tile::backward_into`]) for `n` samples; `z` is `n x in_size`.
    pub fn backward_into(&mut self, d: Matrix, z: &mut [f32]) -> Result<()> {
        self.backward_masked_into(d, z, None)
    }

    /// [`TileArray::backward_into`] with the errors of the outputs that
    /// [`TileArray::forward_clipped_into`] marked set to zero, array by array (`clipped[j]`
    /// for the arrays of grid column `j`, `n x out_size`).
    pub fn backward_masked_into(
        &mut self,
        d: Matrix,
        z: &mut [f32],
        clipped: Option<&[Matrix<bool>]>,
    ) -> Result<()> {
        if clipped.is_none() {
            if let Some(tile) = self.single() {
                return tile.backward_into(d, z);
            }
        }
        d.expect("d", None, self.out_size, "out_size")?;
        let (n, d) = (d.rows(), d.data());
        Self::check_output(z, n, self.in_size)?;
        let (p, q) = (self.in_cols.len(), self.out_rows.len());
        if let Some(masks) = clipped {
            if masks.len() != p {
                return Err(Error::Shape {
                    name: "clipped",
                    expected: format!("{p} masks (one per grid column)"),
                    got: format!("{} masks", masks.len()),
                });
            }
            for mask in masks {
                mask.expect_shape("clipped", Some(n), self.out_size, "out_size")?;
            }
        }
        // The errors of every output part, or of every array when the arrays of a grid row saw
        // different outputs clipped.
        let per_tile = clipped.is_some();
        match clipped {
            None => gather(
                d,
                n,
                self.out_size,
                &self.out_rows,
                &mut self.scratch.errors,
            ),
            Some(masks) => {
                let errors = &mut self.scratch.errors;
                errors.resize_with(self.tiles.len(), Vec::new);
                for (k, buf) in errors.iter_mut().enumerate() {
                    let (rows, marks) = (&self.out_rows[k / p], masks[k % p].data());
                    buf.clear();
                    for b in 0..n {
                        let at = b * self.out_size + rows.start..b * self.out_size + rows.end;
                        let zeroed = d[at.clone()].iter().zip(&marks[at]);
                        buf.extend(zeroed.map(|(&v, &m)| if m { 0.0 } else { v }));
                    }
                }
            }
        }
        if let [tile] = self.tiles.as_mut_slice() {
            return tile.backward_into(Matrix::new(&self.scratch.errors[0], n, self.out_size)?, z);
        }
        self.check_countable(Call::Backward)?;
        let (errors, work) = (&self.scratch.errors, self.work(n));
        run(
            &mut self.tiles,
            &mut self.scratch.results,
            work,
            &Interrupt::never(),
            |k, tile, out| {
                reserve(out, n * tile.in_size(), "tile outputs")?;
                out.resize(n * tile.in_size(), 0.0);
                let errors = if per_tile {
                    &errors[k]
                } else {
                    part(d, errors, k / p)
                };
                tile.backward_into(Matrix::new(errors, n, tile.out_size())?, out)
            },
        )?;
        reduce(
            &self.scratch.results,
            z,
            n,
            self.in_size,
            &self.in_cols,
            q,
            |j, i| i * p + j,
        );
        Ok(())
    }

    /// `W <- W - lr d x^T` by pulses ([`Tile::update`]): every tile with its part of `x` and
    /// `d`.
    pub fn update(&mut self, x: Matrix, d: Matrix, lr: f32) -> Result<()> {
        self.update_interruptible(x, d, lr, &Interrupt::never())
    }

    /// [`TileArray::update`] that asks `interrupt` between chunks of samples whether to stop
    /// ([`Tile::update_interruptible`]). Every tile of a stopped update has applied a whole
    /// number of samples, its first ones, but the tiles of a grid may have applied different
    /// numbers (each stops at its own next chunk); the error
    /// ([`Error::Interrupted`]) gives the fewest. Every tile counts the call.
    pub fn update_interruptible(
        &mut self,
        x: Matrix,
        d: Matrix,
        lr: f32,
        interrupt: &Interrupt<'_>,
    ) -> Result<()> {
        if let Some(tile) = self.single() {
            return tile.update_interruptible(x, d, lr, interrupt);
        }
        x.expect("x", None, self.in_size, "in_size")?;
        d.expect("d", Some(x.rows()), self.out_size, "out_size")?;
        check_lr(lr)?;
        self.check_countable(Call::Update(x.rows()))?;
        let (n, x, d) = (x.rows(), x.data(), d.data());
        gather(x, n, self.in_size, &self.in_cols, &mut self.scratch.inputs);
        gather(
            d,
            n,
            self.out_size,
            &self.out_rows,
            &mut self.scratch.errors,
        );
        let p = self.in_cols.len();
        let (inputs, errors) = (&self.scratch.inputs, &self.scratch.errors);
        let work = self.work(n);
        run(
            &mut self.tiles,
            &mut self.scratch.results,
            work,
            interrupt,
            |k, tile, _| {
                let x = Matrix::new(part(x, inputs, k % p), n, tile.in_size())?;
                let d = Matrix::new(part(d, errors, k / p), n, tile.out_size())?;
                tile.update_interruptible(x, d, lr, interrupt)
            },
        )
    }

    /// Estimated nanoseconds of one thread for one operation of `n` samples on all tiles.
    fn work(&self, n: usize) -> usize {
        product_ns(n * self.out_size * self.in_size)
            + 4 * n * (self.out_size + self.in_size) * self.tiles.len()
    }
}

/// Runs `op(k, tile, result buffer of tile k)` for every tile, on the pool when `work`
/// (estimated nanoseconds) is large enough, with the calling thread asking `interrupt`
/// meanwhile. Returns an error if a tile failed (the callers check their inputs first, so only
/// an interrupt is expected): another error before [`Error::Interrupted`], and of the
/// interrupted tiles the one that applied the fewest samples.
fn run<F>(
    tiles: &mut [Tile],
    results: &mut Vec<Vec<f32>>,
    work: usize,
    interrupt: &Interrupt<'_>,
    op: F,
) -> Result<()>
where
    F: Fn(usize, &mut Tile, &mut Vec<f32>) -> Result<()> + Send + Sync,
{
    results.resize_with(tiles.len(), Vec::new);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    for_each_pair_asking(tiles, results, work, interrupt, |k, tile, out| {
        if let Err(e) = op(k, tile, out) {
            let mut first = failure.lock().unwrap_or_else(|e| e.into_inner());
            let replaces = match (&*first, &e) {
                (None, _) => true,
                (
                    Some(Error::Interrupted { applied: kept, .. }),
                    Error::Interrupted { applied, .. },
                ) => applied < kept,
                (Some(Error::Interrupted { .. }), _) => true,
                (Some(_), _) => false,
            };
            if replaces {
                *first = Some(e);
            }
        }
    });
    match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The columns `parts[j]` of the `n x width` batch `v`, each into `out[j]` (`n x len`); with
/// one part nothing is copied (`out` is left empty, and [`part`] gives `v` itself).
fn gather(v: &[f32], n: usize, width: usize, parts: &[Range<usize>], out: &mut Vec<Vec<f32>>) {
    if parts.len() == 1 {
        out.clear();
        return;
    }
    out.resize_with(parts.len(), Vec::new);
    for (cols, buf) in parts.iter().zip(out.iter_mut()) {
        buf.clear();
        for b in 0..n {
            buf.extend_from_slice(&v[b * width + cols.start..b * width + cols.end]);
        }
    }
}

/// Part `j` of the batch `v` as [`gather`] left it in `gathered`.
fn part<'a>(v: &'a [f32], gathered: &'a [Vec<f32>], j: usize) -> &'a [f32] {
    if gathered.is_empty() {
        v
    } else {
        &gathered[j]
    }
}

/// `y[b, parts[i]] = sum over t of results[tile(i, t)][b]` for the `terms` tiles that feed part
/// `i`, added in the order of `t`.
fn reduce(
    results: &[Vec<f32>],
    y: &mut [f32],
    n: usize,
    width: usize,
    parts: &[Range<usize>],
    terms: usize,
    tile: impl Fn(usize, usize) -> usize,
) {
    for (i, cols) in parts.iter().enumerate() {
        let len = cols.len();
        for b in 0..n {
            let out = &mut y[b * width + cols.start..b * width + cols.end];
            out.copy_from_slice(&results[tile(i, 0)][b * len..(b + 1) * len]);
            for t in 1..terms {
                for (o, &r) in out
                    .iter_mut()
                    .zip(&results[tile(i, t)][b * len..(b + 1) * len])
                {
                    *o += r;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_aihwkit() {
        assert_eq!(split_sizes(784, 512), vec![392, 392]);
        assert_eq!(split_sizes(1025, 512), vec![342, 342, 341]);
        assert_eq!(split_sizes(512, 512), vec![512]);
        assert_eq!(split_sizes(2304, 0), vec![2304]);
        assert_eq!(split_sizes(10, 3), vec![3, 3, 2, 2]);
    }

    #[test]
    fn the_first_tile_keeps_the_seed() {
        assert_eq!(tile_seed(7, 0), 7);
        assert_ne!(tile_seed(7, 1), tile_seed(8, 0));
        assert_ne!(tile_seed(7, 1), tile_seed(7, 2));
    }
}
