//! A weights file converted to another dtype, written as a stream: the header
//! first (every size follows from shapes), then each tensor a few rows at a
//! time, so that neither the source nor the result need be in memory whole.
//! `pairrm convert` writes the stream to a file; the browser loader stores it
//! in IndexedDB in place of the source.
//!
//! Tensors follow in the order of their source bytes (a reader then passes
//! over the source once, front to back); a tensor that becomes int8 is
//! followed by its scales (`<key>_scale`, F32 `[rows, 1]`).

use serde_json::json;

use super::{becomes_int8, decode, width, PlanEntry, WeightsPlan};
use crate::error::{Error, Result};
use crate::quant::{quantize_row, WeightDtype};

/// Source bytes converted at a time ([`TensorEncoder::piece_bytes`]).
const PIECE_BYTES: usize = 4 << 20;

/// The layout of a converted file.
pub struct Conversion {
    /// The file's first bytes: the 8-byte header length and the JSON header.
    pub header: Vec<u8>,
    /// The source tensors, in the order their converted bytes follow.
    pub entries: Vec<PlanEntry>,
    /// Bytes of the whole converted file.
    pub file_len: usize,
}

impl Conversion {
    /// Plan the conversion of `plan`'s tensors to `dtype` (a dtype the plan
    /// can be converted to: [`WeightsPlan::check_target`]).
    pub fn new(plan: &WeightsPlan, dtype: WeightDtype) -> Self {
        let mut entries = plan.entries.clone();
        entries.sort_by_key(|e| e.offsets.0);
        let mut header = serde_json::Map::new();
        header.insert(
            "__metadata__".into(),
            json!({"format": "pt", "pairrm_dtype": dtype.name()}),
        );
        let mut offset = 0usize;
        let mut put = |key: String, dt: &str, shape: &[usize], bytes: usize| {
            header.insert(
                key,
                json!({"dtype": dt, "shape": shape, "data_offsets": [offset, offset + bytes]}),
            );
            offset += bytes;
        };
        for e in &entries {
            let elements: usize = e.shape.iter().product();
            match target_of(e, dtype) {
                Target::Q8 => {
                    put(e.key.clone(), "I8", &e.shape, elements);
                    put(
                        format!("{}_scale", e.key),
                        "F32",
                        &[e.shape[0], 1],
                        4 * e.shape[0],
                    );
                }
                Target::F16 => put(e.key.clone(), "F16", &e.shape, 2 * elements),
                Target::F32 => put(e.key.clone(), "F32", &e.shape, 4 * elements),
            }
        }
        let mut text = serde_json::to_vec(&header).expect("a JSON map");
        // Data aligned to 8 bytes, as the safetensors writers do.
        while !(8 + text.len()).is_multiple_of(8) {
            text.push(b' ');
        }
        let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
        bytes.extend(text);
        Self {
            file_len: bytes.len() + offset,
            header: bytes,
            entries,
        }
    }
}

/// What one tensor becomes.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    F32,
    F16,
    Q8,
}

fn target_of(e: &PlanEntry, dtype: WeightDtype) -> Target {
    match dtype {
        _ if becomes_int8(dtype, e.int8_allowed, &e.shape) => Target::Q8,
        WeightDtype::F16 => Target::F16,
        _ => Target::F32,
    }
}

/// Converts one tensor from its source bytes, given in pieces of whole rows
/// (in order); refuses NaN and infinities by tensor name, since an int8 scale
/// or an f16 overflow would otherwise turn them into plausible numbers.
pub struct TensorEncoder<'e> {
    entry: &'e PlanEntry,
    target: Target,
    /// Values per row (the whole tensor is one row unless it is 2-D or more).
    cols: usize,
    scales: Vec<f32>,
    rows_done: usize,
}

impl<'e> TensorEncoder<'e> {
    pub fn new(entry: &'e PlanEntry, dtype: WeightDtype) -> Self {
        assert!(
            entry.scale.is_none(),
            "an int8 source is never converted (check_target)"
        );
        let elements: usize = entry.shape.iter().product();
        let cols = if entry.shape.len() >= 2 {
            entry.shape[1..].iter().product()
        } else {
            elements
        };
        Self {
            entry,
            target: target_of(entry, dtype),
            cols,
            scales: Vec::new(),
            rows_done: 0,
        }
    }

    /// Source bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.cols * width(self.entry.dtype)
    }

    /// Rows of the tensor.
    pub fn rows(&self) -> usize {
        let elements: usize = self.entry.shape.iter().product();
        elements.checked_div(self.cols).unwrap_or(0)
    }

    /// Source bytes to hand to [`Self::push`] at a time: whole rows, about
    /// 4 MiB (at least one row), so that neither copy of a piece is large.
    pub fn piece_bytes(&self) -> usize {
        (PIECE_BYTES / self.row_bytes().max(1)).max(1) * self.row_bytes()
    }

    /// Convert whole rows of source bytes, appending the result to `out`.
    pub fn push(&mut self, raw: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let row_bytes = self.row_bytes();
        assert!(
            row_bytes == 0 || raw.len().is_multiple_of(row_bytes),
            "pieces hold whole rows"
        );
        let values = decode(self.entry.dtype, raw);
        let bad = || {
            Error::weights(format!(
                "tensor {} holds NaN or infinite values: not converted",
                self.entry.key
            ))
        };
        match self.target {
            Target::Q8 => {
                let mut q = vec![0i8; self.cols];
                for row in values.chunks_exact(self.cols.max(1)) {
                    let scale = quantize_row(row, &mut q);
                    if !scale.is_finite() {
                        return Err(bad());
                    }
                    self.scales.push(scale);
                    out.extend(q.iter().map(|&v| v as u8));
                }
            }
            Target::F16 => {
                for v in values {
                    let h = half::f16::from_f32(v);
                    if !h.is_finite() {
                        return Err(bad());
                    }
                    out.extend(h.to_le_bytes());
                }
            }
            Target::F32 => {
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(bad());
                }
                out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
            }
        }
        self.rows_done += raw.len().checked_div(row_bytes).unwrap_or(0);
        Ok(())
    }

    /// After the last row: the scales of an int8 tensor.
    pub fn finish(self, out: &mut Vec<u8>) {
        assert_eq!(self.rows_done, self.rows(), "every row was pushed");
        out.extend(self.scales.iter().flat_map(|s| s.to_le_bytes()));
    }
}
