//! The drawn unit cells of several devices per cross-point (MODEL.md §3.5, aihwkit's
//! `VectorUnitCell`); their configuration, [`VectorUnitCellParameters`], is in `config.rs`.

use super::config::{UpdatePolicy, VectorUnitCellParameters};
use super::layer::DeviceLayer;
use super::named::NamedArrays;
use super::pulsed::Shape;
use crate::alloc::zeros;
use crate::error::{Error, Result};
use crate::numeric::saturate;
use crate::rng::{Op, Purpose, Stream};

/// The drawn unit cells of a tile: the devices, each device's weight, and the policy's index.
///
/// Several devices per cross-point (MODEL.md §3.5, aihwkit's `VectorUnitCell`): the weight of a
/// cross-point is `sum_k gamma_k w_k` over its devices, each with its own drawn parameters and
/// weight. Which devices an update call pulses is the update policy's choice:
///
/// - `all`: every device gets the pulses (each with its own cycle-to-cycle noise);
/// - `single_fixed`: only device `first_update_idx`;
/// - `single_sequential`: one device per call, the next one each call (the index is advanced
///   before the call, so the first call after programming pulses `first_update_idx + 1`, as in
///   aihwkit);
/// - `single_random`: one device per call, drawn uniformly from a stream keyed by the call.
///
/// Programming the weights (aihwkit's `onSetWeights`) writes the value to every device (to
/// device `first_update_idx` only with `single_fixed`), each clipped to its own bounds, and
/// resets the policy's index to `first_update_idx`. The default `gamma` is `1/n` for each of
/// the `n` devices.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorCell {
    /// The drawn devices, one layer per device of the cell.
    pub layers: Vec<DeviceLayer>,
    /// The weight of every device, one `out_size x in_size` array per device of the cell.
    pub weights: Vec<Vec<f32>>,
    /// Weight of each device in the cross-point's weight.
    pub gamma: Vec<f32>,
    /// Which devices an update call pulses.
    pub policy: UpdatePolicy,
    /// The device `single_fixed` pulses, and where the other policies start.
    pub first_update_idx: u32,
    /// The device the last update call pulsed (single policies).
    pub current: u32,
}

impl VectorCell {
    /// Draws the devices of every cell; device `k` of a cell draws from d2d address
    /// `[i, j, k]`. `None` when a device is not a single pulsed model.
    pub(crate) fn populate(p: &VectorUnitCellParameters, shape: Shape) -> Result<Option<Self>> {
        let mut layers = Vec::with_capacity(p.devices.len());
        for (k, config) in p.devices.iter().enumerate() {
            let sub = Shape {
                sub: k as u32,
                ..shape
            };
            match DeviceLayer::populate(config, sub)? {
                Some(layer) => layers.push(layer),
                None => return Ok(None),
            }
        }
        let weights = (0..layers.len())
            .map(|_| zeros(shape.len(), "unit cell weights"))
            .collect::<Result<_>>()?;
        Ok(Some(Self::with_layers(p, layers, weights)))
    }

    fn with_layers(
        p: &VectorUnitCellParameters,
        layers: Vec<DeviceLayer>,
        weights: Vec<Vec<f32>>,
    ) -> Self {
        VectorCell {
            weights,
            layers,
            gamma: p.gammas(),
            policy: p.update_policy,
            first_update_idx: p.first_update_idx,
            current: p.first_update_idx,
        }
    }

    /// Advances the policy for update call `call` and returns the devices it pulses.
    pub(crate) fn select(&mut self, seed: u64, call: u64) -> std::ops::Range<usize> {
        let n = self.layers.len() as u32;
        self.current = match self.policy {
            UpdatePolicy::All => return 0..self.layers.len(),
            UpdatePolicy::SingleFixed => self.first_update_idx,
            UpdatePolicy::SingleSequential => (self.current + 1) % n,
            UpdatePolicy::SingleRandom => {
                let word = Stream::new(seed, Op::Update, Purpose::UnitCellPolicy, call)
                    .block([0, 0, 0], 0)[0];
                ((u64::from(word) * u64::from(n)) >> 32) as u32
            }
        };
        let k = self.current as usize;
        k..k + 1
    }

    /// The weight of every cross-point, `out[k] = sum_s gamma_s w_s[k]`, summed in device
    /// order.
    pub fn reduce(&self, out: &mut [f32]) {
        for (k, o) in out.iter_mut().enumerate() {
            let mut acc = 0.0f32;
            for (g, w) in self.gamma.iter().zip(&self.weights) {
                acc += g * w[k];
            }
            *o = saturate(acc);
        }
    }

    /// Programs `w` into the devices the policy writes (see the module documentation), then
    /// sets `out` to the cross-points' weights.
    pub(crate) fn program(&mut self, out: &mut [f32], w: &[f32], in_size: usize, stream: &Stream) {
        self.current = self.first_update_idx;
        let fixed = self.policy == UpdatePolicy::SingleFixed;
        for (k, (layer, weights)) in self.layers.iter_mut().zip(&mut self.weights).enumerate() {
            if !fixed || k == self.first_update_idx as usize {
                layer.program(weights, w, in_size, stream, k as u32);
            }
        }
        self.reduce(out);
    }

    /// Arrays to save: every device's drawn and hidden arrays and weights, prefixed `{k}.`.
    pub(crate) fn named(&self) -> Vec<(String, &[f32])> {
        let mut v = Vec::new();
        for (k, (layer, weights)) in self.layers.iter().zip(&self.weights).enumerate() {
            v.push((format!("{k}.weights"), weights.as_slice()));
            for (name, a) in layer.named() {
                v.push((format!("{k}.{name}"), a));
            }
        }
        v
    }

    /// Rebuilds the cells of `p` from saved arrays and the saved policy index.
    pub(crate) fn from_named(
        p: &VectorUnitCellParameters,
        arrays: &mut NamedArrays,
        n: usize,
        current: u32,
    ) -> Result<Self> {
        let mut layers = Vec::with_capacity(p.devices.len());
        let mut weights = Vec::with_capacity(p.devices.len());
        for (k, config) in p.devices.iter().enumerate() {
            arrays.prefix = format!("{k}.");
            weights.push(arrays.take("weights", n)?);
            let layer = DeviceLayer::from_named(config, arrays, n)?
                .ok_or_else(|| Error::State(format!("unit cell device {k} is not pulsed")))?;
            layers.push(layer);
        }
        arrays.prefix.clear();
        if current as usize >= layers.len() {
            return Err(Error::State(format!(
                "device_counters.unit_cell_index: {current} beyond its {} devices",
                layers.len()
            )));
        }
        let mut cell = Self::with_layers(p, layers, weights);
        cell.current = current;
        Ok(cell)
    }
}
