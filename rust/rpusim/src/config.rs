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
pub use crate::periphery::{
    BoundManagement, IoParameters, NoiseManagement, PulseType, UpdateParameters, MAX_BL,
};

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
