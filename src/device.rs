//! Choosing the compute device: burn Flex on the CPU, or burn wgpu
//! (Vulkan/Metal/DX12 natively, WebGPU in a browser).

use burn::tensor::Device;

use crate::error::{Error, Result};

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

/// The CPU device (burn Flex).
pub fn cpu() -> Device {
    Device::flex()
}

/// Initialise burn's wgpu runtime once and return its device; later calls
/// reuse it (the runtime cannot be initialised twice). Native only: in a
/// browser wgpu initialises asynchronously (the wasm crate awaits it).
#[cfg(all(not(target_arch = "wasm32"), feature = "gpu"))]
pub fn wgpu() -> Result<Device> {
    use std::sync::OnceLock;
    static WGPU: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
    WGPU.get_or_init(|| Device::wgpu_options().init().map_err(|e| format!("{e}")))
        .clone()
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
