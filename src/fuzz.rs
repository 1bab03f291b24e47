//! Fuzz targets: every parser of outside bytes, driven by arbitrary input.
//!
//! `fuzz/` runs each target under libFuzzer (`scripts/fuzz.sh`);
//! `tests/fuzz_corpus.rs` replays the kept corpus and every finding through
//! the same functions in the ordinary test build, with a bound on the memory
//! each input may take. A target returns normally for any input: an error is
//! the right answer to bad bytes; a panic, a hang or an allocation out of
//! proportion to the input is a bug.

use std::path::Path;

use crate::api::{block_on, Ranker};
use crate::config::{parse_backbone, resolve_config, PairRmConfig};
use crate::error::Result;
use crate::files::{read_model_dir, TokenizerFiles, TokenizerPreference};
use crate::quant::WeightDtype;
use crate::rank::CompareMode;
use crate::requests::{
    from_json, BestOfNRequest, CompareRequest, ConversationRequest, RankRequest,
    RankWithRefRequest, TokenizeRequest,
};
use crate::tokenize::PairRmTokenizer;

/// The parsers, one target each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A safetensors header checked against the key table (no tensor data).
    SafetensorsHeader,
    /// A whole weights file, loaded as stored, then one ranking.
    Weights,
    /// A whole weights file loaded as int8 (its own scales, or quantized as
    /// read), then one ranking.
    WeightsQ8,
    /// `config.json` in both layouts (a ranker config with a backbone
    /// folder, or PairRM-hf's), and a backbone `config.json`.
    Config,
    /// The `spm.model` protobuf, then tokenization.
    SpmModel,
    /// `tokenizer.json`, then tokenization.
    TokenizerJson,
    /// A CLI request line (first byte: which command), answered by the tiny model.
    Request,
    /// A dataset file (pairs JSONL or CSV, rankings JSONL).
    Dataset,
    /// Two AlpacaEval files (split at the first NUL byte), joined.
    AlpacaJoin,
    /// Not a parser: a text's first ids tokenized from a prefix (small cuts,
    /// so that fuzz-sized texts are cut) must equal the whole text's.
    TokenPrefix,
}

impl Target {
    pub const ALL: [Target; 10] = [
        Target::SafetensorsHeader,
        Target::Weights,
        Target::WeightsQ8,
        Target::Config,
        Target::SpmModel,
        Target::TokenizerJson,
        Target::Request,
        Target::Dataset,
        Target::AlpacaJoin,
        Target::TokenPrefix,
    ];

    /// The name of its `fuzz/fuzz_targets/*.rs` and corpus folder.
    pub fn name(self) -> &'static str {
        match self {
            Target::SafetensorsHeader => "safetensors_header",
            Target::Weights => "weights",
            Target::WeightsQ8 => "weights_q8",
            Target::Config => "config",
            Target::SpmModel => "spm_model",
            Target::TokenizerJson => "tokenizer_json",
            Target::Request => "request",
            Target::Dataset => "dataset",
            Target::AlpacaJoin => "alpaca_join",
            Target::TokenPrefix => "token_prefix",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Feed `data` to the target's parser (and what uses its result).
    pub fn run(self, fx: &Fixtures, data: &[u8]) {
        match self {
            Target::SafetensorsHeader => {
                if let Ok(plan) = crate::weights::plan_from_header(data, &fx.config.backbone) {
                    let _ = plan.file_len();
                    let _ = plan.check_target(Some(WeightDtype::Q8));
                }
            }
            Target::Weights => fx.load_and_rank(data, None),
            Target::WeightsQ8 => fx.load_and_rank(data, Some(WeightDtype::Q8)),
            Target::Config => {
                let text = String::from_utf8_lossy(data);
                let _ = resolve_config(&text, Some(&fx.backbone_json));
                let _ = resolve_config(&fx.config_json, Some(&text));
                let _ = parse_backbone(&text);
            }
            Target::SpmModel => {
                if let Ok(t) = PairRmTokenizer::from_spm(data, &fx.added_tokens_json) {
                    exercise(&t);
                }
            }
            Target::TokenizerJson => {
                if let Ok(t) = PairRmTokenizer::from_tokenizer_json(&String::from_utf8_lossy(data))
                {
                    exercise(&t);
                }
            }
            Target::Request => {
                if let Some((&kind, line)) = data.split_first() {
                    let _ = fx.answer(kind, &String::from_utf8_lossy(line));
                }
            }
            Target::Dataset => {
                if let Ok(d) = crate::dataset::parse(&String::from_utf8_lossy(data)) {
                    let _ = d.errors();
                }
            }
            Target::AlpacaJoin => {
                let at = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                let a = String::from_utf8_lossy(&data[..at]);
                let b = String::from_utf8_lossy(data.get(at + 1..).unwrap_or_default());
                let _ = crate::dataset::join_alpaca_eval(&a, &b);
            }
            Target::TokenPrefix => {
                let [limit, whole, cut, rest @ ..] = data else {
                    return;
                };
                let text = String::from_utf8_lossy(rest);
                for t in [&fx.tokenizer, &fx.json_tokenizer] {
                    t.check_prefix_ids(
                        &text,
                        *limit as usize % 64 + 1,
                        *whole as usize % 64,
                        *cut as usize % 32 + 1,
                    );
                }
            }
        }
    }
}

/// Encode a few texts that touch the special tokens, the markers and odd Unicode.
fn exercise(t: &PairRmTokenizer) {
    for text in [
        "",
        "Hello world",
        "[CLS] <|source|> x\u{0}\u{301}\u{ff21}😀 é",
        "  a  b\n\t",
    ] {
        let _ = t.tokenize(text);
        let _ = t.encode_prefix(text, 4);
    }
}

/// A ranker on the CPU from weights bytes, with the fixture's config and tokenizer.
fn cpu_ranker(
    config: &PairRmConfig,
    tokenizer: &PairRmTokenizer,
    safetensors: Vec<u8>,
    dtype: Option<WeightDtype>,
) -> Result<Ranker> {
    Ranker::from_safetensors(
        config.clone(),
        tokenizer.clone(),
        safetensors,
        &crate::device::cpu(),
        dtype,
    )
}

/// The models and files the targets need, read once.
pub struct Fixtures {
    config: PairRmConfig,
    config_json: String,
    backbone_json: String,
    added_tokens_json: String,
    tokenizer: PairRmTokenizer,
    json_tokenizer: PairRmTokenizer,
    ranker: Ranker,
}

impl Fixtures {
    /// From the repository's `tests/fixtures`: the tiny ranker (a ranker
    /// config with a backbone folder, spm.model) and tiny-hf's tokenizer.json.
    pub fn load(fixtures: &Path) -> Result<Self> {
        let dir = fixtures.join("tiny-ranker");
        let files = read_model_dir(&dir, TokenizerPreference::Spm)?;
        let config = resolve_config(&files.config_json, files.backbone_config_json.as_deref())?;
        let TokenizerFiles::Spm {
            added_tokens_json, ..
        } = &files.tokenizer
        else {
            unreachable!("the spm route was asked for")
        };
        let added_tokens_json = added_tokens_json.clone();
        let tokenizer = files.tokenizer.load()?;
        let json_tokenizer = crate::files::read_tokenizer_files(
            &fixtures.join("tiny-hf"),
            TokenizerPreference::Json,
        )?
        .load()?;
        let ranker = cpu_ranker(&config, &tokenizer, files.safetensors, None)?;
        let config_json = files.config_json;
        let backbone_json = files.backbone_config_json.unwrap_or_default();
        Ok(Self {
            config,
            config_json,
            backbone_json,
            added_tokens_json,
            tokenizer,
            json_tokenizer,
            ranker,
        })
    }

    fn load_and_rank(&self, safetensors: &[u8], dtype: Option<WeightDtype>) {
        let Ok(ranker) = cpu_ranker(&self.config, &self.tokenizer, safetensors.to_vec(), dtype)
        else {
            return;
        };
        let candidates = ["Paris.".to_string(), "Lyon, I think.".to_string()];
        let _ = block_on(ranker.rank("Capital of France?", "", &candidates));
    }

    /// One request line, as the CLI answers it; requests with more than four
    /// candidates are only parsed (each one is a forward pass per pair).
    fn answer(&self, kind: u8, line: &str) -> Result<()> {
        let r = &self.ranker;
        let few = |c: &[String]| c.len() <= 4;
        match kind % 6 {
            0 => {
                let q: TokenizeRequest = from_json(line)?;
                self.tokenizer.tokenize(&q.text)?;
            }
            1 => {
                let q: RankRequest = from_json(line)?;
                if few(&q.candidates) {
                    block_on(r.rank(&q.instruction, &q.input, &q.candidates))?;
                }
            }
            2 => {
                let q: CompareRequest = from_json(line)?;
                let mode = q.mode.unwrap_or(CompareMode::Both);
                block_on(r.compare(&q.instruction, &q.input, &q.a, &q.b, mode))?;
            }
            3 => {
                let q: ConversationRequest = from_json(line)?;
                block_on(r.compare_conversations(&q.a, &q.b))?;
            }
            4 => {
                let q: RankWithRefRequest = from_json(line)?;
                if few(&q.candidates) {
                    block_on(r.rank_with_ref(
                        &q.instruction,
                        &q.input,
                        &q.candidates,
                        q.reference,
                    ))?;
                }
            }
            _ => {
                let q: BestOfNRequest = from_json(line)?;
                let strategy = q.strategy()?;
                if few(&q.candidates) {
                    block_on(r.best_of_n(&q.instruction, &q.input, &q.candidates, strategy))?;
                }
            }
        }
        Ok(())
    }
}
