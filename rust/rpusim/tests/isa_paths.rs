//! Every instruction-set path the CPU offers (portable, AVX2, AVX-512) gives the bits of the
//! reference implementation, over random shapes and configurations. Its own test binary:
//! the instruction-set cap is process-wide.

mod common;

use common::reference_check::{check, config_strategy};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use rpusim::cpu::detected_isa;
use rpusim::{set_max_isa, Isa, TileConfig};

#[test]
fn every_instruction_set_gives_the_reference_bits() {
    let cases = (
        1usize..24,
        1usize..70,
        0usize..9,
        config_strategy(),
        proptest::num::u64::ANY,
    );
    for isa in Isa::ALL.into_iter().filter(|&i| i <= detected_isa()) {
        set_max_isa(isa);
        assert_eq!(rpusim::cpu::isa(), isa);
        // The same cases for every path.
        let mut runner = TestRunner::deterministic();
        for _ in 0..96 {
            let (out, inp, n, config, seed) = cases.new_tree(&mut runner).unwrap().current();
            check(out, inp, n, config, seed, 0.05, 2);
        }
        check(257, 301, 67, TileConfig::default(), 7, 0.02, 2);
        check(37, 700, 1, TileConfig::default(), 3, 0.05, 2);
        // Dot products in three parts (the last one ragged), rows packed: 9 samples.
        check(29, 1100, 9, TileConfig::default(), 5, 0.05, 2);
    }
}
