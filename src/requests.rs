//! The requests the CLI (one JSON line each) and the JS class (one object
//! each) accept: one serde type per method, shared, so both take the same
//! fields. Unknown fields are errors: a misspelt or misplaced option (a `mode`
//! sent to `rank`) must not be ignored silently. A [`Request`] is answered by
//! one dispatcher ([`crate::Ranker::answer`]) with a [`Response`].

use serde::{Deserialize, Serialize};

use crate::api::{BestOfN, Message};
use crate::error::{Error, Result};
use crate::rank::{CompareMode, Ranking};

/// `tokenize`: the ids the model sees for one text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizeRequest {
    pub text: String,
}

/// `rank`: every candidate against every other.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankRequest {
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    pub candidates: Vec<String>,
}

/// `compare`: one pair; `mode` defaults to the caller's (the CLI's `--mode`,
/// else `both`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    pub a: String,
    pub b: String,
    #[serde(default)]
    pub mode: Option<CompareMode>,
}

/// `compareConversations`: two conversations with the same USER turns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationRequest {
    pub a: Vec<Message>,
    pub b: Vec<Message>,
}

/// `rankWithRef`: every candidate against one reference candidate (by index;
/// the longest when absent).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankWithRefRequest {
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    pub candidates: Vec<String>,
    #[serde(default)]
    pub reference: Option<usize>,
}

/// `bestOfN`: `mode` "bubble" (default, seeded order) or "full" (a ranking).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BestOfNRequest {
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    pub candidates: Vec<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
}

impl BestOfNRequest {
    pub fn strategy(&self) -> Result<BestOfN> {
        match self.mode.as_deref().unwrap_or("bubble") {
            "bubble" => Ok(BestOfN::Bubble {
                seed: self.seed.unwrap_or(0),
            }),
            "full" if self.seed.is_some() => Err(Error::input(
                "seed applies to the bubble mode only, not to full".into(),
            )),
            "full" => Ok(BestOfN::Full),
            other => Err(Error::input(format!(
                "unknown best-of-n mode {other:?} (expected bubble or full)"
            ))),
        }
    }
}

/// What `compare` answers outside Rust (CLI line, JS object): the value and
/// whether A is preferred (value above 0), as the reference reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    pub value: f64,
    pub result: bool,
}

impl From<f64> for Comparison {
    fn from(value: f64) -> Self {
        Self {
            value,
            result: value > 0.0,
        }
    }
}

/// Ranks and scores against a reference candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefRanking {
    pub reference: usize,
    pub ranks: Vec<usize>,
    pub scores: Vec<f64>,
}

/// `tokenize`'s answer.
#[derive(Debug, Serialize)]
pub struct TokenIds {
    pub ids: Vec<u32>,
}

/// `bestOfN`'s answer: the index of the best candidate.
#[derive(Debug, Serialize)]
pub struct Best {
    pub best: usize,
}

/// One request from a JSON text (a CLI line).
pub fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::input(e.to_string()))
}

/// What a request asks for: a method of the JS class, a command of the CLI.
/// Non-exhaustive: new requests may come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    Tokenize,
    Rank,
    Compare,
    CompareConversations,
    RankWithRef,
    BestOfN,
}

/// Any request a loaded model answers.
#[derive(Debug)]
#[non_exhaustive]
pub enum Request {
    Tokenize(TokenizeRequest),
    Rank(RankRequest),
    Compare(CompareRequest),
    CompareConversations(ConversationRequest),
    RankWithRef(RankWithRefRequest),
    BestOfN(BestOfNRequest),
}

impl Request {
    /// The request for `method` from its JSON text (a CLI line).
    pub fn from_json(method: Method, text: &str) -> Result<Self> {
        Ok(match method {
            Method::Tokenize => Self::Tokenize(from_json(text)?),
            Method::Rank => Self::Rank(from_json(text)?),
            Method::Compare => Self::Compare(from_json(text)?),
            Method::CompareConversations => Self::CompareConversations(from_json(text)?),
            Method::RankWithRef => Self::RankWithRef(from_json(text)?),
            Method::BestOfN => Self::BestOfN(from_json(text)?),
        })
    }
}

/// The answer to a [`Request`]; serialized, the method's result object
/// (`{ranks, scores, …}`, `{value, result}`, …), the same in the CLI and JS.
#[derive(Debug, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Response {
    TokenIds(TokenIds),
    Ranking(Ranking),
    Comparison(Comparison),
    RefRanking(RefRanking),
    Best(Best),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_errors() {
        let e =
            from_json::<RankRequest>(r#"{"instruction":"i","candidates":["a","b"],"mode":"ab"}"#)
                .unwrap_err();
        assert!(e.to_string().contains("unknown field `mode`"), "{e}");
        assert!(from_json::<RankRequest>(r#"{"instruction":"i","candidates":["a","b"]}"#).is_ok());
    }

    #[test]
    fn compare_modes_parse_as_the_reference_names_them() {
        let r: CompareRequest =
            from_json(r#"{"instruction":"i","a":"x","b":"y","mode":"[B,A]"}"#).unwrap();
        assert_eq!(r.mode, Some(CompareMode::Ba));
        let e = from_json::<CompareRequest>(r#"{"instruction":"i","a":"x","b":"y","mode":"up"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("expected ab, ba or both"), "{e}");
    }

    #[test]
    fn requests_parse_by_method_and_answers_serialize_as_their_objects() {
        let r = Request::from_json(Method::Compare, r#"{"instruction":"i","a":"x","b":"y"}"#);
        assert!(matches!(
            r,
            Ok(Request::Compare(CompareRequest { mode: None, .. }))
        ));
        // A rank request is not a compare request: its fields are unknown there.
        let e = Request::from_json(Method::Compare, r#"{"instruction":"i","candidates":[]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("candidates"), "{e}");
        let json = serde_json::to_value(Response::Comparison(Comparison::from(-0.5))).unwrap();
        assert_eq!(json, serde_json::json!({"value": -0.5, "result": false}));
        let json = serde_json::to_value(Response::Best(Best { best: 2 })).unwrap();
        assert_eq!(json, serde_json::json!({"best": 2}));
    }

    #[test]
    fn best_of_n_modes() {
        let parse = |s: &str| from_json::<BestOfNRequest>(s).unwrap().strategy();
        let base = r#""instruction":"i","candidates":["a","b"]"#;
        assert_eq!(
            parse(&format!("{{{base}}}")).unwrap(),
            BestOfN::Bubble { seed: 0 }
        );
        assert_eq!(
            parse(&format!(r#"{{{base},"mode":"bubble","seed":7}}"#)).unwrap(),
            BestOfN::Bubble { seed: 7 }
        );
        assert_eq!(
            parse(&format!(r#"{{{base},"mode":"full"}}"#)).unwrap(),
            BestOfN::Full
        );
        assert!(parse(&format!(r#"{{{base},"mode":"Full"}}"#)).is_err());
        assert!(parse(&format!(r#"{{{base},"mode":"full","seed":1}}"#)).is_err());
    }
}
