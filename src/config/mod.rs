//! Model configuration: both published `config.json` layouts, resolved into one
//! [`PairRmConfig`].
//!
//! - `llm-blender/PairRM`: a *ranker* config (`ranker_type`, `model_name`, max
//!   lengths). Backbone dims are built in for `microsoft/deberta-v3-large`, or
//!   read from `<model_name>/config.json` when `model_name` is a folder.
//! - `llm-blender/PairRM-hf`: a full DebertaV2 config plus the PairRM fields.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{ConfigError, Error, Result};

/// Name of the published backbone whose dims are built in.
pub const DEBERTA_V3_LARGE: &str = "microsoft/deberta-v3-large";
/// Reference defaults when a config does not set the max lengths.
pub const DEFAULT_SOURCE_MAXLENGTH: usize = 1224;
pub const DEFAULT_CANDIDATE_MAXLENGTH: usize = 412;

mod limits;
pub use limits::{check_limit, LIMITS, MAX_ENCODER_PARAMETERS, MAX_PAIR_TOKENS};

/// The DeBERTa-v3 encoder dims that the forward pass needs, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BackboneConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub layer_norm_eps: f64,
    /// Log-bucket count; `<= 0` in HF means "no buckets" (we keep it as 0).
    pub position_buckets: usize,
    /// Resolved: HF's `-1` means `max_position_embeddings`.
    pub max_relative_positions: usize,
}

impl BackboneConfig {
    /// deberta-v3-large, the backbone of the published PairRM checkpoint.
    pub fn deberta_v3_large() -> Self {
        Self {
            hidden_size: 1024,
            num_hidden_layers: 24,
            num_attention_heads: 16,
            intermediate_size: 4096,
            layer_norm_eps: 1e-7,
            position_buckets: 256,
            max_relative_positions: 512,
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Half-width of the relative-position window: rows of `rel_embeddings`
    /// used are `0 .. 2 * attention_span()`.
    pub fn attention_span(&self) -> usize {
        if self.position_buckets > 0 {
            self.position_buckets
        } else {
            self.max_relative_positions
        }
    }
}

/// Everything PairRM needs: backbone dims plus the ranker's max lengths.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRmConfig {
    pub backbone: BackboneConfig,
    pub source_maxlength: usize,
    pub candidate_maxlength: usize,
    pub n_tasks: usize,
}

/// `pos_att_type` is a string ("p2c|c2p") in some configs and a list in others.
#[derive(Deserialize)]
#[serde(untagged)]
enum PosAttType {
    Joined(String),
    List(Vec<String>),
}

/// The subset of HF's `DebertaV2Config` we read; unknown fields are ignored.
#[derive(Deserialize)]
struct RawDebertaConfig {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_max_pos")]
    max_position_embeddings: usize,
    #[serde(default)]
    relative_attention: bool,
    #[serde(default)]
    position_buckets: i64,
    #[serde(default = "minus_one")]
    max_relative_positions: i64,
    pos_att_type: Option<PosAttType>,
    #[serde(default = "yes")]
    share_att_key: bool,
    #[serde(default)]
    norm_rel_ebd: String,
    #[serde(default = "yes")]
    position_biased_input: bool,
    #[serde(default)]
    type_vocab_size: usize,
    #[serde(default)]
    conv_kernel_size: usize,
    embedding_size: Option<usize>,
    vocab_size: Option<usize>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-7
}
fn default_max_pos() -> usize {
    512
}
fn minus_one() -> i64 {
    -1
}
fn yes() -> bool {
    true
}

impl RawDebertaConfig {
    /// Check the architecture is the DeBERTa-v3 variant we implement, and resolve defaults.
    fn validate(self) -> Result<BackboneConfig> {
        let unsupported = |what: String| Err(Error::Config(ConfigError::Unsupported(what)));
        if self.hidden_act != "gelu" {
            return unsupported(format!("hidden_act {:?} (only \"gelu\")", self.hidden_act));
        }
        if !self.relative_attention {
            return unsupported("relative_attention false".into());
        }
        let mut att: Vec<String> = match self.pos_att_type {
            Some(PosAttType::Joined(s)) => s.split('|').map(|p| p.trim().to_lowercase()).collect(),
            Some(PosAttType::List(v)) => v.into_iter().map(|p| p.trim().to_lowercase()).collect(),
            None => vec![],
        };
        att.sort();
        att.dedup();
        if att != ["c2p", "p2c"] {
            return unsupported(format!("pos_att_type {att:?} (only p2c|c2p)"));
        }
        if !self.share_att_key {
            return unsupported("share_att_key false".into());
        }
        if !self.norm_rel_ebd.contains("layer_norm") {
            return unsupported(format!(
                "norm_rel_ebd {:?} (only layer_norm)",
                self.norm_rel_ebd
            ));
        }
        if self.position_biased_input {
            return unsupported("position_biased_input true".into());
        }
        if self.type_vocab_size > 0 {
            return unsupported(format!("type_vocab_size {}", self.type_vocab_size));
        }
        if self.conv_kernel_size > 0 {
            return unsupported("a convolution layer".into());
        }
        if matches!(self.embedding_size, Some(e) if e != self.hidden_size) {
            return unsupported("embedding_size different from hidden_size".into());
        }
        check_limit("hidden_size", self.hidden_size)?;
        check_limit("num_hidden_layers", self.num_hidden_layers)?;
        check_limit("num_attention_heads", self.num_attention_heads)?;
        check_limit("intermediate_size", self.intermediate_size)?;
        check_limit("max_position_embeddings", self.max_position_embeddings)?;
        let buckets = usize::try_from(self.position_buckets.max(0)).unwrap_or(usize::MAX);
        check_limit("position_buckets", buckets)?;
        if self.max_relative_positions >= 1 {
            check_limit(
                "max_relative_positions",
                usize::try_from(self.max_relative_positions).unwrap_or(usize::MAX),
            )?;
        }
        if let Some(v) = self.vocab_size {
            check_limit("vocab_size", v)?;
        }
        if !(self.layer_norm_eps.is_finite()
            && self.layer_norm_eps > 0.0
            && self.layer_norm_eps < 1.0)
        {
            return Err(Error::config(format!(
                "layer_norm_eps {} is out of range (expected a number between 0 and 1)",
                self.layer_norm_eps
            )));
        }
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let parameters = self.num_hidden_layers * (4 * h * h + 2 * h * i);
        if parameters > MAX_ENCODER_PARAMETERS {
            return Err(Error::config(format!(
                "hidden_size {h}, intermediate_size {i} and num_hidden_layers {} make {parameters} encoder parameters, more than the {MAX_ENCODER_PARAMETERS} this runtime holds",
                self.num_hidden_layers
            )));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(Error::config(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        let max_relative_positions = if self.max_relative_positions < 1 {
            self.max_position_embeddings
        } else {
            self.max_relative_positions as usize
        };
        Ok(BackboneConfig {
            hidden_size: self.hidden_size,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            intermediate_size: self.intermediate_size,
            layer_norm_eps: self.layer_norm_eps,
            position_buckets: buckets,
            max_relative_positions,
        })
    }
}

fn parse_json(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::config(format!("{what} is not valid JSON: {e}")))
}

fn usize_field(v: &Value, key: &str, default: usize) -> Result<usize> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(x) => x
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| Error::config(format!("{key} must be a non-negative integer, got {x}"))),
    }
}

/// Parse a DebertaV2 `config.json` text into backbone dims.
pub fn parse_backbone(text: &str) -> Result<BackboneConfig> {
    let raw: RawDebertaConfig = serde_json::from_value(parse_json(text, "backbone config.json")?)
        .map_err(|e| Error::config(format!("backbone config.json: {e}")))?;
    raw.validate()
}

/// What a model dir's `config.json` says, before any backbone folder is read.
pub enum ConfigSource {
    /// Complete: the PairRM-hf layout, or a ranker config naming deberta-v3-large.
    Ready(PairRmConfig),
    /// A ranker config whose `model_name` is a folder: its `config.json` holds
    /// the backbone dims. Finish with [`PendingBackbone::with_backbone`].
    NeedsBackbone(PendingBackbone),
}

/// A ranker config waiting for its backbone `config.json`.
pub struct PendingBackbone {
    pub model_name: String,
    source_maxlength: usize,
    candidate_maxlength: usize,
    n_tasks: usize,
}

impl PendingBackbone {
    pub fn with_backbone(self, backbone_json: &str) -> Result<PairRmConfig> {
        Ok(PairRmConfig {
            backbone: parse_backbone(backbone_json)?,
            source_maxlength: self.source_maxlength,
            candidate_maxlength: self.candidate_maxlength,
            n_tasks: self.n_tasks,
        })
    }
}

/// Read a model dir's `config.json` in either published layout.
pub fn parse_model_config(text: &str) -> Result<ConfigSource> {
    let v = parse_json(text, "config.json")?;
    if !v.is_object() {
        return Err(Error::config("config.json must be a JSON object"));
    }
    let source_maxlength = usize_field(&v, "source_maxlength", DEFAULT_SOURCE_MAXLENGTH)?;
    let candidate_maxlength = usize_field(&v, "candidate_maxlength", DEFAULT_CANDIDATE_MAXLENGTH)?;
    let n_tasks = check_limit("n_tasks", usize_field(&v, "n_tasks", 1)?)?;
    check_limit("source_maxlength", source_maxlength)?;
    check_limit("candidate_maxlength", candidate_maxlength)?;
    if source_maxlength + 2 * candidate_maxlength > MAX_PAIR_TOKENS {
        return Err(Error::config(format!(
            "source_maxlength {source_maxlength} + 2 × candidate_maxlength {candidate_maxlength} is more than {MAX_PAIR_TOKENS} tokens per pair"
        )));
    }
    check_quantization(&v)?;
    if v.get("hidden_size").is_some() {
        let backbone = parse_backbone(text)?;
        return Ok(ConfigSource::Ready(PairRmConfig {
            backbone,
            source_maxlength,
            candidate_maxlength,
            n_tasks,
        }));
    }
    let model_name = v
        .get("model_name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::config("config.json has neither backbone dims (hidden_size) nor a model_name")
        })?
        .to_string();
    if model_name == DEBERTA_V3_LARGE {
        return Ok(ConfigSource::Ready(PairRmConfig {
            backbone: BackboneConfig::deberta_v3_large(),
            source_maxlength,
            candidate_maxlength,
            n_tasks,
        }));
    }
    Ok(ConfigSource::NeedsBackbone(PendingBackbone {
        model_name,
        source_maxlength,
        candidate_maxlength,
        n_tasks,
    }))
}

/// A `quantization_config`, when present, must describe what the loader
/// reads: compressed-tensors with int8 symmetric weights per channel (what
/// `pairrm convert --dtype q8` writes). The tensors themselves are checked
/// against the key table when the header is read.
fn check_quantization(v: &Value) -> Result<()> {
    let Some(q) = v.get("quantization_config") else {
        return Ok(());
    };
    let bad = |what: String| {
        Err(Error::config(format!(
            "quantization_config: {what}; only compressed-tensors int8 weights, symmetric, one scale per channel are supported"
        )))
    };
    match q.get("quant_method").and_then(Value::as_str) {
        Some("compressed-tensors") => {}
        other => return bad(format!("quant_method {other:?}")),
    }
    let groups = q.get("config_groups").and_then(Value::as_object);
    for (name, group) in groups.into_iter().flatten() {
        let w = group.get("weights").unwrap_or(&Value::Null);
        let field = |k: &str| w.get(k).cloned().unwrap_or(Value::Null);
        for (k, want) in [
            ("num_bits", serde_json::json!(8)),
            ("type", serde_json::json!("int")),
            ("symmetric", serde_json::json!(true)),
            ("strategy", serde_json::json!("channel")),
        ] {
            if field(k) != want {
                return bad(format!("{name}.weights.{k} is {}, not {want}", field(k)));
            }
        }
    }
    Ok(())
}

/// The config of a model dir: its `config.json`, plus the backbone folder's
/// `config.json` when the ranker config names one.
pub fn resolve_config(
    config_json: &str,
    backbone_config_json: Option<&str>,
) -> Result<PairRmConfig> {
    match parse_model_config(config_json)? {
        ConfigSource::Ready(c) => Ok(c),
        ConfigSource::NeedsBackbone(pending) => {
            let backbone = backbone_config_json.ok_or_else(|| {
                Error::config(format!(
                    "model_name {:?} is a folder, but its config.json was not given",
                    pending.model_name
                ))
            })?;
            pending.with_backbone(backbone)
        }
    }
}

#[cfg(test)]
mod tests;
