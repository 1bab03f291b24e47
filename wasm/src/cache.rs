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
    /// Where the browser writes the bytes ([`start_get_into`]) until the
    /// promise settles.
    buffer: Option<Vec<u8>>,
}

pub fn start_get(key: &str) -> Pending {
    Pending {
        key: key.to_string(),
        promise: js::idb_get(key),
        buffer: None,
    }
}

/// As [`start_get`] for a record of `len` bytes. In a worker, whose pieces
/// are files, the browser reads the file straight into a buffer of this
/// read's own: the bytes reach wasm memory without a copy from a JS buffer
/// (446 MB on a warm q8 load).
pub fn start_get_into(key: &str, len: usize) -> Pending {
    if !js::reads_into() {
        return start_get(key);
    }
    // Not zeroed (8 MB per piece, 0.15 s of a one-thread warm load): only
    // the bytes the browser reports as read are ever exposed (`finish`).
    let mut buffer = Vec::<u8>::with_capacity(len);
    let promise = js::idb_get_into(
        key,
        &wasm_bindgen::memory(),
        buffer.as_mut_ptr() as usize,
        len,
    );
    Pending {
        key: key.to_string(),
        promise,
        buffer: Some(buffer),
    }
}

impl Drop for Pending {
    /// A read given up before its promise settled (a prefetched piece the
    /// load skipped, a cancelled load) may still be written into by the
    /// browser: its buffer is freed only once the promise settles.
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            let promise = self.promise.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let _ = JsFuture::from(promise).await;
                drop(buffer);
            });
        }
    }
}

impl Pending {
    pub async fn finish(mut self, expected_len: Option<usize>) -> Option<(Vec<u8>, String)> {
        // The buffer stays in `self` while the promise is pending (see Drop).
        let record = JsFuture::from(self.promise.clone()).await;
        let buffer = self.buffer.take();
        let record = record.ok()?;
        if record.is_undefined() || record.is_null() {
            return None;
        }
        if let (Some(read), Some(mut buffer)) = (js::get(&record, "read").as_f64(), buffer) {
            // SAFETY: the glue reads the file into the buffer from its start
            // and reports how many bytes it wrote (`readFileInto`); never
            // more than the buffer holds.
            unsafe { buffer.set_len((read as usize).min(buffer.capacity())) };
            let stored_hash = js::get(&record, "hash").as_string().unwrap_or_default();
            let meta = js::get(&record, "meta").as_string().unwrap_or_default();
            return self
                .checked(Some(buffer), &stored_hash, meta, expected_len)
                .await;
        }
        // A record of another shape (an older version of this code) counts as damaged.
        let record: Option<Record> = serde_wasm_bindgen::from_value(record).ok();
        let (bytes, stored_hash, meta) = match record {
            Some(r) => (Some(r.bytes.to_vec()), r.hash, r.meta),
            None => (None, String::new(), String::new()),
        };
        self.checked(bytes, &stored_hash, meta, expected_len).await
    }

    /// The bytes if they match their check (and length), else the record deleted.
    async fn checked(
        &self,
        bytes: Option<Vec<u8>>,
        stored_hash: &str,
        meta: String,
        expected_len: Option<usize>,
    ) -> Option<(Vec<u8>, String)> {
        match bytes {
            Some(b) if intact(&b, stored_hash) && expected_len.is_none_or(|n| n == b.len()) => {
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
