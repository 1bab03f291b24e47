//! Loading a model from a base URL: small files whole, `model.safetensors`
//! by Range requests in fixed chunks (streamed when the server ignores Range),
//! every verified piece cached in IndexedDB. The model is then built by the
//! core's one pipeline (`pairrm_web::load`), group by group, so that only one
//! layer's host tensors exist at a time; this module is its source.

mod convert;
mod files;
mod integrity;
mod notes;
mod source;
mod weights;

use pairrm_web::device::Device;

use super::cache::{self};
use pairrm_web::api::{LoadSettings, Ranker, TokenizerPreference};
use pairrm_web::error::Result;
use pairrm_web::load::load_ranker;

/// Bytes per cached piece of `model.safetensors` (unless a load asks otherwise).
pub const CHUNK: u64 = 8 * 1024 * 1024;

/// Reports `(phase, file, done, total)`; phases: "download", "cache",
/// "convert" (to a lower dtype, into the cache), "upload".
pub type ProgressFn<'a> = dyn FnMut(&str, &str, u64, u64) + 'a;
use convert::*;
use files::*;
use integrity::*;
use notes::*;
pub use notes::{LoadOptions, Notes, Settings};
use source::HttpSource;
use weights::*;

/// Loads a file changed on the server while it was read this many times
/// before giving up.
const LOADS_WHEN_CHANGING: u32 = 3;

/// Load the model at `base` (a URL ending in `/`) onto `device`. When a file
/// changes on the server mid-load, the load starts over (asking for every
/// file's version again), so chunks of two versions never make one model.
/// After a load succeeds, cached pieces of other versions of this model are
/// deleted.
pub async fn load(
    base: &str,
    device: &Device,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<Ranker> {
    let mut tries = 1;
    loop {
        notes.changed = false;
        notes.start_over = false;
        notes.used.clear();
        match load_once(base, device, notes, progress).await {
            Err(_) if (notes.changed || notes.start_over) && tries < LOADS_WHEN_CHANGING => {
                notes.revalidate = true;
                tries += 1;
            }
            Err(e) => return Err(e),
            Ok(ranker) => {
                forget_other_versions(base, notes).await;
                return Ok(ranker);
            }
        }
    }
}

/// Where the files of one load come from: on a hub URL
/// (`…/resolve/<revision>/`), the commit `config.json` was served from, so
/// every file of the load belongs to that commit even if the branch moves.
fn pinned_base(base: &str, config_version: &str) -> String {
    let is_commit =
        config_version.len() == 40 && config_version.bytes().all(|b| b.is_ascii_hexdigit());
    match base.split_once("/resolve/") {
        Some((repo, rest)) if is_commit => match rest.split_once('/') {
            Some((_, path)) => format!("{repo}/resolve/{config_version}/{path}"),
            None => base.to_string(),
        },
        _ => base.to_string(),
    }
}

/// What every cached piece of this model's versions starts with (after the
/// `kind:` of its key): the base URL, up to the revision on a hub URL.
fn model_root(base: &str) -> String {
    match base.split_once("/resolve/") {
        Some((repo, _)) => format!("{repo}/resolve/"),
        None => base.to_string(),
    }
}

/// Delete cached pieces of this model that the load just finished did not use.
async fn forget_other_versions(base: &str, notes: &Notes) {
    let root = model_root(base);
    for key in cache::keys().await {
        let ours = key
            .split_once(':')
            .is_some_and(|(_, url)| url.starts_with(&root));
        if ours && !notes.used.contains(&key) {
            cache::delete(&key).await;
        }
    }
}

/// One try: the core's loading pipeline over this URL's [`HttpSource`].
async fn load_once(
    base: &str,
    device: &Device,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<Ranker> {
    let settings = LoadSettings {
        dtype: notes.settings.dtype,
        tokenizer: TokenizerPreference::SpmFirst,
    };
    let mut source = HttpSource::new(base, notes, progress);
    let ranker = load_ranker(&mut source, device, &settings).await?;
    if let Some(c) = source.fresh_config.take() {
        store(&c.key, &c.bytes, &c.version, source.notes).await;
    }
    Ok(ranker.with_yield(crate::yield_hook))
}
