//! `model.safetensors` → host tensors (f32, or int8 with scales), with the key
//! table kept as data and every name, shape and dtype checked against the
//! config before anything reaches a device or a byte of data is read.

use std::collections::HashMap;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use crate::config::BackboneConfig;
use crate::error::{Error, Result, WeightsError};
use crate::quant::{quantize_row, round_to_f16, Q8Matrix, WeightDtype};

mod convert;
mod groups;
mod keys;
mod random;
mod write;

pub use convert::{Conversion, ConversionStream};
pub use groups::{
    group_names, group_part, GlobalTensors, Group, HeadTensors, LayerTensors, LinearTensors,
    NormTensors,
};
pub(crate) use keys::expected_tensors;
use keys::BACKBONE_PREFIXES;
pub use keys::{Dim, Init, KeyRow, Part, GLOBAL_KEYS, HEAD_KEYS, LAYER_KEYS};
pub use random::{write_random_safetensors, write_stand_in_model, STAND_IN_VOCAB};
pub use write::{convert_model_dir, quantization_config};

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

/// Whether a tensor of `shape` that the key table lets be int8
/// (`int8_allowed`) becomes int8 under `target`: the one rule for loading,
/// converting and `pairrm convert` (a scale per row needs rows).
pub(crate) fn becomes_int8(target: WeightDtype, int8_allowed: bool, shape: &[usize]) -> bool {
    target == WeightDtype::Q8 && int8_allowed && shape.len() == 2
}

/// One loaded tensor: f32 values, or int8 with a scale per row (2-D only).
#[derive(Debug, Clone)]
pub enum Weight {
    F32(HostTensor),
    Q8(Q8Matrix),
}

impl Weight {
    /// Rows and columns of a 2-D weight (an embedding table, a Linear's `[out, in]`).
    pub fn dims(&self) -> (usize, usize) {
        match self {
            Weight::F32(t) => (t.shape[0], t.shape[1]),
            Weight::Q8(q) => (q.rows, q.cols),
        }
    }

    /// Row `r` of a 2-D weight into `out` (its length: the columns), int8
    /// dequantized: a table lookup without the whole table in f32.
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        match self {
            Weight::F32(t) => {
                let h = out.len();
                out.copy_from_slice(&t.data[r * h..(r + 1) * h]);
            }
            Weight::Q8(q) => q.row_into(r, out),
        }
    }

    /// The values in f32 (int8 dequantized).
    pub fn into_f32(self) -> HostTensor {
        match self {
            Weight::F32(t) => t,
            Weight::Q8(q) => HostTensor {
                shape: vec![q.rows, q.cols],
                data: q.dequantize(),
            },
        }
    }

    /// Convert to `target` (f16 rounds the values, q8 quantizes a tensor the
    /// key table allows to be int8); an int8 tensor stays int8.
    fn converted(self, target: WeightDtype, int8_allowed: bool) -> Weight {
        match (self, target) {
            (Weight::F32(mut t), WeightDtype::F16) => {
                round_to_f16(&mut t.data);
                Weight::F32(t)
            }
            (Weight::F32(t), WeightDtype::Q8) if becomes_int8(target, int8_allowed, &t.shape) => {
                Weight::Q8(Q8Matrix::quantize(t.shape[0], t.shape[1], &t.data))
            }
            (w, _) => w,
        }
    }
}

/// Every tensor PairRM needs, by our names, shapes checked.
pub struct PairRmWeights {
    pub vocab_size: usize,
    pub n_tasks: usize,
    tensors: HashMap<String, Weight>,
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
    /// For an int8 tensor, where its per-row scales lie.
    pub scale: Option<ScaleEntry>,
    /// Whether the key table lets this tensor be int8.
    pub int8_allowed: bool,
}

/// The scales of an int8 tensor (`<key>_scale`, one per row).
#[derive(Debug, Clone)]
pub struct ScaleEntry {
    pub key: String,
    pub dtype: Dtype,
    pub offsets: (usize, usize),
}

impl PlanEntry {
    /// Byte ranges to read (relative to the data section): the tensor, then its scales.
    pub fn ranges(&self) -> Vec<(usize, usize)> {
        std::iter::once(self.offsets)
            .chain(self.scale.as_ref().map(|s| s.offsets))
            .collect()
    }

    /// The tensor from its raw bytes (`raw[0]` the values, `raw[1]` the
    /// scales of an int8 one, as [`Self::ranges`]), converted to `target`
    /// when given (never to a higher precision: [`WeightsPlan::check_target`]).
    pub fn decode(&self, raw: &[&[u8]], target: Option<WeightDtype>) -> Weight {
        let int8_now = target.is_some_and(|t| becomes_int8(t, self.int8_allowed, &self.shape));
        if int8_now && self.scale.is_none() {
            // Row by row from the bytes: the f32 tensor (524 MB for the word
            // embeddings) never exists whole.
            let (rows, cols) = (self.shape[0], self.shape[1]);
            let row_bytes = cols * width(self.dtype);
            let mut values = vec![0i8; rows * cols];
            let mut scales = Vec::with_capacity(rows);
            for (r, bytes) in raw[0].chunks_exact(row_bytes.max(1)).take(rows).enumerate() {
                let row = decode(self.dtype, bytes);
                scales.push(quantize_row(&row, &mut values[r * cols..(r + 1) * cols]));
            }
            return Weight::Q8(Q8Matrix {
                rows,
                cols,
                values,
                scales,
            });
        }
        match &self.scale {
            Some(_) => self.decode_int8(int8_values(raw[0]), raw[1], target),
            None => self.to_target(
                Weight::F32(HostTensor {
                    shape: self.shape.clone(),
                    data: decode(self.dtype, raw[0]),
                }),
                target,
            ),
        }
    }

    /// An int8 tensor from its values, already taken out of the file's
    /// bytes, and its scales' raw bytes; converted to `target` when given.
    /// Panics on a tensor without scales ([`Self::scale`] is `None`).
    pub(crate) fn decode_int8(
        &self,
        values: Vec<i8>,
        scales: &[u8],
        target: Option<WeightDtype>,
    ) -> Weight {
        let scale = self.scale.as_ref().expect("an int8 tensor has scales");
        let weight = Weight::Q8(Q8Matrix {
            rows: self.shape[0],
            cols: self.shape[1],
            values,
            scales: decode(scale.dtype, scales),
        });
        self.to_target(weight, target)
    }

    /// `weight` converted to `target` when given.
    fn to_target(&self, weight: Weight, target: Option<WeightDtype>) -> Weight {
        match target {
            Some(t) => weight.converted(t, self.int8_allowed),
            None => weight,
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

    /// The lowest precision the file stores its weights in: q8 when any
    /// tensor is int8, f16 when any is F16 or BF16, else f32.
    pub fn stored_dtype(&self) -> WeightDtype {
        if self.entries.iter().any(|e| e.scale.is_some()) {
            WeightDtype::Q8
        } else if self.entries.iter().any(|e| e.dtype != Dtype::F32) {
            WeightDtype::F16
        } else {
            WeightDtype::F32
        }
    }

    /// A file of `len` bytes is the one the header describes: not cut short
    /// (a dropped download), not longer (two files run together).
    pub fn check_file_len(&self, len: u64) -> Result<()> {
        let want = self.file_len() as u64;
        if len == want {
            return Ok(());
        }
        Err(Error::weights(format!(
            "model.safetensors is {len} bytes but its header describes {want} bytes: the file is {}",
            if len < want { "truncated" } else { "corrupt" }
        )))
    }

    /// The dtype a load with `target` computes with: `target`, or the file's
    /// own when none is asked for. Asking for more precision than the file
    /// holds is an error: rounded values cannot be made exact again.
    pub fn check_target(&self, target: Option<WeightDtype>) -> Result<WeightDtype> {
        let stored = self.stored_dtype();
        match target {
            None => Ok(stored),
            Some(t) if t.bits() > stored.bits() => Err(Error::weights(format!(
                "model.safetensors holds {stored} weights: it cannot be loaded as {t} (load the f32 model to get {t})"
            ))),
            Some(t) => Ok(t),
        }
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
            Error::weights("model.safetensors is shorter than its 8-byte header length")
        })?;
    let n = u64::from_le_bytes(head);
    if !(2..=MAX_HEADER_BYTES as u64).contains(&n) {
        return Err(Error::weights(format!(
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
        .ok_or_else(|| Error::weights("model.safetensors is truncated inside its header"))?;
    let meta: Metadata = serde_json::from_slice(json)
        .map_err(|e| Error::weights(format!("model.safetensors has an invalid header: {e}")))?;
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
                Error::Weights(WeightsError::MissingTensor { key: shown })
            })
    };
    let vocab_size = find(GLOBAL_KEYS[0].1, true)?
        .1
        .shape
        .first()
        .copied()
        .unwrap_or(0);
    crate::config::check_limit("vocab_size", vocab_size).map_err(|_| {
        Error::weights(format!(
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
        return Err(Error::weights(format!(
            "the file has more than the {} layers the config declares",
            config.num_hidden_layers
        )));
    }
    let mut entries = Vec::new();
    for spec in expected_tensors(config, vocab_size, n_tasks) {
        let (key, info) = find(&spec.key, spec.in_backbone())?;
        if info.shape != spec.shape {
            return Err(Error::Weights(WeightsError::Shape {
                key,
                got: info.shape.clone(),
                want: spec.shape.clone(),
            }));
        }
        let int8_allowed = spec.int8_allowed();
        let scale = match info.dtype {
            Dtype::F32 | Dtype::F16 | Dtype::BF16 => None,
            Dtype::I8 if int8_allowed => Some(scale_entry(&key, spec.shape[0], &infos)?),
            Dtype::I8 => {
                return Err(Error::weights(format!(
                    "tensor {key} is I8, but only the layers' Linear weights and the word embeddings may be int8"
                )))
            }
            other => {
                return Err(Error::weights(format!(
                    "tensor {key} has dtype {other:?}; only F32, F16, BF16 and I8 (with scales) are supported"
                )))
            }
        };
        check_bytes(&key, &spec.shape, info)?;
        entries.push(PlanEntry {
            name: spec.name,
            key,
            shape: spec.shape,
            dtype: info.dtype,
            offsets: info.data_offsets,
            scale,
            int8_allowed,
        });
    }
    let used: usize = entries
        .iter()
        .flat_map(|e| e.ranges())
        .map(|(a, b)| b - a)
        .sum();
    if data_len > used + MAX_UNUSED_BYTES {
        return Err(Error::weights(format!(
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

/// Bytes per value of a dtype the loader reads.
fn width(dtype: Dtype) -> usize {
    match dtype {
        Dtype::F32 => 4,
        Dtype::F16 | Dtype::BF16 => 2,
        _ => 1,
    }
}

/// A tensor's byte range must hold exactly its shape in its dtype.
fn check_bytes(key: &str, shape: &[usize], info: &TensorInfo) -> Result<()> {
    let (start, end) = info.data_offsets;
    if end < start || end - start != shape.iter().product::<usize>() * width(info.dtype) {
        return Err(Error::weights(format!(
            "tensor {key}: its byte range {start}..{end} does not match shape {shape:?} in {:?}",
            info.dtype
        )));
    }
    Ok(())
}

/// The scales of int8 tensor `key` (compressed-tensors' `<name>.weight_scale`):
/// one float per row, `[rows, 1]` (or `[rows]`).
fn scale_entry(key: &str, rows: usize, infos: &HashMap<String, &TensorInfo>) -> Result<ScaleEntry> {
    let scale_key = format!("{key}_scale");
    let info = infos.get(&scale_key).ok_or_else(|| {
        Error::weights(format!(
            "tensor {key} is int8 but its scales, {scale_key}, are missing"
        ))
    })?;
    if info.shape != [rows, 1] && info.shape != [rows] {
        return Err(Error::weights(format!(
            "tensor {scale_key} has shape {:?}, expected [{rows}, 1] (one scale per row of {key})",
            info.shape
        )));
    }
    if !matches!(info.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
        return Err(Error::weights(format!(
            "tensor {scale_key} has dtype {:?}; scales must be F32, F16 or BF16",
            info.dtype
        )));
    }
    check_bytes(&scale_key, &info.shape, info)?;
    Ok(ScaleEntry {
        key: scale_key,
        dtype: info.dtype,
        offsets: info.data_offsets,
    })
}

/// An I8 tensor's stored bytes as its values.
pub(crate) fn int8_values(raw: &[u8]) -> Vec<i8> {
    raw.iter().map(|&b| b as i8).collect()
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

    pub fn insert(&mut self, name: String, tensor: Weight) {
        self.tensors.insert(name, tensor);
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// How many tensors are held (tests check what taking groups leaves).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tensors.len()
    }

    /// A tensor [`Self::take_group`] has checked is here.
    fn take_weight(&mut self, name: &str) -> Weight {
        self.tensors
            .remove(name)
            .unwrap_or_else(|| panic!("{name} was checked by take_group"))
    }

    /// Parse a whole safetensors file held in memory and check it against `config`.
    pub fn from_bytes(bytes: &[u8], config: &BackboneConfig) -> Result<Self> {
        Self::from_bytes_as(bytes, config, None)
    }

    /// As [`Self::from_bytes`], converting to `target` (see [`WeightsPlan::check_target`]).
    pub fn from_bytes_as(
        bytes: &[u8],
        config: &BackboneConfig,
        target: Option<WeightDtype>,
    ) -> Result<Self> {
        Self::from_plan(&plan_from_header(bytes, config)?, bytes, target)
    }

    /// The tensors of a whole file held in memory whose header `plan` was read
    /// from, converted to `target` (see [`WeightsPlan::check_target`]).
    pub fn from_plan(
        plan: &WeightsPlan,
        bytes: &[u8],
        target: Option<WeightDtype>,
    ) -> Result<Self> {
        plan.check_target(target)?;
        plan.check_file_len(bytes.len() as u64)?;
        let data = &bytes[plan.data_start..];
        let tensors = plan
            .entries
            .iter()
            .map(|e| {
                let raw: Vec<&[u8]> = e.ranges().iter().map(|&(a, b)| &data[a..b]).collect();
                (e.name.clone(), e.decode(&raw, target))
            })
            .collect();
        Ok(Self {
            vocab_size: plan.vocab_size,
            n_tasks: plan.n_tasks,
            tensors,
        })
    }

    /// The tensors that [`Weight::converted`] would make for `target`.
    pub fn convert(&mut self, config: &BackboneConfig, target: WeightDtype) {
        for spec in expected_tensors(config, self.vocab_size, self.n_tasks) {
            if let Some(w) = self.tensors.remove(&spec.name) {
                let w = w.converted(target, spec.int8_allowed());
                self.tensors.insert(spec.name, w);
            }
        }
    }

    /// Random weights with the right names and shapes (benchmarks, tests):
    /// the same draw as `make-random-model`'s stand-in for the same seed.
    pub fn random(config: &BackboneConfig, vocab_size: usize, seed: u64) -> Self {
        let tensors = random::random_tensors(config, vocab_size, seed)
            .into_iter()
            .map(|(name, shape, data)| (name, Weight::F32(HostTensor { shape, data })))
            .collect();
        Self {
            vocab_size,
            n_tasks: 1,
            tensors,
        }
    }
}
