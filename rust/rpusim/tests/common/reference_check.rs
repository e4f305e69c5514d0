//! The property-test strategies and the check that the fast kernels give the bits of the plain
//! reference implementation, shared by `fast_equals_reference.rs` and `isa_paths.rs`.

use super::{bits, tile_with_weights, uniform};
use proptest::prelude::*;
use rpusim::device::{
    BufferedTransferCompoundParameters, ExpStepParameters, IdealParameters, LinearStepParameters,
    MixedPrecisionCompoundParameters, OneSidedUnitCellParameters, PiecewiseStepParameters,
    PowStepParameters, PulsedParameters, ReferenceUnitCellParameters, SoftBoundsParameters,
    TransferCompoundParameters, TransferParameters, UpdatePolicy, VectorUnitCellParameters,
    WriteNoiseParameters,
};
use rpusim::{
    reference, BoundManagement, DeviceConfig, IoParameters, MappingParameters, Matrix,
    NoiseManagement, PulseType, TileConfig, UpdateParameters,
};

fn io_strategy() -> impl Strategy<Value = IoParameters> {
    (
        prop_oneof![
            Just(NoiseManagement::None),
            Just(NoiseManagement::AbsMax),
            Just(NoiseManagement::Max),
            Just(NoiseManagement::Constant),
            Just(NoiseManagement::AverageAbsMax),
        ],
        prop_oneof![
            Just(BoundManagement::None),
            Just(BoundManagement::Iterative)
        ],
        any::<bool>(),
        any::<bool>(),
        (0.0f64..0.1, 0.0f64..0.1, 0.0f64..0.2),
        prop_oneof![Just(12.0f64), Just(1.0), Just(0.2)],
        prop_oneof![Just(0.0f64), Just(0.7)],
        (any::<u8>(), prop_oneof![Just(1.0f64), Just(0.7)]),
    )
        .prop_map(
            |(
                nm,
                bm,
                inp_sto,
                out_sto,
                (inp_noise, w_noise, out_noise),
                out_bound,
                nm_thres,
                (p, out_scale),
            )| {
                IoParameters {
                    noise_management: nm,
                    bound_management: bm,
                    inp_sto_round: inp_sto,
                    out_sto_round: out_sto,
                    inp_noise,
                    w_noise,
                    out_noise,
                    out_bound,
                    nm_thres,
                    nm_decay: 0.1,
                    out_scale,
                    is_perfect: p < 20,
                    ..IoParameters::default()
                }
            },
        )
}

fn update_strategy() -> impl Strategy<Value = UpdateParameters> {
    (
        prop_oneof![
            Just(PulseType::StochasticCompressed),
            Just(PulseType::StochasticCompressed),
            Just(PulseType::DeterministicImplicit),
            Just(PulseType::None),
        ],
        prop_oneof![Just(1u32), Just(7), Just(31), Just(64), Just(65), Just(200)],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(pulse_type, desired_bl, um, ublm)| UpdateParameters {
            pulse_type,
            desired_bl,
            update_management: um,
            update_bl_management: ublm,
        })
}

/// Every single pulsed model, with and without cycle-to-cycle noise, write noise, asymmetry,
/// and each model's noise variants.
fn pulsed_device_strategy() -> impl Strategy<Value = DeviceConfig> {
    (
        0usize..6,
        prop_oneof![Just(0.0f64), 0.0f64..0.5],
        0.0001f64..0.05,
        prop_oneof![Just(0.0f64), -0.3f64..0.3],
        (prop_oneof![Just(0.0f64), Just(3.0)], any::<bool>()),
        any::<bool>(),
        0u8..4,
    )
        .prop_map(
            |(kind, std, dw_min, up_down, (wn, on_set), flag, effects)| {
                let pulsed = with_effects(
                    PulsedParameters {
                        dw_min_std: std,
                        dw_min,
                        up_down,
                        ..PulsedParameters::default()
                    },
                    effects,
                );
                let write_noise = WriteNoiseParameters {
                    write_noise_std: wn,
                    apply_write_noise_on_set: on_set,
                };
                match kind {
                    0 => DeviceConfig::ConstantStep(pulsed),
                    1 => DeviceConfig::LinearStep(LinearStepParameters {
                        pulsed,
                        write_noise,
                        gamma_up: 0.4,
                        gamma_down: 0.7,
                        gamma_up_dtod: 0.1,
                        mult_noise: flag,
                        allow_increasing: flag,
                        mean_bound_reference: !flag,
                        ..LinearStepParameters::default()
                    }),
                    2 => DeviceConfig::SoftBounds(SoftBoundsParameters {
                        pulsed,
                        write_noise,
                        mult_noise: true,
                        reverse_up: flag,
                        ..SoftBoundsParameters::default()
                    }),
                    3 => DeviceConfig::ExpStep(ExpStepParameters {
                        pulsed,
                        write_noise,
                        dw_min_std_add: if flag { 0.002 } else { 0.0 },
                        dw_min_std_slope: if flag { 0.01 } else { 0.0 },
                        ..ExpStepParameters::default()
                    }),
                    4 => DeviceConfig::PowStep(PowStepParameters {
                        pulsed,
                        write_noise,
                        pow_gamma: 1.7,
                        pow_up_down: if flag { 0.2 } else { 0.0 },
                        pow_up_down_dtod: 0.05,
                        ..PowStepParameters::default()
                    }),
                    _ => DeviceConfig::PiecewiseStep(PiecewiseStepParameters {
                        pulsed,
                        write_noise,
                        piecewise_up: vec![1.4, 1.1, 0.9, 0.2],
                        piecewise_down: vec![0.3, 0.8, 1.0, 1.5],
                    }),
                }
            },
        )
}

/// `p` with the per-device effects of case `effects`: none (half the cases), every effect
/// with its device-to-device spread and pulse counting, or decay alone towards 0 with a short
/// lifetime (some devices then reset at once).
fn with_effects(p: PulsedParameters, effects: u8) -> PulsedParameters {
    match effects {
        2 => PulsedParameters {
            diffusion: 0.003,
            diffusion_dtod: 0.2,
            lifetime: 50.0,
            lifetime_dtod: 0.3,
            reset: 0.05,
            reset_dtod: 0.02,
            count_pulses: true,
            ..p
        },
        3 => PulsedParameters {
            lifetime: 2.0,
            lifetime_dtod: 0.6,
            ..p
        },
        _ => p,
    }
}

/// Unit cells of one to three pulsed devices, every policy, default or given weights.
fn vector_strategy() -> impl Strategy<Value = DeviceConfig> {
    (
        prop::collection::vec(pulsed_device_strategy(), 1..4),
        prop_oneof![
            Just(UpdatePolicy::All),
            Just(UpdatePolicy::SingleFixed),
            Just(UpdatePolicy::SingleSequential),
            Just(UpdatePolicy::SingleRandom),
        ],
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(|(devices, update_policy, weighted, first)| {
            let n = devices.len();
            DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
                gamma: if weighted {
                    (0..n).map(|k| 0.5 + k as f64).collect()
                } else {
                    Vec::new()
                },
                first_update_idx: first % n as u32,
                devices,
                update_policy,
            })
        })
}

/// Transfer compounds (TTv1 and TTv2) of two pulsed devices: transfers after some samples of
/// a batch, after every batch or never, one to three columns or rows at a time, every kind of
/// read periphery and transfer update, given or default weights and learning rates.
fn transfer_strategy() -> impl Strategy<Value = DeviceConfig> {
    (
        (pulsed_device_strategy(), pulsed_device_strategy()),
        (
            prop_oneof![Just(0.0f64), Just(0.4), Just(1.0), Just(2.0)],
            any::<bool>(),
            1u32..4,
            any::<bool>(),
        ),
        (
            any::<bool>(),
            prop_oneof![Just(1.0f64), Just(0.0), Just(0.05)],
            any::<bool>(),
        ),
        (io_strategy(), update_strategy()),
        (
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(0.1f64), Just(1.0)],
        ),
    )
        .prop_map(
            |(
                (fast, slow),
                (transfer_every, units_in_mbatch, n_reads_per_transfer, transfer_columns),
                (weighted, fast_lr, scale_transfer_lr),
                (transfer_forward, transfer_update),
                (buffered, forget_buffer, momentum),
            )| {
                let transfer = TransferParameters {
                    unit_cell_devices: vec![fast, slow],
                    gamma_vec: if weighted { vec![0.5, 1.5] } else { Vec::new() },
                    transfer_every,
                    units_in_mbatch,
                    n_reads_per_transfer,
                    transfer_columns,
                    fast_lr,
                    transfer_lr: 2.0,
                    scale_transfer_lr,
                    transfer_forward,
                    ..TransferParameters::default()
                };
                if buffered {
                    DeviceConfig::BufferedTransferCompound(BufferedTransferCompoundParameters {
                        transfer,
                        forget_buffer,
                        momentum,
                        thres_scale: 0.5,
                        ..BufferedTransferCompoundParameters::default()
                    })
                } else {
                    DeviceConfig::TransferCompound(TransferCompoundParameters {
                        transfer,
                        transfer_update,
                    })
                }
            },
        )
}

/// A device with its reference: one device given (drawn twice) or two, aihwkit's weights
/// `[1, -1]` or others, the device pulsed being 0 or 1.
fn reference_cell_strategy() -> impl Strategy<Value = DeviceConfig> {
    (
        prop::collection::vec(pulsed_device_strategy(), 1..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(devices, weighted, second)| {
            DeviceConfig::ReferenceUnitCell(ReferenceUnitCellParameters {
                devices,
                gamma: if weighted {
                    vec![0.7, -1.3]
                } else {
                    vec![1.0, -1.0]
                },
                first_update_idx: u32::from(second),
                ..ReferenceUnitCellParameters::default()
            })
        })
}

/// One-sided pairs: no refresh, or one after every one to three samples or batches, with
/// aihwkit's thresholds, low ones or ones every pair passes (every pair refreshed), every kind
/// of read periphery and refresh update (no write noise with refreshes: refused).
fn one_sided_strategy() -> impl Strategy<Value = DeviceConfig> {
    (
        pulsed_device_strategy(),
        (0i64..4, any::<bool>()),
        prop_oneof![
            Just((0.75f64, 0.25f64)),
            Just((0.3, 0.01)),
            Just((-1.0, -1.0))
        ],
        (io_strategy(), update_strategy()),
        any::<bool>(),
    )
        .prop_map(
            |(device, (every, units_in_mbatch), (upper, lower), (forward, update), twice)| {
                let noisy = device
                    .write_noise()
                    .is_some_and(|w| w.write_noise_std > 0.0);
                DeviceConfig::OneSidedUnitCell(OneSidedUnitCellParameters {
                    unit_cell_devices: if twice {
                        vec![device.clone(), device]
                    } else {
                        vec![device]
                    },
                    refresh_every: if noisy { 0 } else { every },
                    units_in_mbatch,
                    refresh_upper_thres: upper,
                    refresh_lower_thres: lower,
                    refresh_forward: forward,
                    refresh_update: update,
                    copy_inverted: false,
                })
            },
        )
}

/// Mixed-precision compounds of one pulsed device: transfers every batch, every other batch or
/// never, of every row, none or a few (from the next row or a random one), the device's or a
/// given granularity, `x` and `d` quantised or not, rounded stochastically or not.
fn mixed_precision_strategy() -> impl Strategy<Value = DeviceConfig> {
    (
        pulsed_device_strategy(),
        (
            0u32..3,
            prop_oneof![Just(-1i32), Just(0), Just(1), Just(2), Just(5)],
            any::<bool>(),
        ),
        (
            prop_oneof![Just(0.0f64), Just(0.003)],
            prop_oneof![Just(1.0f64), Just(0.5), Just(0.0)],
        ),
        (
            prop_oneof![Just(0u32), Just(2), Just(5)],
            prop_oneof![Just(0u32), Just(3), Just(8)],
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                device,
                (transfer_every, n_rows_per_transfer, random_row),
                (granularity, transfer_lr),
                (n_x_bins, n_d_bins, stoc_round_x, stoc_round_d),
            )| {
                DeviceConfig::MixedPrecisionCompound(MixedPrecisionCompoundParameters {
                    device: Box::new(device),
                    transfer_every,
                    n_rows_per_transfer,
                    random_row,
                    granularity,
                    transfer_lr,
                    n_x_bins,
                    n_d_bins,
                    stoc_round_x,
                    stoc_round_d,
                })
            },
        )
}

fn device_strategy() -> impl Strategy<Value = DeviceConfig> {
    prop_oneof![
        1 => Just(DeviceConfig::Ideal(IdealParameters::default())),
        6 => pulsed_device_strategy(),
        3 => vector_strategy(),
        3 => transfer_strategy(),
        1 => reference_cell_strategy(),
        2 => one_sided_strategy(),
        3 => mixed_precision_strategy(),
    ]
}

fn mapping_strategy() -> impl Strategy<Value = MappingParameters> {
    (
        prop_oneof![Just(0.0f64), Just(0.6)],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(1.0f64), Just(0.5)],
    )
        .prop_map(
            |(omega, columnwise, compensation, lr_scale)| MappingParameters {
                weight_scaling_omega: omega,
                weight_scaling_columnwise: columnwise,
                weight_scaling_lr_compensation: compensation,
                lr_scale,
                ..MappingParameters::default()
            },
        )
}

pub fn config_strategy() -> impl Strategy<Value = TileConfig> {
    (
        io_strategy(),
        io_strategy(),
        update_strategy(),
        device_strategy(),
        mapping_strategy(),
    )
        .prop_map(|(forward, backward, update, device, mapping)| TileConfig {
            device,
            forward,
            backward,
            update,
            mapping,
        })
}

/// Runs `calls` rounds of forward, backward and update on a tile and on its clone through the
/// reference, comparing every output and the final state.
pub fn check(
    out: usize,
    inp: usize,
    n: usize,
    config: TileConfig,
    seed: u64,
    lr: f32,
    calls: usize,
) {
    let mut fast = tile_with_weights(out, inp, config, seed, 0.5);
    let mut slow = fast.clone();
    for call in 0..calls {
        let s = seed.wrapping_mul(31).wrapping_add(call as u64);
        // Include exact zeros and a zero sample: they take their own paths.
        let mut x = uniform(n * inp, -1.5, 1.5, s);
        let mut d = uniform(n * out, -0.3, 0.3, s ^ 1);
        if n > 1 {
            x[..inp].fill(0.0);
            d[out..2 * out].fill(0.0);
        }
        if !x.is_empty() {
            let mid = x.len() / 2;
            x[mid] = 0.0;
        }
        let is_test = call % 3 == 2;
        let (x, d) = (
            Matrix::new(&x, n, inp).unwrap(),
            Matrix::new(&d, n, out).unwrap(),
        );
        let y_fast = fast.forward(x, is_test).unwrap();
        let y_slow = reference::forward(&mut slow, x, is_test).unwrap();
        assert_eq!(bits(&y_fast), bits(&y_slow), "forward, call {call}");
        let z_fast = fast.backward(d).unwrap();
        let z_slow = reference::backward(&mut slow, d).unwrap();
        assert_eq!(bits(&z_fast), bits(&z_slow), "backward, call {call}");
        fast.update(x, d, lr).unwrap();
        reference::update(&mut slow, x, d, lr).unwrap();
        assert_eq!(
            bits(fast.weights()),
            bits(slow.weights()),
            "update, call {call}"
        );
        // One pulse on every device, as characterisation applies it.
        let up = call % 2 == 0;
        let pulsed = fast.pulse(up);
        assert_eq!(
            pulsed,
            reference::pulse(&mut slow, up),
            "pulse, call {call}"
        );
        assert_eq!(
            bits(fast.weights()),
            bits(slow.weights()),
            "pulse, call {call}"
        );
    }
    assert_eq!(fast, slow);
    assert_eq!(fast.to_bytes(), slow.to_bytes());
}
