//! Device models (MODEL.md §5): the parameters every device draws once (device-to-device
//! variation) and the response of one device to one pulse (cycle-to-cycle variation).
//!
//! A model is two things: a configuration (serde, aihwkit's field names, [`DeviceConfig`]) and
//! a set of per-device arrays drawn from it. The update kernels only see the [`PulsedDevice`]
//! trait, compiled once per model ([`DeviceModel`] and its dispatch). A cross-point holds one
//! device ([`DeviceLayer`], with hidden persistent weights when the model has write noise), or
//! several ([`VectorCell`]), or none (the ideal device): [`DeviceState`].
//!
//! # One table of models
//!
//! The single pulsed models are listed once, in the table `pulsed_models!` below: each line
//! names a model's JSON tag, its parameter struct (which implements the crate's `PulsedModel`
//! trait: checks, the shared parameters, how its devices are drawn and restored) and its drawn
//! devices (which implement [`PulsedDevice`]). From the table `config.rs` generates
//! [`DeviceConfig`] (one variant per line, then the two configurations that are not a single
//! pulsed model, `IdealDevice` and `VectorUnitCell`, written out there once), [`DEVICE_TYPES`],
//! [`DeviceConfig::default_of`] and the dispatch of validation, [`DeviceConfig::pulsed`],
//! [`DeviceConfig::write_noise`], [`DeviceConfig::granularity`] and of drawing and restoring
//! devices; `model.rs` generates [`DeviceModel`] (one variant per line) and `with_model!`. The
//! Python package takes the names from [`DEVICE_TYPES`] through the binding.
//!
//! # How to add a device model
//!
//! Write one file, `device/<model>.rs`: the parameter struct (serde, aihwkit's field names and
//! defaults, `#[serde(deny_unknown_fields)]`, the shared parts as `#[serde(flatten)]` fields
//! `pulsed` and `write_noise`), the drawn devices (a struct holding [`DeviceArrays`] and the
//! model's own per-device arrays, with `named` giving the arrays to save), `impl PulsedModel`
//! for the parameters and `impl PulsedDevice` for the drawn devices. Declare it below (`mod`,
//! `pub use`) and add one line to the table, `Tag(Parameters) => Drawn,` (a model that draws
//! the devices of another one names that one's drawn type, as `SoftBounds` does). The test
//! `every_table_entry_round_trips` of `tests/device_model.rs` then checks the new model's
//! defaults through JSON, validation, drawing and a saved state; the Python package needs the
//! dataclass of the same name in `python/rpusim/devices.py` (a test checks both lists agree).

/// The table of the single pulsed device models: `JSON tag (parameters) => drawn devices`, in
/// the order of [`DeviceConfig`] and [`DEVICE_TYPES`] (see the module documentation).
///
/// `pulsed_models!(callback)` expands `callback! { () TABLE }`, and
/// `pulsed_models!(callback; args)` expands `callback! { (args) TABLE }`: the callback (a path
/// of identifiers) generates items or an expression from the lines.
macro_rules! pulsed_models {
    ($($then:ident)::+ $(; $($args:tt)*)?) => {
        $($then)::+! {
            ($($($args)*)?)
            ConstantStep(PulsedParameters) => ConstantStep,
            LinearStep(LinearStepParameters) => LinearStep,
            SoftBounds(SoftBoundsParameters) => LinearStep,
            ExpStep(ExpStepParameters) => ExpStep,
            PowStep(PowStepParameters) => PowStep,
            PiecewiseStep(PiecewiseStepParameters) => PiecewiseStep,
        }
    };
}
pub(crate) use pulsed_models;

mod config;
mod constant_step;
mod effects;
mod exp_step;
mod layer;
mod linear_step;
mod math;
mod mixed_precision;
mod model;
mod named;
mod one_sided;
mod piecewise_step;
mod pow_step;
mod pulsed;
mod reference_cell;
mod soft_bounds;
mod state;
mod traits;
mod transfer;
mod transfer_config;
mod vector;

pub use config::{
    DeviceConfig, IdealParameters, UpdatePolicy, VectorUnitCellParameters, DEVICE_TYPES,
    MAX_UNIT_CELL_DEVICES,
};
pub use constant_step::ConstantStep;
pub use effects::Effects;
pub(crate) use effects::ResetStreams;
pub use exp_step::{ExpStep, ExpStepParameters};
pub use layer::DeviceLayer;
pub use linear_step::{LinearStep, LinearStepParameters};
pub use mixed_precision::{
    MixedPrecisionCell, MixedPrecisionCompoundParameters, MixedPrecisionCounters,
};
pub use model::DeviceModel;
pub(crate) use model::{match_model, with_model};
pub(crate) use named::NamedArrays;
pub use one_sided::{
    OneSidedCell, OneSidedCounters, OneSidedUnitCellParameters, ONE_SIDED_DEVICES,
};
pub use piecewise_step::{Nodes, PiecewiseStep, PiecewiseStepParameters, MAX_NODES};
pub use pow_step::{PowStep, PowStepParameters};
pub use pulsed::{DeviceArrays, PulsedParameters, WriteNoiseParameters};
pub use reference_cell::ReferenceUnitCellParameters;
pub use soft_bounds::SoftBoundsParameters;
pub(crate) use state::DeviceCounters;
pub use state::{DeviceState, UnitCell};
#[cfg(target_arch = "x86_64")]
pub(crate) use traits::move_by16;
pub use traits::PulsedDevice;
pub(crate) use traits::{move_by, PulsedModel};
pub use transfer::{Compound, TransferCell, TransferCounters};
pub use transfer_config::{
    BufferedTransferCompoundParameters, TransferCompoundParameters, TransferParameters,
    TRANSFER_DEVICES,
};
pub use vector::VectorCell;
