//! Host kernels on plain f32 slices, for the fused engine ([`crate::model::fused`])
//! and the work done once at load for both engines ([`crate::model::relative`]):
//! matrix products through the `gemm` crate, and the elementwise passes
//! (bias, GELU, LayerNorm, softmax) fused so that each touches a row once or
//! twice instead of once per tensor op.
//!
//! Elementwise loops are written branch-free with independent accumulators so
//! that the compiler vectorises them; on x86-64 each is compiled again for
//! AVX2 and AVX-512 and picked at run time (the baseline build targets SSE2).

pub mod int8;
mod rows;

pub use rows::{add_bias, bias_gelu, bias_layer_norm, erf, exp, gelu, softmax_rows};

/// A read-only matrix view into a slice: element `(r, c)` is at
/// `offset + r·row_stride + c·col_stride`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    data: &'a [f32],
    offset: usize,
    pub rows: usize,
    pub cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major `[rows, cols]` matrix starting at `offset`, rows `row_stride` apart.
    pub fn new(
        data: &'a [f32],
        offset: usize,
        rows: usize,
        cols: usize,
        row_stride: usize,
    ) -> Self {
        let v = Self {
            data,
            offset,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        };
        v.check();
        v
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last =
                self.offset + (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// Whether a product may use every thread (large products) or must stay on
/// the calling thread (products inside a parallel loop).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    All,
    One,
}

/// `dst = a · b` (or `dst += a · b` with `accumulate`), `dst` row-major with
/// rows `dst_stride` apart.
pub fn matmul(
    dst: &mut [f32],
    dst_stride: usize,
    a: View,
    b: View,
    accumulate: bool,
    threads: Threads,
) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * dst_stride + n <= dst.len(),
        "destination too small"
    );
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_stride..r * dst_stride + n].fill(0.0);
            }
        }
        return;
    }
    let parallelism = match threads {
        #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
        Threads::All => gemm::Parallelism::Rayon(0),
        _ => gemm::Parallelism::None,
    };
    // SAFETY: the views and the destination were bounds-checked above for
    // every element gemm reads or writes; `dst` is borrowed mutably, so it
    // does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_stride as isize,
            accumulate,
            a.data.as_ptr().add(a.offset),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr().add(b.offset),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Runs `f` on chunks of whole rows, in parallel where threads exist.
pub fn for_rows(data: &mut [f32], row_len: usize, f: impl Fn(&mut [f32]) + Sync + Send) {
    if row_len == 0 {
        return;
    }
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        use rayon::prelude::*;
        let rows = data.len() / row_len;
        let per_task = rows.div_ceil(4 * rayon::current_num_threads()).max(1);
        data.par_chunks_mut(per_task * row_len).for_each(f);
    }
    #[cfg(not(any(not(target_arch = "wasm32"), feature = "threads")))]
    f(data)
}

/// `f(i)` for `i` in `0..n`, in parallel where threads exist, results in order.
pub fn map_indexed<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map(f).collect()
    }
    #[cfg(not(any(not(target_arch = "wasm32"), feature = "threads")))]
    (0..n).map(f).collect()
}

/// `f` on each of `parts`, in parallel where threads exist (collected first
/// only there: one thread takes them as they come).
pub fn for_each<T: Send>(parts: impl IntoIterator<Item = T>, f: impl Fn(T) + Sync + Send) {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        use rayon::prelude::*;
        let parts: Vec<T> = parts.into_iter().collect();
        parts.into_par_iter().for_each(f);
    }
    #[cfg(not(any(not(target_arch = "wasm32"), feature = "threads")))]
    parts.into_iter().for_each(f);
}

/// Work handed to the thread pool where threads exist (done at once, here,
/// where not), its result taken by [`Background::join`]. A load builds one
/// layer (packing, position projections) this way while its caller reads the
/// next: in the browser, the reading thread's event loop must be free for
/// IndexedDB to hand it the pieces it asked for.
pub enum Background<T> {
    Done(T),
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    Running(std::sync::mpsc::Receiver<std::thread::Result<T>>),
}

/// Start `work` on the pool (inline on one of the pool's own threads, which
/// must not wait for the pool).
pub fn background<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Background<T> {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    if rayon::current_thread_index().is_none() {
        let (done, result) = std::sync::mpsc::channel();
        rayon::spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let _ = done.send(outcome);
        });
        return Background::Running(result);
    }
    Background::Done(work())
}

impl<T> Background<T> {
    /// The result, waiting for it; a panic of the work goes on here.
    pub fn join(self) -> T {
        match self {
            Background::Done(value) => value,
            #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
            Background::Running(result) => match result.recv() {
                Ok(Ok(value)) => value,
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) => panic!("background work ended without a result"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_handles_strides_transposes_and_accumulation() {
        // a: 3×4 taken from a 3×6 buffer at column 1; b: 4×2 as the transpose of 2×4.
        let buf: Vec<f32> = (0..18).map(|i| i as f32).collect();
        let bt: Vec<f32> = (0..8).map(|i| (i as f32) - 3.0).collect();
        let a = View::new(&buf, 1, 3, 4, 6);
        let b = View::new(&bt, 0, 2, 4, 4).t();
        let mut out = vec![1.0f32; 3 * 5];
        matmul(&mut out, 5, a, b, true, Threads::One);
        for r in 0..3 {
            for c in 0..2 {
                let want: f32 = (0..4).map(|k| buf[r * 6 + 1 + k] * bt[c * 4 + k]).sum();
                assert_eq!(out[r * 5 + c], 1.0 + want);
            }
            assert_eq!(out[r * 5 + 4], 1.0); // outside the product: untouched
        }
    }
}
