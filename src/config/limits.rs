//! Bounds on the sizes a `config.json` may set, kept as data and checked
//! before anything is allocated or downloaded.

use crate::error::{ConfigError, Error, Result};

/// Bounds on every size a config sets, checked before anything is allocated or
/// downloaded: far above any DeBERTa-v3 (large: 1024 hidden, 24 layers, 16
/// heads, 4096 intermediate, 512 positions, 256 buckets; PairRM's max lengths
/// 1224 + 2 · 412), low enough that a few bytes of hostile `config.json` cannot
/// make a tab or the CLI allocate without bound.
pub const LIMITS: &[(&str, usize, usize)] = &[
    ("hidden_size", 1, 8192),
    ("num_hidden_layers", 1, 96),
    ("num_attention_heads", 1, 128),
    ("intermediate_size", 1, 65_536),
    ("max_position_embeddings", 1, 65_536),
    ("position_buckets", 0, 65_536),
    ("max_relative_positions", 1, 65_536),
    ("vocab_size", 1, 1_000_000),
    ("source_maxlength", 4, 8192),
    ("candidate_maxlength", 1, 8192),
    ("n_tasks", 1, 64),
];

/// Longest assembled pair (source + two candidates) a config may ask for: one
/// head's attention scores for it (`L²` floats) stay within a GPU buffer.
pub const MAX_PAIR_TOKENS: usize = 8192;

/// Most encoder parameters (embeddings aside) a config may describe: 1e9, four
/// GB in f32, the most a browser tab can hold (deberta-v3-large has 0.3e9).
pub const MAX_ENCODER_PARAMETERS: usize = 1_000_000_000;

/// `value` of `field` within its [`LIMITS`] entry.
pub fn check_limit(field: &str, value: usize) -> Result<usize> {
    let &(_, min, max) = LIMITS
        .iter()
        .find(|(name, _, _)| *name == field)
        .expect("every checked field has a limit");
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Error::Config(ConfigError::OutOfRange {
            field: field.to_string(),
            value: value as u64,
            min: min as u64,
            max: max as u64,
        }))
    }
}
