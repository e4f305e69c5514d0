//! Counter-based random streams (MODEL.md §7).
//!
//! Every draw is a pure function of *what it is for*: the tile seed, the operation and its call
//! counter, the purpose (output noise, pulse bits, ...), and an address inside the call (sample,
//! pass, row or column, position). Nothing depends on which thread asks or in which order, so the
//! same seed gives the same bits at any thread count.
//!
//! The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011), checked against the Random123 known-answer vectors in the tests below.

mod philox;
mod transform;

use philox::counters_x8;

pub use philox::{philox4x32_10, philox4x32_10_lanes, philox4x32_10_x8};
pub(crate) use transform::log_reduce;
pub use transform::{bernoulli_threshold, box_muller, normals_of_block, unit_uniform};

/// The operation a draw belongs to; each has its own call counter in the tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// Drawing the device-to-device parameters when a tile is made.
    Init = 0,
    Forward = 1,
    Backward = 2,
    Update = 3,
    /// Programming the weights (`set_weights`), counted by the tile's devices.
    Program = 4,
}

/// What a draw is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Purpose {
    DeviceToDevice = 1,
    InputRounding = 2,
    InputNoise = 3,
    WeightNoise = 4,
    OutputNoise = 5,
    OutputRounding = 6,
    PulseTrainX = 7,
    PulseTrainD = 8,
    PulseNoise = 9,
    /// Write noise drawn when weights are programmed.
    WriteNoise = 10,
    /// The device a unit cell's `single_random` policy pulses in an update call.
    UnitCellPolicy = 11,
}

/// A family of random sequences for one (seed, operation, call, purpose).
///
/// Inside the family a sequence is chosen by a three-word address (for example sample, pass and
/// row); element `k` of a sequence comes from Philox block `k / 4` of that address.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    key: [u32; 2],
}

impl Stream {
    /// The stream for `purpose` in call number `call` of operation `op` on the tile seeded `seed`.
    pub fn new(seed: u64, op: Op, purpose: Purpose, call: u64) -> Self {
        // Hash the identity into a key with Philox itself: distinct identities give unrelated keys.
        let seed_key = [seed as u32, (seed >> 32) as u32];
        let id = [op as u32, purpose as u32, call as u32, (call >> 32) as u32];
        let out = philox4x32_10(id, seed_key);
        Stream {
            key: [out[0], out[1]],
        }
    }

    /// Raw block `block` of the sequence at `address`.
    #[inline(always)]
    pub fn block(&self, address: [u32; 3], block: u32) -> [u32; 4] {
        philox4x32_10([block, address[0], address[1], address[2]], self.key)
    }

    /// Eight blocks of eight sequences at once: lane `l` is block `block[l]` of the sequence
    /// at address `(address[0][l], address[1][l], address[2][l])`, word `w` in `out[w][l]`;
    /// with AVX2 when the CPU has it.
    #[inline(always)]
    pub fn blocks_lanes(&self, block: [u32; 8], address: [[u32; 8]; 3]) -> [[u32; 8]; 4] {
        let counters = [block, address[0], address[1], address[2]];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { philox::avx2::philox4x32_10_lanes(counters, self.key) };
        }
        philox4x32_10_lanes(counters, self.key)
    }

    /// Writes elements `0 .. out.len()` of the normal sequence at `address` to `out` (the
    /// numbers [`Stream::normals`] draws one by one), 32 at a time.
    pub fn fill_normals(&self, address: [u32; 3], out: &mut [f32]) {
        for (g, chunk) in out.chunks_mut(32).enumerate() {
            let v = fill8::<Normal>(self.key, address, 8 * g as u32);
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// The standard normal sequence at `address`: element `k` comes from block `k / 4`.
    pub fn normals(&self, address: [u32; 3]) -> Sequence<'_, Normal> {
        Sequence::new(self, address)
    }

    /// The uniform sequence in `[0, 1)` (24-bit resolution) at `address`.
    pub fn uniforms(&self, address: [u32; 3]) -> Sequence<'_, Uniform> {
        Sequence::new(self, address)
    }

    /// Standard normal number `k` of the sequence at `address` (element `k` of [`Stream::normals`]).
    #[inline]
    pub fn normal_at(&self, address: [u32; 3], k: u32) -> f32 {
        normals_of_block(self.block(address, k / 4))[(k % 4) as usize]
    }
}

/// How blocks of four words become numbers: eight blocks at once, in sequence order (element
/// `4 l + w` from word `w` of block `l`).
pub trait BlockMap {
    fn map8(words: &[[u32; 8]; 4]) -> [f32; 32];
}

/// Standard normals ([`normals_of_block`]).
#[derive(Debug, Clone, Copy)]
pub struct Normal;

impl BlockMap for Normal {
    #[inline(always)]
    fn map8(words: &[[u32; 8]; 4]) -> [f32; 32] {
        // Lane-wise first (SIMD), then interleave into sequence order.
        let mut n = [[0.0f32; 8]; 4];
        for l in 0..8 {
            (n[0][l], n[1][l]) = box_muller(words[0][l], words[1][l]);
            (n[2][l], n[3][l]) = box_muller(words[2][l], words[3][l]);
        }
        interleave(&n)
    }
}

/// Uniform numbers in `[0, 1)` ([`unit_uniform`]).
#[derive(Debug, Clone, Copy)]
pub struct Uniform;

impl BlockMap for Uniform {
    #[inline(always)]
    fn map8(words: &[[u32; 8]; 4]) -> [f32; 32] {
        interleave(&words.map(|w| w.map(unit_uniform)))
    }
}

#[inline(always)]
fn interleave(n: &[[f32; 8]; 4]) -> [f32; 32] {
    let mut out = [0.0f32; 32];
    for l in 0..8 {
        for w in 0..4 {
            out[4 * l + w] = n[w][l];
        }
    }
    out
}

#[inline(always)]
fn fill8_portable<M: BlockMap>(key: [u32; 2], address: [u32; 3], first: u32) -> [f32; 32] {
    M::map8(&philox4x32_10_x8(first, address, key))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill8_avx2<M: BlockMap>(key: [u32; 2], address: [u32; 3], first: u32) -> [f32; 32] {
    M::map8(&philox::avx2::philox4x32_10_lanes(
        counters_x8(first, address),
        key,
    ))
}

/// Numbers of eight consecutive blocks, with AVX2 when the CPU has it (same bits either way).
#[inline]
fn fill8<M: BlockMap>(key: [u32; 2], address: [u32; 3], first: u32) -> [f32; 32] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { fill8_avx2::<M>(key, address, first) };
    }
    fill8_portable::<M>(key, address, first)
}

/// An endless sequence of numbers drawn from one address of a stream, computed eight blocks
/// (32 numbers) at a time when first needed. Element `k` comes from block `k / 4`.
#[derive(Debug)]
pub struct Sequence<'a, M> {
    stream: &'a Stream,
    address: [u32; 3],
    block: u32,
    buffer: [f32; 32],
    next: usize,
    map: std::marker::PhantomData<M>,
}

impl<'a, M: BlockMap> Sequence<'a, M> {
    fn new(stream: &'a Stream, address: [u32; 3]) -> Self {
        Sequence {
            stream,
            address,
            block: 0,
            buffer: [0.0; 32],
            next: 32,
            map: std::marker::PhantomData,
        }
    }

    /// The next number of the sequence.
    #[inline(always)]
    pub fn draw(&mut self) -> f32 {
        if self.next == 32 {
            self.refill();
        }
        let v = self.buffer[self.next];
        self.next += 1;
        v
    }

    // Out of line: keeps the per-number path of the callers small.
    #[inline(never)]
    fn refill(&mut self) {
        self.buffer = fill8::<M>(self.stream.key, self.address, self.block);
        self.block = self.block.wrapping_add(8);
        self.next = 0;
    }
}

/// A source of standard normals drawn one after the other: a [`Sequence`], or a [`Drawn`]
/// slice of numbers of a sequence computed beforehand.
pub trait NormalSource {
    fn draw(&mut self) -> f32;
}

impl NormalSource for Sequence<'_, Normal> {
    #[inline(always)]
    fn draw(&mut self) -> f32 {
        Sequence::draw(self)
    }
}

/// Numbers of a sequence computed beforehand ([`Stream::fill_normals`]), handed out in order.
#[derive(Debug)]
pub struct Drawn<'a> {
    values: &'a [f32],
    next: usize,
}

impl<'a> Drawn<'a> {
    pub fn new(values: &'a [f32]) -> Self {
        Drawn { values, next: 0 }
    }
}

impl NormalSource for Drawn<'_> {
    /// The next number; panics past the end (the caller computed too few).
    #[inline(always)]
    fn draw(&mut self) -> f32 {
        let v = self.values[self.next];
        self.next += 1;
        v
    }
}

impl<M: BlockMap> Iterator for Sequence<'_, M> {
    type Item = f32;

    #[inline(always)]
    fn next(&mut self) -> Option<f32> {
        Some(self.draw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_every_part_of_their_identity() {
        let base = Stream::new(7, Op::Forward, Purpose::OutputNoise, 3).block([0, 0, 0], 0);
        for other in [
            Stream::new(8, Op::Forward, Purpose::OutputNoise, 3),
            Stream::new(7, Op::Backward, Purpose::OutputNoise, 3),
            Stream::new(7, Op::Forward, Purpose::InputNoise, 3),
            Stream::new(7, Op::Forward, Purpose::OutputNoise, 4),
            Stream::new(7, Op::Forward, Purpose::OutputNoise, 3 + (1 << 32)),
        ] {
            assert_ne!(other.block([0, 0, 0], 0), base);
        }
    }

    #[test]
    fn normal_at_equals_the_sequence() {
        let s = Stream::new(1, Op::Update, Purpose::PulseNoise, 0);
        for (k, x) in s.normals([4, 5, 6]).take(13).enumerate() {
            assert_eq!(x.to_bits(), s.normal_at([4, 5, 6], k as u32).to_bits());
        }
    }

    #[test]
    fn filled_and_lane_blocks_equal_the_sequence() {
        let s = Stream::new(2, Op::Update, Purpose::PulseNoise, 5);
        let mut v = vec![0.0f32; 77];
        s.fill_normals([3, 1, 4], &mut v);
        for (x, y) in v.iter().zip(s.normals([3, 1, 4])) {
            assert_eq!(x.to_bits(), y.to_bits());
        }
        let block = [0, 1, 2, 3, 9, 0, 5, 1];
        let address = [[7; 8], [0, 1, 2, 3, 4, 5, 6, 7], [1; 8]];
        let lanes = s.blocks_lanes(block, address);
        for l in 0..8 {
            let one = s.block([7, l as u32, 1], block[l]);
            for w in 0..4 {
                assert_eq!(lanes[w][l], one[w]);
            }
        }
    }

    #[test]
    fn normals_have_unit_moments() {
        let s = Stream::new(42, Op::Forward, Purpose::OutputNoise, 0);
        let n = 400_000;
        let v: Vec<f32> = s.normals([0, 0, 0]).take(n).collect();
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
        let var = v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let kurt = v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(4))
            .sum::<f64>()
            / n as f64
            / (var * var);
        // Standard errors: mean 1/sqrt(n) = 0.0016, variance sqrt(2/n) = 0.0022, kurtosis ~0.0077.
        assert!(mean.abs() < 5.0 * 0.0016, "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * 0.0022, "variance {var}");
        assert!((kurt - 3.0).abs() < 5.0 * 0.0077, "kurtosis {kurt}");
        // Tail mass beyond 2 sigma: 4.55 %.
        let tail = v.iter().filter(|x| x.abs() > 2.0).count() as f64 / n as f64;
        assert!((tail - 0.0455).abs() < 5.0 * (0.0455f64 * 0.9545 / n as f64).sqrt());
    }

    #[test]
    fn uniforms_are_uniform() {
        let s = Stream::new(3, Op::Update, Purpose::PulseTrainX, 9);
        let n = 200_000;
        let v: Vec<f32> = s.uniforms([1, 2, 3]).take(n).collect();
        let mut bins = [0usize; 10];
        for x in &v {
            assert!((0.0..1.0).contains(x));
            bins[(x * 10.0) as usize] += 1;
        }
        // Chi-square with 9 degrees of freedom: 27.9 is its 0.999 quantile.
        let expected = n as f64 / 10.0;
        let chi2: f64 = bins
            .iter()
            .map(|&b| (b as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 27.9, "chi2 {chi2}");
    }

    #[test]
    fn bernoulli_threshold_hits_its_probability() {
        assert_eq!(bernoulli_threshold(1.0), 1 << 32);
        assert_eq!(bernoulli_threshold(0.0), 0);
        let s = Stream::new(5, Op::Update, Purpose::PulseTrainD, 1);
        let w: Vec<u32> = (0..25_000).flat_map(|b| s.block([0, 0, 0], b)).collect();
        for p in [0.01f32, 0.3, 0.75] {
            let t = bernoulli_threshold(p);
            let hits = w.iter().filter(|&&x| u64::from(x) < t).count() as f64;
            let se = (f64::from(p) * (1.0 - f64::from(p)) * 1e5).sqrt();
            assert!(
                (hits - f64::from(p) * 1e5).abs() < 5.0 * se,
                "p {p} hits {hits}"
            );
        }
    }
}
