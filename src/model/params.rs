//! burn-nn layers built from checked host tensors. Parameters are made
//! directly from the checkpoint's values (no random initialisation first:
//! at 0.4 B parameters that would be seconds of wasted work per load).

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData};

use crate::weights::{HostTensor, PairRmWeights, Weight};

fn upload<const D: usize>(t: &HostTensor, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(t.data.clone(), t.shape.clone()), device)
}

/// One part's tensors (our names under `prefix`, e.g. `layer.3.`), taken out
/// of the weights as each module is built.
pub(crate) struct PartWeights<'a> {
    pub(crate) weights: &'a mut PairRmWeights,
    pub(crate) prefix: String,
    pub(crate) eps: f64,
    pub(crate) device: &'a Device,
}

impl PartWeights<'_> {
    pub(crate) fn take(&mut self, name: &str) -> HostTensor {
        self.weights.take(&format!("{}{name}", self.prefix))
    }

    /// As [`Self::take`], keeping an int8 tensor int8.
    pub(crate) fn take_weight(&mut self, name: &str) -> Weight {
        self.weights.take_weight(&format!("{}{name}", self.prefix))
    }

    pub(crate) fn tensor<const D: usize>(&mut self, name: &str) -> Tensor<D> {
        let t = self.take(name);
        upload(&t, self.device)
    }

    /// A `Linear` from PyTorch's `name.weight` (`[out, in]`, stored by burn as
    /// `[in, out]`) and `name.bias`.
    pub(crate) fn linear(&mut self, name: &str) -> Linear {
        let weight = self.take(&format!("{name}.weight")).transposed();
        let bias = self.take(&format!("{name}.bias"));
        Linear {
            weight: Param::from_tensor(upload(&weight, self.device)),
            bias: Some(Param::from_tensor(upload(&bias, self.device))),
        }
    }

    /// A `LayerNorm` from `name.weight` (γ) and `name.bias` (β), with the config's epsilon.
    pub(crate) fn layer_norm(&mut self, name: &str) -> LayerNorm {
        let gamma = self.take(&format!("{name}.weight"));
        let beta = self.take(&format!("{name}.bias"));
        // `init` makes lazy parameters: replaced before they are ever materialised.
        let mut norm = LayerNormConfig::new(gamma.shape[0])
            .with_epsilon(self.eps)
            .init(self.device);
        norm.gamma = Param::from_tensor(upload(&gamma, self.device));
        norm.beta = Some(Param::from_tensor(upload(&beta, self.device)));
        norm
    }
}
