//! The drawn devices of one pulsed model, whichever it is, and the dispatch from that choice to
//! the kernels that are generic over the model (one match per call, never per pulse). Both are
//! generated from the table of models (`pulsed_models!` in `device/mod.rs`).

use super::pulsed::DeviceArrays;
use super::PulsedDevice;

/// Generates [`DeviceModel`] from the table: one variant per line, holding the line's drawn
/// devices.
macro_rules! device_model {
    (() $($tag:ident($params:ident) => $drawn:ident,)*) => {
        /// Drawn devices of one single pulsed model, one variant per JSON tag of
        /// [`DeviceConfig`](super::DeviceConfig) (a soft-bounds configuration draws
        /// `DeviceModel::SoftBounds` holding linear-step devices).
        #[derive(Debug, Clone, PartialEq)]
        pub enum DeviceModel {
            $(
                #[doc = concat!(
                    "Devices drawn from [`", stringify!($params), "`](super::", stringify!($params),
                    ") (JSON tag `", stringify!($tag), "`)."
                )]
                $tag($crate::device::$drawn),
            )*
        }

        impl DeviceModel {
            /// The JSON tag of the configuration the devices were drawn from.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(DeviceModel::$tag(_) => stringify!($tag),)*
                }
            }
        }
    };
}
super::pulsed_models!(device_model);

/// The `match` of [`with_model!`]: `match_model! { (model, d, body) TABLE }`.
macro_rules! match_model {
    (($model:expr, $d:ident, $body:expr) $($tag:ident($params:ident) => $drawn:ident,)*) => {
        match $model {
            $($crate::device::DeviceModel::$tag($d) => $body,)*
        }
    };
}
pub(crate) use match_model;

/// `with_model!(model, d => body)` evaluates `body` with `d` bound to the concrete drawn model
/// inside `model` (a `&DeviceModel`), so that `body` is compiled once per model.
macro_rules! with_model {
    ($model:expr, $d:ident => $body:expr) => {
        $crate::device::pulsed_models!($crate::device::match_model; $model, $d, $body)
    };
}
pub(crate) use with_model;

impl DeviceModel {
    /// The per-device bounds and steps.
    pub fn arrays(&self) -> &DeviceArrays {
        with_model!(self, d => &d.arrays)
    }

    /// How many per-device arrays the devices derive from the saved ones
    /// ([`PulsedDevice::DERIVED_ARRAYS`]).
    pub(crate) fn derived_arrays(&self) -> usize {
        fn of<D: PulsedDevice>(_: &D) -> usize {
            D::DERIVED_ARRAYS
        }
        with_model!(self, d => of(d))
    }

    /// The drawn arrays to save, by name (derived arrays are recomputed on loading).
    pub(crate) fn named(&self) -> Vec<(&'static str, &[f32])> {
        with_model!(self, d => d.named())
    }
}
