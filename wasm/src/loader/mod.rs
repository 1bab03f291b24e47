//! Loading a model from a base URL: small files whole, `model.safetensors`
//! by Range requests in fixed chunks (streamed when the server ignores Range),
//! every verified piece cached in IndexedDB, then the model built group by
//! group so that only one layer's host tensors exist at a time.

mod convert;
mod files;
mod integrity;
mod notes;
mod weights;

use std::collections::HashMap;

use burn::tensor::Device;

use super::cache::{self};
use pairrm_web::api::{check_vocab, resolve_config, Ranker, TokenizerFiles};
use pairrm_web::config::{parse_model_config, ConfigSource};
use pairrm_web::error::Result;
use pairrm_web::model::{load_groups, ModelBuilder};
use pairrm_web::weights::PairRmWeights;

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

async fn load_once(
    base: &str,
    device: &Device,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<Ranker> {
    let config_url = format!("{base}config.json");
    let (config_bytes, config_version, fresh_config) =
        config_file(&config_url, notes, progress).await?;
    let base = &pinned_base(base, &config_version);
    let config_json = text(&config_url, config_bytes)?;
    let backbone_json = match parse_model_config(&config_json)? {
        ConfigSource::Ready(_) => None,
        ConfigSource::NeedsBackbone(p) => {
            let url = format!("{base}{}/config.json", p.model_name.trim_end_matches('/'));
            Some(text(&url, required_file(&url, notes, progress).await?)?)
        }
    };
    let config = resolve_config(&config_json, backbone_json.as_deref())?;

    // spm.model + added_tokens.json (2.5 MB) before tokenizer.json (8.7 MB).
    let spm_url = format!("{base}spm.model");
    let tokenizer = match small_file(&spm_url, notes, progress).await? {
        Some(spm_model) => {
            let url = format!("{base}added_tokens.json");
            let added_tokens_json = text(&url, required_file(&url, notes, progress).await?)?;
            TokenizerFiles::Spm {
                spm_model,
                added_tokens_json,
            }
        }
        None => {
            let url = format!("{base}tokenizer.json");
            TokenizerFiles::Json(text(&url, required_file(&url, notes, progress).await?)?)
        }
    }
    .load()?;

    let url = format!("{base}model.safetensors");
    let mut file = open_weights(&url, &config.backbone, notes, progress).await?;
    check_vocab(&tokenizer, file.plan.vocab_size)?;
    let dtype = file.plan.check_target(notes.settings.dtype)?;
    // A dtype below the stored one: converted once into the cache.
    let conversion = notes
        .settings
        .dtype
        .filter(|&d| d != file.plan.stored_dtype());
    let cached = match conversion {
        Some(d) => cached_conversion(&file, d, &config.backbone, notes).await,
        None => None,
    };
    let mut converted = match cached {
        Some(c) => Some(c),
        None => {
            let hashed = download(&mut file, notes, progress).await?;
            let verified = cache::get(&verified_key(&file), None).await.is_some();
            if verified {
                notes.used.insert(verified_key(&file));
            }
            let digest = if verified {
                None
            } else {
                published_sha256(base, notes).await
            };
            let mut reader = ChunkReader {
                file: &mut file,
                current: None,
            };
            if let Some(want) = digest {
                verify(&mut reader, &want, hashed, notes).await?;
            }
            match conversion {
                Some(d) => {
                    convert_into_cache(&mut reader, d, &config.backbone, notes, progress).await?
                }
                None => None,
            }
        }
    };
    // Read from the converted file as stored, or from the source converting
    // as it goes (when the cache could not hold the converted file).
    let (file, convert) = match converted.as_mut() {
        Some(c) => (c, None),
        None => (&mut file, notes.settings.dtype),
    };
    let plan = file.plan.clone();
    let entries: HashMap<&str, _> = plan.entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let total = plan.data_len as u64;
    let mut built = 0u64;
    let mut reader = ChunkReader {
        file,
        current: None,
    };
    let mut builder = ModelBuilder::new(&config, tokenizer.special.pad, device);
    for group in load_groups(&config.backbone) {
        let mut weights = PairRmWeights::empty(plan.vocab_size, plan.n_tasks);
        let mut members: Vec<_> = group.iter().map(|n| entries[n.as_str()]).collect();
        members.sort_by_key(|e| e.offsets.0);
        for e in members {
            let mut raw = Vec::new();
            for (a, b) in e.ranges() {
                let at = |o: usize| (plan.data_start + o) as u64;
                raw.push(reader.read(at(a), at(b), notes).await?);
                built += (b - a) as u64;
            }
            let parts: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
            weights.insert(e.name.clone(), e.decode(&parts, convert));
        }
        builder.add_group(&mut weights)?;
        builder.settle().await?;
        progress("upload", &url, built, total);
        notes.check_cancelled()?;
        crate::yield_now().await;
    }
    let model = builder.finish()?;
    if let Some(c) = fresh_config {
        store(&c.key, &c.bytes, &c.version, notes).await;
    }
    Ok(Ranker::from_parts(config, tokenizer, model)
        .with_dtype(dtype)
        .with_yield(crate::yield_hook))
}
