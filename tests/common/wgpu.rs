//! The wgpu device of the native tests, with autotune sampling once.
//!
//! In CI wgpu is lavapipe (Vulkan on the CPU), where timing kernel variants
//! measures nothing, and every new input shape benchmarks every variant
//! (by default a warmup and at least three samples each: most of these
//! tests' time). Any variant computes the same products, so one sample each
//! checks the same thing. Included only by the tests that use wgpu, since it
//! needs the cubecl runtime as a dev-dependency.

use cubecl_runtime::config::autotune::AutotuneLevel;
use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
use pairrm_web::{device, Device};

/// The wgpu device; a missing adapter fails the test, never a silent pass
/// (`./build.sh setup` installs Vulkan on the CPU: mesa-vulkan-drivers).
pub fn wgpu() -> Device {
    static CONFIG: std::sync::Once = std::sync::Once::new();
    CONFIG.call_once(|| {
        let mut config = CubeClRuntimeConfig::default();
        config.autotune.level = AutotuneLevel::Minimal;
        config.autotune.bench.min_samples = 1;
        config.autotune.bench.max_samples = 1;
        config.autotune.bench.short_circuit_samples = 1;
        // Kept if something read the configuration first: slower, same checks.
        CubeClRuntimeConfig::try_set(config);
    });
    device::wgpu().expect("a wgpu adapter (install mesa-vulkan-drivers)")
}
