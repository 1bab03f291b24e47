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
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::convert::ConversionStream;
use super::{header_len, plan_from_header, MAX_HEADER_BYTES};
use crate::config::{parse_model_config, resolve_config, ConfigSource};
use crate::error::{Error, Result};
use crate::quant::WeightDtype;

/// Source bytes read at a time.
const READ_BYTES: usize = 4 << 20;

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
        return Err(Error::weights(format!(
            "{} is {size} bytes but its header describes {} bytes",
            source.display(),
            plan.file_len()
        )));
    }
    plan.check_target(Some(dtype))?;
    if plan.entries.iter().any(|e| e.scale.is_some()) {
        return Err(Error::input(format!(
            "{} already holds q8 weights: it loads as q8 as it is",
            source.display()
        )));
    }

    std::fs::create_dir_all(output).map_err(|e| io(output, e))?;
    if input.canonicalize().ok() == output.canonicalize().ok() {
        return Err(Error::input(
            "--out must be another folder than --model".into(),
        ));
    }
    let mut config_json: Value = serde_json::from_str(&config_text)
        .map_err(|e| Error::config(format!("config.json: {e}")))?;
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

    let mut stream = ConversionStream::new(&plan, dtype)?;
    let target = output.join("model.safetensors");
    // Written under another name and renamed at the end: an interrupted
    // conversion never leaves a model.safetensors that looks complete.
    let partial = output.join("model.safetensors.partial");
    let mut out = BufWriter::new(File::create(&partial).map_err(|e| io(&partial, e))?);
    let w = |out: &mut BufWriter<File>, b: &[u8]| out.write_all(b).map_err(|e| io(&partial, e));
    w(&mut out, stream.header())?;
    // The source front to back: its header, read already, then the rest.
    let mut converted = Vec::new();
    stream.push(&head, &mut converted)?;
    let mut piece = vec![0u8; READ_BYTES];
    let mut left = plan.file_len() - head.len();
    while left > 0 {
        let n = READ_BYTES.min(left);
        file.read_exact(&mut piece[..n])
            .map_err(|err| io(&source, err))?;
        stream.push(&piece[..n], &mut converted)?;
        w(&mut out, &converted)?;
        converted.clear();
        left -= n;
    }
    stream.finish(&mut converted)?;
    w(&mut out, &converted)?;
    out.flush().map_err(|e| io(&partial, e))?;
    drop(out);
    std::fs::rename(&partial, &target).map_err(|e| io(&target, e))
}
