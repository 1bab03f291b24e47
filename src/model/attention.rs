//! DeBERTa-v2/v3 disentangled self-attention (content→content, content→position,
//! position→content) and the relative-position bucket table it indexes with.

use burn::tensor::{activation, Device, Int, Tensor, TensorData};

use crate::config::BackboneConfig;
use crate::model::nn::Linear;

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

/// Position indices for one padded length, ready for `gather`.
pub struct RelativeIndex {
    /// `δ(i - j)` at `[i][j]`, for content→position.
    pub c2p: Tensor<4, Int>,
    /// `δ(j - i)`-transposed: `δ(i - j)` at `[j][i]`, for position→content.
    pub p2c: Tensor<4, Int>,
}

impl RelativeIndex {
    pub fn new(table: &BucketTable, len: usize, device: &Device) -> Self {
        let idx = table.index(len);
        let mut transposed = vec![0i64; len * len];
        for i in 0..len {
            for j in 0..len {
                transposed[j * len + i] = idx[i * len + j];
            }
        }
        let make =
            |v: Vec<i64>| Tensor::<4, Int>::from_data(TensorData::new(v, [1, 1, len, len]), device);
        Self {
            c2p: make(idx),
            p2c: make(transposed),
        }
    }
}

/// One layer's self-attention, with the projections of the (constant) relative
/// embeddings precomputed at load time.
#[derive(Debug, Clone)]
pub struct DisentangledAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    heads: usize,
    /// `Kr^T` per head: `[1, heads, head_dim, 2·span]`.
    pos_key_t: Tensor<4>,
    /// `Qr^T` per head: `[1, heads, head_dim, 2·span]`.
    pos_query_t: Tensor<4>,
    scale: f64,
}

impl DisentangledAttention {
    /// `rel` is the normalised relative-embedding table `[2·span, hidden]`.
    pub fn new(query: Linear, key: Linear, value: Linear, rel: &Tensor<2>, heads: usize) -> Self {
        let [rows, hidden] = rel.dims();
        let d = hidden / heads;
        let per_head_t = |proj: &Linear| {
            proj.forward2(rel.clone())
                .reshape([1, rows, heads, d])
                .swap_dims(1, 2)
                .swap_dims(2, 3)
        };
        Self {
            pos_key_t: per_head_t(&key),
            pos_query_t: per_head_t(&query),
            query,
            key,
            value,
            heads,
            // c2c, c2p and p2c are summed, so the scale covers three terms.
            scale: 1.0 / ((d * 3) as f64).sqrt(),
        }
    }

    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, l, h] = x.dims();
        x.reshape([b, l, self.heads, h / self.heads])
            .swap_dims(1, 2)
    }

    /// `x`: `[batch, len, hidden]`; `mask_bias`: `[batch, 1, 1, len]` (0 or a large negative).
    /// Heads are processed in groups so that no score tensor exceeds
    /// [`crate::model::SCORE_BUDGET`] elements.
    pub fn forward(
        &self,
        x: Tensor<3>,
        mask_bias: Tensor<4>,
        rel_index: &RelativeIndex,
    ) -> Tensor<3> {
        let [b, l, hidden] = x.dims();
        let q = self.split_heads(self.query.forward3(x.clone()));
        let k = self.split_heads(self.key.forward3(x.clone()));
        let v = self.split_heads(self.value.forward3(x));
        let group = (crate::model::SCORE_BUDGET / (b * l * l).max(1)).clamp(1, self.heads);
        let mut contexts = Vec::with_capacity(self.heads.div_ceil(group));
        for start in (0..self.heads).step_by(group) {
            let end = (start + group).min(self.heads);
            let heads = |t: &Tensor<4>| t.clone().slice([0..t.dims()[0], start..end]);
            contexts.push(self.attend(
                heads(&q),
                heads(&k),
                heads(&v),
                heads(&self.pos_key_t),
                heads(&self.pos_query_t),
                mask_bias.clone(),
                rel_index,
            ));
        }
        let ctx = if contexts.len() == 1 {
            contexts.pop().expect("one group")
        } else {
            Tensor::cat(contexts, 1)
        };
        ctx.swap_dims(1, 2).reshape([b, l, hidden])
    }

    /// Attention for a group of heads: `[batch, heads, len, head_dim]` in and out.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
        pos_key_t: Tensor<4>,
        pos_query_t: Tensor<4>,
        mask_bias: Tensor<4>,
        rel_index: &RelativeIndex,
    ) -> Tensor<4> {
        let [b, h, l, _] = q.dims();
        let full = [b, h, l, l];
        let c2c = q.clone().matmul(k.clone().swap_dims(2, 3));
        let c2p = q
            .matmul(pos_key_t)
            .gather(3, rel_index.c2p.clone().expand(full));
        let p2c = k
            .matmul(pos_query_t)
            .gather(3, rel_index.p2c.clone().expand(full))
            .swap_dims(2, 3);
        let scores = (c2c + c2p + p2c) * self.scale + mask_bias;
        activation::softmax(scores, 3).matmul(v)
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
