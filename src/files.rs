//! A model's files: which ones, how big they may be, and the sources
//! [`crate::load`] reads them from: a folder ([`DirSource`]) or memory
//! ([`MemorySource`]). The browser fetches them in the wasm crate's loader.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::config::{parse_model_config, BackboneConfig, ConfigSource};
use crate::error::{Error, Result};
use crate::load::ModelSource;
use crate::tokenize::PairRmTokenizer;
use crate::weights::{header_len, plan_from_header, WeightsPlan};

/// The weights file of a model.
pub const WEIGHTS_FILE: &str = "model.safetensors";

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenizerPreference {
    /// `tokenizer.json` when present, else `spm.model` + `added_tokens.json`.
    #[default]
    Auto,
    /// `spm.model` + `added_tokens.json` when present, else `tokenizer.json`:
    /// the smaller download (2.5 MB against 8.7 MB), for the browser.
    SpmFirst,
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
        TokenizerPreference::SpmFirst => !dir.join("spm.model").is_file(),
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
        safetensors: read_file(&dir.join(WEIGHTS_FILE))?,
    })
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        what: path.display().to_string(),
        cause: e.to_string(),
    }
}

/// A model folder on disk, read as the loading pipeline asks: small files
/// whole, the weights by byte range, so the whole weights file is never in
/// memory at once.
pub struct DirSource {
    dir: PathBuf,
    weights: Option<std::fs::File>,
}

impl DirSource {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            weights: None,
        }
    }
}

impl ModelSource for DirSource {
    fn locate(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    async fn file(&mut self, name: &str) -> Result<Vec<u8>> {
        // The system's own reason when it is missing or unreadable.
        read_small(&self.dir.join(name))
    }

    async fn optional_file(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.dir.join(name);
        path.is_file().then(|| read_small(&path)).transpose()
    }

    async fn weights_plan(&mut self, backbone: &BackboneConfig) -> Result<WeightsPlan> {
        let path = self.dir.join(WEIGHTS_FILE);
        let mut file = std::fs::File::open(&path).map_err(io_error(&path))?;
        let len = file.metadata().map_err(io_error(&path))?.len();
        let mut header = Vec::new();
        (&mut file)
            .take(8)
            .read_to_end(&mut header)
            .map_err(io_error(&path))?;
        let n = header_len(&header)?;
        (&mut file)
            .take(n as u64)
            .read_to_end(&mut header)
            .map_err(io_error(&path))?;
        let plan = plan_from_header(&header, backbone)?;
        plan.check_file_len(len)?;
        self.weights = Some(file);
        Ok(plan)
    }

    async fn read(&mut self, start: u64, end: u64) -> Result<Vec<u8>> {
        let Some(file) = self.weights.as_mut() else {
            return Err(Error::Io {
                what: self.locate(WEIGHTS_FILE),
                cause: "read before its header".into(),
            });
        };
        let mut bytes = vec![0; (end - start) as usize];
        match file
            .seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut bytes))
        {
            Ok(()) => Ok(bytes),
            Err(e) => Err(io_error(&self.dir.join(WEIGHTS_FILE))(e)),
        }
    }
}

/// A model's files already in memory: [`ModelFiles`], or weights alone for a
/// config and tokenizer loaded before ([`crate::load::build_ranker`]).
pub struct MemorySource {
    config_json: Option<String>,
    backbone_config_json: Option<String>,
    tokenizer: Option<TokenizerFiles>,
    safetensors: Vec<u8>,
}

impl MemorySource {
    pub fn new(files: ModelFiles) -> Self {
        Self {
            config_json: Some(files.config_json),
            backbone_config_json: files.backbone_config_json,
            tokenizer: Some(files.tokenizer),
            safetensors: files.safetensors,
        }
    }

    /// Only `model.safetensors`.
    pub fn weights(safetensors: Vec<u8>) -> Self {
        Self {
            config_json: None,
            backbone_config_json: None,
            tokenizer: None,
            safetensors,
        }
    }
}

impl ModelSource for MemorySource {
    fn locate(&self, name: &str) -> String {
        name.to_string()
    }

    /// By name; any `<folder>/config.json` is the backbone's (a [`ModelFiles`]
    /// holds at most one).
    async fn optional_file(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let text = |t: &Option<String>| t.as_ref().map(|t| t.as_bytes().to_vec());
        Ok(match (name, &self.tokenizer) {
            ("config.json", _) => text(&self.config_json),
            (n, _) if n.ends_with("/config.json") => text(&self.backbone_config_json),
            ("tokenizer.json", Some(TokenizerFiles::Json(json))) => Some(json.as_bytes().to_vec()),
            ("spm.model", Some(TokenizerFiles::Spm { spm_model, .. })) => Some(spm_model.clone()),
            (
                "added_tokens.json",
                Some(TokenizerFiles::Spm {
                    added_tokens_json, ..
                }),
            ) => Some(added_tokens_json.as_bytes().to_vec()),
            _ => None,
        })
    }

    async fn weights_plan(&mut self, backbone: &BackboneConfig) -> Result<WeightsPlan> {
        let plan = plan_from_header(&self.safetensors, backbone)?;
        plan.check_file_len(self.safetensors.len() as u64)?;
        Ok(plan)
    }

    async fn read(&mut self, start: u64, end: u64) -> Result<Vec<u8>> {
        // Within the length the plan was checked against; a range beyond it
        // is an error, not a panic.
        self.safetensors
            .get(start as usize..end as usize)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| Error::weights(format!("model.safetensors has no bytes {start}..{end}")))
    }
}
