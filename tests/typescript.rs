//! The TypeScript declarations the npm package ships (the wasm crate's
//! `typescript_custom_section`s, written by hand) checked against the serde
//! types they describe. A field renamed, added or dropped on either side, a
//! required field declared optional or the other way round, or a value of
//! another type than declared fails here, natively, without a browser.
//!
//! Requests: an object with every declared field (each literal of a literal
//! union in turn) must be accepted, one with only the required fields too,
//! and one missing any required field refused (the request types refuse
//! unknown fields, so a field Rust lacks fails the first check). Results: a
//! serialised value has exactly the declared fields, each of its declared type.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use pairrm_web::dataset::{
    stats::{summarize, summarize_ranks, PairResult, PairScore, Scoring},
    PairRow, RankRow, RankedRow, RowError,
};
use pairrm_web::rank::Ranking;
use pairrm_web::requests::{
    BestOfNRequest, CompareRequest, Comparison, ConversationRequest, RankRequest,
    RankWithRefRequest, RefRanking, TokenIds, TokenizeRequest,
};
use pairrm_web::Message;

#[derive(Debug, Clone)]
struct Field {
    name: String,
    optional: bool,
    ty: String,
}

#[derive(Debug, Clone)]
struct Interface {
    extends: Option<String>,
    fields: Vec<Field>,
}

type Declarations = BTreeMap<String, Interface>;

/// The text of every `const TYPES: &str = r#"…"#` in a source file.
fn custom_sections(source: &str) -> Vec<&str> {
    let open = "const TYPES: &str = r#\"";
    source
        .match_indices(open)
        .map(|(i, _)| {
            let text = &source[i + open.len()..];
            &text[..text.find("\"#;").expect("the section's closing \"#;")]
        })
        .collect()
}

fn without_comments(ts: &str) -> String {
    let mut out = String::new();
    let mut rest = ts;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find("*/").expect("a closed comment");
        rest = &rest[i + end + 2..];
    }
    out + rest
}

/// `export interface Name [extends Base] { field[?]: type; … }` (the
/// declarations have no nested braces).
fn parse(ts: &str) -> Declarations {
    let text = without_comments(ts);
    let mut out = Declarations::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("export interface ") {
        let after = &rest[i + "export interface ".len()..];
        let (open, close) = (after.find('{').unwrap(), after.find('}').unwrap());
        let head: Vec<&str> = after[..open].split_whitespace().collect();
        let extends = match head.as_slice() {
            [_] => None,
            [_, "extends", base] => Some(base.to_string()),
            other => panic!("unexpected interface head {other:?}"),
        };
        let fields = after[open + 1..close]
            .split(';')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (name, ty) = f.split_once(':').expect("name: type");
                let name = name.trim();
                Field {
                    name: name.trim_end_matches('?').to_string(),
                    optional: name.ends_with('?'),
                    ty: ty.trim().to_string(),
                }
            })
            .collect();
        out.insert(head[0].to_string(), Interface { extends, fields });
        rest = &after[close + 1..];
    }
    out
}

fn declarations() -> Declarations {
    let mut all = Declarations::new();
    for source in [
        include_str!("../wasm/src/bindings.rs"),
        include_str!("../wasm/src/datasets.rs"),
    ] {
        for section in custom_sections(source) {
            all.extend(parse(section));
        }
    }
    all
}

/// An interface's fields with those of the interface it extends.
fn fields(decls: &Declarations, name: &str) -> Vec<Field> {
    let iface = decls
        .get(name)
        .unwrap_or_else(|| panic!("no declaration of {name}"));
    let mut out = match &iface.extends {
        Some(base) => fields(decls, base),
        None => Vec::new(),
    };
    out.extend(iface.fields.iter().cloned());
    out
}

/// `ty` split at its top-level `|` (not inside brackets or parentheses).
fn alternatives(ty: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in ty.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '|' if depth == 0 => {
                out.push(ty[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(ty[start..].trim());
    out
}

/// Whether a JSON value is of the declared TypeScript type.
fn conforms(decls: &Declarations, value: &Value, ty: &str) -> bool {
    let alts = alternatives(ty);
    if alts.len() > 1 {
        return alts.iter().any(|t| conforms(decls, value, t));
    }
    let ty = ty.trim();
    if let Some(inner) = ty.strip_suffix("[]") {
        let inner = inner
            .strip_prefix('(')
            .and_then(|t| t.strip_suffix(')'))
            .unwrap_or(inner);
        return value
            .as_array()
            .is_some_and(|a| a.iter().all(|v| conforms(decls, v, inner)));
    }
    if let Some(items) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let items: Vec<&str> = items.split(',').map(str::trim).collect();
        return value.as_array().is_some_and(|a| {
            a.len() == items.len() && a.iter().zip(&items).all(|(v, t)| conforms(decls, v, t))
        });
    }
    if let Some(literal) = ty.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return value.as_str() == Some(literal);
    }
    match ty {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        name => value.as_object().is_some_and(|object| {
            let fields = fields(decls, name);
            object.keys().all(|k| fields.iter().any(|f| &f.name == k))
                && fields.iter().all(|f| match object.get(&f.name) {
                    Some(v) => conforms(decls, v, &f.ty),
                    None => f.optional,
                })
        }),
    }
}

/// Values of a declared type: every literal of a literal union, else one.
fn samples(decls: &Declarations, ty: &str) -> Vec<Value> {
    let alts = alternatives(ty);
    if alts.iter().all(|t| t.starts_with('"')) {
        return alts
            .iter()
            .map(|t| Value::String(t.trim_matches('"').to_string()))
            .collect();
    }
    let ty = alts[0];
    if let Some(inner) = ty.strip_suffix("[]") {
        let one = samples(decls, inner).swap_remove(0);
        return vec![json!([one.clone(), one])];
    }
    vec![match ty {
        "string" => json!("USER"),
        "number" => json!(1),
        "boolean" => json!(true),
        name => Value::Object(object(decls, name, |_| true, 0)),
    }]
}

/// An object of interface `name` with the fields `keep` selects, each field
/// at its `pick`-th sample (the last one when it has fewer).
fn object(
    decls: &Declarations,
    name: &str,
    keep: impl Fn(&Field) -> bool,
    pick: usize,
) -> Map<String, Value> {
    fields(decls, name)
        .into_iter()
        .filter(|f| keep(f))
        .map(|f| {
            let mut s = samples(decls, &f.ty);
            let i = pick.min(s.len() - 1);
            (f.name, s.swap_remove(i))
        })
        .collect()
}

fn accepts<T: DeserializeOwned>(value: Map<String, Value>) -> Result<(), String> {
    serde_json::from_value::<T>(Value::Object(value))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The request checks of the module docs, for interface `name` read as `T`.
fn check_request<T: DeserializeOwned>(decls: &Declarations, name: &str) {
    let all = fields(decls, name);
    let most_samples = all
        .iter()
        .map(|f| samples(decls, &f.ty).len())
        .max()
        .unwrap();
    for pick in 0..most_samples {
        let full = object(decls, name, |_| true, pick);
        if let Err(e) = accepts::<T>(full.clone()) {
            panic!("{name}: every declared field, {full:?}, is refused: {e}");
        }
    }
    let required = object(decls, name, |f| !f.optional, 0);
    if let Err(e) = accepts::<T>(required.clone()) {
        panic!("{name}: the required fields alone, {required:?}, are refused: {e}");
    }
    for f in all.iter().filter(|f| !f.optional) {
        let mut missing = required.clone();
        missing.remove(&f.name);
        assert!(
            accepts::<T>(missing).is_err(),
            "{name}.{} is declared required, but Rust accepts the request without it",
            f.name
        );
    }
}

/// The result checks of the module docs, for interface `name`.
fn check_result<T: Serialize>(decls: &Declarations, name: &str, value: &T) {
    let value = serde_json::to_value(value).unwrap();
    let object = value.as_object().expect("an object");
    for f in fields(decls, name) {
        assert!(
            object.contains_key(&f.name) || f.optional,
            "{name}.{} is declared but Rust does not send it: {value}",
            f.name
        );
    }
    for key in object.keys() {
        assert!(
            fields(decls, name).iter().any(|f| &f.name == key),
            "Rust sends {name}.{key}, which is not declared"
        );
    }
    assert!(
        conforms(decls, &value, name),
        "{value} is not a {name} as declared"
    );
}

#[test]
fn requests_match_their_declarations() {
    let decls = declarations();
    check_request::<TokenizeRequest>(&decls, "TokenizeRequest");
    check_request::<RankRequest>(&decls, "RankRequest");
    check_request::<CompareRequest>(&decls, "CompareRequest");
    check_request::<ConversationRequest>(&decls, "ConversationRequest");
    check_request::<RankWithRefRequest>(&decls, "RankWithRefRequest");
    check_request::<BestOfNRequest>(&decls, "BestOfNRequest");
    check_request::<Message>(&decls, "Message");
    check_request::<PairRow>(&decls, "PairRow");
    check_request::<RankRow>(&decls, "RankRow");
}

#[test]
fn results_match_their_declarations() {
    let decls = declarations();
    let ranking = Ranking::from_matrix(vec![vec![0.0, 0.5], vec![-0.25, 0.0]]);
    check_result(&decls, "Ranking", &ranking);
    check_result(&decls, "Comparison", &Comparison::from(-0.5));
    check_result(&decls, "Best", &pairrm_web::requests::Best { best: 1 });
    check_result(
        &decls,
        "RefRanking",
        &RefRanking {
            reference: 0,
            ranks: vec![1, 2],
            scores: vec![0.5, -0.5],
        },
    );
    check_result(&decls, "TokenIds", &TokenIds { ids: vec![1, 2] });
    let scoring = Scoring {
        tie_band: 0.0,
        seed: 0,
    };
    let scores = [
        PairScore {
            value: 0.5,
            tokens_a: 3,
            tokens_b: 4,
            truncated: false,
        },
        PairScore {
            value: 0.0,
            tokens_a: 2,
            tokens_b: 2,
            truncated: true,
        },
    ];
    for score in &scores {
        check_result(&decls, "PairResult", &PairResult::new(score, &scoring));
    }
    // With rows (numbers) and without (nulls).
    check_result(&decls, "Summary", &summarize(&scores, &scoring));
    check_result(&decls, "Summary", &summarize(&[], &scoring));
    check_result(
        &decls,
        "RankedRow",
        &RankedRow {
            ranking,
            truncated: true,
        },
    );
    check_result(
        &decls,
        "RankSummary",
        &summarize_ranks(&[(vec![1, 2], false), (vec![2, 1], true)]),
    );
    check_result(
        &decls,
        "RowError",
        &RowError {
            line: 3,
            error: "bad".into(),
        },
    );
}

/// The field names of `pub struct name { pub field: … }` in a Rust source,
/// as serde's `rename_all = "camelCase"` writes them.
fn struct_fields_camel_case(source: &str, name: &str) -> Vec<String> {
    let start = source
        .find(&format!("pub struct {name} {{"))
        .unwrap_or_else(|| panic!("no struct {name}"));
    let body = &source[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find("\n}").unwrap()];
    body.lines()
        .filter_map(|line| line.trim().strip_prefix("pub "))
        .filter_map(|line| line.split_once(':').map(|(field, _)| field.trim()))
        .map(|field| {
            let mut parts = field.split('_');
            let first = parts.next().unwrap().to_string();
            parts.fold(first, |mut out, p| {
                out.push_str(&p[..1].to_uppercase());
                out.push_str(&p[1..]);
                out
            })
        })
        .collect()
}

/// `PairRM.load`'s options are a serde struct of the wasm crate, which builds
/// only for wasm: its fields are read from the source. Every field is
/// optional on both sides (an `Option` or a defaulted JS value).
#[test]
fn load_options_match_their_declaration() {
    let rust = struct_fields_camel_case(include_str!("../wasm/src/loader/notes.rs"), "LoadOptions");
    let decls = declarations();
    let declared = fields(&decls, "LoadOptions");
    let mut ts: Vec<String> = declared.iter().map(|f| f.name.clone()).collect();
    let mut rs = rust.clone();
    ts.sort();
    rs.sort();
    assert_eq!(
        ts, rs,
        "LoadOptions: TypeScript declares {ts:?}, Rust reads {rs:?}"
    );
    assert!(
        declared.iter().all(|f| f.optional),
        "every load option is optional"
    );
    assert!(
        rust.contains(&"stallTimeout".to_string()),
        "the field names were read: {rust:?}"
    );
}

/// Every declared interface is checked above or is the JS side's own (options
/// with callbacks, what the wasm crate reports about loading and the cache):
/// a new declaration must be placed in one list or the other.
#[test]
fn every_declaration_is_checked_or_js_only() {
    let checked = [
        "TokenizeRequest",
        "RankRequest",
        "CompareRequest",
        "ConversationRequest",
        "RankWithRefRequest",
        "BestOfNRequest",
        "Message",
        "PairRow",
        "RankRow",
        "Ranking",
        "Comparison",
        "Best",
        "RefRanking",
        "TokenIds",
        "PairResult",
        "Summary",
        "RankedRow",
        "RankSummary",
        "RowError",
        "LoadOptions",
    ];
    let js_only = [
        "LoadProgress",
        "RankOptions",
        "CacheInfo",
        "ModelProbe",
        "Scoring",
        "DatasetOptions",
        "PairEvaluation",
        "RankMany",
        "ParsedDataset",
    ];
    for name in declarations().keys() {
        assert!(
            checked.contains(&name.as_str()) || js_only.contains(&name.as_str()),
            "{name} is declared for TypeScript but neither checked here nor listed as JS-only"
        );
    }
}

/// The checks themselves can fail: a declaration that differs from the Rust
/// type is caught.
#[test]
fn a_wrong_declaration_is_caught() {
    let mut decls = declarations();
    let wrong = parse("export interface RankRequest { instruction: string; input?: string; candidates: string[]; topK?: number; }");
    decls.extend(wrong);
    let caught = std::panic::catch_unwind(|| check_request::<RankRequest>(&decls, "RankRequest"));
    assert!(caught.is_err(), "an undeclared Rust field went unnoticed");
    let mut decls = declarations();
    decls.extend(parse(
        "export interface Comparison { value: number; result: string; }",
    ));
    let caught =
        std::panic::catch_unwind(|| check_result(&decls, "Comparison", &Comparison::from(1.0)));
    assert!(
        caught.is_err(),
        "a wrongly typed result field went unnoticed"
    );
    // A required field declared optional, and an optional one declared required.
    for wrong in [
        "export interface CompareRequest { instruction: string; input?: string; a?: string; b: string; }",
        "export interface CompareRequest { instruction: string; input: string; a: string; b: string; }",
    ] {
        let mut decls = declarations();
        decls.extend(parse(wrong));
        let caught =
            std::panic::catch_unwind(|| check_request::<CompareRequest>(&decls, "CompareRequest"));
        assert!(caught.is_err(), "{wrong} went unnoticed");
    }
}
