//! The `PairRM` JS class: a thin layer over [`pairrm_web::api::Ranker`] with the
//! CLI's field names. Every failure is a rejected Promise with an `Error`.

use std::rc::Rc;

use js_sys::{Function, Promise};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::{cache, fetch, js, loader};
use pairrm_web::api::Ranker;
use pairrm_web::device::{Device, DeviceChoice};
use pairrm_web::error::{DeviceError, Error};
use pairrm_web::requests::{Request, TokenIds, TokenizeRequest};

/// Default model: the published checkpoint.
pub const DEFAULT_BASE_URL: &str = "https://huggingface.co/llm-blender/PairRM/resolve/main/";

/// The precision a load computes with unless asked otherwise: int8. In the
/// browser bytes decide what can run at all (the f32 model is 1.74 GB to keep
/// and ~2 GB of wasm memory; phones allow a few hundred MB) and int8 is also
/// the fastest CPU path; its logits stay within 0.03 of the reference's
/// (`tests/tolerance.json`). `dtype: "f32"` gives exact parity.
pub const DEFAULT_DTYPE: pairrm_web::quant::WeightDtype = pairrm_web::quant::WeightDtype::Q8;

#[cfg(feature = "gpu")]
thread_local! {
    /// burn's wgpu runtime is initialised once per page and reused.
    static WEBGPU: std::cell::RefCell<Option<burn::tensor::Device>> = const { std::cell::RefCell::new(None) };
}

/// The threaded CPU build leaves WebGPU out: wgpu's browser types cannot be
/// shared between threads (see `threads` in Cargo.toml).
#[cfg(not(feature = "gpu"))]
async fn webgpu() -> Result<Device, Error> {
    Err(Error::Device(DeviceError::Unavailable(
        "this build of pairrm-web has no WebGPU (it is the threaded CPU build)".into(),
    )))
}

#[cfg(feature = "gpu")]
async fn webgpu() -> Result<Device, Error> {
    if let Some(d) = WEBGPU.with(|w| w.borrow().clone()) {
        return Ok(Device::Wgpu(d));
    }
    if !js::has_webgpu() {
        return Err(Error::Device(DeviceError::Unavailable(
            "this browser has no WebGPU (navigator.gpu is missing)".into(),
        )));
    }
    let device = burn::tensor::Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| {
            Error::Device(DeviceError::Unavailable(format!(
                "no WebGPU adapter or device: {e}"
            )))
        })?;
    WEBGPU.with(|w| *w.borrow_mut() = Some(device.clone()));
    Ok(Device::Wgpu(device))
}

/// A JS `Error` with the message, named so that callers branch on names, not
/// texts: a cancel is an `AbortError` (as `fetch` rejects on an aborted
/// signal); anything else a `PairRMError` whose `kind` says what failed
/// ([`Error::kind`]).
pub(super) fn to_js(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name(match e {
        Error::Cancelled => "AbortError",
        _ => "PairRMError",
    });
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&err, &"kind".into(), &e.kind().into());
    err.into()
}

pub(super) fn from_js<T: for<'de> Deserialize<'de>>(
    value: JsValue,
    what: &str,
) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(value).map_err(|e| to_js(Error::input(format!("{what}: {e}"))))
}

/// Results as plain JS objects; a `None` becomes `null`.
pub(super) fn to_value<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(
            &serde_wasm_bindgen::Serializer::new()
                .serialize_maps_as_objects(true)
                .serialize_missing_as_null(true),
        )
        .map_err(|e| to_js(Error::input(format!("cannot convert the result: {e}"))))
}

/// The `onProgress(done, total)` and `signal` of a method's options as a
/// [`pairrm_web::api::Progress`] callback; refuses to start when already aborted.
pub(super) fn progress_reporter(
    options: &JsValue,
) -> Result<impl FnMut(usize, usize) -> bool, JsValue> {
    let signal = js::get(options, "signal");
    let on_progress = js::get(options, "onProgress").dyn_into::<Function>().ok();
    if js::aborted(&signal) {
        return Err(to_js(Error::Cancelled));
    }
    Ok(move |done: usize, total: usize| {
        if let Some(f) = &on_progress {
            let _ = f.call2(
                &JsValue::NULL,
                &(done as f64).into(),
                &(total as f64).into(),
            );
        }
        !js::aborted(&signal)
    })
}

/// Every method's path: the request read as `T` (named `what` in errors),
/// answered by the core's one dispatcher ([`Ranker::answer`]), the answer
/// returned as a plain JS object. `options` may hold `onProgress` and `signal`.
fn answer<T: for<'de> Deserialize<'de> + 'static>(
    ranker: &Rc<Ranker>,
    request: JsValue,
    what: &'static str,
    wrap: fn(T) -> Request,
    options: JsValue,
) -> Promise {
    let ranker = ranker.clone();
    future_to_promise(async move {
        let request = wrap(from_js(request, what)?);
        let mut progress = progress_reporter(&options)?;
        let response = ranker.answer(request, &mut progress).await.map_err(to_js)?;
        to_value(&response)
    })
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Options of `PairRM.load`. */
export interface LoadOptions {
  /** "auto" (default): WebGPU on a hardware adapter, else the CPU engine (a software
   *  fallback adapter such as SwiftShader emulates the GPU on the CPU, far slower). */
  device?: "auto" | "webgpu" | "cpu";
  onProgress?: (progress: LoadProgress) => void;
  /** Ask the server again for the tokenizer and weights header even when config.json is unchanged. */
  revalidate?: boolean;
  /** Bytes per cached piece of the weights (default 8 MiB). */
  chunkSize?: number;
  /** Milliseconds without a byte before a download is retried (default 30 000). */
  stallTimeout?: number;
  /** Aborting stops the load (rejects with an `AbortError`); cached pieces stay. */
  signal?: AbortSignal;
  /** The weights' precision. Default "q8" (int8: a quarter of the bytes kept,
   * faster on the CPU, logits within about 0.03 of f32's); "f32" computes
   * exactly what the reference computes. A model stored in more precision is
   * converted once and kept converted in the cache; asking for more precision
   * than stored is an error. */
  dtype?: "f32" | "f16" | "q8";
}
export interface LoadProgress { phase: "download" | "cache" | "convert" | "upload"; file: string; loaded: number; total: number; }
export interface RankRequest { instruction: string; input?: string; candidates: string[]; }
export interface RankOptions {
  /** Comparisons done and in all, after each forward pass. */
  onProgress?: (done: number, total: number) => void;
  /** Aborting stops the ranking between forward passes (rejects with an `AbortError`). */
  signal?: AbortSignal;
}
export interface Ranking { ranks: number[]; scores: number[]; logits: number[][]; probabilities: number[][]; }
export interface CompareRequest { instruction: string; input?: string; a: string; b: string; mode?: "ab" | "ba" | "both"; }
export interface Comparison { value: number; result: boolean; }
/** A conversation turn; roles alternate USER, ASSISTANT (case-insensitive). */
export interface Message { role: string; content: string; }
export interface ConversationRequest { a: Message[]; b: Message[]; }
export interface BestOfNRequest { instruction: string; input?: string; candidates: string[]; mode?: "bubble" | "full"; seed?: number; }
export interface Best { best: number; }
export interface RankWithRefRequest { instruction: string; input?: string; candidates: string[]; reference?: number; }
export interface RefRanking { reference: number; ranks: number[]; scores: number[]; }
export interface TokenizeRequest { text: string; }
export interface TokenIds { ids: number[]; }
export interface CacheInfo { entries: number; models: string[]; usage: number; quota: number; }
/** What `PairRM.probe` tells before a download: the model's base URL, its weights' size in bytes (0: unknown), and whether this browser's cache holds it. */
export interface ModelProbe { url: string; size: number; cached: boolean; }
"#;

/// A probe's size request gives up after this long: it only informs a question.
const PROBE_TIMEOUT_MS: u32 = 10_000;

/// `base_url` with a trailing slash; the default model when absent or empty.
fn base_url_or_default(base_url: Option<String>) -> String {
    let mut base = base_url
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
    if !base.ends_with('/') {
        base.push('/');
    }
    base
}

/// The base URLs of the models the cache holds, sorted: a model's source
/// header and its converted header (`…#q8`) name one model.
fn cached_models(keys: &[String]) -> Vec<&str> {
    let mut models: Vec<&str> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("header:"))
        .map(|u| u.split('#').next().unwrap_or(u))
        .map(|u| u.trim_end_matches("model.safetensors"))
        .collect();
    models.sort_unstable();
    models.dedup();
    models
}

/// A loaded PairRM model in the page.
#[wasm_bindgen]
pub struct PairRM {
    pub(super) ranker: Rc<Ranker>,
    device: String,
    warnings: Vec<String>,
}

#[wasm_bindgen]
impl PairRM {
    /// Load the model at `baseUrl` (default: the Hugging Face repo).
    /// Options: `device` ("auto": WebGPU unless its only adapter is a software fallback,
    /// else the CPU; "webgpu"; "cpu"), `onProgress({phase, file, loaded, total})`,
    /// `revalidate` (ask the server again for the tokenizer and the weights header even
    /// when `config.json` is unchanged; a changed config or repository commit does it anyway),
    /// `signal` (an `AbortSignal`: aborting stops the load between pieces),
    /// `chunkSize` (bytes per cached piece of the weights, default 8 MiB),
    /// `stallTimeout` (ms without a byte before a download is retried, default 30 000).
    pub async fn load(
        base_url: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "LoadOptions")] options: Option<js_sys::Object>,
    ) -> Result<PairRM, JsValue> {
        console_error_panic_hook::set_once();
        crate::run_constructors();
        let options: loader::LoadOptions = match options {
            Some(o) => from_js(o.into(), "load options")?,
            None => loader::LoadOptions::default(),
        };
        let base = base_url_or_default(base_url);
        let device_choice: DeviceChoice = options
            .device
            .as_deref()
            .unwrap_or("auto")
            .parse()
            .map_err(to_js)?;
        let settings = loader::Settings::new(&options, DEFAULT_DTYPE).map_err(to_js)?;
        let on_progress = options.on_progress.dyn_ref::<Function>();
        let (device, name) = match device_choice {
            DeviceChoice::Cpu => (pairrm_web::device::cpu(), "cpu"),
            DeviceChoice::Wgpu => (webgpu().await.map_err(to_js)?, "webgpu"),
            DeviceChoice::Auto => {
                let hardware = JsFuture::from(js::has_hardware_webgpu())
                    .await
                    .is_ok_and(|v| v.as_bool() == Some(true));
                // No device is made on a software adapter: it would live as
                // long as the page for nothing.
                match if hardware { webgpu().await.ok() } else { None } {
                    Some(d) => (d, "webgpu"),
                    None => (pairrm_web::device::cpu(), "cpu"),
                }
            }
        };
        let _ = JsFuture::from(js::request_persistence()).await;
        let mut notes = loader::Notes::new(settings, options.revalidate.unwrap_or(false));
        let mut progress = |phase: &str, file: &str, done: u64, total: u64| {
            if let Some(f) = &on_progress {
                let event = js::object(&[
                    ("phase", phase.into()),
                    ("file", file.into()),
                    ("loaded", (done as f64).into()),
                    ("total", (total as f64).into()),
                ]);
                let _ = f.call1(&JsValue::NULL, &event);
            }
        };
        let ranker = loader::load(&base, &device, &mut notes, &mut progress)
            .await
            .map_err(to_js)?;
        Ok(PairRM {
            ranker: Rc::new(ranker),
            device: name.to_string(),
            warnings: notes.report.warnings,
        })
    }

    /// "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn device(&self) -> String {
        self.device.clone()
    }

    /// The precision of the weights computed with: "f32", "f16" or "q8".
    #[wasm_bindgen(getter)]
    pub fn dtype(&self) -> String {
        self.ranker.dtype().name().to_string()
    }

    /// Bytes of live tensors on the GPU (WebGPU: the weights, mostly, and
    /// those of any other model on the same device); `undefined` on the CPU.
    #[wasm_bindgen(getter, js_name = deviceMemory)]
    pub fn device_memory(&self) -> Option<f64> {
        self.ranker.device().bytes_in_use().map(|b| b as f64)
    }

    /// Warnings from loading (for example a full storage quota).
    #[wasm_bindgen(getter)]
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// `{instruction, input?, candidates}` → `{ranks, scores, logits, probabilities}`.
    /// Options: `onProgress(done, total)` (comparisons, after each forward
    /// pass) and `signal` (an `AbortSignal`: aborting rejects with an `AbortError`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Ranking>")]
    pub fn rank(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RankRequest")] request: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RankOptions")] options: Option<js_sys::Object>,
    ) -> Promise {
        let options = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        answer(
            &self.ranker,
            request,
            "rank request",
            Request::Rank,
            options,
        )
    }

    /// `{instruction, input?, a, b, mode?: "ab"|"ba"|"both"}` → `{value, result}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Comparison>")]
    pub fn compare(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CompareRequest")] request: JsValue,
    ) -> Promise {
        answer(
            &self.ranker,
            request,
            "compare request",
            Request::Compare,
            JsValue::UNDEFINED,
        )
    }

    /// `{a: [messages], b: [messages]}` → `{value, result}`.
    #[wasm_bindgen(js_name = compareConversations, unchecked_return_type = "Promise<Comparison>")]
    pub fn compare_conversations(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ConversationRequest")] request: JsValue,
    ) -> Promise {
        let wrap = Request::CompareConversations;
        answer(
            &self.ranker,
            request,
            "conversation request",
            wrap,
            JsValue::UNDEFINED,
        )
    }

    /// `{instruction, input?, candidates, mode?: "bubble"|"full", seed?}` → `{best}`.
    #[wasm_bindgen(js_name = bestOfN, unchecked_return_type = "Promise<Best>")]
    pub fn best_of_n(
        &self,
        #[wasm_bindgen(unchecked_param_type = "BestOfNRequest")] request: JsValue,
    ) -> Promise {
        answer(
            &self.ranker,
            request,
            "best-of-n request",
            Request::BestOfN,
            JsValue::UNDEFINED,
        )
    }

    /// `{instruction, input?, candidates, reference?}` → `{reference, ranks, scores}`:
    /// every candidate scored against one (the longest when `reference` is absent).
    #[wasm_bindgen(js_name = rankWithRef, unchecked_return_type = "Promise<RefRanking>")]
    pub fn rank_with_ref(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RankWithRefRequest")] request: JsValue,
    ) -> Promise {
        let wrap = Request::RankWithRef;
        answer(
            &self.ranker,
            request,
            "rank-with-ref request",
            wrap,
            JsValue::UNDEFINED,
        )
    }

    /// `{text}` → `{ids}`: the token ids the model sees for `text`.
    #[wasm_bindgen(unchecked_return_type = "TokenIds")]
    pub fn tokenize(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TokenizeRequest")] request: JsValue,
    ) -> Result<JsValue, JsValue> {
        let r: TokenizeRequest = from_js(request, "tokenize request")?;
        let ids = self.ranker.tokenizer().tokenize(&r.text).map_err(to_js)?;
        to_value(&TokenIds { ids })
    }

    /// The model `load()` fetches when given no URL: the Hugging Face repo.
    #[wasm_bindgen(js_name = defaultUrl)]
    pub fn default_url() -> String {
        DEFAULT_BASE_URL.to_string()
    }

    /// Before a download: `{url, size, cached}` for the model at `baseUrl`
    /// (default: [`Self::default_url`]). `cached` when this browser's cache
    /// holds it (then nothing is fetched); else `size` is the weights' size
    /// from a one-byte Range request (a server without Range: its
    /// Content-Length; the body is not read), 0 when the server does not say
    /// or cannot be reached: a page can still ask whether to download.
    #[wasm_bindgen(unchecked_return_type = "ModelProbe")]
    pub async fn probe(base_url: Option<String>) -> Result<JsValue, JsValue> {
        let url = base_url_or_default(base_url);
        let cached = cached_models(&cache::keys().await)
            .iter()
            .any(|m| m.starts_with(&url));
        let size = if cached {
            0
        } else {
            let options = fetch::Options {
                timeout_ms: PROBE_TIMEOUT_MS,
                ..Default::default()
            };
            fetch::head(&format!("{url}model.safetensors"), 1, &options)
                .await
                .map_or(0, |f| f.total)
        };
        Ok(js::object(&[
            ("url", url.as_str().into()),
            ("size", (size as f64).into()),
            ("cached", cached.into()),
        ]))
    }

    /// `{entries, models, usage, quota}`: what the IndexedDB cache holds.
    #[wasm_bindgen(js_name = cacheInfo, unchecked_return_type = "CacheInfo")]
    pub async fn cache_info() -> Result<JsValue, JsValue> {
        let keys = cache::keys().await;
        let models: Vec<JsValue> = cached_models(&keys)
            .into_iter()
            .map(JsValue::from_str)
            .collect();
        let estimate = cache::estimate().await;
        Ok(js::object(&[
            ("entries", (keys.len() as f64).into()),
            ("models", js_sys::Array::from_iter(models).into()),
            ("usage", estimate.usage.into()),
            ("quota", estimate.quota.into()),
        ]))
    }

    /// Delete every cached piece.
    #[wasm_bindgen(js_name = clearCache)]
    pub async fn clear_cache() -> Result<(), JsValue> {
        cache::clear().await.map_err(|m| {
            to_js(Error::Io {
                what: "the IndexedDB cache".into(),
                cause: m,
            })
        })
    }
}
