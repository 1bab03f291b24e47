//! Imports from `glue.js`: fetch, streams, IndexedDB, storage.

use js_sys::{Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = idbGet)]
    pub fn idb_get(key: &str) -> Promise;
    #[wasm_bindgen(js_name = readsInto)]
    pub fn reads_into() -> bool;
    #[wasm_bindgen(js_name = idbGetInto)]
    pub fn idb_get_into(key: &str, memory: &JsValue, ptr: usize, len: usize) -> Promise;
    #[wasm_bindgen(js_name = idbPut)]
    pub fn idb_put(key: &str, bytes: &Uint8Array, hash: &str, meta: &str) -> Promise;
    #[wasm_bindgen(js_name = idbDelete)]
    pub fn idb_delete(key: &str) -> Promise;
    #[wasm_bindgen(js_name = idbKeys)]
    pub fn idb_keys() -> Promise;
    #[wasm_bindgen(js_name = idbClear)]
    pub fn idb_clear() -> Promise;
    #[wasm_bindgen(js_name = storageEstimate)]
    pub fn storage_estimate() -> Promise;
    #[wasm_bindgen(js_name = requestPersistence)]
    pub fn request_persistence() -> Promise;
    #[wasm_bindgen(js_name = hasWebGpu)]
    pub fn has_webgpu() -> bool;
    #[wasm_bindgen(js_name = hasHardwareWebGpu)]
    pub fn has_hardware_webgpu() -> Promise;
    #[wasm_bindgen(js_name = fetchBytes)]
    pub fn fetch_bytes(url: &str, start: f64, end: f64, options: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = openStream)]
    pub fn open_stream(url: &str, signal: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = readStream)]
    pub fn read_stream(reader: &JsValue, stall_ms: f64) -> Promise;
}

/// Read a property of a JS object (undefined when missing).
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Whether an `AbortSignal` (anything with `aborted`; undefined: never) was aborted.
pub fn aborted(signal: &JsValue) -> bool {
    get(signal, "aborted").as_bool().unwrap_or(false)
}

/// A plain JS object from (key, value) pairs.
pub fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

/// The message of a JS error value.
pub fn message(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|err| String::from(err.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// The `name` of a JS error (`QuotaExceededError`, …).
pub fn error_name(e: &JsValue) -> String {
    get(e, "name").as_string().unwrap_or_default()
}
