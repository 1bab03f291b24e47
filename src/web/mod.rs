//! Browser side (wasm32 only): the `PairRM` JS class, weights fetched with
//! HTTP Range requests and cached in IndexedDB, WebGPU with a CPU fallback.
//!
//! Data flows as natively: files → config/tokenizer/weights → model → ranking;
//! only where the bytes come from (network or cache) and how results are read
//! back (awaited) differ.

mod bindings;
mod cache;
mod fetch;
mod js;
mod loader;

pub use bindings::PairRM;

/// `initThreadPool(n)` for the JS side of the threaded build (see `npm/index.js`).
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;
