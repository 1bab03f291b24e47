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

use crate::error::{Error, Result, TokenizerError};
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
#[derive(Clone)]
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
            .map_err(|e| Error::tokenizer(format!("added_tokens.json: {e}")))?;
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
            let bad = |e: String| Error::tokenizer(format!("spm.model precompiled_charsmap: {e}"));
            crate::charsmap::check(&model.precompiled_charsmap).map_err(bad)?;
            let pre =
                Precompiled::from(&model.precompiled_charsmap).map_err(|e| bad(e.to_string()))?;
            normalizers.push(pre.into());
        }
        normalizers.push(collapse_spaces()?.into());
        let normalizer = Sequence::new(normalizers).into();
        let pre_tokenizer = Metaspace::new('\u{2581}', PrependScheme::Always, true).into();
        Self::assemble(vocab, model.unk_id, normalizer, pre_tokenizer, &added)
    }

    /// Build from a `tokenizer.json` (the `tokenizers` serialization) text.
    pub fn from_tokenizer_json(json: &str) -> Result<Self> {
        let err = |m: String| Error::tokenizer(format!("tokenizer.json: {m}"));
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
        crate::charsmap::check_normalizer_json(&v["normalizer"])
            .map_err(|e| err(format!("normalizer: {e}")))?;
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
        let err = |m: String| Error::tokenizer(m);
        let piece_id = |name: &str| -> Option<u32> {
            vocab
                .iter()
                .position(|(p, _, _)| p == name)
                .map(|i| i as u32)
                .or_else(|| added.get(name).copied())
        };
        let need = |name: &str| {
            piece_id(name).ok_or_else(|| {
                Error::Tokenizer(TokenizerError::MissingToken {
                    token: name.to_string(),
                })
            })
        };
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
        Ok(self.encoding(text)?.get_ids().to_vec())
    }

    /// The tokenizer's whole answer for `text` (ids and word indices).
    fn encoding(&self, text: &str) -> Result<tokenizers::Encoding> {
        self.inner
            .encode(text, false)
            .map_err(|e| Error::tokenizer(format!("encoding failed: {e}")))
    }

    /// The first `limit` piece ids of `text` (all of them when it has fewer),
    /// identical to the start of [`Self::encode`]`(text)`, tokenizing only as
    /// much of the text as they take: memory and time stay bounded however
    /// long the text is.
    ///
    /// Why the ids are identical: the normalizer works character by
    /// character (the charsmap per grapheme; strip and space collapsing only
    /// change whitespace), and the Metaspace pre-tokenizer splits the result
    /// at spaces into words that Unigram segments each on its own. Cut before
    /// a whitespace character, a prefix normalizes to the same words as the
    /// whole text up to its last word, which alone may differ (it may go on
    /// past the cut); so the ids of every word but the last are the whole
    /// text's. A run with no whitespace (CJK, one repeated letter, base64) is
    /// one word, segmented by a Viterbi search over all of it: in principle
    /// its first pieces could depend on where it ends (among equally scored
    /// segmentations). There the ids are taken when two cuts, one twice as
    /// far as the other, agree on them with [`RUN_MARGIN`] more pieces to
    /// spare; otherwise the cut moves further, up to the whole text or
    /// [`MAX_CUT_BYTES`], whose ids are then taken (never seen on a real
    /// text: it needs a run of over a megabyte whose start is segmented
    /// differently at each cut).
    ///
    /// Texts up to [`WHOLE_TEXT_BYTES`] are tokenized whole; longer ones are
    /// read no further than [`READ_BYTES`] (callers may cut them there with
    /// [`text_head`] before copying). The result has at most `limit` ids.
    pub fn encode_prefix(&self, text: &str, limit: usize) -> Result<Vec<u32>> {
        let first_cut = MIN_CUT_BYTES.max(limit.saturating_mul(8));
        self.prefix_ids(text, limit, WHOLE_TEXT_BYTES, first_cut)
    }

    /// [`Self::encode_prefix`] with its sizes as parameters (tests make the
    /// cuts land among the kept ids).
    fn prefix_ids(
        &self,
        text: &str,
        limit: usize,
        whole: usize,
        first_cut: usize,
    ) -> Result<Vec<u32>> {
        let mut cut = first_cut.max(1);
        let mut previous: Option<Vec<u32>> = None;
        loop {
            let end = if text.len() <= whole {
                text.len()
            } else {
                cut_before_whitespace(text, cut.min(MAX_CUT_BYTES))
            };
            if end >= text.len() {
                let mut ids = self.encode(text)?;
                ids.truncate(limit);
                return Ok(ids);
            }
            let (mut ids, settled) = self.settled_ids(&text[..end])?;
            let agreed = previous.as_ref().is_some_and(|before| {
                before.len() >= limit + RUN_MARGIN
                    && ids.len() >= limit + RUN_MARGIN
                    && before[..limit] == ids[..limit]
            });
            // At MAX_CUT_BYTES, runs that still disagree: the one approximation.
            if settled >= limit || agreed || cut >= MAX_CUT_BYTES {
                ids.truncate(limit);
                return Ok(ids);
            }
            previous = Some(ids);
            cut = end.saturating_mul(2);
        }
    }

    /// For the fuzz target: panics unless [`Self::prefix_ids`] with these
    /// (small) sizes gives the start of the whole text's ids.
    pub(crate) fn check_prefix_ids(
        &self,
        text: &str,
        limit: usize,
        whole: usize,
        first_cut: usize,
    ) {
        let (Ok(got), Ok(mut want)) = (
            self.prefix_ids(text, limit, whole, first_cut),
            self.encode(text),
        ) else {
            return;
        };
        want.truncate(limit);
        assert_eq!(
            got, want,
            "prefix ids differ for {text:?} (limit {limit}, whole {whole}, first cut {first_cut})"
        );
    }

    /// The ids of `prefix`, a start of some longer text, and how many of
    /// them that text surely begins with: those of every word but the last
    /// (see [`Self::encode_prefix`]).
    fn settled_ids(&self, prefix: &str) -> Result<(Vec<u32>, usize)> {
        let enc = self.encoding(prefix)?;
        let words = enc.get_word_ids();
        let last = words.last().copied().flatten();
        let settled = words.iter().take_while(|&&w| w != last).count();
        Ok((enc.get_ids().to_vec(), settled))
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

/// Texts up to this size are tokenized whole by [`PairRmTokenizer::encode_prefix`]
/// (about 10 MB of tokenizer memory at most).
pub const WHOLE_TEXT_BYTES: usize = 64 << 10;

/// The furthest [`PairRmTokenizer::encode_prefix`] cuts a text.
pub const MAX_CUT_BYTES: usize = 1 << 20;

/// The most of any text [`PairRmTokenizer::encode_prefix`] reads.
pub const READ_BYTES: usize = MAX_CUT_BYTES + WHITESPACE_WINDOW + 16;

/// The start of `text` that [`PairRmTokenizer::encode_prefix`] can read (at
/// most [`READ_BYTES`], cut at a character boundary): what to copy of a
/// long text before cleaning or joining it.
pub fn text_head(text: &str) -> &str {
    if text.len() <= READ_BYTES {
        return text;
    }
    let end = (0..=READ_BYTES)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[..end]
}

/// Where [`PairRmTokenizer::encode_prefix`] first cuts a longer text.
const MIN_CUT_BYTES: usize = 16 << 10;

/// Pieces past the kept ones that two cuts of a run without whitespace must
/// both have before their agreement is trusted.
pub const RUN_MARGIN: usize = 256;

/// How far past `at` a cut looks for whitespace before cutting inside a run.
const WHITESPACE_WINDOW: usize = 4 << 10;

/// A byte offset at or after `at` where `text` may be cut: just before an
/// ASCII whitespace character (always a grapheme boundary, except the `\n`
/// of `\r\n`) when one lies within [`WHITESPACE_WINDOW`], else the next
/// character boundary (inside a run). `text.len()` when `at` is past the end.
fn cut_before_whitespace(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    let bytes = text.as_bytes();
    let window = (at + WHITESPACE_WINDOW).min(bytes.len());
    let found = (at..window).find(|&i| {
        matches!(bytes[i], b' ' | b'\t' | b'\n')
            && !(bytes[i] == b'\n' && i > 0 && bytes[i - 1] == b'\r')
    });
    match found {
        Some(i) => i,
        None => (at..=bytes.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(bytes.len()),
    }
}

/// Runs of two or more spaces become one (DeBERTa-v2's converter does this after the charsmap).
fn collapse_spaces() -> Result<Replace> {
    Replace::new(
        tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()),
        " ",
    )
    .map_err(|e| Error::tokenizer(format!("normalizer regex: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizers() -> Vec<(&'static str, PairRmTokenizer)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-hf/");
        let read = |f: &str| std::fs::read(format!("{dir}{f}")).unwrap();
        let json = String::from_utf8(read("tokenizer.json")).unwrap();
        let added = String::from_utf8(read("added_tokens.json")).unwrap();
        vec![
            (
                "tokenizer.json",
                PairRmTokenizer::from_tokenizer_json(&json).unwrap(),
            ),
            (
                "spm.model",
                PairRmTokenizer::from_spm(&read("spm.model"), &added).unwrap(),
            ),
        ]
    }

    /// A marker the input layout needs, missing from `added_tokens.json`:
    /// the error names it as data, not only in its message.
    #[test]
    fn a_missing_marker_is_named() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-hf/");
        let spm = std::fs::read(format!("{dir}spm.model")).unwrap();
        let added: HashMap<String, u32> = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}added_tokens.json")).unwrap(),
        )
        .unwrap();
        assert!(added.contains_key(CANDIDATE2_MARKER));
        let without: HashMap<&String, &u32> = added
            .iter()
            .filter(|(k, _)| *k != CANDIDATE2_MARKER)
            .collect();
        let err = PairRmTokenizer::from_spm(&spm, &serde_json::to_string(&without).unwrap())
            .err()
            .expect("the marker is missing");
        let want = TokenizerError::MissingToken {
            token: CANDIDATE2_MARKER.to_string(),
        };
        assert!(matches!(&err, Error::Tokenizer(e) if *e == want), "{err}");
        assert_eq!(
            err.to_string(),
            format!("tokenizer: no id for {CANDIDATE2_MARKER}")
        );
    }

    /// Text of about `bytes` bytes made by repeating `unit`.
    fn repeat(unit: &str, bytes: usize) -> String {
        unit.repeat(bytes / unit.len() + 1)
    }

    /// Long texts of every kind the issue names, and texts just under and
    /// over each size where `encode_prefix` changes course.
    fn long_texts() -> Vec<(String, String)> {
        let english = "The quick brown fox, having jumped over the lazy dog twice, \
                       asked whether 3.14 is pi or merely close to it. ";
        let mut texts = vec![
            ("english", repeat(english, 300_000)),
            (
                "cjk without spaces",
                repeat("自然言語処理は楽しい。我们今天去公园散步吧！", 300_000),
            ),
            ("one letter", "a".repeat(300_000)),
            ("emoji", repeat("😀👍🏽🇫🇷👨‍👩‍👧", 300_000)),
            (
                "long words",
                repeat(&format!("{} ", "abcdefghij".repeat(700)), 300_000),
            ),
            (
                "words then a run",
                format!("{}{}", repeat(english, 2_000), "x".repeat(200_000)),
            ),
            ("spaces and newlines", repeat("a  b\r\n\t c\n\n", 300_000)),
            (
                "[SEP] and markers",
                repeat("x[SEP]y <|source|> [CLS]z ", 200_000),
            ),
            (
                "combining marks",
                repeat("e\u{301}a\u{308}\u{3000}ﬁ ", 200_000),
            ),
        ];
        for size in [
            WHOLE_TEXT_BYTES - 1,
            WHOLE_TEXT_BYTES,
            WHOLE_TEXT_BYTES + 1,
            MIN_CUT_BYTES + 3,
        ] {
            let mut t = repeat(english, size);
            t.truncate(size);
            texts.push(("english at a size edge", t));
        }
        texts.into_iter().map(|(n, t)| (n.to_string(), t)).collect()
    }

    #[test]
    fn prefixes_of_long_texts_equal_the_whole_texts_ids() {
        for (route, tok) in tokenizers() {
            for (name, text) in long_texts() {
                let whole = tok.encode(&text).unwrap();
                for (limit, first_cut) in [
                    (0, 0),
                    (1, 0),
                    (2048, 0),
                    (5000, 0),
                    // Cuts that land among the kept ids: the last word of
                    // each, and a run's end, must not leak into the result.
                    (40, 16),
                    (300, 100),
                    (1221, 1000),
                    (3000, 3000),
                ] {
                    let got = if first_cut == 0 {
                        tok.encode_prefix(&text, limit).unwrap()
                    } else {
                        tok.prefix_ids(&text, limit, 0, first_cut).unwrap()
                    };
                    let want = &whole[..limit.min(whole.len())];
                    assert!(
                        got == want,
                        "{route}, {name} ({} bytes), limit {limit}: {} ids, first difference at {:?}",
                        text.len(),
                        got.len(),
                        got.iter().zip(want).position(|(a, b)| a != b)
                    );
                }
            }
        }
    }

    /// The lemma `encode_prefix` rests on: cut anywhere, a text's start
    /// tokenizes to the whole text's ids up to its last word.
    #[test]
    fn every_word_but_the_last_of_a_cut_text_is_the_whole_texts() {
        let texts = [
            "The quick brown fox, having jumped over the lazy dog twice, asked whether 3.14 is pi. ",
            "a  b\r\n\t c\n\nx[SEP]y <|source|> [CLS]z e\u{301}a\u{308}\u{3000}ﬁ 😀👍🏽 🇫🇷👨‍👩‍👧 ",
            "自然言語処理は楽しい。 我们今天去公园散步吧！ abcdefghijabcdefghij ",
        ];
        for (route, tok) in tokenizers() {
            for unit in texts {
                let text = unit.repeat(6);
                let whole = tok.encode(&text).unwrap();
                let mut checked = 0;
                for cut in (0..=text.len()).filter(|&c| text.is_char_boundary(c)) {
                    let (ids, settled) = tok.settled_ids(&text[..cut]).unwrap();
                    assert_eq!(
                        ids[..settled],
                        whole[..settled],
                        "{route}: {:?} cut at {cut}",
                        &text[..cut]
                    );
                    checked += settled;
                }
                assert!(checked > 0, "{route}: no cut kept anything");
            }
        }
    }

    /// A 100 MB text costs what its first few kilobytes cost.
    #[test]
    fn a_huge_text_is_tokenized_only_as_far_as_needed() {
        let (_, tok) = tokenizers().remove(0);
        for text in [
            repeat("lorem ipsum dolor sit amet ", 100 << 20),
            "a".repeat(100 << 20),
        ] {
            let started = std::time::Instant::now();
            let ids = tok.encode_prefix(text_head(&text), 2048).unwrap();
            assert_eq!(ids.len(), 2048);
            assert!(
                started.elapsed().as_secs_f64() < 2.0,
                "took {:?}",
                started.elapsed()
            );
        }
        assert_eq!(
            text_head(&"é".repeat(READ_BYTES)).len() % 2,
            0,
            "a char boundary"
        );
    }
}
