//! What every pulsed device model shares (MODEL.md §5): the common parameters, their
//! device-to-device draw, and the per-device bounds and steps drawn from them.

use serde::{Deserialize, Serialize};

use crate::alloc::{collect, filled};
use crate::error::{Error, Result};
use crate::numeric::check_finite;
use crate::rng::{normals_of_block, Op, Purpose, Stream};

/// Parameters common to all pulsed devices. Defaults are aihwkit's generic `PulsedDevice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PulsedParameters {
    /// Mean weight change of one pulse.
    pub dw_min: f64,
    /// Device-to-device spread of the step, relative to `dw_min`.
    pub dw_min_dtod: f64,
    /// Cycle-to-cycle spread of every single pulse, relative to the step.
    pub dw_min_std: f64,
    /// Global asymmetry between up and down steps.
    pub up_down: f64,
    /// Device-to-device spread of the asymmetry.
    pub up_down_dtod: f64,
    /// Upper weight bound (mean over devices).
    pub w_max: f64,
    /// Lower weight bound (mean over devices).
    pub w_min: f64,
    /// Device-to-device spread of the upper bound, relative to `w_max`.
    pub w_max_dtod: f64,
    /// Device-to-device spread of the lower bound, relative to `w_min`.
    pub w_min_dtod: f64,
    /// Standard deviation of the diffusion after every update call, in weight units (0: none;
    /// `device/effects.rs`).
    pub diffusion: f64,
    /// Device-to-device spread of the diffusion rate, relative to `diffusion`.
    pub diffusion_dtod: f64,
    /// Mean lifetime of a device in update calls, one over its decay rate (0: no decay).
    pub lifetime: f64,
    /// Device-to-device spread of the lifetime, relative to `lifetime`.
    pub lifetime_dtod: f64,
    /// The reset point: the weight a reset writes and decay tends to (mean over devices).
    pub reset: f64,
    /// Device-to-device spread of the reset point, in weight units (additive, as aihwkit's
    /// code draws it).
    pub reset_dtod: f64,
    /// Cycle-to-cycle spread of a reset, in weight units.
    pub reset_std: f64,
    /// Whether every device counts the pulses it takes, by direction.
    pub count_pulses: bool,
}

impl Default for PulsedParameters {
    fn default() -> Self {
        PulsedParameters {
            dw_min: 0.001,
            dw_min_dtod: 0.3,
            dw_min_std: 0.3,
            up_down: 0.0,
            up_down_dtod: 0.01,
            w_max: 0.6,
            w_min: -0.6,
            w_max_dtod: 0.3,
            w_min_dtod: 0.3,
            diffusion: 0.0,
            diffusion_dtod: 0.0,
            lifetime: 0.0,
            lifetime_dtod: 0.0,
            reset: 0.0,
            reset_dtod: 0.0,
            reset_std: 0.01,
            count_pulses: false,
        }
    }
}

impl PulsedParameters {
    /// Checks every value; errors name the field as `{prefix}.{field}` (`device.dw_min`).
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        for (name, v) in [
            ("dw_min_dtod", self.dw_min_dtod),
            ("dw_min_std", self.dw_min_std),
            ("up_down_dtod", self.up_down_dtod),
            ("w_max_dtod", self.w_max_dtod),
            ("w_min_dtod", self.w_min_dtod),
            ("diffusion", self.diffusion),
            ("diffusion_dtod", self.diffusion_dtod),
            ("lifetime", self.lifetime),
            ("lifetime_dtod", self.lifetime_dtod),
            ("reset_dtod", self.reset_dtod),
            ("reset_std", self.reset_std),
        ] {
            check_finite(format!("{prefix}.{name}"), v, true)?;
        }
        if !(self.dw_min.is_finite() && self.dw_min > 0.0) {
            return Err(Error::invalid(
                format!("{prefix}.dw_min"),
                format!("must be finite and > 0, got {}", self.dw_min),
            ));
        }
        check_finite(format!("{prefix}.up_down"), self.up_down, false)?;
        check_finite(format!("{prefix}.reset"), self.reset, false)?;
        if !(self.w_min.is_finite()
            && self.w_max.is_finite()
            && self.w_min <= 0.0
            && self.w_max >= 0.0)
        {
            return Err(Error::invalid(
                format!("{prefix}.w_min/w_max"),
                format!(
                    "[w_min, w_max] must be finite and contain 0, got [{}, {}]",
                    self.w_min, self.w_max
                ),
            ));
        }
        Ok(())
    }

    /// The per-device bounds and steps (MODEL.md §5) from the device's normals `xi1 .. xi4`.
    pub(crate) fn draw(&self, xi: &[f32; 4]) -> DrawnDevice {
        let mut b_max = (self.w_max * (1.0 + self.w_max_dtod * f64::from(xi[0]))) as f32;
        let mut b_min = (self.w_min * (1.0 + self.w_min_dtod * f64::from(xi[1]))) as f32;
        // As aihwkit's `enforce_consistency`: keep 0 inside the bounds.
        if b_min > b_max {
            std::mem::swap(&mut b_min, &mut b_max);
        }
        let gain = 1.0 + self.dw_min_dtod * f64::from(xi[2]);
        let r = self.up_down_dtod * f64::from(xi[3]);
        let (up_bias, down_bias) = up_down_biases(self.up_down);
        DrawnDevice {
            b_max: b_max.abs(),
            b_min: -b_min.abs(),
            dw_up: ((up_bias + gain + r) * self.dw_min).abs() as f32,
            dw_down: ((down_bias + gain - r) * self.dw_min).abs() as f32,
        }
    }
}

/// The biases an up/down asymmetry `up_down` adds to the up and down gains: a positive value
/// lowers the down gain, a negative one the up gain (aihwkit's `PulsedDevice.up_down`, also
/// used for `PowStep.pow_up_down`).
pub(crate) fn up_down_biases(up_down: f64) -> (f64, f64) {
    (up_down.min(0.0), -up_down.max(0.0))
}

/// Bounds and steps of one device.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrawnDevice {
    pub b_max: f32,
    pub b_min: f32,
    pub dw_up: f32,
    pub dw_down: f32,
}

/// Write noise (aihwkit's `write_noise_std`): the update acts on a hidden persistent weight,
/// and the weight a tile reads is the persistent one plus Gaussian noise of standard deviation
/// `write_noise_std * dw_min`, drawn anew each time the device is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteNoiseParameters {
    /// Standard deviation of the write noise, relative to `dw_min` (0: none).
    pub write_noise_std: f64,
    /// Whether programming the weights (`set_weights`) draws write noise too.
    pub apply_write_noise_on_set: bool,
}

impl Default for WriteNoiseParameters {
    fn default() -> Self {
        WriteNoiseParameters {
            write_noise_std: 0.0,
            apply_write_noise_on_set: true,
        }
    }
}

impl WriteNoiseParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        check_finite(
            format!("{prefix}.write_noise_std"),
            self.write_noise_std,
            true,
        )
    }

    /// The standard deviation in weight units.
    pub(crate) fn std(&self, dw_min: f64) -> f32 {
        (self.write_noise_std * dw_min) as f32
    }
}

/// Per-device bounds and step sizes drawn once; row-major like the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceArrays {
    /// Lower bound of every device's weight.
    pub b_min: Vec<f32>,
    /// Upper bound of every device's weight.
    pub b_max: Vec<f32>,
    /// Mean weight change of an up pulse, per device.
    pub dw_up: Vec<f32>,
    /// Mean weight change of a down pulse (a magnitude), per device.
    pub dw_down: Vec<f32>,
}

impl DeviceArrays {
    /// Bounds and steps of every device of an `out_size x in_size` tile: see [`draw_devices`].
    pub(crate) fn populate(p: &PulsedParameters, shape: Shape) -> Result<Self> {
        let [b_min, b_max, dw_up, dw_down] = draw_devices(shape, false, |xi, _| {
            let d = p.draw(xi);
            [d.b_min, d.b_max, d.dw_up, d.dw_down]
        })?;
        Ok(DeviceArrays {
            b_min,
            b_max,
            dw_up,
            dw_down,
        })
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &[f32])> {
        vec![
            ("b_min", &self.b_min),
            ("b_max", &self.b_max),
            ("dw_up", &self.dw_up),
            ("dw_down", &self.dw_down),
        ]
    }

    /// The saved arrays, each in the domain the draw gives (MODEL.md §5): `b_min <= 0 <=
    /// b_max` (so the bounds never cross), steps `>= 0` (magnitudes).
    pub(crate) fn from_named(arrays: &mut super::NamedArrays, n: usize) -> Result<Self> {
        let non_negative = |v: f32| v >= 0.0;
        Ok(DeviceArrays {
            b_min: arrays.take_within("b_min", n, |v| v <= 0.0, "<= 0")?,
            b_max: arrays.take_within("b_max", n, non_negative, ">= 0")?,
            dw_up: arrays.take_within("dw_up", n, non_negative, ">= 0")?,
            dw_down: arrays.take_within("dw_down", n, non_negative, ">= 0")?,
        })
    }
}

/// Where a tile's devices are drawn from: its size, its seed, and which device of a unit cell
/// (0 for a single device per cross-point).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub out_size: usize,
    pub in_size: usize,
    pub seed: u64,
    pub sub: u32,
}

impl Shape {
    pub(crate) fn len(&self) -> usize {
        self.out_size * self.in_size
    }
}

/// Draws `N` values for every device, in parallel over rows: `f(common, extra)` gets the
/// device's normals 0..4 (`xi1 .. xi4` of MODEL.md §5) and, with `extra`, normals 4..8 for the
/// parameters of a particular model (else zeros), all from block 0 of the device-to-device
/// stream ([`draw_per_device`]). Returns the values column by column (a failed allocation is
/// an error).
pub(crate) fn draw_devices<const N: usize>(
    shape: Shape,
    extra: bool,
    f: impl Fn(&[f32; 4], &[f32; 4]) -> [f32; N] + Sync,
) -> Result<[Vec<f32>; N]> {
    draw_per_device(shape, Purpose::DeviceToDevice, |xi| {
        let common = [xi[0], xi[1], xi[2], xi[3]];
        let more = if extra {
            [xi[4], xi[5], xi[6], xi[7]]
        } else {
            [0.0; 4]
        };
        f(&common, &more)
    })
}

/// Draws `N` values for every device, in parallel over rows: `f` gets the eight normals of
/// block 0 of the device's address `[i, j, sub]` (device `(i, j)` of unit-cell device `sub`)
/// in the `purpose` stream of the tile's initialisation, so the result does not depend on the
/// thread count. Returns the values column by column (a failed allocation is an error).
pub(crate) fn draw_per_device<const N: usize>(
    shape: Shape,
    purpose: Purpose,
    f: impl Fn(&[f32; 8]) -> [f32; N] + Sync,
) -> Result<[Vec<f32>; N]> {
    let stream = Stream::new(shape.seed, Op::Init, purpose, 0);
    let mut drawn = filled(shape.len(), [0.0f32; N], "device arrays")?;
    let work = 64 * drawn.len();
    crate::threads::for_each_chunk(&mut drawn, shape.in_size, work, |i, row| {
        for (j, d) in row.iter_mut().enumerate() {
            let address = [i as u32, j as u32, shape.sub];
            *d = f(&normals_of_block(stream.block(address, 0)));
        }
    });
    let mut columns = Vec::with_capacity(N);
    for c in 0..N {
        columns.push(collect(
            drawn.len(),
            drawn.iter().map(|d| d[c]),
            "device arrays",
        )?);
    }
    Ok(columns.try_into().expect("N columns"))
}
