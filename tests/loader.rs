//! Model-dir loading: both config layouts, the large built-in dims, clear
//! errors for wrong, truncated or unsupported weight files, and what the one
//! loading pipeline asks of its source.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use pairrm_web::api::{read_model_dir, LoadSettings, TokenizerPreference};
use pairrm_web::config::{parse_model_config, BackboneConfig, ConfigSource};
use pairrm_web::files::DirSource;
use pairrm_web::load::{load_ranker, ModelSource};
use pairrm_web::weights::{plan_from_header, WeightsPlan};
use pairrm_web::{
    block_on, device, CompareMode, ConfigError, Error, InputError, Ranker, WeightDtype,
    WeightsError,
};
use serde_json::json;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pairrm-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A safetensors header (no data) with PairRM's key names at the given dims.
fn synthetic_header(
    c: &BackboneConfig,
    vocab: usize,
    tweak: impl Fn(&str, &mut Vec<usize>),
) -> Vec<u8> {
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let mut shapes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let p = "pretrained_model.";
    shapes.insert(
        format!("{p}embeddings.word_embeddings.weight"),
        vec![vocab, h],
    );
    for k in [
        "embeddings.LayerNorm.weight",
        "embeddings.LayerNorm.bias",
        "encoder.LayerNorm.weight",
        "encoder.LayerNorm.bias",
    ] {
        shapes.insert(format!("{p}{k}"), vec![h]);
    }
    shapes.insert(
        format!("{p}encoder.rel_embeddings.weight"),
        vec![2 * c.attention_span(), h],
    );
    for l in 0..c.num_hidden_layers {
        let e = format!("{p}encoder.layer.{l}.");
        for proj in ["query_proj", "key_proj", "value_proj"] {
            shapes.insert(format!("{e}attention.self.{proj}.weight"), vec![h, h]);
            shapes.insert(format!("{e}attention.self.{proj}.bias"), vec![h]);
        }
        shapes.insert(format!("{e}attention.output.dense.weight"), vec![h, h]);
        shapes.insert(format!("{e}intermediate.dense.weight"), vec![i, h]);
        shapes.insert(format!("{e}intermediate.dense.bias"), vec![i]);
        shapes.insert(format!("{e}output.dense.weight"), vec![h, i]);
        for k in [
            "attention.output.dense.bias",
            "attention.output.LayerNorm.weight",
            "attention.output.LayerNorm.bias",
            "output.dense.bias",
            "output.LayerNorm.weight",
            "output.LayerNorm.bias",
        ] {
            shapes.insert(format!("{e}{k}"), vec![h]);
        }
    }
    shapes.insert("head_layer.1.weight".into(), vec![h, 2 * h]);
    shapes.insert("head_layer.1.bias".into(), vec![h]);
    shapes.insert("head_layer.4.weight".into(), vec![1, h]);
    shapes.insert("head_layer.4.bias".into(), vec![1]);
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (key, mut shape) in shapes {
        tweak(&key, &mut shape);
        let bytes = shape.iter().product::<usize>() * 4;
        header.insert(
            key,
            json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let text = serde_json::to_vec(&header).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out
}

#[test]
fn pairrm_layout_with_deberta_v3_large_reads_large_dims() {
    let dir = temp_dir("large");
    let config = json!({
        "ranker_type": "pairranker", "model_type": "deberta", "model_name": "microsoft/deberta-v3-large",
        "cache_dir": "./hf_models/pairranker/", "load_checkpoint": null, "source_maxlength": 1224,
        "candidate_maxlength": 412, "n_tasks": 1, "reduce_type": "linear", "inference_mode": "bubble",
        "drop_out": 0.05, "loss_type": "instructgpt", "sub_sampling_mode": "all_pair", "sub_sampling_ratio": 0.4,
        "num_pos": 1, "num_neg": 1, "fp16": true
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let ConfigSource::Ready(c) =
        parse_model_config(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap()
    else {
        panic!("deberta-v3-large must need no backbone folder");
    };
    let b = &c.backbone;
    assert_eq!(
        (
            b.hidden_size,
            b.num_hidden_layers,
            b.num_attention_heads,
            b.intermediate_size
        ),
        (1024, 24, 16, 4096)
    );
    assert_eq!(
        (
            b.position_buckets,
            b.max_relative_positions,
            b.layer_norm_eps
        ),
        (256, 512, 1e-7)
    );
    assert_eq!((c.source_maxlength, c.candidate_maxlength), (1224, 412));

    // The real checkpoint's header (394 tensors) passes the shape checks.
    let header = synthetic_header(b, 128_005, |_, _| {});
    let plan = plan_from_header(&header, b).unwrap();
    assert_eq!(plan.entries.len(), 394); // every tensor is used
    assert_eq!(plan.vocab_size, 128_005);
    assert_eq!(plan.data_len, 436_014_081 * 4);

    // Header only, no data: a clear "truncated" error, not a panic.
    std::fs::write(dir.join("model.safetensors"), &header).unwrap();
    let tiny = common::fixtures_dir().join("tiny-hf");
    for f in ["spm.model", "added_tokens.json"] {
        std::fs::copy(tiny.join(f), dir.join(f)).unwrap();
    }
    let err = Ranker::load_dir(&dir, &device::cpu())
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn wrong_shapes_and_missing_tensors_name_the_key() {
    let b = BackboneConfig::deberta_v3_large();
    let wrong = synthetic_header(&b, 128_005, |k, s| {
        if k.ends_with("layer.3.intermediate.dense.weight") {
            *s = vec![4096, 1000];
        }
    });
    let err = plan_from_header(&wrong, &b).unwrap_err();
    let Error::Weights(WeightsError::Shape { key, got, want }) = &err else {
        panic!("not a shape error: {err}")
    };
    assert_eq!(
        key,
        "pretrained_model.encoder.layer.3.intermediate.dense.weight"
    );
    assert_eq!(
        (&got[..], &want[..]),
        (&[4096, 1000][..], &[4096, 1024][..])
    );
    assert!(err.to_string().contains(key), "the message names it: {err}");

    let mut fewer = b.clone();
    fewer.num_hidden_layers = 30;
    let err = plan_from_header(&synthetic_header(&b, 128_005, |_, _| {}), &fewer).unwrap_err();
    assert!(
        matches!(&err, Error::Weights(WeightsError::MissingTensor { key })
            if key.starts_with("pretrained_model.encoder.layer.24.")),
        "{err}"
    );

    for junk in [
        &b"not a safetensors file at all"[..],
        &[1, 0, 0, 0, 0, 0, 0, 0, b'{'][..],
        &[0u8; 3][..],
    ] {
        let err = plan_from_header(junk, &b).unwrap_err().to_string();
        assert!(err.starts_with("weights:"), "{err}");
    }
}

fn copy_fixture(name: &str, into: &str) -> PathBuf {
    let src = common::fixtures_dir().join(name);
    let dst = temp_dir(into);
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
    }
    dst
}

#[test]
fn truncated_and_corrupt_weight_files_are_errors() {
    let dir = copy_fixture("tiny-hf", "trunc");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    for (cut, what) in [
        (bytes.len() - 10, "truncated"),
        (bytes.len() / 2, "truncated"),
        (20, "header"),
    ] {
        std::fs::write(dir.join("model.safetensors"), &bytes[..cut]).unwrap();
        let err = Ranker::load_dir(&dir, &device::cpu())
            .err()
            .expect("must fail")
            .to_string();
        assert!(err.contains(what), "{err}");
    }
    let mut longer = bytes.clone();
    longer.extend([0u8; 16]);
    std::fs::write(dir.join("model.safetensors"), &longer).unwrap();
    assert!(Ranker::load_dir(&dir, &device::cpu()).is_err());
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let err = Ranker::load_dir(&dir, &device::cpu())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

/// Rewrite every tensor of a safetensors file in another float dtype.
fn convert(bytes: &[u8], to: safetensors::Dtype) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let floats = pairrm_web::weights::decode(view.dtype(), view.data());
            let raw = floats
                .iter()
                .flat_map(|&x| match to {
                    safetensors::Dtype::F16 => half::f16::from_f32(x).to_le_bytes().to_vec(),
                    safetensors::Dtype::BF16 => half::bf16::from_f32(x).to_le_bytes().to_vec(),
                    _ => x.to_le_bytes().to_vec(),
                })
                .collect();
            (name, view.shape().to_vec(), raw)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(n, s, raw)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(to, s.clone(), raw).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn f16_and_bf16_weights_load_and_stay_close() {
    let (_, expected) = common::fixtures()
        .into_iter()
        .find(|(d, _)| d.ends_with("tiny-hf"))
        .unwrap();
    let c = &common::cases(&expected, "compare")[0];
    let want = common::f(&c["value"]);
    for (dtype, tol) in [
        (safetensors::Dtype::F16, 2e-2),
        (safetensors::Dtype::BF16, 1e-1),
    ] {
        let dir = copy_fixture("tiny-hf", &format!("{dtype:?}"));
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        std::fs::write(dir.join("model.safetensors"), convert(&bytes, dtype)).unwrap();
        let ranker = Ranker::from_files(
            read_model_dir(&dir, TokenizerPreference::Auto).unwrap(),
            &device::cpu(),
        )
        .unwrap();
        let mode: CompareMode = common::s(&c["mode"]).parse().unwrap();
        let got = block_on(ranker.compare(
            &common::s(&c["instruction"]),
            &common::s(&c["input"]),
            &common::s(&c["a"]),
            &common::s(&c["b"]),
            mode,
        ))
        .unwrap();
        assert!(
            (got - want).abs() < tol,
            "{dtype:?}: {got} vs reference {want}"
        );
    }
}

#[test]
fn unsupported_dtype_is_named() {
    let b = BackboneConfig::deberta_v3_large();
    let mut header = synthetic_header(&b, 128_005, |_, _| {});
    let text = String::from_utf8(header.split_off(8))
        .unwrap()
        .replacen("\"F32\"", "\"I32\"", 1);
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend(text.as_bytes());
    let err = plan_from_header(&bytes, &b)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("head_layer.1.bias") && err.contains("I32"),
        "{err}"
    );
}

/// Overwrite every value of the tensors whose key ends with `suffix`.
fn poison(bytes: &[u8], suffix: &str, value: f32) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let mut floats = pairrm_web::weights::decode(view.dtype(), view.data());
            if name.ends_with(suffix) {
                floats.iter_mut().for_each(|x| *x = value);
            }
            let raw = floats.iter().flat_map(|x| x.to_le_bytes()).collect();
            (name, view.shape().to_vec(), raw)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(n, s, raw)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), raw);
            (n.clone(), view.unwrap())
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn non_finite_logits_are_errors_not_results() {
    for (label, value) in [("nan", f32::NAN), ("inf", f32::INFINITY)] {
        let dir = copy_fixture("tiny-hf", &format!("poisoned-{label}"));
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        let poisoned = poison(&bytes, "head_layer.4.bias", value);
        assert_ne!(poisoned, bytes, "the head's output bias was found");
        std::fs::write(dir.join("model.safetensors"), poisoned).unwrap();
        let ranker = Ranker::from_files(
            read_model_dir(&dir, TokenizerPreference::Auto).unwrap(),
            &device::cpu(),
        )
        .unwrap();
        let candidates = vec!["yes".to_string(), "no".to_string()];
        let err = block_on(ranker.rank("Is it?", "", &candidates))
            .expect_err(&format!("{label}: a ranking from non-finite logits"))
            .to_string();
        assert!(err.contains("non-finite logit"), "{label}: {err}");
    }
}

/// A safetensors file whose header length field says `n`, then `rest`.
fn with_header_len(n: u64, rest: &[u8]) -> Vec<u8> {
    let mut out = n.to_le_bytes().to_vec();
    out.extend_from_slice(rest);
    out
}

/// Bounds before allocation (issue 8, items 4 and 5): a hostile config, an
/// oversized small file, a header length of 0 or of gigabytes, and a file
/// padded with unused tensor data are refused with an error naming the cause.
#[test]
fn hostile_sizes_are_refused_before_anything_is_allocated() {
    let dir = copy_fixture("tiny-hf", "hostile");
    let config_path = dir.join("config.json");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    for (field, value) in [
        ("num_hidden_layers", json!(1_000_000_000u64)),
        ("source_maxlength", json!(1u64 << 40)),
        ("candidate_maxlength", json!(0)),
        ("hidden_size", json!(0)),
    ] {
        let mut c = config.clone();
        c[field] = value.clone();
        std::fs::write(&config_path, c.to_string()).unwrap();
        let err = read_model_dir(&dir, TokenizerPreference::Auto)
            .and_then(|files| Ranker::from_files(files, &device::cpu()))
            .err()
            .expect("must fail");
        assert!(
            matches!(&err, Error::Config(ConfigError::OutOfRange { field: f, value: v, .. })
                if f == field && Some(*v) == value.as_u64()),
            "{field}: {err}"
        );
    }
    std::fs::write(&config_path, config.to_string()).unwrap();

    // A config.json of 2 MB (valid JSON, padded with spaces) is refused unread.
    let padded = format!("{}{}", config, " ".repeat(2 << 20));
    std::fs::write(&config_path, padded).unwrap();
    let err = read_model_dir(&dir, TokenizerPreference::Auto)
        .err()
        .expect("must fail")
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("more than"),
        "{err}"
    );
    std::fs::write(&config_path, config.to_string()).unwrap();

    let weights = dir.join("model.safetensors");
    let original = std::fs::read(&weights).unwrap();
    for n in [0u64, 1, 1 << 40] {
        std::fs::write(&weights, with_header_len(n, &original[8..])).unwrap();
        let err = Ranker::load_dir(&dir, &device::cpu())
            .err()
            .expect("must fail")
            .to_string();
        assert!(err.contains("header length"), "{n}: {err}");
    }

    // Unused tensor data beyond the limit: an extra tensor of 1.5 GiB declared
    // in the header (the data need not exist: the header alone is refused).
    let n = u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&original[8..8 + n]).unwrap();
    let end = header
        .as_object()
        .unwrap()
        .values()
        .filter_map(|t| t["data_offsets"][1].as_u64())
        .max()
        .unwrap();
    let extra = 3u64 << 29;
    header["unused.weight"] =
        json!({"dtype": "F32", "shape": [extra / 4], "data_offsets": [end, end + extra]});
    let text = header.to_string();
    let mut bytes = with_header_len(text.len() as u64, text.as_bytes());
    bytes.extend_from_slice(&original[8 + n..]);
    let ConfigSource::Ready(c) = parse_model_config(&config.to_string()).unwrap() else {
        panic!("tiny-hf's config is complete")
    };
    let err = plan_from_header(&bytes, &c.backbone)
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("more than the model reads"), "{err}");
}

/// A ranking reports progress after each forward pass and stops when the
/// report says so; more than `MAX_CANDIDATES` candidates are refused up front
/// (issue 8, item 7).
#[test]
fn rankings_are_bounded_and_can_be_cancelled() {
    let mut ranker =
        Ranker::load_dir(&common::fixtures_dir().join("tiny-hf"), &device::cpu()).unwrap();
    ranker.set_batch_size(4);
    let candidates: Vec<String> = (0..6).map(|i| format!("answer {i}")).collect();
    let mut reports = Vec::new();
    let full = block_on(
        ranker.rank_with_progress("hi", "", &candidates, &mut |done, total| {
            reports.push((done, total));
            true
        }),
    )
    .unwrap();
    assert_eq!(reports.last(), Some(&(30, 30)));
    assert!(reports.len() >= 30 / 4, "{reports:?}");
    assert_eq!(full, block_on(ranker.rank("hi", "", &candidates)).unwrap());

    let mut seen = 0;
    let err = block_on(
        ranker.rank_with_progress("hi", "", &candidates, &mut |_, _| {
            seen += 1;
            seen < 2
        }),
    )
    .expect_err("cancelled");
    assert!(matches!(err, pairrm_web::Error::Cancelled), "{err}");
    assert_eq!(seen, 2, "no forward pass after the cancelling report");

    let many: Vec<String> = (0..=pairrm_web::api::MAX_CANDIDATES)
        .map(|i| i.to_string())
        .collect();
    let err = block_on(ranker.rank("hi", "", &many)).expect_err("too many");
    let want = InputError::TooManyCandidates { got: 101, max: 100 };
    assert!(matches!(&err, Error::Input(e) if *e == want), "{err}");
    assert!(err.to_string().contains("more than 100"), "{err}");
    let err = block_on(ranker.rank("hi", "", &many[..1])).expect_err("too few");
    let want = InputError::TooFewCandidates { got: 1, min: 2 };
    assert!(matches!(&err, Error::Input(e) if *e == want), "{err}");
}

/// The public builder checks what it is given: a group missing a tensor, or
/// one group too many, is an error naming it, never a panic.
#[test]
fn the_model_builder_refuses_incomplete_groups() {
    use pairrm_web::model::{load_groups, ModelBuilder};
    use pairrm_web::weights::PairRmWeights;
    let dir = common::fixtures_dir().join("tiny-hf");
    let files = read_model_dir(&dir, TokenizerPreference::Auto).unwrap();
    let ConfigSource::Ready(config) = parse_model_config(&files.config_json).unwrap() else {
        panic!("tiny-hf's config is complete")
    };
    let mut weights = PairRmWeights::from_bytes(&files.safetensors, &config.backbone).unwrap();
    let mut builder = ModelBuilder::new(&config, 0, &device::cpu());
    let mut empty = PairRmWeights::empty(weights.vocab_size, 1);
    let err = builder.add_group(&mut empty).expect_err("an empty group");
    assert!(
        matches!(err, Error::Weights(WeightsError::MissingTensor { .. })),
        "{err}"
    );
    for _ in load_groups(&config.backbone) {
        builder.add_group(&mut weights).unwrap();
    }
    let err = builder
        .add_group(&mut weights)
        .expect_err("one group too many");
    assert!(err.to_string().contains("added already"), "{err}");
    assert!(builder.finish().is_ok());
}

/// What the loading pipeline asks of a folder, recorded; it can refuse to go
/// on after some groups, as a cancelled load does.
struct Recording {
    inner: DirSource,
    calls: Vec<String>,
    reads: Vec<(u64, u64)>,
    groups: Vec<(u64, u64)>,
    cancel_after: Option<usize>,
}

impl Recording {
    fn new(dir: &std::path::Path, cancel_after: Option<usize>) -> Self {
        Self {
            inner: DirSource::new(dir),
            calls: Vec::new(),
            reads: Vec::new(),
            groups: Vec::new(),
            cancel_after,
        }
    }
}

impl ModelSource for Recording {
    fn locate(&self, name: &str) -> String {
        self.inner.locate(name)
    }
    async fn config_json(&mut self) -> pairrm_web::Result<Vec<u8>> {
        self.calls.push("config".into());
        self.inner.config_json().await
    }
    async fn file(&mut self, name: &str) -> pairrm_web::Result<Vec<u8>> {
        self.calls.push(format!("file {name}"));
        self.inner.file(name).await
    }
    async fn optional_file(&mut self, name: &str) -> pairrm_web::Result<Option<Vec<u8>>> {
        self.calls.push(format!("optional {name}"));
        self.inner.optional_file(name).await
    }
    async fn weights_plan(&mut self, backbone: &BackboneConfig) -> pairrm_web::Result<WeightsPlan> {
        self.calls.push("plan".into());
        self.inner.weights_plan(backbone).await
    }
    async fn prepare(
        &mut self,
        plan: WeightsPlan,
        dtype: Option<WeightDtype>,
    ) -> pairrm_web::Result<(WeightsPlan, Option<WeightDtype>)> {
        self.calls.push(format!("prepare {dtype:?}"));
        self.inner.prepare(plan, dtype).await
    }
    async fn read(&mut self, start: u64, end: u64) -> pairrm_web::Result<Vec<u8>> {
        self.reads.push((start, end));
        self.inner.read(start, end).await
    }
    async fn group_loaded(&mut self, done: u64, total: u64) -> pairrm_web::Result<()> {
        self.groups.push((done, total));
        match self.cancel_after {
            Some(n) if self.groups.len() >= n => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }
}

#[test]
fn one_pipeline_reads_config_tokenizer_header_then_each_group_once() {
    let dir = common::fixtures_dir().join("tiny-ranker");
    let settings = LoadSettings::default();
    let mut source = Recording::new(&dir, None);
    let ranker = block_on(load_ranker(&mut source, &device::cpu(), &settings)).unwrap();
    // The ranker config names its backbone folder; Auto prefers tokenizer.json.
    let folder =
        match parse_model_config(&std::fs::read_to_string(dir.join("config.json")).unwrap())
            .unwrap()
        {
            ConfigSource::NeedsBackbone(p) => p.model_name.trim_end_matches('/').to_string(),
            ConfigSource::Ready(_) => panic!("tiny-ranker's config names a backbone folder"),
        };
    assert_eq!(
        source.calls,
        [
            "config".to_string(),
            format!("file {folder}/config.json"),
            "optional tokenizer.json".into(),
            "plan".into(),
            "prepare None".into(),
        ]
    );
    // Every group, in order, each tensor's bytes read once, in file order,
    // and only after the header was checked.
    let layers = ranker.config().backbone.num_hidden_layers;
    assert_eq!(source.groups.len(), layers + 2);
    let total = source.groups[0].1;
    assert!(source
        .groups
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[1].1 == total));
    let read: u64 = source.reads.iter().map(|(a, b)| b - a).sum();
    assert_eq!(read, source.groups.last().unwrap().0);
    assert!(read <= total);
    let mut sorted = source.reads.clone();
    sorted.sort();
    assert!(
        sorted.windows(2).all(|w| w[0].1 <= w[1].0),
        "no byte is read twice"
    );
    let file_len = std::fs::metadata(dir.join("model.safetensors"))
        .unwrap()
        .len();
    assert!(sorted.last().unwrap().1 <= file_len);
    // What it loaded ranks as the whole-file route does.
    let whole = Ranker::from_files(
        read_model_dir(&dir, TokenizerPreference::Auto).unwrap(),
        &device::cpu(),
    )
    .unwrap();
    let candidates = vec!["Paris.".to_string(), "Lyon, I think.".to_string()];
    let a = block_on(ranker.rank("Capital of France?", "", &candidates)).unwrap();
    let b = block_on(whole.rank("Capital of France?", "", &candidates)).unwrap();
    assert_eq!(a.scores, b.scores);

    // The spm files first, when asked; a dtype reaches prepare and the ranker.
    let settings = LoadSettings {
        dtype: Some(WeightDtype::Q8),
        tokenizer: TokenizerPreference::SpmFirst,
    };
    let mut source = Recording::new(&dir, None);
    let ranker = block_on(load_ranker(&mut source, &device::cpu(), &settings)).unwrap();
    assert_eq!(
        source.calls[2..],
        [
            "optional spm.model".to_string(),
            "file added_tokens.json".into(),
            "plan".into(),
            "prepare Some(Q8)".into(),
        ]
    );
    assert_eq!(ranker.dtype(), WeightDtype::Q8);
}

/// A load through a [`Recording`] of `dir` that must fail: its error, and what it asked.
fn failed_load(dir: &std::path::Path, cancel_after: Option<usize>) -> (Error, Recording) {
    let mut source = Recording::new(dir, cancel_after);
    let result = block_on(load_ranker(
        &mut source,
        &device::cpu(),
        &LoadSettings::default(),
    ));
    (result.err().expect("the load must fail"), source)
}

#[test]
fn a_source_that_says_stop_ends_the_load_between_groups() {
    let dir = common::fixtures_dir().join("tiny-ranker");
    let (err, source) = failed_load(&dir, Some(2));
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert_eq!(source.groups.len(), 2, "nothing is read after the stop");
    let read: u64 = source.reads.iter().map(|(a, b)| b - a).sum();
    assert_eq!(read, source.groups[1].0);
}

#[test]
fn a_truncated_weights_file_is_refused_before_any_tensor_is_read() {
    let dir = copy_fixture("tiny-hf", "pipeline-truncated");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() - 4]).unwrap();
    let (err, source) = failed_load(&dir, None);
    assert!(matches!(err, Error::Weights(_)), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(source.reads.is_empty());
    assert!(!source.calls.iter().any(|c| c.starts_with("prepare")));
}
