//! The small files (`config.json`, tokenizer files): cached whole, and
//! `config.json` asked again on every load to notice a model changed upstream.

use super::*;
use crate::cache;
use crate::fetch::{self, Options};
use pairrm_web::error::{Error, Result};
use pairrm_web::files::small_file_limit;

/// How a small file is fetched: capped at its size limit.
fn small_options(url: &str, timeout_ms: u32, notes: &Notes) -> Options {
    Options {
        timeout_ms,
        max_bytes: small_file_limit(url),
        ..notes.options()
    }
}

/// A small file, from the cache or the network (cached after download).
/// `Ok(None)` when the server has no such file.
pub(super) async fn small_file(
    url: &str,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<Option<Vec<u8>>> {
    let key = format!("file:{url}");
    if let Some((bytes, _)) = cached_unless_revalidating(&key, notes).await {
        notes.used.insert(key);
        progress("cache", url, bytes.len() as u64, bytes.len() as u64);
        return Ok(Some(bytes));
    }
    let Some(bytes) = fetch::get_versioned(url, &small_options(url, 0, notes))
        .await?
        .map(|f| f.bytes)
    else {
        return Ok(None);
    };
    progress("download", url, bytes.len() as u64, bytes.len() as u64);
    store(&key, &bytes, "", notes).await;
    Ok(Some(bytes))
}

/// How long a cached load waits for the server before using the cache as it is.
pub(super) const FRESHNESS_TIMEOUT_MS: u32 = 5000;

/// `config.json` as downloaded, cached only once the whole load has succeeded:
/// a load cut short by a new version must not leave the new config cached next
/// to the old weights header, or the next load would see nothing to revalidate.
pub(super) struct FreshConfig {
    pub(super) key: String,
    pub(super) bytes: Vec<u8>,
    pub(super) version: String,
}

/// `config.json`, asked of the server on every load: it is what notices a model
/// that changed upstream without a single request for the weights. Its version
/// is the repository commit where the server names one (any commit on the
/// Hugging Face hub), else its ETag, else its hash. A new version makes the
/// rest of the load revalidate (tokenizer and weights header asked again; weight
/// chunks of an unchanged file still come from the cache). When the server cannot
/// be reached (offline) or fails, a cached copy is used as it is.
/// Also returns the version (a commit where the server names one).
pub(super) async fn config_file(
    url: &str,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<(Vec<u8>, String, Option<FreshConfig>)> {
    let key = format!("file:{url}");
    let cached = cache::get(&key, None).await;
    notes.used.insert(key.clone());
    let timeout = if cached.is_some() {
        FRESHNESS_TIMEOUT_MS
    } else {
        0
    };
    let fetched = fetch::get_versioned(url, &small_options(url, timeout, notes)).await;
    match (fetched, cached) {
        (Ok(Some(fetched)), cached) => {
            let version = [fetched.revision, fetched.etag]
                .into_iter()
                .find(|v| !v.is_empty())
                .unwrap_or_else(|| cache::hash(&fetched.bytes));
            let bytes = fetched.bytes;
            progress("download", url, bytes.len() as u64, bytes.len() as u64);
            let fresh = cached
                .is_none_or(|(_, old)| old != version)
                .then(|| FreshConfig {
                    key,
                    bytes: bytes.clone(),
                    version: version.clone(),
                });
            notes.revalidate |= fresh.is_some();
            Ok((bytes, version, fresh))
        }
        (_, Some((bytes, version))) => {
            progress("cache", url, bytes.len() as u64, bytes.len() as u64);
            Ok((bytes, version, None))
        }
        (Ok(None), None) => Err(not_found(url)),
        (Err(e), None) => Err(e),
    }
}

fn not_found(url: &str) -> Error {
    Error::Io {
        what: url.to_string(),
        cause: "not found (HTTP 404)".into(),
    }
}

pub(super) async fn required_file(
    url: &str,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<Vec<u8>> {
    small_file(url, notes, progress)
        .await?
        .ok_or_else(|| not_found(url))
}
