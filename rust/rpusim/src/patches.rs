//! The patches of a 2-D convolution as the rows of a matrix (im2col), and the sum of such rows
//! back onto the images (col2im): how a convolution layer feeds a tile, and how the input
//! gradient of its backward pass is formed.
//!
//! A convolution of `batch` images of `channels x height x width` values with a kernel of
//! `kh x kw` has one patch per sample and output position, `batch * out_h * out_w` rows of
//! `channels * kh * kw` values, in the order of a weight row (channel, kernel row, kernel
//! column) and, down the rows, sample by sample and position by position (row-major). A value
//! of a patch that falls on the zero padding is 0. [`Patches::fold`] is the adjoint: every
//! value of every patch is added onto the image pixel it was taken from (values on the padding
//! are dropped).
//!
//! Both work image by image, each image wholly on one worker in a fixed order, so the results
//! (the order of the float sums of `fold` included) do not depend on the thread count.

use crate::alloc;
use crate::error::{Error, Result};
use crate::threads;

/// Nanoseconds per value copied, for the decision to use the worker threads (a copy with
/// strided reads: about one value per nanosecond on one core).
const NS_PER_VALUE: usize = 1;

/// The geometry of the patches of a 2-D convolution (torch's `Conv2d` parameters; a 1-D
/// convolution is one of height 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patches {
    batch: usize,
    channels: usize,
    size: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    out: [usize; 2],
}

impl Patches {
    /// The patches of `batch` images of `channels x size[0] x size[1]` for a kernel of
    /// `kernel[0] x kernel[1]`, with the given stride, zero padding on both sides and dilation
    /// (height first). An error names the parameter when a kernel, stride or dilation is 0, when
    /// the dilated kernel does not fit the padded image, or when the sizes overflow.
    pub fn new(
        batch: usize,
        channels: usize,
        size: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Result<Self> {
        for (name, v) in [
            ("kernel", kernel),
            ("stride", stride),
            ("dilation", dilation),
        ] {
            if v.contains(&0) {
                return Err(Error::invalid(name, format!("must be >= 1, got {v:?}")));
            }
        }
        let overflow = || Error::invalid("size", "the patches' sizes overflow".to_string());
        let mut out = [0; 2];
        for a in 0..2 {
            let padded = padding[a]
                .checked_mul(2)
                .and_then(|p| p.checked_add(size[a]))
                .ok_or_else(overflow)?;
            let span = (kernel[a] - 1)
                .checked_mul(dilation[a])
                .and_then(|s| s.checked_add(1))
                .ok_or_else(overflow)?;
            if span > padded {
                return Err(Error::invalid(
                    "kernel",
                    format!(
                        "the dilated kernel ({span} values) is larger than the padded input \
                         ({padded} values) along dimension {a}"
                    ),
                ));
            }
            out[a] = (padded - span) / stride[a] + 1;
        }
        let geometry = Patches {
            batch,
            channels,
            size,
            kernel,
            stride,
            padding,
            dilation,
            out,
        };
        // Every count the methods use must fit.
        let product = |factors: &[usize]| {
            factors
                .iter()
                .try_fold(1usize, |p, &f| p.checked_mul(f))
                .ok_or_else(overflow)
        };
        product(&[batch, channels, size[0], size[1]])?;
        product(&[batch, out[0], out[1], channels, kernel[0], kernel[1]])?;
        Ok(geometry)
    }

    /// The output positions per image, `[out_h, out_w]`.
    pub fn out_size(&self) -> [usize; 2] {
        self.out
    }

    /// The patches: `batch * out_h * out_w`.
    pub fn rows(&self) -> usize {
        self.batch * self.out[0] * self.out[1]
    }

    /// The values of a patch: `channels * kh * kw`.
    pub fn cols(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// The values of one image: `channels * height * width`.
    fn image_len(&self) -> usize {
        self.channels * self.size[0] * self.size[1]
    }

    /// The values of all images.
    pub fn images_len(&self) -> usize {
        self.batch * self.image_len()
    }

    /// The image pixel (row, column) that kernel position `k` of output position `o` reads
    /// along dimension `a`, or `None` on the padding.
    #[inline]
    fn source(&self, a: usize, o: usize, k: usize) -> Option<usize> {
        (o * self.stride[a] + k * self.dilation[a])
            .checked_sub(self.padding[a])
            .filter(|&p| p < self.size[a])
    }

    /// Checks that `got` values are `expected` of `name`.
    fn check_len(name: &'static str, got: usize, expected: usize, what: &str) -> Result<()> {
        if got == expected {
            return Ok(());
        }
        Err(Error::Shape {
            name,
            expected: format!("{expected} values ({what})"),
            got: format!("{got} values"),
        })
    }

    /// The patches of `images` (`batch x channels x height x width`, row-major) as a
    /// `rows() x cols()` row-major matrix.
    pub fn unfold(&self, images: &[f32]) -> Result<Vec<f32>> {
        let what = "batch x channels x height x width";
        Self::check_len("images", images.len(), self.images_len(), what)?;
        let mut out = alloc::zeros(self.rows() * self.cols(), "patches")?;
        let per_image = self.out[0] * self.out[1] * self.cols();
        let work = out.len() * NS_PER_VALUE;
        let offsets = self.offsets()?;
        threads::map_chunks(&mut out, per_image, work, |n, rows| {
            let image = &images[n * self.image_len()..(n + 1) * self.image_len()];
            self.unfold_image(image, rows, &offsets);
        });
        Ok(out)
    }

    /// The patches of one image into its rows (zeroed: the padding stays 0).
    fn unfold_image(&self, image: &[f32], rows: &mut [f32], offsets: &[usize]) {
        for (r, patch) in rows.chunks_exact_mut(self.cols()).enumerate() {
            self.each_value(r, offsets, |j, pixel| patch[j] = image[pixel]);
        }
    }

    /// The images whose pixels are the sums of the values of `patches` (a `rows() x cols()`
    /// row-major matrix, as [`Patches::unfold`] gives) taken from them: the adjoint of
    /// `unfold`, the input gradient of a convolution from the gradient of its patches. Each
    /// pixel sums its values in the order of the patches, then of the values in a patch.
    pub fn fold(&self, patches: &[f32]) -> Result<Vec<f32>> {
        Self::check_len(
            "patches",
            patches.len(),
            self.rows() * self.cols(),
            "rows x cols",
        )?;
        let mut images = alloc::zeros(self.images_len(), "images")?;
        let per_image = self.out[0] * self.out[1] * self.cols();
        let work = patches.len() * NS_PER_VALUE;
        let offsets = self.offsets()?;
        threads::map_chunks(&mut images, self.image_len(), work, |n, image| {
            self.fold_image(
                &patches[n * per_image..(n + 1) * per_image],
                image,
                &offsets,
            );
        });
        Ok(images)
    }

    /// Adds the rows of one image's patches onto the image, row after row, value after value.
    fn fold_image(&self, rows: &[f32], image: &mut [f32], offsets: &[usize]) {
        for (r, patch) in rows.chunks_exact(self.cols()).enumerate() {
            self.each_value(r, offsets, |j, pixel| image[pixel] += patch[j]);
        }
    }

    /// Calls `f(j, pixel)` for every value `j` of patch row `r` that is not on the padding, in
    /// order, with the index of its pixel in the image: from the precomputed `offsets` when
    /// the patch lies inside the image (most of them), pixel by pixel at the borders.
    #[inline]
    fn each_value(&self, r: usize, offsets: &[usize], mut f: impl FnMut(usize, usize)) {
        let (oy, ox) = (r / self.out[1], r % self.out[1]);
        match self.interior(oy, ox) {
            Some(base) => {
                for (j, &o) in offsets.iter().enumerate() {
                    f(j, base + o);
                }
            }
            None => self.each_pixel(oy, ox, f),
        }
    }

    /// The offset of every value of a patch from the pixel of its first value, when no value
    /// is on the padding: `(c * h + ky * dh) * w + kx * dw`.
    fn offsets(&self) -> Result<Vec<usize>> {
        let [h, w] = self.size;
        let [kh, kw] = self.kernel;
        let [dh, dw] = self.dilation;
        let all = (0..self.channels)
            .flat_map(|c| (0..kh).flat_map(move |ky| (0..kw).map(move |kx| (c, ky, kx))))
            .map(|(c, ky, kx)| (c * h + ky * dh) * w + kx * dw);
        alloc::collect(self.cols(), all, "patch offsets")
    }

    /// The pixel of the first value of the patch at output position `(oy, ox)` when none of
    /// its values falls on the padding.
    #[inline]
    fn interior(&self, oy: usize, ox: usize) -> Option<usize> {
        let y = self.source(0, oy, 0)?;
        let x = self.source(1, ox, 0)?;
        let last = |a: usize, first: usize| first + (self.kernel[a] - 1) * self.dilation[a];
        (last(0, y) < self.size[0] && last(1, x) < self.size[1]).then_some(y * self.size[1] + x)
    }

    /// Calls `f(j, pixel)` for every value `j` of the patch at `(oy, ox)` that is not on the
    /// padding, in order, with the index of its pixel in the image.
    fn each_pixel(&self, oy: usize, ox: usize, mut f: impl FnMut(usize, usize)) {
        let [h, w] = self.size;
        let [kh, kw] = self.kernel;
        for c in 0..self.channels {
            for ky in 0..kh {
                let Some(y) = self.source(0, oy, ky) else {
                    continue;
                };
                for kx in 0..kw {
                    if let Some(x) = self.source(1, ox, kx) {
                        f((c * kh + ky) * kw + kx, (c * h + y) * w + x);
                    }
                }
            }
        }
    }
}
