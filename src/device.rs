//! Choosing where the forward pass runs: the fused CPU engine on host
//! memory, or burn's tensor ops on a burn device (wgpu: Vulkan/Metal/DX12
//! natively, WebGPU in a browser; burn's Flex CPU backend with the `flex`
//! feature).

use crate::error::{Error, Result};
use crate::model::Engine;

/// Which device the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Wgpu,
    /// wgpu when an adapter can be created, else the CPU.
    Auto,
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "wgpu" | "webgpu" | "gpu" => Ok(Self::Wgpu),
            "auto" => Ok(Self::Auto),
            other => Err(Error::input(format!(
                "unknown device {other:?} (expected cpu, wgpu or auto)"
            ))),
        }
    }
}

/// Where a model computes. The variant is the engine ([`Device::engine`]):
/// the choice is made once, where the device is made, and a build without
/// burn (the threaded browser build) has only [`Device::Cpu`]. Which variants
/// exist depends on the build's features, so a `match` needs a `_` arm.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Device {
    /// The fused CPU engine ([`crate::model::fused`]) on host memory: native
    /// builds and the browser's CPU fallback.
    Cpu,
    /// burn's tensor ops ([`crate::model::tensors`]) on wgpu: Vulkan, Metal
    /// or DX12 natively, WebGPU in a browser (`device::wgpu()` makes it natively).
    #[cfg(feature = "gpu")]
    Wgpu(burn::tensor::Device),
    /// burn's tensor ops on burn's Flex CPU backend: slower than
    /// [`Device::Cpu`], and an independent implementation of the same
    /// network (the tests' oracle; the bench's `cpu-burn`).
    #[cfg(feature = "flex")]
    BurnCpu(burn::tensor::Device),
}

impl Device {
    /// The engine this device computes with.
    pub fn engine(&self) -> Engine {
        match self {
            Self::Cpu => Engine::FusedCpu,
            #[cfg(feature = "gpu")]
            Self::Wgpu(_) => Engine::Tensors,
            #[cfg(feature = "flex")]
            Self::BurnCpu(_) => Engine::Tensors,
        }
    }

    /// The burn device of the tensors engine (`None`: the fused engine).
    #[cfg(feature = "tensors")]
    pub fn burn(&self) -> Option<&burn::tensor::Device> {
        match self {
            Self::Cpu => None,
            #[cfg(feature = "gpu")]
            Self::Wgpu(d) => Some(d),
            #[cfg(feature = "flex")]
            Self::BurnCpu(d) => Some(d),
        }
    }

    /// Whether this is a GPU (whose buffers are bounded, whose work is queued).
    pub fn is_gpu(&self) -> bool {
        #[cfg(feature = "gpu")]
        if let Self::Wgpu(_) = self {
            return true;
        }
        false
    }

    /// Bytes in live tensors on a burn device (what its allocator reports:
    /// the weights, once a forward pass has returned); `None` for the fused
    /// engine, whose weights are ordinary host memory.
    pub fn bytes_in_use(&self) -> Option<u64> {
        #[cfg(feature = "tensors")]
        if let Some(d) = self.burn() {
            return d.memory_pool_usage().map(|u| u.bytes_in_use);
        }
        None
    }

    /// burn's Flex CPU backend ([`Device::BurnCpu`]).
    #[cfg(feature = "flex")]
    pub fn burn_cpu() -> Self {
        Self::BurnCpu(burn::tensor::Device::flex())
    }
}

/// The CPU device: the fused engine.
pub fn cpu() -> Device {
    Device::Cpu
}

/// burn's tensor ops on its Flex CPU backend, where the build has them
/// (feature `flex`); an error otherwise, as `wgpu()` is without `gpu`.
#[cfg(feature = "flex")]
pub fn burn_cpu() -> Result<Device> {
    Ok(Device::burn_cpu())
}

#[cfg(not(feature = "flex"))]
pub fn burn_cpu() -> Result<Device> {
    Err(Error::Device(crate::error::DeviceError::Unavailable(
        "built without the `flex` feature (no burn CPU backend)".into(),
    )))
}

/// Initialise burn's wgpu runtime once and return its device; later calls
/// reuse it (the runtime cannot be initialised twice). Native only: in a
/// browser wgpu initialises asynchronously (the wasm crate awaits it).
#[cfg(all(not(target_arch = "wasm32"), feature = "gpu"))]
pub fn wgpu() -> Result<Device> {
    use std::sync::OnceLock;
    type BurnDevice = burn::tensor::Device;
    static WGPU: OnceLock<std::result::Result<BurnDevice, String>> = OnceLock::new();
    WGPU.get_or_init(|| {
        BurnDevice::wgpu_options()
            .init()
            .map_err(|e| format!("{e}"))
    })
    .clone()
    .map(Device::Wgpu)
    .map_err(|e| {
        Error::Device(crate::error::DeviceError::Unavailable(format!(
            "no wgpu adapter: {e}"
        )))
    })
}

#[cfg(all(not(target_arch = "wasm32"), not(feature = "gpu")))]
pub fn wgpu() -> Result<Device> {
    Err(Error::Device(crate::error::DeviceError::Unavailable(
        "built without the `gpu` feature (no wgpu)".into(),
    )))
}

/// Resolve a choice natively; returns the device and its name ("cpu" or "wgpu").
#[cfg(not(target_arch = "wasm32"))]
pub fn select(choice: DeviceChoice) -> Result<(Device, &'static str)> {
    match choice {
        DeviceChoice::Cpu => Ok((cpu(), "cpu")),
        DeviceChoice::Wgpu => Ok((wgpu()?, "wgpu")),
        DeviceChoice::Auto => Ok(wgpu()
            .map(|d| (d, "wgpu"))
            .unwrap_or_else(|_| (cpu(), "cpu"))),
    }
}
