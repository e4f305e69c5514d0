//! The drawn cells of a transfer compound (Tiki-Taka; configuration in `transfer_config.rs`):
//! the fast array `A` and the slow array `C`, each a device state with its own weights, the
//! digital buffer of TTv2, and the counters of the transfers. How an update runs its
//! transfers is the crate's `transfer.rs`.

use serde::{Deserialize, Serialize};

use super::layer::DeviceLayer;
use super::named::NamedArrays;
use super::pulsed::Shape;
use super::state::{DeviceState, UnitCell};
use super::transfer_config::{
    BufferedTransferCompoundParameters, TransferParameters, TRANSFER_DEVICES,
};
use crate::alloc::zeros;
use crate::error::{Error, Result};
use crate::numeric::saturate;
use crate::periphery::UpdateParameters;
use crate::rng::Stream;

/// A transfer compound's configuration as the update reads it.
#[derive(Debug, Clone, Copy)]
pub struct Compound<'a> {
    /// The parameters both compounds share.
    pub transfer: &'a TransferParameters,
    /// The pulsed update of the transfer onto `C`.
    pub transfer_update: &'a UpdateParameters,
    /// The buffer's parameters of TTv2; `None` for TTv1.
    pub buffered: Option<&'a BufferedTransferCompoundParameters>,
}

/// Where a compound's transfers stand (saved with the state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferCounters {
    /// Samples of gradient updates since the weights were set: a transfer follows the samples
    /// that make it a multiple of the period.
    pub samples: u64,
    /// The first column (or row) of the next transfer.
    pub next_slice: u64,
    /// Update calls made on `A` (the pieces of the tile's updates): their random streams.
    pub fast_updates: u64,
    /// Transfers made: the random streams of their reads and writes.
    pub transfers: u64,
}

/// The drawn cells of a transfer compound: `W = gamma_A A + gamma_C C`.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferCell {
    /// The devices of the fast array `A` and the slow array `C` (each a single pulsed
    /// layer), in this order.
    pub arrays: [DeviceState; TRANSFER_DEVICES],
    /// The weights of `A` and `C`, row-major `out_size x in_size` each.
    pub weights: [Vec<f32>; TRANSFER_DEVICES],
    /// `[gamma_A, gamma_C]`.
    pub gamma: [f32; TRANSFER_DEVICES],
    /// The digital buffer between `A` and `C` (TTv2; `out_size x in_size`), `None` for TTv1.
    pub buffer: Option<Vec<f32>>,
    /// Where the transfers stand.
    pub counters: TransferCounters,
}

impl TransferCell {
    /// Draws `A` and `C`; device `k` (0 for `A`, 1 for `C`) draws from d2d address
    /// `[i, j, k]`, as in a unit cell. `None` when a device is not a single pulsed model.
    pub(crate) fn populate(compound: Compound<'_>, shape: Shape) -> Result<Option<Self>> {
        let mut layers = Vec::with_capacity(TRANSFER_DEVICES);
        for (k, config) in compound.transfer.unit_cell_devices.iter().enumerate() {
            let sub = Shape {
                sub: k as u32,
                ..shape
            };
            match DeviceLayer::populate(config, sub)? {
                Some(layer) => layers.push(layer),
                None => return Ok(None),
            }
        }
        let mut weights = Vec::with_capacity(TRANSFER_DEVICES);
        for _ in 0..TRANSFER_DEVICES {
            weights.push(zeros(shape.len(), "transfer compound weights")?);
        }
        let buffer = match compound.buffered {
            Some(_) => Some(zeros(shape.len(), "transfer buffer")?),
            None => None,
        };
        Ok(Some(Self::assemble(
            compound,
            layers,
            weights,
            buffer,
            TransferCounters::default(),
        )?))
    }

    fn assemble(
        compound: Compound<'_>,
        layers: Vec<DeviceLayer>,
        weights: Vec<Vec<f32>>,
        buffer: Option<Vec<f32>>,
        counters: TransferCounters,
    ) -> Result<Self> {
        let single = |layer| DeviceState {
            cell: UnitCell::Single(layer),
            programs: 0,
            resets: 0,
        };
        let arrays: Vec<DeviceState> = layers.into_iter().map(single).collect();
        let wrong = |what: &str| Error::State(format!("a transfer compound needs two {what}"));
        Ok(TransferCell {
            arrays: arrays.try_into().map_err(|_| wrong("device layers"))?,
            weights: weights.try_into().map_err(|_| wrong("weight arrays"))?,
            gamma: compound.transfer.gammas(),
            buffer,
            counters,
        })
    }

    /// The pulsed layers of `A` and `C`.
    pub(crate) fn layers(&self) -> Vec<&DeviceLayer> {
        self.arrays.iter().flat_map(DeviceState::layers).collect()
    }

    /// The weight of every cross-point, `out[k] = gamma_A A[k] + gamma_C C[k]`.
    pub fn reduce(&self, out: &mut [f32]) {
        let [a, c] = &self.weights;
        let [ga, gc] = self.gamma;
        for (k, o) in out.iter_mut().enumerate() {
            *o = saturate(ga * a[k] + gc * c[k]);
        }
    }

    /// Programs the weights `w` as aihwkit does: `A = 0`, `C = w / gamma_C`, each device
    /// clipped to its bounds (device `k` draws write noise from rows `[i, k, 0]` of `stream`);
    /// the buffer is emptied and the transfers start again at the first column. Then `out` is
    /// set to the cross-points' weights.
    pub(crate) fn program(&mut self, out: &mut [f32], w: &[f32], in_size: usize, stream: &Stream) {
        let gc = self.gamma[1];
        let targets = [
            w.iter().map(|_| 0.0).collect::<Vec<f32>>(),
            w.iter().map(|&v| v / gc).collect(),
        ];
        for (k, (array, target)) in self.arrays.iter_mut().zip(&targets).enumerate() {
            if let UnitCell::Single(layer) = &mut array.cell {
                layer.program(&mut self.weights[k], target, in_size, stream, k as u32);
            }
        }
        if let Some(buffer) = &mut self.buffer {
            buffer.fill(0.0);
        }
        self.counters.samples = 0;
        self.counters.next_slice = 0;
        self.reduce(out);
    }

    /// Arrays to save: each device's weights and drawn and hidden arrays, prefixed `{k}.`
    /// (as a unit cell's), and the buffer.
    pub(crate) fn named(&self) -> Vec<(String, &[f32])> {
        let mut v = Vec::new();
        for (k, (array, weights)) in self.arrays.iter().zip(&self.weights).enumerate() {
            v.push((format!("{k}.weights"), weights.as_slice()));
            for (name, a) in array.named_arrays() {
                v.push((format!("{k}.{name}"), a));
            }
        }
        if let Some(buffer) = &self.buffer {
            v.push(("buffer".to_string(), buffer.as_slice()));
        }
        v
    }

    /// Rebuilds the cells of `compound` from saved arrays and counters.
    pub(crate) fn from_named(
        compound: Compound<'_>,
        arrays: &mut NamedArrays,
        n: usize,
        counters: TransferCounters,
    ) -> Result<Self> {
        let mut layers = Vec::with_capacity(TRANSFER_DEVICES);
        let mut weights = Vec::with_capacity(TRANSFER_DEVICES);
        for (k, config) in compound.transfer.unit_cell_devices.iter().enumerate() {
            arrays.prefix = format!("{k}.");
            weights.push(arrays.take("weights", n)?);
            let layer = DeviceLayer::from_named(config, arrays, n)?.ok_or_else(|| {
                Error::State(format!("transfer compound device {k} is not pulsed"))
            })?;
            layers.push(layer);
        }
        arrays.prefix.clear();
        let buffer = match compound.buffered {
            Some(_) => Some(arrays.take("buffer", n)?),
            None => None,
        };
        Self::assemble(compound, layers, weights, buffer, counters)
    }
}
