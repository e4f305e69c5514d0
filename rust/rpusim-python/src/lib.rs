//! `rpusim._native`: the engine's tiles for Python. Conversion, GIL release and error mapping
//! only; the public, typed API is the Python package around it.

mod lock;
mod signals;

use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArray3, PyArray4, PyReadonlyArray, PyReadonlyArray2,
    PyReadonlyArray3, PyReadonlyArray4, PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyIndexError, PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use rpusim::{DeviceConfig, Error, Interrupt, Matrix, Patches, Tile, TileArray, TileConfig};

use lock::ForkAwareLock;

/// Freed large buffers (batches, outputs, patches) are kept for the next call instead of being
/// faulted in again page by page (`rpusim::buffer_cache`).
#[global_allocator]
static ALLOCATOR: rpusim::BufferCache = rpusim::BufferCache::new();
use signals::SignalPoll;

create_exception!(
    rpusim,
    RPUSimError,
    PyValueError,
    "An argument, configuration or state rpusim refuses; the message names the parameter."
);
create_exception!(
    rpusim,
    ConfigError,
    RPUSimError,
    "A configuration that is unreadable or has a value out of its range."
);
create_exception!(
    rpusim,
    StateError,
    RPUSimError,
    "Saved state bytes that are corrupt, truncated or of an unknown format version."
);

/// The one place an engine error becomes a Python exception (a function: the orphan rule
/// forbids `From<rpusim::Error> for PyErr` in this crate): a corrupt state is a [`StateError`],
/// an unreadable configuration a [`ConfigError`], threads that cannot start a `RuntimeError`
/// (and so an interrupt without the exception that caused it, which [`PyTile::update`] raises
/// instead), memory that cannot be allocated a `MemoryError`, everything else (shapes,
/// non-finite values, out-of-range arguments) an [`RPUSimError`].
fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::State(_) => StateError::new_err(message),
        Error::Config(_) => ConfigError::new_err(message),
        Error::Threads(_) | Error::Interrupted { .. } => PyRuntimeError::new_err(message),
        Error::OutOfMemory { .. } => PyMemoryError::new_err(message),
        Error::Shape { .. } | Error::NonFinite { .. } | Error::InvalidParameter { .. } => {
            RPUSimError::new_err(message)
        }
    }
}

/// A configuration's errors, whatever the engine calls them (an unreadable document, a value out
/// of range, a change a live tile refuses), are [`ConfigError`]s.
fn config_error(e: Error) -> PyErr {
    ConfigError::new_err(e.to_string())
}

fn read_config(config_json: &str) -> PyResult<TileConfig> {
    TileConfig::from_json(config_json).map_err(config_error)
}

/// A C-contiguous array as its values, or an error naming `name`.
fn contiguous<'a, T: numpy::Element, D: numpy::ndarray::Dimension>(
    name: &'static str,
    a: &'a PyReadonlyArray<'_, T, D>,
) -> PyResult<&'a [T]> {
    // `as_slice` also takes a Fortran-ordered array, whose slice is in the wrong order here.
    if !a.is_c_contiguous() {
        return Err(to_py(Error::Shape {
            name,
            expected: "a C-contiguous array".into(),
            got: "another memory layout".into(),
        }));
    }
    a.as_slice()
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// The values of a C-contiguous float32 matrix, copied. The engine checks and reads this copy,
/// which no other thread can change: the caller's array can be written by another Python thread
/// while the GIL is released, after the engine's finite check and before its last read (a NaN
/// written so reached the weights). A copy costs one pass over the batch, the call a pass over
/// the batch for every row or column of the tile.
struct Owned {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Owned {
    fn new(name: &'static str, a: &PyReadonlyArray2<'_, f32>) -> PyResult<Self> {
        Ok(Owned {
            data: rpusim::copied(contiguous(name, a)?, name).map_err(to_py)?,
            rows: a.shape()[0],
            cols: a.shape()[1],
        })
    }

    /// The engine's view of the copy (whose shape the engine checks).
    fn matrix(&self) -> PyResult<Matrix<'_>> {
        Matrix::new(&self.data, self.rows, self.cols).map_err(to_py)
    }
}

/// One weight matrix on a grid of analog arrays (see `rpusim.AnalogTile` for the documented
/// API).
///
/// Calls release the GIL. The array sits behind a lock, so calls on one from several Python
/// threads run one after the other instead of failing; in a process forked while a thread was
/// inside a call, the tile is refused with a `RuntimeError` (`lock.rs`).
#[pyclass(frozen, module = "rpusim._native", name = "Tile")]
struct PyTile {
    tile: ForkAwareLock<TileArray>,
    // A tile's sizes and seed never change: kept here, the getters (read on every call from
    // Python) need neither the lock nor a GIL round trip.
    out_size: usize,
    in_size: usize,
    seed: u64,
}

impl PyTile {
    fn wrap(tile: TileArray) -> Self {
        PyTile {
            out_size: tile.out_size(),
            in_size: tile.in_size(),
            seed: tile.seed(),
            tile: ForkAwareLock::new(tile),
        }
    }

    /// Runs `f` on the tile with the GIL released.
    fn run<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut TileArray) -> rpusim::Result<R> + Send,
    ) -> PyResult<R> {
        self.run_mapped(py, to_py, f)
    }

    /// [`PyTile::run`] with the engine's error mapped by `map`.
    fn run_mapped<R: Send>(
        &self,
        py: Python<'_>,
        map: fn(Error) -> PyErr,
        f: impl FnOnce(&mut TileArray) -> rpusim::Result<R> + Send,
    ) -> PyResult<R> {
        py.detach(|| {
            let mut tile = self.tile.lock()?;
            f(&mut tile).map_err(map)
        })
    }

    /// Runs `f` on physical array `k` (an IndexError past the last).
    fn on_tile<R: Send>(
        &self,
        py: Python<'_>,
        k: usize,
        f: impl FnOnce(&Tile, &TileArray) -> PyResult<R> + Send,
    ) -> PyResult<R> {
        py.detach(|| {
            let array = self.tile.lock()?;
            match array.tiles().get(k) {
                Some(tile) => f(tile, &array),
                None => Err(PyIndexError::new_err(format!(
                    "k: expected a tile index in [0, {}), got {k}",
                    array.tiles().len()
                ))),
            }
        })
    }

    /// A new `rows x cols` float32 array that `fill` writes (the engine's `*_into` calls),
    /// allocated by the engine: a `MemoryError` when it cannot be (numpy's own allocation
    /// would end in a panic).
    fn into_new<'py>(
        py: Python<'py>,
        rows: usize,
        cols: usize,
        fill: impl FnOnce(&mut [f32]) -> PyResult<()>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let size = rows.saturating_mul(cols);
        let mut out = rpusim::zeros(size, "output").map_err(to_py)?;
        fill(&mut out)?;
        Self::output(py, out, rows, cols)
    }

    fn output<'py>(
        py: Python<'py>,
        v: Vec<f32>,
        rows: usize,
        cols: usize,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let a = numpy::ndarray::Array2::from_shape_vec((rows, cols), v)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(a.into_pyarray(py))
    }
}

#[pymethods]
impl PyTile {
    #[new]
    fn new(
        py: Python<'_>,
        out_size: usize,
        in_size: usize,
        config_json: &str,
        seed: u64,
    ) -> PyResult<Self> {
        let config = read_config(config_json)?;
        let tile = py
            .detach(|| TileArray::new(out_size, in_size, config, seed))
            .map_err(to_py)?;
        Ok(PyTile::wrap(tile))
    }

    #[getter]
    fn out_size(&self) -> usize {
        self.out_size
    }

    #[getter]
    fn in_size(&self) -> usize {
        self.in_size
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.seed
    }

    /// `(forward, backward, update)` call counters.
    fn counters(&self, py: Python<'_>) -> PyResult<(u64, u64, u64)> {
        self.run(py, |t| {
            let c = t.counters();
            Ok((c.forward, c.backward, c.update))
        })
    }

    /// Which equal part of a larger batch the passes compute (`TileArray::batch_shard`).
    #[getter]
    fn batch_shard(&self, py: Python<'_>) -> PyResult<u64> {
        self.run(py, |t| Ok(t.batch_shard()))
    }

    #[setter]
    fn set_batch_shard(&self, py: Python<'_>, shard: u64) -> PyResult<()> {
        self.run(py, |t| {
            t.set_batch_shard(shard);
            Ok(())
        })
    }

    fn forward<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        is_test: bool,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let x = Owned::new("x", &x)?;
        let x = x.matrix()?;
        Self::into_new(py, x.rows(), self.out_size, |y| {
            self.run(py, |t| t.forward_into(x, is_test, y))
        })
    }

    /// The forward pass and which outputs of every array reached its output bound: `(y,
    /// clipped)` with `clipped` a `(grid columns, n, out_size)` bool array, or `None` when none
    /// did (or the pass has no output bound).
    #[allow(clippy::type_complexity)]
    fn forward_clipped<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        is_test: bool,
    ) -> PyResult<(
        Bound<'py, PyArray2<f32>>,
        Option<Bound<'py, PyArray3<bool>>>,
    )> {
        let x = Owned::new("x", &x)?;
        let x = x.matrix()?;
        let n = x.rows();
        let mut masks = Vec::new();
        let mut any = false;
        let y = Self::into_new(py, n, self.out_size, |y| {
            any = self.run(py, |t| {
                t.forward_clipped_into(x, is_test, y, Some(&mut masks))
            })?;
            Ok(())
        })?;
        if !any {
            return Ok((y, None));
        }
        let columns = masks.len();
        let flat: Vec<bool> = masks.into_iter().flatten().collect();
        let mask = numpy::ndarray::Array3::from_shape_vec((columns, n, self.out_size), flat)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok((y, Some(mask.into_pyarray(py))))
    }

    /// The backward pass with the errors of the outputs `clipped` marks (from
    /// `forward_clipped`) set to zero, array by array.
    fn backward_masked<'py>(
        &self,
        py: Python<'py>,
        d: PyReadonlyArray2<'py, f32>,
        clipped: PyReadonlyArray3<'py, bool>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let d = Owned::new("d", &d)?;
        let d = d.matrix()?;
        let [columns, rows, cols] = [clipped.shape()[0], clipped.shape()[1], clipped.shape()[2]];
        let flat = contiguous("clipped", &clipped)?;
        let masks = (0..columns)
            .map(|j| Matrix::new(&flat[j * rows * cols..(j + 1) * rows * cols], rows, cols))
            .collect::<rpusim::Result<Vec<_>>>()
            .map_err(to_py)?;
        Self::into_new(py, d.rows(), self.in_size, |z| {
            self.run(py, |t| t.backward_masked_into(d, z, Some(&masks)))
        })
    }

    fn backward<'py>(
        &self,
        py: Python<'py>,
        d: PyReadonlyArray2<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let d = Owned::new("d", &d)?;
        let d = d.matrix()?;
        Self::into_new(py, d.rows(), self.in_size, |z| {
            self.run(py, |t| t.backward_into(d, z))
        })
    }

    /// Pulses applied to the devices since the tile was made.
    #[getter]
    fn pulses(&self, py: Python<'_>) -> PyResult<u64> {
        self.run(py, |t| Ok(t.pulses()))
    }

    /// The update; Ctrl-C (or another signal whose handler raises) stops it between chunks of
    /// samples and raises the handler's exception, the tile holding its first samples applied,
    /// a whole number of them (`signals.rs`, `TileArray::update_interruptible`).
    fn update(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        d: PyReadonlyArray2<'_, f32>,
        lr: f32,
    ) -> PyResult<()> {
        let (x, d) = (Owned::new("x", &x)?, Owned::new("d", &d)?);
        let (x, d) = (x.matrix()?, d.matrix()?);
        let signals = SignalPoll::new();
        let poll = || signals.poll();
        let result = py.detach(|| -> PyResult<rpusim::Result<()>> {
            let mut tile = self.tile.lock()?;
            Ok(tile.update_interruptible(x, d, lr, &Interrupt::new(&poll)))
        })?;
        // A handler that raised after the last chunk's ask: the update is whole, and the
        // exception (the user's Ctrl-C) is raised all the same, as Python would have.
        match (signals.raised(), result) {
            (Some(raised), Err(stopped @ Error::Interrupted { .. })) => {
                // A note (Python >= 3.11) says how much of the update the tile holds.
                let value = raised.value(py);
                if value.hasattr("add_note")? {
                    value.call_method1("add_note", (format!("rpusim: {stopped}"),))?;
                }
                Err(raised)
            }
            (Some(raised), _) => Err(raised),
            (None, result) => result.map_err(to_py),
        }
    }

    /// The effective weights (with the digital scales), or the analog ones.
    fn get_weights<'py>(
        &self,
        py: Python<'py>,
        apply_weight_scaling: bool,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (w, rows, cols) = self.run(py, |t| {
            let w = if apply_weight_scaling {
                t.effective_weights()
            } else {
                t.weights()
            };
            Ok((w, t.out_size(), t.in_size()))
        })?;
        Self::output(py, w, rows, cols)
    }

    /// Maps and programs effective weights, or programs analog ones as they are.
    fn set_weights(
        &self,
        py: Python<'_>,
        w: PyReadonlyArray2<'_, f32>,
        apply_weight_scaling: bool,
    ) -> PyResult<()> {
        let w = Owned::new("weights", &w)?;
        let w = w.matrix()?;
        self.run(py, |t| {
            if apply_weight_scaling {
                t.set_weights(w)
            } else {
                t.program_weights(w)
            }
        })
    }

    fn get_out_scales<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let scales = self.run(py, |t| t.out_scales())?;
        Ok(scales.into_pyarray(py))
    }

    /// How many physical arrays hold the matrix.
    #[getter]
    fn tile_count(&self, py: Python<'_>) -> PyResult<usize> {
        self.run(py, |t| Ok(t.tiles().len()))
    }

    /// Rows `(start, stop)` and columns `(start, stop)` of physical array `k`.
    fn tile_block(&self, py: Python<'_>, k: usize) -> PyResult<((usize, usize), (usize, usize))> {
        self.on_tile(py, k, |_, array| {
            let (rows, cols) = array.tile_block(k);
            Ok(((rows.start, rows.end), (cols.start, cols.end)))
        })
    }

    /// Seed and pulses of physical array `k`, and its `(forward, backward, update)` counters.
    fn tile_info(&self, py: Python<'_>, k: usize) -> PyResult<(u64, u64, (u64, u64, u64))> {
        self.on_tile(py, k, |t, _| {
            let c = t.counters();
            Ok((t.seed(), t.pulses(), (c.forward, c.backward, c.update)))
        })
    }

    /// The effective (or analog) weights of physical array `k`.
    fn tile_weights<'py>(
        &self,
        py: Python<'py>,
        k: usize,
        apply_weight_scaling: bool,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (w, rows, cols) = self.on_tile(py, k, |t, _| {
            let w = if apply_weight_scaling {
                t.effective_weights()
            } else {
                t.weights().to_vec()
            };
            Ok((w, t.out_size(), t.in_size()))
        })?;
        Self::output(py, w, rows, cols)
    }

    /// The digital row scales of physical array `k`.
    fn tile_out_scales<'py>(
        &self,
        py: Python<'py>,
        k: usize,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let scales = self.on_tile(py, k, |t, _| Ok(t.out_scales().to_vec()))?;
        Ok(scales.into_pyarray(py))
    }

    fn remap(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |t| t.remap())
    }

    /// One pulse in direction `up` to every device (see `Tile::pulse` of the engine).
    fn pulse(&self, py: Python<'_>, up: bool) -> PyResult<()> {
        self.run(py, |t| t.pulse(up))
    }

    /// Resets `num_columns` columns from `start_column` on (see `Tile::reset_columns` of the
    /// engine).
    fn reset_columns(
        &self,
        py: Python<'_>,
        start_column: usize,
        num_columns: usize,
        reset_prob: f32,
    ) -> PyResult<()> {
        self.run(py, |t| {
            t.reset_columns(start_column, num_columns, reset_prob)
        })
    }

    /// The pulse counters, `(2 * counting devices, out_size, in_size)`, or `None` when no
    /// device counts (see `Tile::pulse_counts` of the engine).
    fn pulse_counts<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray3<u64>>>> {
        let (counts, rows, cols) =
            self.run(py, |t| Ok((t.pulse_counts(), t.out_size(), t.in_size())))?;
        let Some(counts) = counts else {
            return Ok(None);
        };
        let planes = counts.len() / (rows * cols);
        let a = numpy::ndarray::Array3::from_shape_vec((planes, rows, cols), counts)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(Some(a.into_pyarray(py)))
    }

    fn get_config_json(&self, py: Python<'_>) -> PyResult<String> {
        self.run(py, |t| Ok(t.config().to_json()))
    }

    fn set_config_json(&self, py: Python<'_>, config_json: &str) -> PyResult<()> {
        let config = read_config(config_json)?;
        self.run_mapped(py, config_error, |t| t.set_config(config))
    }

    /// Applies the JSON merge patch `patch_json` to the configuration (one parse, one
    /// validation); a refused patch leaves the tile as it was.
    fn patch_config(&self, py: Python<'_>, patch_json: &str) -> PyResult<()> {
        self.run_mapped(py, config_error, |t| {
            let config = t.config().patched(patch_json)?;
            t.set_config(config)
        })
    }

    /// `patch_config`'s checks without the change: `Ok` when it would take the patch.
    fn check_config_patch(&self, py: Python<'_>, patch_json: &str) -> PyResult<()> {
        self.run_mapped(py, config_error, |t| {
            t.check_config(&t.config().patched(patch_json)?)
        })
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.run(py, |t| Ok(t.to_bytes()))?;
        Ok(PyBytes::new(py, &bytes))
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, state: &[u8]) -> PyResult<Self> {
        let tile = py.detach(|| TileArray::from_bytes(state)).map_err(to_py)?;
        Ok(PyTile::wrap(tile))
    }
}

#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    rpusim::set_num_threads(n).map_err(to_py)
}

#[pyfunction]
fn get_num_threads() -> usize {
    rpusim::num_threads()
}

/// A configuration document checked by the engine (missing sections and fields take their
/// defaults), returned complete; a [`ConfigError`] naming the field otherwise.
#[pyfunction]
fn validate_config(py: Python<'_>, config_json: &str) -> PyResult<String> {
    py.detach(|| read_config(config_json).map(|c| c.to_json()))
}

/// One section of a configuration (`"forward"`, `"device"`, ...) checked on its own, its fields
/// named `{name}.{field}`; returns the section complete.
#[pyfunction]
fn validate_config_section(section: &str, section_json: &str, name: &str) -> PyResult<String> {
    TileConfig::validate_section(section, section_json, name).map_err(config_error)
}

/// The bytes an `out_size x in_size` tile of the configuration takes once built
/// (`rpusim::estimate_memory`).
#[pyfunction]
fn estimate_memory(out_size: usize, in_size: usize, config_json: &str) -> PyResult<u64> {
    let config = read_config(config_json)?;
    rpusim::estimate_memory(out_size, in_size, &config).map_err(to_py)
}

/// Height and width of a convolution parameter.
type Pair = (usize, usize);

/// The patches of a 2-D convolution of `batch x channels x height x width` images with a kernel
/// of `kernel`, `stride`, zero `padding` and `dilation`: `rpusim::Patches`, or an
/// `RPUSimError` naming the parameter that makes no convolution.
fn patches(
    shape: [usize; 4],
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    dilation: Pair,
) -> PyResult<Patches> {
    let pair = |(a, b): Pair| [a, b];
    let [batch, channels, h, w] = shape;
    Patches::new(
        batch,
        channels,
        [h, w],
        pair(kernel),
        pair(stride),
        pair(padding),
        pair(dilation),
    )
    .map_err(to_py)
}

/// Every patch of `images` (`batch x channels x height x width`) as a row,
/// `(batch * out_h * out_w, channels * kh * kw)` (`rpusim::Patches::unfold`). The images are
/// copied before the GIL is released (as a tile's inputs).
#[pyfunction]
fn unfold_patches<'py>(
    py: Python<'py>,
    images: PyReadonlyArray4<'py, f32>,
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    dilation: Pair,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let s = images.shape();
    let geometry = patches([s[0], s[1], s[2], s[3]], kernel, stride, padding, dilation)?;
    let images = rpusim::copied(contiguous("images", &images)?, "images").map_err(to_py)?;
    let rows = py.detach(|| geometry.unfold(&images)).map_err(to_py)?;
    PyTile::output(py, rows, geometry.rows(), geometry.cols())
}

/// The images of shape `image_shape` whose pixels sum the values of `patches` taken from them
/// (`rpusim::Patches::fold`, the adjoint of [`unfold_patches`]: the input gradient of a
/// convolution from the gradient of its patches).
#[pyfunction]
fn fold_patches<'py>(
    py: Python<'py>,
    patches_grad: PyReadonlyArray2<'py, f32>,
    image_shape: [usize; 4],
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    dilation: Pair,
) -> PyResult<Bound<'py, PyArray4<f32>>> {
    let geometry = patches(image_shape, kernel, stride, padding, dilation)?;
    let (rows, cols) = (patches_grad.shape()[0], patches_grad.shape()[1]);
    if (rows, cols) != (geometry.rows(), geometry.cols()) {
        return Err(to_py(Error::Shape {
            name: "patches_grad",
            expected: format!("({}, {})", geometry.rows(), geometry.cols()),
            got: format!("({rows}, {cols})"),
        }));
    }
    let values = rpusim::copied(contiguous("patches_grad", &patches_grad)?, "patches_grad")
        .map_err(to_py)?;
    let images = py.detach(|| geometry.fold(&values)).map_err(to_py)?;
    let a = numpy::ndarray::Array4::from_shape_vec(image_shape, images)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}

/// The engine's default configuration: the defaults of the Python dataclasses.
#[pyfunction]
fn default_config_json() -> String {
    TileConfig::default().to_json()
}

/// The engine's default parameters of the device model `name` (its JSON tag): the defaults of
/// the Python device classes.
#[pyfunction]
fn default_device_json(name: &str) -> PyResult<String> {
    let device = DeviceConfig::default_of(name).ok_or_else(|| {
        ConfigError::new_err(format!(
            "name: unknown device model {name:?}, expected one of {}",
            rpusim::device::DEVICE_TYPES.join(", ")
        ))
    })?;
    Ok(device.to_json())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // A bad RPUSIM_NUM_THREADS is refused on import, not ignored.
    rpusim::env_threads().map_err(to_py)?;
    m.add_class::<PyTile>()?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(validate_config, m)?)?;
    m.add_function(wrap_pyfunction!(validate_config_section, m)?)?;
    m.add_function(wrap_pyfunction!(default_config_json, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_memory, m)?)?;
    m.add_function(wrap_pyfunction!(default_device_json, m)?)?;
    m.add_function(wrap_pyfunction!(unfold_patches, m)?)?;
    m.add_function(wrap_pyfunction!(fold_patches, m)?)?;
    m.add("RPUSimError", m.py().get_type::<RPUSimError>())?;
    m.add("ConfigError", m.py().get_type::<ConfigError>())?;
    m.add("StateError", m.py().get_type::<StateError>())?;
    // The JSON tags of the engine's device models: Python's list of device models is this one.
    m.add(
        "DEVICE_TYPES",
        PyTuple::new(m.py(), rpusim::device::DEVICE_TYPES)?,
    )?;
    m.add("FORMAT_VERSION", rpusim::FORMAT_VERSION)?;
    m.add("OLDEST_FORMAT_VERSION", rpusim::OLDEST_FORMAT_VERSION)?;
    Ok(())
}
