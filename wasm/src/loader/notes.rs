//! One load's options (as the caller gave them, and resolved), its report to
//! the caller, and its own bookkeeping, as separate types; and the cache
//! helpers that report into them.

use std::collections::HashSet;

use serde::Deserialize;
use wasm_bindgen::JsValue;

use super::*;
use crate::cache::{self, PutError};
use crate::fetch::{self, Options};
use crate::js;
use pairrm_web::error::{Error, Result};
use pairrm_web::quant::WeightDtype;

/// `PairRM.load`'s options object, read by serde: the TypeScript declaration
/// `LoadOptions` describes it (`tests/typescript.rs` checks that the two name
/// the same fields). The callback and the signal stay JS values. A field of
/// the wrong type is an error; other fields are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadOptions {
    /// "auto" (default), "webgpu" or "cpu".
    pub device: Option<String>,
    /// Called with `{phase, file, loaded, total}` (anything else: not called).
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    pub on_progress: JsValue,
    pub revalidate: Option<bool>,
    /// Bytes per cached piece of the weights; under 1 KiB: the default.
    pub chunk_size: Option<f64>,
    /// Milliseconds without a byte before a download is retried; under 1: the default.
    pub stall_timeout: Option<f64>,
    /// An `AbortSignal` (anything with `aborted`).
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    pub signal: JsValue,
    /// "f32", "f16" or "q8" (default: the package's, `DEFAULT_DTYPE`).
    pub dtype: Option<String>,
}

/// How a load goes: its [`LoadOptions`] resolved.
pub struct Settings {
    /// Bytes per cached piece of the weights file.
    pub chunk: u64,
    /// Abandon (and retry) a download that receives nothing for this long.
    pub stall_ms: u32,
    /// Convert the weights to this dtype as they are read (`None`: as stored).
    pub dtype: Option<WeightDtype>,
    /// The caller's `AbortSignal` (undefined: none): stops requests under way
    /// and the load between pieces with [`Error::Cancelled`].
    pub signal: JsValue,
}

impl Settings {
    /// From the caller's options; an unknown dtype is an error.
    pub fn new(options: &LoadOptions, default_dtype: WeightDtype) -> Result<Self> {
        Ok(Self {
            chunk: options
                .chunk_size
                .filter(|n| *n >= 1024.0)
                .map_or(CHUNK, |n| n as u64),
            stall_ms: options
                .stall_timeout
                .filter(|n| *n >= 1.0)
                .map_or(fetch::STALL_MS, |ms| ms.min(f64::from(u32::MAX)) as u32),
            dtype: Some(match &options.dtype {
                None => default_dtype,
                Some(name) => name.parse()?,
            }),
            signal: options.signal.clone(),
        })
    }
}

/// What a load tells its caller besides the model.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// What the user should hear about (a full quota, …), each once.
    pub warnings: Vec<String>,
}

/// One load under way: its settings, its report, and its bookkeeping.
pub struct Notes {
    pub settings: Settings,
    pub report: LoadReport,
    /// Ask the server again for the tokenizer and the weights header (ETag or
    /// size) even when `config.json` says nothing changed; chunks of an unchanged
    /// file still come from the cache. Set by the caller, and by the load when
    /// the config changed or it starts over.
    pub(super) revalidate: bool,
    /// Cache keys this load read or wrote; after it succeeds, other keys of
    /// the same model (older versions) are deleted.
    pub(super) used: HashSet<String>,
    /// A file changed on the server while this load read it.
    pub(super) changed: bool,
    /// A cached piece that cannot be fetched again was damaged (and its set
    /// forgotten): loading again starts from the source.
    pub(super) start_over: bool,
}

impl Notes {
    pub fn new(settings: Settings, revalidate: bool) -> Self {
        Self {
            settings,
            report: LoadReport::default(),
            revalidate,
            used: HashSet::new(),
            changed: false,
            start_over: false,
        }
    }

    /// How this load's requests are made.
    pub(super) fn options(&self) -> Options {
        Options {
            stall_ms: self.settings.stall_ms,
            signal: self.settings.signal.clone(),
            ..Options::default()
        }
    }

    pub(super) fn check_cancelled(&self) -> Result<()> {
        if js::aborted(&self.settings.signal) {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A warning, once however often it happens.
    pub fn warn(&mut self, message: String) {
        let warnings = &mut self.report.warnings;
        if !warnings.contains(&message) {
            warnings.push(message);
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
