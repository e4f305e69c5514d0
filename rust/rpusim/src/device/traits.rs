//! The two traits every single pulsed device model implements: [`PulsedDevice`] for its drawn
//! devices (what the update kernels need: the step of one pulse) and [`PulsedModel`] for its
//! parameters (what the table of models in `device/mod.rs` needs: checks, the shared parts, and
//! how the devices are drawn and restored).

use super::named::NamedArrays;
use super::pulsed::{DeviceArrays, PulsedParameters, Shape, WriteNoiseParameters};
use crate::error::Result;
use crate::rng::NormalSource;

/// What the update kernels need of a device model: the step of one pulse.
pub trait PulsedDevice: Sync {
    /// The per-device f32 arrays the drawn devices keep besides the saved ones of `named`
    /// (derived from them, recomputed on loading): what a tile's memory estimate adds.
    const DERIVED_ARRAYS: usize = 0;

    /// The per-device bounds and steps.
    fn arrays(&self) -> &DeviceArrays;

    /// Relative cycle-to-cycle spread of a pulse (`dw_min_std`).
    fn c2c_std(&self) -> f32;

    /// Mean change of weight `w` of device `k` by one pulse, as a magnitude (it may turn
    /// negative where a model's formula does, as in aihwkit).
    fn step(&self, k: usize, w: f32, up: bool) -> f32;

    /// Weight `w` of device `k` after one pulse in direction `up`, before clipping, with the
    /// cycle-to-cycle normal `xi` (0 when the model has no cycle-to-cycle noise): by default
    /// `w +- step * (1 + c2c_std * xi)`.
    #[inline(always)]
    fn pulse(&self, k: usize, w: f32, up: bool, xi: f32) -> f32 {
        move_by(w, self.step(k, w, up) * (1.0 + self.c2c_std() * xi), up)
    }

    /// [`PulsedDevice::pulse`] of the sixteen devices `k0 .. k0 + 16` with AVX-512, on the
    /// lanes set in `lanes` (the others may hold anything): lane `l` has weight `w[l]`,
    /// direction up when bit `l` of `up` is set, and normal `xi[l]`. The default goes lane by
    /// lane; models override it with vector arithmetic that gives the same bits.
    ///
    /// # Safety
    /// The CPU has AVX-512 F; devices `k0 + l` exist for the lanes in `lanes`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pulse16(
        &self,
        k0: usize,
        w: std::arch::x86_64::__m512,
        up: u16,
        xi: std::arch::x86_64::__m512,
        lanes: u16,
    ) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        let (mut wl, mut xl) = ([0.0f32; 16], [0.0f32; 16]);
        // SAFETY: 16-lane stores into and a load from arrays of 16; AVX-512 by the contract.
        unsafe {
            _mm512_storeu_ps(wl.as_mut_ptr(), w);
            _mm512_storeu_ps(xl.as_mut_ptr(), xi);
        }
        for l in 0..16 {
            if lanes >> l & 1 == 1 {
                wl[l] = self.pulse(k0 + l, wl[l], up >> l & 1 == 1, xl[l]);
            }
        }
        // SAFETY: as above.
        unsafe { _mm512_loadu_ps(wl.as_ptr()) }
    }

    /// Applies `n` pulses in direction `up` to weight `w` of device `k`, one after the other:
    /// each draws its normal from `noise` (the sequence of the device's row in this sample)
    /// when the model has cycle-to-cycle noise, moves the weight ([`PulsedDevice::pulse`]),
    /// then clips it to the device's bounds. It draws exactly `n` normals when
    /// `c2c_std() > 0` and none otherwise: the update kernel computes a row's normals
    /// beforehand by that count.
    #[inline(always)]
    fn apply_pulses(
        &self,
        k: usize,
        mut w: f32,
        n: u32,
        up: bool,
        noise: &mut impl NormalSource,
    ) -> f32 {
        let arrays = self.arrays();
        let (lo, hi) = (arrays.b_min[k], arrays.b_max[k]);
        let std = self.c2c_std();
        for _ in 0..n {
            let xi = if std > 0.0 { noise.draw() } else { 0.0 };
            // max/min rather than clamp: never panics, whatever bounds a loaded state holds.
            w = self.pulse(k, w, up, xi).max(lo).min(hi);
        }
        w
    }
}

/// `w + change` for the lanes of `up`, `w - change` for the others (as [`move_by`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn move_by16(
    w: std::arch::x86_64::__m512,
    change: std::arch::x86_64::__m512,
    up: u16,
) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    // SAFETY: AVX-512 F, which the callers (`pulse16`) require.
    unsafe { _mm512_mask_add_ps(_mm512_sub_ps(w, change), up, w, change) }
}

/// `w + change` when `up`, else `w - change`.
#[inline(always)]
pub(crate) fn move_by(w: f32, change: f32, up: bool) -> f32 {
    if up {
        w + change
    } else {
        w - change
    }
}

/// What the table of device models (`device/mod.rs`) needs of the parameters of a single pulsed
/// model (the serde struct of its JSON object): its checks, the parts every pulsed model
/// shares, and how its devices are drawn and restored. [`DeviceConfig`](super::DeviceConfig)
/// dispatches to it; the table's third column names [`PulsedModel::Drawn`].
pub(crate) trait PulsedModel {
    /// The drawn devices (several parameter structs may draw the same kind of devices: the
    /// soft-bounds device is a linear-step one).
    type Drawn: PulsedDevice;

    /// Checks every value; errors name the field as `{prefix}.{field}` (`device.dw_min`).
    fn validate(&self, prefix: &str) -> Result<()>;

    /// The parameters every pulsed model shares.
    fn pulsed(&self) -> &PulsedParameters;

    /// The write-noise parameters, for the models that have them.
    fn write_noise(&self) -> Option<&WriteNoiseParameters>;

    /// The weight change of one pulse that update management plans with (aihwkit's weight
    /// granularity); `dw_min` unless the model's step at `w = 0` differs from it.
    fn granularity(&self) -> f64 {
        self.pulsed().dw_min
    }

    /// Draws the devices of a tile (all weights start at zero); a failed allocation is an
    /// error.
    fn populate(&self, shape: Shape) -> Result<Self::Drawn>;

    /// Rebuilds the drawn devices from saved arrays of `n` values each.
    fn restore(&self, arrays: &mut NamedArrays, n: usize) -> Result<Self::Drawn>;
}
