//! The configuration of the transfer compounds (Tiki-Taka, aihwkit's `TransferCompound` and
//! `BufferedTransferCompound`; docs/model_notes.md, "Transfer compounds"): a fast array `A`
//! that takes the gradient updates and a slow array `C` that the transfers write, the network
//! reading `W = gamma_A A + gamma_C C`. The drawn cell is in `transfer.rs`, the update with its
//! transfers in the crate's `transfer.rs`.

use serde::{Deserialize, Serialize};

use super::config::DeviceConfig;
use crate::error::{Error, Result};
use crate::numeric::check_finite;
use crate::periphery::{BoundManagement, IoParameters, NoiseManagement, UpdateParameters};

/// The devices of a compound: the fast one (`A`) and the slow one (`C`).
pub const TRANSFER_DEVICES: usize = 2;

/// The parameters both transfer compounds share; names and defaults are aihwkit's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransferParameters {
    /// The fast device `A` (gradient updates) and the slow device `C` (transfers), in this
    /// order; single pulsed models. Default: two `ConstantStep` (aihwkit's default, an empty
    /// list, cannot make a tile).
    pub unit_cell_devices: Vec<DeviceConfig>,
    /// The weights of `A` and `C` in the network's weight are `[gamma, 1]` unless `gamma_vec`
    /// is given (default 0: the network reads `C` alone).
    pub gamma: f64,
    /// The weights `[gamma_A, gamma_C]`; empty (default) means `[gamma, 1]`. `gamma_C` must
    /// not be 0.
    pub gamma_vec: Vec<f64>,
    /// A transfer every `transfer_every` samples, or batches with `units_in_mbatch`
    /// (default 1; 0: no transfer).
    pub transfer_every: f64,
    /// `transfer_every` counts batches: the period is `ceil(transfer_every * batch size)`
    /// samples (default true); otherwise `round(transfer_every)` samples.
    pub units_in_mbatch: bool,
    /// Columns (or rows) read and written per transfer, consecutive, wrapping at the last
    /// (default 1; more than the array has means all of them).
    pub n_reads_per_transfer: u32,
    /// Transfer columns (a forward read of `A`); otherwise rows (a backward read) (default
    /// true).
    pub transfer_columns: bool,
    /// Probability of resetting the columns of `A` after they were read (default 0; only 0 is
    /// supported).
    pub with_reset_prob: f64,
    /// Start each transfer at a random column (default false; only false is supported).
    pub random_selection: bool,
    /// Learning rate of the gradient update of `A`, as it is (not times the update's `lr`,
    /// as in aihwkit 1.1); 0 means the update's `lr` (default 1).
    pub fast_lr: f64,
    /// Learning rate of the transfer update onto `C` (>= 0, default 1).
    pub transfer_lr: f64,
    /// Multiply `transfer_lr` by the update's learning rate (default true).
    pub scale_transfer_lr: bool,
    /// The periphery of the transfer's read of `A` (noise and bound management are always off
    /// in the read, as in aihwkit). Default: the forward periphery's defaults.
    pub transfer_forward: IoParameters,
}

impl Default for TransferParameters {
    fn default() -> Self {
        TransferParameters {
            unit_cell_devices: vec![DeviceConfig::default(), DeviceConfig::default()],
            gamma: 0.0,
            gamma_vec: Vec::new(),
            transfer_every: 1.0,
            units_in_mbatch: true,
            n_reads_per_transfer: 1,
            transfer_columns: true,
            with_reset_prob: 0.0,
            random_selection: false,
            fast_lr: 1.0,
            transfer_lr: 1.0,
            scale_transfer_lr: true,
            transfer_forward: IoParameters::default(),
        }
    }
}

impl TransferParameters {
    fn validate(&self, prefix: &str) -> Result<()> {
        let n = self.unit_cell_devices.len();
        if n != TRANSFER_DEVICES {
            return Err(Error::invalid(
                format!("{prefix}.unit_cell_devices"),
                format!("must hold {TRANSFER_DEVICES} devices (fast, slow), got {n}"),
            ));
        }
        for (k, device) in self.unit_cell_devices.iter().enumerate() {
            let at = format!("{prefix}.unit_cell_devices[{k}]");
            if device.pulsed().is_none() {
                return Err(Error::invalid(at, "must be a single pulsed device model"));
            }
            device.validate_as(&at)?;
        }
        check_finite(format!("{prefix}.gamma"), self.gamma, false)?;
        if !(self.gamma_vec.is_empty() || self.gamma_vec.len() == TRANSFER_DEVICES) {
            return Err(Error::invalid(
                format!("{prefix}.gamma_vec"),
                format!(
                    "must be empty ([gamma, 1]) or hold {TRANSFER_DEVICES} values, got {}",
                    self.gamma_vec.len()
                ),
            ));
        }
        for (k, &g) in self.gamma_vec.iter().enumerate() {
            check_finite(format!("{prefix}.gamma_vec[{k}]"), g, false)?;
        }
        if self.gamma_vec.last() == Some(&0.0) {
            return Err(Error::invalid(
                format!("{prefix}.gamma_vec[1]"),
                "must not be 0: the slow device must count in the weight",
            ));
        }
        for (name, v) in [
            ("transfer_every", self.transfer_every),
            ("fast_lr", self.fast_lr),
            ("transfer_lr", self.transfer_lr),
        ] {
            check_finite(format!("{prefix}.{name}"), v, true)?;
        }
        if self.n_reads_per_transfer == 0 {
            return Err(Error::invalid(
                format!("{prefix}.n_reads_per_transfer"),
                "must be at least 1, got 0",
            ));
        }
        if self.with_reset_prob != 0.0 {
            return Err(Error::invalid(
                format!("{prefix}.with_reset_prob"),
                format!(
                    "must be 0 (resets after a transfer are not supported), got {}",
                    self.with_reset_prob
                ),
            ));
        }
        if self.random_selection {
            return Err(Error::invalid(
                format!("{prefix}.random_selection"),
                "must be false (a random first column is not supported)",
            ));
        }
        self.transfer_forward
            .validate(&format!("{prefix}.transfer_forward"))
    }

    /// The weights `[gamma_A, gamma_C]` of the devices in the network's weight.
    pub fn gammas(&self) -> [f32; TRANSFER_DEVICES] {
        match self.gamma_vec.as_slice() {
            [a, c] => [*a as f32, *c as f32],
            _ => [self.gamma as f32, 1.0],
        }
    }

    /// The periphery of the transfer's read: `transfer_forward` without noise or bound
    /// management.
    pub fn read_io(&self) -> IoParameters {
        IoParameters {
            noise_management: NoiseManagement::None,
            bound_management: BoundManagement::None,
            ..self.transfer_forward.clone()
        }
    }

    /// Samples between transfers in a batch of `n` samples (0: no transfer).
    pub fn period(&self, n: usize) -> u64 {
        let period = if self.units_in_mbatch {
            (self.transfer_every * n as f64).ceil()
        } else {
            self.transfer_every.round()
        };
        period as u64
    }

    /// The learning rate of the gradient update of `A` for the update's rate `lr`: a constant
    /// rate for the fast devices, the update's `lr` only then scaling the transfers.
    pub fn fast_rate(&self, lr: f32) -> f32 {
        if self.fast_lr > 0.0 {
            self.fast_lr as f32
        } else {
            lr
        }
    }

    /// The learning rate of the transfer (before TTv2's factor) for the update's rate `lr`.
    pub fn transfer_rate(&self, lr: f32) -> f32 {
        let rate = self.transfer_lr as f32;
        if self.scale_transfer_lr {
            rate * lr
        } else {
            rate
        }
    }

    /// The weight change of one pulse of `C` (its granularity).
    pub fn slow_granularity(&self) -> f32 {
        DeviceConfig::granularity(&self.unit_cell_devices[1]).unwrap_or(1.0) as f32
    }
}

/// Tiki-Taka v1 (aihwkit's `TransferCompound`): the read column of `A` is written onto `C` by
/// a pulsed update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransferCompoundParameters {
    /// The parameters both compounds share (flattened into the JSON object).
    #[serde(flatten)]
    pub transfer: TransferParameters,
    /// The pulsed update of the transfer onto `C` (default: the update's defaults,
    /// `desired_bl = 31`, update management and UBLM on).
    pub transfer_update: UpdateParameters,
}

impl TransferCompoundParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        self.transfer.validate(prefix)?;
        self.transfer_update
            .validate(&format!("{prefix}.transfer_update"))
    }
}

/// Tiki-Taka v2 (aihwkit's `BufferedTransferCompound`): the read column of `A` accumulates in
/// a digital buffer, and only whole thresholds are written onto `C`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BufferedTransferCompoundParameters {
    /// The parameters both compounds share (flattened into the JSON object).
    #[serde(flatten)]
    pub transfer: TransferParameters,
    /// The pulsed update of the transfer onto `C` (default `desired_bl = 1`, update
    /// management and UBLM off: one pulse per threshold crossed).
    pub transfer_update: UpdateParameters,
    /// The threshold of the buffer in pulses of `C`: `thres_scale` times `C`'s granularity
    /// (> 0, default 1).
    pub thres_scale: f64,
    /// The learning rate of the write in pulses of `C`: `step` times its granularity (> 0,
    /// default 1).
    pub step: f64,
    /// The fraction of what was transferred that stays in the buffer, in [0, 1] (default 0.1).
    pub momentum: f64,
    /// After a transfer the buffer keeps `momentum` times its value (default true); otherwise
    /// what was transferred, times `1 - momentum`, is subtracted.
    pub forget_buffer: bool,
}

impl Default for BufferedTransferCompoundParameters {
    fn default() -> Self {
        BufferedTransferCompoundParameters {
            transfer: TransferParameters::default(),
            transfer_update: UpdateParameters {
                desired_bl: 1,
                update_management: false,
                update_bl_management: false,
                ..UpdateParameters::default()
            },
            thres_scale: 1.0,
            step: 1.0,
            momentum: 0.1,
            forget_buffer: true,
        }
    }
}

impl BufferedTransferCompoundParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        self.transfer.validate(prefix)?;
        self.transfer_update
            .validate(&format!("{prefix}.transfer_update"))?;
        for (name, v) in [("thres_scale", self.thres_scale), ("step", self.step)] {
            check_finite(format!("{prefix}.{name}"), v, true)?;
            if v == 0.0 {
                return Err(Error::invalid(
                    format!("{prefix}.{name}"),
                    "must be > 0, got 0",
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(Error::invalid(
                format!("{prefix}.momentum"),
                format!("must be in [0, 1], got {}", self.momentum),
            ));
        }
        Ok(())
    }
}
