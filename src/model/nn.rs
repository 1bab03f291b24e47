//! The two layer kinds DeBERTa needs, holding device tensors built from host weights.

use burn::tensor::{Device, Tensor, TensorData};

use crate::weights::HostTensor;

pub fn upload<const D: usize>(t: &HostTensor, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(t.data.clone(), t.shape.clone()), device)
}

/// `y = x · W + b`, with `W` stored `[in, out]`.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor<2>,
    bias: Tensor<1>,
}

impl Linear {
    /// From PyTorch's `[out, in]` weight and `[out]` bias.
    pub fn from_torch(weight: &HostTensor, bias: &HostTensor, device: &Device) -> Self {
        Self {
            weight: upload(&weight.transposed(), device),
            bias: upload(bias, device),
        }
    }

    /// Applies to the last dim of a `[rows, in]` matrix.
    pub fn forward2(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.clone()) + self.bias.clone().unsqueeze::<2>()
    }

    /// Applies to the last dim of a `[batch, len, in]` tensor.
    pub fn forward3(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, l, h] = x.dims();
        let out = self.forward2(x.reshape([b * l, h]));
        let width = out.dims()[1];
        out.reshape([b, l, width])
    }
}

/// LayerNorm over the last dim, in f32 with the config's epsilon.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
}

impl LayerNorm {
    pub fn new(gamma: &HostTensor, beta: &HostTensor, eps: f64, device: &Device) -> Self {
        Self {
            gamma: upload(gamma, device),
            beta: upload(beta, device),
            eps,
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let mean = x.clone().mean_dim(D - 1);
        let centered = x - mean;
        let var = centered.clone().square().mean_dim(D - 1);
        let normed = centered / (var + self.eps).sqrt();
        normed * self.gamma.clone().unsqueeze::<D>() + self.beta.clone().unsqueeze::<D>()
    }
}
