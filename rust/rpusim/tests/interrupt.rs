//! An interrupted update (`Tile::update_interruptible`, Ctrl-C in Python): it stops between
//! chunks of samples with `Error::Interrupted`, and the tile then holds exactly its first
//! samples applied, as an update of those samples alone would leave it; an update that is not
//! interrupted gives the bits of `Tile::update`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{tile_with_weights, uniform};
use rpusim::device::{
    PulsedParameters, TransferCompoundParameters, TransferParameters, UpdatePolicy,
    VectorUnitCellParameters,
};
use rpusim::{
    DeviceConfig, Error, Interrupt, MappingParameters, Matrix, PulseType, Tile, TileArray,
    TileConfig,
};

/// A poll that says to stop at its `stop_at`-th ask (1 is the first), and counts the asks.
struct StopAt {
    stop_at: usize,
    asked: AtomicUsize,
}

impl StopAt {
    fn new(stop_at: usize) -> Self {
        StopAt {
            stop_at,
            asked: AtomicUsize::new(0),
        }
    }

    fn poll(&self) -> bool {
        self.asked.fetch_add(1, Ordering::Relaxed) + 1 >= self.stop_at
    }
}

fn config(device: DeviceConfig, pulse_type: PulseType) -> TileConfig {
    let mut config = TileConfig {
        device,
        ..TileConfig::default()
    };
    config.update.pulse_type = pulse_type;
    config
}

/// The configurations of every path of the update: sampled trains, implicit pulses, the exact
/// float step of pulse type `none` and of the ideal device, a unit cell whose policy moves
/// on with every call, and a transfer compound whose update is cut into pieces by transfers
/// every 100 samples (counted in samples, so that the period does not depend on the batch).
fn configurations() -> Vec<(&'static str, TileConfig)> {
    let compound = DeviceConfig::TransferCompound(TransferCompoundParameters {
        transfer: TransferParameters {
            gamma: 0.5,
            transfer_every: 100.0,
            units_in_mbatch: false,
            n_reads_per_transfer: 4,
            ..TransferParameters::default()
        },
        ..TransferCompoundParameters::default()
    });
    let cell = DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
        devices: vec![
            DeviceConfig::ConstantStep(PulsedParameters::default()),
            DeviceConfig::ConstantStep(PulsedParameters {
                dw_min: 0.002,
                ..PulsedParameters::default()
            }),
        ],
        update_policy: UpdatePolicy::SingleSequential,
        ..VectorUnitCellParameters::default()
    });
    let ideal = DeviceConfig::default_of("IdealDevice").unwrap();
    vec![
        ("stochastic", TileConfig::default()),
        (
            "implicit",
            config(DeviceConfig::default(), PulseType::DeterministicImplicit),
        ),
        (
            "pulse none",
            config(DeviceConfig::default(), PulseType::None),
        ),
        ("ideal", config(ideal, PulseType::StochasticCompressed)),
        ("unit cell", config(cell, PulseType::StochasticCompressed)),
        (
            "unit cell, pulse none",
            config(
                DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
                    devices: vec![DeviceConfig::ConstantStep(PulsedParameters::default()); 2],
                    ..VectorUnitCellParameters::default()
                }),
                PulseType::None,
            ),
        ),
        (
            "transfer compound",
            config(compound, PulseType::StochasticCompressed),
        ),
    ]
}

#[test]
fn a_stopped_update_holds_exactly_its_first_samples() {
    // 256 x 512: chunks of 51 samples of sampled trains; the float update takes 256 samples
    // per segment; so a batch of 600 is several of both.
    let (out, inp, n) = (256, 512, 600);
    let x = uniform(n * inp, -1.0, 1.0, 1);
    let d = uniform(n * out, -0.1, 0.1, 2);
    for (name, config) in configurations() {
        let start = tile_with_weights(out, inp, config, 5, 0.3);
        // A call before, so that the stopped one is not the first (the unit cell's policy).
        let mut tile = start.clone();
        let first = Matrix::new(&x[..inp], 1, inp).unwrap();
        let first_d = Matrix::new(&d[..out], 1, out).unwrap();
        tile.update(first, first_d, 0.05).unwrap();
        let mut twin = tile.clone();
        let poll = StopAt::new(2);
        let poll_fn = || poll.poll();
        let (xs, ds) = (
            Matrix::new(&x, n, inp).unwrap(),
            Matrix::new(&d, n, out).unwrap(),
        );
        let result = tile.update_interruptible(xs, ds, 0.05, &Interrupt::new(&poll_fn));
        let Err(Error::Interrupted { applied, samples }) = result else {
            panic!("{name}: not interrupted: {result:?}");
        };
        assert_eq!(samples, n, "{name}");
        assert!(0 < applied && applied < n, "{name}: {applied} applied");
        assert_eq!(poll.asked.load(Ordering::Relaxed), 2, "{name}");
        assert_eq!(tile.counters().update, 2, "{name}: the stopped call counts");
        twin.update(
            Matrix::new(&x[..applied * inp], applied, inp).unwrap(),
            Matrix::new(&d[..applied * out], applied, out).unwrap(),
            0.05,
        )
        .unwrap();
        assert_eq!(tile, twin, "{name}: not the first {applied} samples");
        // And it goes on as the twin does.
        tile.update(first, first_d, 0.05).unwrap();
        twin.update(first, first_d, 0.05).unwrap();
        assert_eq!(tile, twin, "{name}: after the stop");
    }
}

#[test]
fn an_update_not_stopped_has_the_bits_of_a_plain_update() {
    let (out, inp, n) = (256, 512, 300);
    let x = uniform(n * inp, -1.0, 1.0, 3);
    let d = uniform(n * out, -0.1, 0.1, 4);
    let (xs, ds) = (
        Matrix::new(&x, n, inp).unwrap(),
        Matrix::new(&d, n, out).unwrap(),
    );
    for (name, config) in configurations() {
        let mut tile = tile_with_weights(out, inp, config, 7, 0.3);
        let mut twin = tile.clone();
        let poll = StopAt::new(usize::MAX);
        let poll_fn = || poll.poll();
        tile.update_interruptible(xs, ds, 0.05, &Interrupt::new(&poll_fn))
            .unwrap();
        assert!(
            poll.asked.load(Ordering::Relaxed) > 0,
            "{name}: never asked"
        );
        twin.update(xs, ds, 0.05).unwrap();
        assert_eq!(tile, twin, "{name}");
    }
}

#[test]
fn a_grid_stops_every_array_at_a_whole_sample() {
    let mapping = MappingParameters {
        max_input_size: 256,
        max_output_size: 128,
        ..MappingParameters::default()
    };
    let config = TileConfig {
        mapping,
        ..TileConfig::default()
    };
    let (out, inp, n) = (256, 512, 400);
    let x = uniform(n * inp, -1.0, 1.0, 5);
    let d = uniform(n * out, -0.1, 0.1, 6);
    let (xs, ds) = (
        Matrix::new(&x, n, inp).unwrap(),
        Matrix::new(&d, n, out).unwrap(),
    );
    let start = TileArray::new(out, inp, config, 9).unwrap();
    for threads in [1, 2] {
        rpusim::set_num_threads(threads).unwrap();
        let mut grid = start.clone();
        let poll = StopAt::new(1);
        let poll_fn = || poll.poll();
        let result = grid.update_interruptible(xs, ds, 0.05, &Interrupt::new(&poll_fn));
        let Err(Error::Interrupted { applied, samples }) = result else {
            panic!("{threads} threads: not interrupted: {result:?}");
        };
        assert_eq!(samples, n);
        assert!(applied < n, "{threads} threads: {applied} applied");
        // Every array holds its first samples: one of the prefixes of the batch.
        for (k, tile) in grid.tiles().iter().enumerate() {
            assert_eq!(tile.counters().update, 1);
            let (rows, cols) = grid.tile_block(k);
            let part = |v: &[f32], width: usize, range: &std::ops::Range<usize>, m: usize| {
                (0..m)
                    .flat_map(|b| v[b * width + range.start..b * width + range.end].to_vec())
                    .collect::<Vec<f32>>()
            };
            let fresh: &Tile = &start.tiles()[k];
            let held = (1..=n).find(|&m| {
                let mut twin = fresh.clone();
                let (tx, td) = (part(&x, inp, &cols, m), part(&d, out, &rows, m));
                twin.update(
                    Matrix::new(&tx, m, cols.len()).unwrap(),
                    Matrix::new(&td, m, rows.len()).unwrap(),
                    0.05,
                )
                .unwrap();
                twin.weights() == tile.weights() && twin.pulses() == tile.pulses()
            });
            let held = held.unwrap_or_else(|| panic!("array {k} holds no prefix of the batch"));
            assert!(held >= applied, "array {k}: {held} < {applied}");
        }
    }
}
