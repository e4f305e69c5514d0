//! Same seed, same inputs: the same bytes at 1, 2 and 7 worker threads (this file is its own
//! test binary, because the thread count is process-wide), for the default device, a device
//! whose step depends on the weight (with write noise), unit cells, transfer compounds, a
//! one-sided unit cell, the mixed-precision compound, and a grid of arrays.

mod common;

use common::{bits, uniform};
use rpusim::device::{
    BufferedTransferCompoundParameters, ExpStepParameters, MixedPrecisionCompoundParameters,
    OneSidedUnitCellParameters, PowStepParameters, PulsedParameters, ReferenceUnitCellParameters,
    SoftBoundsParameters, TransferCompoundParameters, TransferParameters, UpdatePolicy,
    VectorUnitCellParameters, WriteNoiseParameters,
};
use rpusim::{set_num_threads, DeviceConfig, IoParameters, Matrix, TileArray, TileConfig};

/// Runs a few rounds of every operation with batches of `n` on an `out x inp` matrix (one
/// array, or a grid as `config.mapping` splits it) and returns all outputs and the final state.
fn run(
    threads: usize,
    config: &TileConfig,
    (out, inp, n): (usize, usize, usize),
) -> (Vec<Vec<u32>>, Vec<u8>) {
    set_num_threads(threads).unwrap();
    assert_eq!(rpusim::num_threads(), threads);
    let mut t = TileArray::new(out, inp, config.clone(), 99).unwrap();
    t.set_weights(
        Matrix::new(
            &uniform(out * inp, -0.3, 0.3, 99 ^ 0xABCD),
            t.out_size(),
            t.in_size(),
        )
        .unwrap(),
    )
    .unwrap();
    let mut outputs = Vec::new();
    for call in 0..3u64 {
        let x = uniform(n * inp, -1.0, 1.0, call);
        let d = uniform(n * out, -0.1, 0.1, call + 100);
        outputs.push(bits(
            &t.forward(Matrix::new(&x, n, t.in_size()).unwrap(), false)
                .unwrap(),
        ));
        outputs.push(bits(
            &t.backward(Matrix::new(&d, n, t.out_size()).unwrap())
                .unwrap(),
        ));
        t.update(
            Matrix::new(&x, n, t.in_size()).unwrap(),
            Matrix::new(&d, n, t.out_size()).unwrap(),
            0.05,
        )
        .unwrap();
        outputs.push(bits(&t.weights()));
    }
    (outputs, t.to_bytes())
}

/// Weight scaling and input noise on top of the default configuration.
fn noisy_grid() -> TileConfig {
    let mut c = TileConfig::default();
    c.mapping.weight_scaling_omega = 0.6;
    c.forward.inp_noise = 0.01;
    c
}

#[test]
fn one_two_and_seven_threads_give_identical_bytes() {
    let mut noisy = TileConfig::default();
    noisy.forward.inp_noise = 0.01;
    noisy.forward.w_noise = 0.01;
    noisy.forward.inp_sto_round = true;
    noisy.backward.out_sto_round = true;
    // Weights large enough that bound management repeats some samples.
    noisy.forward.out_bound = 2.0;
    let perfect = TileConfig {
        forward: IoParameters::perfect(),
        backward: IoParameters::perfect(),
        ..TileConfig::default()
    };
    // A device whose step depends on the weight, with write noise (hidden persistent weights).
    let exp_step = TileConfig {
        device: DeviceConfig::ExpStep(ExpStepParameters {
            write_noise: WriteNoiseParameters {
                write_noise_std: 5.0,
                apply_write_noise_on_set: true,
            },
            ..ExpStepParameters::default()
        }),
        ..TileConfig::default()
    };
    // Unit cells: every device pulsed, and one drawn at random per call.
    let unit_cell = |update_policy| TileConfig {
        device: DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
            devices: vec![
                DeviceConfig::SoftBounds(SoftBoundsParameters::default()),
                DeviceConfig::PowStep(PowStepParameters::default()),
                DeviceConfig::default(),
            ],
            update_policy,
            ..VectorUnitCellParameters::default()
        }),
        ..TileConfig::default()
    };
    // A device with its reference device (one device given, drawn twice).
    let reference_cell = TileConfig {
        device: DeviceConfig::ReferenceUnitCell(ReferenceUnitCellParameters {
            devices: vec![DeviceConfig::SoftBounds(SoftBoundsParameters::default())],
            ..ReferenceUnitCellParameters::default()
        }),
        ..TileConfig::default()
    };
    // The second size has more weights than a core's L2: the passes split their products over
    // the outputs of W, not over the samples.
    // (One array each: no split at 512.)
    let large = [TileConfig::default(), noisy.clone()].map(|mut c| {
        c.mapping.max_input_size = 0;
        c.mapping.max_output_size = 0;
        c
    });
    // Every per-device effect: diffusion and decay after each update (on the persistent
    // weights of a write-noise device), and the pulse counters.
    let effects = TileConfig {
        device: DeviceConfig::SoftBounds(SoftBoundsParameters {
            pulsed: PulsedParameters {
                diffusion: 0.002,
                diffusion_dtod: 0.3,
                lifetime: 20.0,
                lifetime_dtod: 0.2,
                reset: 0.02,
                reset_dtod: 0.01,
                count_pulses: true,
                ..PulsedParameters::default()
            },
            write_noise: WriteNoiseParameters {
                write_noise_std: 2.0,
                apply_write_noise_on_set: true,
            },
            ..SoftBoundsParameters::default()
        }),
        ..TileConfig::default()
    };
    // Transfer compounds: TTv1 with a transfer after every 16 samples (four in a batch) of
    // four columns, TTv2 after every batch, on soft-bounds devices.
    let soft = || DeviceConfig::SoftBounds(SoftBoundsParameters::default());
    let transfer = TransferParameters {
        unit_cell_devices: vec![soft(), soft()],
        gamma: 0.1,
        transfer_every: 0.25,
        n_reads_per_transfer: 4,
        ..TransferParameters::default()
    };
    let ttv1 = TileConfig {
        device: DeviceConfig::TransferCompound(TransferCompoundParameters {
            transfer: transfer.clone(),
            ..TransferCompoundParameters::default()
        }),
        ..TileConfig::default()
    };
    let ttv2 = TileConfig {
        device: DeviceConfig::BufferedTransferCompound(BufferedTransferCompoundParameters {
            transfer: TransferParameters {
                gamma: 0.0,
                transfer_every: 1.0,
                transfer_lr: 20.0,
                ..transfer
            },
            ..BufferedTransferCompoundParameters::default()
        }),
        ..TileConfig::default()
    };
    // A one-sided pair of soft-bounds devices with diffusion, decay and pulse counters, and a
    // refresh after every 16 samples (four in a batch) that picks many pairs.
    let one_sided = TileConfig {
        device: DeviceConfig::OneSidedUnitCell(OneSidedUnitCellParameters {
            unit_cell_devices: vec![DeviceConfig::SoftBounds(SoftBoundsParameters {
                pulsed: PulsedParameters {
                    diffusion: 0.002,
                    lifetime: 20.0,
                    reset_std: 0.02,
                    count_pulses: true,
                    ..PulsedParameters::default()
                },
                ..SoftBoundsParameters::default()
            })],
            refresh_every: 16,
            units_in_mbatch: false,
            refresh_upper_thres: 0.3,
            refresh_lower_thres: -0.1,
            ..OneSidedUnitCellParameters::default()
        }),
        ..TileConfig::default()
    };
    // Mixed precision: every row after every batch from unquantised vectors, and 100 rows from
    // a random one, of quantised, stochastically rounded vectors.
    let mixed = |p: MixedPrecisionCompoundParameters| TileConfig {
        device: DeviceConfig::MixedPrecisionCompound(MixedPrecisionCompoundParameters {
            device: Box::new(soft()),
            ..p
        }),
        ..TileConfig::default()
    };
    let mixed_all = mixed(MixedPrecisionCompoundParameters::default());
    let mixed_quantised = mixed(MixedPrecisionCompoundParameters {
        n_rows_per_transfer: 100,
        random_row: true,
        n_x_bins: 8,
        n_d_bins: 8,
        ..MixedPrecisionCompoundParameters::default()
    });
    let configs = [
        TileConfig::default(),
        noisy,
        perfect,
        exp_step,
        effects,
        unit_cell(UpdatePolicy::All),
        unit_cell(UpdatePolicy::SingleRandom),
        ttv1,
        ttv2,
        reference_cell,
        one_sided,
        mixed_all,
        mixed_quantised,
    ];
    let cases = configs.iter().map(|c| (c, (300, 257, 64)));
    // A convolution's shape: many more sample values than weights, so the passes split their
    // products over blocks of samples.
    let patches = [&configs[0], &configs[1]].map(|c| (c, (48, 27, 3000)));
    let large = large.iter().map(|c| (c, (600, 520, 64)));
    for (config, size) in cases.chain(patches).chain(large) {
        let one = run(1, config, size);
        for threads in [2, 7] {
            let other = run(threads, config, size);
            assert!(
                one.0 == other.0,
                "outputs differ at {threads} threads, {size:?}"
            );
            assert!(
                one.1 == other.1,
                "state differs at {threads} threads, {size:?}"
            );
        }
    }
    // A grid of tiles (3 x 2 arrays) runs its tiles in parallel: the same bytes.
    let mut grid = noisy_grid();
    grid.mapping.max_output_size = 128;
    grid.mapping.max_input_size = 200;
    let one = run(1, &grid, (300, 257, 64));
    for threads in [2, 7] {
        assert!(
            one == run(threads, &grid, (300, 257, 64)),
            "grid differs at {threads} threads"
        );
    }
    // Devices drawn at different thread counts are the same devices.
    for config in [TileConfig::default(), unit_cell(UpdatePolicy::All)] {
        set_num_threads(1).unwrap();
        let a = rpusim::Tile::new(200, 300, config.clone(), 5).unwrap();
        set_num_threads(7).unwrap();
        let b = rpusim::Tile::new(200, 300, config, 5).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
    }
}
