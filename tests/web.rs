//! Browser tests (`wasm-pack test --headless --chrome`, run by `./build.sh test`):
//! parity on WebGPU and on the CPU fallback, Range loading from a local server,
//! the IndexedDB cache (second load makes no weight request, an interrupted
//! download resumes, a damaged entry is refetched, a model changed upstream is
//! noticed), and clear errors for bad files.
//!
//! `PAIRRM_TEST_SERVER` (compile time) is the origin of `scripts/serve.mjs`
//! serving `/models` (the fixtures), `/broken` (damaged copies) and `/swap`
//! (one fixture at a time, switched by `/__swap?to=NAME`).
#![cfg(target_arch = "wasm32")]

use js_sys::Promise;
use pairrm_web::web::PairRM;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SERVER: &str = env!("PAIRRM_TEST_SERVER");
const EXPECTED: &str = include_str!("fixtures/tiny-hf/expected.json");
const EXPECTED_TRUNC: &str = include_str!("fixtures/tiny-trunc/expected.json");

fn model_url() -> String {
    format!("{SERVER}/models/tiny-hf/")
}

fn options(device: &str, chunk: Option<u32>) -> JsValue {
    let o = js_sys::Object::new();
    js_sys::Reflect::set(&o, &"device".into(), &device.into()).unwrap();
    if let Some(c) = chunk {
        js_sys::Reflect::set(&o, &"chunkSize".into(), &c.into()).unwrap();
    }
    o.into()
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_global(url: &str) -> Promise;
}

/// GET a control endpoint of the test server and parse its JSON answer.
async fn fetch_json(path: &str) -> Value {
    let resp = JsFuture::from(fetch_global(&format!("{SERVER}{path}")))
        .await
        .unwrap();
    let text_fn: js_sys::Function = js_sys::Reflect::get(&resp, &"text".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let text = JsFuture::from(text_fn.call0(&resp).unwrap().dyn_into::<Promise>().unwrap())
        .await
        .unwrap();
    serde_json::from_str(&text.as_string().unwrap()).unwrap_or(Value::Null)
}

/// Requests the server saw for `path` since the last reset.
async fn requests(path: &str) -> u64 {
    fetch_json("/__stats").await[path].as_u64().unwrap_or(0)
}

/// Requests the server saw for the weights file since the last reset.
async fn weight_requests() -> u64 {
    requests("/models/tiny-hf/model.safetensors").await
}

#[wasm_bindgen(inline_js = "
export async function damageFirstChunk() {
  const db = await new Promise((ok, err) => { const r = indexedDB.open('pairrm-web', 1); r.onsuccess = () => ok(r.result); r.onerror = () => err(r.error); });
  const keys = await new Promise((ok) => { const r = db.transaction('pieces').objectStore('pieces').getAllKeys(); r.onsuccess = () => ok(r.result); });
  const key = keys.find((k) => String(k).startsWith('chunk:') && String(k).endsWith(':0'));
  if (!key) return false;
  const store = db.transaction('pieces', 'readwrite').objectStore('pieces');
  const rec = await new Promise((ok) => { const r = store.get(key); r.onsuccess = () => ok(r.result); });
  rec.bytes[100] ^= 0xff;
  await new Promise((ok, err) => { const t = db.transaction('pieces', 'readwrite'); t.objectStore('pieces').put(rec, key); t.oncomplete = ok; t.onerror = () => err(t.error); });
  return true;
}")]
extern "C" {
    #[wasm_bindgen(js_name = damageFirstChunk)]
    fn damage_first_chunk() -> Promise;
}

async fn call(p: Promise) -> Result<Value, String> {
    JsFuture::from(p)
        .await
        .map(|v| serde_wasm_bindgen::from_value(v).unwrap())
        .map_err(|e| js_sys::Error::from(e).message().into())
}

async fn check_ranks(model: &PairRM, limit: usize) {
    check_ranks_against(model, EXPECTED, limit).await
}

async fn check_ranks_against(model: &PairRM, expected: &str, limit: usize) {
    let expected: Value = serde_json::from_str(expected).unwrap();
    for case in expected["rank"].as_array().unwrap().iter().take(limit) {
        let req = js_sys::JSON::parse(
            &serde_json::json!({
                "instruction": case["instruction"], "input": case["input"], "candidates": case["candidates"]
            })
            .to_string(),
        )
        .unwrap();
        let got = call(model.rank(req)).await.unwrap();
        assert_eq!(got["ranks"], case["ranks"]);
        let n = case["candidates"].as_array().unwrap().len();
        for i in 0..n {
            for j in 0..n {
                let (g, w) = (
                    got["logits"][i][j].as_f64().unwrap(),
                    case["logits"][i][j].as_f64().unwrap(),
                );
                assert!(
                    (g - w).abs() <= 1e-4,
                    "logit[{i}][{j}] {g} vs reference {w}"
                );
            }
        }
    }
}

async fn load(device: &str, chunk: Option<u32>) -> Result<PairRM, String> {
    PairRM::load(Some(model_url()), options(device, chunk))
        .await
        .map_err(|e| js_sys::Error::from(e).message().into())
}

#[wasm_bindgen_test]
async fn cpu_fallback_matches_the_reference_and_second_load_uses_the_cache() {
    PairRM::clear_cache().await.unwrap();
    fetch_json("/__reset").await;
    let model = load("cpu", None).await.unwrap();
    assert_eq!(model.device(), "cpu");
    assert!(
        weight_requests().await >= 2,
        "first load fetches the header and data with Range"
    );
    check_ranks(&model, 4).await;

    fetch_json("/__reset").await;
    let again = load("cpu", None).await.unwrap();
    assert_eq!(
        weight_requests().await,
        0,
        "second load makes no weight request"
    );
    check_ranks(&again, 1).await;
    let info: Value = serde_wasm_bindgen::from_value(PairRM::cache_info().await.unwrap()).unwrap();
    assert!(info["entries"].as_u64().unwrap() >= 5);
}

#[wasm_bindgen_test]
async fn webgpu_matches_the_reference() {
    let model = load("webgpu", None)
        .await
        .expect("WebGPU (Chromium with --enable-unsafe-webgpu)");
    assert_eq!(model.device(), "webgpu");
    check_ranks(&model, 2).await;
}

#[wasm_bindgen_test]
async fn interrupted_download_resumes_and_damaged_entries_are_refetched() {
    PairRM::clear_cache().await.unwrap();
    // Drop every Range request past 200 kB: the first load fails part-way.
    fetch_json("/__drop?from=200000").await;
    let err = load("cpu", Some(65536))
        .await
        .err()
        .expect("a dropped download is an error");
    assert!(
        err.contains("network") || err.contains("model.safetensors"),
        "{err}"
    );
    fetch_json("/__drop?from=-1").await;
    fetch_json("/__reset").await;
    let model = load("cpu", Some(65536)).await.unwrap();
    let resumed = weight_requests().await;
    // 660 kB in 64 kB chunks is 11 chunks; the 4 starting below 200 kB were cached.
    // The other 7 are fetched, and the header again (2 requests): the failed load
    // cached no config.json, so this one cannot tell the weights are unchanged.
    assert_eq!(resumed, 9, "resumed with {resumed} requests");
    check_ranks(&model, 1).await;

    assert!(JsFuture::from(damage_first_chunk())
        .await
        .unwrap()
        .as_bool()
        .unwrap());
    fetch_json("/__reset").await;
    let model = load("cpu", Some(65536)).await.unwrap();
    assert_eq!(
        weight_requests().await,
        1,
        "only the damaged chunk is fetched again"
    );
    check_ranks(&model, 1).await;
}

#[wasm_bindgen_test]
async fn a_model_changed_upstream_is_noticed_without_asking_for_the_weights() {
    PairRM::clear_cache().await.unwrap();
    let url = format!("{SERVER}/swap/");
    let load_swap = || PairRM::load(Some(url.clone()), options("cpu", None));
    fetch_json("/__swap?to=tiny-hf").await;
    check_ranks_against(&load_swap().await.unwrap(), EXPECTED, 1).await;

    // Unchanged upstream: config.json is asked for, nothing else.
    fetch_json("/__reset").await;
    check_ranks_against(&load_swap().await.unwrap(), EXPECTED, 1).await;
    assert_eq!(requests("/swap/config.json").await, 1);
    assert_eq!(requests("/swap/spm.model").await, 0);
    assert_eq!(requests("/swap/model.safetensors").await, 0);

    // Another model behind the same URL, and the first try is cut before the
    // weights header: the next load must still see the change.
    fetch_json("/__swap?to=tiny-trunc").await;
    fetch_json("/__drop?from=0").await;
    assert!(load_swap().await.is_err());
    fetch_json("/__drop?from=-1").await;
    // Its results, not the cached model's.
    fetch_json("/__reset").await;
    check_ranks_against(&load_swap().await.unwrap(), EXPECTED_TRUNC, 2).await;
    assert!(requests("/swap/model.safetensors").await >= 2);

    // And back: the first model's chunks are still cached under their ETag,
    // so only its header is read again.
    fetch_json("/__swap?to=tiny-hf").await;
    fetch_json("/__reset").await;
    check_ranks_against(&load_swap().await.unwrap(), EXPECTED, 1).await;
    assert_eq!(requests("/swap/model.safetensors").await, 2);
}

#[wasm_bindgen_test]
async fn bad_weight_files_give_clear_errors() {
    for (dir, words) in [
        ("truncated", "truncated"),
        ("wrong-shape", "shape"),
        ("not-safetensors", "safetensors"),
    ] {
        let url = format!("{SERVER}/broken/{dir}/");
        let err = PairRM::load(Some(url), options("cpu", None))
            .await
            .err()
            .expect("must fail");
        let msg: String = js_sys::Error::from(err).message().into();
        assert!(msg.contains(words), "{dir}: {msg}");
    }
    let err = PairRM::load(Some(format!("{SERVER}/nowhere/")), options("cpu", None))
        .await
        .err()
        .unwrap();
    let msg: String = js_sys::Error::from(err).message().into();
    assert!(msg.contains("config.json"), "{msg}");
}
