//! Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011): a counter-based generator, one block of four 32-bit words per 128-bit counter.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// One block for `counter` under `key`.
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// Eight blocks at once, structure of arrays: `out[w][l]` is word `w` of the block for counter
/// `(first + l, tail[0], tail[1], tail[2])`. Written lane-wise so that it compiles to SIMD;
/// equal to eight calls of [`philox4x32_10`].
#[inline(always)]
pub fn philox4x32_10_x8(first: u32, tail: [u32; 3], key: [u32; 2]) -> [[u32; 8]; 4] {
    let mut c = [[0u32; 8]; 4];
    for l in 0..8 {
        c[0][l] = first.wrapping_add(l as u32);
        c[1][l] = tail[0];
        c[2][l] = tail[1];
        c[3][l] = tail[2];
    }
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let mut next = [[0u32; 8]; 4];
        for l in 0..8 {
            let p0 = u64::from(M0) * u64::from(c[0][l]);
            let p1 = u64::from(M1) * u64::from(c[2][l]);
            next[0][l] = ((p1 >> 32) as u32) ^ c[1][l] ^ k[0];
            next[1][l] = p1 as u32;
            next[2][l] = ((p0 >> 32) as u32) ^ c[3][l] ^ k[1];
            next[3][l] = p0 as u32;
        }
        c = next;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_random123_known_answers() {
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
    fn eight_lanes_equal_eight_blocks() {
        let key = [0x1234_5678, 0x9abc_def0];
        let tail = [7, 8, 9];
        for first in [0u32, 5, u32::MAX - 3] {
            let x8 = philox4x32_10_x8(first, tail, key);
            for l in 0..8 {
                let one = philox4x32_10([first.wrapping_add(l as u32), 7, 8, 9], key);
                for w in 0..4 {
                    assert_eq!(x8[w][l], one[w]);
                }
            }
        }
    }
}
