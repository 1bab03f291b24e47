//! One loading pipeline for every target: config → tokenizer → weights header
//! check → vocab check → the weights group by group → a [`Ranker`]. Where the
//! bytes come from is a [`ModelSource`]: a folder or files in memory
//! ([`crate::files`]), or, in the wasm crate, HTTP through the browser's
//! IndexedDB cache. Only one group's host tensors exist at a time, whatever
//! the source.

use std::collections::HashMap;

use crate::device::Device;

use crate::api::{check_vocab, resolve_config, Ranker};
use crate::config::{parse_model_config, BackboneConfig, ConfigSource, PairRmConfig};
use crate::error::{Error, Result, WeightsError};
use crate::files::TokenizerPreference;
use crate::model::{load_groups, ModelBuilder};
use crate::quant::WeightDtype;
use crate::tokenize::PairRmTokenizer;
use crate::weights::{int8_values, PairRmWeights, PlanEntry, WeightsPlan};

/// Where a model's files come from. Names are paths relative to the model
/// (`config.json`, `spm.model`, `<backbone folder>/config.json`).
///
/// `async` because the browser's source awaits the network and IndexedDB;
/// the native sources never wait, and [`crate::api::block_on`] drives them.
#[allow(async_fn_in_trait)] // no Send bound wanted: one browser thread, or block_on
pub trait ModelSource {
    /// Where `name` is, for messages (a path or a URL).
    fn locate(&self, name: &str) -> String;

    /// The model's `config.json`, asked for first (the browser's source asks
    /// the server every time, to notice a new version of the model).
    async fn config_json(&mut self) -> Result<Vec<u8>> {
        self.file("config.json").await
    }

    /// A small file whole; an error when the model has none.
    async fn file(&mut self, name: &str) -> Result<Vec<u8>> {
        match self.optional_file(name).await? {
            Some(bytes) => Ok(bytes),
            None => Err(Error::Io {
                what: self.locate(name),
                cause: "not found".into(),
            }),
        }
    }

    /// A small file whole, `None` when the model has no such file.
    async fn optional_file(&mut self, name: &str) -> Result<Option<Vec<u8>>>;

    /// `model.safetensors`' header checked against `backbone`, before any
    /// tensor byte is read (or downloaded).
    async fn weights_plan(&mut self, backbone: &BackboneConfig) -> Result<WeightsPlan>;

    /// Called once the plan passed every check, before the first
    /// [`Self::read`]: make the bytes ready (the browser downloads, verifies
    /// and converts them into its cache). Returns the plan to read by and the
    /// dtype to convert each tensor to as it is decoded (`None`: as stored).
    async fn prepare(
        &mut self,
        plan: WeightsPlan,
        dtype: Option<WeightDtype>,
    ) -> Result<(WeightsPlan, Option<WeightDtype>)> {
        Ok((plan, dtype))
    }

    /// Bytes `start..end` of the weights file the plan describes (offsets
    /// from the file's first byte).
    async fn read(&mut self, start: u64, end: u64) -> Result<Vec<u8>>;

    /// `take` of bytes `start..end`: a source that holds them already (the
    /// browser's current cached piece) lends them instead of copying them
    /// out first; a warm browser load copies 446 MB once less so.
    async fn read_with<R>(
        &mut self,
        start: u64,
        end: u64,
        take: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        let bytes = self.read(start, end).await?;
        Ok(take(&bytes))
    }

    /// After each group of weights reached the device: `done` of `total`
    /// bytes of tensor data. The place for progress, cancellation and a turn
    /// of the caller's event loop.
    async fn group_loaded(&mut self, _done: u64, _total: u64) -> Result<()> {
        Ok(())
    }
}

/// How a load computes.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadSettings {
    /// Convert the weights to this dtype as they are read (`None`: as stored).
    /// More precision than the file holds is an error.
    pub dtype: Option<WeightDtype>,
    /// Which tokenizer files to read.
    pub tokenizer: TokenizerPreference,
}

/// Load the model `source` holds onto `device`.
pub async fn load_ranker(
    source: &mut impl ModelSource,
    device: &Device,
    settings: &LoadSettings,
) -> Result<Ranker> {
    let config = load_config(source).await?;
    let tokenizer = load_tokenizer(source, settings.tokenizer).await?;
    build_ranker(source, config, tokenizer, device, settings).await
}

/// The ranker config, with its backbone folder's config when it names one.
pub async fn load_config(source: &mut impl ModelSource) -> Result<PairRmConfig> {
    let bytes = source.config_json().await?;
    let config_json = text(source, "config.json", bytes)?;
    let backbone_json = match parse_model_config(&config_json)? {
        ConfigSource::Ready(_) => None,
        ConfigSource::NeedsBackbone(p) => {
            let name = format!("{}/config.json", p.model_name.trim_end_matches('/'));
            let bytes = source.file(&name).await?;
            Some(text(source, &name, bytes)?)
        }
    };
    resolve_config(&config_json, backbone_json.as_deref())
}

/// The tokenizer, from the files `preference` picks.
pub async fn load_tokenizer(
    source: &mut impl ModelSource,
    preference: TokenizerPreference,
) -> Result<PairRmTokenizer> {
    const JSON: &str = "tokenizer.json";
    const SPM: &str = "spm.model";
    let json = match preference {
        TokenizerPreference::Json => Some(source.file(JSON).await?),
        TokenizerPreference::Spm => None,
        TokenizerPreference::Auto => source.optional_file(JSON).await?,
        TokenizerPreference::SpmFirst => match source.optional_file(SPM).await? {
            Some(spm_model) => return spm_tokenizer(source, spm_model).await,
            None => Some(source.file(JSON).await?),
        },
    };
    match json {
        Some(bytes) => PairRmTokenizer::from_tokenizer_json(&text(source, JSON, bytes)?),
        None => {
            let spm_model = source.file(SPM).await?;
            spm_tokenizer(source, spm_model).await
        }
    }
}

async fn spm_tokenizer(
    source: &mut impl ModelSource,
    spm_model: Vec<u8>,
) -> Result<PairRmTokenizer> {
    const ADDED: &str = "added_tokens.json";
    let added = source.file(ADDED).await?;
    PairRmTokenizer::from_spm(&spm_model, &text(source, ADDED, added)?)
}

/// The weights of `source`, checked against `config` and `tokenizer`, read
/// group by group onto `device`.
pub async fn build_ranker(
    source: &mut impl ModelSource,
    config: PairRmConfig,
    tokenizer: PairRmTokenizer,
    device: &Device,
    settings: &LoadSettings,
) -> Result<Ranker> {
    let plan = source.weights_plan(&config.backbone).await?;
    check_vocab(&tokenizer, plan.vocab_size)?;
    let computed = plan.check_target(settings.dtype)?;
    let (plan, convert) = source.prepare(plan, settings.dtype).await?;
    let entries: HashMap<&str, &PlanEntry> =
        plan.entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let at = |offset: usize| (plan.data_start + offset) as u64;
    let total = plan.data_len as u64;
    let mut done = 0u64;
    let mut builder =
        ModelBuilder::new(&config, tokenizer.special.pad, device).with_weight_dtype(computed);
    for group in load_groups(&config.backbone) {
        let mut weights = PairRmWeights::empty(plan.vocab_size, plan.n_tasks);
        let mut members = Vec::with_capacity(group.len());
        for name in &group {
            let entry = entries
                .get(name.as_str())
                .ok_or_else(|| Error::Weights(WeightsError::MissingTensor { key: name.clone() }))?;
            members.push(*entry);
        }
        // In file order: a source reading chunks reads each once.
        members.sort_by_key(|e| e.offsets.0);
        for entry in members {
            let (a, b) = entry.offsets;
            let weight = match &entry.scale {
                // The values (then their scales, after them in the file as
                // written): bytes taken straight into the typed values.
                Some(scale) => {
                    let values = source.read_with(at(a), at(b), int8_values).await?;
                    let (sa, sb) = scale.offsets;
                    let scales = source.read(at(sa), at(sb)).await?;
                    entry.decode_int8(values, &scales, convert)
                }
                None => {
                    source
                        .read_with(at(a), at(b), |bytes| entry.decode(&[bytes], convert))
                        .await?
                }
            };
            done += entry
                .ranges()
                .iter()
                .map(|(a, b)| (b - a) as u64)
                .sum::<u64>();
            weights.insert(entry.name.clone(), weight);
        }
        builder.add_group(&mut weights)?;
        builder.settle().await?;
        source.group_loaded(done, total).await?;
    }
    let model = builder.finish()?;
    Ok(Ranker::from_parts(config, tokenizer, model).with_dtype(computed))
}

fn text(source: &impl ModelSource, name: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| Error::Io {
        what: source.locate(name),
        cause: "not UTF-8".into(),
    })
}
