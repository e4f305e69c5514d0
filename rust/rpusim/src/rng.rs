//! Counter-based random streams (MODEL.md §7).
//!
//! Every draw is a pure function of *what it is for*: the tile seed, the operation and its call
//! counter, the purpose (output noise, pulse bits, ...), and an address inside the call (sample,
//! pass, row or column, position). Nothing depends on which thread asks or in which order, so the
//! same seed gives the same bits at any thread count.
//!
//! The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011), checked against the Random123 known-answer vectors in the tests below.

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;

/// One Philox4x32-10 block: four independent 32-bit words for a 128-bit counter and 64-bit key.
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let p0 = u64::from(PHILOX_M0) * u64::from(c[0]);
        let p1 = u64::from(PHILOX_M1) * u64::from(c[2]);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// The operation a draw belongs to; each has its own call counter in the tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// Drawing the device-to-device parameters when a tile is made.
    Init = 0,
    Forward = 1,
    Backward = 2,
    Update = 3,
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
}

const TWO_POW_M24: f32 = 1.0 / 16_777_216.0;

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

    /// The standard normal sequence at `address`: element `k` comes from block `k / 4`.
    pub fn normals(&self, address: [u32; 3]) -> Sequence<'_> {
        Sequence::new(self, address, normals_of_block)
    }

    /// The uniform sequence in `[0, 1)` (24-bit resolution) at `address`.
    pub fn uniforms(&self, address: [u32; 3]) -> Sequence<'_> {
        Sequence::new(self, address, |w| w.map(unit_uniform))
    }

    /// Standard normal number `k` of the sequence at `address` (element `k` of [`Stream::normals`]).
    #[inline]
    pub fn normal_at(&self, address: [u32; 3], k: u32) -> f32 {
        normals_of_block(self.block(address, k / 4))[(k % 4) as usize]
    }
}

/// An endless sequence of numbers drawn block by block from one address of a stream.
#[derive(Debug)]
pub struct Sequence<'a> {
    stream: &'a Stream,
    address: [u32; 3],
    map: fn([u32; 4]) -> [f32; 4],
    block: u32,
    buffer: [f32; 4],
    next: usize,
}

impl<'a> Sequence<'a> {
    fn new(stream: &'a Stream, address: [u32; 3], map: fn([u32; 4]) -> [f32; 4]) -> Self {
        Sequence {
            stream,
            address,
            map,
            block: 0,
            buffer: [0.0; 4],
            next: 4,
        }
    }
}

impl Iterator for Sequence<'_> {
    type Item = f32;

    #[inline]
    fn next(&mut self) -> Option<f32> {
        if self.next == 4 {
            self.buffer = (self.map)(self.stream.block(self.address, self.block));
            self.block = self.block.wrapping_add(1);
            self.next = 0;
        }
        let v = self.buffer[self.next];
        self.next += 1;
        Some(v)
    }
}

/// A 32-bit word as a uniform number in `[0, 1)` with 24 bits: exact in f32.
#[inline(always)]
pub fn unit_uniform(word: u32) -> f32 {
    (word >> 8) as f32 * TWO_POW_M24
}

/// Four standard normals from one block, by the Box–Muller transform of two pairs of words.
///
/// The f32 functions of the `libm` crate are pure Rust, so the numbers are the same on every
/// platform. The radius is bounded (|n| < 5.8) because the uniform has 24 bits.
#[inline(always)]
pub fn normals_of_block(words: [u32; 4]) -> [f32; 4] {
    let (a0, a1) = box_muller(words[0], words[1]);
    let (b0, b1) = box_muller(words[2], words[3]);
    [a0, a1, b0, b1]
}

#[inline(always)]
fn box_muller(w_radius: u32, w_angle: u32) -> (f32, f32) {
    // (0, 1]: never zero, so the logarithm stays finite.
    let u = ((w_radius >> 8) + 1) as f32 * TWO_POW_M24;
    let radius = libm::sqrtf(-2.0 * libm::logf(u));
    let angle = std::f32::consts::TAU * unit_uniform(w_angle);
    let (s, c) = libm::sincosf(angle);
    (radius * c, radius * s)
}

/// Threshold that turns a 32-bit word into a Bernoulli bit with probability `p`:
/// the bit is set when `word < threshold`. `p >= 1` always fires, `p <= 0` never.
#[inline]
pub fn bernoulli_threshold(p: f32) -> u64 {
    if p >= 1.0 {
        1 << 32
    } else if p > 0.0 {
        (f64::from(p) * 4_294_967_296.0) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_random123_known_answers() {
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

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
