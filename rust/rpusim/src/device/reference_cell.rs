//! The unit cell of a device and its reference device (aihwkit's `ReferenceUnitCell`): a
//! configuration only. It draws a [`VectorCell`](super::VectorCell) of two devices with
//! `gamma = [1, -1]` and the update policy `single_fixed` on device 0, so that the weight is
//! `w_0 - w_1`, only device 0 is pulsed, and programming the weights writes device 0 alone
//! (the reference device keeps its weight, 0 when drawn). Everything else (update, effects,
//! saving) is the vector cell's.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::config::{DeviceConfig, UpdatePolicy, VectorUnitCellParameters};
use crate::error::{Error, Result};

/// Configuration of a device with a reference device at every cross-point (aihwkit's
/// `ReferenceUnitCell`; the fields are those of [`VectorUnitCellParameters`], with aihwkit's
/// defaults for this cell).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceUnitCellParameters {
    /// The device and its reference device: two single pulsed models, or one, which then
    /// serves for both (each device drawn on its own; aihwkit's `unit_cell_devices`).
    pub devices: Vec<DeviceConfig>,
    /// Weight of each device in the cross-point's weight (aihwkit's `gamma_vec`, default
    /// `[1, -1]`: the device minus its reference).
    pub gamma: Vec<f64>,
    /// Which devices an update call pulses (default `single_fixed`, which aihwkit asks to
    /// keep).
    pub update_policy: UpdatePolicy,
    /// The device that is pulsed and programmed (default 0).
    pub first_update_idx: u32,
}

impl Default for ReferenceUnitCellParameters {
    /// Two default constant-step devices (aihwkit's default is an empty list, which cannot
    /// make a tile).
    fn default() -> Self {
        ReferenceUnitCellParameters {
            devices: vec![DeviceConfig::default(), DeviceConfig::default()],
            gamma: vec![1.0, -1.0],
            update_policy: UpdatePolicy::SingleFixed,
            first_update_idx: 0,
        }
    }
}

impl ReferenceUnitCellParameters {
    /// The vector cell this cell is: its two devices (the one device twice when one is given).
    pub fn vector(&self) -> VectorUnitCellParameters {
        let devices = match self.devices.as_slice() {
            [one] => vec![one.clone(), one.clone()],
            devices => devices.to_vec(),
        };
        VectorUnitCellParameters {
            devices,
            gamma: self.gamma.clone(),
            update_policy: self.update_policy,
            first_update_idx: self.first_update_idx,
        }
    }

    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        let n = self.devices.len();
        if !(1..=2).contains(&n) {
            return Err(Error::invalid(
                format!("{prefix}.devices"),
                format!("must hold 1 or 2 devices (a device and its reference), got {n}"),
            ));
        }
        self.vector().validate(prefix)
    }
}

impl DeviceConfig {
    /// The vector cell a unit-cell configuration draws (`None` for the other models).
    pub(crate) fn vector_cell(&self) -> Option<Cow<'_, VectorUnitCellParameters>> {
        match self {
            DeviceConfig::VectorUnitCell(p) => Some(Cow::Borrowed(p)),
            DeviceConfig::ReferenceUnitCell(p) => Some(Cow::Owned(p.vector())),
            _ => None,
        }
    }
}
