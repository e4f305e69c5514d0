//! Counter-based random streams (MODEL.md §7).
//!
//! Every draw is a pure function of *what it is for*: the tile seed, the operation and its call
//! counter, the purpose (output noise, pulse bits, ...), and an address inside the call (sample,
//! pass, row or column, position). Nothing depends on which thread asks or in which order, so the
//! same seed gives the same bits at any thread count.
//!
//! The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011), checked against the Random123 known-answer vectors in the tests below.

mod normal;
mod philox;
mod transform;

pub use normal::{normal16, normals_of_block};
pub use philox::{philox4x32_10, philox4x32_10_lanes, philox4x32_10_x8};
pub use transform::{bernoulli_threshold, unit_uniform};

use crate::cpu::{isa, Isa};

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
/// row); its numbers come from Philox blocks `0, 1, 2, ...` of that address, eight normals or
/// four uniforms per block ([`BlockMap`]).
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
        if isa() >= Isa::Avx2 {
            // SAFETY: the CPU supports AVX2 (`isa` never exceeds what it detected).
            return unsafe { philox::avx2::philox4x32_10_lanes(counters, self.key) };
        }
        philox4x32_10_lanes(counters, self.key)
    }

    /// Writes elements `0 .. out.len()` of the normal sequence at `address` to `out` (the
    /// numbers [`Stream::normals`] draws one by one).
    #[inline]
    pub fn fill_normals(&self, address: [u32; 3], out: &mut [f32]) {
        fill::<Normal>(self.key, address, 0, out);
    }

    /// Writes elements `0 .. out.len()` of the uniform sequence at `address` to `out`.
    #[inline]
    pub fn fill_uniforms(&self, address: [u32; 3], out: &mut [f32]) {
        fill::<Uniform>(self.key, address, 0, out);
    }

    /// The standard normal sequence at `address` ([`normal16`]): element `k` is half `k % 2`
    /// of word `(k % 8) / 2` of block `k / 8`.
    pub fn normals(&self, address: [u32; 3]) -> Sequence<'_, Normal> {
        Sequence::new(self, address)
    }

    /// The uniform sequence in `[0, 1)` (24-bit resolution) at `address`: element `k` is word
    /// `k % 4` of block `k / 4`.
    pub fn uniforms(&self, address: [u32; 3]) -> Sequence<'_, Uniform> {
        Sequence::new(self, address)
    }

    /// Standard normal number `k` of the sequence at `address` (element `k` of [`Stream::normals`]).
    #[inline]
    pub fn normal_at(&self, address: [u32; 3], k: u32) -> f32 {
        normals_of_block(self.block(address, k / 8))[(k % 8) as usize]
    }
}

/// How blocks of four words become numbers, `PER_BLOCK` of them per block, in sequence order.
pub trait BlockMap {
    /// Numbers per block.
    const PER_BLOCK: usize;

    /// The numbers of one block (the first `PER_BLOCK` of the result).
    fn block(words: [u32; 4]) -> [f32; 8];

    /// The numbers of eight blocks whose words are in block order ([`philox::avx2::block_major`]),
    /// `8 * PER_BLOCK` of them into `out`.
    ///
    /// # Safety
    /// The CPU has AVX2; `out` holds `8 * PER_BLOCK` numbers.
    #[cfg(target_arch = "x86_64")]
    unsafe fn blocks8_avx2(words: [std::arch::x86_64::__m256i; 4], out: *mut f32);

    /// The numbers of sixteen blocks whose words are in block order
    /// ([`philox::avx512::block_major`]), `16 * PER_BLOCK` of them into `out`.
    ///
    /// # Safety
    /// The CPU has AVX-512 (see [`Isa::Avx512`]); `out` holds `16 * PER_BLOCK` numbers.
    #[cfg(target_arch = "x86_64")]
    unsafe fn blocks16_avx512(words: [std::arch::x86_64::__m512i; 4], out: *mut f32);
}

/// Standard normals ([`normal16`]), eight per block.
#[derive(Debug, Clone, Copy)]
pub struct Normal;

impl BlockMap for Normal {
    const PER_BLOCK: usize = 8;

    #[inline(always)]
    fn block(words: [u32; 4]) -> [f32; 8] {
        normals_of_block(words)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn blocks8_avx2(words: [std::arch::x86_64::__m256i; 4], out: *mut f32) {
        use std::arch::x86_64::*;
        // Register q holds the 16 halves of blocks 2q and 2q + 1, in sequence order.
        for (q, w) in words.iter().enumerate() {
            for half in 0..2 {
                let h = if half == 0 {
                    _mm256_castsi256_si128(*w)
                } else {
                    _mm256_extracti128_si256::<1>(*w)
                };
                let n = normal::avx2::normals(_mm256_cvtepu16_epi32(h));
                // SAFETY: element 16 q + 8 half + 8 <= 64 = 8 * PER_BLOCK, inside `out`.
                unsafe { _mm256_storeu_ps(out.add(16 * q + 8 * half), n) };
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn blocks16_avx512(words: [std::arch::x86_64::__m512i; 4], out: *mut f32) {
        use std::arch::x86_64::*;
        // Register q holds the 32 halves of blocks 4q .. 4q + 4, in sequence order.
        for (q, w) in words.iter().enumerate() {
            for half in 0..2 {
                let h = if half == 0 {
                    _mm512_castsi512_si256(*w)
                } else {
                    _mm512_extracti64x4_epi64::<1>(*w)
                };
                let n = normal::avx512::normals(_mm512_cvtepu16_epi32(h));
                // SAFETY: element 32 q + 16 half + 16 <= 128 = 16 * PER_BLOCK, inside `out`.
                unsafe { _mm512_storeu_ps(out.add(32 * q + 16 * half), n) };
            }
        }
    }
}

/// Uniform numbers in `[0, 1)` ([`unit_uniform`]), four per block.
#[derive(Debug, Clone, Copy)]
pub struct Uniform;

impl BlockMap for Uniform {
    const PER_BLOCK: usize = 4;

    #[inline(always)]
    fn block(words: [u32; 4]) -> [f32; 8] {
        let mut out = [0.0; 8];
        for (o, w) in out.iter_mut().zip(words) {
            *o = unit_uniform(w);
        }
        out
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn blocks8_avx2(words: [std::arch::x86_64::__m256i; 4], out: *mut f32) {
        use std::arch::x86_64::*;
        let scale = _mm256_set1_ps(transform::TWO_POW_M24);
        for (q, w) in words.iter().enumerate() {
            let u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32::<8>(*w)), scale);
            // SAFETY: element 8 q + 8 <= 32 = 8 * PER_BLOCK, inside `out`.
            unsafe { _mm256_storeu_ps(out.add(8 * q), u) };
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn blocks16_avx512(words: [std::arch::x86_64::__m512i; 4], out: *mut f32) {
        use std::arch::x86_64::*;
        let scale = _mm512_set1_ps(transform::TWO_POW_M24);
        for (q, w) in words.iter().enumerate() {
            let u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32::<8>(*w)), scale);
            // SAFETY: element 16 q + 16 <= 64 = 16 * PER_BLOCK, inside `out`.
            unsafe { _mm512_storeu_ps(out.add(16 * q), u) };
        }
    }
}

/// Numbers of sixteen consecutive blocks from `first` on with AVX-512.
///
/// # Safety
/// The CPU has AVX-512; `out` holds `16 * M::PER_BLOCK` numbers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn fill16_avx512<M: BlockMap>(key: [u32; 2], address: [u32; 3], first: u32, out: *mut f32) {
    let words = philox::avx512::rounds(philox::avx512::counters16(first, address), key);
    // SAFETY: the caller's guarantees.
    unsafe { M::blocks16_avx512(philox::avx512::block_major(words), out) }
}

/// Numbers of eight consecutive blocks from `first` on with AVX2.
///
/// # Safety
/// The CPU has AVX2; `out` holds `8 * M::PER_BLOCK` numbers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill8_avx2<M: BlockMap>(key: [u32; 2], address: [u32; 3], first: u32, out: *mut f32) {
    let words = philox::avx2::rounds(philox::avx2::counters8(first, address), key);
    // SAFETY: the caller's guarantees.
    unsafe { M::blocks8_avx2(philox::avx2::block_major(words), out) }
}

/// Writes the numbers of blocks `first, first + 1, ...` of the sequence at `address` to `out`
/// (the last block's numbers may be cut short): sixteen or eight blocks at a time with the
/// widest instruction set the CPU has, single blocks at the end. The same bits on every path.
#[inline]
fn fill<M: BlockMap>(key: [u32; 2], address: [u32; 3], first: u32, out: &mut [f32]) {
    let per = M::PER_BLOCK;
    let mut block = first;
    let mut rest = out;
    #[cfg(target_arch = "x86_64")]
    {
        let isa = isa();
        // The last group goes through a buffer: a whole vector group is still faster than
        // single blocks.
        let mut last = [0.0f32; 128];
        if isa >= Isa::Avx512 {
            while !rest.is_empty() {
                let whole = rest.len() >= 16 * per;
                let out = if whole {
                    rest.as_mut_ptr()
                } else {
                    last.as_mut_ptr()
                };
                // SAFETY: AVX-512 is there, and `out` holds 16 blocks' numbers.
                unsafe { fill16_avx512::<M>(key, address, block, out) };
                if !whole {
                    let n = rest.len();
                    rest.copy_from_slice(&last[..n]);
                    return;
                }
                block = block.wrapping_add(16);
                rest = &mut rest[16 * per..];
            }
        }
        if isa >= Isa::Avx2 {
            while !rest.is_empty() {
                let whole = rest.len() >= 8 * per;
                let out = if whole {
                    rest.as_mut_ptr()
                } else {
                    last.as_mut_ptr()
                };
                // SAFETY: AVX2 is there, and `out` holds 8 blocks' numbers.
                unsafe { fill8_avx2::<M>(key, address, block, out) };
                if !whole {
                    let n = rest.len();
                    rest.copy_from_slice(&last[..n]);
                    return;
                }
                block = block.wrapping_add(8);
                rest = &mut rest[8 * per..];
            }
        }
    }
    for chunk in rest.chunks_mut(per) {
        let counter = [block, address[0], address[1], address[2]];
        let numbers = M::block(philox4x32_10(counter, key));
        // A loop, not copy_from_slice: a library call per block costs more than the copy.
        for (o, v) in chunk.iter_mut().zip(numbers) {
            *o = v;
        }
        block = block.wrapping_add(1);
    }
}

/// Blocks a [`Sequence`] computes at a time.
const SEQUENCE_BLOCKS: u32 = 16;

/// An endless sequence of numbers drawn from one address of a stream, computed sixteen blocks
/// at a time when first needed.
#[derive(Debug)]
pub struct Sequence<'a, M> {
    stream: &'a Stream,
    address: [u32; 3],
    block: u32,
    buffer: [f32; 128],
    next: usize,
    map: std::marker::PhantomData<M>,
}

impl<'a, M: BlockMap> Sequence<'a, M> {
    const LEN: usize = SEQUENCE_BLOCKS as usize * M::PER_BLOCK;

    fn new(stream: &'a Stream, address: [u32; 3]) -> Self {
        Sequence {
            stream,
            address,
            block: 0,
            buffer: [0.0; 128],
            next: Self::LEN,
            map: std::marker::PhantomData,
        }
    }

    /// The next number of the sequence.
    #[inline(always)]
    pub fn draw(&mut self) -> f32 {
        if self.next == Self::LEN {
            self.refill();
        }
        let v = self.buffer[self.next];
        self.next += 1;
        v
    }

    // Out of line: keeps the per-number path of the callers small.
    #[inline(never)]
    fn refill(&mut self) {
        let len = Self::LEN;
        fill::<M>(
            self.stream.key,
            self.address,
            self.block,
            &mut self.buffer[..len],
        );
        self.block = self.block.wrapping_add(SEQUENCE_BLOCKS);
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
        for (k, x) in s.normals([4, 5, 6]).take(300).enumerate() {
            assert_eq!(x.to_bits(), s.normal_at([4, 5, 6], k as u32).to_bits());
        }
    }

    /// The numbers of blocks `first ..` one block at a time, the plain definition.
    fn by_block<M: BlockMap>(s: &Stream, address: [u32; 3], first: u32, n: usize) -> Vec<u32> {
        (0..n)
            .map(|k| {
                let block = first.wrapping_add((k / M::PER_BLOCK) as u32);
                M::block(s.block(address, block))[k % M::PER_BLOCK].to_bits()
            })
            .collect()
    }

    fn vector_fills_equal_blocks<M: BlockMap>() {
        let s = Stream::new(2, Op::Update, Purpose::PulseNoise, 5);
        let address = [3, 1, 4];
        let isa = crate::cpu::detected_isa();
        for first in [0u32, 7, u32::MAX - 9] {
            #[cfg(target_arch = "x86_64")]
            {
                let mut v = vec![0.0f32; 16 * M::PER_BLOCK];
                if isa >= Isa::Avx2 {
                    // SAFETY: AVX2 is there, and `v` holds 8 blocks' numbers.
                    unsafe { fill8_avx2::<M>(s.key, address, first, v.as_mut_ptr()) };
                    let n = 8 * M::PER_BLOCK;
                    let bits: Vec<u32> = v[..n].iter().map(|x| x.to_bits()).collect();
                    assert_eq!(bits, by_block::<M>(&s, address, first, n));
                }
                if isa >= Isa::Avx512 {
                    // SAFETY: AVX-512 is there, and `v` holds 16 blocks' numbers.
                    unsafe { fill16_avx512::<M>(s.key, address, first, v.as_mut_ptr()) };
                    let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
                    assert_eq!(bits, by_block::<M>(&s, address, first, v.len()));
                }
            }
            for n in [1usize, 5, 8, 63, 64, 200, 333] {
                let mut v = vec![0.0f32; n];
                fill::<M>(s.key, address, first, &mut v);
                let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
                assert_eq!(bits, by_block::<M>(&s, address, first, n), "n {n}");
            }
        }
    }

    #[test]
    fn vector_fills_of_normals_equal_the_blocks() {
        vector_fills_equal_blocks::<Normal>();
    }

    #[test]
    fn vector_fills_of_uniforms_equal_the_blocks() {
        vector_fills_equal_blocks::<Uniform>();
    }

    #[test]
    fn filled_and_lane_blocks_equal_the_sequence() {
        let s = Stream::new(2, Op::Update, Purpose::PulseNoise, 5);
        let mut v = vec![0.0f32; 377];
        s.fill_normals([3, 1, 4], &mut v);
        for (x, y) in v.iter().zip(s.normals([3, 1, 4])) {
            assert_eq!(x.to_bits(), y.to_bits());
        }
        s.fill_uniforms([3, 1, 4], &mut v);
        for (x, y) in v.iter().zip(s.uniforms([3, 1, 4])) {
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

    /// `P(|Z| > a)` of the standard normal.
    fn two_sided_tail(a: f64) -> f64 {
        libm::erfc(a / std::f64::consts::SQRT_2)
    }

    #[test]
    fn normals_have_unit_moments_and_normal_tails() {
        let s = Stream::new(42, Op::Forward, Purpose::OutputNoise, 0);
        let n = 4_000_000;
        let mut v = vec![0.0f32; n];
        s.fill_normals([0, 0, 0], &mut v);
        let moment = |k: i32| v.iter().map(|&x| f64::from(x).powi(k)).sum::<f64>() / n as f64;
        let (mean, var, skew, kurt) = (moment(1), moment(2), moment(3), moment(4));
        // Standard errors: mean 1/sqrt(n) = 5e-4, variance sqrt(2/n) = 7.1e-4, third moment
        // sqrt(15/n) = 1.9e-3, fourth sqrt(96/n) = 4.9e-3. The truncation at 4.33 lowers the
        // variance by 3e-4 and the fourth moment by 5e-3.
        assert!(mean.abs() < 5.0 * 5e-4, "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * 7.1e-4, "variance {var}");
        assert!(skew.abs() < 5.0 * 1.9e-3, "third moment {skew}");
        assert!(
            (kurt - 3.0).abs() < 5.0 * 4.9e-3 + 5e-3,
            "fourth moment {kurt}"
        );
        for a in [0.5f64, 1.0, 2.0, 3.0, 4.0] {
            let expected = two_sided_tail(a);
            let tail = v.iter().filter(|x| f64::from(x.abs()) > a).count() as f64 / n as f64;
            let se = (expected * (1.0 - expected) / n as f64).sqrt();
            // The tail is resolved in bins of 1/32 768.
            assert!(
                (tail - expected).abs() < 5.0 * se + 1.0 / 32_768.0,
                "P(|Z| > {a}): {tail} against {expected}"
            );
        }
        assert!(v.iter().all(|x| x.abs() < 4.33));
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
