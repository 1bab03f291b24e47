//! The key table, kept as data: our tensor names, the Hugging Face keys
//! LLM-Blender saves them under, and the shape each must have for a config.

use crate::config::BackboneConfig;

/// Prefixes under which the backbone's keys are found: LLM-Blender saves the
/// encoder as `pretrained_model.`; a plain HF DeBERTa export uses `deberta.`.
pub(crate) const BACKBONE_PREFIXES: [&str; 3] = ["pretrained_model.", "deberta.", ""];

/// Our name → HF key suffix, for tensors outside the layers.
pub const GLOBAL_KEYS: [(&str, &str); 6] = [
    ("word_embeddings", "embeddings.word_embeddings.weight"),
    ("embeddings_ln.weight", "embeddings.LayerNorm.weight"),
    ("embeddings_ln.bias", "embeddings.LayerNorm.bias"),
    ("rel_embeddings", "encoder.rel_embeddings.weight"),
    ("rel_ln.weight", "encoder.LayerNorm.weight"),
    ("rel_ln.bias", "encoder.LayerNorm.bias"),
];

/// Our name → HF key suffix under `encoder.layer.N.`.
pub const LAYER_KEYS: [(&str, &str); 16] = [
    ("query.weight", "attention.self.query_proj.weight"),
    ("query.bias", "attention.self.query_proj.bias"),
    ("key.weight", "attention.self.key_proj.weight"),
    ("key.bias", "attention.self.key_proj.bias"),
    ("value.weight", "attention.self.value_proj.weight"),
    ("value.bias", "attention.self.value_proj.bias"),
    ("attn_out.weight", "attention.output.dense.weight"),
    ("attn_out.bias", "attention.output.dense.bias"),
    ("attn_ln.weight", "attention.output.LayerNorm.weight"),
    ("attn_ln.bias", "attention.output.LayerNorm.bias"),
    ("ffn_in.weight", "intermediate.dense.weight"),
    ("ffn_in.bias", "intermediate.dense.bias"),
    ("ffn_out.weight", "output.dense.weight"),
    ("ffn_out.bias", "output.dense.bias"),
    ("ffn_ln.weight", "output.LayerNorm.weight"),
    ("ffn_ln.bias", "output.LayerNorm.bias"),
];

/// PairRM head keys (not under the backbone prefix).
pub const HEAD_KEYS: [(&str, &str); 4] = [
    ("head.dense.weight", "head_layer.1.weight"),
    ("head.dense.bias", "head_layer.1.bias"),
    ("head.out.weight", "head_layer.4.weight"),
    ("head.out.bias", "head_layer.4.bias"),
];

/// Our names of every tensor a config needs (the order of [`GLOBAL_KEYS`], layers, [`HEAD_KEYS`]).
pub fn tensor_names(config: &BackboneConfig) -> Vec<String> {
    expected_tensors(config, 0, 1)
        .into_iter()
        .map(|t| t.name)
        .collect()
}

/// One tensor the model needs: our name, HF key (suffix for backbone tensors), shape.
pub(crate) struct TensorSpec {
    pub name: String,
    pub key: String,
    pub shape: Vec<usize>,
    pub in_backbone: bool,
}

/// The full key table for a config, from [`GLOBAL_KEYS`], [`LAYER_KEYS`] and [`HEAD_KEYS`].
pub(crate) fn expected_tensors(
    config: &BackboneConfig,
    vocab_size: usize,
    n_tasks: usize,
) -> Vec<TensorSpec> {
    let (h, i) = (config.hidden_size, config.intermediate_size);
    let spec = |name: String, key: String, shape: Vec<usize>, in_backbone: bool| TensorSpec {
        name,
        key,
        shape,
        in_backbone,
    };
    let global_shapes = [
        vec![vocab_size, h],
        vec![h],
        vec![h],
        vec![2 * config.attention_span(), h],
        vec![h],
        vec![h],
    ];
    let mut out: Vec<TensorSpec> = GLOBAL_KEYS
        .iter()
        .zip(global_shapes)
        .map(|((name, key), shape)| spec(name.to_string(), key.to_string(), shape, true))
        .collect();
    for layer in 0..config.num_hidden_layers {
        for (name, suffix) in LAYER_KEYS {
            let shape = match name {
                "ffn_in.weight" => vec![i, h],
                "ffn_in.bias" => vec![i],
                "ffn_out.weight" => vec![h, i],
                n if n.ends_with(".weight") && !n.contains("_ln") => vec![h, h],
                _ => vec![h],
            };
            out.push(spec(
                format!("layer.{layer}.{name}"),
                format!("encoder.layer.{layer}.{suffix}"),
                shape,
                true,
            ));
        }
    }
    let head_shapes = [vec![h, 2 * h], vec![h], vec![n_tasks, h], vec![n_tasks]];
    for ((name, key), shape) in HEAD_KEYS.iter().zip(head_shapes) {
        out.push(spec(name.to_string(), key.to_string(), shape, false));
    }
    out
}
