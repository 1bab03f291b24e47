//! Browser side (wasm32 only): the `PairRM` JS class, weights fetched with
//! HTTP Range requests and cached in IndexedDB, WebGPU with a CPU fallback.
//!
//! Data flows as natively: files → config/tokenizer/weights → model → ranking;
//! only where the bytes come from (network or cache) and how results are read
//! back (awaited) differ.

mod bindings;
mod cache;
mod datasets;
mod fetch;
mod js;
mod loader;

pub use bindings::PairRM;
pub use datasets::{join_alpaca_eval, parse_dataset, summarize_pairs, summarize_ranks};

/// `initThreadPool(n)` for the JS side of the threaded build (see `npm/index.js`).
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// One turn of the event loop (a zero-delay timer): lets a worker receive a
/// cancel message between forward passes.
pub(crate) async fn yield_now() {
    let _ = wasm_bindgen_futures::JsFuture::from(js::sleep(0.0)).await;
}
