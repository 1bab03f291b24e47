//! The key table, kept as data: our tensor names, the Hugging Face keys
//! LLM-Blender saves them under, each tensor's shape in terms of the config's
//! dimensions, and how a random stand-in draws it.

use crate::config::BackboneConfig;

/// Prefixes under which the backbone's keys are found: LLM-Blender saves the
/// encoder as `pretrained_model.`; a plain HF DeBERTa export uses `deberta.`.
pub(crate) const BACKBONE_PREFIXES: [&str; 3] = ["pretrained_model.", "deberta.", ""];

/// A dimension of a tensor, resolved against a config by [`Dim::size`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// Rows of the word-embedding table (the tokenizer's length; read from the file).
    Vocab,
    /// `hidden_size`.
    Hidden,
    /// `2 · hidden_size`: the head's input, source and candidate side by side.
    TwoHidden,
    /// `intermediate_size`.
    Intermediate,
    /// Rows of the relative-embedding table, `2 · attention_span`.
    RelativeRows,
    /// The head's outputs, `n_tasks` (read from the file).
    Tasks,
}

/// How a random stand-in draws a tensor (see `weights::random`); the real
/// checkpoint's values are of these scales too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Embedding tables: unit scale, so tokens start far apart.
    Table,
    /// Linear weights: HF's `initializer_range` (0.02).
    Weight,
    /// Linear biases and LayerNorm shifts: small.
    Bias,
    /// LayerNorm scales: near 1.
    Scale,
}

/// One row of the key table: our name, the HF key (suffix under the backbone
/// prefix, or under `encoder.layer.N.` for layer tensors), shape, draw.
pub type KeyRow = (&'static str, &'static str, &'static [Dim], Init);

use Dim::*;
use Init::*;

/// Tensors outside the layers, under the backbone prefix.
pub const GLOBAL_KEYS: [KeyRow; 6] = [
    (
        "word_embeddings",
        "embeddings.word_embeddings.weight",
        &[Vocab, Hidden],
        Table,
    ),
    (
        "embeddings_ln.weight",
        "embeddings.LayerNorm.weight",
        &[Hidden],
        Scale,
    ),
    (
        "embeddings_ln.bias",
        "embeddings.LayerNorm.bias",
        &[Hidden],
        Bias,
    ),
    (
        "rel_embeddings",
        "encoder.rel_embeddings.weight",
        &[RelativeRows, Hidden],
        Table,
    ),
    (
        "rel_ln.weight",
        "encoder.LayerNorm.weight",
        &[Hidden],
        Scale,
    ),
    ("rel_ln.bias", "encoder.LayerNorm.bias", &[Hidden], Bias),
];

/// Each layer's tensors, under `encoder.layer.N.` (PyTorch Linears: `[out, in]`).
pub const LAYER_KEYS: [KeyRow; 16] = [
    (
        "query.weight",
        "attention.self.query_proj.weight",
        &[Hidden, Hidden],
        Weight,
    ),
    (
        "query.bias",
        "attention.self.query_proj.bias",
        &[Hidden],
        Bias,
    ),
    (
        "key.weight",
        "attention.self.key_proj.weight",
        &[Hidden, Hidden],
        Weight,
    ),
    ("key.bias", "attention.self.key_proj.bias", &[Hidden], Bias),
    (
        "value.weight",
        "attention.self.value_proj.weight",
        &[Hidden, Hidden],
        Weight,
    ),
    (
        "value.bias",
        "attention.self.value_proj.bias",
        &[Hidden],
        Bias,
    ),
    (
        "attn_out.weight",
        "attention.output.dense.weight",
        &[Hidden, Hidden],
        Weight,
    ),
    (
        "attn_out.bias",
        "attention.output.dense.bias",
        &[Hidden],
        Bias,
    ),
    (
        "attn_ln.weight",
        "attention.output.LayerNorm.weight",
        &[Hidden],
        Scale,
    ),
    (
        "attn_ln.bias",
        "attention.output.LayerNorm.bias",
        &[Hidden],
        Bias,
    ),
    (
        "ffn_in.weight",
        "intermediate.dense.weight",
        &[Intermediate, Hidden],
        Weight,
    ),
    (
        "ffn_in.bias",
        "intermediate.dense.bias",
        &[Intermediate],
        Bias,
    ),
    (
        "ffn_out.weight",
        "output.dense.weight",
        &[Hidden, Intermediate],
        Weight,
    ),
    ("ffn_out.bias", "output.dense.bias", &[Hidden], Bias),
    ("ffn_ln.weight", "output.LayerNorm.weight", &[Hidden], Scale),
    ("ffn_ln.bias", "output.LayerNorm.bias", &[Hidden], Bias),
];

/// PairRM's head (not under the backbone prefix): `head_layer` is
/// `Sequential(Dropout, Linear, Tanh, Dropout, Linear)`.
pub const HEAD_KEYS: [KeyRow; 4] = [
    (
        "head.dense.weight",
        "head_layer.1.weight",
        &[Hidden, TwoHidden],
        Weight,
    ),
    ("head.dense.bias", "head_layer.1.bias", &[Hidden], Bias),
    (
        "head.out.weight",
        "head_layer.4.weight",
        &[Tasks, Hidden],
        Weight,
    ),
    ("head.out.bias", "head_layer.4.bias", &[Tasks], Bias),
];

impl Dim {
    pub fn size(self, config: &BackboneConfig, vocab_size: usize, n_tasks: usize) -> usize {
        match self {
            Vocab => vocab_size,
            Hidden => config.hidden_size,
            TwoHidden => 2 * config.hidden_size,
            Intermediate => config.intermediate_size,
            RelativeRows => 2 * config.attention_span(),
            Tasks => n_tasks,
        }
    }
}

/// Where a tensor belongs in load order (see `model::load_groups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Globals,
    Layer(usize),
    Head,
}

/// One tensor the model needs: our name, HF key (suffix for backbone tensors), shape.
pub(crate) struct TensorSpec {
    pub name: String,
    pub key: String,
    pub shape: Vec<usize>,
    pub part: Part,
    pub init: Init,
    /// See [`TensorSpec::int8_allowed`].
    int8: bool,
}

impl TensorSpec {
    /// Whether the key lives under the backbone prefix (all but the head's).
    pub fn in_backbone(&self) -> bool {
        self.part != Part::Head
    }

    /// Whether the tensor may be stored and computed as int8: the layers'
    /// Linear weights and the word-embedding table, 99% of PairRM's bytes.
    /// LayerNorms, biases, the relative-embedding table and the head stay
    /// f32: together 0.6% of the bytes, and their rounding would land
    /// directly in every score.
    pub fn int8_allowed(&self) -> bool {
        self.int8
    }
}

/// Our names of every tensor a config needs, with the part each belongs to
/// (the order of [`GLOBAL_KEYS`], layers, [`HEAD_KEYS`]).
pub(crate) fn tensor_names(config: &BackboneConfig) -> Vec<(String, Part)> {
    expected_tensors(config, 0, 1)
        .into_iter()
        .map(|t| (t.name, t.part))
        .collect()
}

/// The full key table for a config, from [`GLOBAL_KEYS`], [`LAYER_KEYS`] and [`HEAD_KEYS`].
pub(crate) fn expected_tensors(
    config: &BackboneConfig,
    vocab_size: usize,
    n_tasks: usize,
) -> Vec<TensorSpec> {
    let spec = |row: &KeyRow, name: String, key: String, part: Part| TensorSpec {
        name,
        key,
        shape: row
            .2
            .iter()
            .map(|d| d.size(config, vocab_size, n_tasks))
            .collect(),
        part,
        init: row.3,
        int8: match part {
            Part::Layer(_) => row.3 == Weight,
            Part::Globals => row.2.first() == Some(&Vocab),
            Part::Head => false,
        },
    };
    let globals = GLOBAL_KEYS
        .iter()
        .map(|row| spec(row, row.0.into(), row.1.into(), Part::Globals));
    let layers = (0..config.num_hidden_layers).flat_map(|n| {
        LAYER_KEYS.iter().map(move |row| {
            let (name, key) = (
                format!("layer.{n}.{}", row.0),
                format!("encoder.layer.{n}.{}", row.1),
            );
            (row, name, key, n)
        })
    });
    let head = HEAD_KEYS
        .iter()
        .map(|row| spec(row, row.0.into(), row.1.into(), Part::Head));
    globals
        .chain(layers.map(|(row, name, key, n)| spec(row, name, key, Part::Layer(n))))
        .chain(head)
        .collect()
}
