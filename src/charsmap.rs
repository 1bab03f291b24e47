//! SentencePiece's precompiled charsmap (the normalizer inside `spm.model`
//! and `tokenizer.json`), checked before `tokenizers` reads it. Its reader
//! (`spm_precompiled`) indexes the trie and the replacement strings without
//! bounds checks, and `tokenizers` unwraps a charsmap it cannot decode, so a
//! damaged map would panic (a trap in wasm) on load or on the first text
//! normalized instead of failing to load. Found by fuzzing (`fuzz/findings`).
//!
//! Layout: the trie's size in bytes (u32, little-endian), the trie (a
//! darts-clone double array of u32 units), then the replacement strings,
//! each ended by a NUL byte; a leaf's value is a byte offset into them.

use serde_json::Value;

/// The longest key the normalizer looks up: a grapheme of under 6 bytes, or
/// one character (at most 4).
const MAX_KEY_BYTES: usize = 5;

fn has_leaf(unit: u32) -> bool {
    unit & (1 << 8) != 0
}

fn leaf_value(unit: u32) -> usize {
    (unit & 0x7fff_ffff) as usize
}

/// The byte a unit is reached by (with bit 31 set on leaves, so that a leaf
/// never matches a byte).
fn label(unit: u32) -> usize {
    (unit & 0x8000_00ff) as usize
}

fn offset(unit: u32) -> usize {
    ((unit >> 10) << ((unit & (1 << 9)) >> 6)) as usize
}

/// Check a charsmap: sizes consistent, replacements UTF-8, and every lookup
/// of every key of up to [`MAX_KEY_BYTES`] stays inside the trie and lands
/// on a character boundary of the replacements. Walks each reachable trie
/// node once per depth (at most 255 lookups per node).
pub fn check(map: &[u8]) -> std::result::Result<(), String> {
    let size_bytes: [u8; 4] = map
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or("shorter than its 4-byte trie size")?;
    let trie_bytes = u32::from_le_bytes(size_bytes) as usize / 4 * 4;
    let rest = &map[4..];
    if trie_bytes > rest.len() {
        return Err(format!(
            "its trie of {trie_bytes} bytes is longer than the {} bytes that follow",
            rest.len()
        ));
    }
    let units: Vec<u32> = rest[..trie_bytes]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    let replacements = std::str::from_utf8(&rest[trie_bytes..])
        .map_err(|_| "its replacement strings are not UTF-8".to_string())?;
    let root = units.first().ok_or("its trie is empty")?;
    // Shallowest depth each node was reached at: deeper visits add nothing.
    let mut depth_of = vec![usize::MAX; units.len()];
    let mut stack = vec![(offset(*root), 0usize)];
    while let Some((node, depth)) = stack.pop() {
        if depth == MAX_KEY_BYTES {
            continue;
        }
        for byte in 1..=255usize {
            let at = node ^ byte;
            let unit = *units
                .get(at)
                .ok_or_else(|| format!("a lookup leaves its trie (unit {at})"))?;
            if label(unit) != byte {
                continue;
            }
            let next = at ^ offset(unit);
            if has_leaf(unit) {
                let leaf = *units
                    .get(next)
                    .ok_or_else(|| format!("a leaf lies outside its trie (unit {next})"))?;
                let value = leaf_value(leaf);
                if !replacements.is_char_boundary(value) {
                    return Err(format!(
                        "a replacement starts at byte {value}, not a character of the {} bytes of replacements",
                        replacements.len()
                    ));
                }
            }
            if let Some(seen) = depth_of.get_mut(next) {
                if depth + 1 < *seen {
                    *seen = depth + 1;
                    stack.push((next, depth + 1));
                }
            } else {
                // Reading a node outside the trie is the next lookup's error.
                stack.push((next, depth + 1));
            }
        }
    }
    Ok(())
}

/// Check every `Precompiled` normalizer in a `tokenizer.json` normalizer
/// (nested in sequences or anywhere else): its charsmap must be canonical
/// base64 of a map [`check`] accepts.
pub fn check_normalizer_json(v: &Value) -> std::result::Result<(), String> {
    match v {
        Value::Object(fields) => {
            if fields.get("type").and_then(Value::as_str) == Some("Precompiled") {
                let text = fields
                    .get("precompiled_charsmap")
                    .and_then(Value::as_str)
                    .ok_or("a Precompiled normalizer has no precompiled_charsmap string")?;
                let map =
                    decode_base64(text).ok_or("a precompiled_charsmap is not canonical base64")?;
                check(&map).map_err(|e| format!("precompiled_charsmap: {e}"))?;
            }
            fields.values().try_for_each(check_normalizer_json)
        }
        Value::Array(items) => items.iter().try_for_each(check_normalizer_json),
        _ => Ok(()),
    }
}

/// Standard base64 with padding, strictly: only what every decoder accepts
/// (length a multiple of 4, `=` only at the end, unused bits zero).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let sextet = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let quads = bytes.len() / 4;
    let mut out = Vec::with_capacity(quads * 3);
    for (i, quad) in bytes.chunks_exact(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | sextet(c)?;
        }
        let [_, b0, b1, b2] = (n << (6 * pad)).to_be_bytes();
        let decoded = [b0, b1, b2];
        let (kept, unused) = decoded.split_at(3 - pad);
        if unused.iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(kept);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_decoded_strictly() {
        assert_eq!(decode_base64("TWFu").unwrap(), b"Man");
        assert_eq!(decode_base64("TWE=").unwrap(), b"Ma");
        assert_eq!(decode_base64("TQ==").unwrap(), b"M");
        assert_eq!(decode_base64("").unwrap(), b"");
        for bad in ["TWF", "TR==", "TWF=", "T===", "TQ==TWFu", "TW\nu", "T=Fu"] {
            assert_eq!(decode_base64(bad), None, "{bad:?}");
        }
    }

    /// A map with one rule: "a" becomes "b".
    fn one_rule(value: u32) -> Vec<u8> {
        // The root's offset is 1, so 'a' is looked up at unit 1 ^ 'a' = 96:
        // labelled 'a', with a leaf, offset 1: the leaf is unit 96 ^ 1 = 97.
        let mut units = vec![0u32; 256];
        units[0] = 1 << 10;
        let at = 1 ^ usize::from(b'a');
        units[at] = u32::from(b'a') | (1 << 8) | (1 << 10);
        units[at ^ 1] = 0x8000_0000 | value;
        let mut map = ((units.len() * 4) as u32).to_le_bytes().to_vec();
        for u in units {
            map.extend_from_slice(&u.to_le_bytes());
        }
        map.extend_from_slice("b\0é\0".as_bytes());
        map
    }

    #[test]
    fn a_sound_map_passes_and_damage_is_named() {
        assert_eq!(check(&one_rule(0)), Ok(()));
        assert_eq!(check(&one_rule(2)), Ok(()));
        // Inside "é": tokenizers would slice mid-character.
        assert!(check(&one_rule(3)).unwrap_err().contains("not a character"));
        assert!(check(&one_rule(99))
            .unwrap_err()
            .contains("not a character"));
        let mut short = one_rule(0);
        short.truncate(100);
        assert!(check(&short).unwrap_err().contains("longer than"));
        let mut far_root = one_rule(0);
        far_root[4..8].copy_from_slice(&(300u32 << 10).to_le_bytes());
        assert!(check(&far_root).unwrap_err().contains("leaves its trie"));
        let mut far_leaf = one_rule(0);
        let leaf_unit = 4 + 4 * (1 ^ usize::from(b'a'));
        let unit = u32::from(b'a') | (1 << 8) | (400 << 10);
        far_leaf[leaf_unit..leaf_unit + 4].copy_from_slice(&unit.to_le_bytes());
        assert!(check(&far_leaf).unwrap_err().contains("outside its trie"));
        assert!(check(&[1, 0]).is_err());
        assert!(check(&[0, 0, 0, 0]).unwrap_err().contains("empty"));
    }
}
