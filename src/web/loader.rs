//! Loading a model from a base URL: small files whole, `model.safetensors`
//! by Range requests in fixed chunks (streamed when the server ignores Range),
//! every verified piece cached in IndexedDB, then the model built group by
//! group so that only one layer's host tensors exist at a time.

use std::collections::{HashMap, HashSet};

use burn::tensor::Device;
use sha2::{Digest, Sha256};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::cache::{self, PutError};
use super::fetch::{self, Expected, Options, Ranged, Stream};
use super::js;
use crate::api::{check_vocab, resolve_config, Ranker, TokenizerFiles};
use crate::config::{parse_model_config, ConfigSource};
use crate::error::{Error, Result};
use crate::files::small_file_limit;
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
    /// Abandon (and retry) a download that receives nothing for this long.
    pub stall_ms: u32,
    pub warnings: Vec<String>,
    /// Cache keys this load read or wrote; after it succeeds, other keys of
    /// the same model (older versions) are deleted.
    used: HashSet<String>,
    /// A file changed on the server while this load read it.
    changed: bool,
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
            warnings: Vec::new(),
            used: HashSet::new(),
            changed: false,
            signal: JsValue::UNDEFINED,
        }
    }
}

impl Notes {
    /// How this load's requests are made.
    fn options(&self) -> Options {
        Options {
            stall_ms: self.stall_ms,
            signal: self.signal.clone(),
            ..Options::default()
        }
    }

    fn check_cancelled(&self) -> Result<()> {
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
async fn cached_unless_revalidating(key: &str, notes: &Notes) -> Option<(Vec<u8>, String)> {
    if notes.revalidate {
        None
    } else {
        cache::get(key, None).await
    }
}

/// Store a piece; a full quota is a warning, not a failure.
async fn store(key: &str, bytes: &[u8], meta: &str, notes: &mut Notes) -> bool {
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
async fn small_file(
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
/// Also returns the version (a commit where the server names one).
async fn config_file(
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
    /// What chunk keys are made of: the ETag, else Last-Modified and size, else
    /// a one-off token (see [`file_version`]).
    version: String,
    /// The version every Range answer must match (`If-Range`, size).
    expected: Expected,
    plan: WeightsPlan,
    ranged: bool,
    /// Chunks kept in memory when they could not be cached and cannot be asked
    /// for again (a server without Range).
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

/// The version chunks are stored under. An ETag names the content. Without
/// one, Last-Modified with the size does; with neither, nothing tells two
/// same-size files apart, so the version is unique to this header download:
/// chunks are reused to resume this version (its header stays cached) but
/// never for a file read afresh, which could be a same-size replacement.
fn file_version(etag: &str, last_modified: &str, size: usize) -> String {
    if !etag.is_empty() {
        etag.to_string()
    } else if !last_modified.is_empty() {
        format!("modified {last_modified}, size {size}")
    } else {
        format!("once {}, size {size}", js_sys::Date::now())
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
    notes.used.insert(key.clone());
    if let Some((header, meta)) = cached_unless_revalidating(&key, notes).await {
        let fields: Vec<&str> = meta.split('|').collect();
        if let [version, ranged, etag] = fields[..] {
            let plan = plan_from_header(&header, config)?;
            progress("cache", url, header.len() as u64, header.len() as u64);
            return Ok(WeightsFile {
                url: url.into(),
                chunk: notes.chunk,
                version: version.into(),
                expected: Expected {
                    etag: etag.into(),
                    total: plan.file_len() as u64,
                },
                plan,
                ranged: ranged == "ranged",
                memory: HashMap::new(),
            });
        }
    }
    let first = fetch::head(url, 8, &notes.options()).await?;
    let (header, ranged) = if first.ranged {
        let n = header_len(&first.bytes)? as u64;
        let expected = Expected {
            etag: first.etag.clone(),
            total: first.total,
        };
        let rest = match fetch::range(url, 8, 8 + n, &expected, &notes.options()).await? {
            Ranged::Bytes(b) => b,
            Ranged::Changed | Ranged::Ignored => {
                notes.changed = true;
                return Err(changed(url));
            }
        };
        let mut header = first.bytes.clone();
        header.extend(rest);
        (header, true)
    } else {
        // No Range support: read the header off the start of a plain GET.
        let stream = Stream::open(url, &notes.options()).await?;
        let mut header = Vec::new();
        while header.len() < 8 || header.len() < 8 + header_len(&header)? {
            match stream.next().await? {
                Some(piece) => header.extend(piece),
                None => break,
            }
        }
        let n = header_len(&header)?;
        header.truncate(8 + n);
        (header, false)
    };
    let plan = plan_from_header(&header, config)?;
    let total = first.total;
    if total != 0 && total != plan.file_len() as u64 {
        return Err(Error::Weights(format!(
            "{url} is {total} bytes but its header describes {} bytes: the file is truncated or corrupt",
            plan.file_len()
        )));
    }
    let version = file_version(&first.etag, &first.last_modified, plan.file_len());
    let meta = format!(
        "{version}|{}|{}",
        if ranged { "ranged" } else { "stream" },
        first.etag
    );
    store(&key, &header, &meta, notes).await;
    Ok(WeightsFile {
        url: url.into(),
        chunk: notes.chunk,
        version,
        expected: Expected {
            etag: first.etag,
            total: plan.file_len() as u64,
        },
        plan,
        ranged,
        memory: HashMap::new(),
    })
}

fn changed(url: &str) -> Error {
    Error::Io {
        what: url.to_string(),
        cause: "the file changed on the server while it was being read".into(),
    }
}

/// Tells the user when the browser offers less storage than the download needs.
async fn check_storage(missing: u64, notes: &mut Notes) {
    let estimate = JsFuture::from(js::storage_estimate())
        .await
        .unwrap_or(JsValue::UNDEFINED);
    let number = |k: &str| js::get(&estimate, k).as_f64().unwrap_or(0.0);
    let (usage, quota) = (number("usage"), number("quota"));
    if quota > 0.0 && quota - usage < missing as f64 {
        let gb = |b: f64| b / 1e9;
        notes.warn(format!(
            "the model needs {:.2} GB of browser storage and {:.2} GB is free: it runs from memory and will be downloaded again next time",
            gb(missing as f64),
            gb((quota - usage).max(0.0))
        ));
    }
}

/// Make sure every chunk is cached, downloading what is missing; when storage
/// is full, what is left is fetched during the build (by Range), or kept in
/// memory for a server without Range.
///
/// Returns the file's sha256 when the whole file passed through in order (a
/// fresh download), so it needs no second reading to be verified.
async fn download(
    file: &mut WeightsFile,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<Option<String>> {
    let present: HashSet<String> = cache::keys().await.into_iter().collect();
    notes.used.extend((0..file.chunks()).map(|i| file.key(i)));
    let missing: Vec<u64> = (0..file.chunks())
        .filter(|&i| !present.contains(&file.key(i)))
        .collect();
    let total = file.plan.file_len() as u64;
    if missing.is_empty() {
        return Ok(None);
    }
    // A fresh download hashes as it goes; a resumed one is hashed afterwards.
    let mut hasher = (missing.len() as u64 == file.chunks()).then(Sha256::new);
    let missing_bytes = missing
        .iter()
        .map(|&i| file.chunk_range(i))
        .map(|(a, b)| b - a)
        .sum::<u64>();
    check_storage(missing_bytes, notes).await;
    let mut done = total - missing_bytes;
    if file.ranged {
        for i in missing {
            let (start, end) = file.chunk_range(i);
            let bytes = match fetch::range(&file.url, start, end, &file.expected, &notes.options())
                .await?
            {
                Ranged::Bytes(b) => b,
                Ranged::Changed => {
                    notes.changed = true;
                    return Err(changed(&file.url));
                }
                Ranged::Ignored => {
                    return Err(Error::Io {
                        what: file.url.clone(),
                        cause: "the server stopped honouring Range".into(),
                    })
                }
            };
            if let Some(h) = hasher.as_mut() {
                h.update(&bytes);
            }
            if !store(&file.key(i), &bytes, "", notes).await {
                // Storage is full: stop here rather than hold 1.7 GB in wasm
                // memory (past the 4 GiB limit once the model is built). The
                // build fetches each missing chunk when it needs it and keeps
                // one at a time.
                return Ok(None);
            }
            done += end - start;
            progress("download", &file.url, done, total);
            notes.check_cancelled()?;
        }
        return Ok(hasher.map(hex_digest));
    }
    // Without Range every chunk streams past in order: hash them all.
    let mut hasher = Sha256::new();
    let wanted: HashSet<u64> = missing.into_iter().collect();
    let stream = Stream::open(&file.url, &notes.options()).await?;
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
            hasher.update(&chunk);
            if wanted.contains(&index) && !store(&file.key(index), &chunk, "", notes).await {
                file.memory.insert(index, chunk);
            }
            index += 1;
            progress("download", &file.url, read.min(total), total);
            notes.check_cancelled()?;
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
    Ok(Some(hex_digest(hasher)))
}

fn hex_digest(hasher: Sha256) -> String {
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
async fn published_sha256(base: &str, notes: &Notes) -> Option<String> {
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
async fn verify(
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
        return Err(Error::Weights(format!(
            "{} does not match its published sha256 ({want}; the download has {got}): \
             the cached copy was deleted, load again",
            file.url
        )));
    }
    store(&verified_key(file), want.as_bytes(), "", notes).await;
    Ok(())
}

fn verified_key(file: &WeightsFile) -> String {
    format!("verified:{}:{}", file.url, file.version)
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
        match fetch::range(
            &self.file.url,
            start,
            end,
            &self.file.expected,
            &notes.options(),
        )
        .await?
        {
            Ranged::Bytes(bytes) => {
                store(&self.file.key(i), &bytes, "", notes).await;
                Ok(bytes)
            }
            Ranged::Changed | Ranged::Ignored => {
                notes.changed = true;
                Err(changed(&self.file.url))
            }
        }
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
        notes.used.clear();
        match load_once(base, device, notes, progress).await {
            Err(_) if notes.changed && tries < LOADS_WHEN_CHANGING => {
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

    let plan = file.plan.clone();
    let entries: HashMap<&str, _> = plan.entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let total = plan.data_len as u64;
    let mut built = 0u64;
    let mut reader = ChunkReader {
        file: &mut file,
        current: None,
    };
    if let Some(want) = digest {
        verify(&mut reader, &want, hashed, notes).await?;
    }
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
        builder.add_group(&mut weights)?;
        progress("upload", &url, built, total);
        notes.check_cancelled()?;
        crate::web::yield_now().await;
    }
    let model = builder.finish()?;
    if let Some(c) = fresh_config {
        store(&c.key, &c.bytes, &c.version, notes).await;
    }
    Ok(Ranker::from_parts(config, tokenizer, model))
}
