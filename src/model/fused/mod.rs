//! The fused CPU engine: the same network as the burn modules (embeddings →
//! DeBERTa-v3 layers → PairRM head), computed on host f32 buffers.
//!
//! Why a second implementation: on the CPU a forward pass through generic
//! tensor ops spends most of its time outside the matrix products (one pass
//! and one allocation per elementwise op, gathers over `[batch, heads, L, L]`
//! index tensors, padding). Here
//! - each sequence keeps its own length (no padding, so no masks);
//! - Q, K and V come from one product, biases and residuals are folded into
//!   the products' outputs, and bias + GELU and bias + LayerNorm are one pass;
//! - attention runs per (sequence, head) in parallel, in query tiles small
//!   enough to stay in cache, and reads the relative positions `δ(i - j)`
//!   from one run of `2L - 1` values instead of an `[L, L]` index tensor;
//! - activation buffers are kept between forward passes, so a long ranking
//!   does not page-fault its activations back in every call.
//!
//! Parity with the reference is tested on every fixture, as for burn.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use crate::config::BackboneConfig;
use crate::model::kernels::{self, background, matmul, Background, Threads, View};

mod weights;

use crate::model::relative::BucketTable;
use crate::segments::PairInput;
use crate::weights::{HeadTensors, HostTensor, LayerTensors, NormTensors, Weight};
pub use weights::{FusedEmbeddings, FusedHead, FusedLayer};

/// The fused engine's side of [`crate::model::ModelBuilder`].
pub(crate) struct Builder {
    config: BackboneConfig,
    embeddings: Option<FusedEmbeddings>,
    /// The normalised relative-embedding table, `[2·span, hidden]`: each
    /// layer's position projections are computed from it at load.
    rel: Arc<Vec<f32>>,
    layers: Vec<FusedLayer>,
    /// The layer added last, built on the thread pool while the caller reads
    /// the next group (one at a time: host tensors of two layers at most).
    building: Option<Background<FusedLayer>>,
    head: Option<FusedHead>,
}

impl Builder {
    pub(crate) fn new(config: &BackboneConfig) -> Self {
        Self {
            config: config.clone(),
            embeddings: None,
            rel: Arc::default(),
            layers: Vec::new(),
            building: None,
            head: None,
        }
    }

    /// Wait for the layer under way, if any.
    fn join_building(&mut self) {
        if let Some(layer) = self.building.take() {
            self.layers.push(layer.join());
        }
    }

    pub(crate) fn add_globals(&mut self, table: Weight, norm: NormTensors, rel: HostTensor) {
        let eps = self.config.layer_norm_eps;
        self.embeddings = Some(FusedEmbeddings::load(table, norm, eps));
        self.rel = Arc::new(rel.data);
    }

    /// Starts building the layer; it is taken in by the next call.
    pub(crate) fn add_layer(&mut self, layer: LayerTensors) {
        self.join_building();
        let (config, rel) = (self.config.clone(), Arc::clone(&self.rel));
        self.building = Some(background(move || FusedLayer::load(layer, &config, &rel)));
    }

    pub(crate) fn add_head(&mut self, head: HeadTensors) {
        self.join_building();
        self.head = Some(FusedHead::load(head));
    }

    /// The model, or None before the globals or the head were added.
    pub(crate) fn finish(mut self, buckets: BucketTable) -> Option<FusedModel> {
        self.join_building();
        Some(FusedModel::new(
            &self.config,
            self.embeddings?,
            self.layers,
            self.head?,
            buckets,
        ))
    }
}

/// Activations of one forward pass, kept for the next.
#[derive(Default)]
struct Workspace {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    inner: Vec<f32>,
}

fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

/// Per-thread attention scratch (score tile, position products).
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    c2p: Vec<f32>,
    p2c: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// One sequence of a batch: where its rows start in the activations, its
/// length, and `δ(r)` for its relative distances ([`BucketTable::deltas`]).
struct Sequence {
    start: usize,
    len: usize,
    deltas: Vec<usize>,
}

/// Score rows computed at once: a tile of about 256 KiB stays in cache.
const TILE_ELEMENTS: usize = 64 * 1024;

pub struct FusedModel {
    embeddings: FusedEmbeddings,
    layers: Vec<FusedLayer>,
    head: FusedHead,
    buckets: BucketTable,
    heads: usize,
    hidden: usize,
    workspace: Mutex<Workspace>,
}

impl std::fmt::Debug for FusedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusedModel")
            .field("layers", &self.layers.len())
            .field("hidden", &self.hidden)
            .finish()
    }
}

impl FusedModel {
    pub fn new(
        config: &BackboneConfig,
        embeddings: FusedEmbeddings,
        layers: Vec<FusedLayer>,
        head: FusedHead,
        buckets: BucketTable,
    ) -> Self {
        Self {
            embeddings,
            layers,
            head,
            buckets,
            heads: config.num_attention_heads,
            hidden: config.hidden_size,
            workspace: Mutex::new(Workspace::default()),
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.embeddings.rows()
    }

    /// Bytes of weights the engine holds (the embedding table, the layers'
    /// products and their precomputed position projections, the head).
    pub fn weight_bytes(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                [&l.qkv, &l.attn_out, &l.ffn_in, &l.ffn_out]
                    .iter()
                    .map(|d| d.bytes())
                    .sum::<usize>()
                    + 4 * (l.pos_key.len() + l.pos_query.len())
            })
            .sum();
        self.embeddings.bytes() + layers + self.head.dense.bytes() + self.head.out.bytes()
    }

    /// Sequences of these lengths laid out one after another, and the rows in all.
    fn sequences(&self, lens: impl Iterator<Item = usize>) -> (Vec<Sequence>, usize) {
        let mut tokens = 0;
        let seqs = lens
            .map(|len| {
                let start = tokens;
                tokens += len;
                let deltas = self.buckets.deltas(len);
                Sequence { start, len, deltas }
            })
            .collect();
        (seqs, tokens)
    }

    /// `logit(A, B)` per comparison (ids already checked against the vocabulary).
    pub fn forward(&self, batch: &[PairInput]) -> Vec<f32> {
        let h = self.hidden;
        let (seqs, tokens) = self.sequences(batch.iter().map(|p| p.ids.len()));
        let mut guard = self.workspace.lock().unwrap_or_else(|e| e.into_inner());
        let ws = &mut *guard;
        let x = sized(&mut ws.x, tokens * h);
        for (row, &id) in x.chunks_exact_mut(h).zip(batch.iter().flat_map(|p| &p.ids)) {
            self.embeddings.lookup(id as usize, row);
        }
        self.embeddings.norm.apply(x, &[]);
        for layer in &self.layers {
            self.layer(layer, ws, tokens, &seqs);
        }
        let x = &ws.x;
        batch
            .iter()
            .zip(seqs.iter().map(|q| q.start))
            .map(|(p, s)| {
                let row = |m: usize| &x[(s + p.markers[m]) * h..(s + p.markers[m] + 1) * h];
                self.head.score(row(0), row(1)) - self.head.score(row(0), row(2))
            })
            .collect()
    }

    /// Layer `i` alone on hidden states `x` (`[Σ lens, hidden]`, sequences
    /// one after another): the cross-engine test compares layer by layer.
    #[cfg(test)]
    pub(crate) fn forward_layer(&self, i: usize, x: &[f32], lens: &[usize]) -> Vec<f32> {
        let (seqs, tokens) = self.sequences(lens.iter().copied());
        let mut ws = Workspace {
            x: x.to_vec(),
            ..Workspace::default()
        };
        self.layer(&self.layers[i], &mut ws, tokens, &seqs);
        ws.x.truncate(tokens * self.hidden);
        ws.x
    }

    fn layer(&self, layer: &FusedLayer, ws: &mut Workspace, tokens: usize, seqs: &[Sequence]) {
        let h = self.hidden;
        let x = &mut ws.x[..tokens * h];
        let qkv = sized(&mut ws.qkv, tokens * 3 * h);
        layer.qkv.product(x, tokens, qkv, false);
        let bias = &layer.qkv.b;
        kernels::for_rows(qkv, 3 * h, |rows| kernels::add_bias(rows, bias));

        // Attention per (sequence, head); each writes its own `[len, head_dim]` context.
        let d = h / self.heads;
        let qkv: &[f32] = qkv;
        let contexts = kernels::map_indexed(seqs.len() * self.heads, |item| {
            let (seq, head) = (item / self.heads, item % self.heads);
            self.attend(layer, qkv, &seqs[seq], head)
        });
        let ctx = sized(&mut ws.ctx, tokens * h);
        for (item, c) in contexts.iter().enumerate() {
            let (seq, head) = (&seqs[item / self.heads], item % self.heads);
            for i in 0..seq.len {
                ctx[(seq.start + i) * h + head * d..][..d].copy_from_slice(&c[i * d..(i + 1) * d]);
            }
        }

        // x = LayerNorm(x + ctx·Wo + bo)
        layer.attn_out.product(ctx, tokens, x, true);
        layer.attn_ln.apply(x, &layer.attn_out.b);

        // x = LayerNorm(x + gelu(x·W1 + b1)·W2 + b2)
        let inner = sized(&mut ws.inner, tokens * layer.ffn_in.out);
        layer.ffn_in.product(x, tokens, inner, false);
        let b1 = &layer.ffn_in.b;
        kernels::for_rows(inner, b1.len(), |rows| kernels::bias_gelu(rows, b1));
        layer.ffn_out.product(inner, tokens, x, true);
        layer.ffn_ln.apply(x, &layer.ffn_out.b);
    }

    /// One head of one sequence: `softmax((c2c + c2p + p2c)·scale)·V`, `[len, head_dim]`.
    fn attend(&self, layer: &FusedLayer, qkv: &[f32], seq: &Sequence, head: usize) -> Vec<f32> {
        let (start, len, deltas) = (seq.start, seq.len, &seq.deltas);
        let h = self.hidden;
        let d = h / self.heads;
        let stride = 3 * h;
        let base = start * stride + head * d;
        let k = View::new(qkv, base + h, len, d, stride);
        let v = View::new(qkv, base + 2 * h, len, d, stride);
        // The span of relative-embedding rows this length uses.
        let (lo, hi) = (deltas[0], deltas[deltas.len() - 1]);
        let width = hi - lo + 1;
        let pos_key = View::new(&layer.pos_key, lo * h + head * d, width, d, h);
        let pos_query = View::new(&layer.pos_query, lo * h + head * d, width, d, h);
        let scale = 1.0 / ((d * 3) as f32).sqrt();
        let tile = (TILE_ELEMENTS / len).clamp(1, len);
        let mut out = vec![0.0f32; len * d];
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            // p2c[j][δ - lo] = k_j · Qr_δ, for every key j.
            let p2c = sized(&mut s.p2c, len * width);
            matmul(p2c, width, k, pos_query.t(), false, Threads::One);
            for i0 in (0..len).step_by(tile) {
                let rows = tile.min(len - i0);
                let q_tile = View::new(qkv, base + i0 * stride, rows, d, stride);
                let scores = sized(&mut s.scores, rows * len);
                matmul(scores, len, q_tile, k.t(), false, Threads::One);
                let c2p = sized(&mut s.c2p, rows * width);
                matmul(c2p, width, q_tile, pos_key.t(), false, Threads::One);
                for r in 0..rows {
                    let i = i0 + r;
                    let row = &mut scores[r * len..(r + 1) * len];
                    let c2p_row = &c2p[r * width..(r + 1) * width];
                    // δ(i - j) sits at deltas[i - j + len - 1]: j runs that array backwards.
                    for (j, s) in row.iter_mut().enumerate() {
                        let delta = deltas[i + len - 1 - j] - lo;
                        *s = (*s + c2p_row[delta] + p2c[j * width + delta]) * scale;
                    }
                }
                kernels::softmax_rows(scores, len);
                let probs = View::new(scores, 0, rows, len, len);
                matmul(&mut out[i0 * d..], d, probs, v, false, Threads::One);
            }
        });
        out
    }
}
