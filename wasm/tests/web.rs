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
use pairrm_wasm::{parse_dataset, summarize_pairs, PairRM};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SERVER: &str = env!("PAIRRM_TEST_SERVER");
/// The same fixtures from a server that ignores Range, and from one that also
/// cuts every response after 300 kB.
const SERVER_NO_RANGE: &str = env!("PAIRRM_TEST_SERVER_NO_RANGE");
const SERVER_CUT: &str = env!("PAIRRM_TEST_SERVER_CUT");
const EXPECTED: &str = include_str!("../../tests/fixtures/tiny-hf/expected.json");
const TOLERANCE_JSON: &str = include_str!("../../tests/tolerance.json");

/// The shared tolerance (`tests/tolerance.json` says why).
fn tolerance() -> f64 {
    serde_json::from_str::<Value>(TOLERANCE_JSON).unwrap()["logit"]
        .as_f64()
        .unwrap()
}
const EXPECTED_TRUNC: &str = include_str!("../../tests/fixtures/tiny-trunc/expected.json");
/// The dataset fixtures and what the reference computed for them.
const PAIRS_CSV: &str = include_str!("../../tests/fixtures/datasets/pairs.csv");
const RANKINGS: &str = include_str!("../../tests/fixtures/datasets/rankings.jsonl");
const DATASET: &str = include_str!("../../tests/fixtures/tiny-hf/dataset.json");
const DATASET_TRUNC: &str = include_str!("../../tests/fixtures/tiny-trunc/dataset.json");

fn model_url() -> String {
    format!("{SERVER}/models/tiny-hf/")
}

/// Load options for `device`, in full precision (f32: the reference's own
/// numbers; loads default to q8).
fn options(device: &str, chunk: Option<u32>) -> JsValue {
    let o = js_sys::Object::new();
    js_sys::Reflect::set(&o, &"device".into(), &device.into()).unwrap();
    js_sys::Reflect::set(&o, &"dtype".into(), &"f32".into()).unwrap();
    if let Some(c) = chunk {
        js_sys::Reflect::set(&o, &"chunkSize".into(), &c.into()).unwrap();
    }
    o.into()
}

/// Load options for `device` with the default dtype (q8).
fn default_options(device: &str, chunk: Option<u32>) -> JsValue {
    let o = options(device, chunk);
    js_sys::Reflect::delete_property(o.unchecked_ref::<js_sys::Object>(), &"dtype".into()).unwrap();
    o
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
export function setQuotaFull(full) { globalThis.__pairrmTestQuotaFull = full; }
export function abortIn(ms, chunkSize) {
  const c = new AbortController();
  setTimeout(() => c.abort(), ms);
  return { device: 'cpu', signal: c.signal, chunkSize };
}
export function abortAfter(n) {
  const c = new AbortController();
  let seen = 0;
  if (n === 0) c.abort();
  return { signal: c.signal, onProgress: (done, total) => { seen += 1; if (seen >= n) c.abort(); } };
}
async function openDb() {
  return new Promise((ok, err) => { const r = indexedDB.open('pairrm-web', 1); r.onsuccess = () => ok(r.result); r.onerror = () => err(r.error); });
}
export async function cachedPieces() {
  const db = await openDb();
  const store = db.transaction('pieces').objectStore('pieces');
  const keys = await new Promise((ok) => { const r = store.getAllKeys(); r.onsuccess = () => ok(r.result); });
  const records = await new Promise((ok) => { const r = store.getAll(); r.onsuccess = () => ok(r.result); });
  return keys.map((k, i) => [String(k), records[i].bytes.length]);
}
export async function damageFirstChunk(containing) {
  const db = await openDb();
  const keys = await new Promise((ok) => { const r = db.transaction('pieces').objectStore('pieces').getAllKeys(); r.onsuccess = () => ok(r.result); });
  const key = keys.find((k) => String(k).startsWith('chunk:') && String(k).endsWith(':0') && String(k).includes(containing || ''));
  if (!key) return false;
  const store = db.transaction('pieces', 'readwrite').objectStore('pieces');
  const rec = await new Promise((ok) => { const r = store.get(key); r.onsuccess = () => ok(r.result); });
  rec.bytes[100] ^= 0xff;
  await new Promise((ok, err) => { const t = db.transaction('pieces', 'readwrite'); t.objectStore('pieces').put(rec, key); t.oncomplete = ok; t.onerror = () => err(t.error); });
  return true;
}")]
extern "C" {
    #[wasm_bindgen(js_name = setQuotaFull)]
    fn set_quota_full(full: bool);
    #[wasm_bindgen(js_name = abortIn)]
    fn abort_in(ms: u32, chunk: u32) -> JsValue;
    #[wasm_bindgen(js_name = abortAfter)]
    fn abort_after(reports: u32) -> JsValue;
    #[wasm_bindgen(js_name = damageFirstChunk)]
    fn damage_first_chunk(containing: &str) -> Promise;
    /// `[key, bytes]` of every cached record.
    #[wasm_bindgen(js_name = cachedPieces)]
    fn cached_pieces() -> Promise;
}

/// Flip a byte of the first cached chunk whose key contains `containing`
/// (one must exist).
async fn damage_a_chunk(containing: &str) {
    let damaged = JsFuture::from(damage_first_chunk(containing))
        .await
        .unwrap();
    assert!(
        damaged.as_bool().unwrap(),
        "no cached chunk with {containing:?}"
    );
}

/// A rejection's `name`, `kind` and message.
fn named(e: JsValue) -> (String, String, String) {
    let err = js_sys::Error::from(e);
    let kind = js_sys::Reflect::get(&err, &"kind".into())
        .ok()
        .and_then(|k| k.as_string())
        .unwrap_or_default();
    (err.name().into(), kind, err.message().into())
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
        let got = call(model.rank(req, None)).await.unwrap();
        assert_eq!(got["ranks"], case["ranks"]);
        let n = case["candidates"].as_array().unwrap().len();
        for i in 0..n {
            for j in 0..n {
                let (g, w) = (
                    got["logits"][i][j].as_f64().unwrap(),
                    case["logits"][i][j].as_f64().unwrap(),
                );
                assert!(
                    (g - w).abs() <= tolerance(),
                    "logit[{i}][{j}] {g} vs reference {w}"
                );
            }
        }
    }
}

/// A JS request object from JSON.
fn request(v: Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap()
}

fn close(what: &str, got: &Value, want: &Value) {
    let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
    assert!((g - w).abs() <= tolerance(), "{what}: {g} vs reference {w}");
}

/// Every JS method against every recorded case of a fixture (the long,
/// truncated ones included): rank, compare in each mode,
/// compareConversations, bestOfN (full; bubble orders come from a seed the
/// reference does not share), rankWithRef and tokenize.
/// Rank cases whose texts pass this many characters are checked on the CPU
/// fallback only, not on WebGPU (SwiftShader in CI): each of their
/// comparisons is ~1,500 tokens, and their first pass there autotunes every
/// kernel at that size for minutes. The native wgpu tests take inputs of that
/// length through the same kernels (the recorded forward cases).
const WEBGPU_RANK_CHARS: usize = 2000;

fn rank_chars(case: &Value) -> usize {
    let chars = |v: &Value| v.as_str().map_or(0, |t| t.chars().count());
    let candidates: usize = case["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(chars)
        .sum();
    chars(&case["instruction"]) + chars(&case["input"]) + candidates
}

async fn check_every_method(model: &PairRM, expected: &str, what: &str) {
    let expected: Value = serde_json::from_str(expected).unwrap();
    let cases = |s: &str| expected[s].as_array().unwrap().clone();
    let webgpu = model.device() == "webgpu";
    for (k, c) in cases("rank").iter().enumerate() {
        if webgpu && rank_chars(c) > WEBGPU_RANK_CHARS {
            continue;
        }
        let got = call(model.rank(
            request(serde_json::json!({"instruction": c["instruction"], "input": c["input"], "candidates": c["candidates"]})),
            None,
        ))
        .await
        .unwrap();
        assert_eq!(got["ranks"], c["ranks"], "{what}: rank[{k}] ranks");
        let n = c["candidates"].as_array().unwrap().len();
        for i in 0..n {
            for j in 0..n {
                close(
                    &format!("{what}: rank[{k}] logit[{i}][{j}]"),
                    &got["logits"][i][j],
                    &c["logits"][i][j],
                );
            }
        }
    }
    for (k, c) in cases("compare").iter().enumerate() {
        let got = call(model.compare(request(serde_json::json!({
            "instruction": c["instruction"], "input": c["input"], "a": c["a"], "b": c["b"], "mode": c["mode"]
        }))))
        .await
        .unwrap();
        close(
            &format!("{what}: compare[{k}] ({})", c["mode"]),
            &got["value"],
            &c["value"],
        );
    }
    for (k, c) in cases("conversations").iter().enumerate() {
        let got = call(
            model.compare_conversations(request(serde_json::json!({"a": c["a"], "b": c["b"]}))),
        )
        .await
        .unwrap();
        close(
            &format!("{what}: conversation[{k}]"),
            &got["value"],
            &c["value"],
        );
    }
    for (k, c) in cases("best_of_n")
        .iter()
        .enumerate()
        .filter(|(_, c)| c["mode"] == "full")
    {
        let got = call(model.best_of_n(request(serde_json::json!({
            "instruction": c["instruction"], "input": c["input"], "candidates": c["candidates"], "mode": "full"
        }))))
        .await
        .unwrap();
        assert_eq!(got["best"], c["best"], "{what}: best_of_n[{k}]");
    }
    for (k, c) in cases("rank_with_ref").iter().enumerate() {
        assert_eq!(c["ref_mode"], "longest");
        let got = call(model.rank_with_ref(request(serde_json::json!({
            "instruction": c["instruction"], "input": c["input"], "candidates": c["candidates"]
        }))))
        .await
        .unwrap();
        for (i, want) in c["scores"].as_array().unwrap().iter().enumerate() {
            close(
                &format!("{what}: rank_with_ref[{k}] score[{i}]"),
                &got["scores"][i],
                want,
            );
        }
    }
    for c in cases("tokenize") {
        let got: Value = serde_wasm_bindgen::from_value(
            model
                .tokenize(request(serde_json::json!({"text": c["text"]})))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(got["ids"], c["ids"], "{what}: tokenize {}", c["text"]);
    }
}

/// `evaluatePairs` (rows read by `parseDataset` from the CSV fixture) and
/// `rankMany` against the reference's values for every row, and the summary's
/// counts against the reference's, also when `summarizePairs` recomputes it.
async fn check_datasets(model: &PairRM, expected: &str, what: &str) {
    let expected: Value = serde_json::from_str(expected).unwrap();
    let parsed: Value = serde_wasm_bindgen::from_value(parse_dataset(PAIRS_CSV).unwrap()).unwrap();
    assert_eq!(parsed["format"], "pairs-csv");
    assert_eq!(parsed["errors"], serde_json::json!([]));
    let scoring = || request(serde_json::json!({"seed": 3}));
    let got = call(model.evaluate_pairs(
        request(parsed["rows"].clone()),
        Some(scoring().unchecked_into()),
    ))
    .await
    .unwrap();
    let want_rows = expected["pairs"].as_array().unwrap();
    assert_eq!(
        got["rows"].as_array().unwrap().len(),
        want_rows.len(),
        "{what}: rows"
    );
    for (k, want) in want_rows.iter().enumerate() {
        let row = &got["rows"][k];
        close(
            &format!("{what}: pair {k} value"),
            &row["value"],
            &want["value"],
        );
        for field in ["tokens_a", "tokens_b", "truncated"] {
            assert_eq!(row[field], want[field], "{what}: pair {k} {field}");
        }
        let v = want["value"].as_f64().unwrap();
        let winner = if v > 0.0 {
            "a"
        } else if v < 0.0 {
            "b"
        } else {
            "tie"
        };
        assert_eq!(row["winner"], winner, "{what}: pair {k} winner");
    }
    let (summary, want) = (&got["summary"], &expected["summary"]);
    for field in ["n", "wins", "losses", "ties", "truncated"] {
        assert_eq!(summary[field], want[field], "{what}: summary {field}");
    }
    for field in ["win_rate", "mean_tokens_a", "mean_tokens_b"] {
        close(
            &format!("{what}: summary {field}"),
            &summary[field],
            &want[field],
        );
    }
    let again: Value = serde_wasm_bindgen::from_value(
        summarize_pairs(
            request(got["rows"].clone()),
            Some(scoring().unchecked_into()),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        &again, summary,
        "{what}: summarizePairs agrees with evaluatePairs"
    );

    let parsed: Value = serde_wasm_bindgen::from_value(parse_dataset(RANKINGS).unwrap()).unwrap();
    assert_eq!(parsed["format"], "rankings-jsonl");
    let got = call(model.rank_many(request(parsed["rows"].clone()), None))
        .await
        .unwrap();
    for (k, want) in expected["rankings"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            got["rows"][k]["ranks"], want["ranks"],
            "{what}: ranking {k}"
        );
        for (i, score) in want["scores"].as_array().unwrap().iter().enumerate() {
            close(
                &format!("{what}: ranking {k} score {i}"),
                &got["rows"][k]["scores"][i],
                score,
            );
        }
    }
}

/// [`check_every_method`] and [`check_datasets`] for `model` (tiny-hf, loaded
/// on `device`) and for tiny-trunc loaded on the same device.
async fn check_both_fixtures(model: &PairRM, device: &str) {
    check_every_method(model, EXPECTED, device).await;
    check_datasets(model, DATASET, device).await;
    let trunc = load_model(
        Some(format!("{SERVER}/models/tiny-trunc/")),
        options(device, None),
    )
    .await
    .unwrap();
    check_every_method(&trunc, EXPECTED_TRUNC, &format!("{device}, tiny-trunc")).await;
    check_datasets(&trunc, DATASET_TRUNC, &format!("{device}, tiny-trunc")).await;
}

/// Autotune benchmarks each kernel variant once. WebGPU here is SwiftShader
/// (Vulkan on the CPU), where timing variants measures nothing, and on wasm
/// every new input shape runs each variant 3 times to warm up and 10 times to
/// time it: most of the WebGPU test's time. Any variant computes the same
/// products, so one timed run each (after the warmups) checks the same thing.
fn sample_autotune_once() {
    use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
    let mut config = CubeClRuntimeConfig::default();
    config.autotune.bench.min_samples = 1;
    config.autotune.bench.max_samples = 1;
    config.autotune.bench.short_circuit_samples = 1;
    // Kept if a WebGPU device was made first: slower, same checks.
    CubeClRuntimeConfig::try_set(config);
}

/// `PairRM.load` with an options object built here; a failure is its message.
async fn load_model(url: Option<String>, options: JsValue) -> Result<PairRM, String> {
    PairRM::load(url, Some(options.unchecked_into()))
        .await
        .map_err(|e| js_sys::Error::from(e).message().into())
}

async fn load(device: &str, chunk: Option<u32>) -> Result<PairRM, String> {
    load_model(Some(model_url()), options(device, chunk)).await
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
    check_both_fixtures(&model, "cpu").await;

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
    sample_autotune_once();
    let model = load("webgpu", None)
        .await
        .expect("WebGPU (Chromium with --enable-unsafe-webgpu)");
    assert_eq!(model.device(), "webgpu");
    check_both_fixtures(&model, "webgpu").await;
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

    damage_a_chunk("").await;
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
    let load_swap = || load_model(Some(url.clone()), options("cpu", None));
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

    // And back: the first model's chunks were deleted once the second loaded
    // (a cache holds one version of a model), so its weights come again.
    fetch_json("/__swap?to=tiny-hf").await;
    fetch_json("/__reset").await;
    check_ranks_against(&load_swap().await.unwrap(), EXPECTED, 1).await;
    assert!(requests("/swap/model.safetensors").await > 2);
    let info: Value = serde_wasm_bindgen::from_value(PairRM::cache_info().await.unwrap()).unwrap();
    assert_eq!(info["models"].as_array().unwrap().len(), 1, "{info}");
}

/// The logits of the first rank case of the fixture, from `model`.
async fn first_rank_logits(model: &PairRM) -> Vec<f64> {
    let expected: Value = serde_json::from_str(EXPECTED).unwrap();
    let case = &expected["rank"][0];
    let req = js_sys::JSON::parse(
        &serde_json::json!({"instruction": case["instruction"], "input": case["input"], "candidates": case["candidates"]})
            .to_string(),
    )
    .unwrap();
    let got = call(model.rank(req, None)).await.unwrap();
    flat(&got["logits"])
}

/// A matrix of numbers, row after row.
fn flat(matrix: &Value) -> Vec<f64> {
    matrix
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect()
}

/// A file that changes on the server mid-download (If-Range answered with the
/// whole new file) makes the load start over: the model is all the new
/// version, never a mix of chunks from both.
#[wasm_bindgen_test]
async fn a_file_changed_mid_download_starts_the_load_over() {
    PairRM::clear_cache().await.unwrap();
    let truth = load_model(
        Some(format!("{SERVER}/broken/tiny-hf-v2/")),
        options("cpu", None),
    )
    .await
    .unwrap();
    let want = first_rank_logits(&truth).await;
    let old: Value = serde_json::from_str(EXPECTED).unwrap();
    let old = flat(&old["rank"][0]["logits"]);
    assert!(
        want.iter().zip(&old).any(|(a, b)| (a - b).abs() > 1e-3),
        "v2 gives other results than v1"
    );
    fetch_json("/__swap?to=tiny-hf").await;
    // After the header and 3 chunks (64 kB each) of v1, the server has v2.
    fetch_json("/__swap?to=tiny-hf-v2&after=5").await;
    let model = load_model(Some(format!("{SERVER}/swap/")), options("cpu", Some(65536)))
        .await
        .unwrap();
    let got = first_rank_logits(&model).await;
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-6, "{got:?} vs v2 {want:?}");
    }
}

/// Range answers that name the wrong bytes, and downloads that stall, are
/// retried and then reported; nothing they sent is stored.
#[wasm_bindgen_test]
async fn wrong_content_ranges_and_stalls_are_retried_then_reported() {
    PairRM::clear_cache().await.unwrap();
    fetch_json("/__lie?from=200000").await;
    fetch_json("/__reset").await;
    let err = load("cpu", Some(65536))
        .await
        .err()
        .expect("a lying server fails the load");
    fetch_json("/__lie?from=-1").await;
    assert!(err.contains("Content-Range"), "{err}");
    // The first chunk past 200 kB was asked for 4 times (ATTEMPTS).
    let asked = weight_requests().await;
    assert!(asked >= 2 + 3 + 4, "{asked} requests");

    let stalling = {
        let o = options("cpu", Some(65536));
        js_sys::Reflect::set(&o, &"stallTimeout".into(), &500.into()).unwrap();
        o
    };
    fetch_json("/__stall?from=400000").await;
    let err = load_model(Some(model_url()), stalling)
        .await
        .err()
        .expect("a stalled download fails the load");
    fetch_json("/__stall?from=-1").await;
    assert!(err.contains("stalled"), "{err}");

    // Nothing wrong was stored: the resumed load gives the reference's values.
    let model = load("cpu", Some(65536)).await.unwrap();
    check_ranks(&model, 1).await;
}

/// On a hub URL (`…/resolve/main/`) every file of a load comes from the
/// commit `config.json` named; a new commit replaces the cached one.
#[wasm_bindgen_test]
async fn hub_loads_are_pinned_to_one_commit_and_old_commits_are_deleted() {
    PairRM::clear_cache().await.unwrap();
    fetch_json("/__commit?set=c0ffee").await;
    fetch_json("/__reset").await;
    let base = format!("{SERVER}/hub/tiny-hf/resolve/main/");
    let model = load_model(Some(base.clone()), options("cpu", None))
        .await
        .unwrap();
    check_ranks(&model, 1).await;
    let c0 = format!("c0ffee{}", "0".repeat(34));
    assert_eq!(requests("/hub/tiny-hf/resolve/main/config.json").await, 1);
    assert_eq!(
        requests("/hub/tiny-hf/resolve/main/model.safetensors").await,
        0
    );
    assert!(requests(&format!("/hub/tiny-hf/resolve/{c0}/model.safetensors")).await >= 2);

    fetch_json("/__commit?set=beef").await;
    let model = load_model(Some(base), options("cpu", None)).await.unwrap();
    check_ranks(&model, 1).await;
    let info: Value = serde_wasm_bindgen::from_value(PairRM::cache_info().await.unwrap()).unwrap();
    let models = info["models"].as_array().unwrap();
    assert_eq!(models.len(), 1, "{info}");
    assert!(
        models[0].as_str().unwrap().contains("/resolve/beef"),
        "{info}"
    );
}

/// A small file over its size limit is refused before it is read whole.
#[wasm_bindgen_test]
async fn an_oversized_config_is_refused() {
    let err = load_model(
        Some(format!("{SERVER}/broken/huge-config/")),
        options("cpu", None),
    )
    .await
    .err()
    .expect("must fail");
    assert!(
        err.contains("config.json") && err.contains("may have"),
        "{err}"
    );
}

#[wasm_bindgen_test]
async fn bad_weight_files_give_clear_errors() {
    for (dir, words) in [
        ("truncated", "truncated"),
        ("wrong-shape", "shape"),
        ("not-safetensors", "safetensors"),
    ] {
        let url = format!("{SERVER}/broken/{dir}/");
        let msg = load_model(Some(url), options("cpu", None))
            .await
            .err()
            .expect("must fail");
        assert!(msg.contains(words), "{dir}: {msg}");
    }
    let msg = load_model(Some(format!("{SERVER}/nowhere/")), options("cpu", None))
        .await
        .err()
        .unwrap();
    assert!(msg.contains("config.json"), "{msg}");
}

/// A ranking stops when its AbortSignal is aborted: before it starts, or
/// between forward passes (here after the first of several).
#[wasm_bindgen_test]
async fn a_ranking_can_be_cancelled() {
    let model = load("cpu", None).await.unwrap();
    let req = || {
        js_sys::JSON::parse(
            &serde_json::json!({"instruction": "hi", "candidates": ["a", "b", "c", "d", "e", "f", "g"]})
                .to_string(),
        )
        .unwrap()
    };
    for reports in [0, 1] {
        let err = JsFuture::from(model.rank(req(), Some(abort_after(reports).unchecked_into())))
            .await
            .unwrap_err();
        // Named as fetch names an aborted request; the message kept for callers
        // that matched it.
        assert_eq!(
            named(err),
            ("AbortError".into(), "cancelled".into(), "cancelled".into()),
            "abort after {reports} reports"
        );
    }
    // Any other failure is a PairRMError whose kind says what failed.
    let one = js_sys::JSON::parse(r#"{"instruction": "hi", "candidates": ["a"]}"#).unwrap();
    let (name, kind, message) = named(JsFuture::from(model.rank(one, None)).await.unwrap_err());
    assert_eq!(
        (name.as_str(), kind.as_str()),
        ("PairRMError", "input"),
        "{message}"
    );
    assert!(message.contains("at least 2 candidates"), "{message}");
    let done = call(model.rank(req(), Some(abort_after(1000).unchecked_into())))
        .await
        .unwrap();
    assert_eq!(done["ranks"].as_array().unwrap().len(), 7);
}

/// A load stops when its AbortSignal is aborted, also while a request hangs
/// (here on a stalled server, long before the stall timeout).
#[wasm_bindgen_test]
async fn a_load_can_be_cancelled() {
    PairRM::clear_cache().await.unwrap();
    fetch_json("/__stall?from=100000").await;
    let started = js_sys::Date::now();
    let err = PairRM::load(
        Some(model_url()),
        Some(abort_in(1500, 65536).unchecked_into()),
    )
    .await
    .err()
    .expect("cancelled");
    fetch_json("/__stall?from=-1").await;
    assert_eq!(
        named(err),
        ("AbortError".into(), "cancelled".into(), "cancelled".into())
    );
    let seconds = (js_sys::Date::now() - started) / 1000.0;
    assert!(seconds < 10.0, "took {seconds} s");
}

/// With storage full the model still loads, fetching each chunk when the
/// build needs it instead of holding the whole file in memory, and says so
/// once (not once per chunk).
#[wasm_bindgen_test]
async fn a_full_quota_loads_chunk_by_chunk_with_one_warning() {
    PairRM::clear_cache().await.unwrap();
    set_quota_full(true);
    fetch_json("/__reset").await;
    let model = load("cpu", Some(65536)).await;
    set_quota_full(false);
    let model = model.unwrap();
    let warnings = model.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("storage is full"), "{warnings:?}");
    // 11 chunks of 64 kB: the header (2 requests), the first chunk whose store
    // failed, then every chunk again as the build reads it.
    let asked = weight_requests().await;
    assert!(asked >= 2 + 1 + 11, "{asked} requests");
    check_ranks(&model, 1).await;
}

/// A hub publishes each weights file's sha256: a download that does not match
/// it is refused and its pieces deleted; one that matches is verified once.
#[wasm_bindgen_test]
async fn weights_are_checked_against_the_published_sha256() {
    PairRM::clear_cache().await.unwrap();
    fetch_json("/__commit?set=d1d1").await;
    let base = format!("{SERVER}/hub/tiny-hf/resolve/main/");
    fetch_json("/__digest?bad=1").await;
    let err = load_model(Some(base.clone()), options("cpu", Some(65536)))
        .await
        .err()
        .expect("a wrong digest fails the load");
    fetch_json("/__digest?bad=0").await;
    assert!(err.contains("sha256"), "{err}");
    let info: Value = serde_wasm_bindgen::from_value(PairRM::cache_info().await.unwrap()).unwrap();
    assert!(
        info["models"].as_array().unwrap().is_empty(),
        "nothing of it stays cached: {info}"
    );

    fetch_json("/__reset").await;
    let model = load_model(Some(base.clone()), options("cpu", Some(65536)))
        .await
        .unwrap();
    check_ranks(&model, 1).await;
    assert_eq!(
        requests("/api/models/hub/tiny-hf/tree/d1d1000000000000000000000000000000000000").await,
        1
    );
    // Verified once: the next load does not ask again.
    fetch_json("/__reset").await;
    load_model(Some(base), options("cpu", Some(65536)))
        .await
        .unwrap();
    assert_eq!(
        requests("/api/models/hub/tiny-hf/tree/d1d1000000000000000000000000000000000000").await,
        0
    );
}

/// Without an ETag (or Last-Modified) nothing tells two same-size files
/// apart: a weights file read afresh (`revalidate`) never reuses the chunks
/// cached for an earlier read.
#[wasm_bindgen_test]
async fn without_etags_a_same_size_replacement_reuses_no_chunks() {
    PairRM::clear_cache().await.unwrap();
    fetch_json("/__etag?off=1").await;
    fetch_json("/__swap?to=tiny-hf").await;
    let url = format!("{SERVER}/swap/");
    let first = load_model(Some(url.clone()), options("cpu", Some(65536))).await;
    let old = first_rank_logits(&first.unwrap()).await;
    fetch_json("/__swap?to=tiny-hf-v2").await;
    let again = {
        let o = options("cpu", Some(65536));
        js_sys::Reflect::set(&o, &"revalidate".into(), &true.into()).unwrap();
        load_model(Some(url), o).await
    };
    fetch_json("/__etag?off=0").await;
    let new = first_rank_logits(&again.unwrap()).await;
    let truth = load_model(
        Some(format!("{SERVER}/broken/tiny-hf-v2/")),
        options("cpu", None),
    )
    .await
    .unwrap();
    let want = first_rank_logits(&truth).await;
    assert!(old.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-3));
    for (g, w) in new.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-6, "{new:?} vs v2 {want:?}");
    }
}

/// A server that ignores Range: the header is read off a plain GET and the
/// weights streamed whole, then cached; the next load asks for none of it.
/// One that also cuts the response gives a clear error, never a model.
#[wasm_bindgen_test]
async fn servers_without_range_stream_the_file_and_a_cut_stream_is_an_error() {
    PairRM::clear_cache().await.unwrap();
    let url = format!("{SERVER_NO_RANGE}/models/tiny-hf/");
    let model = load_model(Some(url.clone()), options("cpu", Some(65536)))
        .await
        .unwrap();
    check_ranks(&model, 2).await;
    let again = load_model(Some(url), options("cpu", Some(65536)))
        .await
        .unwrap();
    check_ranks(&again, 1).await;
    let info: Value = serde_wasm_bindgen::from_value(PairRM::cache_info().await.unwrap()).unwrap();
    assert!(
        info["entries"].as_u64().unwrap() >= 11,
        "the streamed chunks are cached: {info}"
    );

    let err = load_model(
        Some(format!("{SERVER_CUT}/models/tiny-hf/")),
        options("cpu", Some(65536)),
    )
    .await
    .err()
    .expect("a cut download fails the load");
    assert!(err.contains("cut") || err.contains("network"), "{err}");
}

/// The bound on a logit's change for a converted dtype on tiny-hf
/// (`dtypes` in `tests/tolerance.json`: it grows with the model's logits).
fn dtype_bound(dtype: &str) -> f64 {
    let t = &serde_json::from_str::<Value>(TOLERANCE_JSON).unwrap()["dtypes"];
    let expected: Value = serde_json::from_str(EXPECTED).unwrap();
    let largest = expected["forward"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["logit"].as_f64().unwrap().abs())
        .fold(0.0, f64::max);
    t[dtype].as_f64().unwrap() * (largest / t["logit_scale"].as_f64().unwrap()).max(1.0)
}

/// Every rank case's logits within the dtype's bound, and moved at all (the
/// weights were converted), on a model loaded as `dtype`.
async fn check_converted(model: &PairRM, dtype: &str, what: &str) {
    assert_eq!(model.dtype(), dtype, "{what}: reported dtype");
    let expected: Value = serde_json::from_str(EXPECTED).unwrap();
    let mut largest = 0.0f64;
    for (k, c) in expected["rank"].as_array().unwrap().iter().enumerate() {
        let got = call(model.rank(
            request(serde_json::json!({"instruction": c["instruction"], "input": c["input"], "candidates": c["candidates"]})),
            None,
        ))
        .await
        .unwrap();
        let n = c["candidates"].as_array().unwrap().len();
        for i in 0..n {
            for j in 0..n {
                let (g, w) = (
                    got["logits"][i][j].as_f64().unwrap(),
                    c["logits"][i][j].as_f64().unwrap(),
                );
                largest = largest.max((g - w).abs());
                assert!(
                    (g - w).abs() <= dtype_bound(dtype),
                    "{what}: rank[{k}] logit[{i}][{j}] {g} vs {w}"
                );
            }
        }
    }
    assert!(
        largest > 1e-6,
        "{what}: logits equal f32's: nothing was converted"
    );
}

/// f16 and int8 in the browser: converted while loading on the CPU fallback
/// and on WebGPU, and read from a folder `pairrm convert` wrote; an unknown
/// dtype, or more precision than the folder holds, is refused by name.
#[wasm_bindgen_test]
async fn converted_weights_stay_within_their_bounds() {
    for device in ["cpu", "webgpu"] {
        for dtype in ["f16", "q8"] {
            let o = options(device, None);
            js_sys::Reflect::set(&o, &"dtype".into(), &dtype.into()).unwrap();
            let model = load_model(Some(model_url()), o).await.unwrap();
            check_converted(&model, dtype, &format!("{device} {dtype} on the fly")).await;
        }
    }
    let folder = format!("{SERVER}/broken/tiny-hf-q8/");
    let model = load_model(Some(folder.clone()), default_options("cpu", None))
        .await
        .unwrap();
    check_converted(&model, "q8", "q8 folder").await;
    let o = options("cpu", None);
    js_sys::Reflect::set(&o, &"dtype".into(), &"f32".into()).unwrap();
    let msg = load_model(Some(folder), o)
        .await
        .err()
        .expect("f32 from q8");
    assert!(msg.contains("holds q8 weights"), "{msg}");
    let o = options("cpu", None);
    js_sys::Reflect::set(&o, &"dtype".into(), &"int4".into()).unwrap();
    let msg = load_model(Some(model_url()), o)
        .await
        .err()
        .expect("an unknown dtype");
    assert!(
        msg.contains("int4") && msg.contains("f32, f16 or q8"),
        "{msg}"
    );
}

/// On WebGPU int8 weights stay int8 (burn's block-quantized tensors, four
/// to a word, one f32 scale per block of 16 to 128): a q8 model adds to the
/// GPU's memory well under what an f32 one adds, by at least 60% of its
/// Linear weights' f32 bytes (the position projections and norms stay f32 on
/// both). The CPU has no device memory to report.
#[wasm_bindgen_test]
async fn int8_weights_stay_int8_on_webgpu() {
    let config: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/tiny-hf/config.json")).unwrap();
    let dim = |k: &str| config[k].as_f64().unwrap();
    let (h, i) = (dim("hidden_size"), dim("intermediate_size"));
    let linear_f32_bytes = 4.0 * dim("num_hidden_layers") * (4.0 * h * h + 2.0 * h * i);
    let first = load_model(Some(model_url()), options("webgpu", None))
        .await
        .unwrap();
    let base = first
        .device_memory()
        .expect("WebGPU reports the bytes it holds");
    let q8 = load_model(Some(model_url()), default_options("webgpu", None))
        .await
        .unwrap();
    assert_eq!(q8.dtype(), "q8");
    let with_q8 = q8.device_memory().unwrap();
    let f32 = load_model(Some(model_url()), options("webgpu", None))
        .await
        .unwrap();
    let with_f32 = f32.device_memory().unwrap();
    let (q8_bytes, f32_bytes) = (with_q8 - base, with_f32 - with_q8);
    assert!(
        f32_bytes - q8_bytes >= 0.6 * linear_f32_bytes,
        "q8 adds {q8_bytes} bytes, f32 {f32_bytes} (Linear weights in f32: {linear_f32_bytes})"
    );
    let cpu = load_model(Some(model_url()), default_options("cpu", None))
        .await
        .unwrap();
    assert_eq!(cpu.device_memory(), None);
}

/// Bytes of the cached weight chunks whose key contains `part`.
async fn cached_chunk_bytes(part: &str) -> f64 {
    let pieces: Vec<(String, f64)> =
        serde_wasm_bindgen::from_value(JsFuture::from(cached_pieces()).await.unwrap()).unwrap();
    pieces
        .iter()
        .filter(|(k, _)| k.starts_with("chunk:") && k.contains(part))
        .map(|(_, n)| n)
        .sum()
}

/// Loads default to q8. The f32 source is downloaded once and converted into
/// the cache, which then keeps the converted file only; a second load reads
/// nothing of the source and computes the same. A damaged converted piece
/// makes the load start again from the source; a full quota converts while
/// building, to the same weights; f32 afterwards is exact and keeps its own
/// pieces only.
#[wasm_bindgen_test]
async fn q8_is_the_default_and_is_kept_converted_in_the_cache() {
    let default = || default_options("cpu", Some(65536));
    PairRM::clear_cache().await.unwrap();
    fetch_json("/__reset").await;
    let first = load_model(Some(model_url()), default()).await.unwrap();
    check_converted(&first, "q8", "the default").await;
    let want = first_rank_logits(&first).await;
    let source = "model.safetensors:";
    assert_eq!(
        cached_chunk_bytes(source).await,
        0.0,
        "no source piece is kept"
    );
    let converted = cached_chunk_bytes("model.safetensors#q8:").await;
    assert!(converted > 0.0, "the converted file is cached");

    fetch_json("/__reset").await;
    let again = load_model(Some(model_url()), default()).await.unwrap();
    assert_eq!(
        weight_requests().await,
        0,
        "nothing of the source is asked for"
    );
    assert_eq!(first_rank_logits(&again).await, want);

    damage_a_chunk("#q8:").await;
    fetch_json("/__reset").await;
    let repaired = load_model(Some(model_url()), default()).await.unwrap();
    assert!(
        weight_requests().await >= 2,
        "the source is downloaded again"
    );
    assert_eq!(first_rank_logits(&repaired).await, want);
    assert_eq!(cached_chunk_bytes(source).await, 0.0);

    PairRM::clear_cache().await.unwrap();
    set_quota_full(true);
    let uncached = load_model(Some(model_url()), default()).await;
    set_quota_full(false);
    let uncached = uncached.unwrap();
    assert_eq!(uncached.warnings().len(), 1, "{:?}", uncached.warnings());
    assert_eq!(
        first_rank_logits(&uncached).await,
        want,
        "converted while building"
    );

    let full = load_model(Some(model_url()), options("cpu", Some(65536)))
        .await
        .unwrap();
    assert_eq!(full.dtype(), "f32");
    check_ranks(&full, 1).await;
    assert_eq!(
        cached_chunk_bytes("#q8").await,
        0.0,
        "the q8 pieces are let go"
    );
    let f32_bytes = cached_chunk_bytes(source).await;
    assert!(
        converted < 0.45 * f32_bytes,
        "q8 keeps {converted} bytes, f32 {f32_bytes}"
    );
}

/// A fresh q8 load converts the source as it downloads, and keeps the
/// conversion only once the whole file checked out: a download cut part-way
/// leaves the source's pieces to resume from (and no converted piece), and
/// the resumed load converts from the cache to the same weights; a download
/// that does not match its published sha256 leaves nothing cached.
#[wasm_bindgen_test]
async fn q8_converts_while_downloading_and_keeps_only_checked_conversions() {
    let default = || default_options("cpu", Some(65536));
    PairRM::clear_cache().await.unwrap();
    fetch_json("/__reset").await;
    let one_go = load_model(Some(model_url()), default()).await.unwrap();
    let want = first_rank_logits(&one_go).await;

    PairRM::clear_cache().await.unwrap();
    fetch_json("/__drop?from=200000").await;
    let cut = load_model(Some(model_url()), default()).await;
    fetch_json("/__drop?from=-1").await;
    assert!(cut.is_err(), "a dropped download is an error");
    assert!(
        cached_chunk_bytes("model.safetensors:").await > 0.0,
        "the source's pieces stay, to resume from"
    );
    assert_eq!(
        cached_chunk_bytes("#q8").await,
        0.0,
        "no converted piece of a failed load stays"
    );
    fetch_json("/__reset").await;
    let resumed = load_model(Some(model_url()), default()).await.unwrap();
    // 4 of 11 chunks were cached: the other 7, and the header (2 requests).
    assert_eq!(weight_requests().await, 9, "resumed");
    assert_eq!(first_rank_logits(&resumed).await, want);
    assert_eq!(cached_chunk_bytes("model.safetensors:").await, 0.0);
    assert!(cached_chunk_bytes("#q8").await > 0.0);

    PairRM::clear_cache().await.unwrap();
    fetch_json("/__commit?set=d1d1").await;
    let base = format!("{SERVER}/hub/tiny-hf/resolve/main/");
    fetch_json("/__digest?bad=1").await;
    let err = load_model(Some(base.clone()), default())
        .await
        .err()
        .expect("a wrong digest fails the load");
    fetch_json("/__digest?bad=0").await;
    assert!(err.contains("sha256"), "{err}");
    assert_eq!(cached_chunk_bytes("").await, 0.0, "no piece stays cached");
    let checked = load_model(Some(base), default()).await.unwrap();
    assert_eq!(first_rank_logits(&checked).await, want);
}

#[wasm_bindgen_test]
async fn a_probe_tells_the_size_and_whether_cached_before_any_download() {
    const SIZE: f64 = include_bytes!("../../tests/fixtures/tiny-hf/model.safetensors").len() as f64;
    let probe = |url: Option<String>| async move {
        serde_wasm_bindgen::from_value::<Value>(PairRM::probe(url).await.unwrap()).unwrap()
    };
    assert!(PairRM::default_url().starts_with("https://"));
    PairRM::clear_cache().await.unwrap();
    fetch_json("/__reset").await;
    let p = probe(Some(format!("{SERVER}/models/tiny-hf"))).await;
    assert_eq!(
        p["url"],
        model_url().as_str(),
        "the base URL ends with a slash"
    );
    assert_eq!(
        (p["size"].as_f64(), p["cached"].as_bool()),
        (Some(SIZE), Some(false))
    );
    assert_eq!(weight_requests().await, 1, "one request, for one byte");
    let p = probe(Some(format!("{SERVER_NO_RANGE}/models/tiny-hf/"))).await;
    assert_eq!(
        p["size"].as_f64(),
        Some(SIZE),
        "without Range: Content-Length"
    );
    let p = probe(Some(format!("{SERVER}/models/no-such-model/"))).await;
    assert_eq!(
        (p["size"].as_f64(), p["cached"].as_bool()),
        (Some(0.0), Some(false))
    );

    load("cpu", None).await.unwrap();
    fetch_json("/__reset").await;
    let p = probe(Some(model_url())).await;
    assert_eq!(
        (p["size"].as_f64(), p["cached"].as_bool()),
        (Some(0.0), Some(true))
    );
    assert_eq!(
        weight_requests().await,
        0,
        "a cached model is not asked for"
    );
}
