//! The DeBERTa-v3 tokenizer as transformers 4.x's `DebertaV2TokenizerFast`
//! builds it (spec section 2), from `tokenizer.json` or from `spm.model` +
//! `added_tokens.json`.
//!
//! The pipeline deliberately has **no added-token matching**: markers and
//! special tokens are inserted by id in [`crate::segments`], and user text is
//! always tokenized as text ([`PairRmTokenizer::encode`]).
//! [`PairRmTokenizer::tokenize`] mirrors the reference's `tokenizer(text)` for
//! inspection, including its matching of `[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`
//! and `[MASK]`, but still never yields a marker id. The reference matches a literal `<|source|>` (or
//! `[CLS]`, or an NFKC look-alike) typed by a user as the control token, which
//! breaks its pooling; here it becomes ordinary pieces. To make that airtight,
//! the vocabulary entries of special pieces are renamed so that no normalized
//! text can ever match them (see [`unmatchable`]).

use std::collections::HashMap;

use serde_json::Value;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{Precompiled, Replace, Sequence, Strip};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::{NormalizerWrapper, PreTokenizerWrapper, Tokenizer};

use crate::error::{Error, Result};
use crate::spm;

/// Marker strings PairRM puts before each segment.
pub const SOURCE_MARKER: &str = "<|source|>";
pub const CANDIDATE1_MARKER: &str = "<|candidate1|>";
pub const CANDIDATE2_MARKER: &str = "<|candidate2|>";
pub const CANDIDATE_MARKER: &str = "<|candidate|>";

/// Ids the model relies on, resolved from the tokenizer files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    pub cls: u32,
    pub sep: u32,
    pub pad: u32,
    pub source: u32,
    pub candidate1: u32,
    pub candidate2: u32,
}

/// Text → piece ids, plus the special ids needed to assemble a PairRM input.
pub struct PairRmTokenizer {
    inner: Tokenizer,
    pub special: SpecialIds,
    /// Size of the model vocabulary plus added tokens (ids are below this).
    pub vocab_len: usize,
    /// `[CLS]`, `[SEP]`, … with their ids, as the reference tokenizer matches them in raw text.
    special_tokens: Vec<(String, u32)>,
}

/// A piece string that no pre-token can contain: Metaspace splits on `▁`
/// and keeps it only at the start of each pre-token, so a trailing `▁` after
/// other characters never matches.
fn unmatchable(piece: &str) -> String {
    format!("{piece}\u{2581}\u{2581}<reserved>\u{2581}")
}

const SPECIAL_PIECES: [&str; 5] = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"];

impl PairRmTokenizer {
    /// Build from `spm.model` bytes and `added_tokens.json` text (the layout of
    /// both published repos); the same pipeline HF's converter builds.
    pub fn from_spm(spm_bytes: &[u8], added_tokens_json: &str) -> Result<Self> {
        let model = spm::parse(spm_bytes)?;
        let added: HashMap<String, u32> = serde_json::from_str(added_tokens_json)
            .map_err(|e| Error::Tokenizer(format!("added_tokens.json: {e}")))?;
        let vocab: Vec<(String, f64, bool)> = model
            .pieces
            .iter()
            .map(|p| {
                let reserved = p.kind == spm::PIECE_CONTROL
                    || p.kind == spm::PIECE_UNKNOWN
                    || SPECIAL_PIECES.contains(&p.text.as_str());
                (p.text.clone(), f64::from(p.score), reserved)
            })
            .collect();
        let mut normalizers: Vec<NormalizerWrapper> = vec![Strip::new(true, true).into()];
        if !model.precompiled_charsmap.is_empty() {
            let pre = Precompiled::from(&model.precompiled_charsmap)
                .map_err(|e| Error::Tokenizer(format!("spm.model precompiled_charsmap: {e}")))?;
            normalizers.push(pre.into());
        }
        normalizers.push(collapse_spaces()?.into());
        let normalizer = Sequence::new(normalizers).into();
        let pre_tokenizer = Metaspace::new('\u{2581}', PrependScheme::Always, true).into();
        Self::assemble(vocab, model.unk_id, normalizer, pre_tokenizer, &added)
    }

    /// Build from a `tokenizer.json` (the `tokenizers` serialization) text.
    pub fn from_tokenizer_json(json: &str) -> Result<Self> {
        let err = |m: String| Error::Tokenizer(format!("tokenizer.json: {m}"));
        let v: Value = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
        let model = &v["model"];
        if model["type"].as_str() != Some("Unigram") {
            return Err(err(format!(
                "expected a Unigram model, found {}",
                model["type"]
            )));
        }
        let vocab_json = model["vocab"]
            .as_array()
            .ok_or_else(|| err("model.vocab missing".into()))?;
        let added: HashMap<String, u32> = v["added_tokens"]
            .as_array()
            .map(|tokens| {
                tokens
                    .iter()
                    .filter_map(|t| {
                        Some((t["content"].as_str()?.to_string(), t["id"].as_u64()? as u32))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut vocab = Vec::with_capacity(vocab_json.len());
        for entry in vocab_json {
            let piece = entry[0]
                .as_str()
                .ok_or_else(|| err("vocab entry is not [piece, score]".into()))?;
            let score = entry[1]
                .as_f64()
                .ok_or_else(|| err("vocab entry is not [piece, score]".into()))?;
            vocab.push((piece.to_string(), score, SPECIAL_PIECES.contains(&piece)));
        }
        let unk_id = model["unk_id"]
            .as_u64()
            .ok_or_else(|| err("model.unk_id missing".into()))? as usize;
        let normalizer: NormalizerWrapper = serde_json::from_value(v["normalizer"].clone())
            .map_err(|e| err(format!("normalizer: {e}")))?;
        let pre_tokenizer: PreTokenizerWrapper = serde_json::from_value(v["pre_tokenizer"].clone())
            .map_err(|e| err(format!("pre_tokenizer: {e}")))?;
        Self::assemble(vocab, unk_id, normalizer, pre_tokenizer, &added)
    }

    fn assemble(
        vocab: Vec<(String, f64, bool)>,
        unk_id: usize,
        normalizer: NormalizerWrapper,
        pre_tokenizer: PreTokenizerWrapper,
        added: &HashMap<String, u32>,
    ) -> Result<Self> {
        let err = |m: String| Error::Tokenizer(m);
        let piece_id = |name: &str| -> Option<u32> {
            vocab
                .iter()
                .position(|(p, _, _)| p == name)
                .map(|i| i as u32)
                .or_else(|| added.get(name).copied())
        };
        let need = |name: &str| piece_id(name).ok_or_else(|| err(format!("no id for {name}")));
        let special = SpecialIds {
            cls: need("[CLS]")?,
            sep: need("[SEP]")?,
            pad: need("[PAD]")?,
            source: need(SOURCE_MARKER)?,
            candidate1: need(CANDIDATE1_MARKER)?,
            candidate2: need(CANDIDATE2_MARKER)?,
        };
        let special_tokens = SPECIAL_PIECES
            .iter()
            .filter_map(|p| Some((p.to_string(), piece_id(p)?)))
            .collect();
        let vocab_len = vocab
            .len()
            .max(added.values().map(|&i| i as usize + 1).max().unwrap_or(0));
        let pieces: Vec<(String, f64)> = vocab
            .into_iter()
            .map(|(p, s, reserved)| {
                if reserved {
                    (unmatchable(&p), s)
                } else {
                    (p, s)
                }
            })
            .collect();
        let unigram = Unigram::from(pieces, Some(unk_id), false)
            .map_err(|e| err(format!("vocabulary: {e}")))?;
        let mut inner = Tokenizer::new(unigram);
        inner.with_normalizer(Some(normalizer));
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        Ok(Self {
            inner,
            special,
            vocab_len,
            special_tokens,
        })
    }

    /// Piece ids of `text`, no special tokens. Never yields a special or marker id.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(format!("encoding failed: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// `[CLS] text [SEP]`, as the reference tokenizer's `input_ids` for a text:
    /// literal special tokens (`[SEP]`, …) in `text` become their ids, as there.
    /// Marker strings stay text. The model path uses [`Self::encode`] instead.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = vec![self.special.cls];
        let mut rest = text;
        while let Some((at, token, id)) = self
            .special_tokens
            .iter()
            .filter_map(|(t, id)| rest.find(t.as_str()).map(|at| (at, t, *id)))
            .min_by_key(|(at, _, _)| *at)
        {
            ids.extend(self.encode(&rest[..at])?);
            ids.push(id);
            rest = &rest[at + token.len()..];
        }
        ids.extend(self.encode(rest)?);
        ids.push(self.special.sep);
        Ok(ids)
    }
}

/// Runs of two or more spaces become one (DeBERTa-v2's converter does this after the charsmap).
fn collapse_spaces() -> Result<Replace> {
    Replace::new(
        tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()),
        " ",
    )
    .map_err(|e| Error::Tokenizer(format!("normalizer regex: {e}")))
}
