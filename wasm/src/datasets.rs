//! The dataset half of the JS API: `evaluatePairs` and `rankMany` on a loaded
//! `PairRM`, and the model-free helpers the page uses around them
//! (`parseDataset`, `joinAlpacaEval`, `summarizePairs`). Parsing and
//! statistics are the CLI's own ([`pairrm_web::dataset`]).

use js_sys::{Array, Promise};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::bindings::{from_js, progress_reporter, to_js, to_value, PairRM};
use super::js;
use pairrm_web::dataset::{
    self, Dataset, PairResult, PairRow, PairScore, RankRow, RankSummary, RankedRow, RowError, Rows,
    Scoring, Summary,
};
use pairrm_web::error::Error;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** One comparison of a pairs dataset; other fields are ignored. */
export interface PairRow { instruction: string; input?: string; output_a: string; output_b: string; }
/** One prompt of a rankings dataset. */
export interface RankRow { instruction: string; input?: string; candidates: string[]; }
export interface Scoring {
  /** A row is a tie when |value| <= tieBand (default 0: only rows whose two orders score the same). */
  tieBand?: number;
  /** Seed of the bootstrap interval (default 0). */
  seed?: number;
}
export interface DatasetOptions extends Scoring {
  /** Rows done and in all. */
  onProgress?: (done: number, total: number) => void;
  /** Aborting stops the run between forward passes (rejects with an `AbortError`). */
  signal?: AbortSignal;
}
export interface PairResult {
  /** logit(A, B) - logit(B, A): above 0 means A is preferred. */
  value: number;
  /** P(A beats B) = sigmoid(value / 2). */
  probability: number;
  winner: "a" | "b" | "tie";
  tokens_a: number;
  tokens_b: number;
  truncated: boolean;
}
export interface Summary {
  n: number; wins: number; losses: number; ties: number;
  /** (wins + ties / 2) / n; null without rows. */
  win_rate: number | null;
  /** 95% percentile bootstrap interval over rows (1000 resamples). */
  ci: [number, number] | null;
  truncated: number;
  mean_tokens_a: number | null;
  mean_tokens_b: number | null;
  tie_band: number;
  seed: number;
}
export interface PairEvaluation { rows: PairResult[]; summary: Summary; }
export interface RankedRow extends Ranking { truncated: boolean; }
export interface RankSummary { n: number; mean_rank: number[]; firsts: number[]; truncated: number; }
export interface RankMany { rows: RankedRow[]; summary: RankSummary; }
export interface RowError { line: number; error: string; }
export interface ParsedDataset {
  format: "pairs-jsonl" | "pairs-csv" | "rankings-jsonl" | "alpaca-eval";
  description: string;
  kind: "pairs" | "rankings";
  /** The readable rows, in file order (each with its file line). */
  rows: (PairRow | RankRow)[];
  lines: number[];
  errors: RowError[];
  /** AlpacaEval: the generators named in the two files. */
  generators?: [string | null, string | null];
}
"#;

/// What `parseDataset` and `joinAlpacaEval` answer.
#[derive(Serialize)]
struct Parsed<'a> {
    format: dataset::Format,
    description: &'static str,
    kind: &'static str,
    rows: Vec<serde_json::Value>,
    lines: Vec<usize>,
    errors: Vec<RowError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generators: Option<&'a [Option<String>; 2]>,
}

fn parsed(d: &Dataset, generators: Option<&[Option<String>; 2]>) -> Result<JsValue, JsValue> {
    fn good<T: Serialize>(
        rows: &[Result<T, RowError>],
        line: impl Fn(&T) -> usize,
    ) -> (Vec<serde_json::Value>, Vec<usize>) {
        rows.iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| (serde_json::to_value(r).unwrap_or_default(), line(r)))
            .unzip()
    }
    let ((rows, lines), kind) = match &d.rows {
        Rows::Pairs(r) => (good(r, |p: &PairRow| p.line), "pairs"),
        Rows::Rankings(r) => (good(r, |p: &RankRow| p.line), "rankings"),
    };
    to_value(&Parsed {
        format: d.format,
        description: d.format.describe(),
        kind,
        rows,
        lines,
        errors: d.errors(),
        generators,
    })
}

/// Read a dataset file's text: pairs (JSONL or CSV) or rankings (JSONL).
#[wasm_bindgen(js_name = parseDataset, unchecked_return_type = "ParsedDataset")]
pub fn parse_dataset(text: &str) -> Result<JsValue, JsValue> {
    parsed(&dataset::parse(text).map_err(to_js)?, None)
}

/// Join two AlpacaEval output files (model A's, model B's) into pairs.
#[wasm_bindgen(js_name = joinAlpacaEval, unchecked_return_type = "ParsedDataset")]
pub fn join_alpaca_eval(a: &str, b: &str) -> Result<JsValue, JsValue> {
    let (d, generators) = dataset::join_alpaca_eval(a, b).map_err(to_js)?;
    parsed(&d, Some(&generators))
}

fn scoring_of(options: &JsValue) -> Result<Scoring, JsValue> {
    let number = |name: &str| js::get(options, name).as_f64();
    let seed = number("seed").unwrap_or(0.0);
    if !(seed >= 0.0 && seed.fract() == 0.0 && seed <= 2f64.powi(53)) {
        return Err(to_js(Error::input(format!(
            "seed {seed} must be a whole number ≥ 0"
        ))));
    }
    let scoring = Scoring {
        tie_band: number("tieBand").unwrap_or(0.0),
        seed: seed as u64,
    };
    scoring.check().map_err(to_js)?;
    Ok(scoring)
}

/// Each element of `rows` as a `T`, naming the first bad one by its index.
fn rows_of<T: for<'de> serde::Deserialize<'de>>(
    rows: JsValue,
    what: &str,
) -> Result<Vec<T>, JsValue> {
    let array: Array = rows
        .dyn_into()
        .map_err(|_| to_js(Error::input(format!("{what}: expected an array of rows"))))?;
    array
        .iter()
        .enumerate()
        .map(|(k, row)| from_js(row, &format!("{what}, row {}", k + 1)))
        .collect()
}

/// The summary of already scored rows (`{value, tokens_a, tokens_b, truncated}`
/// each): what `evaluatePairs` reports, for rows scored in several runs.
#[wasm_bindgen(js_name = summarizePairs, unchecked_return_type = "Summary")]
pub fn summarize_pairs(
    #[wasm_bindgen(unchecked_param_type = "PairResult[]")] rows: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Scoring")] options: Option<js_sys::Object>,
) -> Result<JsValue, JsValue> {
    let options = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
    let scoring = scoring_of(&options)?;
    let scores: Vec<PairScore> = rows_of(rows, "summarizePairs")?;
    to_value(&dataset::summarize(&scores, &scoring))
}

/// What the rankings summary needs of a ranked row.
#[derive(serde::Deserialize)]
struct RankedLine {
    ranks: Vec<usize>,
    #[serde(default)]
    truncated: bool,
}

/// The summary of already ranked rows (`{ranks, truncated}` each), as `rankMany` reports it.
#[wasm_bindgen(js_name = summarizeRanks, unchecked_return_type = "RankSummary")]
pub fn summarize_ranks(
    #[wasm_bindgen(unchecked_param_type = "RankedRow[]")] rows: JsValue,
) -> Result<JsValue, JsValue> {
    let rows: Vec<RankedLine> = rows_of(rows, "summarizeRanks")?;
    to_value(&dataset::summarize_ranks(
        &rows
            .into_iter()
            .map(|r| (r.ranks, r.truncated))
            .collect::<Vec<_>>(),
    ))
}

#[derive(Serialize)]
struct PairEvaluation {
    rows: Vec<PairResult>,
    summary: Summary,
}

#[derive(Serialize)]
struct RankMany {
    rows: Vec<RankedRow>,
    summary: RankSummary,
}

#[wasm_bindgen]
impl PairRM {
    /// `[{instruction, input?, output_a, output_b}]` → `{rows, summary}`: each
    /// row in both orders (value = logit(A,B) − logit(B,A)), the win rate of A
    /// with its bootstrap interval. Options: `tieBand`, `seed`,
    /// `onProgress(rowsDone, rows)`, `signal`.
    #[wasm_bindgen(js_name = evaluatePairs, unchecked_return_type = "Promise<PairEvaluation>")]
    pub fn evaluate_pairs(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PairRow[]")] rows: JsValue,
        #[wasm_bindgen(unchecked_param_type = "DatasetOptions")] options: Option<js_sys::Object>,
    ) -> Promise {
        let options = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let ranker = self.ranker.clone();
        future_to_promise(async move {
            let scoring = scoring_of(&options)?;
            let rows: Vec<PairRow> = rows_of(rows, "evaluatePairs")?;
            let mut progress = progress_reporter(&options)?;
            let scores = ranker
                .evaluate_pairs(&rows, &mut progress)
                .await
                .map_err(to_js)?;
            to_value(&PairEvaluation {
                rows: scores
                    .iter()
                    .map(|s| PairResult::new(s, &scoring))
                    .collect(),
                summary: dataset::summarize(&scores, &scoring),
            })
        })
    }

    /// `[{instruction, input?, candidates}]` → `{rows, summary}`: a full
    /// ranking per row, and per candidate position its mean rank and firsts.
    /// Options: `onProgress(rowsDone, rows)`, `signal`.
    #[wasm_bindgen(js_name = rankMany, unchecked_return_type = "Promise<RankMany>")]
    pub fn rank_many(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RankRow[]")] rows: JsValue,
        #[wasm_bindgen(unchecked_param_type = "DatasetOptions")] options: Option<js_sys::Object>,
    ) -> Promise {
        let options = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let ranker = self.ranker.clone();
        future_to_promise(async move {
            let rows: Vec<RankRow> = rows_of(rows, "rankMany")?;
            let mut progress = progress_reporter(&options)?;
            let ranked = ranker
                .rank_many(&rows, &mut progress)
                .await
                .map_err(to_js)?;
            let summary = dataset::summarize_ranks(
                &ranked
                    .iter()
                    .map(|r| (r.ranking.ranks.clone(), r.truncated))
                    .collect::<Vec<_>>(),
            );
            to_value(&RankMany {
                rows: ranked,
                summary,
            })
        })
    }
}
