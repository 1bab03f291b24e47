//! A model's files: which ones, how big they may be, and reading them from a
//! folder (natively; the browser fetches them in the wasm crate's loader).

use crate::config::{parse_model_config, ConfigSource};
use crate::error::{Error, Result};
use crate::tokenize::PairRmTokenizer;

/// Most bytes each small file of a model may have: the published ones are far
/// smaller (config.json < 1 KB, spm.model 2.5 MB, tokenizer.json 8.7 MB); a
/// larger one is refused before it is read whole.
pub const SMALL_FILE_LIMITS: &[(&str, usize)] = &[
    ("config.json", 1 << 20),
    ("added_tokens.json", 1 << 20),
    ("spm.model", 32 << 20),
    ("tokenizer.json", 64 << 20),
];

/// The size limit of a small file named `name` (by its last path segment).
pub fn small_file_limit(name: &str) -> usize {
    let base = name.rsplit('/').next().unwrap_or(name);
    SMALL_FILE_LIMITS
        .iter()
        .find(|(n, _)| *n == base)
        .map(|(_, max)| *max)
        .unwrap_or(1 << 20)
}

/// The error for a file over its limit.
pub fn too_large(what: &str, size: u64, limit: usize) -> Error {
    Error::Io {
        what: what.to_string(),
        cause: format!("{size} bytes is more than the {limit} bytes this file may have"),
    }
}

/// The tokenizer files of a model dir.
pub enum TokenizerFiles {
    /// `tokenizer.json` (the `tokenizers` serialization).
    Json(String),
    /// `spm.model` bytes and `added_tokens.json` text.
    Spm {
        spm_model: Vec<u8>,
        added_tokens_json: String,
    },
}

impl TokenizerFiles {
    pub fn load(&self) -> Result<PairRmTokenizer> {
        match self {
            TokenizerFiles::Json(json) => PairRmTokenizer::from_tokenizer_json(json),
            TokenizerFiles::Spm {
                spm_model,
                added_tokens_json,
            } => PairRmTokenizer::from_spm(spm_model, added_tokens_json),
        }
    }
}

/// Every file a model needs, already in memory (wasm has no file system).
pub struct ModelFiles {
    pub config_json: String,
    /// The backbone folder's `config.json`, when the ranker config names a folder.
    pub backbone_config_json: Option<String>,
    pub tokenizer: TokenizerFiles,
    pub safetensors: Vec<u8>,
}

/// Which tokenizer files to read from a model dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerPreference {
    /// `tokenizer.json` when present, else `spm.model` + `added_tokens.json`.
    Auto,
    Json,
    Spm,
}

fn read_file(p: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| Error::Io {
        what: p.display().to_string(),
        cause: e.to_string(),
    })
}

/// A small file, refused before reading when it is over its limit.
fn read_small(p: &std::path::Path) -> Result<Vec<u8>> {
    let what = p.display().to_string();
    let limit = small_file_limit(&what);
    let size = std::fs::metadata(p)
        .map_err(|e| Error::Io {
            what: what.clone(),
            cause: e.to_string(),
        })?
        .len();
    if size > limit as u64 {
        return Err(too_large(&what, size, limit));
    }
    read_file(p)
}

fn read_text(p: &std::path::Path) -> Result<String> {
    String::from_utf8(read_small(p)?).map_err(|_| Error::Io {
        what: p.display().to_string(),
        cause: "not UTF-8".into(),
    })
}

/// Read the tokenizer files of a model dir.
pub fn read_tokenizer_files(
    dir: &std::path::Path,
    pref: TokenizerPreference,
) -> Result<TokenizerFiles> {
    let use_json = match pref {
        TokenizerPreference::Json => true,
        TokenizerPreference::Spm => false,
        TokenizerPreference::Auto => dir.join("tokenizer.json").is_file(),
    };
    Ok(if use_json {
        TokenizerFiles::Json(read_text(&dir.join("tokenizer.json"))?)
    } else {
        TokenizerFiles::Spm {
            spm_model: read_small(&dir.join("spm.model"))?,
            added_tokens_json: read_text(&dir.join("added_tokens.json"))?,
        }
    })
}

/// Read a model dir from disk. A relative `model_name` folder resolves against `dir`.
pub fn read_model_dir(dir: &std::path::Path, pref: TokenizerPreference) -> Result<ModelFiles> {
    let config_json = read_text(&dir.join("config.json"))?;
    let backbone_config_json = match parse_model_config(&config_json)? {
        ConfigSource::Ready(_) => None,
        ConfigSource::NeedsBackbone(p) => {
            Some(read_text(&dir.join(&p.model_name).join("config.json"))?)
        }
    };
    Ok(ModelFiles {
        config_json,
        backbone_config_json,
        tokenizer: read_tokenizer_files(dir, pref)?,
        safetensors: read_file(&dir.join("model.safetensors"))?,
    })
}
