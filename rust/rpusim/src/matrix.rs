//! The shaped arguments of a tile: a row-major float32 matrix view. A batch of `n` samples of
//! `k` values is an `n x k` matrix, a weight matrix `out_size x in_size`; the tile checks the
//! shape against its own sizes, so that the shape rules live here and not in every caller.

use crate::error::{Error, Result};
use crate::numeric::first_non_finite;

/// `rows x cols` values, row-major (row `b` is `data[b * cols..(b + 1) * cols]`): float32
/// inputs and weights, or the `bool` marks of clipped outputs.
#[derive(Debug, PartialEq)]
pub struct Matrix<'a, T = f32> {
    data: &'a [T],
    rows: usize,
    cols: usize,
}

// A view is copied whatever `T` is (a derive would ask `T: Copy`).
impl<T> Clone for Matrix<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Matrix<'_, T> {}

impl<'a, T> Matrix<'a, T> {
    /// The `rows x cols` matrix of `data`; an error unless `data` holds exactly `rows * cols`
    /// values.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::Shape {
                name: "matrix",
                expected: format!("{rows} x {cols} values"),
                got: format!("{} values", data.len()),
            });
        }
        Ok(Matrix { data, rows, cols })
    }

    /// The values, row-major.
    pub fn data(&self) -> &'a [T] {
        self.data
    }

    /// The number of rows (samples of a batch).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of values in a row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Checks that the matrix named `name` has `cols` columns (named `cols_name`, such as
    /// `in_size`) and, when given, `rows` rows.
    pub(crate) fn expect_shape(
        &self,
        name: &'static str,
        rows: Option<usize>,
        cols: usize,
        cols_name: &str,
    ) -> Result<()> {
        if self.cols != cols || rows.is_some_and(|r| r != self.rows) {
            let rows = rows.map_or_else(|| "n".to_string(), |r| r.to_string());
            return Err(Error::Shape {
                name,
                expected: format!("({rows}, {cols_name} = {cols})"),
                got: format!("({}, {})", self.rows, self.cols),
            });
        }
        Ok(())
    }
}

impl Matrix<'_, f32> {
    /// [`Matrix::expect_shape`], and that every value is finite.
    pub(crate) fn expect(
        &self,
        name: &'static str,
        rows: Option<usize>,
        cols: usize,
        cols_name: &str,
    ) -> Result<()> {
        self.expect_shape(name, rows, cols, cols_name)?;
        if let Some(index) = first_non_finite(self.data) {
            return Err(Error::NonFinite {
                name,
                index,
                value: self.data[index],
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_the_number_of_values() {
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let m = Matrix::new(&data, 2, 3).unwrap();
        assert_eq!((m.rows(), m.cols(), m.data()), (2, 3, &data[..]));
        assert!(Matrix::new(&data, 3, 3).is_err());
        assert!(Matrix::new(&data, usize::MAX, 2).is_err());
        assert!(Matrix::<f32>::new(&[], 0, 5).is_ok());
    }

    #[test]
    fn expect_names_the_matrix_and_the_size() {
        let data = [1.0, 2.0, 3.0, f32::NAN];
        let m = Matrix::new(&data[..3], 1, 3).unwrap();
        assert!(m.expect("x", None, 3, "in_size").is_ok());
        assert!(m.expect("x", Some(1), 3, "in_size").is_ok());
        let e = m.expect("x", None, 4, "in_size").unwrap_err().to_string();
        assert_eq!(e, "x: expected shape (n, in_size = 4), got (1, 3)");
        let e = m
            .expect("d", Some(2), 3, "out_size")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "d: expected shape (2, out_size = 3), got (1, 3)");
        let bad = Matrix::new(&data, 2, 2).unwrap();
        assert!(matches!(
            bad.expect("x", None, 2, "in_size"),
            Err(Error::NonFinite { index: 3, .. })
        ));
    }
}
