//! PairRM's head: pool the hidden states at the three marker positions and
//! score each candidate against the source.

use burn::tensor::{activation, Device, Int, Tensor, TensorData};

use crate::model::nn::Linear;

#[derive(Debug, Clone)]
pub struct PairRmHead {
    dense: Linear,
    out: Linear,
}

impl PairRmHead {
    pub fn new(dense: Linear, out: Linear) -> Self {
        Self { dense, out }
    }

    /// `hidden`: `[batch, len, h]`; `markers[k]`: positions of the source,
    /// candidate-1 and candidate-2 markers in row `k`.
    /// Returns `logit(A, B) = s_a − s_b` (mean over tasks) per row, `[batch]`.
    pub fn forward(&self, hidden: Tensor<3>, markers: &[[usize; 3]], device: &Device) -> Tensor<1> {
        let [b, l, h] = hidden.dims();
        let flat = hidden.reshape([b * l, h]);
        let rows = |which: usize| {
            let idx: Vec<i64> = markers
                .iter()
                .enumerate()
                .map(|(k, m)| (k * l + m[which]) as i64)
                .collect();
            flat.clone().select(
                0,
                Tensor::<1, Int>::from_data(TensorData::new(idx, [b]), device),
            )
        };
        let (source, a, bb) = (rows(0), rows(1), rows(2));
        let score = |cand: Tensor<2>| {
            self.out.forward2(activation::tanh(
                self.dense
                    .forward2(Tensor::cat(vec![source.clone(), cand], 1)),
            ))
        };
        (score(a) - score(bb)).mean_dim(1).reshape([b])
    }
}
