//! `model.safetensors` → host `f32` tensors, with the key table kept as data
//! and every shape checked against the config before anything reaches a device.

use std::collections::HashMap;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use crate::config::BackboneConfig;
use crate::error::{Error, Result};

mod keys;
mod random;

pub(crate) use keys::expected_tensors;
pub(crate) use keys::tensor_names;
use keys::BACKBONE_PREFIXES;
pub use keys::{Dim, Init, KeyRow, Part, GLOBAL_KEYS, HEAD_KEYS, LAYER_KEYS};
#[cfg(not(target_arch = "wasm32"))]
pub use random::{write_random_safetensors, write_stand_in_model, STAND_IN_VOCAB};

/// A host tensor in row-major order.
#[derive(Debug, Clone)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    /// `[out, in]` (PyTorch Linear) → `[in, out]` (what `x · W` wants).
    pub fn transposed(&self) -> HostTensor {
        let (rows, cols) = (self.shape[0], self.shape[1]);
        let mut data = vec![0.0; self.data.len()];
        for r in 0..rows {
            for c in 0..cols {
                data[c * rows + r] = self.data[r * cols + c];
            }
        }
        HostTensor {
            shape: vec![cols, rows],
            data,
        }
    }
}

/// Every tensor PairRM needs, by our names, shapes checked, in f32.
pub struct PairRmWeights {
    pub vocab_size: usize,
    pub n_tasks: usize,
    tensors: HashMap<String, HostTensor>,
}

/// Where one needed tensor lies in the file, checked against the config.
#[derive(Debug, Clone)]
pub struct PlanEntry {
    pub name: String,
    pub key: String,
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    /// Byte range relative to the start of the data section.
    pub offsets: (usize, usize),
}

impl PlanEntry {
    /// This tensor as host f32, from its raw bytes.
    pub fn decode(&self, raw: &[u8]) -> HostTensor {
        HostTensor {
            shape: self.shape.clone(),
            data: decode(self.dtype, raw),
        }
    }
}

/// What the header says, checked: every needed tensor, and the data size.
#[derive(Debug, Clone)]
pub struct WeightsPlan {
    pub vocab_size: usize,
    pub n_tasks: usize,
    /// Bytes before the data: the 8-byte length plus the JSON header.
    pub data_start: usize,
    /// Size of the data section the header describes.
    pub data_len: usize,
    pub entries: Vec<PlanEntry>,
}

impl WeightsPlan {
    /// Total file size the header implies.
    pub fn file_len(&self) -> usize {
        self.data_start + self.data_len
    }
}

/// Most bytes a safetensors JSON header may have (PairRM's is about 60 KB):
/// the loader reads the header whole before it knows anything else.
pub const MAX_HEADER_BYTES: usize = 16 << 20;

/// Most bytes of tensor data a weights file may hold beyond the tensors the
/// model reads: unused tensors are skipped, but are downloaded all the same.
pub const MAX_UNUSED_BYTES: usize = 1 << 30;

/// Length of the JSON header, from the first 8 bytes of the file.
pub fn header_len(first_bytes: &[u8]) -> Result<usize> {
    let head: [u8; 8] = first_bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Error::Weights("model.safetensors is shorter than its 8-byte header length".into())
        })?;
    let n = u64::from_le_bytes(head);
    if !(2..=MAX_HEADER_BYTES as u64).contains(&n) {
        return Err(Error::Weights(format!(
            "model.safetensors header length {n} is implausible (expected 2 to {MAX_HEADER_BYTES} bytes): not a safetensors file"
        )));
    }
    Ok(n as usize)
}

/// Check a safetensors header (the file's first `8 + header_len` bytes) against
/// `config`: every needed tensor present with the expected shape and a
/// supported dtype. Needs no tensor data, so a browser can check before downloading.
pub fn plan_from_header(header: &[u8], config: &BackboneConfig) -> Result<WeightsPlan> {
    let n = header_len(header)?;
    let json = header
        .get(8..8 + n)
        .ok_or_else(|| Error::Weights("model.safetensors is truncated inside its header".into()))?;
    let meta: Metadata = serde_json::from_slice(json)
        .map_err(|e| Error::Weights(format!("model.safetensors has an invalid header: {e}")))?;
    let infos = meta.tensors();
    let data_len = infos.values().map(|t| t.data_offsets.1).max().unwrap_or(0);
    let find = |suffix: &str, in_backbone: bool| -> Result<(String, &TensorInfo)> {
        let prefixes: &[&str] = if in_backbone {
            &BACKBONE_PREFIXES
        } else {
            &[""]
        };
        prefixes
            .iter()
            .map(|p| format!("{p}{suffix}"))
            .find_map(|k| infos.get(&k).map(|info| (k, *info)))
            .ok_or_else(|| {
                let shown = if in_backbone {
                    format!("{}{suffix}", BACKBONE_PREFIXES[0])
                } else {
                    suffix.to_string()
                };
                Error::Weights(format!("missing tensor {shown}"))
            })
    };
    let vocab_size = find(GLOBAL_KEYS[0].1, true)?
        .1
        .shape
        .first()
        .copied()
        .unwrap_or(0);
    crate::config::check_limit("vocab_size", vocab_size).map_err(|_| {
        Error::Weights(format!(
            "the word embeddings have {vocab_size} rows: implausible"
        ))
    })?;
    let n_tasks = find(HEAD_KEYS[2].1, false)?
        .1
        .shape
        .first()
        .copied()
        .unwrap_or(0)
        .max(1);
    let extra = format!(
        "encoder.layer.{}.attention.self.query_proj.weight",
        config.num_hidden_layers
    );
    if find(&extra, true).is_ok() {
        return Err(Error::Weights(format!(
            "the file has more than the {} layers the config declares",
            config.num_hidden_layers
        )));
    }
    let mut entries = Vec::new();
    for spec in expected_tensors(config, vocab_size, n_tasks) {
        let (key, info) = find(&spec.key, spec.in_backbone())?;
        if info.shape != spec.shape {
            return Err(Error::Weights(format!(
                "tensor {key} has shape {:?}, expected {:?}",
                info.shape, spec.shape
            )));
        }
        if !matches!(info.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return Err(Error::Weights(format!(
                "tensor {key} has dtype {:?}; only F32, F16 and BF16 are supported",
                info.dtype
            )));
        }
        let width = if info.dtype == Dtype::F32 { 4 } else { 2 };
        let (start, end) = info.data_offsets;
        if end < start || end - start != spec.shape.iter().product::<usize>() * width {
            return Err(Error::Weights(format!(
                "tensor {key}: its byte range {start}..{end} does not match shape {:?} in {:?}",
                spec.shape, info.dtype
            )));
        }
        entries.push(PlanEntry {
            name: spec.name,
            key,
            shape: spec.shape,
            dtype: info.dtype,
            offsets: info.data_offsets,
        });
    }
    let used: usize = entries.iter().map(|e| e.offsets.1 - e.offsets.0).sum();
    if data_len > used + MAX_UNUSED_BYTES {
        return Err(Error::Weights(format!(
            "model.safetensors holds {data_len} bytes of tensors, {} more than the model reads (at most {MAX_UNUSED_BYTES} unused bytes are accepted)",
            data_len - used
        )));
    }
    Ok(WeightsPlan {
        vocab_size,
        n_tasks,
        data_start: 8 + n,
        data_len,
        entries,
    })
}

/// Decode one tensor's little-endian bytes to f32.
pub fn decode(dtype: Dtype, raw: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::F16 => raw
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => raw
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    }
}

impl PairRmWeights {
    /// An empty set, to be filled tensor by tensor by a streaming loader.
    pub fn empty(vocab_size: usize, n_tasks: usize) -> Self {
        Self {
            vocab_size,
            n_tasks,
            tensors: HashMap::new(),
        }
    }

    pub fn insert(&mut self, name: String, tensor: HostTensor) {
        self.tensors.insert(name, tensor);
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// A tensor [`crate::model::ModelBuilder::add_group`] has checked is here.
    pub(crate) fn take(&mut self, name: &str) -> HostTensor {
        self.tensors
            .remove(name)
            .unwrap_or_else(|| panic!("{name} was checked by add_group"))
    }

    /// Parse a whole safetensors file held in memory and check it against `config`.
    pub fn from_bytes(bytes: &[u8], config: &BackboneConfig) -> Result<Self> {
        let plan = plan_from_header(bytes, config)?;
        if bytes.len() != plan.file_len() {
            return Err(Error::Weights(format!(
                "model.safetensors is {} bytes but its header describes {} bytes: the file is {}",
                bytes.len(),
                plan.file_len(),
                if bytes.len() < plan.file_len() {
                    "truncated"
                } else {
                    "corrupt"
                }
            )));
        }
        let data = &bytes[plan.data_start..];
        let tensors = plan
            .entries
            .iter()
            .map(|e| (e.name.clone(), e.decode(&data[e.offsets.0..e.offsets.1])))
            .collect();
        Ok(Self {
            vocab_size: plan.vocab_size,
            n_tasks: plan.n_tasks,
            tensors,
        })
    }

    /// Random weights with the right names and shapes (benchmarks, tests):
    /// the same draw as `make-random-model`'s stand-in for the same seed.
    pub fn random(config: &BackboneConfig, vocab_size: usize, seed: u64) -> Self {
        let tensors = random::random_tensors(config, vocab_size, seed)
            .into_iter()
            .map(|(name, shape, data)| (name, HostTensor { shape, data }))
            .collect();
        Self {
            vocab_size,
            n_tasks: 1,
            tensors,
        }
    }
}
