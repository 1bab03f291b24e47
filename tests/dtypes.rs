//! f16 and int8 weights: converted as they load and by `pairrm convert`,
//! checked against the reference's f32 numbers within the per-dtype bounds
//! of `tests/tolerance.json`, on the fused CPU engine, burn's modules and
//! wgpu; and the files' own errors (scales missing or misshapen, int8 where
//! it may not be, more precision than stored).

mod common;
#[path = "common/wgpu.rs"]
mod test_wgpu;

use std::path::Path;

use common::*;
use pairrm_web::api::{read_model_dir, TokenizerPreference};
use pairrm_web::weights::convert_model_dir;
use pairrm_web::{block_on, device, Device, Ranker, WeightDtype};
use safetensors::tensor::{Dtype, TensorView};
use serde_json::Value;

fn load(dir: &Path, dev: &Device, dtype: Option<WeightDtype>) -> Ranker {
    let files = read_model_dir(dir, TokenizerPreference::Auto).unwrap();
    Ranker::from_files_as(files, dev, dtype)
        .unwrap_or_else(|e| panic!("{}: load as {dtype:?} failed: {e}", dir.display()))
}

/// The forward logits of the fixture's recorded cases.
fn forward_logits(ranker: &Ranker, expected: &Value) -> (Vec<f64>, Vec<f64>) {
    let forward = cases(expected, "forward");
    let pairs: Vec<_> = forward.iter().map(|c| pair_input(ranker, c)).collect();
    let got = block_on(ranker.logits(&pairs)).unwrap();
    (got, forward.iter().map(|c| f(&c["logit"])).collect())
}

fn max_change(got: &[f64], want: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max)
}

/// Every recorded logit, compare value and rank score within the dtype's
/// bound (twice it for differences of two logits), and the converted
/// weights really converted (f32 within 1e-4 would mean nothing happened).
fn check_fixture(dir: &Path, expected: &Value, ranker: &Ranker, dtype: WeightDtype, label: &str) {
    let name = format!(
        "{label}/{}/{dtype}",
        dir.file_name().unwrap().to_string_lossy()
    );
    assert_eq!(ranker.dtype(), dtype, "{name}: reported dtype");
    let tol = bound(dtype, expected);
    let (got, want) = forward_logits(ranker, expected);
    let change = max_change(&got, &want);
    eprintln!("{name}: max |change of a logit| {change:.2e} (bound {tol})");
    assert!(change <= tol, "{name}: a logit moved by {change} > {tol}");
    assert!(
        change > 1e-6,
        "{name}: logits equal f32's: the weights were not converted"
    );
    for (k, c) in cases(expected, "compare").iter().enumerate() {
        let v = block_on(ranker.compare(
            &s(&c["instruction"]),
            &s(&c["input"]),
            &s(&c["a"]),
            &s(&c["b"]),
            s(&c["mode"]).parse().unwrap(),
        ))
        .unwrap();
        let d = (v - f(&c["value"])).abs();
        assert!(d <= 2.0 * tol, "{name}: compare[{k}] moved by {d}");
    }
    for (k, c) in cases(expected, "rank").iter().enumerate() {
        let r = block_on(ranker.rank(
            &s(&c["instruction"]),
            &s(&c["input"]),
            &strings(&c["candidates"]),
        ))
        .unwrap();
        let d = max_change(&r.scores, &floats(&c["scores"]));
        assert!(d <= 2.0 * tol, "{name}: rank[{k}] scores moved by {d}");
    }
}

#[test]
fn converted_weights_stay_within_their_bounds_on_the_cpu() {
    for (dir, expected) in fixtures() {
        for dtype in [WeightDtype::F16, WeightDtype::Q8] {
            let ranker = load(&dir, &device::cpu(), Some(dtype));
            check_fixture(&dir, &expected, &ranker, dtype, "cpu");
        }
    }
}

/// burn's modules on the CPU (Flex) and on wgpu (lavapipe): int8 weights
/// block-quantized on wgpu (dequantized on Flex, which does not compute with
/// them), f16 weights computing in f16 on both (both have f16 arithmetic):
/// the recorded forward passes, which exercise every module (lavapipe is too
/// slow here for every ranking as well).
#[test]
fn converted_weights_stay_within_their_bounds_with_burn_modules_and_wgpu() {
    let (dir, expected) = fixtures().into_iter().next().unwrap();
    let gpu = test_wgpu::wgpu();
    for (dev, dtype, label) in [
        (Device::burn_cpu(), WeightDtype::Q8, "cpu-burn"),
        (Device::burn_cpu(), WeightDtype::F16, "cpu-burn"),
        (gpu.clone(), WeightDtype::Q8, "wgpu"),
        (gpu, WeightDtype::F16, "wgpu"),
    ] {
        let start = std::time::Instant::now();
        let ranker = load(&dir, &dev, Some(dtype));
        assert_eq!(ranker.dtype(), dtype);
        let (got, want) = forward_logits(&ranker, &expected);
        let change = max_change(&got, &want);
        let tol = bound(dtype, &expected);
        eprintln!(
            "{label}/{dtype}: max |change of a logit| {change:.2e} (bound {tol:.3}; {:.0} s)",
            start.elapsed().as_secs_f64()
        );
        assert!(
            change <= tol && change > 1e-6,
            "{label}/{dtype}: a logit moved by {change}"
        );
    }
}

/// A converted folder loads like any other, describes itself, is a
/// fraction of the size, and gives what converting on the fly gives.
#[test]
fn convert_writes_folders_that_load_as_converted_on_the_fly() {
    for (dir, expected) in fixtures() {
        let source = std::fs::metadata(dir.join("model.safetensors"))
            .unwrap()
            .len();
        for dtype in [WeightDtype::F16, WeightDtype::Q8] {
            let out = TempDir::new(&format!("convert-{}", dtype.name()));
            convert_model_dir(&dir, &out.0, dtype).unwrap();
            assert!(!out.0.join("model.safetensors.partial").exists());
            let size = std::fs::metadata(out.0.join("model.safetensors"))
                .unwrap()
                .len();
            let ratio = size as f64 / source as f64;
            eprintln!("{}: {dtype} is {ratio:.2} of f32", dir.display());
            match dtype {
                WeightDtype::F16 => assert!(ratio < 0.52, "f16 is {ratio} of f32"),
                // Tiny models keep more of their bytes in f32 (LayerNorms,
                // biases, the head); at PairRM's size q8 is 0.26 of f32.
                _ => assert!(ratio < 0.45, "q8 is {ratio} of f32"),
            }
            let config: Value =
                serde_json::from_str(&std::fs::read_to_string(out.0.join("config.json")).unwrap())
                    .unwrap();
            if dtype == WeightDtype::Q8 {
                let q = &config["quantization_config"];
                assert_eq!(q["quant_method"], "compressed-tensors");
                assert_eq!(q["config_groups"]["group_0"]["weights"]["num_bits"], 8);
            } else {
                assert_eq!(config["torch_dtype"], "float16");
            }
            let stored = load(&out.0, &device::cpu(), None);
            let fly = load(&dir, &device::cpu(), Some(dtype));
            check_fixture(&dir, &expected, &stored, dtype, "converted");
            let (a, _) = forward_logits(&stored, &expected);
            let (b, _) = forward_logits(&fly, &expected);
            assert!(
                max_change(&a, &b) <= 1e-6,
                "{dtype}: folder and on-the-fly differ"
            );
            // Asking a converted folder for more precision is refused, by name.
            let files = read_model_dir(&out.0, TokenizerPreference::Auto).unwrap();
            let err = Ranker::from_files_as(files, &device::cpu(), Some(WeightDtype::F32))
                .err()
                .expect("f32 from a converted folder")
                .to_string();
            assert!(
                err.contains(&format!("holds {dtype} weights")) && err.contains("as f32"),
                "{err}"
            );
            // Converting again: f16 → q8 gives what loading the f16 folder
            // as q8 gives; q8 → q8 has nothing to do and says so.
            let again = TempDir::new(&format!("convert-again-{}", dtype.name()));
            match dtype {
                WeightDtype::F16 => {
                    convert_model_dir(&out.0, &again.0, WeightDtype::Q8).unwrap();
                    let twice = load(&again.0, &device::cpu(), None);
                    let fly = load(&out.0, &device::cpu(), Some(WeightDtype::Q8));
                    assert_eq!(twice.dtype(), WeightDtype::Q8);
                    let (a, _) = forward_logits(&twice, &expected);
                    let (b, _) = forward_logits(&fly, &expected);
                    assert!(
                        max_change(&a, &b) <= 1e-6,
                        "f16 → q8: folder and on-the-fly differ"
                    );
                }
                _ => {
                    let err = convert_model_dir(&out.0, &again.0, WeightDtype::Q8)
                        .expect_err("q8 from q8")
                        .to_string();
                    assert!(err.contains("already holds q8 weights"), "{err}");
                }
            }
        }
    }
}

/// Rewrites `model.safetensors` of `dir` with `edit` applied to its tensors.
fn rewrite(dir: &Path, edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(k, d, s, b)| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let out = safetensors::serialize(views, None).unwrap();
    std::fs::write(&path, out).unwrap();
}

fn load_error(dir: &Path) -> String {
    read_model_dir(dir, TokenizerPreference::Auto)
        .and_then(|files| Ranker::from_files_as(files, &device::cpu(), None))
        .err()
        .expect("a damaged q8 folder must not load")
        .to_string()
}

#[test]
fn damaged_int8_files_are_refused_naming_the_tensor() {
    let (dir, _) = fixtures().into_iter().next().unwrap();
    let q8 = TempDir::new("q8-damaged");
    convert_model_dir(&dir, &q8.0, WeightDtype::Q8).unwrap();
    let pristine = std::fs::read(q8.0.join("model.safetensors")).unwrap();
    let key = "pretrained_model.encoder.layer.1.intermediate.dense.weight";
    let scale = format!("{key}_scale");
    let reset = || std::fs::write(q8.0.join("model.safetensors"), &pristine).unwrap();

    rewrite(&q8.0, |t| t.retain(|(k, ..)| *k != scale));
    let err = load_error(&q8.0);
    assert!(
        err.contains(key) && err.contains("scales") && err.contains("missing"),
        "{err}"
    );

    reset();
    rewrite(&q8.0, |t| {
        let s = t.iter_mut().find(|(k, ..)| *k == scale).unwrap();
        s.2[0] -= 1;
        s.3.truncate(s.3.len() - 4);
    });
    let err = load_error(&q8.0);
    assert!(err.contains(&scale) && err.contains("shape"), "{err}");

    // int8 where the key table keeps f32 (a LayerNorm).
    reset();
    let norm = "pretrained_model.encoder.layer.0.output.LayerNorm.weight";
    rewrite(&q8.0, |t| {
        let n = t.iter_mut().find(|(k, ..)| *k == norm).unwrap();
        let len = n.2[0];
        *n = (norm.to_string(), Dtype::I8, vec![len], vec![1u8; len]);
    });
    let err = load_error(&q8.0);
    assert!(err.contains(norm) && err.contains("I8"), "{err}");

    // A quantization_config that describes something else.
    reset();
    let cfg_path = q8.0.join("config.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["quantization_config"]["config_groups"]["group_0"]["weights"]["num_bits"] = 4.into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let err = load_error(&q8.0);
    assert!(
        err.contains("quantization_config") && err.contains("num_bits"),
        "{err}"
    );
}

/// f16 weights computing in f16, as burn's modules do where the device has
/// f16 arithmetic (GPUs with `shader-f16`, lavapipe), on the large stand-in:
/// burn's Flex CPU backend stands in for such a GPU (lavapipe takes hours at
/// this size). Not in CI (minutes): `cargo test --release --test dtypes --
/// --ignored --nocapture f16_computed`.
#[test]
#[ignore]
fn large_stand_in_f16_computed_in_f16() {
    let (dir, reference) = large_stand_in("large-f16");
    let ranker = load(&dir.0, &Device::burn_cpu(), Some(WeightDtype::F16));
    let (got, want) = forward_logits_one_by_one(&ranker, &reference);
    let change = max_change(&got, &want);
    let tol = bound(WeightDtype::F16, &reference);
    for (g, w) in got.iter().zip(&want) {
        eprintln!("logit {g:.6} reference {w:.6} change {:.2e}", (g - w).abs());
    }
    eprintln!("f16 in f16: max |change of a logit| {change:.2e} (bound {tol})");
    assert!(
        change <= tol && change > 0.0,
        "a logit moved by {change} > {tol}"
    );
}

/// At PairRM's real size (the large stand-in, whose reference logits are
/// 0.24–0.34): f16 and int8 within the absolute bounds on all 10
/// recorded comparisons, and the q8 folder's size and the engine's weight
/// memory. Not in CI (minutes; writes 1.74 GB to a temp dir it deletes):
/// `cargo test --release --test dtypes -- --ignored --nocapture large`.
#[test]
#[ignore]
fn large_stand_in_per_dtype() {
    let (dir, reference) = large_stand_in("large-dtypes");
    let q8 = TempDir::new("large-dtypes-q8");
    convert_model_dir(&dir.0, &q8.0, WeightDtype::Q8).unwrap();
    let size = |d: &Path| {
        std::fs::metadata(d.join("model.safetensors"))
            .unwrap()
            .len()
    };
    eprintln!(
        "model.safetensors: f32 {} bytes, q8 {} bytes",
        size(&dir.0),
        size(&q8.0)
    );
    for (folder, dtype) in [
        (&dir.0, Some(WeightDtype::F16)),
        (&dir.0, Some(WeightDtype::Q8)),
        (&q8.0, None),
    ] {
        let ranker = load(folder, &device::cpu(), dtype);
        let computed = ranker.dtype();
        eprintln!(
            "{computed} ({}): weights in memory {} bytes",
            if dtype.is_some() {
                "on the fly"
            } else {
                "folder"
            },
            ranker.weight_bytes().unwrap()
        );
        let (got, want) = forward_logits_one_by_one(&ranker, &reference);
        let change = max_change(&got, &want);
        let tol = bound(computed, &reference);
        eprintln!(
            "{computed}: max |change of a logit| {change:.2e} over {} comparisons (bound {tol})",
            got.len()
        );
        assert!(
            change <= tol && change > 0.0,
            "{computed}: a logit moved by {change} > {tol}"
        );
    }
}

/// As [`forward_logits`], one comparison per forward pass (the long ones are 2,048 tokens).
fn forward_logits_one_by_one(ranker: &Ranker, expected: &Value) -> (Vec<f64>, Vec<f64>) {
    let mut got = Vec::new();
    for c in cases(expected, "forward") {
        let pair = pair_input(ranker, c);
        let ids: Vec<u64> = pair.ids.iter().map(|&i| i as u64).collect();
        assert_eq!(ids, ints(&c["ids"]), "token ids");
        got.extend(block_on(ranker.logits(&[pair])).unwrap());
    }
    let want = cases(expected, "forward")
        .iter()
        .map(|c| f(&c["logit"]))
        .collect();
    (got, want)
}
