//! burn-nn layers built from the checkpoint's typed tensors. Parameters are
//! made directly from the checkpoint's values (no random initialisation
//! first: at 0.4 B parameters that would be seconds of wasted work per load).

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};

use crate::quant::Q8Matrix;
use crate::weights::{HostTensor, LinearTensors, NormTensors, Weight};

/// What building a module needs besides its tensors.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) eps: f64,
    pub(crate) heads: usize,
    pub(crate) device: &'a Device,
    /// What the layers' products compute in: f32, or f16 for f16 weights on
    /// a device with f16 arithmetic ([`compute_dtype`]).
    pub(crate) dtype: FloatDType,
}

/// f16 weights compute in f16 where the device has f16 arithmetic (WebGPU's
/// `shader-f16`, lavapipe, burn's Flex): half the memory and, on a GPU, up to
/// twice the products per second. LayerNorms, softmax and the head stay f32
/// (see [`norm`], the attention and [`super::pairrm`]). Anything else
/// computes in f32.
pub(crate) fn compute_dtype(weights: crate::quant::WeightDtype, device: &Device) -> FloatDType {
    if weights == crate::quant::WeightDtype::F16 && device.supports_dtype(DType::F16) {
        FloatDType::F16
    } else {
        FloatDType::F32
    }
}

/// A LayerNorm computed in f32 whatever `x` is in (f16's 10-bit mantissa
/// would round the variance of 1024 values), its result in `x`'s dtype.
pub(crate) fn norm<const D: usize>(layer_norm: &LayerNorm, x: Tensor<D>) -> Tensor<D> {
    let dtype = FloatDType::from(x.dtype());
    layer_norm.forward(x.cast(FloatDType::F32)).cast(dtype)
}

impl Ctx<'_> {
    /// The same context computing in f32 (the head).
    pub(crate) fn f32(self) -> Self {
        Self {
            dtype: FloatDType::F32,
            ..self
        }
    }

    /// A host tensor on the device, in the products' dtype (taken, not
    /// copied: at PairRM's size a Linear weight is 16 MB of f32).
    pub(crate) fn upload<const D: usize>(&self, t: HostTensor) -> Tensor<D> {
        let data = TensorData::new(t.data, t.shape);
        Tensor::from_data(data, (self.device, DType::from(self.dtype)))
    }

    /// A `Linear` from PyTorch's weight (`[out, in]`, which burn's `Linear`
    /// holds as `[in, out]`) and bias. int8 weights stay int8 on the device
    /// where it can ([`upload_q8`]); elsewhere they are dequantized to f32.
    pub(crate) fn linear(&self, t: LinearTensors) -> Linear {
        let weight = match t.weight {
            Weight::Q8(q) => upload_q8(q, self.device).map_err(Weight::Q8),
            other => Err(other),
        }
        .map_or_else(
            |host| self.upload(host.into_f32().transposed()),
            Tensor::transpose,
        );
        Linear {
            weight: Param::from_tensor(weight),
            bias: Some(Param::from_tensor(self.upload(t.bias))),
        }
    }

    /// A `LayerNorm` from γ and β, with the config's epsilon; f32 (see [`norm`]).
    pub(crate) fn layer_norm(&self, t: NormTensors) -> LayerNorm {
        // `init` makes lazy parameters: replaced before they are ever materialised.
        let mut norm = LayerNormConfig::new(t.gamma.shape[0])
            .with_epsilon(self.eps)
            .init(self.device);
        norm.gamma = Param::from_tensor(self.f32().upload(t.gamma));
        norm.beta = Some(Param::from_tensor(self.f32().upload(t.beta)));
        norm
    }
}

/// The largest block of burn's block-quantized tensors that fits a row of
/// `cols` values a whole number of times: a power of two from 16 to 128 (block
/// sizes are bytes, and the GPU kernels read whole lines of them), or `None`.
pub(crate) fn q8_block(cols: usize) -> Option<usize> {
    [128, 64, 32, 16].into_iter().find(|b| cols % b == 0)
}

/// burn's symmetric int8 scheme, packed four to a `u32` (WebGPU has no 8-bit
/// storage), one f32 scale per `block` values along a row.
fn q8_scheme(block: usize) -> QuantScheme {
    QuantScheme::default()
        .with_value(QuantValue::Q8S)
        .with_store(QuantStore::PackedU32(0))
        .per_block([block as u8], ScaleDtype::F32)
}

/// An int8 matrix (`[rows, cols]`, one scale per row) as a block-quantized
/// tensor on `device`: each row's scale repeated over its blocks, so the
/// values the device multiplies by are exactly ours, at a quarter of f32's
/// memory (the products dequantize inside the matmul kernel). The matrix is
/// handed back where the device has no such tensors or the row length fits
/// no block.
pub(crate) fn upload_q8(q: Q8Matrix, device: &Device) -> Result<Tensor<2>, Q8Matrix> {
    let Some(block) = q8_block(q.cols) else {
        return Err(q);
    };
    let scheme = q8_scheme(block);
    if !device.supports_dtype(DType::QFloat(scheme)) {
        return Err(q);
    }
    let per_row = q.cols / block;
    let scales: Vec<f32> = q
        .scales
        .iter()
        .flat_map(|&s| std::iter::repeat_n(s, per_row))
        .collect();
    let data = TensorData::quantized(q.values, [q.rows, q.cols], scheme, &scales, None);
    Ok(Tensor::from_data(data, device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_blocks_divide_rows() {
        assert_eq!(q8_block(1024), Some(128));
        assert_eq!(q8_block(4096), Some(128));
        assert_eq!(q8_block(48), Some(16));
        assert_eq!(q8_block(96), Some(32));
        assert_eq!(q8_block(200), None);
    }

    fn matrix(rows: usize, cols: usize) -> Q8Matrix {
        let mut random = crate::random::SplitMix64::new(3);
        Q8Matrix {
            rows,
            cols,
            values: (0..rows * cols)
                .map(|_| (random.below(255) as i32 - 127) as i8)
                .collect(),
            scales: (0..rows).map(|r| 1e-3 * (r + 1) as f32).collect(),
        }
    }

    /// On wgpu an int8 matrix is held block-quantized and stands for exactly
    /// the values the CPU engine multiplies by.
    #[cfg(feature = "gpu")]
    #[test]
    fn int8_weights_stay_int8_on_wgpu() {
        let device = crate::device::wgpu().expect("a wgpu adapter (mesa-vulkan-drivers)");
        let device = device.burn().unwrap();
        let q = matrix(8, 96);
        let want = Weight::Q8(q.clone()).into_f32().data;
        let on_device = upload_q8(q, device).expect("wgpu holds block-quantized int8");
        assert!(matches!(on_device.dtype(), DType::QFloat(_)));
        let got = on_device
            .dequantize()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(got, want);
    }

    /// A row length no block divides, and burn's Flex CPU backend (which
    /// stores such tensors but does not compute with them), get f32.
    #[cfg(feature = "flex")]
    #[test]
    fn int8_weights_are_handed_back_where_they_cannot_stay_int8() {
        let device = Device::flex();
        assert!(upload_q8(matrix(2, 96), &device).is_err());
        assert!(upload_q8(matrix(2, 200), &device).is_err());
    }
}
