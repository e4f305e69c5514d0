//! The mixed-precision compound (aihwkit's `MixedPrecisionCompound`, Nandakumar et al.,
//! Front. Neurosci. 2020; docs/model_notes.md, "Mixed-precision compound"): the outer product
//! of the update accumulates in a digital float matrix `chi`, optionally from `x` and `d`
//! quantised to a few bins, and every `transfer_every` batches whole multiples of the
//! granularity are written from some rows of `chi` onto the analog device by a pulsed update.
//! The configuration and the drawn cell are here, the update with its transfers in the
//! crate's `mixed_precision.rs`.

use serde::{Deserialize, Serialize};

use super::config::DeviceConfig;
use super::layer::DeviceLayer;
use super::named::NamedArrays;
use super::pulsed::Shape;
use super::state::{DeviceState, UnitCell};
use crate::alloc::zeros;
use crate::error::{Error, Result};
use crate::numeric::check_finite;
use crate::periphery::UpdateParameters;
use crate::rng::Stream;

/// The configuration of a mixed-precision compound; names and defaults are aihwkit 1.1's
/// (`MixedPrecisionCompound` in `simulator/configs/compounds.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MixedPrecisionCompoundParameters {
    /// The analog device the network reads and the transfers write: a single pulsed model.
    /// Default `ConstantStep` (aihwkit's default, a `VectorUnitCell` without devices, cannot
    /// make a tile).
    pub device: Box<DeviceConfig>,
    /// A transfer every `transfer_every` batches (default 1; 0: no transfer).
    pub transfer_every: u32,
    /// Rows of `chi` written per transfer, consecutive from the row after the last one
    /// written, wrapping at the last; -1 (default): every row; 0: no transfer.
    pub n_rows_per_transfer: i32,
    /// Start each transfer at a random row instead (only when a transfer writes fewer rows
    /// than the array has; default false).
    pub random_row: bool,
    /// The weight change of one whole step, in weight units; 0 (default): the device's
    /// granularity (its `dw_min` for the step models).
    pub granularity: f64,
    /// The scale of a transfer: a whole step writes `granularity * transfer_lr` (>= 0,
    /// default 1).
    pub transfer_lr: f64,
    /// Bins (symmetric around 0, scaled by each sample's `max |x|`) of the quantised `x`;
    /// 0 (default): not quantised. 1 is refused (aihwkit computes NaN).
    pub n_x_bins: u32,
    /// Bins of the quantised `d`, as `n_x_bins` (default 0).
    pub n_d_bins: u32,
    /// Stochastic rounding of the quantised `x` (default true).
    pub stoc_round_x: bool,
    /// Stochastic rounding of the quantised `d` (default true).
    pub stoc_round_d: bool,
}

impl Default for MixedPrecisionCompoundParameters {
    fn default() -> Self {
        MixedPrecisionCompoundParameters {
            device: Box::default(),
            transfer_every: 1,
            n_rows_per_transfer: -1,
            random_row: false,
            granularity: 0.0,
            transfer_lr: 1.0,
            n_x_bins: 0,
            n_d_bins: 0,
            stoc_round_x: true,
            stoc_round_d: true,
        }
    }
}

impl MixedPrecisionCompoundParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        let at = format!("{prefix}.device");
        if self.device.pulsed().is_none() {
            return Err(Error::invalid(
                at,
                format!(
                    "must be a single pulsed device model (unit cells and compounds are not \
                     supported), got {}",
                    self.device.type_name()
                ),
            ));
        }
        self.device.validate_as(&at)?;
        check_finite(format!("{prefix}.granularity"), self.granularity, true)?;
        check_finite(format!("{prefix}.transfer_lr"), self.transfer_lr, true)?;
        if self.n_rows_per_transfer < -1 {
            return Err(Error::invalid(
                format!("{prefix}.n_rows_per_transfer"),
                format!(
                    "must be -1 (every row), 0 (no transfer) or a number of rows, got {}",
                    self.n_rows_per_transfer
                ),
            ));
        }
        for (name, bins) in [("n_x_bins", self.n_x_bins), ("n_d_bins", self.n_d_bins)] {
            if bins == 1 {
                return Err(Error::invalid(
                    format!("{prefix}.{name}"),
                    "must be 0 (no quantisation) or at least 2, got 1 (one bin has no width)",
                ));
            }
        }
        if self.step() <= 0.0 || !self.step().is_finite() {
            return Err(Error::invalid(
                format!("{prefix}.granularity"),
                format!(
                    "the whole step must be a positive float32, got {} (give a granularity)",
                    self.step()
                ),
            ));
        }
        Ok(())
    }

    /// The weight change of one whole step: `granularity`, or the device's granularity when
    /// it is 0 (aihwkit's `getWeightGranularity`).
    pub fn step(&self) -> f32 {
        if self.granularity > 0.0 {
            self.granularity as f32
        } else {
            self.device.granularity().unwrap_or(0.0) as f32
        }
    }

    /// Rows written per transfer in an array of `out_size` rows (0: no transfer).
    pub fn rows_per_transfer(&self, out_size: usize) -> usize {
        match usize::try_from(self.n_rows_per_transfer) {
            Ok(n) => n.min(out_size),
            Err(_) => out_size,
        }
    }

    /// The update parameters of a transfer's write: the tile's, with update management and
    /// UBLM switched on (aihwkit's `setUpPar`).
    pub fn transfer_update(&self, update: &UpdateParameters) -> UpdateParameters {
        UpdateParameters {
            update_management: true,
            update_bl_management: true,
            ..update.clone()
        }
    }
}

/// Where a mixed-precision compound's transfers stand (saved with the state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixedPrecisionCounters {
    /// Samples accumulated since the weights were set (aihwkit's `current_update_index`).
    pub samples: u64,
    /// The first row of the next transfer (aihwkit's `current_row_index`), below `out_size`.
    pub next_row: u64,
    /// Transfers made: the random stream of a random first row.
    pub transfers: u64,
}

/// The drawn cell of a mixed-precision compound: the analog device (whose weights are the
/// tile's) and the digital matrix `chi`.
#[derive(Debug, Clone, PartialEq)]
pub struct MixedPrecisionCell {
    /// The analog device, a single pulsed layer.
    pub device: DeviceState,
    /// The accumulated update not yet written, row-major `out_size x in_size`.
    pub chi: Vec<f32>,
    /// Where the transfers stand.
    pub counters: MixedPrecisionCounters,
}

impl MixedPrecisionCell {
    fn single(layer: DeviceLayer, chi: Vec<f32>, counters: MixedPrecisionCounters) -> Self {
        MixedPrecisionCell {
            device: DeviceState {
                cell: UnitCell::Single(layer),
                programs: 0,
                resets: 0,
            },
            chi,
            counters,
        }
    }

    /// Draws the device (from the d2d addresses `[i, j, 0]`, as a tile of the device alone);
    /// `chi` starts at 0. `None` when the device is not a single pulsed model.
    pub(crate) fn populate(
        params: &MixedPrecisionCompoundParameters,
        shape: Shape,
    ) -> Result<Option<Self>> {
        let Some(layer) = DeviceLayer::populate(&params.device, shape)? else {
            return Ok(None);
        };
        let chi = zeros(shape.len(), "mixed-precision chi")?;
        Ok(Some(Self::single(
            layer,
            chi,
            MixedPrecisionCounters::default(),
        )))
    }

    /// The pulsed layer of the device.
    pub fn layer(&self) -> Option<&DeviceLayer> {
        match &self.device.cell {
            UnitCell::Single(layer) => Some(layer),
            _ => None,
        }
    }

    /// Programs the weights `w` onto the device as aihwkit's `onSetWeights` does (clipped to
    /// its bounds, write noise from rows `[i, 0, 0]` of `stream`), empties `chi` and starts
    /// the counts again (sample 0, row 0); `out` is then the device's weights.
    pub(crate) fn program(&mut self, out: &mut [f32], w: &[f32], in_size: usize, stream: &Stream) {
        if let UnitCell::Single(layer) = &mut self.device.cell {
            layer.program(out, w, in_size, stream, 0);
        }
        self.chi.fill(0.0);
        self.counters.samples = 0;
        self.counters.next_row = 0;
    }

    /// Arrays to save: the device's drawn and hidden arrays (as a tile of the device alone
    /// names them) and `chi`.
    pub(crate) fn named(&self) -> Vec<(String, &[f32])> {
        let mut v: Vec<(String, &[f32])> = self
            .device
            .named_arrays()
            .into_iter()
            .map(|(name, a)| (name.to_string(), a))
            .collect();
        v.push(("chi".to_string(), self.chi.as_slice()));
        v
    }

    /// Rebuilds the cell of `params` from saved arrays and counters.
    pub(crate) fn from_named(
        params: &MixedPrecisionCompoundParameters,
        arrays: &mut NamedArrays,
        n: usize,
        counters: MixedPrecisionCounters,
    ) -> Result<Self> {
        let layer = DeviceLayer::from_named(&params.device, arrays, n)?.ok_or_else(|| {
            Error::State("the device of a mixed-precision compound is not pulsed".into())
        })?;
        let chi = arrays.take("chi", n)?;
        Ok(Self::single(layer, chi, counters))
    }

    /// `Ok` when the counters are within their range for a tile of `out_size` rows; an error
    /// names the counter (a forged state).
    pub(crate) fn check_counters(&self, out_size: usize) -> Result<()> {
        let next = self.counters.next_row;
        if next >= out_size.max(1) as u64 {
            return Err(Error::State(format!(
                "device_counters.mixed_precision.next_row: {next}, expected a row below \
                 out_size ({out_size})"
            )));
        }
        Ok(())
    }
}
