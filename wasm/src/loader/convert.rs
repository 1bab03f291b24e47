//! Weights converted to a lower dtype once, kept in the cache in place of the
//! source: the hub model asked for as q8 is downloaded once (1.74 GB) and
//! kept as about 0.45 GB.
//!
//! The converted file is the one `pairrm convert` writes, stored in chunks
//! like the source under the source's URL with `#dtype` and the source's
//! version. Its header is stored last and marks the set complete; a later
//! load that finds it reads nothing of the source. The source is downloaded,
//! resumed and checked against its published sha256 as for any load, then
//! converted front to back; each source chunk is deleted once converted (a
//! server without Range keeps them until the end, since it cannot resend one).

use std::collections::HashSet;

use super::*;
use crate::cache;
use pairrm_web::config::BackboneConfig;
use pairrm_web::error::Result;
use pairrm_web::quant::WeightDtype;
use pairrm_web::weights::{plan_from_header, Conversion, TensorEncoder};

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

/// Convert the downloaded `reader.file` to `dtype` into the cache. `None`
/// when the cache cannot hold it (the source is not all cached, or storage
/// fills up): the caller then converts while it builds, as without a cache.
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
    let conversion = Conversion::new(&source.plan, dtype);
    let plan = plan_from_header(&conversion.header, config)?;
    let target = WeightsFile::converted(
        converted_url(source, dtype),
        notes.settings.chunk,
        source.version.clone(),
        plan,
    );
    let (data_start, chunk, ranged) = (source.plan.data_start, source.chunk, source.ranged);
    let total = conversion.file_len as u64;

    let mut out = conversion.header.clone();
    let mut stored = 0u64; // converted chunks stored
    let mut forgotten = 0u64; // source chunks deleted
    for e in &conversion.entries {
        let mut encoder = TensorEncoder::new(e, dtype);
        let step = encoder.piece_bytes();
        let (mut at, end) = (data_start + e.offsets.0, data_start + e.offsets.1);
        while at < end {
            let next = (at + step.max(1)).min(end);
            let piece = reader.read(at as u64, next as u64, notes).await?;
            encoder.push(&piece, &mut out)?;
            at = next;
            if !store_full_chunks(&target, &mut out, &mut stored, false, notes).await {
                forget(&target, stored).await;
                return Ok(None);
            }
            if ranged {
                // Source chunks wholly before `at` are converted: a server
                // with Range can send them again should this load stop here.
                while (forgotten + 1) * chunk <= at as u64 {
                    cache::delete(&reader.file.key(forgotten)).await;
                    forgotten += 1;
                }
            }
            progress(
                "convert",
                &target.url,
                total.min(stored * target.chunk),
                total,
            );
            notes.check_cancelled()?;
        }
        encoder.finish(&mut out);
    }
    if !store_full_chunks(&target, &mut out, &mut stored, true, notes).await {
        forget(&target, stored).await;
        return Ok(None);
    }
    debug_assert_eq!(stored, target.chunks());
    let meta = format!("{}|{}", target.version, target.chunk);
    if !store(
        &converted_header_key(&target.url),
        &conversion.header,
        &meta,
        notes,
    )
    .await
    {
        forget(&target, stored).await;
        return Ok(None);
    }
    for i in 0..reader.file.chunks() {
        let key = reader.file.key(i);
        if i >= forgotten {
            cache::delete(&key).await;
        }
        notes.used.remove(&key);
    }
    progress("convert", &target.url, total, total);
    Ok(Some(target))
}

/// Store every whole chunk at the front of `out` (and the rest too when
/// `last`); false when storage refused one.
async fn store_full_chunks(
    target: &WeightsFile,
    out: &mut Vec<u8>,
    stored: &mut u64,
    last: bool,
    notes: &mut Notes,
) -> bool {
    let chunk = target.chunk as usize;
    while out.len() >= chunk || (last && !out.is_empty()) {
        let take = chunk.min(out.len());
        if !store(&target.key(*stored), &out[..take], "", notes).await {
            return false;
        }
        out.drain(..take);
        *stored += 1;
    }
    true
}

/// Delete the first `stored` chunks of a conversion that could not finish.
async fn forget(target: &WeightsFile, stored: u64) {
    for i in 0..stored {
        cache::delete(&target.key(i)).await;
    }
}
