//! The model at a base URL as the core's [`ModelSource`]: each file through
//! the IndexedDB cache, the weights downloaded, verified and converted into
//! the cache before the build reads them back chunk by chunk. The core's
//! pipeline (`pairrm_web::load`) does the rest, as for a folder natively.

use pairrm_web::config::BackboneConfig;
use pairrm_web::error::{Error, Result};
use pairrm_web::files::WEIGHTS_FILE;
use pairrm_web::load::ModelSource;
use pairrm_web::quant::WeightDtype;
use pairrm_web::weights::WeightsPlan;

use super::*;
use crate::cache;

pub(super) struct HttpSource<'a, 'p> {
    /// Where the files are: the caller's base, pinned to the commit that
    /// served `config.json` once it is known (see [`pinned_base`]).
    base: String,
    pub(super) notes: &'a mut Notes,
    progress: &'a mut ProgressFn<'p>,
    /// `config.json` when it is new: stored only once the whole load succeeded.
    pub(super) fresh_config: Option<FreshConfig>,
    /// `model.safetensors` as served, and the backbone it was checked
    /// against (once its header is read).
    weights: Option<(WeightsFile, BackboneConfig)>,
    /// The file converted to the asked dtype in the cache, read instead.
    converted: Option<WeightsFile>,
    /// The chunk read last (tensors lie in order, so most reads hit it)
    /// and the next one's read under way.
    reading: ReadState,
}

impl<'a, 'p> HttpSource<'a, 'p> {
    pub(super) fn new(base: &str, notes: &'a mut Notes, progress: &'a mut ProgressFn<'p>) -> Self {
        Self {
            base: base.to_string(),
            notes,
            progress,
            fresh_config: None,
            weights: None,
            converted: None,
            reading: ReadState::default(),
        }
    }
}

fn before_header() -> Error {
    Error::weights("model.safetensors was read before its header")
}

/// Download what the cache lacks (feeding `converting` where the whole
/// file passes in order) and check it against the published sha256, once
/// per version.
async fn download_and_verify(
    file: &mut WeightsFile,
    converting: &mut Option<CacheConversion>,
    base: &str,
    notes: &mut Notes,
    progress: &mut ProgressFn<'_>,
) -> Result<()> {
    let hashed = download(file, converting, notes, progress).await?;
    let verified = cache::get(&verified_key(file), None).await.is_some();
    if verified {
        notes.used.insert(verified_key(file));
        return Ok(());
    }
    if let Some(want) = published_sha256(base, notes).await {
        let mut reader = ChunkReader::new(file);
        verify(&mut reader, &want, hashed, notes).await?;
    }
    Ok(())
}

impl ModelSource for HttpSource<'_, '_> {
    fn locate(&self, name: &str) -> String {
        format!("{}{name}", self.base)
    }

    async fn config_json(&mut self) -> Result<Vec<u8>> {
        let url = self.locate("config.json");
        let (bytes, version, fresh) = config_file(&url, self.notes, self.progress).await?;
        self.base = pinned_base(&self.base, &version);
        self.fresh_config = fresh;
        Ok(bytes)
    }

    async fn file(&mut self, name: &str) -> Result<Vec<u8>> {
        required_file(&self.locate(name), self.notes, self.progress).await
    }

    async fn optional_file(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        small_file(&self.locate(name), self.notes, self.progress).await
    }

    async fn weights_plan(&mut self, backbone: &BackboneConfig) -> Result<WeightsPlan> {
        let url = self.locate(WEIGHTS_FILE);
        let file = open_weights(&url, backbone, self.notes, self.progress).await?;
        let plan = file.plan.clone();
        self.weights = Some((file, backbone.clone()));
        Ok(plan)
    }

    /// Download what the cache lacks, check it against the published sha256,
    /// and convert it into the cache when a lower dtype is asked for; or find
    /// that conversion cached already and read nothing of the source.
    async fn prepare(
        &mut self,
        plan: WeightsPlan,
        dtype: Option<WeightDtype>,
    ) -> Result<(WeightsPlan, Option<WeightDtype>)> {
        let notes = &mut *self.notes;
        let (file, backbone) = self.weights.as_mut().ok_or_else(before_header)?;
        // A dtype below the stored one: converted once into the cache.
        let conversion = dtype.filter(|&d| d != plan.stored_dtype());
        let cached = match conversion {
            Some(d) => cached_conversion(file, d, backbone, notes).await,
            None => None,
        };
        let converted = match cached {
            Some(c) => Some(c),
            None => {
                // Converted as it downloads when the whole file passes in
                // order, else from the cache once it is all there.
                let mut converting = match conversion {
                    Some(d) => Some(CacheConversion::new(file, d, backbone, notes)?),
                    None => None,
                };
                let checked =
                    download_and_verify(file, &mut converting, &self.base, notes, self.progress)
                        .await;
                if let Err(e) = checked {
                    if let Some(c) = converting.as_mut() {
                        c.forget().await;
                    }
                    return Err(e);
                }
                match (conversion, converting) {
                    (Some(_), Some(c)) if c.complete() => {
                        let url = c.target_url().to_string();
                        let total = c.file_len();
                        let target = c.finish(notes).await?;
                        if target.is_some() {
                            drop_source(file, 0, notes).await;
                            (self.progress)("convert", &url, total, total);
                        }
                        target
                    }
                    (Some(d), c) => {
                        if let Some(mut c) = c {
                            c.forget().await;
                        }
                        let mut reader = ChunkReader::new(file);
                        convert_into_cache(&mut reader, d, backbone, notes, self.progress).await?
                    }
                    (None, _) => None,
                }
            }
        };
        // Read the converted file as stored, or the source converting as it
        // goes (when the cache could not hold the converted file).
        Ok(match converted {
            Some(c) => {
                let plan = c.plan.clone();
                self.converted = Some(c);
                (plan, None)
            }
            None => (plan, dtype),
        })
    }

    async fn read(&mut self, start: u64, end: u64) -> Result<Vec<u8>> {
        self.read_with(start, end, <[u8]>::to_vec).await
    }

    async fn read_with<R>(
        &mut self,
        start: u64,
        end: u64,
        take: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        let file = match self.converted.as_mut() {
            Some(c) => c,
            None => &mut self.weights.as_mut().ok_or_else(before_header)?.0,
        };
        let mut reader = ChunkReader {
            file,
            state: std::mem::take(&mut self.reading),
        };
        let out = reader.read_with(start, end, self.notes, take).await;
        self.reading = reader.state;
        out
    }

    async fn group_loaded(&mut self, done: u64, total: u64) -> Result<()> {
        let url = self.locate(WEIGHTS_FILE);
        (self.progress)("upload", &url, done, total);
        self.notes.check_cancelled()?;
        crate::yield_now().await;
        Ok(())
    }
}
