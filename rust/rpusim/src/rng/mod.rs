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

pub(crate) use normal::normals_of_block;
pub(crate) use philox::philox4x32_10;
pub(crate) use transform::{bernoulli_threshold, unit_uniform};

use crate::cpu::{isa, Isa};

/// The operation a draw belongs to; each has its own call counter in the tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// Drawing the device-to-device parameters when a tile is made.
    Init = 0,
    /// A forward pass.
    Forward = 1,
    /// A backward pass.
    Backward = 2,
    /// A pulsed update (and a characterisation pulse).
    Update = 3,
    /// Programming the weights (`set_weights`), counted by the tile's devices.
    Program = 4,
    /// Resetting columns of devices (`reset_columns`), counted by the tile's devices.
    Reset = 5,
}

/// What a draw is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Purpose {
    /// The device-to-device variation of the drawn devices.
    DeviceToDevice = 1,
    /// Stochastic rounding of the DAC.
    InputRounding = 2,
    /// Noise on the DAC outputs (`inp_noise`).
    InputNoise = 3,
    /// Weight noise of a pass (`w_noise`).
    WeightNoise = 4,
    /// Noise on the outputs before the ADC (`out_noise`).
    OutputNoise = 5,
    /// Stochastic rounding of the ADC.
    OutputRounding = 6,
    /// The pulse trains of the columns (inputs `x`) of an update.
    PulseTrainX = 7,
    /// The pulse trains of the rows (errors `d`) of an update.
    PulseTrainD = 8,
    /// The cycle-to-cycle noise of every pulse.
    PulseNoise = 9,
    /// Write noise drawn when weights are programmed.
    WriteNoise = 10,
    /// The device a unit cell's `single_random` policy pulses in an update call.
    UnitCellPolicy = 11,
    /// The device-to-device variation of the per-device effects (diffusion rate, reset point,
    /// lifetime), drawn apart from [`Purpose::DeviceToDevice`] so that configurations without
    /// them draw what they drew before.
    DeviceEffects = 12,
    /// The diffusion after an update call (`diffusion`).
    Diffusion = 13,
    /// Which devices of the reset columns a reset with `reset_prob < 1` resets.
    ResetChoice = 14,
    /// The cycle-to-cycle spread of a reset (`reset_std`).
    ResetNoise = 15,
    /// Stochastic rounding of a mixed-precision compound's quantised `x`.
    QuantizeX = 16,
    /// Stochastic rounding of a mixed-precision compound's quantised `d`.
    QuantizeD = 17,
    /// The first row of a mixed-precision transfer with `random_row`.
    TransferRow = 18,
}

/// A family of random sequences for one (seed, operation, call, purpose).
///
/// Inside the family a sequence is chosen by a three-word address (for example sample, pass and
/// row); its numbers come from Philox blocks `0, 1, 2, ...` of that address, eight normals or
/// four uniforms per block.
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
    pub(crate) fn block(&self, address: [u32; 3], block: u32) -> [u32; 4] {
        philox4x32_10([block, address[0], address[1], address[2]], self.key)
    }

    /// Writes elements `0 .. out.len()` of the standard normal sequence at `address` to `out`:
    /// element `k` is half `k % 2` (16 bits) of word `(k % 8) / 2` of block `k / 8`, turned
    /// into a normal by a fixed polynomial.
    #[inline]
    pub fn fill_normals(&self, address: [u32; 3], out: &mut [f32]) {
        fill::<Normal>(self.key, address, 0, out);
    }

    /// Writes elements `0 .. out.len()` of the uniform sequence at `address` to `out`.
    #[inline]
    pub fn fill_uniforms(&self, address: [u32; 3], out: &mut [f32]) {
        fill::<Uniform>(self.key, address, 0, out);
    }

    /// Writes elements `first .. first + out.len()` of the long normal sequence `base` (see
    /// [`Stream::normal_in`]) to `out`.
    #[inline]
    pub(crate) fn fill_normals_in(&self, base: [u32; 2], first: u64, out: &mut [f32]) {
        fill_in::<Normal>(self.key, base, first, out);
    }

    /// Writes elements `first .. first + out.len()` of the long uniform sequence `base` to
    /// `out`.
    #[inline]
    pub(crate) fn fill_uniforms_in(&self, base: [u32; 2], first: u64, out: &mut [f32]) {
        fill_in::<Uniform>(self.key, base, first, out);
    }

    /// Element `e` of the long normal sequence `base`, one that a whole batch's draws of one
    /// kind fill (element `b m + i` for output `i` of sample `b`): the normal sequence at
    /// address `[base[0], base[1], e / 2^32]`, element `e % 2^32`.
    #[inline]
    pub(crate) fn normal_in(&self, base: [u32; 2], e: u64) -> f32 {
        self.normal_at([base[0], base[1], (e >> 32) as u32], e as u32)
    }

    /// Element `e` of the long uniform sequence `base` (as [`Stream::normal_in`]).
    #[inline]
    pub(crate) fn uniform_in(&self, base: [u32; 2], e: u64) -> f32 {
        let k = e as u32;
        let block = self.block([base[0], base[1], (e >> 32) as u32], k / 4);
        unit_uniform(block[(k % 4) as usize])
    }

    /// Writes words `0 .. out.len()` of the sequence at `address` to `out`: word `k` is word
    /// `k % 4` of block `k / 4`.
    #[inline]
    pub(crate) fn fill_words(&self, address: [u32; 3], out: &mut [u32]) {
        fill::<Word>(self.key, address, 0, out);
    }

    /// Word `k` of the sequence at `address` (as [`Stream::fill_words`]).
    #[inline]
    pub(crate) fn word_at(&self, address: [u32; 3], k: u32) -> u32 {
        self.block(address, k / 4)[(k % 4) as usize]
    }

    /// The standard normal sequence at `address` ([`normal16`](normal::normal16)): element `k` is half `k % 2`
    /// of word `(k % 8) / 2` of block `k / 8`.
    pub(crate) fn normals(&self, address: [u32; 3]) -> Sequence<'_, Normal> {
        Sequence::new(self, address)
    }

    /// The uniform sequence in `[0, 1)` (24-bit resolution) at `address`: element `k` is word
    /// `k % 4` of block `k / 4`.
    #[cfg(test)]
    pub(crate) fn uniforms(&self, address: [u32; 3]) -> Sequence<'_, Uniform> {
        Sequence::new(self, address)
    }

    /// Standard normal number `k` of the sequence at `address` (element `k` of [`Stream::normals`]).
    #[inline]
    pub(crate) fn normal_at(&self, address: [u32; 3], k: u32) -> f32 {
        normals_of_block(self.block(address, k / 8))[(k % 8) as usize]
    }
}

/// How blocks of four words become numbers, `PER_BLOCK` of them per block, in sequence order.
pub(crate) trait BlockMap {
    /// What a sequence holds.
    type Number: Copy + Default;

    /// Numbers per block.
    const PER_BLOCK: usize;

    /// The numbers of one block (the first `PER_BLOCK` of the result).
    fn block(words: [u32; 4]) -> [Self::Number; 8];

    /// The numbers of eight blocks whose words are in block order ([`philox::avx2::block_major`]),
    /// `8 * PER_BLOCK` of them into `out`.
    ///
    /// # Safety
    /// The CPU has AVX2; `out` holds `8 * PER_BLOCK` numbers.
    #[cfg(target_arch = "x86_64")]
    unsafe fn blocks8_avx2(words: [std::arch::x86_64::__m256i; 4], out: *mut Self::Number);

    /// The numbers of sixteen blocks whose words are in block order
    /// ([`philox::avx512::block_major`]), `16 * PER_BLOCK` of them into `out`.
    ///
    /// # Safety
    /// The CPU has AVX-512 (see [`Isa::Avx512`]); `out` holds `16 * PER_BLOCK` numbers.
    #[cfg(target_arch = "x86_64")]
    unsafe fn blocks16_avx512(words: [std::arch::x86_64::__m512i; 4], out: *mut Self::Number);
}

/// Standard normals ([`normal16`](normal::normal16)), eight per block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Normal;

impl BlockMap for Normal {
    type Number = f32;
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
pub(crate) struct Uniform;

impl BlockMap for Uniform {
    type Number = f32;
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

/// The raw 32-bit words, four per block (the pulse trains' draws).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Word;

impl BlockMap for Word {
    type Number = u32;
    const PER_BLOCK: usize = 4;

    #[inline(always)]
    fn block(words: [u32; 4]) -> [u32; 8] {
        [words[0], words[1], words[2], words[3], 0, 0, 0, 0]
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn blocks8_avx2(words: [std::arch::x86_64::__m256i; 4], out: *mut u32) {
        use std::arch::x86_64::*;
        for (q, w) in words.iter().enumerate() {
            // SAFETY: word 8 q + 8 <= 32 = 8 * PER_BLOCK, inside `out`.
            unsafe { _mm256_storeu_si256(out.add(8 * q).cast(), *w) };
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn blocks16_avx512(words: [std::arch::x86_64::__m512i; 4], out: *mut u32) {
        use std::arch::x86_64::*;
        for (q, w) in words.iter().enumerate() {
            // SAFETY: word 16 q + 16 <= 64 = 16 * PER_BLOCK, inside `out`.
            unsafe { _mm512_storeu_si512(out.add(16 * q).cast(), *w) };
        }
    }
}

/// Numbers of sixteen consecutive blocks from `first` on with AVX-512.
///
/// # Safety
/// The CPU has AVX-512; `out` holds `16 * M::PER_BLOCK` numbers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn fill16_avx512<M: BlockMap>(
    key: [u32; 2],
    address: [u32; 3],
    first: u32,
    out: *mut M::Number,
) {
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
unsafe fn fill8_avx2<M: BlockMap>(
    key: [u32; 2],
    address: [u32; 3],
    first: u32,
    out: *mut M::Number,
) {
    let words = philox::avx2::rounds(philox::avx2::counters8(first, address), key);
    // SAFETY: the caller's guarantees.
    unsafe { M::blocks8_avx2(philox::avx2::block_major(words), out) }
}

/// Writes the numbers of blocks `first, first + 1, ...` of the sequence at `address` to `out`
/// (the last block's numbers may be cut short): sixteen or eight blocks at a time with the
/// widest instruction set the CPU has; a last part of more than eight blocks as a group of
/// sixteen (AVX-512), of more than two as a group of eight, through a buffer; single blocks at
/// the end. The same bits on every path.
#[inline]
fn fill<M: BlockMap>(key: [u32; 2], address: [u32; 3], first: u32, out: &mut [M::Number]) {
    let per = M::PER_BLOCK;
    let mut block = first;
    let mut rest = out;
    #[cfg(target_arch = "x86_64")]
    {
        let isa = isa();
        if isa >= Isa::Avx512 {
            while rest.len() >= 16 * per {
                // SAFETY: AVX-512 is there, and `rest` holds 16 blocks' numbers.
                unsafe { fill16_avx512::<M>(key, address, block, rest.as_mut_ptr()) };
                block = block.wrapping_add(16);
                rest = &mut rest[16 * per..];
            }
            // More than eight blocks left: one group of sixteen costs less than a group of
            // eight and what follows it (a row's normals often end so).
            if rest.len() > 8 * per {
                let mut last = [M::Number::default(); 128];
                // SAFETY: AVX-512 is there, and `last` holds 16 blocks' numbers.
                unsafe { fill16_avx512::<M>(key, address, block, last.as_mut_ptr()) };
                let n = rest.len();
                rest.copy_from_slice(&last[..n]);
                return;
            }
        }
        if isa >= Isa::Avx2 {
            while rest.len() >= 8 * per {
                // SAFETY: AVX2 is there, and `rest` holds 8 blocks' numbers.
                unsafe { fill8_avx2::<M>(key, address, block, rest.as_mut_ptr()) };
                block = block.wrapping_add(8);
                rest = &mut rest[8 * per..];
            }
            if rest.len() > 2 * per {
                let mut last = [M::Number::default(); 64];
                // SAFETY: AVX2 is there, and `last` holds 8 blocks' numbers.
                unsafe { fill8_avx2::<M>(key, address, block, last.as_mut_ptr()) };
                let n = rest.len();
                rest.copy_from_slice(&last[..n]);
                return;
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

/// Writes elements `first ..` of the long sequence `base` ([`Stream::normal_in`]) to `out`:
/// a leading part of a block, then whole blocks by [`fill`], address after address.
fn fill_in<M: BlockMap>(key: [u32; 2], base: [u32; 2], first: u64, out: &mut [M::Number]) {
    let per = M::PER_BLOCK;
    let (mut e, mut rest) = (first, out);
    while !rest.is_empty() {
        let address = [base[0], base[1], (e >> 32) as u32];
        let k = e as u32;
        // What is left of this address (2^32 elements, whole blocks).
        let here = ((1u64 << 32) - u64::from(k)).min(rest.len() as u64) as usize;
        let (now, later) = std::mem::take(&mut rest).split_at_mut(here);
        let (mut block, skip) = (k / per as u32, k as usize % per);
        let mut now = now;
        if skip > 0 {
            let numbers = M::block(philox4x32_10(
                [block, address[0], address[1], address[2]],
                key,
            ));
            let n = (per - skip).min(now.len());
            now[..n].copy_from_slice(&numbers[skip..skip + n]);
            now = &mut now[n..];
            block = block.wrapping_add(1);
        }
        fill::<M>(key, address, block, now);
        e += here as u64;
        rest = later;
    }
}

/// Blocks a [`Sequence`] computes at a time.
const SEQUENCE_BLOCKS: u32 = 16;

/// An endless sequence of numbers drawn from one address of a stream, computed sixteen blocks
/// at a time when first needed.
#[derive(Debug)]
pub(crate) struct Sequence<'a, M: BlockMap> {
    stream: &'a Stream,
    address: [u32; 3],
    block: u32,
    buffer: [M::Number; 128],
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
            buffer: [M::Number::default(); 128],
            next: Self::LEN,
            map: std::marker::PhantomData,
        }
    }

    /// The next number of the sequence.
    #[inline(always)]
    pub fn draw(&mut self) -> M::Number {
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

/// A source of standard normals drawn one after the other: the normal sequence at one address
/// of a [`Stream`], drawn as it goes or computed beforehand.
pub trait NormalSource {
    /// The next normal.
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
pub(crate) struct Drawn<'a> {
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
    type Item = M::Number;

    #[inline(always)]
    fn next(&mut self) -> Option<M::Number> {
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

    /// The numbers of blocks `first ..` one block at a time, the plain definition, as the bits
    /// of their f64 values.
    fn by_block<M: BlockMap>(s: &Stream, address: [u32; 3], first: u32, n: usize) -> Vec<u64>
    where
        f64: From<M::Number>,
    {
        (0..n)
            .map(|k| {
                let block = first.wrapping_add((k / M::PER_BLOCK) as u32);
                f64::from(M::block(s.block(address, block))[k % M::PER_BLOCK]).to_bits()
            })
            .collect()
    }

    fn bits<T: Copy>(v: &[T]) -> Vec<u64>
    where
        f64: From<T>,
    {
        v.iter().map(|&x| f64::from(x).to_bits()).collect()
    }

    fn vector_fills_equal_blocks<M: BlockMap>()
    where
        f64: From<M::Number>,
    {
        let s = Stream::new(2, Op::Update, Purpose::PulseNoise, 5);
        let address = [3, 1, 4];
        let isa = crate::cpu::detected_isa();
        for first in [0u32, 7, u32::MAX - 9] {
            #[cfg(target_arch = "x86_64")]
            {
                let mut v = vec![M::Number::default(); 16 * M::PER_BLOCK];
                if isa >= Isa::Avx2 {
                    // SAFETY: AVX2 is there, and `v` holds 8 blocks' numbers.
                    unsafe { fill8_avx2::<M>(s.key, address, first, v.as_mut_ptr()) };
                    let n = 8 * M::PER_BLOCK;
                    assert_eq!(bits(&v[..n]), by_block::<M>(&s, address, first, n));
                }
                if isa >= Isa::Avx512 {
                    // SAFETY: AVX-512 is there, and `v` holds 16 blocks' numbers.
                    unsafe { fill16_avx512::<M>(s.key, address, first, v.as_mut_ptr()) };
                    assert_eq!(bits(&v), by_block::<M>(&s, address, first, v.len()));
                }
            }
            for n in [1usize, 5, 8, 63, 64, 65, 100, 200, 333] {
                let mut v = vec![M::Number::default(); n];
                fill::<M>(s.key, address, first, &mut v);
                assert_eq!(bits(&v), by_block::<M>(&s, address, first, n), "n {n}");
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
    fn vector_fills_of_words_equal_the_blocks() {
        vector_fills_equal_blocks::<Word>();
        let s = Stream::new(9, Op::Update, Purpose::PulseTrainX, 1);
        let mut v = vec![0u32; 77];
        s.fill_words([1, 2, 3], &mut v);
        for (k, &w) in v.iter().enumerate() {
            assert_eq!(w, s.word_at([1, 2, 3], k as u32));
        }
    }

    #[test]
    fn long_sequences_fill_from_anywhere() {
        let s = Stream::new(6, Op::Forward, Purpose::OutputNoise, 2);
        let base = [3, 0];
        for first in [0u64, 5, 8, 77, (1 << 32) - 3, (1 << 32) + 1] {
            let mut v = vec![0.0f32; 40];
            s.fill_normals_in(base, first, &mut v);
            for (q, x) in v.iter().enumerate() {
                assert_eq!(x.to_bits(), s.normal_in(base, first + q as u64).to_bits());
            }
            s.fill_uniforms_in(base, first, &mut v);
            for (q, x) in v.iter().enumerate() {
                assert_eq!(x.to_bits(), s.uniform_in(base, first + q as u64).to_bits());
            }
        }
    }

    #[test]
    fn filled_numbers_equal_the_sequence() {
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
