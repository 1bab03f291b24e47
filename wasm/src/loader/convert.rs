//! Weights converted to a lower dtype once, kept in the cache in place of the
//! source: the hub model asked for as q8 is downloaded once (1.74 GB) and
//! kept as about 0.45 GB.
//!
//! The converted file is the one `pairrm convert` writes, stored in chunks
//! like the source under the source's URL with `#dtype` and the source's
//! version. Its header is stored last and marks the set complete; a later
//! load that finds it reads nothing of the source.
//!
//! A fresh download passes the whole source in order, so it is converted as
//! it arrives ([`CacheConversion`] fed by `download`): no second pass over
//! 1.74 GB of cache. The source's chunks are still cached meanwhile, so that
//! a dropped download resumes; a resumed download (or one whose conversion
//! storage could not hold beside the source) is converted from the cache
//! afterwards, front to back, each source chunk deleted once converted (a
//! server without Range keeps them until the end, since it cannot resend
//! one). Either way the source is downloaded, resumed and checked against
//! its published sha256 as for any load, and the header marking the
//! conversion complete is stored only after that check.

use std::collections::HashSet;

use super::*;
use crate::cache;
use pairrm_web::config::BackboneConfig;
use pairrm_web::error::Result;
use pairrm_web::quant::WeightDtype;
use pairrm_web::weights::{plan_from_header, ConversionStream};

fn converted_url(source: &WeightsFile, dtype: WeightDtype) -> String {
    format!("{}#{}", source.url, dtype.name())
}

pub(super) fn converted_header_key(converted_url: &str) -> String {
    format!("header:{converted_url}")
}

/// The converted file of `source` in `dtype`, when a complete one is cached
/// for this version of the source.
pub(super) async fn cached_conversion(
    source: &WeightsFile,
    dtype: WeightDtype,
    config: &BackboneConfig,
    notes: &mut Notes,
) -> Option<WeightsFile> {
    let url = converted_url(source, dtype);
    let key = converted_header_key(&url);
    let (header, meta) = cache::get(&key, None).await?;
    let (version, chunk) = meta.rsplit_once('|')?;
    let chunk: u64 = chunk.parse().ok()?;
    if version != source.version || chunk == 0 {
        return None;
    }
    let plan = plan_from_header(&header, config).ok()?;
    let file = WeightsFile::converted(url, chunk, source.version.clone(), plan);
    notes.used.insert(key);
    notes.used.extend((0..file.chunks()).map(|i| file.key(i)));
    Some(file)
}

/// A conversion into the cache, fed the source front to back: by the
/// download as chunks arrive, or from the cached source afterwards.
pub(super) struct CacheConversion {
    stream: ConversionStream,
    target: WeightsFile,
    source_len: usize,
    /// Converted bytes not yet stored (less than a chunk between pushes).
    out: Vec<u8>,
    /// Converted chunks stored.
    stored: u64,
}

impl CacheConversion {
    pub(super) fn new(
        source: &WeightsFile,
        dtype: WeightDtype,
        config: &BackboneConfig,
        notes: &Notes,
    ) -> Result<Self> {
        let stream = ConversionStream::new(&source.plan, dtype)?;
        let plan = plan_from_header(stream.header(), config)?;
        let target = WeightsFile::converted(
            converted_url(source, dtype),
            notes.settings.chunk,
            source.version.clone(),
            plan,
        );
        Ok(Self {
            out: stream.header().to_vec(),
            stream,
            target,
            source_len: source.plan.file_len(),
            stored: 0,
        })
    }

    /// Bytes of the converted file (what it takes in the cache).
    pub(super) fn file_len(&self) -> u64 {
        self.stream.file_len() as u64
    }

    pub(super) fn target_url(&self) -> &str {
        &self.target.url
    }

    /// Whether the whole source has been pushed.
    pub(super) fn complete(&self) -> bool {
        self.stream.source_pushed() == self.source_len
    }

    /// Convert the source's next bytes and store the whole chunks they
    /// complete. False when storage refused one: what was stored is deleted.
    pub(super) async fn push(&mut self, bytes: &[u8], notes: &mut Notes) -> Result<bool> {
        if let Err(e) = self.stream.push(bytes, &mut self.out) {
            self.forget().await;
            return Err(e);
        }
        let kept = self.store_full_chunks(false, notes).await;
        if !kept {
            self.forget().await;
        }
        Ok(kept)
    }

    /// After the whole source (verified): store the rest, then the header
    /// that marks the set complete. `None` when storage refused a piece
    /// (what was stored is deleted).
    pub(super) async fn finish(mut self, notes: &mut Notes) -> Result<Option<WeightsFile>> {
        if let Err(e) = self.stream.finish(&mut self.out) {
            self.forget().await;
            return Err(e);
        }
        let meta = format!("{}|{}", self.target.version, self.target.chunk);
        let header = self.stream.header().to_vec();
        let done = self.store_full_chunks(true, notes).await
            && store(
                &converted_header_key(&self.target.url),
                &header,
                &meta,
                notes,
            )
            .await;
        if !done {
            self.forget().await;
            return Ok(None);
        }
        debug_assert_eq!(self.stored, self.target.chunks());
        Ok(Some(self.target))
    }

    /// Bytes of the converted file stored so far.
    fn stored_bytes(&self) -> u64 {
        (self.stored * self.target.chunk).min(self.file_len())
    }

    /// Store every whole chunk at the front of `out` (and the rest too when
    /// `last`); false when storage refused one.
    async fn store_full_chunks(&mut self, last: bool, notes: &mut Notes) -> bool {
        let chunk = self.target.chunk as usize;
        while self.out.len() >= chunk || (last && !self.out.is_empty()) {
            let take = chunk.min(self.out.len());
            if !store(&self.target.key(self.stored), &self.out[..take], "", notes).await {
                return false;
            }
            self.out.drain(..take);
            self.stored += 1;
        }
        true
    }

    /// Delete the chunks stored by a conversion that cannot finish.
    pub(super) async fn forget(&mut self) {
        for i in 0..self.stored {
            cache::delete(&self.target.key(i)).await;
        }
        self.stored = 0;
    }
}

/// Convert the downloaded `reader.file` to `dtype` into the cache, reading it
/// back chunk by chunk. `None` when the cache cannot hold it (the source is
/// not all cached, or storage fills up): the caller then converts while it
/// builds, as without a cache.
pub(super) async fn convert_into_cache(
    reader: &mut ChunkReader<'_>,
    dtype: WeightDtype,
    config: &BackboneConfig,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<Option<WeightsFile>> {
    let present: HashSet<String> = cache::keys().await.into_iter().collect();
    let source = &*reader.file;
    let all_cached = (0..source.chunks()).all(|i| present.contains(&source.key(i)));
    if !all_cached || !source.memory.is_empty() {
        return Ok(None);
    }
    let mut conversion = CacheConversion::new(source, dtype, config, notes)?;
    let total = conversion.file_len();
    let mut forgotten = 0u64; // source chunks deleted
    for i in 0..reader.file.chunks() {
        let bytes = reader.chunk(i, notes).await?;
        if !conversion.push(&bytes, notes).await? {
            return Ok(None);
        }
        if reader.file.ranged {
            // Converted: a server with Range can send it again should this
            // load stop here.
            cache::delete(&reader.file.key(i)).await;
            forgotten = i + 1;
        }
        progress(
            "convert",
            &conversion.target.url,
            conversion.stored_bytes(),
            total,
        );
        notes.check_cancelled()?;
    }
    let url = conversion.target.url.clone();
    let Some(target) = conversion.finish(notes).await? else {
        return Ok(None);
    };
    drop_source(reader.file, forgotten, notes).await;
    progress("convert", &url, total, total);
    Ok(Some(target))
}

/// The source's cached chunks from `first` on deleted, and none of them
/// counted as used: the converted file replaces them.
pub(super) async fn drop_source(source: &mut WeightsFile, first: u64, notes: &mut Notes) {
    for i in 0..source.chunks() {
        let key = source.key(i);
        if i >= first {
            cache::delete(&key).await;
        }
        notes.used.remove(&key);
    }
    source.memory.clear();
}
