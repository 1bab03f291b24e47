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
pub(crate) struct TensorEncoder {
    entry: PlanEntry,
    target: Target,
    /// Values per row (the whole tensor is one row unless it is 2-D or more).
    cols: usize,
    scales: Vec<f32>,
    rows_done: usize,
}

impl TensorEncoder {
    pub fn new(entry: &PlanEntry, dtype: WeightDtype) -> Self {
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
            entry: entry.clone(),
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

/// A conversion fed its source file front to back, in pieces of any size
/// (network chunks as they arrive, file reads): one pass over the source,
/// nothing of it kept but the part of a row not yet complete. `pairrm
/// convert` and the browser loader, converting while it downloads or from
/// its cache, all go through it.
pub struct ConversionStream {
    conversion: Conversion,
    dtype: WeightDtype,
    data_start: usize,
    /// File offset of the next source byte to be pushed.
    at: usize,
    /// The tensor being converted, by index into the conversion's entries
    /// (all done when it is past the end).
    next: usize,
    encoder: Option<TensorEncoder>,
    /// Bytes of the current tensor's next row, while it is incomplete.
    row: Vec<u8>,
}

impl ConversionStream {
    /// The conversion of `plan`'s tensors to `dtype` (a dtype the plan can be
    /// converted to: [`WeightsPlan::check_target`]). An error when two
    /// tensors share source bytes, which one pass cannot convert.
    pub fn new(plan: &WeightsPlan, dtype: WeightDtype) -> Result<Self> {
        let conversion = Conversion::new(plan, dtype);
        if let Some(w) = conversion
            .entries
            .windows(2)
            .find(|w| w[1].offsets.0 < w[0].offsets.1)
        {
            return Err(Error::weights(format!(
                "tensors {} and {} share bytes: not converted",
                w[0].key, w[1].key
            )));
        }
        Ok(Self {
            conversion,
            dtype,
            data_start: plan.data_start,
            at: 0,
            next: 0,
            encoder: None,
            row: Vec::new(),
        })
    }

    /// The converted file's first bytes (length and JSON header): what
    /// precedes everything [`Self::push`] appends.
    pub fn header(&self) -> &[u8] {
        &self.conversion.header
    }

    /// Bytes of the whole converted file, header included.
    pub fn file_len(&self) -> usize {
        self.conversion.file_len
    }

    /// Source bytes pushed so far.
    pub fn source_pushed(&self) -> usize {
        self.at
    }

    /// Convert the source file's next bytes (the first piece starts at its
    /// byte 0, header included), appending whatever they complete of the
    /// converted data to `out`.
    pub fn push(&mut self, mut piece: &[u8], out: &mut Vec<u8>) -> Result<()> {
        loop {
            self.finish_ended(out);
            let Some(e) = self.conversion.entries.get(self.next) else {
                // Past the last tensor (or between ignored ones): skipped.
                self.at += piece.len();
                return Ok(());
            };
            if piece.is_empty() {
                return Ok(());
            }
            let (start, end) = (self.data_start + e.offsets.0, self.data_start + e.offsets.1);
            if self.at < start {
                let skip = (start - self.at).min(piece.len());
                self.at += skip;
                piece = &piece[skip..];
                continue;
            }
            let encoder = self
                .encoder
                .get_or_insert_with(|| TensorEncoder::new(e, self.dtype));
            let take = (end - self.at).min(piece.len());
            let (mut bytes, rest) = piece.split_at(take);
            self.at += take;
            piece = rest;
            let row_bytes = encoder.row_bytes();
            if !self.row.is_empty() {
                let fill = (row_bytes - self.row.len()).min(bytes.len());
                self.row.extend_from_slice(&bytes[..fill]);
                bytes = &bytes[fill..];
                if self.row.len() == row_bytes {
                    encoder.push(&self.row, out)?;
                    self.row.clear();
                }
            }
            let whole = bytes.len() - bytes.len().checked_rem(row_bytes).unwrap_or(0);
            for rows in bytes[..whole].chunks(encoder.piece_bytes()) {
                encoder.push(rows, out)?;
            }
            self.row.extend_from_slice(&bytes[whole..]);
        }
    }

    /// Close the tensors the source has passed the end of (an empty tensor
    /// as soon as it is reached).
    fn finish_ended(&mut self, out: &mut Vec<u8>) {
        while let Some(e) = self.conversion.entries.get(self.next) {
            if self.at < self.data_start + e.offsets.1 {
                return;
            }
            let encoder = self
                .encoder
                .take()
                .unwrap_or_else(|| TensorEncoder::new(e, self.dtype));
            encoder.finish(out);
            self.next += 1;
        }
    }

    /// After the last piece: an error unless the whole source was pushed.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.finish_ended(out);
        if self.next < self.conversion.entries.len() {
            return Err(Error::weights(format!(
                "the weights ended after {} bytes, inside tensor {}: the file is truncated",
                self.at, self.conversion.entries[self.next].key
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{resolve_config, BackboneConfig};
    use crate::weights::{header_len, plan_from_header};

    /// tiny-hf's weights, their plan, and its backbone config.
    fn fixture() -> (Vec<u8>, WeightsPlan, BackboneConfig) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-hf");
        let config = std::fs::read_to_string(format!("{dir}/config.json")).unwrap();
        let backbone = resolve_config(&config, None).unwrap().backbone;
        let bytes = std::fs::read(format!("{dir}/model.safetensors")).unwrap();
        let header = &bytes[..8 + header_len(&bytes).unwrap()];
        let plan = plan_from_header(header, &backbone).unwrap();
        (bytes, plan, backbone)
    }

    fn convert_in_pieces(
        bytes: &[u8],
        plan: &WeightsPlan,
        dtype: WeightDtype,
        piece: usize,
    ) -> Vec<u8> {
        let mut stream = ConversionStream::new(plan, dtype).unwrap();
        let mut out = stream.header().to_vec();
        for p in bytes.chunks(piece) {
            stream.push(p, &mut out).unwrap();
        }
        stream.finish(&mut out).unwrap();
        assert_eq!(out.len(), stream.file_len());
        out
    }

    /// Network chunks split rows and tensors anywhere: the result is the
    /// same bytes however the source arrives, and it reads back as the
    /// header says (each tensor's values, converted).
    #[test]
    fn pieces_of_any_size_give_the_same_file() {
        let (bytes, plan, backbone) = fixture();
        for dtype in [WeightDtype::Q8, WeightDtype::F16] {
            let whole = convert_in_pieces(&bytes, &plan, dtype, bytes.len());
            for piece in [1, 3, 4093, 8192] {
                assert!(
                    convert_in_pieces(&bytes, &plan, dtype, piece) == whole,
                    "{} in pieces of {piece}",
                    dtype.name()
                );
            }
            // Each tensor is where the header puts it, with its values converted.
            let converted =
                plan_from_header(&whole[..8 + header_len(&whole).unwrap()], &backbone).unwrap();
            for e in &plan.entries {
                let c = converted.entries.iter().find(|c| c.key == e.key).unwrap();
                let source = decode(
                    e.dtype,
                    &bytes[plan.data_start + e.offsets.0..plan.data_start + e.offsets.1],
                );
                let raw =
                    &whole[converted.data_start + c.offsets.0..converted.data_start + c.offsets.1];
                let got: Vec<f32> = match c.scale {
                    Some(_) => raw.iter().map(|&b| b as i8 as f32).collect(),
                    None => decode(c.dtype, raw),
                };
                assert_eq!(got.len(), source.len(), "{}", e.key);
                let tolerance = match (&c.scale, dtype) {
                    (Some(s), _) => {
                        let scales = decode(
                            s.dtype,
                            &whole[converted.data_start + s.offsets.0
                                ..converted.data_start + s.offsets.1],
                        );
                        let cols = source.len() / scales.len();
                        for (i, (g, v)) in got.iter().zip(&source).enumerate() {
                            let scale = scales[i / cols];
                            assert!(
                                (g * scale - v).abs() <= scale * 0.5 + 1e-7,
                                "{} [{i}]",
                                e.key
                            );
                        }
                        continue;
                    }
                    (None, WeightDtype::F16) => 1e-3,
                    (None, _) => 0.0,
                };
                for (g, v) in got.iter().zip(&source) {
                    assert!(
                        (g - v).abs() <= tolerance * v.abs().max(1e-3),
                        "{}: {g} vs {v}",
                        e.key
                    );
                }
            }
        }
    }

    #[test]
    fn a_source_that_ends_early_is_refused_by_tensor() {
        let (bytes, plan, _) = fixture();
        let mut stream = ConversionStream::new(&plan, WeightDtype::Q8).unwrap();
        let mut out = Vec::new();
        stream.push(&bytes[..bytes.len() - 10], &mut out).unwrap();
        let err = stream.finish(&mut out).unwrap_err().to_string();
        let last = plan.entries.iter().max_by_key(|e| e.offsets.1).unwrap();
        assert!(
            err.contains(&last.key) && err.contains("truncated"),
            "{err}"
        );
    }

    #[test]
    fn tensors_sharing_bytes_are_refused() {
        let (_, mut plan, _) = fixture();
        plan.entries.sort_by_key(|e| e.offsets.0);
        plan.entries[1].offsets.0 = plan.entries[0].offsets.1 - 4;
        let err = ConversionStream::new(&plan, WeightDtype::Q8)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&plan.entries[1].key) && err.contains("share bytes"),
            "{err}"
        );
    }
}
