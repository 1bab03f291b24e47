//! `pairrm convert`: a model folder in another dtype that describes itself.
//!
//! - f16: every tensor F16; `config.json` gains `"torch_dtype": "float16"`.
//! - q8: the tensors [`super::keys::TensorSpec::int8_allowed`] names as I8
//!   under their own keys plus `<key>_scale` (F32, `[rows, 1]`), everything
//!   else F32, with compressed-tensors' `quantization_config` in `config.json`
//!   (int8, symmetric, per channel; activations int8 per token, dynamic),
//!   as compressed-tensors writes a W8A8 "int-quantized" checkpoint.
//!
//! Tensors are read, converted and written one at a time: a 1.74 GB source
//! never sits in memory whole.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::{header_len, plan_from_header, Weight, MAX_HEADER_BYTES};
use crate::config::{parse_model_config, resolve_config, ConfigSource};
use crate::error::{Error, Result};
use crate::quant::WeightDtype;

fn io(what: &Path, e: std::io::Error) -> Error {
    Error::Io {
        what: what.display().to_string(),
        cause: e.to_string(),
    }
}

/// compressed-tensors' description of what a q8 folder holds.
pub fn quantization_config() -> Value {
    let int8 = |strategy: &str, dynamic: bool| json!({"num_bits": 8, "type": "int", "symmetric": true, "strategy": strategy, "dynamic": dynamic});
    json!({
        "quant_method": "compressed-tensors",
        "format": "int-quantized",
        "quantization_status": "compressed",
        "config_groups": {
            "group_0": {
                "targets": ["Linear", "Embedding"],
                "weights": int8("channel", false),
                "input_activations": int8("token", true)
            }
        },
        "ignore": ["head_layer.1", "head_layer.4"]
    })
}

/// Files copied as they are, when present.
const COPIED: [&str; 5] = [
    "tokenizer.json",
    "spm.model",
    "added_tokens.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

/// Write `input` (a model folder) to `output` in `dtype`. Refuses to convert
/// to a higher precision than the source holds, and a source whose weights
/// hold NaN or infinities (which int8 scales would hide).
pub fn convert_model_dir(input: &Path, output: &Path, dtype: WeightDtype) -> Result<()> {
    let read_text = |p: &Path| std::fs::read_to_string(p).map_err(|e| io(p, e));
    let config_text = read_text(&input.join("config.json"))?;
    let backbone_dir = match parse_model_config(&config_text)? {
        ConfigSource::Ready(_) => None,
        ConfigSource::NeedsBackbone(p) => Some(p.model_name.clone()),
    };
    let backbone_text = match &backbone_dir {
        Some(d) => Some(read_text(&input.join(d).join("config.json"))?),
        None => None,
    };
    let config = resolve_config(&config_text, backbone_text.as_deref())?;

    let source = input.join("model.safetensors");
    let mut file = File::open(&source).map_err(|e| io(&source, e))?;
    let mut head = vec![0u8; 8];
    file.read_exact(&mut head).map_err(|e| io(&source, e))?;
    let n = header_len(&head)?.min(MAX_HEADER_BYTES);
    head.resize(8 + n, 0);
    file.read_exact(&mut head[8..])
        .map_err(|e| io(&source, e))?;
    let plan = plan_from_header(&head, &config.backbone)?;
    let size = file.metadata().map_err(|e| io(&source, e))?.len();
    if size != plan.file_len() as u64 {
        return Err(Error::Weights(format!(
            "{} is {size} bytes but its header describes {} bytes",
            source.display(),
            plan.file_len()
        )));
    }
    plan.check_target(Some(dtype))?;

    std::fs::create_dir_all(output).map_err(|e| io(output, e))?;
    if input.canonicalize().ok() == output.canonicalize().ok() {
        return Err(Error::Input(
            "--out must be another folder than --model".into(),
        ));
    }
    let mut config_json: Value = serde_json::from_str(&config_text)
        .map_err(|e| Error::Config(format!("config.json: {e}")))?;
    if let Some(obj) = config_json.as_object_mut() {
        obj.remove("quantization_config");
        match dtype {
            WeightDtype::F32 => {
                obj.insert("torch_dtype".into(), json!("float32"));
            }
            WeightDtype::F16 => {
                obj.insert("torch_dtype".into(), json!("float16"));
            }
            WeightDtype::Q8 => {
                obj.insert("torch_dtype".into(), json!("float32"));
                obj.insert("quantization_config".into(), quantization_config());
            }
        }
    }
    let pretty = serde_json::to_string_pretty(&config_json).expect("a JSON value");
    std::fs::write(output.join("config.json"), pretty + "\n")
        .map_err(|e| io(&output.join("config.json"), e))?;
    if let (Some(d), Some(text)) = (&backbone_dir, &backbone_text) {
        let dir = output.join(d);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        std::fs::write(dir.join("config.json"), text).map_err(|e| io(&dir, e))?;
    }
    for name in COPIED {
        let from = input.join(name);
        if from.is_file() {
            std::fs::copy(&from, output.join(name)).map_err(|e| io(&from, e))?;
        }
    }

    // The header first: every tensor's size is known from its shape and dtype.
    let mut tensors = Vec::new(); // (key, dtype, shape, bytes)
    for e in &plan.entries {
        let elements: usize = e.shape.iter().product();
        let int8 = dtype == WeightDtype::Q8 && e.int8_allowed;
        match (dtype, int8) {
            (WeightDtype::Q8, true) => {
                tensors.push((e.key.clone(), "I8", e.shape.clone(), elements));
                tensors.push((
                    format!("{}_scale", e.key),
                    "F32",
                    vec![e.shape[0], 1],
                    4 * e.shape[0],
                ));
            }
            (WeightDtype::F16, _) => {
                tensors.push((e.key.clone(), "F16", e.shape.clone(), 2 * elements))
            }
            _ => tensors.push((e.key.clone(), "F32", e.shape.clone(), 4 * elements)),
        }
    }
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        json!({"format": "pt", "pairrm_dtype": dtype.name()}),
    );
    let mut offset = 0usize;
    for (key, dt, shape, bytes) in &tensors {
        header.insert(
            key.clone(),
            json!({"dtype": dt, "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut text = serde_json::to_vec(&header).expect("a JSON map");
    while !(8 + text.len()).is_multiple_of(8) {
        text.push(b' ');
    }
    let target = output.join("model.safetensors");
    // Written under another name and renamed at the end: an interrupted
    // conversion never leaves a model.safetensors that looks complete.
    let partial = output.join("model.safetensors.partial");
    let mut out = BufWriter::new(File::create(&partial).map_err(|e| io(&partial, e))?);
    let w = |out: &mut BufWriter<File>, b: &[u8]| out.write_all(b).map_err(|e| io(&partial, e));
    w(&mut out, &(text.len() as u64).to_le_bytes())?;
    w(&mut out, &text)?;
    for e in &plan.entries {
        let mut raw = Vec::new();
        for (a, b) in e.ranges() {
            let mut bytes = vec![0u8; b - a];
            file.seek(SeekFrom::Start((plan.data_start + a) as u64))
                .and_then(|_| file.read_exact(&mut bytes))
                .map_err(|err| io(&source, err))?;
            raw.push(bytes);
        }
        let parts: Vec<&[u8]> = raw.iter().map(|r| r.as_slice()).collect();
        // A non-finite value stays non-finite in f32 and f16, and gives its
        // row a NaN scale in q8 (`quant::quantize_row`).
        let converted = e.decode(&parts, Some(dtype));
        let finite = match &converted {
            Weight::F32(t) => t.data.iter().all(|v| v.is_finite()),
            Weight::Q8(q) => q.scales.iter().all(|s| s.is_finite()),
        };
        if !finite {
            return Err(Error::Weights(format!(
                "tensor {} holds NaN or infinite values: not converted",
                e.key
            )));
        }
        match converted {
            Weight::Q8(q) => {
                let values: Vec<u8> = q.values.iter().map(|&v| v as u8).collect();
                w(&mut out, &values)?;
                let scales: Vec<u8> = q.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
                w(&mut out, &scales)?;
            }
            Weight::F32(t) if dtype == WeightDtype::F16 => {
                let bytes: Vec<u8> = t
                    .data
                    .iter()
                    .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                    .collect();
                w(&mut out, &bytes)?;
            }
            Weight::F32(t) => {
                let bytes: Vec<u8> = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                w(&mut out, &bytes)?;
            }
        }
    }
    out.flush().map_err(|e| io(&partial, e))?;
    drop(out);
    std::fs::rename(&partial, &target).map_err(|e| io(&target, e))
}
