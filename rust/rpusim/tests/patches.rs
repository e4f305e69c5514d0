//! The patches of a convolution (`Patches::unfold`) against their definition, written out
//! index by index; `fold` as its adjoint; both the same bits at 1, 2 and 7 threads (this file
//! is its own test binary, because the thread count is process-wide).

mod common;

use common::{bits, uniform};
use rpusim::{set_num_threads, Error, Patches};

/// Batch, channels, size, kernel, stride, padding, dilation.
type Case = (
    usize,
    usize,
    [usize; 2],
    [usize; 2],
    [usize; 2],
    [usize; 2],
    [usize; 2],
);

const CASES: [Case; 7] = [
    (2, 3, [5, 6], [3, 3], [1, 1], [1, 1], [1, 1]),
    (3, 2, [7, 5], [2, 3], [2, 1], [0, 2], [1, 1]),
    (1, 4, [9, 8], [3, 2], [2, 3], [1, 0], [2, 3]),
    (2, 1, [1, 11], [1, 3], [1, 2], [0, 1], [1, 2]),
    (1, 2, [4, 4], [4, 4], [1, 1], [0, 0], [1, 1]),
    (2, 3, [6, 6], [1, 1], [3, 2], [2, 1], [1, 1]),
    // Many images, so the work goes over the threads.
    (64, 8, [12, 12], [3, 3], [1, 1], [1, 1], [1, 1]),
];

fn geometry(c: &Case) -> Patches {
    Patches::new(c.0, c.1, c.2, c.3, c.4, c.5, c.6).unwrap()
}

/// Output size along one dimension, by torch's formula.
fn out_len(size: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    (size + 2 * p - d * (k - 1) - 1) / s + 1
}

/// The patches by their definition: value `(c, ky, kx)` of the patch of image `n` at `(oy, ox)`
/// is the pixel `(c, oy s + ky d - p, ox s + kx d - p)`, 0 outside the image.
fn definition(c: &Case, images: &[f32]) -> Vec<f32> {
    let &(batch, channels, [h, w], [kh, kw], [sh, sw], [ph, pw], [dh, dw]) = c;
    let (oh, ow) = (out_len(h, kh, sh, ph, dh), out_len(w, kw, sw, pw, dw));
    let mut out = Vec::new();
    for n in 0..batch {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..channels {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let y = (oy * sh + ky * dh) as isize - ph as isize;
                            let x = (ox * sw + kx * dw) as isize - pw as isize;
                            let inside =
                                (0..h as isize).contains(&y) && (0..w as isize).contains(&x);
                            out.push(if inside {
                                images[((n * channels + ch) * h + y as usize) * w + x as usize]
                            } else {
                                0.0
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// Small whole numbers, whose sums are exact in any order.
fn whole(n: usize, seed: u64) -> Vec<f32> {
    uniform(n, -8.0, 8.0, seed)
        .iter()
        .map(|v| v.round())
        .collect()
}

#[test]
fn unfold_is_the_definition_and_fold_its_adjoint_at_any_thread_count() {
    let mut first: Option<Vec<(Vec<u32>, Vec<u32>)>> = None;
    for threads in [1, 2, 7] {
        set_num_threads(threads).unwrap();
        let mut seen = Vec::new();
        for (k, case) in CASES.iter().enumerate() {
            let g = geometry(case);
            let images = uniform(g.images_len(), -1.0, 1.0, k as u64);
            let patches = g.unfold(&images).unwrap();
            assert_eq!(patches.len(), g.rows() * g.cols());
            assert_eq!(bits(&patches), bits(&definition(case, &images)), "case {k}");

            // <unfold(x), p> = <x, fold(p)>, exactly on whole numbers.
            let x = whole(g.images_len(), 100 + k as u64);
            let p = whole(g.rows() * g.cols(), 200 + k as u64);
            let folded = g.fold(&p).unwrap();
            let left: f64 = g
                .unfold(&x)
                .unwrap()
                .iter()
                .zip(&p)
                .map(|(a, b)| f64::from(a * b))
                .sum();
            let right: f64 = x.iter().zip(&folded).map(|(a, b)| f64::from(a * b)).sum();
            assert_eq!(left, right, "case {k}");

            let grads = uniform(g.rows() * g.cols(), -1.0, 1.0, 300 + k as u64);
            seen.push((bits(&patches), bits(&g.fold(&grads).unwrap())));
        }
        match &first {
            None => first = Some(seen),
            Some(expected) => assert!(*expected == seen, "{threads} threads differ from 1"),
        }
    }
}

#[test]
fn the_output_size_is_torchs() {
    for case in &CASES {
        let g = geometry(case);
        let expected =
            [0, 1].map(|a| out_len(case.2[a], case.3[a], case.4[a], case.5[a], case.6[a]));
        assert_eq!(g.out_size(), expected);
        assert_eq!(g.rows(), case.0 * expected[0] * expected[1]);
        assert_eq!(g.cols(), case.1 * case.3[0] * case.3[1]);
    }
}

#[test]
fn bad_geometry_and_wrong_lengths_are_errors_naming_the_argument() {
    let name = |e: Error| match e {
        Error::InvalidParameter { name, .. } => name,
        Error::Shape { name, .. } => name.to_string(),
        e => panic!("unexpected {e:?}"),
    };
    let new =
        |k: [usize; 2], s: [usize; 2], d: [usize; 2]| Patches::new(1, 1, [4, 4], k, s, [0, 0], d);
    assert_eq!(name(new([0, 3], [1, 1], [1, 1]).unwrap_err()), "kernel");
    assert_eq!(name(new([3, 3], [1, 0], [1, 1]).unwrap_err()), "stride");
    assert_eq!(name(new([3, 3], [1, 1], [0, 1]).unwrap_err()), "dilation");
    assert_eq!(name(new([5, 3], [1, 1], [1, 1]).unwrap_err()), "kernel");
    assert_eq!(name(new([3, 3], [1, 1], [2, 1]).unwrap_err()), "kernel");
    let huge = Patches::new(usize::MAX / 2, 4, [4, 4], [1, 1], [1, 1], [0, 0], [1, 1]);
    assert_eq!(name(huge.unwrap_err()), "size");
    let g = geometry(&CASES[0]);
    assert_eq!(name(g.unfold(&[0.0; 3]).unwrap_err()), "images");
    assert_eq!(name(g.fold(&[0.0; 3]).unwrap_err()), "patches");
}
