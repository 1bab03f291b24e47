//! Config parsing: the HF and ranker layouts, defaults, and what is refused.

use super::*;

const TINY: &str = r#"{"hidden_size":32,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":64,
    "relative_attention":true,"position_buckets":0,"max_relative_positions":-1,
    "max_position_embeddings":128,"pos_att_type":"p2c|c2p","norm_rel_ebd":"layer_norm",
    "position_biased_input":false}"#;

/// TINY with one field replaced.
fn with(field: &str, value: &str) -> String {
    let mut v: Value = serde_json::from_str(TINY).unwrap();
    v[field] = serde_json::from_str(value).unwrap();
    v.to_string()
}

#[test]
fn hostile_sizes_are_refused_naming_the_field() {
    assert!(parse_model_config(TINY).is_ok());
    for (field, value) in [
        ("num_hidden_layers", "1000000"),
        ("num_hidden_layers", "0"),
        ("hidden_size", "0"),
        ("num_attention_heads", "0"),
        ("intermediate_size", "100000000000"),
        ("max_position_embeddings", "0"),
        ("position_buckets", "9000000000"),
        ("max_relative_positions", "4000000000"),
        ("vocab_size", "2000000000"),
        ("source_maxlength", "2"),
        ("source_maxlength", "100000000"),
        ("candidate_maxlength", "0"),
        ("n_tasks", "0"),
        ("layer_norm_eps", "-1"),
    ] {
        let e = parse_model_config(&with(field, value))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(field), "{field} = {value}: {e}");
    }
    let wide = with("source_maxlength", "8000");
    let e = parse_model_config(&wide).err().unwrap().to_string();
    assert!(e.contains("tokens per pair"), "{e}");
    let big = with("intermediate_size", "60000");
    let mut big: Value = serde_json::from_str(&big).unwrap();
    big["hidden_size"] = 8192.into();
    big["num_attention_heads"] = 64.into();
    big["num_hidden_layers"] = 96.into();
    let e = parse_model_config(&big.to_string())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("encoder parameters"), "{e}");
}

#[test]
fn ranker_layout_with_large_backbone_uses_builtin_dims() {
    let text = r#"{"ranker_type":"pairranker","model_type":"deberta","model_name":"microsoft/deberta-v3-large",
        "source_maxlength":1224,"candidate_maxlength":412,"n_tasks":1,"drop_out":0.05,"fp16":true}"#;
    let ConfigSource::Ready(c) = parse_model_config(text).unwrap() else {
        panic!("needs no backbone")
    };
    assert_eq!(c.backbone.hidden_size, 1024);
    assert_eq!(c.backbone.num_hidden_layers, 24);
    assert_eq!(c.backbone.num_attention_heads, 16);
    assert_eq!(c.backbone.attention_span(), 256);
    assert_eq!((c.source_maxlength, c.candidate_maxlength), (1224, 412));
}

#[test]
fn max_lengths_default_and_pos_att_type_forms() {
    let base = |att: &str| {
        format!(
            r#"{{"hidden_size":32,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":64,
            "relative_attention":true,"position_buckets":0,"max_relative_positions":-1,
            "max_position_embeddings":128,"pos_att_type":{att},"norm_rel_ebd":"layer_norm",
            "position_biased_input":false}}"#
        )
    };
    for att in [r#""p2c|c2p""#, r#"["p2c","c2p"]"#] {
        let ConfigSource::Ready(c) = parse_model_config(&base(att)).unwrap() else {
            panic!()
        };
        assert_eq!(c.source_maxlength, DEFAULT_SOURCE_MAXLENGTH);
        assert_eq!(c.candidate_maxlength, DEFAULT_CANDIDATE_MAXLENGTH);
        assert_eq!(c.backbone.max_relative_positions, 128);
        assert_eq!(c.backbone.attention_span(), 128);
    }
    let err = parse_model_config(&base(r#""c2p""#))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("pos_att_type"), "{err}");
}

#[test]
fn folder_model_name_needs_backbone() {
    let text = r#"{"ranker_type":"pairranker","model_name":"backbone","source_maxlength":30}"#;
    assert!(
        matches!(parse_model_config(text).unwrap(), ConfigSource::NeedsBackbone(p) if p.model_name == "backbone")
    );
    assert!(parse_model_config("[1]").is_err());
    assert!(parse_model_config("{").is_err());
}
