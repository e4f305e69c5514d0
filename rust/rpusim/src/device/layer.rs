//! One pulsed device per cross-point: the drawn model, and the hidden persistent weights when
//! the model has write noise (aihwkit's `write_noise_std`).
//!
//! With write noise the pulses act on the persistent weight `p`; the weight that is read (the
//! tile's weight, or a unit-cell device's weight) is `p + write_noise N(0, 1)`, drawn anew
//! after each sample that pulses the device and, with `apply_write_noise_on_set`, when the
//! weights are programmed.

use super::config::DeviceConfig;
use super::effects::Effects;
use super::model::DeviceModel;
use super::named::NamedArrays;
use super::pulsed::{DeviceArrays, Shape};
use crate::alloc::zeros;
use crate::error::{Error, Result};
use crate::numeric::saturate;
use crate::rng::Stream;

/// The drawn devices of one pulsed model and their hidden state.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceLayer {
    /// The drawn devices.
    pub model: DeviceModel,
    /// Standard deviation of the write noise in weight units (0: none).
    pub write_noise: f32,
    /// Whether programming draws write noise.
    pub write_noise_on_set: bool,
    /// The persistent weights the pulses act on, when there is write noise.
    pub persistent: Option<Vec<f32>>,
    /// Diffusion, decay, reset and pulse counters (`effects.rs`; boxed, as most tiles use
    /// none of them).
    pub effects: Box<Effects>,
}

impl DeviceLayer {
    /// Draws the devices of a single pulsed model (`None` for other configurations); all
    /// weights start at zero.
    pub(crate) fn populate(config: &DeviceConfig, shape: Shape) -> Result<Option<Self>> {
        let (Some(model), Some(pulsed)) = (config.populate_model(shape)?, config.pulsed()) else {
            return Ok(None);
        };
        let effects = Effects::populate(pulsed, shape)?;
        Self::with_model(config, model, effects, shape.len()).map(Some)
    }

    fn with_model(
        config: &DeviceConfig,
        model: DeviceModel,
        effects: Effects,
        n: usize,
    ) -> Result<Self> {
        let dw_min = config.pulsed().map_or(0.0, |p| p.dw_min);
        let (write_noise, write_noise_on_set) = config.write_noise().map_or((0.0, false), |w| {
            (w.std(dw_min), w.apply_write_noise_on_set)
        });
        let persistent = if write_noise > 0.0 {
            Some(zeros(n, "persistent weights")?)
        } else {
            None
        };
        Ok(DeviceLayer {
            model,
            write_noise,
            write_noise_on_set,
            persistent,
            effects: Box::new(effects),
        })
    }

    /// The per-device bounds and steps.
    pub fn arrays(&self) -> &DeviceArrays {
        self.model.arrays()
    }

    /// Programs `w` (`rows x in_size`): each value clipped to its device's bounds, written to
    /// `out` (the weights read) and, with write noise, to the persistent weights, `out` then
    /// getting write noise when `write_noise_on_set`. Row `i` draws its noise from address
    /// `[i, sub, 0]` of `stream`.
    pub(crate) fn program(
        &mut self,
        out: &mut [f32],
        w: &[f32],
        in_size: usize,
        stream: &Stream,
        sub: u32,
    ) {
        let a = self.model.arrays();
        for (k, (dst, &v)) in out.iter_mut().zip(w).enumerate() {
            // max/min rather than clamp: never panics, whatever bounds a loaded state holds.
            *dst = v.max(a.b_min[k]).min(a.b_max[k]);
        }
        let Some(persistent) = &mut self.persistent else {
            return;
        };
        persistent.copy_from_slice(out);
        if !self.write_noise_on_set {
            return;
        }
        for (i, row) in out.chunks_mut(in_size.max(1)).enumerate() {
            let mut noise = stream.normals([i as u32, sub, 0]);
            for v in row {
                *v = saturate(*v + self.write_noise * noise.draw());
            }
        }
    }

    /// The drawn and hidden arrays to save, by name.
    pub(crate) fn named(&self) -> Vec<(&'static str, &[f32])> {
        let mut v = self.model.named();
        if let Some(p) = &self.persistent {
            v.push(("persistent", p));
        }
        v.extend(self.effects.named());
        v
    }

    /// Rebuilds the layer of `config` from saved arrays.
    pub(crate) fn from_named(
        config: &DeviceConfig,
        arrays: &mut NamedArrays,
        n: usize,
    ) -> Result<Option<Self>> {
        let (Some(model), Some(pulsed)) = (config.model_from_named(arrays, n)?, config.pulsed())
        else {
            return Ok(None);
        };
        let effects = Effects::from_named(pulsed, arrays, n)?;
        let mut layer = Self::with_model(config, model, effects, n)?;
        if layer.persistent.is_some() {
            layer.persistent = Some(arrays.take("persistent", n)?);
        }
        Ok(Some(layer))
    }

    /// `Ok` when the weights the pulses act on lie within their devices' bounds, as every
    /// write of the engine leaves them (each pulse, programming, diffusion, decay and reset
    /// clips): the persistent weights with write noise (the weights `read` then carry the
    /// noise, unbounded), else `read`. An error names the array, `{prefix}weights` or
    /// `{prefix}persistent` (a forged state).
    pub(crate) fn check_within_bounds(&self, read: &[f32], prefix: &str) -> Result<()> {
        let (name, stored) = match &self.persistent {
            Some(p) => ("persistent", p.as_slice()),
            None => ("weights", read),
        };
        let a = self.model.arrays();
        let outside =
            (stored.iter().enumerate()).find(|&(k, &w)| !(a.b_min[k] <= w && w <= a.b_max[k]));
        match outside {
            None => Ok(()),
            Some((k, w)) => Err(Error::State(format!(
                "{prefix}{name}: device {k} holds {w}, outside its bounds [{}, {}]",
                a.b_min[k], a.b_max[k]
            ))),
        }
    }
}
