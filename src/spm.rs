//! The few fields of a SentencePiece `ModelProto` (`spm.model`) that the
//! DeBERTa-v3 tokenizer needs, read with a minimal protobuf decoder so that no
//! protobuf dependency is pulled in.

use crate::error::{Error, Result};

/// SentencePiece piece types (`ModelProto.SentencePiece.Type`).
pub const PIECE_UNKNOWN: u64 = 2;
pub const PIECE_CONTROL: u64 = 3;

#[derive(Debug, Clone)]
pub struct Piece {
    pub text: String,
    pub score: f32,
    pub kind: u64,
}

#[derive(Debug, Clone, Default)]
pub struct SpmModel {
    pub pieces: Vec<Piece>,
    pub unk_id: usize,
    pub precompiled_charsmap: Vec<u8>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Field<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

fn bad(msg: &str) -> Error {
    Error::tokenizer(format!(
        "spm.model is not a valid SentencePiece model: {msg}"
    ))
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| bad("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(bad("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| bad("truncated field"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// Next `(field number, value)`, or `None` at the end of the message.
    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Field::Fixed64
            }
            2 => {
                let n = self.varint()? as usize;
                Field::Bytes(self.take(n)?)
            }
            5 => Field::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            w => return Err(bad(&format!("unsupported wire type {w}"))),
        };
        Ok(Some((key >> 3, field)))
    }
}

fn parse_piece(buf: &[u8]) -> Result<Piece> {
    let mut piece = Piece {
        text: String::new(),
        score: 0.0,
        kind: 1,
    };
    let mut r = Reader::new(buf);
    while let Some((num, field)) = r.next()? {
        match (num, field) {
            (1, Field::Bytes(b)) => {
                piece.text = String::from_utf8(b.to_vec()).map_err(|_| bad("piece is not UTF-8"))?
            }
            (2, Field::Fixed32(bits)) => piece.score = f32::from_bits(bits),
            (3, Field::Varint(k)) => piece.kind = k,
            _ => {}
        }
    }
    Ok(piece)
}

/// Parse `spm.model` bytes: pieces (id order), `trainer_spec.unk_id`,
/// `normalizer_spec.precompiled_charsmap`.
pub fn parse(bytes: &[u8]) -> Result<SpmModel> {
    let mut model = SpmModel::default();
    let mut r = Reader::new(bytes);
    while let Some((num, field)) = r.next()? {
        match (num, field) {
            (1, Field::Bytes(b)) => model.pieces.push(parse_piece(b)?),
            (2, Field::Bytes(b)) => {
                let mut t = Reader::new(b);
                while let Some((n, f)) = t.next()? {
                    if let (40, Field::Varint(v)) = (n, f) {
                        model.unk_id = v as usize;
                    }
                }
            }
            (3, Field::Bytes(b)) => {
                let mut t = Reader::new(b);
                while let Some((n, f)) = t.next()? {
                    if let (2, Field::Bytes(map)) = (n, f) {
                        model.precompiled_charsmap = map.to_vec();
                    }
                }
            }
            _ => {}
        }
    }
    if model.pieces.is_empty() {
        return Err(bad("no pieces"));
    }
    if model.unk_id >= model.pieces.len() {
        return Err(bad("unk_id out of range"));
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_field(num: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn parses_pieces_unk_and_charsmap() {
        let mut piece = bytes_field(1, b"[UNK]");
        piece.push((2 << 3) | 5);
        piece.extend_from_slice(&(-1.5f32).to_le_bytes());
        piece.extend_from_slice(&[3 << 3, 2]);
        let mut model = bytes_field(1, &piece);
        model.extend(bytes_field(2, &[0xc0, 0x02, 0x00])); // field 40 varint 0
        model.extend(bytes_field(3, &bytes_field(2, b"map")));
        let m = parse(&model).unwrap();
        assert_eq!(m.pieces[0].text, "[UNK]");
        assert_eq!(m.pieces[0].score, -1.5);
        assert_eq!(m.pieces[0].kind, 2);
        assert_eq!(m.precompiled_charsmap, b"map");
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(parse(&[0x0a, 0x10, 0x01]).is_err());
        assert!(parse(&[]).is_err());
    }
}
