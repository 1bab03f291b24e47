//! Relative positions, backend-free: HF's log buckets and the table of
//! `δ(i - j)` (the row of the relative-embedding table a query/key pair uses).
//! transformers v4.35.2 `modeling_deberta_v2.py` L549–L591
//! (`make_log_bucket_position`, `build_relative_position`).

use crate::config::BackboneConfig;
use crate::model::kernels;
use crate::weights::{HostTensor, NormTensors};

/// The relative-embedding table after the encoder's LayerNorm
/// (`get_rel_embedding` with `norm_rel_ebd: layer_norm`), `[2·span, hidden]`.
/// It depends only on weights, so it is computed once at load, on the host,
/// for either engine; each layer then projects it by its own query and key
/// weights (on the engine's device).
pub fn normalized_table(rel: HostTensor, norm: &NormTensors, eps: f64) -> HostTensor {
    let mut rel = rel;
    let (gamma, beta) = (&norm.gamma.data, &norm.beta.data);
    kernels::for_rows(&mut rel.data, gamma.len(), |rows| {
        kernels::bias_layer_norm(rows, &[], gamma, beta, eps as f32)
    });
    rel
}

/// HF's `make_log_bucket_position` for one relative distance `r = i - j`,
/// computed in f32 exactly as the reference does so that bucket edges agree.
pub fn log_bucket(r: i64, bucket_size: usize, max_position: usize) -> i64 {
    let mid = (bucket_size / 2) as i64;
    let abs = if r < mid && r > -mid {
        mid - 1
    } else {
        r.abs()
    };
    if abs <= mid {
        return r;
    }
    let ratio = (abs as f32) / (mid as f32);
    let denom = (((max_position - 1) as f64 / mid as f64) as f32).ln();
    let log_pos = (ratio.ln() / denom * (mid - 1) as f32).ceil() + mid as f32;
    log_pos as i64 * r.signum()
}

/// `δ(r)` for every relative distance a sequence of up to `max_len` tokens has:
/// the row of the relative-embedding table that distance `r = i - j` uses.
/// Built once per model; the per-length index is a lookup.
#[derive(Debug, Clone)]
pub struct BucketTable {
    span: i64,
    max_len: usize,
    /// `index[r + max_len - 1]` for `r` in `-(max_len-1) ..= max_len-1`.
    index: Vec<i64>,
    buckets: usize,
    max_position: usize,
}

impl BucketTable {
    pub fn new(config: &BackboneConfig, max_len: usize) -> Self {
        let mut table = Self {
            span: config.attention_span() as i64,
            max_len: 0,
            index: Vec::new(),
            buckets: config.position_buckets,
            max_position: config.max_relative_positions,
        };
        table.index = (-(max_len as i64 - 1)..max_len as i64)
            .map(|r| table.delta(r))
            .collect();
        table.max_len = max_len;
        table
    }

    fn delta(&self, r: i64) -> i64 {
        let bucket = if self.buckets > 0 && self.max_position > 0 {
            log_bucket(r, self.buckets, self.max_position)
        } else {
            r
        };
        (bucket + self.span).clamp(0, 2 * self.span - 1)
    }

    /// `δ(r)` for `r = -(len-1) ..= len-1`, at index `r + len - 1`: the whole
    /// `[len, len]` table is this run read backwards from row `i`'s offset.
    pub fn deltas(&self, len: usize) -> Vec<usize> {
        let lo = -(len as i64 - 1);
        (lo..len as i64)
            .map(|r| {
                (if len <= self.max_len {
                    self.index[(r + self.max_len as i64 - 1) as usize]
                } else {
                    self.delta(r)
                }) as usize
            })
            .collect()
    }

    /// Row-major `[len, len]` table of `δ(i - j)`.
    pub fn index(&self, len: usize) -> Vec<i64> {
        let deltas = self.deltas(len);
        (0..len)
            .flat_map(|i| (0..len).map(move |j| i + len - 1 - j))
            .map(|k| deltas[k] as i64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buckets_match_the_reference_formula() {
        // Inside the window distances are kept; beyond it they grow logarithmically.
        for r in -128..=128 {
            assert_eq!(log_bucket(r, 256, 512), r);
        }
        assert_eq!(log_bucket(129, 256, 512), 129);
        assert_eq!(log_bucket(-129, 256, 512), -129);
        // ceil(ln(200/128) / ln(511/128) * 127) + 128 = 169
        assert_eq!(log_bucket(200, 256, 512), 169);
        assert_eq!(log_bucket(-200, 256, 512), -169);
        assert_eq!(log_bucket(511, 256, 512), 255);
    }

    proptest::proptest! {
        /// Any bucket count and span: buckets are odd in `r` and grow with
        /// it; the table's rows stay inside the relative-embedding table,
        /// `δ(0)` is its middle, and a table read past its precomputed length
        /// (computed directly) agrees with a longer one.
        #[test]
        fn the_bucket_table_is_monotone_and_inside_the_embeddings(
            half_buckets in 2usize..64,
            extra_positions in 1usize..600,
            len in 1usize..300,
            precomputed in 1usize..300,
        ) {
            let buckets = 2 * half_buckets;
            let max_position = half_buckets + 1 + extra_positions;
            let mut previous = i64::MIN;
            for r in -(len as i64)..=len as i64 {
                let b = log_bucket(r, buckets, max_position);
                proptest::prop_assert_eq!(log_bucket(-r, buckets, max_position), -b);
                proptest::prop_assert!(b >= previous, "bucket({r}) = {b} < {previous}");
                previous = b;
            }
            let mut cfg = BackboneConfig::deberta_v3_large();
            cfg.position_buckets = buckets;
            cfg.max_relative_positions = max_position;
            let span = cfg.attention_span();
            let table = BucketTable::new(&cfg, precomputed);
            let idx = table.index(len);
            proptest::prop_assert!(idx.iter().all(|&d| (0..2 * span as i64).contains(&d)));
            proptest::prop_assert_eq!(idx[0], span as i64);
            proptest::prop_assert_eq!(idx, BucketTable::new(&cfg, len.max(precomputed)).index(len));
        }
    }

    #[test]
    fn index_is_clamped_into_the_table() {
        let mut cfg = BackboneConfig::deberta_v3_large();
        cfg.position_buckets = 8;
        cfg.max_relative_positions = 16;
        let table = BucketTable::new(&cfg, 40);
        let idx = table.index(40);
        assert!(idx.iter().all(|&d| (0..16).contains(&d)));
        assert_eq!(idx[0], 8); // r = 0 → span
        assert_eq!(table.index(50)[0], 8); // beyond the precomputed table, computed directly
                                           // A longer table agrees with a shorter one where both are defined.
        let long = BucketTable::new(&cfg, 60).index(40);
        assert_eq!(long, idx);
    }
}
