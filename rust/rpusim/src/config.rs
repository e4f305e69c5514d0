//! Configuration of a tile: the periphery of the forward and backward passes, the pulsed update,
//! and the device model. Field names and meanings follow aihwkit so that configurations carry
//! over; the defaults are those of MODEL.md (the paper's RPU baseline periphery), which are
//! aihwkit 1.1's (docs/aihwkit.md lists every shared name, both defaults and each difference).
//!
//! These structs are the one source of the defaults and of the checks: every struct takes its
//! `Default` for a field a JSON document leaves out, and [`TileConfig::validate`] is the only
//! validation (the Python dataclasses ask the engine through [`TileConfig::validate_section`]).

use serde::{Deserialize, Serialize};

use crate::device::DeviceConfig;
use crate::error::{Error, Result};
use crate::mapping::MappingParameters;

/// How the digital input scale `alpha` of a forward or backward pass is chosen (MODEL.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseManagement {
    /// `alpha = 1`.
    None,
    /// `alpha = max_j |x_j|`, clipped from above at `nm_thres` when `nm_thres > 0`.
    AbsMax,
    /// `alpha = max_j x_j` (clipped like `abs_max`); a non-positive maximum gives a zero output.
    Max,
    /// `alpha = nm_thres` (1 when `nm_thres <= 0`, as in aihwkit).
    Constant,
    /// A running average over batches of the mean abs-max, with decay `nm_decay`.
    AverageAbsMax,
}

/// Whether a saturated forward pass is repeated with halved inputs (MODEL.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundManagement {
    /// Saturated outputs are clipped at `out_bound`.
    None,
    /// Halve the inputs and repeat the whole pass while an output saturates.
    Iterative,
}

/// How the update is realised (MODEL.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PulseType {
    /// Exact float update `W -= lr d x^T`, clipped to the device bounds.
    None,
    /// Stochastic pulse trains of length BL on rows and columns; coincidences fire.
    StochasticCompressed,
    /// `n_ij = round(BL p_d[i] p_x[j])` pulses, no sampled trains.
    DeterministicImplicit,
}

/// Periphery of one analog matrix-vector product (forward or backward), MODEL.md §2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IoParameters {
    /// Bypass everything: the pass returns the exact float32 product.
    pub is_perfect: bool,
    /// DAC input range is `[-inp_bound, inp_bound]`.
    pub inp_bound: f64,
    /// DAC resolution as a fraction of the range (`1/126`: 7 bits); `<= 0` means none, `> 1`
    /// is read as a number of steps.
    pub inp_res: f64,
    /// Stochastic instead of nearest rounding in the DAC.
    pub inp_sto_round: bool,
    /// Standard deviation of Gaussian noise added to the DAC output.
    pub inp_noise: f64,
    /// ADC range is `[-out_bound, out_bound]`; `<= 0` or infinite means unbounded.
    pub out_bound: f64,
    /// ADC resolution as a fraction of the range (`1/510`: 9 bits); `<= 0` means none, `> 1`
    /// is read as a number of steps.
    pub out_res: f64,
    /// Stochastic instead of nearest rounding in the ADC.
    pub out_sto_round: bool,
    /// Standard deviation of the additive Gaussian output noise, fresh every pass.
    pub out_noise: f64,
    /// Weight noise referred to the output: `w_noise * ||u||_2 * N(0, 1)` per output.
    pub w_noise: f64,
    /// Digital factor applied to every output.
    pub out_scale: f64,
    /// How the input scale `alpha` is chosen.
    pub noise_management: NoiseManagement,
    /// Upper clip of the abs-max scale, or the constant scale of `constant` NM (`<= 0`: off).
    pub nm_thres: f64,
    /// Decay of the running average of `average_abs_max` NM, per batch.
    pub nm_decay: f64,
    /// Ignored in the backward pass, where bound management is never applied.
    pub bound_management: BoundManagement,
    /// Bound management stops once the input reduction factor exceeds this.
    pub max_bm_factor: f64,
    /// ... or once it exceeds `max_bm_res / inp_step` (the DAC would lose all resolution).
    pub max_bm_res: f64,
}

impl Default for IoParameters {
    fn default() -> Self {
        IoParameters {
            is_perfect: false,
            inp_bound: 1.0,
            inp_res: 1.0 / 126.0,
            inp_sto_round: false,
            inp_noise: 0.0,
            out_bound: 12.0,
            out_res: 1.0 / 510.0,
            out_sto_round: false,
            out_noise: 0.06,
            w_noise: 0.0,
            out_scale: 1.0,
            noise_management: NoiseManagement::AbsMax,
            nm_thres: 0.0,
            nm_decay: 1e-3,
            bound_management: BoundManagement::Iterative,
            max_bm_factor: 1000.0,
            max_bm_res: 0.25,
        }
    }
}

impl IoParameters {
    /// The exact float32 product, no periphery at all.
    pub fn perfect() -> Self {
        IoParameters {
            is_perfect: true,
            ..Self::default()
        }
    }

    /// Default periphery for the backward pass: as the forward, without bound management.
    pub fn default_backward() -> Self {
        IoParameters {
            bound_management: BoundManagement::None,
            ..Self::default()
        }
    }

    /// Quantisation step of the DAC in input units (0: none).
    pub fn inp_step(&self) -> f64 {
        quantization_step(self.inp_res, self.inp_bound)
    }

    /// Quantisation step of the ADC in output units (0: none).
    pub fn out_step(&self) -> f64 {
        quantization_step(self.out_res, self.out_bound)
    }

    /// The ADC clip level, or `None` when the output is unbounded.
    pub fn out_clip(&self) -> Option<f32> {
        (self.out_bound > 0.0 && self.out_bound.is_finite()).then_some(self.out_bound as f32)
    }

    /// The DAC clip level, or `None` when the input is unbounded.
    pub fn inp_clip(&self) -> Option<f32> {
        (self.inp_bound > 0.0 && self.inp_bound.is_finite()).then_some(self.inp_bound as f32)
    }

    /// Checks every value; errors name the field as `{prefix}.{field}` (`forward.out_noise`).
    fn validate(&self, prefix: &str) -> Result<()> {
        let field = |f: &str| format!("{prefix}.{f}");
        let finite = |name: &str, v: f64| -> Result<()> {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::invalid(
                    field(name),
                    format!("must be finite, got {v}"),
                ))
            }
        };
        let non_negative = |name: &str, v: f64| -> Result<()> {
            finite(name, v)?;
            if v >= 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(
                    field(name),
                    format!("must be >= 0, got {v}"),
                ))
            }
        };
        for (name, v) in [
            ("inp_noise", self.inp_noise),
            ("out_noise", self.out_noise),
            ("w_noise", self.w_noise),
            ("nm_thres", self.nm_thres),
            ("max_bm_res", self.max_bm_res),
        ] {
            non_negative(name, v)?;
        }
        for (name, v) in [
            ("inp_res", self.inp_res),
            ("out_res", self.out_res),
            ("out_scale", self.out_scale),
        ] {
            finite(name, v)?;
        }
        if self.inp_bound.is_nan() || self.out_bound.is_nan() {
            return Err(Error::invalid(
                field("inp_bound/out_bound"),
                "must not be NaN",
            ));
        }
        if !(0.0..=1.0).contains(&self.nm_decay) {
            return Err(Error::invalid(
                field("nm_decay"),
                format!("must be in [0, 1], got {}", self.nm_decay),
            ));
        }
        if self.max_bm_factor.is_nan() || self.max_bm_factor < 1.0 {
            return Err(Error::invalid(
                field("max_bm_factor"),
                format!("must be >= 1, got {}", self.max_bm_factor),
            ));
        }
        if self.inp_res > 0.0 && self.inp_clip().is_none() {
            return Err(Error::invalid(
                field("inp_bound"),
                format!(
                    "must be finite and > 0 when the DAC quantises (inp_res > 0), got {}",
                    self.inp_bound
                ),
            ));
        }
        if self.out_res > 0.0 && self.out_clip().is_none() {
            return Err(Error::invalid(
                field("out_bound"),
                format!(
                    "must be finite and > 0 when the ADC quantises (out_res > 0), got {}",
                    self.out_bound
                ),
            ));
        }
        Ok(())
    }
}

/// Step of a quantiser with resolution `res` (fraction of the range, or a number of steps when
/// `> 1`) over `[-bound, bound]`; 0 when `res <= 0`.
fn quantization_step(res: f64, bound: f64) -> f64 {
    if res <= 0.0 {
        0.0
    } else {
        let fraction = if res > 1.0 { 1.0 / res } else { res };
        fraction * 2.0 * bound
    }
}

/// The pulsed update (MODEL.md §3.3 and §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateParameters {
    /// Maximal pulse-train length `BL_max`.
    pub desired_bl: u32,
    /// Balance the pulse probabilities of `x` and `d` (UM).
    pub update_management: bool,
    /// Shorten the train to the pulses needed, `BL = min(ceil(k), desired_bl)` (UBLM). Implies UM.
    pub update_bl_management: bool,
    /// How the update is realised.
    pub pulse_type: PulseType,
}

/// Longest pulse train the engine supports (four 64-bit words per row or column).
pub const MAX_BL: u32 = 256;

impl Default for UpdateParameters {
    fn default() -> Self {
        UpdateParameters {
            desired_bl: 31,
            update_management: true,
            update_bl_management: true,
            pulse_type: PulseType::StochasticCompressed,
        }
    }
}

impl UpdateParameters {
    /// Checks every value; errors name the field as `{prefix}.{field}` (`update.desired_bl`).
    fn validate(&self, prefix: &str) -> Result<()> {
        if self.desired_bl == 0 || self.desired_bl > MAX_BL {
            return Err(Error::invalid(
                format!("{prefix}.desired_bl"),
                format!("must be in [1, {MAX_BL}], got {}", self.desired_bl),
            ));
        }
        Ok(())
    }
}

/// Everything that defines a tile's behaviour. Its fields are the sections of a configuration
/// document (`{"device": {...}, "forward": {...}, ...}`); a section or field the document leaves
/// out takes its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TileConfig {
    /// The device model of every cross-point; fixed once a tile has drawn its devices.
    pub device: DeviceConfig,
    /// Periphery of the forward pass `y = W x`.
    pub forward: IoParameters,
    /// Periphery of the backward pass `z = W^T d` (never bound-managed).
    pub backward: IoParameters,
    /// The pulsed update.
    pub update: UpdateParameters,
    /// Weight scaling and the digital factors of the update; all off by default.
    pub mapping: MappingParameters,
}

impl Default for TileConfig {
    fn default() -> Self {
        TileConfig {
            device: DeviceConfig::default(),
            forward: IoParameters::default(),
            backward: IoParameters::default_backward(),
            update: UpdateParameters::default(),
            mapping: MappingParameters::default(),
        }
    }
}

/// Checks that every non-integer number of the configuration document `value` is within the
/// float32 range the engine computes in (a value beyond it, as `w_max = 1e300`, would turn
/// into an infinity in the device arrays or the periphery and give a state that does not
/// load); the error names the field by its path (`device.w_max`, `device.devices.1.gamma`),
/// as `name` spells it.
fn check_float32_range(
    value: &serde_json::Value,
    name: &mut dyn FnMut(&str) -> String,
) -> Result<()> {
    fn walk(
        v: &serde_json::Value,
        path: &mut Vec<String>,
        name: &mut dyn FnMut(&str) -> String,
    ) -> Result<()> {
        match v {
            serde_json::Value::Number(n) if !n.is_i64() && !n.is_u64() => {
                let x = n.as_f64().unwrap_or(f64::INFINITY);
                if x.abs() > f64::from(f32::MAX) {
                    return Err(Error::invalid(
                        name(&path.join(".")),
                        format!("must be within the float32 range (|v| <= 3.4e38), got {x:e}"),
                    ));
                }
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(item, path, name)?;
                    path.pop();
                }
            }
            serde_json::Value::Object(fields) => {
                for (key, item) in fields {
                    path.push(key.clone());
                    walk(item, path, name)?;
                    path.pop();
                }
            }
            _ => {}
        }
        Ok(())
    }
    walk(value, &mut Vec::new(), name)
}

impl TileConfig {
    /// Checks every value; the error names the offending field (`forward.out_noise`).
    pub fn validate(&self) -> Result<()> {
        self.validate_naming(|section| section.to_string())
    }

    /// Checks every section, naming the fields of section `s` as `{prefix(s)}.{field}`.
    fn validate_naming(&self, prefix: impl Fn(&str) -> String) -> Result<()> {
        self.device.validate_as(&prefix("device"))?;
        self.forward.validate(&prefix("forward"))?;
        self.backward.validate(&prefix("backward"))?;
        self.update.validate(&prefix("update"))?;
        self.mapping.validate(&prefix("mapping"))?;
        let value = serde_json::to_value(self).expect("a TileConfig always serialises");
        check_float32_range(&value, &mut |name| {
            let (section, field) = name.split_once('.').unwrap_or((name, ""));
            format!("{}.{field}", prefix(section))
        })
    }

    /// Reads a configuration from JSON (field names as in the structs; missing sections and
    /// fields take their defaults) and validates it.
    pub fn from_json(text: &str) -> Result<Self> {
        let config = Self::from_value(parse(text)?)?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a TileConfig always serialises")
    }

    /// Checks one section on its own: `section_json` is the JSON of section `section`
    /// (`"forward"`, `"device"`, ...; missing fields take their defaults) checked as
    /// [`TileConfig::validate`] checks it, with its fields named `{name}.{field}` (so that a
    /// part not yet placed in a configuration can be named by its kind, `IOParameters.out_noise`).
    /// Returns the section's complete JSON.
    pub fn validate_section(section: &str, section_json: &str, name: &str) -> Result<String> {
        let mut document = serde_json::Map::new();
        document.insert(section.to_string(), parse(section_json)?);
        let config = Self::from_value(serde_json::Value::Object(document))?;
        // The other sections are defaults, which are valid.
        config.validate_naming(|s| if s == section { name } else { s }.to_string())?;
        let value = serde_json::to_value(&config).expect("a TileConfig always serialises");
        Ok(value[section].to_string())
    }

    /// This configuration with the JSON merge patch `patch` (RFC 7386) applied: an object
    /// patches the object at its place field by field, any other value replaces what is there,
    /// `null` removes a field (which then takes its default). `{"forward": {"out_noise": 0}}`
    /// changes one field. Not validated: [`crate::TileArray::set_config`] validates.
    pub fn patched(&self, patch: &str) -> Result<TileConfig> {
        let mut value = serde_json::to_value(self).expect("a TileConfig always serialises");
        merge_patch(&mut value, parse(patch)?);
        Self::from_value(value)
    }

    /// The configuration a JSON value describes, not yet validated.
    fn from_value(value: serde_json::Value) -> Result<Self> {
        serde_json::from_value(value).map_err(|e| Error::Config(e.to_string()))
    }
}

/// A JSON object as a value; an error when the text is not JSON or not an object (serde
/// would read a struct from an array too, by position).
fn parse(text: &str) -> Result<serde_json::Value> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
    if !value.is_object() {
        return Err(Error::Config(format!(
            "expected a JSON object, got {value}"
        )));
    }
    Ok(value)
}

/// Applies the JSON merge patch `patch` to `target` (RFC 7386).
fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    use serde_json::Value;
    let Value::Object(fields) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in fields {
            if value.is_null() {
                target.remove(&key);
            } else {
                merge_patch(target.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_named_errors() {
        let c = TileConfig::default();
        assert_eq!(TileConfig::from_json(&c.to_json()).unwrap(), c);

        let bad = c
            .to_json()
            .replace("\"out_noise\":0.06", "\"out_noise\":-1.0");
        let err = TileConfig::from_json(&bad).unwrap_err().to_string();
        assert!(err.contains("forward.out_noise"), "{err}");

        let unknown = c.to_json().replace("\"out_noise\"", "\"out_noize\"");
        let err = TileConfig::from_json(&unknown).unwrap_err().to_string();
        assert!(err.contains("out_noize"), "{err}");
    }

    #[test]
    fn missing_sections_and_fields_take_the_defaults() {
        assert_eq!(TileConfig::from_json("{}").unwrap(), TileConfig::default());
        // A missing field takes the default of its struct, the others stay.
        let partial = TileConfig::from_json(r#"{"forward": {"out_noise": 0.1}}"#).unwrap();
        let expected = TileConfig {
            forward: IoParameters {
                out_noise: 0.1,
                ..IoParameters::default()
            },
            ..TileConfig::default()
        };
        assert_eq!(partial, expected);
        for name in crate::device::DEVICE_TYPES {
            let tagged = format!(r#"{{"device": {{"type": "{name}"}}}}"#);
            let config = TileConfig::from_json(&tagged).unwrap();
            assert_eq!(
                Some(config.device),
                DeviceConfig::default_of(name),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused_in_every_struct() {
        for (document, field) in [
            (r#"{"forwards": {}}"#, "forwards"),
            (r#"{"update": {"desired_bll": 3}}"#, "desired_bll"),
            (r#"{"mapping": {"omega": 3}}"#, "omega"),
            (
                r#"{"device": {"type": "ConstantStep", "gamma": 1}}"#,
                "gamma",
            ),
            // Models whose parameters flatten the common ones in.
            (
                r#"{"device": {"type": "LinearStep", "gamma_upp": 1}}"#,
                "gamma_upp",
            ),
            (
                r#"{"device": {"type": "PowStep", "dw_minn": 1}}"#,
                "dw_minn",
            ),
            (
                r#"{"device": {"type": "VectorUnitCell", "devices": [{"type": "ExpStep", "A": 1}]}}"#,
                "A",
            ),
        ] {
            let err = TileConfig::from_json(document).unwrap_err().to_string();
            assert!(err.contains(&format!("`{field}`")), "{document}: {err}");
        }
    }

    #[test]
    fn a_section_alone_is_checked_under_the_name_given() {
        let err = TileConfig::validate_section("backward", r#"{"out_noise": -1}"#, "IOParameters")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("IOParameters.out_noise: must be >= 0"),
            "{err}"
        );
        let err = TileConfig::validate_section(
            "device",
            r#"{"type": "LinearStep", "dw_min": 0}"#,
            "LinearStep",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("LinearStep.dw_min:"), "{err}");
        let err = TileConfig::validate_section("update", r#"{"desired_bl": 0}"#, "update")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("update.desired_bl:"), "{err}");
        // The complete section comes back, defaults filled in.
        let text =
            TileConfig::validate_section("mapping", r#"{"lr_scale": 2}"#, "mapping").unwrap();
        let mapping: MappingParameters = serde_json::from_str(&text).unwrap();
        assert_eq!(
            mapping,
            MappingParameters {
                lr_scale: 2.0,
                ..MappingParameters::default()
            }
        );
        let err = TileConfig::validate_section("forward", "[0.1]", "forward").unwrap_err();
        assert!(err.to_string().contains("expected a JSON object"), "{err}");
        let err = TileConfig::validate_section("forwards", "{}", "forwards").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `forwards`"),
            "{err}"
        );
    }

    #[test]
    fn a_merge_patch_changes_what_it_names() {
        let config = TileConfig::default();
        let patched = config
            .patched(r#"{"forward": {"out_noise": 0, "noise_management": "none"}, "update": {"desired_bl": 7}}"#)
            .unwrap();
        let mut expected = config.clone();
        expected.forward.out_noise = 0.0;
        expected.forward.noise_management = NoiseManagement::None;
        expected.update.desired_bl = 7;
        assert_eq!(patched, expected);
        // null removes a field: it takes its default again.
        let back = patched
            .patched(r#"{"forward": {"out_noise": null}}"#)
            .unwrap();
        assert_eq!(back.forward.out_noise, IoParameters::default().out_noise);
        // Arrays and other values are replaced whole; a patch is not validated here.
        let nodes = TileConfig {
            device: DeviceConfig::default_of("PiecewiseStep").unwrap(),
            ..TileConfig::default()
        }
        .patched(r#"{"device": {"piecewise_up": [1, 2]}}"#)
        .unwrap();
        let DeviceConfig::PiecewiseStep(p) = &nodes.device else {
            panic!("still a piecewise step: {:?}", nodes.device)
        };
        assert_eq!(p.piecewise_up, [1.0, 2.0]);
        assert!(nodes.validate().is_err());
        for bad in [
            "not json",
            "[]",
            r#"{"forward": {"out_noize": 1}}"#,
            r#"{"forward": 3}"#,
        ] {
            assert!(
                matches!(config.patched(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn steps_follow_the_resolution() {
        let io = IoParameters::default();
        assert!((io.inp_step() - 1.0 / 63.0).abs() < 1e-15);
        assert!((io.out_step() - 24.0 / 510.0).abs() < 1e-15);
        let steps = IoParameters {
            inp_res: 126.0,
            ..IoParameters::default()
        };
        assert!((steps.inp_step() - 1.0 / 63.0).abs() < 1e-15);
    }
}
