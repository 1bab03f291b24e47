//! pairrm-web's browser package (wasm32 only; natively this crate is empty):
//! the `PairRM` JS class, weights fetched with
//! HTTP Range requests and cached in IndexedDB, WebGPU with a CPU fallback.
//!
//! Data flows as natively: files → config/tokenizer/weights → model → ranking;
//! only where the bytes come from (network or cache) and how results are read
//! back (awaited) differ.
//!
//! Browser APIs: timers come from `gloo-timers`; requests and results cross
//! as serde types through `serde-wasm-bindgen`, and so do the glue's replies
//! (read into typed structs). Options objects are read field by field, since
//! they hold callbacks and `AbortSignal`s. `glue.js` remains for two things no
//! kept crate does:
//! - IndexedDB (`idbGet`/`idbPut`/…): web-sys exposes its event-callback API
//!   only and gloo has no IndexedDB crate; a dozen lines of JS turn it into
//!   promises and keep `QuotaExceededError` recognisable by name.
//! - `fetchBytes`/`readStream`: a Range request that combines the caller's
//!   `AbortSignal`, a timeout and a stall timer (`AbortSignal.any`), refuses a
//!   body larger than a cap from `Content-Length` before reading it, and parses
//!   `Content-Range`. `gloo-net` (not a dependency) has no stall timeout or
//!   byte cap; web-sys has every binding, but written through its
//!   feature-gated types the same calls are several times the code. What the
//!   glue reports is checked again in Rust (`fetch.rs`: status, ranges, sizes).

#![cfg(target_arch = "wasm32")]

mod bindings;
mod cache;
mod datasets;
mod fetch;
mod js;
mod loader;

use std::future::Future;
use std::task::Poll;

pub use bindings::PairRM;
pub use datasets::{join_alpaca_eval, parse_dataset, summarize_pairs, summarize_ranks};

/// `initThreadPool(n)` for the JS side of the threaded build (see `npm/index.js`).
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Runs the module's static constructors (the registries of burn's GPU
/// compiler, through `inventory`) once. Without a call to `__wasm_call_ctors`
/// in the code, wasm-ld runs them all on entry to every export, including the
/// allocator and the JS-value table that wasm-bindgen calls for each string
/// and object passed in: 0.4 s of a one-thread warm page load (V8 profile).
/// Called by `PairRM.load`, which every use of the GPU compiler follows, not
/// from a `start` function: wasm-bindgen's test mode does not run that.
/// The threaded build has no GPU compiler and no constructors.
#[cfg(not(feature = "threads"))]
pub(crate) fn run_constructors() {
    extern "C" {
        fn __wasm_call_ctors();
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the linker's constructor function, run once per instance
    // before anything that reads what it registers.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}

#[cfg(feature = "threads")]
pub(crate) fn run_constructors() {}

/// One turn of the event loop (a zero-delay timer): lets a worker receive a
/// cancel message between forward passes.
pub(crate) async fn yield_now() {
    gloo_timers::future::TimeoutFuture::new(0).await;
}

/// Two futures run together until both are done: `a` is polled first, so a
/// request it makes goes out before `b`'s own work starts.
pub(crate) async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (ra, rb) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}

/// [`yield_now`] as the core's hook ([`pairrm_web::Ranker::with_yield`]).
pub(crate) fn yield_hook() -> pairrm_web::api::YieldFuture {
    Box::pin(yield_now())
}
