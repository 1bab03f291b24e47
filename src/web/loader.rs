//! Loading a model from a base URL: small files whole, `model.safetensors`
//! by Range requests in fixed chunks (streamed when the server ignores Range),
//! every verified piece cached in IndexedDB, then the model built group by
//! group so that only one layer's host tensors exist at a time.

use std::collections::{HashMap, HashSet};

use burn::tensor::Device;

use super::cache::{self, PutError};
use super::fetch::{self, Stream};
use crate::api::{check_vocab, resolve_config, Ranker, TokenizerFiles};
use crate::config::{parse_model_config, ConfigSource};
use crate::error::{Error, Result};
use crate::model::{load_groups, ModelBuilder};
use crate::weights::{header_len, plan_from_header, PairRmWeights, WeightsPlan};

/// Bytes per cached piece of `model.safetensors` (unless a load asks otherwise).
pub const CHUNK: u64 = 8 * 1024 * 1024;

/// Reports `(phase, file, done, total)`; phases: "download", "cache", "upload".
pub type ProgressFn<'a> = dyn FnMut(&str, &str, u64, u64) + 'a;

/// What a load noticed that the user should hear about (a full quota, …).
pub struct Notes {
    /// Ask the server again for the tokenizer and the weights header (ETag or
    /// size) even when `config.json` says nothing changed; chunks of an unchanged
    /// file still come from the cache.
    pub revalidate: bool,
    /// Bytes per cached piece of the weights file.
    pub chunk: u64,
    pub warnings: Vec<String>,
    quota_warned: bool,
}

impl Default for Notes {
    fn default() -> Self {
        Self {
            revalidate: false,
            chunk: CHUNK,
            warnings: Vec::new(),
            quota_warned: false,
        }
    }
}

impl Notes {
    fn quota(&mut self) {
        if !self.quota_warned {
            self.quota_warned = true;
            self.warnings.push(
                "browser storage is full: the model runs from memory and will be downloaded again next time"
                    .into(),
            );
        }
    }
}

/// A cached record, unless this load revalidates.
async fn cached_unless_revalidating(key: &str, notes: &Notes) -> Option<(Vec<u8>, String)> {
    if notes.revalidate {
        None
    } else {
        cache::get(key, None).await
    }
}

/// Store a piece; a full quota is a warning, not a failure.
async fn store(key: &str, bytes: &[u8], meta: &str, notes: &mut Notes) -> bool {
    match cache::put(key, bytes, meta).await {
        Ok(()) => true,
        Err(PutError::Quota) => {
            notes.quota();
            false
        }
        Err(PutError::Other(m)) => {
            notes.warnings.push(format!("cannot cache {key}: {m}"));
            false
        }
    }
}

/// A small file, from the cache or the network (cached after download).
/// `Ok(None)` when the server has no such file.
async fn small_file(
    url: &str,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<Option<Vec<u8>>> {
    let key = format!("file:{url}");
    if let Some((bytes, _)) = cached_unless_revalidating(&key, notes).await {
        progress("cache", url, bytes.len() as u64, bytes.len() as u64);
        return Ok(Some(bytes));
    }
    let Some(bytes) = fetch::get(url).await? else {
        return Ok(None);
    };
    progress("download", url, bytes.len() as u64, bytes.len() as u64);
    store(&key, &bytes, "", notes).await;
    Ok(Some(bytes))
}

/// How long a cached load waits for the server before using the cache as it is.
const FRESHNESS_TIMEOUT_MS: u32 = 5000;

/// `config.json` as downloaded, cached only once the whole load has succeeded:
/// a load cut short by a new version must not leave the new config cached next
/// to the old weights header, or the next load would see nothing to revalidate.
struct FreshConfig {
    key: String,
    bytes: Vec<u8>,
    version: String,
}

/// `config.json`, asked of the server on every load: it is what notices a model
/// that changed upstream without a single request for the weights. Its version
/// is the repository commit where the server names one (any commit on the
/// Hugging Face hub), else its ETag, else its hash. A new version makes the
/// rest of the load revalidate (tokenizer and weights header asked again; weight
/// chunks of an unchanged file still come from the cache). When the server cannot
/// be reached (offline) or fails, a cached copy is used as it is.
async fn config_file(
    url: &str,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<(Vec<u8>, Option<FreshConfig>)> {
    let key = format!("file:{url}");
    let cached = cache::get(&key, None).await;
    let timeout = if cached.is_some() {
        FRESHNESS_TIMEOUT_MS
    } else {
        0
    };
    match (fetch::get_versioned(url, timeout).await, cached) {
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
                    version,
                });
            notes.revalidate |= fresh.is_some();
            Ok((bytes, fresh))
        }
        (_, Some((bytes, _))) => {
            progress("cache", url, bytes.len() as u64, bytes.len() as u64);
            Ok((bytes, None))
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

async fn required_file(
    url: &str,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<Vec<u8>> {
    small_file(url, notes, progress)
        .await?
        .ok_or_else(|| not_found(url))
}

fn text(url: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| Error::Io {
        what: url.to_string(),
        cause: "not UTF-8".into(),
    })
}

/// `model.safetensors` as the loader sees it: header plan and chunk keys.
struct WeightsFile {
    url: String,
    chunk: u64,
    version: String,
    plan: WeightsPlan,
    ranged: bool,
    /// Chunks kept in memory when they could not be cached.
    memory: HashMap<u64, Vec<u8>>,
}

impl WeightsFile {
    fn chunks(&self) -> u64 {
        (self.plan.file_len() as u64).div_ceil(self.chunk)
    }

    fn chunk_range(&self, i: u64) -> (u64, u64) {
        (
            i * self.chunk,
            ((i + 1) * self.chunk).min(self.plan.file_len() as u64),
        )
    }

    fn key(&self, i: u64) -> String {
        format!("chunk:{}:{}:{}:{i}", self.url, self.version, self.chunk)
    }
}

/// Read the header (cached under the file's URL), check it against the config.
async fn open_weights(
    url: &str,
    config: &crate::config::BackboneConfig,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<WeightsFile> {
    let key = format!("header:{url}");
    if let Some((header, meta)) = cached_unless_revalidating(&key, notes).await {
        if let Some((version, ranged)) = meta.split_once('|') {
            let plan = plan_from_header(&header, config)?;
            progress("cache", url, header.len() as u64, header.len() as u64);
            return Ok(WeightsFile {
                url: url.into(),
                chunk: notes.chunk,
                version: version.into(),
                plan,
                ranged: ranged == "ranged",
                memory: HashMap::new(),
            });
        }
    }
    let first = fetch::range(url, 0, 8).await?;
    let (header, total, etag, ranged) = if first.ranged {
        let n = header_len(&first.bytes)? as u64;
        let rest = fetch::range(url, 8, 8 + n).await?;
        let mut header = first.bytes;
        header.extend(rest.bytes);
        (header, first.total, first.etag, true)
    } else {
        // No Range support: read the header off the start of a plain GET.
        let stream = Stream::open(url).await?;
        let mut header = Vec::new();
        while header.len() < 8 || header.len() < 8 + header_len(&header)? {
            match stream.next().await? {
                Some(piece) => header.extend(piece),
                None => break,
            }
        }
        let n = header_len(&header)?;
        header.truncate(8 + n);
        (header, first.total, first.etag, false)
    };
    let plan = plan_from_header(&header, config)?;
    if total != 0 && total != plan.file_len() as u64 {
        return Err(Error::Weights(format!(
            "{url} is {total} bytes but its header describes {} bytes: the file is truncated or corrupt",
            plan.file_len()
        )));
    }
    let version = if etag.is_empty() {
        format!("size-{}", plan.file_len())
    } else {
        etag
    };
    let meta = format!("{version}|{}", if ranged { "ranged" } else { "stream" });
    store(&key, &header, &meta, notes).await;
    Ok(WeightsFile {
        url: url.into(),
        chunk: notes.chunk,
        version,
        plan,
        ranged,
        memory: HashMap::new(),
    })
}

/// Make sure every chunk is cached (or in memory), downloading what is missing.
async fn download(
    file: &mut WeightsFile,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<()> {
    let present: HashSet<String> = cache::keys().await.into_iter().collect();
    let missing: Vec<u64> = (0..file.chunks())
        .filter(|&i| !present.contains(&file.key(i)))
        .collect();
    let total = file.plan.file_len() as u64;
    if missing.is_empty() {
        return Ok(());
    }
    let mut done = total
        - missing
            .iter()
            .map(|&i| file.chunk_range(i))
            .map(|(a, b)| b - a)
            .sum::<u64>();
    if file.ranged {
        for i in missing {
            let (start, end) = file.chunk_range(i);
            let piece = fetch::range(&file.url, start, end).await?;
            if !piece.ranged {
                return Err(Error::Io {
                    what: file.url.clone(),
                    cause: "the server stopped honouring Range".into(),
                });
            }
            if !store(&file.key(i), &piece.bytes, "", notes).await {
                file.memory.insert(i, piece.bytes);
            }
            done += end - start;
            progress("download", &file.url, done, total);
        }
        return Ok(());
    }
    let wanted: HashSet<u64> = missing.into_iter().collect();
    let stream = Stream::open(&file.url).await?;
    let chunk_len = file.chunk;
    let mut buffer = Vec::with_capacity(chunk_len as usize);
    let mut index = 0u64;
    let mut read = 0u64;
    loop {
        let next = stream.next().await?;
        if let Some(piece) = &next {
            buffer.extend_from_slice(piece);
            read += piece.len() as u64;
        }
        while buffer.len() as u64 >= chunk_len || (next.is_none() && !buffer.is_empty()) {
            let take = (chunk_len as usize).min(buffer.len());
            let chunk: Vec<u8> = buffer.drain(..take).collect();
            let (start, end) = file.chunk_range(index);
            if chunk.len() as u64 != end - start {
                return Err(Error::Weights(format!(
                    "{} ended early: the download was cut",
                    file.url
                )));
            }
            if wanted.contains(&index) && !store(&file.key(index), &chunk, "", notes).await {
                file.memory.insert(index, chunk);
            }
            index += 1;
            progress("download", &file.url, read.min(total), total);
        }
        if next.is_none() {
            break;
        }
    }
    if index != file.chunks() {
        return Err(Error::Weights(format!(
            "{} ended early: the download was cut",
            file.url
        )));
    }
    Ok(())
}

/// Reads byte ranges of the file through the chunk cache, keeping one chunk in memory.
struct ChunkReader<'f> {
    file: &'f mut WeightsFile,
    current: Option<(u64, Vec<u8>)>,
}

impl ChunkReader<'_> {
    async fn chunk(&mut self, i: u64, notes: &mut Notes) -> Result<Vec<u8>> {
        if let Some(bytes) = self.file.memory.get(&i) {
            return Ok(bytes.clone());
        }
        let (start, end) = self.file.chunk_range(i);
        if let Some((bytes, _)) = cache::get(&self.file.key(i), Some((end - start) as usize)).await
        {
            return Ok(bytes);
        }
        // Missing or damaged in the cache (and now deleted): fetch it again.
        if !self.file.ranged {
            return Err(Error::Weights(format!(
                "a cached piece of {} is damaged and the server does not support Range: load again",
                self.file.url
            )));
        }
        let piece = fetch::range(&self.file.url, start, end).await?;
        store(&self.file.key(i), &piece.bytes, "", notes).await;
        Ok(piece.bytes)
    }

    async fn read(&mut self, start: u64, end: u64, notes: &mut Notes) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut pos = start;
        while pos < end {
            let i = pos / self.file.chunk;
            if self.current.as_ref().map(|(c, _)| *c) != Some(i) {
                let bytes = self.chunk(i, notes).await?;
                self.current = Some((i, bytes));
            }
            let (chunk_start, _) = self.file.chunk_range(i);
            let bytes = &self.current.as_ref().expect("just loaded").1;
            let from = (pos - chunk_start) as usize;
            let to = ((end - chunk_start) as usize).min(bytes.len());
            out.extend_from_slice(&bytes[from..to]);
            pos = chunk_start + to as u64;
        }
        Ok(out)
    }
}

/// Load the model at `base` (a URL ending in `/`) onto `device`.
pub async fn load(
    base: &str,
    device: &Device,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<Ranker> {
    let config_url = format!("{base}config.json");
    let (config_bytes, fresh_config) = config_file(&config_url, notes, progress).await?;
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
    download(&mut file, notes, progress).await?;

    let plan = file.plan.clone();
    let entries: HashMap<&str, _> = plan.entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let total = plan.data_len as u64;
    let mut built = 0u64;
    let mut reader = ChunkReader {
        file: &mut file,
        current: None,
    };
    let mut builder = ModelBuilder::new(&config, tokenizer.special.pad, device);
    for group in load_groups(&config.backbone) {
        let mut weights = PairRmWeights::empty(plan.vocab_size, plan.n_tasks);
        let mut members: Vec<_> = group.iter().map(|n| entries[n.as_str()]).collect();
        members.sort_by_key(|e| e.offsets.0);
        for e in members {
            let start = (plan.data_start + e.offsets.0) as u64;
            let raw = reader
                .read(start, (plan.data_start + e.offsets.1) as u64, notes)
                .await?;
            weights.insert(e.name.clone(), e.decode(&raw));
            built += raw.len() as u64;
        }
        builder.add_group(&mut weights);
        progress("upload", &url, built, total);
    }
    let model = builder.finish()?;
    if let Some(c) = fresh_config {
        store(&c.key, &c.bytes, &c.version, notes).await;
    }
    Ok(Ranker::from_parts(config, tokenizer, model))
}
