//! The public Rust API: a loaded [`Ranker`] answers `compare`, `rank`,
//! `compare_conversations`, `rank_with_ref` and `best_of_n`.
//!
//! Methods are `async` because reading results back from a WebGPU device can
//! only be awaited in a browser; natively, drive them with [`block_on`].

use crate::config::PairRmConfig;
use crate::device::Device;
use crate::error::{Error, InputError, Result};
use crate::files::{DirSource, MemorySource};
use crate::load::{build_ranker, load_ranker};
use crate::model::{Engine, PairRmModel};
use crate::quant::WeightDtype;
use crate::rank::{CompareMode, Ranking};
use crate::segments::{self, Limits, PairInput};
use crate::tokenize::{text_head, PairRmTokenizer};

pub use crate::config::resolve_config;
pub use crate::conversation::{conversation_texts, Message, CONVERSATION_INSTRUCTION};
pub use crate::files::{read_model_dir, read_tokenizer_files, TokenizerPreference};
pub use crate::files::{ModelFiles, TokenizerFiles};
pub use crate::load::LoadSettings;
use crate::requests::{Best, Request, Response, TokenIds};
pub use crate::requests::{Comparison, RefRanking};

/// Drives the async methods to completion on this thread: natively, and for
/// the CPU engine anywhere (its futures are ready when first polled). In a
/// browser, await WebGPU work instead: its readback completes on the event
/// loop, which a blocked thread never returns to.
pub use futures_lite::future::block_on;

mod derived;
pub use derived::Keep;
mod passes;

/// Most candidates of one `rank`, `rank_with_ref` or `best_of_n`: a ranking of
/// 100 is 9,900 comparisons (minutes on a GPU, hours on a CPU).
pub const MAX_CANDIDATES: usize = 100;

/// Called with `(done, total)` comparisons after each forward pass; answering
/// `false` stops the work with [`Error::Cancelled`].
pub type Progress<'a> = dyn FnMut(usize, usize) -> bool + 'a;

/// Default most comparisons per forward pass: a `rank` of up to 6 candidates
/// (30 comparisons) is one pass on a GPU when the buffer budget allows it.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// The fewest ids of one text kept before truncation ([`Ranker::token_cap`]):
/// PairRM's whole input, so that token counts up to it are exact even for
/// models with small max lengths.
pub const MIN_TOKEN_CAP: usize = 2048;

/// Strategy for [`Ranker::best_of_n`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BestOfN {
    /// One pass over a seeded random order, keeping the winner of each pair.
    Bubble { seed: u64 },
    /// A full ranking; the best is rank 1.
    Full,
}

/// A loaded PairRM on one device.
pub struct Ranker {
    tokenizer: PairRmTokenizer,
    model: PairRmModel,
    config: PairRmConfig,
    batch_size: usize,
    dtype: WeightDtype,
    /// Awaited between forward passes (see [`Ranker::with_yield`]).
    yield_now: Option<YieldFn>,
}

/// A future the caller's runtime completes after one turn of its event loop.
pub type YieldFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// Makes a [`YieldFuture`]: the hook by which a caller on an event loop (a
/// browser worker) lets other work run between forward passes.
pub type YieldFn = fn() -> YieldFuture;

impl Ranker {
    /// Parse config, tokenizer and weights, check them against each other, upload to `device`.
    pub fn from_files(files: ModelFiles, device: &Device) -> Result<Self> {
        Self::from_files_with(files, device, &LoadSettings::default())
    }

    /// As [`Self::from_files`], with the weights converted to `dtype` as they
    /// are read (`None`: as the file stores them). Asking for more precision
    /// than the file holds is an error.
    pub fn from_files_as(
        files: ModelFiles,
        device: &Device,
        dtype: Option<WeightDtype>,
    ) -> Result<Self> {
        let settings = LoadSettings {
            dtype,
            ..LoadSettings::default()
        };
        Self::from_files_with(files, device, &settings)
    }

    /// Files in memory through the one loading pipeline ([`crate::load`]).
    pub fn from_files_with(
        files: ModelFiles,
        device: &Device,
        settings: &LoadSettings,
    ) -> Result<Self> {
        futures_lite::future::block_on(load_ranker(&mut MemorySource::new(files), device, settings))
    }

    /// As [`Self::from_files_as`], from a config and tokenizer already read.
    pub fn from_safetensors(
        config: PairRmConfig,
        tokenizer: PairRmTokenizer,
        safetensors: Vec<u8>,
        device: &Device,
        dtype: Option<WeightDtype>,
    ) -> Result<Self> {
        let settings = LoadSettings {
            dtype,
            ..LoadSettings::default()
        };
        let mut source = MemorySource::weights(safetensors);
        futures_lite::future::block_on(build_ranker(
            &mut source,
            config,
            tokenizer,
            device,
            &settings,
        ))
    }

    /// Assemble from parts loaded elsewhere (the browser streams its weights).
    pub fn from_parts(
        config: PairRmConfig,
        tokenizer: PairRmTokenizer,
        model: PairRmModel,
    ) -> Self {
        Self {
            tokenizer,
            model,
            config,
            batch_size: DEFAULT_BATCH_SIZE,
            dtype: WeightDtype::F32,
            yield_now: None,
        }
    }

    /// Record the dtype the weights were loaded in (see [`Self::dtype`]).
    pub fn with_dtype(mut self, dtype: WeightDtype) -> Self {
        self.dtype = dtype;
        self
    }

    /// Await `hook()` between forward passes. A browser passes one turn of
    /// its event loop, so that a worker sees a cancel message mid-request;
    /// natively nothing is needed (cancellation is the progress callback).
    pub fn with_yield(mut self, hook: YieldFn) -> Self {
        self.yield_now = Some(hook);
        self
    }

    /// Bytes of weights held in memory by the fused CPU engine (None on a
    /// burn device).
    pub fn weight_bytes(&self) -> Option<usize> {
        self.model.host_weight_bytes()
    }

    /// The precision of the weights this ranker computes with.
    pub fn dtype(&self) -> WeightDtype {
        self.dtype
    }

    /// Load a model dir holding the files of `llm-blender/PairRM` or `llm-blender/PairRM-hf`.
    /// The tokenizer comes from `tokenizer.json` when present, else `spm.model` + `added_tokens.json`.
    pub fn load_dir(dir: &std::path::Path, device: &Device) -> Result<Self> {
        Self::load_dir_with(dir, device, &LoadSettings::default())
    }

    /// As [`Self::load_dir`], converting the weights to `dtype` as they are
    /// read (`None`: as stored).
    pub fn load_dir_as(
        dir: &std::path::Path,
        device: &Device,
        dtype: Option<WeightDtype>,
    ) -> Result<Self> {
        let settings = LoadSettings {
            dtype,
            ..LoadSettings::default()
        };
        Self::load_dir_with(dir, device, &settings)
    }

    /// As [`Self::load_dir`], with every setting of the load. The weights are
    /// read group by group from the file: at most one layer's host tensors
    /// (and no copy of the file) besides the model in memory.
    pub fn load_dir_with(
        dir: &std::path::Path,
        device: &Device,
        settings: &LoadSettings,
    ) -> Result<Self> {
        futures_lite::future::block_on(load_ranker(&mut DirSource::new(dir), device, settings))
    }

    pub fn config(&self) -> &PairRmConfig {
        &self.config
    }

    pub fn tokenizer(&self) -> &PairRmTokenizer {
        &self.tokenizer
    }

    pub fn device(&self) -> &Device {
        self.model.device()
    }

    /// Most comparisons per forward pass (results do not depend on it).
    pub fn set_batch_size(&mut self, batch_size: usize) {
        self.batch_size = batch_size.max(1);
    }

    /// Whether `n` comparisons padded to `longest` tokens keep every GPU
    /// buffer within [`crate::model::SCORE_BUDGET`] elements: neither one
    /// head's attention scores `[n, L, L]` nor the widest activation
    /// `[n, L, width]` may exceed it (GPU buffers are bounded; the CPU engine
    /// does not pad, so it is not).
    fn pass_fits(&self, n: usize, longest: usize) -> bool {
        let bb = &self.config.backbone;
        let width = bb.intermediate_size.max(3 * bb.hidden_size);
        let budget = crate::model::SCORE_BUDGET;
        n * longest * longest <= budget && n * longest * width <= budget
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            source_maxlength: self.config.source_maxlength,
            candidate_maxlength: self.config.candidate_maxlength,
        }
    }

    /// The most ids of one text worth having: no segment keeps more than
    /// `source_maxlength + 2 · candidate_maxlength` (2,048 for PairRM). Token
    /// counts (the dataset rows') stop there: that count means "at least".
    pub fn token_cap(&self) -> usize {
        MIN_TOKEN_CAP.max(self.config.source_maxlength + 2 * self.config.candidate_maxlength)
    }

    /// The ids of a candidate text, as far as any input can keep them
    /// (tokenizing only that much: see [`PairRmTokenizer::encode_prefix`]).
    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .encode_prefix(&segments::clean_text(text_head(text)), self.token_cap())
    }

    /// The ids of the source text (instruction then input), as [`Self::encode`].
    pub(crate) fn source_ids(&self, instruction: &str, input: &str) -> Result<Vec<u32>> {
        self.tokenizer.encode_prefix(
            &segments::source_text(text_head(instruction), text_head(input)),
            self.token_cap(),
        )
    }

    /// The assembled input ids of one comparison (what the model sees).
    pub fn pair_input(
        &self,
        instruction: &str,
        input: &str,
        a: &str,
        b: &str,
    ) -> Result<PairInput> {
        Ok(segments::assemble(
            &self.tokenizer.special,
            self.limits(),
            &self.source_ids(instruction, input)?,
            &self.encode(a)?,
            &self.encode(b)?,
        ))
    }

    /// `logit(A, B)` for each assembled pair, in forward passes of at most
    /// `batch_size` (on burn's engine, of similar lengths: see [`passes`]).
    pub async fn logits(&self, pairs: &[PairInput]) -> Result<Vec<f64>> {
        self.logits_with_progress(pairs, &mut |_, _| true).await
    }

    /// As [`Self::logits`], reporting `(done, total)` after each batch; a
    /// report answered with `false` stops the work with [`Error::Cancelled`].
    pub async fn logits_with_progress(
        &self,
        pairs: &[PairInput],
        progress: &mut Progress<'_>,
    ) -> Result<Vec<f64>> {
        self.logits_of(pairs.len(), |k| pairs[k].clone(), progress)
            .await
    }

    /// The logits of `count` pairs made by `pair(k)` on demand: at most
    /// `batch_size` assembled inputs wait at a time, however many comparisons
    /// a ranking needs. Progress counts the comparisons done, in whatever
    /// order their passes ran.
    pub(crate) async fn logits_of(
        &self,
        count: usize,
        pair: impl Fn(usize) -> PairInput,
        progress: &mut Progress<'_>,
    ) -> Result<Vec<f64>> {
        let padded = self.model.engine() == Engine::Tensors;
        let mut out = vec![0.0; count];
        let (mut done, mut next) = (0, 0);
        // Up to `batch_size` assembled comparisons wait, with their index.
        let mut waiting: Vec<(usize, PairInput)> = Vec::new();
        while done < count {
            while waiting.len() < self.batch_size && next < count {
                waiting.push((next, pair(next)));
                next += 1;
            }
            let lens: Vec<usize> = waiting.iter().map(|(_, p)| p.ids.len()).collect();
            let pass =
                passes::next_pass(&lens, self.batch_size, |n, l| self.pass_fits(n, l), padded);
            // Ascending indices, removed from the back: the rest keep their order.
            let mut taken: Vec<_> = pass.iter().rev().map(|&i| waiting.remove(i)).collect();
            taken.reverse();
            let (index, inputs): (Vec<usize>, Vec<PairInput>) = taken.into_iter().unzip();
            let values = self.model.logits(&inputs).await?;
            if let Some((k, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                // A NaN would rank first and print as null: never a result.
                return Err(Error::weights(format!(
                    "the model computed a non-finite logit ({v}) for comparison {}: its weights \
                     hold NaN or infinite values, or overflow f32",
                    index[k] + 1
                )));
            }
            for (k, v) in index.into_iter().zip(values) {
                out[k] = f64::from(v);
            }
            done += inputs.len();
            if !progress(done, count) {
                return Err(Error::Cancelled);
            }
            if let Some(hook) = self.yield_now {
                hook().await;
            }
        }
        Ok(out)
    }

    /// The reference's `compare`: `ab` → logit(A,B); `ba` → logit(B,A) (not
    /// negated); `both` → logit(A,B) − logit(B,A).
    pub async fn compare(
        &self,
        instruction: &str,
        input: &str,
        a: &str,
        b: &str,
        mode: CompareMode,
    ) -> Result<f64> {
        let source = self.source_ids(instruction, input)?;
        let (a, b) = (self.encode(a)?, self.encode(b)?);
        let (special, limits) = (&self.tokenizer.special, self.limits());
        let ab = || segments::assemble(special, limits, &source, &a, &b);
        let ba = || segments::assemble(special, limits, &source, &b, &a);
        Ok(match mode {
            CompareMode::Ab => self.logits(&[ab()]).await?[0],
            CompareMode::Ba => self.logits(&[ba()]).await?[0],
            CompareMode::Both => {
                let v = self.logits(&[ab(), ba()]).await?;
                v[0] - v[1]
            }
        })
    }

    /// The full logit matrix `M` over every ordered pair (N·(N−1) comparisons).
    /// Candidates with identical token ids are computed once and share their
    /// values, so they tie exactly, as in the reference, on every device.
    pub async fn logit_matrix(
        &self,
        instruction: &str,
        input: &str,
        candidates: &[String],
        progress: &mut Progress<'_>,
    ) -> Result<Vec<Vec<f64>>> {
        let source = self.source_ids(instruction, input)?;
        let cands = candidates
            .iter()
            .map(|c| self.encode(c))
            .collect::<Result<Vec<_>>>()?;
        self.logit_matrix_of_ids(&source, &cands, progress).await
    }

    /// [`Self::logit_matrix`] of texts already tokenized.
    pub(crate) async fn logit_matrix_of_ids(
        &self,
        source: &[u32],
        cands: &[Vec<u32>],
        progress: &mut Progress<'_>,
    ) -> Result<Vec<Vec<f64>>> {
        let n = cands.len();
        let canon: Vec<usize> = (0..n)
            .map(|i| (0..i).find(|&j| cands[j] == cands[i]).unwrap_or(i))
            .collect();
        let mut unique: Vec<(usize, usize)> = Vec::new();
        let mut slot = vec![vec![usize::MAX; n]; n];
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                let (a, b) = (canon[i], canon[j]);
                if slot[a][b] == usize::MAX {
                    slot[a][b] = unique.len();
                    unique.push((a, b));
                }
            }
        }
        let (special, limits) = (&self.tokenizer.special, self.limits());
        let pair = |k: usize| {
            let (a, b) = unique[k];
            segments::assemble(special, limits, source, &cands[a], &cands[b])
        };
        let values = self.logits_of(unique.len(), pair, progress).await?;
        let mut m = vec![vec![0.0; n]; n];
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                m[i][j] = values[slot[canon[i]][canon[j]]];
            }
        }
        Ok(m)
    }

    /// Answer any [`Request`]: the one dispatcher of the CLI and the JS class.
    /// `progress` sees a ranking's comparisons after each forward pass and can
    /// stop it; the other requests do not report progress (a compare is one
    /// pass; best-of-n and rank-with-ref run to the end once started).
    pub async fn answer(&self, request: Request, progress: &mut Progress<'_>) -> Result<Response> {
        Ok(match request {
            Request::Tokenize(r) => Response::TokenIds(TokenIds {
                ids: self.tokenizer.tokenize(&r.text)?,
            }),
            Request::Rank(r) => Response::Ranking(
                self.rank_with_progress(&r.instruction, &r.input, &r.candidates, progress)
                    .await?,
            ),
            Request::Compare(r) => {
                let mode = r.mode.unwrap_or(CompareMode::Both);
                let value = self.compare(&r.instruction, &r.input, &r.a, &r.b, mode);
                Response::Comparison(Comparison::from(value.await?))
            }
            Request::CompareConversations(r) => Response::Comparison(Comparison::from(
                self.compare_conversations(&r.a, &r.b).await?,
            )),
            Request::RankWithRef(r) => Response::RefRanking(
                self.rank_with_ref(&r.instruction, &r.input, &r.candidates, r.reference)
                    .await?,
            ),
            Request::BestOfN(r) => {
                let strategy = r.strategy()?;
                let best = self.best_of_n(&r.instruction, &r.input, &r.candidates, strategy);
                Response::Best(Best { best: best.await? })
            }
        })
    }

    /// Rank `candidates` (at least 2) for one instruction.
    pub async fn rank(
        &self,
        instruction: &str,
        input: &str,
        candidates: &[String],
    ) -> Result<Ranking> {
        self.rank_with_progress(instruction, input, candidates, &mut |_, _| true)
            .await
    }

    pub async fn rank_with_progress(
        &self,
        instruction: &str,
        input: &str,
        candidates: &[String],
        progress: &mut Progress<'_>,
    ) -> Result<Ranking> {
        check_candidates(candidates)?;
        Ok(Ranking::from_matrix(
            self.logit_matrix(instruction, input, candidates, progress)
                .await?,
        ))
    }
}

/// Every id the tokenizer can produce must have an embedding row.
pub fn check_vocab(tokenizer: &PairRmTokenizer, embedding_rows: usize) -> Result<()> {
    if tokenizer.vocab_len > embedding_rows {
        return Err(Error::weights(format!(
            "the tokenizer has {} tokens but the embedding table only {embedding_rows} rows",
            tokenizer.vocab_len
        )));
    }
    Ok(())
}

pub(crate) fn check_candidates(candidates: &[String]) -> Result<()> {
    let got = candidates.len();
    if got < 2 {
        return Err(Error::Input(InputError::TooFewCandidates { got, min: 2 }));
    }
    if got > MAX_CANDIDATES {
        let max = MAX_CANDIDATES;
        return Err(Error::Input(InputError::TooManyCandidates { got, max }));
    }
    Ok(())
}
