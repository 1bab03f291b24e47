//! What a load noticed (warnings, a full quota, cancelling) and the cache
//! helpers that report into it.

use std::collections::HashSet;

use wasm_bindgen::JsValue;

use super::*;
use crate::cache::{self, PutError};
use crate::fetch::{self, Options};
use crate::js;
use pairrm_web::error::{Error, Result};

/// What a load noticed that the user should hear about (a full quota, …).
pub struct Notes {
    /// Ask the server again for the tokenizer and the weights header (ETag or
    /// size) even when `config.json` says nothing changed; chunks of an unchanged
    /// file still come from the cache.
    pub revalidate: bool,
    /// Bytes per cached piece of the weights file.
    pub chunk: u64,
    /// Abandon (and retry) a download that receives nothing for this long.
    pub stall_ms: u32,
    /// Convert the weights to this dtype as they are read (`None`: as stored).
    pub dtype: Option<pairrm_web::quant::WeightDtype>,
    pub warnings: Vec<String>,
    /// Cache keys this load read or wrote; after it succeeds, other keys of
    /// the same model (older versions) are deleted.
    pub(super) used: HashSet<String>,
    /// A file changed on the server while this load read it.
    pub(super) changed: bool,
    /// A cached piece that cannot be fetched again was damaged (and its set
    /// forgotten): loading again starts from the source.
    pub(super) start_over: bool,
    /// The caller's `AbortSignal` (undefined: none): stops requests under way
    /// and the load between pieces with [`Error::Cancelled`].
    pub signal: JsValue,
}

impl Default for Notes {
    fn default() -> Self {
        Self {
            revalidate: false,
            chunk: CHUNK,
            stall_ms: fetch::STALL_MS,
            dtype: None,
            warnings: Vec::new(),
            used: HashSet::new(),
            changed: false,
            start_over: false,
            signal: JsValue::UNDEFINED,
        }
    }
}

impl Notes {
    /// How this load's requests are made.
    pub(super) fn options(&self) -> Options {
        Options {
            stall_ms: self.stall_ms,
            signal: self.signal.clone(),
            ..Options::default()
        }
    }

    pub(super) fn check_cancelled(&self) -> Result<()> {
        if js::aborted(&self.signal) {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A warning, once however often it happens.
    pub fn warn(&mut self, message: String) {
        if !self.warnings.contains(&message) {
            self.warnings.push(message);
        }
    }

    fn quota(&mut self) {
        self.warn(
            "browser storage is full: the model runs from memory and will be downloaded again next time"
                .into(),
        );
    }
}

/// A cached record, unless this load revalidates.
pub(super) async fn cached_unless_revalidating(
    key: &str,
    notes: &Notes,
) -> Option<(Vec<u8>, String)> {
    if notes.revalidate {
        None
    } else {
        cache::get(key, None).await
    }
}

/// Store a piece; a full quota is a warning, not a failure.
pub(super) async fn store(key: &str, bytes: &[u8], meta: &str, notes: &mut Notes) -> bool {
    notes.used.insert(key.to_string());
    match cache::put(key, bytes, meta).await {
        Ok(()) => true,
        Err(PutError::Quota) => {
            notes.quota();
            false
        }
        Err(PutError::Other(m)) => {
            notes.warn(format!("cannot cache the model: {m}"));
            false
        }
    }
}
