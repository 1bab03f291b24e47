//! LLM-Blender's `DebertaV2PairRM` (`llm_blender/pair_ranker/pairrm.py`,
//! L11–L100): the DeBERTa model, then the head scores the hidden states at the
//! source, candidate-1 and candidate-2 markers.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{activation, Device, FloatDType, Int, Tensor, TensorData};

use super::encoder::DebertaV2Model;
use super::params::Ctx;
use crate::model::relative::BucketTable;
use crate::segments::PairInput;
use crate::weights::HeadTensors;

/// `head_layer`: `Sequential(Dropout, Linear(2H, H), Tanh, Dropout, Linear(H, n_tasks))`;
/// dropout is off at inference.
#[derive(Module, Debug)]
pub struct PairRmHead {
    pub dense: Linear,
    pub out: Linear,
}

impl PairRmHead {
    pub(crate) fn load(h: HeadTensors, ctx: Ctx) -> Self {
        Self {
            dense: ctx.linear(h.dense),
            out: ctx.linear(h.out),
        }
    }

    /// `[rows, 2H]` (source and candidate side by side) → `[rows, n_tasks]`,
    /// in f32 whatever the layers computed in: a logit is a difference of
    /// two scores, and f16 would round each by more than the difference's
    /// bound.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = x.cast(FloatDType::F32);
        self.out.forward(activation::tanh(self.dense.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct DebertaV2PairRm {
    pub pretrained_model: DebertaV2Model,
    pub head_layer: PairRmHead,
}

impl DebertaV2PairRm {
    /// `logit(A, B) = s_a − s_b` (mean over tasks) per comparison, `[batch]`.
    /// Rows are padded with `pad_id` to the longest.
    pub fn forward(
        &self,
        batch: &[PairInput],
        pad_id: u32,
        buckets: &BucketTable,
        device: &Device,
    ) -> Tensor<1> {
        let len = batch.iter().map(|p| p.ids.len()).max().unwrap_or(0);
        let lengths: Vec<usize> = batch.iter().map(|p| p.ids.len()).collect();
        let ids: Vec<u32> = batch
            .iter()
            .flat_map(|p| {
                p.ids
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(pad_id, len - p.ids.len()))
            })
            .collect();
        let hidden = self
            .pretrained_model
            .forward(&ids, &lengths, len, buckets, device);
        let [b, l, h] = hidden.dims();
        let flat = hidden.reshape([b * l, h]);
        // The hidden states at each row's marker `which` (0 source, 1 and 2 candidates).
        let pooled = |which: usize| {
            let idx: Vec<i64> = batch
                .iter()
                .enumerate()
                .map(|(k, p)| (k * l + p.markers[which]) as i64)
                .collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [b]), device);
            flat.clone().select(0, idx)
        };
        let (source, a, bb) = (pooled(0), pooled(1), pooled(2));
        let score = |cand: Tensor<2>| {
            self.head_layer
                .forward(Tensor::cat(vec![source.clone(), cand], 1))
        };
        (score(a) - score(bb)).mean_dim(1).reshape([b])
    }
}
