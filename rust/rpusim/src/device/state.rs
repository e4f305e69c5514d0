//! The drawn devices of a tile: none (the ideal device), one pulsed device per cross-point, or
//! a unit cell of several; programming them; their saved form.

use serde::{Deserialize, Serialize};

use super::config::DeviceConfig;
use super::effects::{AfterUpdate, ResetStreams};
use super::layer::DeviceLayer;
use super::mixed_precision::{MixedPrecisionCell, MixedPrecisionCounters};
use super::named::NamedArrays;
use super::one_sided::{OneSidedCell, OneSidedCounters};
use super::pulsed::{DeviceArrays, Shape};
use super::transfer::{TransferCell, TransferCounters};
use super::vector::VectorCell;
use crate::alloc::zeros;
use crate::error::{Error, Result};
use crate::numeric::{first_non_finite, next_count};
use crate::rng::{Op, Purpose, Stream};

/// What sits at the cross-points of a tile.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitCell {
    /// The ideal device: nothing drawn, no bounds.
    Ideal,
    /// One pulsed device per cross-point; its weight is the tile's weight.
    Single(DeviceLayer),
    /// Several pulsed devices per cross-point, weighted.
    Vector(VectorCell),
    /// A transfer compound: a fast and a slow array, weighted.
    Transfer(Box<TransferCell>),
    /// A one-sided unit cell: two devices, each only potentiated, the weight their
    /// difference.
    OneSided(Box<OneSidedCell>),
    /// A mixed-precision compound: one pulsed device (whose weights are the tile's) and the
    /// digital matrix of the accumulated update.
    MixedPrecision(Box<MixedPrecisionCell>),
}

/// The drawn devices of a tile and the counter of their random programming noise.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceState {
    /// What sits at the cross-points.
    pub cell: UnitCell,
    /// How many times the weights were programmed with write noise (the call counter of that
    /// noise; 0 for devices that draw none when programmed).
    pub programs: u64,
    /// How many times columns were reset (the call counter of the reset's random streams).
    pub resets: u64,
}

/// The counters of a device state that a saved tile keeps besides its arrays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceCounters {
    pub programs: u64,
    /// The unit cell's current device (0 without a unit cell).
    pub unit_cell_index: u32,
    /// Resets made (absent while 0, and in states saved before resets existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resets: u64,
    /// Where a transfer compound's transfers stand (absent for other devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferCounters>,
    /// Where a one-sided unit cell's updates and refreshes stand (absent for other devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_sided: Option<OneSidedCounters>,
    /// Where a mixed-precision compound's transfers stand (absent for other devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed_precision: Option<MixedPrecisionCounters>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl DeviceState {
    /// Draws the devices of an `out_size x in_size` tile from `seed`.
    pub(crate) fn populate(
        config: &DeviceConfig,
        out_size: usize,
        in_size: usize,
        seed: u64,
    ) -> Result<Self> {
        let shape = Shape {
            out_size,
            in_size,
            seed,
            sub: 0,
        };
        let compound = config.compound();
        let cell = match (config, config.vector_cell()) {
            (DeviceConfig::Ideal(_), _) => Some(UnitCell::Ideal),
            (DeviceConfig::MixedPrecisionCompound(p), _) => MixedPrecisionCell::populate(p, shape)?
                .map(|c| UnitCell::MixedPrecision(Box::new(c))),
            (_, Some(p)) => VectorCell::populate(&p, shape)?.map(UnitCell::Vector),
            (DeviceConfig::OneSidedUnitCell(p), _) => {
                OneSidedCell::populate(p, shape)?.map(|c| UnitCell::OneSided(Box::new(c)))
            }
            _ if compound.is_some() => compound
                .map(|c| TransferCell::populate(c, shape))
                .transpose()?
                .flatten()
                .map(|c| UnitCell::Transfer(Box::new(c))),
            (single, None) => DeviceLayer::populate(single, shape)?.map(UnitCell::Single),
        };
        let cell = cell.ok_or_else(|| {
            Error::invalid("device", "a unit cell holds single pulsed devices only")
        })?;
        let state = DeviceState {
            cell,
            programs: 0,
            resets: 0,
        };
        // Values within float32 can still draw an infinity (a bound near the float32 maximum
        // times its spread): such devices would give a state that does not load.
        for (name, values) in state.named_arrays() {
            if let Some(k) = first_non_finite(values) {
                return Err(Error::invalid(
                    "device",
                    format!(
                        "the parameters draw a non-finite value {} into {name} (device {k}): \
                         a bound, step or spread too large for float32",
                        values[k]
                    ),
                ));
            }
        }
        Ok(state)
    }

    /// The per-device bounds and steps of a single pulsed device (`None` for the ideal device
    /// and unit cells: see [`DeviceState::layers`]).
    pub fn arrays(&self) -> Option<&DeviceArrays> {
        match &self.cell {
            UnitCell::Single(layer) => Some(layer.arrays()),
            _ => None,
        }
    }

    /// The pulsed devices of every cross-point: one, the unit cell's, or none.
    pub fn layers(&self) -> Vec<&DeviceLayer> {
        match &self.cell {
            UnitCell::Ideal => Vec::new(),
            UnitCell::Single(layer) => vec![layer],
            UnitCell::Vector(v) => v.layers.iter().collect(),
            UnitCell::Transfer(t) => t.layers(),
            UnitCell::OneSided(c) => c.layers(),
            UnitCell::MixedPrecision(c) => c.layer().into_iter().collect(),
        }
    }

    /// Programs the weights `w` (`out.len()` values, rows of `in_size`) and writes the weights
    /// the tile then reads to `out` (MODEL.md §1: each device clips to its bounds). An error,
    /// before anything is written, when the programming counter cannot advance.
    pub(crate) fn program(
        &mut self,
        out: &mut [f32],
        w: &[f32],
        in_size: usize,
        seed: u64,
    ) -> Result<()> {
        // Counted only where programming draws noise: the saved state of other tiles keeps
        // the form it had before write noise existed.
        let draws = self
            .layers()
            .iter()
            .any(|l| l.persistent.is_some() && l.write_noise_on_set);
        let programs = match draws {
            true => next_count(self.programs, "device_counters.programs")?,
            false => self.programs,
        };
        let stream = Stream::new(seed, Op::Program, Purpose::WriteNoise, self.programs);
        match &mut self.cell {
            UnitCell::Ideal => out.copy_from_slice(w),
            UnitCell::Single(layer) => layer.program(out, w, in_size, &stream, 0),
            UnitCell::Vector(cell) => cell.program(out, w, in_size, &stream),
            UnitCell::Transfer(cell) => cell.program(out, w, in_size, &stream),
            UnitCell::OneSided(cell) => cell.program(out, w, in_size, &stream),
            UnitCell::MixedPrecision(cell) => cell.program(out, w, in_size, &stream),
        }
        self.programs = programs;
        Ok(())
    }

    /// Diffusion, then decay, of every device after update call `call` of the tile seeded
    /// `seed` (aihwkit's `post_update_step`; `effects.rs`), then the weights read `weights`
    /// brought up to date. Nothing for devices without these effects.
    pub(crate) fn diffuse_and_decay(
        &mut self,
        weights: &mut [f32],
        in_size: usize,
        seed: u64,
        call: u64,
    ) {
        let streams = AfterUpdate::new(seed, call);
        match &mut self.cell {
            // A compound's arrays take theirs after each of their own update calls (a
            // mixed-precision compound's device has one in every update).
            UnitCell::Ideal | UnitCell::Transfer(_) | UnitCell::MixedPrecision(_) => {}
            UnitCell::Single(layer) => layer.diffuse_and_decay(weights, in_size, &streams, 0),
            UnitCell::OneSided(cell) => cell.diffuse_and_decay(weights, in_size, seed, call),
            UnitCell::Vector(cell) => {
                if !cell.layers.iter().any(|l| l.effects.after_update()) {
                    return;
                }
                for (k, (layer, w)) in cell.layers.iter_mut().zip(&mut cell.weights).enumerate() {
                    layer.diffuse_and_decay(w, in_size, &streams, k as u32);
                }
                cell.reduce(weights);
            }
        }
    }

    /// Resets the devices of the columns where `columns` is true, each with probability
    /// `prob`, every device of a unit cell (aihwkit's `reset_columns`; `effects.rs`), and
    /// brings the weights read `weights` up to date. Counts the reset; an error, before
    /// anything is written, when the count cannot advance.
    pub(crate) fn reset_columns(
        &mut self,
        weights: &mut [f32],
        in_size: usize,
        columns: &[bool],
        prob: f32,
        seed: u64,
    ) -> Result<()> {
        let resets = next_count(self.resets, "device_counters.resets")?;
        let streams = ResetStreams::new(seed, self.resets);
        match &mut self.cell {
            UnitCell::Ideal => {}
            // A compound resets its fast array, the devices the gradient pulses go to.
            UnitCell::Transfer(cell) => {
                if let UnitCell::Single(layer) = &mut cell.arrays[0].cell {
                    layer.reset_columns(&mut cell.weights[0], in_size, columns, prob, &streams, 0);
                }
                cell.reduce(weights);
            }
            UnitCell::MixedPrecision(cell) => {
                // The device alone; chi keeps what it holds (aihwkit's `resetCols`).
                if let UnitCell::Single(layer) = &mut cell.device.cell {
                    layer.reset_columns(weights, in_size, columns, prob, &streams, 0);
                }
            }
            UnitCell::Single(layer) => {
                layer.reset_columns(weights, in_size, columns, prob, &streams, 0);
            }
            // Both devices of a one-sided pair, each with its own draws (aihwkit's
            // `resetCols` of a vector device; with `prob < 1` one of the two may reset alone).
            UnitCell::OneSided(cell) => {
                for k in 0..cell.weights.len() {
                    if let Some((layer, w)) = cell.layer_mut(k) {
                        layer.reset_columns(w, in_size, columns, prob, &streams, k as u32);
                    }
                }
                cell.reduce(weights);
            }
            UnitCell::Vector(cell) => {
                for (k, (layer, w)) in cell.layers.iter_mut().zip(&mut cell.weights).enumerate() {
                    layer.reset_columns(w, in_size, columns, prob, &streams, k as u32);
                }
                cell.reduce(weights);
            }
        }
        self.resets = resets;
        Ok(())
    }

    /// The pulse counters of the devices that count them (`count_pulses`), in unit-cell order:
    /// for each such device the `n` counts of pulses that lowered the weight, then the `n` of
    /// those that raised it (aihwkit's `get_pulse_counters` layout). `None` when no device
    /// counts.
    pub fn pulse_counts(&self) -> Option<Vec<u64>> {
        let counts: Vec<Vec<u64>> = self
            .layers()
            .iter()
            .filter_map(|l| l.effects.counts_named().map(|(_, c)| c))
            .collect();
        (!counts.is_empty()).then(|| counts.concat())
    }

    /// The counters to save, by name.
    pub(crate) fn named_counts(&self) -> Vec<(String, Vec<u64>)> {
        let prefix = |k: usize| match self.cell {
            UnitCell::Vector(_) | UnitCell::Transfer(_) | UnitCell::OneSided(_) => {
                format!("{k}.")
            }
            _ => String::new(),
        };
        self.layers()
            .iter()
            .enumerate()
            .filter_map(|(k, l)| {
                let (name, counts) = l.effects.counts_named()?;
                Some((format!("{}{name}", prefix(k)), counts))
            })
            .collect()
    }

    /// The arrays to save, by name.
    pub(crate) fn named_arrays(&self) -> Vec<(String, &[f32])> {
        match &self.cell {
            UnitCell::Ideal => Vec::new(),
            UnitCell::Single(layer) => layer
                .named()
                .into_iter()
                .map(|(name, a)| (name.to_string(), a))
                .collect(),
            UnitCell::Vector(cell) => cell.named(),
            UnitCell::Transfer(cell) => cell.named(),
            UnitCell::OneSided(cell) => cell.named(),
            UnitCell::MixedPrecision(cell) => cell.named(),
        }
    }

    /// The counters to save.
    pub(crate) fn counters(&self) -> DeviceCounters {
        DeviceCounters {
            programs: self.programs,
            unit_cell_index: match &self.cell {
                UnitCell::Vector(cell) => cell.current,
                _ => 0,
            },
            resets: self.resets,
            transfer: match &self.cell {
                UnitCell::Transfer(cell) => Some(cell.counters),
                _ => None,
            },
            one_sided: match &self.cell {
                UnitCell::OneSided(cell) => Some(cell.counters),
                _ => None,
            },
            mixed_precision: match &self.cell {
                UnitCell::MixedPrecision(cell) => Some(cell.counters),
                _ => None,
            },
        }
    }

    /// The counters of freshly drawn devices of `config`.
    pub(crate) fn fresh_counters(config: &DeviceConfig) -> DeviceCounters {
        DeviceCounters {
            programs: 0,
            unit_cell_index: config.vector_cell().map_or(0, |p| p.first_update_idx),
            resets: 0,
            transfer: config.compound().map(|_| TransferCounters::default()),
            one_sided: config.one_sided().map(|_| OneSidedCounters::default()),
            mixed_precision: config
                .mixed_precision()
                .map(|_| MixedPrecisionCounters::default()),
        }
    }

    /// `Ok` when the tile's weights `weights` are what these devices hold: within every
    /// pulsed device's bounds ([`DeviceLayer::check_within_bounds`]) and, for a unit cell,
    /// the weighted sum of its devices' weights; an error names the array (a forged state).
    pub(crate) fn check_weights(&self, weights: &[f32]) -> Result<()> {
        match &self.cell {
            UnitCell::Ideal => Ok(()),
            UnitCell::Single(layer) => layer.check_within_bounds(weights, ""),
            UnitCell::Vector(cell) => {
                let layers: Vec<&DeviceLayer> = cell.layers.iter().collect();
                check_compound(&layers, &cell.weights, weights, |sum| cell.reduce(sum))
            }
            UnitCell::Transfer(cell) => {
                check_compound(&cell.layers(), &cell.weights, weights, |sum| {
                    cell.reduce(sum)
                })
            }
            UnitCell::OneSided(cell) => {
                check_compound(&cell.layers(), &cell.weights, weights, |sum| {
                    cell.reduce(sum)
                })
            }
            UnitCell::MixedPrecision(cell) => cell
                .layer()
                .map_or(Ok(()), |l| l.check_within_bounds(weights, "")),
        }
    }

    /// `Ok` when the counters of the devices are within their range for a tile of `out_size`
    /// rows; an error names the counter (a forged state).
    pub(crate) fn check_counters(&self, out_size: usize) -> Result<()> {
        match &self.cell {
            UnitCell::MixedPrecision(cell) => cell.check_counters(out_size),
            _ => Ok(()),
        }
    }

    /// Rebuilds the state of `config` from saved arrays and counters (`None`: a fresh state's).
    pub(crate) fn from_named_arrays(
        config: &DeviceConfig,
        arrays: &mut NamedArrays,
        n: usize,
        counters: Option<DeviceCounters>,
    ) -> Result<Self> {
        if let Some(c) = counters.filter(|c| c.unit_cell_index != 0) {
            if config.vector_cell().is_none() {
                return Err(Error::State(format!(
                    "device_counters.unit_cell_index: {} for a device without a unit cell \
                     (expected 0)",
                    c.unit_cell_index
                )));
            }
        }
        if counters.is_some_and(|c| c.one_sided.is_some()) && config.one_sided().is_none() {
            return Err(Error::State(
                "device_counters.one_sided: saved for a device that is not a one-sided unit cell"
                    .into(),
            ));
        }
        let compound = config.compound();
        let cell = match (config, config.vector_cell()) {
            (DeviceConfig::Ideal(_), _) => UnitCell::Ideal,
            (DeviceConfig::MixedPrecisionCompound(p), _) => {
                let saved = counters
                    .unwrap_or_else(|| Self::fresh_counters(config))
                    .mixed_precision
                    .ok_or_else(|| {
                        Error::State("the mixed-precision counters are missing".into())
                    })?;
                UnitCell::MixedPrecision(Box::new(MixedPrecisionCell::from_named(
                    p, arrays, n, saved,
                )?))
            }
            (_, Some(p)) => {
                let current = counters
                    .unwrap_or_else(|| Self::fresh_counters(config))
                    .unit_cell_index;
                UnitCell::Vector(VectorCell::from_named(&p, arrays, n, current)?)
            }
            (DeviceConfig::OneSidedUnitCell(p), _) => {
                let saved = counters
                    .unwrap_or_else(|| Self::fresh_counters(config))
                    .one_sided
                    .ok_or_else(|| {
                        Error::State("the one-sided unit cell's counters are missing".into())
                    })?;
                UnitCell::OneSided(Box::new(OneSidedCell::from_named(p, arrays, n, saved)?))
            }
            _ if compound.is_some() => {
                let saved = counters
                    .unwrap_or_else(|| Self::fresh_counters(config))
                    .transfer
                    .ok_or_else(|| Error::State("the transfer counters are missing".into()))?;
                let cell = compound.map(|c| TransferCell::from_named(c, arrays, n, saved));
                UnitCell::Transfer(Box::new(
                    cell.transpose()?
                        .ok_or_else(|| Error::State("not a transfer compound".into()))?,
                ))
            }
            (single, None) => UnitCell::Single(
                DeviceLayer::from_named(single, arrays, n)?
                    .ok_or_else(|| Error::State("the device model has no pulsed devices".into()))?,
            ),
        };
        Ok(DeviceState {
            cell,
            programs: counters.map_or(0, |c| c.programs),
            resets: counters.map_or(0, |c| c.resets),
        })
    }
}

/// `Ok` when the devices `layers` of a compound hold their weights `devices` within their
/// bounds and the tile's `weights` are their weighted sum (`reduce`); an error names the array.
fn check_compound(
    layers: &[&DeviceLayer],
    devices: &[Vec<f32>],
    weights: &[f32],
    reduce: impl Fn(&mut [f32]),
) -> Result<()> {
    for (k, (layer, w)) in layers.iter().zip(devices).enumerate() {
        layer.check_within_bounds(w, &format!("{k}."))?;
    }
    let mut sum = zeros(weights.len(), "unit cell weights")?;
    reduce(&mut sum);
    match weights.iter().zip(&sum).position(|(w, s)| w != s) {
        None => Ok(()),
        Some(k) => Err(Error::State(format!(
            "weights: device {k} holds {}, not the weighted sum {} of its compound's devices",
            weights[k], sum[k]
        ))),
    }
}
