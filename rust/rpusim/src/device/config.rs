//! The device model of a tile as configuration: one serde enum, tagged by the model's name
//! (`{"type": "LinearStep", "dw_min": 0.001, ...}`), field names and defaults as in aihwkit.
//!
//! [`DeviceConfig`] and its dispatch are generated from the table of single pulsed models
//! (`pulsed_models!` in `device/mod.rs`); the two configurations that are not a single pulsed
//! model are written out here, once: the ideal device ([`IdealParameters`]) and the unit cell
//! of several devices ([`VectorUnitCellParameters`], whose devices are again device
//! configurations, hence in this module: the drawn unit cell is in `vector.rs`).

use serde::{Deserialize, Serialize};

use super::mixed_precision::MixedPrecisionCompoundParameters;
use super::model::DeviceModel;
use super::named::NamedArrays;
use super::pulsed::{PulsedParameters, Shape, WriteNoiseParameters};
use super::traits::PulsedModel;
use super::transfer::Compound;
use super::transfer_config::{BufferedTransferCompoundParameters, TransferCompoundParameters};
use crate::error::{Error, Result};
use crate::numeric::check_finite;

/// The ideal device: the exact float update, no bounds, no pulses (aihwkit's `IdealDevice`).
/// With perfect forward and backward passes a tile computes in plain float32 arithmetic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdealParameters {}

/// Most devices a unit cell may hold.
pub const MAX_UNIT_CELL_DEVICES: usize = 256;

/// Which devices of a unit cell an update call pulses (in detail in the documentation of
/// [`VectorCell`](super::VectorCell)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdatePolicy {
    /// Every device gets the pulses (each with its own cycle-to-cycle noise).
    All,
    /// Only device `first_update_idx`.
    SingleFixed,
    /// One device per call, the next one each call.
    SingleSequential,
    /// One device per call, drawn uniformly from a stream keyed by the call.
    SingleRandom,
}

/// Configuration of a unit cell of several pulsed devices (MODEL.md §3.5, aihwkit's
/// `VectorUnitCell`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VectorUnitCellParameters {
    /// The devices of every cross-point (single pulsed models; aihwkit's `unit_cell_devices`).
    pub devices: Vec<DeviceConfig>,
    /// Weight of each device in the cross-point's weight; empty means `1/n` each (aihwkit's
    /// `gamma_vec`).
    pub gamma: Vec<f64>,
    /// Which devices an update call pulses.
    pub update_policy: UpdatePolicy,
    /// The device `single_fixed` pulses, and where the other policies start.
    pub first_update_idx: u32,
}

impl Default for VectorUnitCellParameters {
    /// Two default constant-step devices (aihwkit's default is an empty list, which cannot make
    /// a tile).
    fn default() -> Self {
        VectorUnitCellParameters {
            devices: vec![DeviceConfig::default(), DeviceConfig::default()],
            gamma: Vec::new(),
            update_policy: UpdatePolicy::All,
            first_update_idx: 0,
        }
    }
}

impl VectorUnitCellParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        let n = self.devices.len();
        if n == 0 || n > MAX_UNIT_CELL_DEVICES {
            return Err(Error::invalid(
                format!("{prefix}.devices"),
                format!("must hold 1 to {MAX_UNIT_CELL_DEVICES} devices, got {n}"),
            ));
        }
        for (k, device) in self.devices.iter().enumerate() {
            let at = format!("{prefix}.devices[{k}]");
            if device.pulsed().is_none() {
                return Err(Error::invalid(
                    at,
                    "must be a single pulsed device model (not IdealDevice or VectorUnitCell)",
                ));
            }
            device.validate_as(&at)?;
        }
        if !(self.gamma.is_empty() || self.gamma.len() == n) {
            return Err(Error::invalid(
                format!("{prefix}.gamma"),
                format!(
                    "must be empty (1/n each) or hold one value per device ({n}), got {}",
                    self.gamma.len()
                ),
            ));
        }
        for (k, &g) in self.gamma.iter().enumerate() {
            check_finite(format!("{prefix}.gamma[{k}]"), g, false)?;
        }
        if self.first_update_idx as usize >= n {
            return Err(Error::invalid(
                format!("{prefix}.first_update_idx"),
                format!(
                    "must be a device index below {n}, got {}",
                    self.first_update_idx
                ),
            ));
        }
        Ok(())
    }

    /// The weights of the devices in the cross-point's weight.
    pub fn gammas(&self) -> Vec<f32> {
        if self.gamma.is_empty() {
            let n = self.devices.len();
            vec![(1.0 / n as f64) as f32; n]
        } else {
            self.gamma.iter().map(|&g| g as f32).collect()
        }
    }

    /// The mean granularity of the devices (aihwkit's weight granularity of a vector cell).
    pub(crate) fn granularity(&self) -> Option<f64> {
        let sum: Option<f64> = self.devices.iter().map(DeviceConfig::granularity).sum();
        sum.map(|s| s / self.devices.len() as f64)
    }
}

/// Generates [`DeviceConfig`], [`DEVICE_TYPES`] and the dispatch of [`DeviceConfig`] from the
/// table of single pulsed models, adding the ideal device and the unit cell.
macro_rules! device_config {
    (() $($tag:ident($params:ident) => $drawn:ident,)*) => {
        /// The device model of a tile, by name (`{"type": "ConstantStep", ...}` in JSON).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum DeviceConfig {
            $(
                #[doc = concat!(
                    "A single pulsed model: [`", stringify!($params), "`](super::",
                    stringify!($params), ") drawing [`", stringify!($drawn), "`](super::",
                    stringify!($drawn), ") devices."
                )]
                $tag($crate::device::$params),
            )*
            /// The ideal device (no single pulsed model).
            #[serde(rename = "IdealDevice")]
            Ideal(IdealParameters),
            /// Several devices per cross-point (MODEL.md §3.5; no single pulsed model).
            VectorUnitCell(VectorUnitCellParameters),
            /// A device and its reference device per cross-point (a vector cell).
            ReferenceUnitCell(super::ReferenceUnitCellParameters),
            /// Tiki-Taka v1: a fast and a slow array and transfers (no single pulsed model).
            TransferCompound(TransferCompoundParameters),
            /// Tiki-Taka v2: TTv1 with a digital buffer (no single pulsed model).
            BufferedTransferCompound(BufferedTransferCompoundParameters),
            /// A pair of one-sided devices per cross-point with refreshes (no single pulsed
            /// model).
            OneSidedUnitCell(super::OneSidedUnitCellParameters),
            /// The mixed-precision update: the outer product accumulated in digital and
            /// transferred in whole steps (no single pulsed model).
            MixedPrecisionCompound(MixedPrecisionCompoundParameters),
        }

        /// The JSON tags of the device models, in the order of [`DeviceConfig`].
        pub const DEVICE_TYPES: &[&str] = &[
            $(stringify!($tag),)* "IdealDevice", "VectorUnitCell", "ReferenceUnitCell",
            "TransferCompound", "BufferedTransferCompound", "OneSidedUnitCell",
            "MixedPrecisionCompound",
        ];

        impl DeviceConfig {
            /// The model's JSON tag (an entry of [`DEVICE_TYPES`]).
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(DeviceConfig::$tag(_) => stringify!($tag),)*
                    DeviceConfig::Ideal(_) => "IdealDevice",
                    DeviceConfig::VectorUnitCell(_) => "VectorUnitCell",
                    DeviceConfig::TransferCompound(_) => "TransferCompound",
                    DeviceConfig::BufferedTransferCompound(_) => "BufferedTransferCompound",
                    DeviceConfig::ReferenceUnitCell(_) => "ReferenceUnitCell",
                    DeviceConfig::OneSidedUnitCell(_) => "OneSidedUnitCell",
                    DeviceConfig::MixedPrecisionCompound(_) => "MixedPrecisionCompound",
                }
            }

            /// The model named `name` (a JSON tag of [`DEVICE_TYPES`]) with its default
            /// parameters.
            pub fn default_of(name: &str) -> Option<DeviceConfig> {
                $(
                    if name == stringify!($tag) {
                        return Some(DeviceConfig::$tag(Default::default()));
                    }
                )*
                match name {
                    "IdealDevice" => Some(DeviceConfig::Ideal(Default::default())),
                    "VectorUnitCell" => Some(DeviceConfig::VectorUnitCell(Default::default())),
                    "ReferenceUnitCell" => {
                        Some(DeviceConfig::ReferenceUnitCell(Default::default()))
                    }
                    "TransferCompound" => Some(DeviceConfig::TransferCompound(Default::default())),
                    "BufferedTransferCompound" => {
                        Some(DeviceConfig::BufferedTransferCompound(Default::default()))
                    }
                    "OneSidedUnitCell" => Some(DeviceConfig::OneSidedUnitCell(Default::default())),
                    "MixedPrecisionCompound" => {
                        Some(DeviceConfig::MixedPrecisionCompound(Default::default()))
                    }
                    _ => None,
                }
            }

            /// Checks every value; errors name the field as `{prefix}.{field}`.
            pub(crate) fn validate_as(&self, prefix: &str) -> Result<()> {
                match self {
                    $(DeviceConfig::$tag(p) => PulsedModel::validate(p, prefix),)*
                    DeviceConfig::Ideal(_) => Ok(()),
                    DeviceConfig::VectorUnitCell(p) => p.validate(prefix),
                    DeviceConfig::TransferCompound(p) => p.validate(prefix),
                    DeviceConfig::BufferedTransferCompound(p) => p.validate(prefix),
                    DeviceConfig::ReferenceUnitCell(p) => p.validate(prefix),
                    DeviceConfig::OneSidedUnitCell(p) => p.validate(prefix),
                    DeviceConfig::MixedPrecisionCompound(p) => p.validate(prefix),
                }
            }

            /// The common parameters of a single pulsed device (`None` for the ideal device
            /// and for unit cells).
            pub fn pulsed(&self) -> Option<&PulsedParameters> {
                match self {
                    $(DeviceConfig::$tag(p) => Some(PulsedModel::pulsed(p)),)*
                    _ => None,
                }
            }

            /// The write-noise parameters of a single pulsed device that has them.
            pub fn write_noise(&self) -> Option<&WriteNoiseParameters> {
                match self {
                    $(DeviceConfig::$tag(p) => PulsedModel::write_noise(p),)*
                    _ => None,
                }
            }

            /// The weight change of one pulse that update management plans with (aihwkit's
            /// weight granularity): `dw_min` for the constant step, linear step and soft
            /// bounds; for the exponential step the mean device's down step at `w = 0`, for
            /// the power step `dw_min 0.5^pow_gamma`, for the piecewise step `dw_min` times
            /// its middle up node, for a unit cell the mean over its devices, for a transfer
            /// compound its slow device's, for a one-sided cell its device model's, for a
            /// mixed-precision compound its device's; `None` for the ideal device.
            pub fn granularity(&self) -> Option<f64> {
                match self {
                    $(DeviceConfig::$tag(p) => Some(PulsedModel::granularity(p)),)*
                    DeviceConfig::Ideal(_) => None,
                    DeviceConfig::VectorUnitCell(p) => p.granularity(),
                    DeviceConfig::TransferCompound(_) | DeviceConfig::BufferedTransferCompound(_) => {
                        self.compound()
                            .and_then(|c| c.transfer.unit_cell_devices[1].granularity())
                    }
                    DeviceConfig::ReferenceUnitCell(p) => p.vector().granularity(),
                    // The mean of its two devices, which are of one model.
                    DeviceConfig::OneSidedUnitCell(p) => p.device().granularity(),
                    DeviceConfig::MixedPrecisionCompound(p) => p.device.granularity(),
                }
            }

            /// Devices per cross-point: 1, or the size of a unit cell or compound (0 for the
            /// ideal device).
            pub fn devices_per_cross_point(&self) -> usize {
                match self {
                    $(DeviceConfig::$tag(_) => 1,)*
                    DeviceConfig::Ideal(_) => 0,
                    DeviceConfig::VectorUnitCell(p) => p.devices.len(),
                    DeviceConfig::TransferCompound(_) | DeviceConfig::BufferedTransferCompound(_) => 2,
                    DeviceConfig::ReferenceUnitCell(_) => 2,
                    DeviceConfig::OneSidedUnitCell(_) => 2,
                    DeviceConfig::MixedPrecisionCompound(_) => 1,
                }
            }

            /// Draws the devices of a single pulsed model (`None` for the ideal device and
            /// unit cells).
            pub(crate) fn populate_model(&self, shape: Shape) -> Result<Option<DeviceModel>> {
                Ok(match self {
                    $(DeviceConfig::$tag(p) => Some(DeviceModel::$tag(p.populate(shape)?)),)*
                    _ => None,
                })
            }

            /// Rebuilds the devices of a single pulsed model from saved arrays of `n` values
            /// each (`None` for the ideal device and unit cells).
            pub(crate) fn model_from_named(
                &self,
                arrays: &mut NamedArrays,
                n: usize,
            ) -> Result<Option<DeviceModel>> {
                Ok(match self {
                    $(DeviceConfig::$tag(p) => Some(DeviceModel::$tag(p.restore(arrays, n)?)),)*
                    _ => None,
                })
            }
        }
    };
}
super::pulsed_models!(device_config);

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig::ConstantStep(PulsedParameters::default())
    }
}

impl DeviceConfig {
    /// The configuration as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a DeviceConfig always serialises")
    }

    /// The configuration of a transfer compound (`None` for every other model).
    pub fn compound(&self) -> Option<Compound<'_>> {
        match self {
            DeviceConfig::TransferCompound(p) => Some(Compound {
                transfer: &p.transfer,
                transfer_update: &p.transfer_update,
                buffered: None,
            }),
            DeviceConfig::BufferedTransferCompound(p) => Some(Compound {
                transfer: &p.transfer,
                transfer_update: &p.transfer_update,
                buffered: Some(p),
            }),
            _ => None,
        }
    }

    /// The configuration of a one-sided unit cell (`None` for every other model).
    pub fn one_sided(&self) -> Option<&super::OneSidedUnitCellParameters> {
        match self {
            DeviceConfig::OneSidedUnitCell(p) => Some(p),
            _ => None,
        }
    }

    /// The configuration of a mixed-precision compound (`None` for every other model).
    pub fn mixed_precision(&self) -> Option<&MixedPrecisionCompoundParameters> {
        match self {
            DeviceConfig::MixedPrecisionCompound(p) => Some(p),
            _ => None,
        }
    }

    /// Whether `other` describes the same drawn devices (only then can a running tile switch).
    pub fn same_devices(&self, other: &DeviceConfig) -> bool {
        self == other
    }
}
