//! burn-nn layers built from the checkpoint's typed tensors. Parameters are
//! made directly from the checkpoint's values (no random initialisation
//! first: at 0.4 B parameters that would be seconds of wasted work per load).

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData};

use crate::weights::{HostTensor, LinearTensors, NormTensors};

pub(crate) fn upload<const D: usize>(t: &HostTensor, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(t.data.clone(), t.shape.clone()), device)
}

/// What building a module needs besides its tensors.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) eps: f64,
    pub(crate) heads: usize,
    pub(crate) device: &'a Device,
}

impl Ctx<'_> {
    /// A `Linear` from PyTorch's weight (`[out, in]`, stored by burn as
    /// `[in, out]`; int8 is computed in f32 here) and bias.
    pub(crate) fn linear(&self, t: LinearTensors) -> Linear {
        let weight = t.weight.into_f32().transposed();
        Linear {
            weight: Param::from_tensor(upload(&weight, self.device)),
            bias: Some(Param::from_tensor(upload(&t.bias, self.device))),
        }
    }

    /// A `LayerNorm` from γ and β, with the config's epsilon.
    pub(crate) fn layer_norm(&self, t: NormTensors) -> LayerNorm {
        // `init` makes lazy parameters: replaced before they are ever materialised.
        let mut norm = LayerNormConfig::new(t.gamma.shape[0])
            .with_epsilon(self.eps)
            .init(self.device);
        norm.gamma = Param::from_tensor(upload(&t.gamma, self.device));
        norm.beta = Some(Param::from_tensor(upload(&t.beta, self.device)));
        norm
    }
}
