//! The Rust example `examples/two_layer.rs` learns: its short run reaches the accuracy its
//! `main` demands (`cargo run --release -p rpusim --example two_layer -- --quick`).

#[allow(dead_code)]
#[path = "../examples/two_layer.rs"]
mod two_layer;

#[test]
fn the_two_layer_example_learns() {
    let accuracy = two_layer::train(two_layer::QUICK_EPOCHS).unwrap();
    assert!(
        accuracy >= two_layer::REQUIRED_ACCURACY,
        "test accuracy {accuracy}"
    );
}
