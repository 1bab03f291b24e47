//! Records of downloaded pieces, in IndexedDB (in a worker, the bytes live in an
//! origin-private file the record names: see `glue.js`). A record is written only
//! once its piece is complete and checked; it carries a hash of its bytes, verified
//! on every read, so a partial or corrupt record is dropped and refetched, never used.

use js_sys::Uint8Array;
use wasm_bindgen_futures::JsFuture;

use super::js;

/// A 64-bit check of `bytes`, eight bytes a step (a warm load checks every
/// record it reads: 446 MB for the q8 model), as `w1:` and 16 hex digits.
/// Each step is a bijection of the state for a given word, so a record that
/// differs from the stored one in any single word always fails the check.
pub fn hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64;
    let mut step = |v: u64| h = (h ^ v).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    for w in words {
        step(u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    step(u64::from_le_bytes(last));
    format!("w1:{h:016x}")
}

/// FNV-1a 64, as 16 hex digits: the check of records written before `w1:`
/// (still read, so that an existing cache stays valid).
fn fnv_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Whether `bytes` match the check stored with them (either kind).
fn intact(bytes: &[u8], stored: &str) -> bool {
    if stored.starts_with("w1:") {
        hash(bytes) == stored
    } else {
        fnv_hash(bytes) == stored
    }
}

/// Why a record could not be stored.
pub enum PutError {
    /// The browser's storage quota is full.
    Quota,
    /// IndexedDB is unavailable or failed otherwise.
    Other(String),
}

/// What `idbPut` stores and `idbGet` reads back.
#[derive(serde::Deserialize)]
struct Record {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    bytes: Uint8Array,
    hash: String,
    meta: String,
}

/// A verified record, or `None` when absent or damaged (damaged ones are deleted).
pub async fn get(key: &str, expected_len: Option<usize>) -> Option<(Vec<u8>, String)> {
    start_get(key).finish(expected_len).await
}

/// A read that IndexedDB works on from now on, while the caller computes:
/// [`Pending::finish`] takes its record (as [`get`] does).
pub struct Pending {
    key: String,
    promise: js_sys::Promise,
}

pub fn start_get(key: &str) -> Pending {
    Pending {
        key: key.to_string(),
        promise: js::idb_get(key),
    }
}

impl Pending {
    pub async fn finish(self, expected_len: Option<usize>) -> Option<(Vec<u8>, String)> {
        let record = JsFuture::from(self.promise).await.ok()?;
        if record.is_undefined() || record.is_null() {
            return None;
        }
        // A record of another shape (an older version of this code) counts as damaged.
        let record: Option<Record> = serde_wasm_bindgen::from_value(record).ok();
        let (bytes, stored_hash, meta) = match record {
            Some(r) => (Some(r.bytes.to_vec()), r.hash, r.meta),
            None => (None, String::new(), String::new()),
        };
        match bytes {
            Some(b) if intact(&b, &stored_hash) && expected_len.is_none_or(|n| n == b.len()) => {
                Some((b, meta))
            }
            _ => {
                let _ = JsFuture::from(js::idb_delete(&self.key)).await;
                None
            }
        }
    }
}

pub async fn put(key: &str, bytes: &[u8], meta: &str) -> Result<(), PutError> {
    let array = Uint8Array::from(bytes);
    JsFuture::from(js::idb_put(key, &array, &hash(bytes), meta))
        .await
        .map(|_| ())
        .map_err(|e| {
            let name = js::error_name(&e);
            if name == "QuotaExceededError" || js::message(&e).to_lowercase().contains("quota") {
                PutError::Quota
            } else {
                PutError::Other(js::message(&e))
            }
        })
}

/// Delete a record (absent or not).
pub async fn delete(key: &str) {
    let _ = JsFuture::from(js::idb_delete(key)).await;
}

pub async fn keys() -> Vec<String> {
    match JsFuture::from(js::idb_keys()).await {
        Ok(v) => js_sys::Array::from(&v)
            .iter()
            .filter_map(|k| k.as_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub async fn clear() -> Result<(), String> {
    JsFuture::from(js::idb_clear())
        .await
        .map(|_| ())
        .map_err(|e| js::message(&e))
}

/// What `glue.js`'s `storageEstimate` resolves to, in bytes (zeros where the
/// browser does not say).
#[derive(serde::Deserialize, Default)]
pub struct Estimate {
    pub usage: f64,
    pub quota: f64,
}

pub async fn estimate() -> Estimate {
    let value = JsFuture::from(js::storage_estimate()).await.ok();
    value
        .and_then(|v| serde_wasm_bindgen::from_value(v).ok())
        .unwrap_or_default()
}
