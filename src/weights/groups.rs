//! The checkpoint as typed groups, in load order: the globals, one group per
//! layer, the head. Both engines build from these types, so neither knows a
//! tensor's name; the names live here and in the key table ([`super::keys`]),
//! and a test checks that the groups take exactly the table's tensors.

use super::keys::{tensor_names, Part};
use super::{HostTensor, PairRmWeights, Weight};
use crate::config::BackboneConfig;
use crate::error::{Error, Result, WeightsError};

/// A PyTorch `Linear`: weight `[out, in]` (f32, or int8 where the key table
/// allows it), bias `[out]`.
#[derive(Debug, Clone)]
pub struct LinearTensors {
    pub weight: Weight,
    pub bias: HostTensor,
}

/// A `LayerNorm`: scale γ and shift β, `[hidden]` each.
#[derive(Debug, Clone)]
pub struct NormTensors {
    pub gamma: HostTensor,
    pub beta: HostTensor,
}

/// Everything outside the layers: the embedding table and its LayerNorm, the
/// encoder's relative-embedding table and the LayerNorm applied to it.
#[derive(Debug, Clone)]
pub struct GlobalTensors {
    pub word_embeddings: Weight,
    pub embeddings_ln: NormTensors,
    pub rel_embeddings: HostTensor,
    pub rel_ln: NormTensors,
}

/// One encoder layer (`encoder.layer.N.*`).
#[derive(Debug, Clone)]
pub struct LayerTensors {
    pub query: LinearTensors,
    pub key: LinearTensors,
    pub value: LinearTensors,
    pub attn_out: LinearTensors,
    pub attn_ln: NormTensors,
    pub ffn_in: LinearTensors,
    pub ffn_out: LinearTensors,
    pub ffn_ln: NormTensors,
}

/// PairRM's head: `Linear(2H, H)`, tanh, `Linear(H, n_tasks)`.
#[derive(Debug, Clone)]
pub struct HeadTensors {
    pub dense: LinearTensors,
    pub out: LinearTensors,
}

/// One group of [`PairRmWeights::take_group`].
// Made and consumed once per group of a load: boxing would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Group {
    Globals(GlobalTensors),
    Layer(usize, LayerTensors),
    Head(HeadTensors),
}

/// The part group `index` holds: 0 the globals, `1..=layers` the layers, then
/// the head; None past the end.
pub fn group_part(config: &BackboneConfig, index: usize) -> Option<Part> {
    let layers = config.num_hidden_layers;
    match index {
        0 => Some(Part::Globals),
        i if i <= layers => Some(Part::Layer(i - 1)),
        i if i == layers + 1 => Some(Part::Head),
        _ => None,
    }
}

/// Our names of each group's tensors, in load order (what a streaming loader
/// reads before it takes the group).
pub fn group_names(config: &BackboneConfig) -> Vec<Vec<String>> {
    let mut groups = vec![Vec::new(); config.num_hidden_layers + 2];
    for (name, part) in tensor_names(config) {
        let g = match part {
            Part::Globals => 0,
            Part::Layer(i) => 1 + i,
            Part::Head => config.num_hidden_layers + 1,
        };
        groups[g].push(name);
    }
    groups
}

/// Takes one part's tensors out of the weights by name (`prefix` + name).
struct Taker<'a> {
    weights: &'a mut PairRmWeights,
    prefix: String,
}

impl Taker<'_> {
    fn weight(&mut self, name: &str) -> Weight {
        self.weights.take_weight(&format!("{}{name}", self.prefix))
    }

    fn tensor(&mut self, name: &str) -> HostTensor {
        self.weight(name).into_f32()
    }

    fn linear(&mut self, name: &str) -> LinearTensors {
        LinearTensors {
            weight: self.weight(&format!("{name}.weight")),
            bias: self.tensor(&format!("{name}.bias")),
        }
    }

    fn norm(&mut self, name: &str) -> NormTensors {
        NormTensors {
            gamma: self.tensor(&format!("{name}.weight")),
            beta: self.tensor(&format!("{name}.bias")),
        }
    }
}

impl PairRmWeights {
    /// Takes group `index` (see [`group_part`]) out of the weights. An error
    /// names a tensor of the group that is not here, or says there is no such
    /// group.
    pub fn take_group(&mut self, config: &BackboneConfig, index: usize) -> Result<Group> {
        let part = group_part(config, index).ok_or_else(|| {
            Error::weights(format!(
                "all {} weight groups were added already",
                config.num_hidden_layers + 2
            ))
        })?;
        if let Some((missing, _)) = tensor_names(config)
            .into_iter()
            .find(|(name, p)| *p == part && !self.contains(name))
        {
            return Err(Error::Weights(WeightsError::MissingTensor { key: missing }));
        }
        let mut t = Taker {
            weights: self,
            prefix: String::new(),
        };
        Ok(match part {
            Part::Globals => Group::Globals(GlobalTensors {
                word_embeddings: t.weight("word_embeddings"),
                embeddings_ln: t.norm("embeddings_ln"),
                rel_embeddings: t.tensor("rel_embeddings"),
                rel_ln: t.norm("rel_ln"),
            }),
            Part::Layer(i) => {
                t.prefix = format!("layer.{i}.");
                Group::Layer(
                    i,
                    LayerTensors {
                        query: t.linear("query"),
                        key: t.linear("key"),
                        value: t.linear("value"),
                        attn_out: t.linear("attn_out"),
                        attn_ln: t.norm("attn_ln"),
                        ffn_in: t.linear("ffn_in"),
                        ffn_out: t.linear("ffn_out"),
                        ffn_ln: t.norm("ffn_ln"),
                    },
                )
            }
            Part::Head => {
                t.prefix = "head.".into();
                Group::Head(HeadTensors {
                    dense: t.linear("dense"),
                    out: t.linear("out"),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BackboneConfig {
        BackboneConfig {
            hidden_size: 8,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 16,
            layer_norm_eps: 1e-7,
            position_buckets: 4,
            max_relative_positions: 8,
        }
    }

    /// The groups take every tensor of the key table and nothing else: a name
    /// spelled differently here would leave one behind or find none.
    #[test]
    fn groups_take_exactly_the_key_table() {
        let config = config();
        let mut weights = PairRmWeights::random(&config, 11, 1);
        let total = weights.len();
        assert_eq!(total, tensor_names(&config).len());
        let mut parts = Vec::new();
        for i in 0..config.num_hidden_layers + 2 {
            let before = weights.len();
            let group = weights.take_group(&config, i).unwrap();
            assert_eq!(before - weights.len(), group_names(&config)[i].len());
            parts.push(match group {
                Group::Globals(g) => {
                    assert_eq!(g.word_embeddings.dims(), (11, 8));
                    assert_eq!(g.rel_embeddings.shape, [8, 8]);
                    Part::Globals
                }
                Group::Layer(n, l) => {
                    assert_eq!(l.ffn_in.weight.dims(), (16, 8));
                    assert_eq!(l.ffn_out.bias.shape, [8]);
                    Part::Layer(n)
                }
                Group::Head(h) => {
                    assert_eq!(h.dense.weight.dims(), (8, 16));
                    Part::Head
                }
            });
        }
        assert_eq!(weights.len(), 0);
        assert_eq!(
            parts,
            [Part::Globals, Part::Layer(0), Part::Layer(1), Part::Head]
        );
        let err = weights.take_group(&config, 4).unwrap_err().to_string();
        assert!(err.contains("all 4 weight groups"), "{err}");
    }

    #[test]
    fn a_missing_tensor_is_named() {
        let config = config();
        let mut weights = PairRmWeights::random(&config, 11, 1);
        weights.take_weight("layer.1.attn_ln.bias");
        match weights.take_group(&config, 2) {
            Err(Error::Weights(WeightsError::MissingTensor { key })) => {
                assert_eq!(key, "layer.1.attn_ln.bias")
            }
            other => panic!("{other:?}"),
        }
        // Nothing of the group was taken.
        assert_eq!(weights.len(), tensor_names(&config).len() - 1);
    }
}
