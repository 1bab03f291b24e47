//! The downloaded weights checked against the sha256 a hub publishes.

use sha2::{Digest, Sha256};

use super::*;
use crate::cache;
use crate::fetch::{self, Options};
use pairrm_web::error::{Error, Result};

pub(super) fn hex_digest(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The sha256 a hub publishes for `model.safetensors` (its LFS object id), for
/// a hub URL `{origin}/{repo}/resolve/{revision}/`: the Hugging Face API's file
/// list `{origin}/api/models/{repo}/tree/{revision}`. `None` where there is no
/// such list or it names no digest (other servers; offline).
pub(super) async fn published_sha256(base: &str, notes: &Notes) -> Option<String> {
    let (repo_url, rest) = base.split_once("/resolve/")?;
    let revision = rest.split('/').next()?;
    let host_start = repo_url.find("://")? + 3;
    let (origin, repo) = repo_url.split_at(host_start + repo_url[host_start..].find('/')?);
    let api = format!("{origin}/api/models{repo}/tree/{revision}");
    let options = Options {
        max_bytes: 4 << 20,
        timeout_ms: FRESHNESS_TIMEOUT_MS,
        ..notes.options()
    };
    let listing = fetch::get_versioned(&api, &options).await.ok()??;
    let files: serde_json::Value = serde_json::from_slice(&listing.bytes).ok()?;
    let oid = files
        .as_array()?
        .iter()
        .find(|f| f["path"] == "model.safetensors")?["lfs"]["oid"]
        .as_str()?
        .to_ascii_lowercase();
    (oid.len() == 64 && oid.bytes().all(|b| b.is_ascii_hexdigit())).then_some(oid)
}

/// Check the whole cached file against `want` (once per version: a record
/// says it was verified). On a mismatch every piece of this version is
/// deleted, so the next load downloads it afresh.
pub(super) async fn verify(
    reader: &mut ChunkReader<'_>,
    want: &str,
    hashed: Option<String>,
    notes: &mut Notes,
) -> Result<()> {
    let got = match hashed {
        Some(h) => h,
        None => {
            let mut hasher = Sha256::new();
            for i in 0..reader.file.chunks() {
                hasher.update(reader.chunk(i, notes).await?);
                notes.check_cancelled()?;
            }
            hex_digest(hasher)
        }
    };
    let file = &reader.file;
    if got != want {
        for i in 0..file.chunks() {
            cache::delete(&file.key(i)).await;
        }
        cache::delete(&format!("header:{}", file.url)).await;
        return Err(Error::weights(format!(
            "{} does not match its published sha256 ({want}; the download has {got}): \
             the cached copy was deleted, load again",
            file.url
        )));
    }
    store(&verified_key(file), want.as_bytes(), "", notes).await;
    Ok(())
}

pub(super) fn verified_key(file: &WeightsFile) -> String {
    format!("verified:{}:{}", file.url, file.version)
}
