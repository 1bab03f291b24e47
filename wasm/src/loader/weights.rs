//! `model.safetensors`: its header, the Range download into cached chunks,
//! and reading byte ranges back through the chunk cache.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::*;
use crate::cache;
use crate::fetch::{self, Expected, Ranged, Stream};
use pairrm_web::error::{Error, Result};
use pairrm_web::weights::{header_len, plan_from_header, WeightsPlan};

/// `model.safetensors` as the loader sees it: header plan and chunk keys.
pub(super) struct WeightsFile {
    pub(super) url: String,
    pub(super) chunk: u64,
    /// What chunk keys are made of: the ETag, else Last-Modified and size, else
    /// a one-off token (see [`file_version`]).
    pub(super) version: String,
    /// The version every Range answer must match (`If-Range`, size).
    expected: Expected,
    pub(super) plan: WeightsPlan,
    pub(super) ranged: bool,
    /// Chunks kept in memory when they could not be cached and cannot be asked
    /// for again (a server without Range).
    pub(super) memory: HashMap<u64, Vec<u8>>,
    /// The file converted to another dtype, held only in the cache (its `url`
    /// is the source's with `#dtype`): a piece cannot be fetched again.
    converted: bool,
}

impl WeightsFile {
    pub(super) fn chunks(&self) -> u64 {
        (self.plan.file_len() as u64).div_ceil(self.chunk)
    }

    fn chunk_range(&self, i: u64) -> (u64, u64) {
        (
            i * self.chunk,
            ((i + 1) * self.chunk).min(self.plan.file_len() as u64),
        )
    }

    /// A converted file held only in the cache (see `convert.rs`).
    pub(super) fn converted(url: String, chunk: u64, version: String, plan: WeightsPlan) -> Self {
        Self {
            url,
            chunk,
            version,
            expected: Expected {
                etag: String::new(),
                total: plan.file_len() as u64,
            },
            plan,
            ranged: false,
            memory: HashMap::new(),
            converted: true,
        }
    }

    pub(super) fn key(&self, i: u64) -> String {
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
pub(super) async fn open_weights(
    url: &str,
    config: &pairrm_web::config::BackboneConfig,
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
                chunk: notes.settings.chunk,
                version: version.into(),
                expected: Expected {
                    etag: etag.into(),
                    total: plan.file_len() as u64,
                },
                plan,
                ranged: ranged == "ranged",
                memory: HashMap::new(),
                converted: false,
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
        return Err(Error::weights(format!(
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
        chunk: notes.settings.chunk,
        version,
        expected: Expected {
            etag: first.etag,
            total: plan.file_len() as u64,
        },
        plan,
        ranged,
        memory: HashMap::new(),
        converted: false,
    })
}

pub(super) fn changed(url: &str) -> Error {
    Error::Io {
        what: url.to_string(),
        cause: "the file changed on the server while it was being read".into(),
    }
}

/// Tells the user when the browser offers less storage than the download
/// needs; true when `extra` bytes more would fit too (or nothing says).
async fn check_storage(missing: u64, extra: u64, notes: &mut Notes) -> bool {
    let cache::Estimate { usage, quota } = cache::estimate().await;
    if quota <= 0.0 {
        return true;
    }
    let free = quota - usage;
    if free < missing as f64 {
        let gb = |b: f64| b / 1e9;
        notes.warn(format!(
            "the model needs {:.2} GB of browser storage and {:.2} GB is free: it runs from memory and will be downloaded again next time",
            gb(missing as f64),
            gb(free.max(0.0))
        ));
    }
    free >= (missing + extra) as f64
}

/// Make sure every chunk is cached, downloading what is missing; when storage
/// is full, what is left is fetched during the build (by Range), or kept in
/// memory for a server without Range.
///
/// Returns the file's sha256 when the whole file passed through in order (a
/// fresh download), so it needs no second reading to be verified. Such a
/// download also feeds `converting` as it goes (one request ahead of the
/// chunk being hashed, converted and stored); otherwise, or when storage
/// cannot hold the conversion beside the source, `converting` is left
/// incomplete or dropped, for the caller to convert from the cache.
pub(super) async fn download(
    file: &mut WeightsFile,
    converting: &mut Option<CacheConversion>,
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
    // A download that passes the whole file in order (a fresh one, or any
    // without Range) is hashed and converted as it goes; a resumed one
    // afterwards.
    let in_order = !file.ranged || missing.len() as u64 == file.chunks();
    let mut hasher = in_order.then(Sha256::new);
    let missing_bytes = missing
        .iter()
        .map(|&i| file.chunk_range(i))
        .map(|(a, b)| b - a)
        .sum::<u64>();
    let extra = converting.as_ref().map_or(0, |c| c.file_len());
    if !check_storage(missing_bytes, extra, notes).await || !in_order {
        *converting = None;
    }
    let mut done = total - missing_bytes;
    if file.ranged {
        let options = &notes.options();
        let file = &*file;
        let fetch_chunk = move |i: u64| {
            let (start, end) = file.chunk_range(i);
            fetch::range(&file.url, start, end, &file.expected, &options)
        };
        let mut answer = fetch_chunk(missing[0]).await;
        for (k, &i) in missing.iter().enumerate() {
            let bytes = match answer? {
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
            // The next chunk is on its way while this one is taken in.
            let ahead = missing.get(k + 1).map(|&j| fetch_chunk(j));
            let (next, kept) = crate::both(
                async {
                    match ahead {
                        Some(f) => Some(f.await),
                        None => None,
                    }
                },
                take_in(file, i, &bytes, hasher.as_mut(), converting, notes),
            )
            .await;
            if !kept? {
                // Storage is full: stop here rather than hold 1.7 GB in wasm
                // memory (past the 4 GiB limit once the model is built). The
                // build fetches each missing chunk when it needs it and keeps
                // one at a time.
                return Ok(None);
            }
            done += bytes.len() as u64;
            progress("download", &file.url, done, total);
            notes.check_cancelled()?;
            match next {
                Some(a) => answer = a,
                None => break,
            }
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
                return Err(Error::weights(format!(
                    "{} ended early: the download was cut",
                    file.url
                )));
            }
            hasher.update(&chunk);
            convert_chunk(converting, &chunk, notes).await?;
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
        return Err(Error::weights(format!(
            "{} ended early: the download was cut",
            file.url
        )));
    }
    Ok(Some(hex_digest(hasher)))
}

/// A downloaded chunk hashed, cached, and converted; false when storage
/// refused it.
async fn take_in(
    file: &WeightsFile,
    i: u64,
    bytes: &[u8],
    hasher: Option<&mut Sha256>,
    converting: &mut Option<CacheConversion>,
    notes: &mut Notes,
) -> Result<bool> {
    if let Some(h) = hasher {
        h.update(bytes);
    }
    if !store(&file.key(i), bytes, "", notes).await {
        return Ok(false);
    }
    convert_chunk(converting, bytes, notes).await?;
    Ok(true)
}

/// The next source chunk into the conversion, which is dropped (its pieces
/// deleted) when storage refuses one.
async fn convert_chunk(
    converting: &mut Option<CacheConversion>,
    bytes: &[u8],
    notes: &mut Notes,
) -> Result<()> {
    if let Some(c) = converting.as_mut() {
        if !c.push(bytes, notes).await? {
            *converting = None;
        }
    }
    Ok(())
}

/// Reads byte ranges of the file through the chunk cache, keeping one chunk in
/// memory and the cache's read of the next one under way: reads go front to
/// back, so the next chunk is mostly on its way while this one is used.
/// (More reads under way measured no faster in the threaded build, where
/// the loader mostly waits, and slower on one thread.)
pub(super) struct ChunkReader<'f> {
    pub(super) file: &'f mut WeightsFile,
    pub(super) state: ReadState,
}

/// What a [`ChunkReader`] holds between reads.
#[derive(Default)]
pub(super) struct ReadState {
    current: Option<(u64, Vec<u8>)>,
    ahead: Option<(u64, cache::Pending)>,
}

impl<'f> ChunkReader<'f> {
    pub(super) fn new(file: &'f mut WeightsFile) -> Self {
        Self {
            file,
            state: ReadState::default(),
        }
    }

    pub(super) async fn chunk(&mut self, i: u64, notes: &mut Notes) -> Result<Vec<u8>> {
        if let Some(bytes) = self.file.memory.get(&i) {
            return Ok(bytes.clone());
        }
        let (start, end) = self.file.chunk_range(i);
        let get = |i: u64| {
            let (start, end) = self.file.chunk_range(i);
            cache::start_get_into(&self.file.key(i), (end - start) as usize)
        };
        let pending = match self.state.ahead.take() {
            Some((j, p)) if j == i => p,
            _ => get(i),
        };
        if i + 1 < self.file.chunks() && !self.file.memory.contains_key(&(i + 1)) {
            self.state.ahead = Some((i + 1, get(i + 1)));
        }
        if let Some((bytes, _)) = pending.finish(Some((end - start) as usize)).await {
            return Ok(bytes);
        }
        // Missing or damaged in the cache (and now deleted): fetch it again.
        if self.file.converted {
            // Converted pieces come only from the source: drop the record that
            // says they are complete, and load again from the source.
            cache::delete(&converted_header_key(&self.file.url)).await;
            notes.start_over = true;
            return Err(Error::weights(format!(
                "a cached piece of {} is damaged: load again",
                self.file.url
            )));
        }
        if !self.file.ranged {
            return Err(Error::weights(format!(
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

    /// Chunk `i` as the one kept in memory (read unless it is already).
    async fn current(&mut self, i: u64, notes: &mut Notes) -> Result<&[u8]> {
        if self.state.current.as_ref().map(|(c, _)| *c) != Some(i) {
            let bytes = self.chunk(i, notes).await?;
            self.state.current = Some((i, bytes));
        }
        Ok(&self.state.current.as_ref().expect("just loaded").1)
    }

    /// `take` of bytes `start..end`, lent from the chunk they lie in (copied
    /// together first only when they span two chunks).
    pub(super) async fn read_with<R>(
        &mut self,
        start: u64,
        end: u64,
        notes: &mut Notes,
        take: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        let i = start / self.file.chunk;
        let (chunk_start, chunk_end) = self.file.chunk_range(i);
        if end > chunk_end || start >= end {
            let bytes = self.read(start, end, notes).await?;
            return Ok(take(&bytes));
        }
        let url = self.file.url.clone();
        let bytes = self.current(i, notes).await?;
        // Every chunk read is checked to be whole, so this always holds.
        match bytes.get((start - chunk_start) as usize..(end - chunk_start) as usize) {
            Some(range) => Ok(take(range)),
            None => Err(Error::weights(format!(
                "a cached piece of {url} is too short"
            ))),
        }
    }

    pub(super) async fn read(
        &mut self,
        start: u64,
        end: u64,
        notes: &mut Notes,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut pos = start;
        while pos < end {
            let i = pos / self.file.chunk;
            let (chunk_start, _) = self.file.chunk_range(i);
            let bytes = self.current(i, notes).await?;
            let from = (pos - chunk_start) as usize;
            let to = ((end - chunk_start) as usize).min(bytes.len());
            out.extend_from_slice(&bytes[from..to]);
            pos = chunk_start + to as u64;
        }
        Ok(out)
    }
}
