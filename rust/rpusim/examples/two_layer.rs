//! Trains a two-layer network on analog tiles with the engine alone (no Python): three Gaussian
//! blobs in four dimensions, `4 (+ bias) -> 16 tanh (+ bias) -> 3 softmax`, both layers
//! [`Tile`]s of the paper's device and periphery ([`TileConfig::default`]), trained by their
//! own `forward`, `backward` and pulsed `update`. It prints the loss and the accuracy of every
//! epoch and exits with an error when the test accuracy stays below 80 % (chance: 33 %).
//!
//! `cargo run --release -p rpusim --example two_layer` (`-- --quick`: fewer epochs, the run
//! `cargo test` makes through `tests/example_two_layer.rs`).

use std::process::ExitCode;

use rpusim::rng::{Op, Purpose, Stream};
use rpusim::{Matrix, Result, Tile, TileConfig};

const INPUTS: usize = 4;
const HIDDEN: usize = 16;
const CLASSES: usize = 3;
const BATCH: usize = 10;
const LEARNING_RATE: f32 = 0.05;
/// The standard deviation of every blob around its centre: the blobs overlap a little.
const SPREAD: f32 = 0.8;
/// The test accuracy the run must reach.
pub const REQUIRED_ACCURACY: f64 = 0.8;
/// Epochs of a full run and of a quick one (`--quick`).
pub const EPOCHS: usize = 10;
pub const QUICK_EPOCHS: usize = 3;

/// Labelled samples: `x` row-major `len x INPUTS`, `label[b]` in `0..CLASSES`.
struct Data {
    x: Vec<f32>,
    label: Vec<usize>,
}

/// `per_class` samples of each of the three blobs (centres on the corners of a tetrahedron,
/// standard deviation [`SPREAD`] around them), in an interleaved order; the numbers come from the engine's counter-based
/// streams, `part` choosing the sequence (training and test data differ).
fn blobs(per_class: usize, part: u32) -> Data {
    const CENTRES: [[f32; INPUTS]; CLASSES] = [
        [1.0, 1.0, -1.0, 0.0],
        [-1.0, 1.0, 1.0, 0.0],
        [0.0, -1.0, 0.0, 1.0],
    ];
    let stream = Stream::new(2019, Op::Init, Purpose::DeviceToDevice, 0);
    let mut noise = vec![0.0f32; per_class * CLASSES * INPUTS];
    stream.fill_normals([part, 0, 0], &mut noise);
    let label: Vec<usize> = (0..per_class * CLASSES).map(|b| b % CLASSES).collect();
    let x = label
        .iter()
        .zip(noise.chunks(INPUTS))
        .flat_map(|(&c, z)| CENTRES[c].iter().zip(z).map(|(m, z)| m + SPREAD * z))
        .collect();
    Data { x, label }
}

/// Rows of `v` (`cols` values each) with a constant 1 appended: the bias input of a layer.
fn with_bias(v: &[f32], cols: usize) -> Vec<f32> {
    v.chunks(cols)
        .flat_map(|row| row.iter().copied().chain([1.0]))
        .collect()
}

/// The two analog layers.
struct Network {
    hidden: Tile,
    output: Tile,
}

/// What one batch went through: the layers' inputs, the hidden activations, the class
/// probabilities.
struct Pass {
    x: Vec<f32>,
    h: Vec<f32>,
    h_in: Vec<f32>,
    p: Vec<f32>,
}

impl Network {
    fn new(seed: u64) -> Result<Self> {
        let layer = |out: usize, inp: usize, seed: u64| -> Result<Tile> {
            let mut tile = Tile::new(out, inp, TileConfig::default(), seed)?;
            // Uniform in +-1/sqrt(in), from the same streams as the data.
            let stream = Stream::new(seed, Op::Init, Purpose::DeviceToDevice, 1);
            let scale = 1.0 / (inp as f32).sqrt();
            let mut u = vec![0.0f32; out * inp];
            stream.fill_uniforms([0, 0, 0], &mut u);
            let w: Vec<f32> = u.iter().map(|u| scale * (2.0 * u - 1.0)).collect();
            tile.set_weights(Matrix::new(&w, out, inp)?)?;
            Ok(tile)
        };
        Ok(Network {
            hidden: layer(HIDDEN, INPUTS + 1, seed)?,
            output: layer(CLASSES, HIDDEN + 1, seed + 1)?,
        })
    }

    /// The forward pass of `n` samples `x`.
    fn forward(&mut self, x: &[f32], n: usize, is_test: bool) -> Result<Pass> {
        let x = with_bias(x, INPUTS);
        let h: Vec<f32> = self
            .hidden
            .forward(Matrix::new(&x, n, INPUTS + 1)?, is_test)?
            .into_iter()
            .map(f32::tanh)
            .collect();
        let h_in = with_bias(&h, HIDDEN);
        let mut p = self
            .output
            .forward(Matrix::new(&h_in, n, HIDDEN + 1)?, is_test)?;
        for z in p.chunks_mut(CLASSES) {
            let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            z.iter_mut().for_each(|v| *v = (*v - max).exp());
            let sum: f32 = z.iter().sum();
            z.iter_mut().for_each(|v| *v /= sum);
        }
        Ok(Pass { x, h, h_in, p })
    }

    /// One SGD step on a batch: the softmax cross-entropy's error `p - onehot` goes back
    /// through the output tile, then both tiles take their pulsed updates.
    fn train_batch(&mut self, x: &[f32], label: &[usize]) -> Result<()> {
        let n = label.len();
        let pass = self.forward(x, n, false)?;
        let mut d_out = pass.p.clone();
        for (row, &c) in d_out.chunks_mut(CLASSES).zip(label) {
            row[c] -= 1.0;
        }
        let d_out = Matrix::new(&d_out, n, CLASSES)?;
        let back = self.output.backward(d_out)?;
        let d_hidden: Vec<f32> = back
            .chunks(HIDDEN + 1)
            .zip(pass.h.chunks(HIDDEN))
            .flat_map(|(g, h)| g.iter().zip(h).map(|(g, h)| g * (1.0 - h * h)))
            .collect();
        self.output.update(
            Matrix::new(&pass.h_in, n, HIDDEN + 1)?,
            d_out,
            LEARNING_RATE,
        )?;
        self.hidden.update(
            Matrix::new(&pass.x, n, INPUTS + 1)?,
            Matrix::new(&d_hidden, n, HIDDEN)?,
            LEARNING_RATE,
        )
    }

    /// Mean cross-entropy and accuracy on `data` (test mode: noise management's running
    /// average is read, not advanced).
    fn evaluate(&mut self, data: &Data) -> Result<(f64, f64)> {
        let n = data.label.len();
        let pass = self.forward(&data.x, n, true)?;
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for (p, &c) in pass.p.chunks(CLASSES).zip(&data.label) {
            loss -= f64::from(p[c].max(1e-12)).ln();
            let best = (0..CLASSES).fold(0, |b, k| if p[k] > p[b] { k } else { b });
            correct += usize::from(best == c);
        }
        Ok((loss / n as f64, correct as f64 / n as f64))
    }
}

/// Trains for `epochs` epochs, printing the training loss and the test accuracy of each; gives
/// the final test accuracy.
pub fn train(epochs: usize) -> Result<f64> {
    let (train, test) = (blobs(200, 0), blobs(100, 1));
    let mut net = Network::new(42)?;
    let (_, chance) = net.evaluate(&test)?;
    println!("before training: test accuracy {:.1} %", 100.0 * chance);
    let mut accuracy = 0.0;
    for epoch in 1..=epochs {
        for (x, label) in train
            .x
            .chunks(BATCH * INPUTS)
            .zip(train.label.chunks(BATCH))
        {
            net.train_batch(x, label)?;
        }
        let (loss, _) = net.evaluate(&train)?;
        let (test_loss, test_accuracy) = net.evaluate(&test)?;
        accuracy = test_accuracy;
        println!(
            "epoch {epoch}: train loss {loss:.4}, test loss {test_loss:.4}, test accuracy {:.1} %",
            100.0 * accuracy
        );
    }
    Ok(accuracy)
}

fn main() -> ExitCode {
    let quick = std::env::args().any(|a| a == "--quick");
    match train(if quick { QUICK_EPOCHS } else { EPOCHS }) {
        Ok(accuracy) if accuracy >= REQUIRED_ACCURACY => ExitCode::SUCCESS,
        Ok(accuracy) => {
            eprintln!(
                "did not learn: test accuracy {:.1} % < {:.0} %",
                100.0 * accuracy,
                100.0 * REQUIRED_ACCURACY
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
