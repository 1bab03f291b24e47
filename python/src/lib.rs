//! `pairrm._pairrm`: the core library as a Python extension. A thin layer:
//! each method converts its arguments, releases the GIL while the core
//! computes, and maps the core's errors to Python exceptions. The
//! LLM-Blender- and TRL-shaped API (numpy arrays, signatures, defaults) is
//! Python, in `pairrm/`.

use std::path::PathBuf;

use pairrm_web::api::LoadSettings;
use pairrm_web::dataset::{self, PairRow, PairScore, RankRow, Scoring, Verdict};
use pairrm_web::device::{self, DeviceChoice};
use pairrm_web::{block_on, CompareMode, Error, Keep, Message, Ranker, WeightDtype};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// The core's errors as Python's: bad input, config, tokenizer or weights
/// → ValueError; an unreadable file → OSError; a device failure →
/// RuntimeError; a cancel (Ctrl-C) → KeyboardInterrupt.
fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::Io { .. } => PyOSError::new_err(message),
        Error::Device(_) => PyRuntimeError::new_err(message),
        Error::Cancelled => PyKeyboardInterrupt::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// Runs `work` without the GIL, giving it a progress hook that calls
/// `callback(done, total)` (with the GIL) and stops the work when the
/// callback raises or Ctrl-C is pressed; that exception is what Python sees.
fn detached<T: Send>(
    py: Python<'_>,
    callback: Option<Py<PyAny>>,
    work: impl FnOnce(&mut dyn FnMut(usize, usize) -> bool) -> pairrm_web::Result<T> + Send,
) -> PyResult<T> {
    let mut raised: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut progress = |done: usize, total: usize| {
            Python::attach(|py| {
                let outcome = py.check_signals().and_then(|()| match &callback {
                    Some(f) => f.call1(py, (done, total)).map(drop),
                    None => Ok(()),
                });
                outcome.map_err(|e| raised = Some(e)).is_ok()
            })
        };
        work(&mut progress)
    });
    match (result, raised) {
        (Ok(v), _) => Ok(v),
        (Err(Error::Cancelled), Some(e)) => Err(e),
        (Err(e), _) => Err(to_py(e)),
    }
}

/// A loaded PairRM. Immutable once loaded, so one model serves any number of
/// Python threads at once (each call computes without the GIL).
#[pyclass(frozen, module = "pairrm._pairrm")]
struct Model {
    ranker: Ranker,
    device: &'static str,
}

type Pair = (String, String, String, String);

#[pymethods]
impl Model {
    /// Load a folder of `llm-blender/PairRM` or `PairRM-hf` files (or one
    /// written by `pairrm convert`). `device`: cpu, gpu (wgpu) or auto;
    /// `dtype`: f32, f16 or q8 to convert the weights while loading.
    #[staticmethod]
    #[pyo3(signature = (path, device = "cpu", dtype = None, batch_size = None))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        device: &str,
        dtype: Option<&str>,
        batch_size: Option<usize>,
    ) -> PyResult<Self> {
        let choice: DeviceChoice = device.parse().map_err(to_py)?;
        let dtype: Option<WeightDtype> = dtype.map(str::parse).transpose().map_err(to_py)?;
        py.detach(|| {
            let (dev, name) = device::select(choice)?;
            let settings = LoadSettings {
                dtype,
                ..LoadSettings::default()
            };
            let mut ranker = Ranker::load_dir_with(&path, &dev, &settings)?;
            if let Some(b) = batch_size {
                ranker.set_batch_size(b);
            }
            Ok(Model {
                ranker,
                device: name,
            })
        })
        .map_err(to_py)
    }

    /// "cpu" or "wgpu".
    #[getter]
    fn device(&self) -> &'static str {
        self.device
    }

    /// The precision of the weights computed with: f32, f16 or q8.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.ranker.dtype().name()
    }

    #[getter]
    fn source_maxlength(&self) -> usize {
        self.ranker.config().source_maxlength
    }

    #[getter]
    fn candidate_maxlength(&self) -> usize {
        self.ranker.config().candidate_maxlength
    }

    /// The ids the model sees for one text (markers typed by a user are text).
    fn tokenize(&self, text: &str) -> PyResult<Vec<u32>> {
        self.ranker.tokenizer().tokenize(text).map_err(to_py)
    }

    /// `logit(a, b)` of each `(instruction, input, a, b)`: one order each.
    #[pyo3(signature = (rows, progress = None))]
    fn logits(
        &self,
        py: Python<'_>,
        rows: Vec<Pair>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Vec<f64>> {
        detached(py, progress, |report| {
            let pairs = rows
                .iter()
                .map(|(instruction, input, a, b)| self.ranker.pair_input(instruction, input, a, b))
                .collect::<pairrm_web::Result<Vec<_>>>()?;
            block_on(self.ranker.logits_with_progress(&pairs, report))
        })
    }

    /// Each `(instruction, input, a, b)` in both orders: `(value, tokens_a,
    /// tokens_b, truncated)` with `value = logit(a, b) − logit(b, a)`.
    #[pyo3(signature = (rows, progress = None))]
    fn score_pairs(
        &self,
        py: Python<'_>,
        rows: Vec<Pair>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Vec<(f64, usize, usize, bool)>> {
        let rows: Vec<PairRow> = rows
            .into_iter()
            .map(|(instruction, input, output_a, output_b)| PairRow {
                line: 0,
                instruction,
                input,
                output_a,
                output_b,
            })
            .collect();
        let scores = detached(py, progress, |report| {
            block_on(self.ranker.evaluate_pairs(&rows, report))
        })?;
        Ok(scores
            .into_iter()
            .map(|s| (s.value, s.tokens_a, s.tokens_b, s.truncated))
            .collect())
    }

    /// Each `(instruction, input, candidates)` ranked: `(logits, scores,
    /// ranks, truncated)`, the N×N logit matrix, the reference's scores and
    /// its 1-based ranks (ties share the better rank).
    #[pyo3(signature = (rows, progress = None))]
    #[allow(clippy::type_complexity)]
    fn rank(
        &self,
        py: Python<'_>,
        rows: Vec<(String, String, Vec<String>)>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Vec<(Vec<Vec<f64>>, Vec<f64>, Vec<usize>, bool)>> {
        let rows: Vec<RankRow> = rows
            .into_iter()
            .map(|(instruction, input, candidates)| RankRow {
                line: 0,
                instruction,
                input,
                candidates,
            })
            .collect();
        let ranked = detached(py, progress, |report| {
            block_on(self.ranker.rank_many(&rows, report))
        })?;
        Ok(ranked
            .into_iter()
            .map(|r| {
                (
                    r.ranking.logits,
                    r.ranking.scores,
                    r.ranking.ranks,
                    r.truncated,
                )
            })
            .collect())
    }

    /// One bubble pass over `order` (a permutation of the candidate indices):
    /// `[kept, dropped at step 1, …]`, keeping the better of each pair, or
    /// the worse when `worst`.
    #[pyo3(signature = (instruction, input, candidates, order, worst = false))]
    fn bubble(
        &self,
        py: Python<'_>,
        instruction: String,
        input: String,
        candidates: Vec<String>,
        order: Vec<usize>,
        worst: bool,
    ) -> PyResult<Vec<usize>> {
        let keep = if worst { Keep::Worst } else { Keep::Best };
        detached(py, None, |_| {
            block_on(
                self.ranker
                    .bubble_pass(&instruction, &input, &candidates, &order, keep),
            )
        })
    }
}

/// A compare mode's name ("[A,B]", "ab", "both", …) as the core reads it.
#[pyfunction]
fn compare_mode(mode: &str) -> PyResult<&'static str> {
    let mode: CompareMode = mode.parse().map_err(PyValueError::new_err)?;
    Ok(match mode {
        CompareMode::Ab => "ab",
        CompareMode::Ba => "ba",
        CompareMode::Both => "both",
    })
}

/// Two conversations as PairRM sees them: `(instruction, input, a, b)`.
/// Each turn is `(role, content)`.
#[pyfunction]
fn conversation_pair(
    a: Vec<(String, String)>,
    b: Vec<(String, String)>,
) -> PyResult<(String, String, String, String)> {
    let messages = |turns: Vec<(String, String)>| -> Vec<Message> {
        turns
            .into_iter()
            .map(|(role, content)| Message { role, content })
            .collect()
    };
    let (input, a, b) =
        pairrm_web::conversation::conversation_texts(&messages(a), &messages(b)).map_err(to_py)?;
    Ok((
        pairrm_web::conversation::CONVERSATION_INSTRUCTION.to_string(),
        input,
        a,
        b,
    ))
}

/// 1-based ranks of scores, higher is better; tied scores share the better
/// rank (the reference's `get_ranks_from_scores`).
#[pyfunction]
fn ranks(scores: Vec<f64>) -> Vec<usize> {
    pairrm_web::rank::ranks_from_scores(&scores)
}

/// The seeded visiting order of a bubble pass over `n` candidates (the
/// CLI's and the page's `bestOfN` order for the same seed).
#[pyfunction]
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    pairrm_web::rank::permutation(n, seed)
}

fn scoring(tie_band: f64, seed: u64) -> PyResult<Scoring> {
    let scoring = Scoring { tie_band, seed };
    scoring.check().map_err(to_py)?;
    Ok(scoring)
}

/// Each row's verdict from its value: `(probability, winner)`, winner "a",
/// "b" or "tie" (the CLI's per-row fields).
#[pyfunction]
#[pyo3(signature = (values, tie_band = 0.0))]
fn verdicts(values: Vec<f64>, tie_band: f64) -> PyResult<Vec<(f64, &'static str)>> {
    let scoring = scoring(tie_band, 0)?;
    Ok(values
        .into_iter()
        .map(|v| {
            let verdict = Verdict::new(v, &scoring);
            let winner = match verdict.winner {
                dataset::Winner::A => "a",
                dataset::Winner::B => "b",
                dataset::Winner::Tie => "tie",
            };
            (verdict.probability, winner)
        })
        .collect())
}

/// The dataset summary of scored rows `(value, tokens_a, tokens_b,
/// truncated)`, in dataset order, as JSON: the CLI's `summary` object (win
/// rate, seeded bootstrap interval, counts).
#[pyfunction]
#[pyo3(signature = (rows, tie_band = 0.0, seed = 0))]
fn summarize(rows: Vec<(f64, usize, usize, bool)>, tie_band: f64, seed: u64) -> PyResult<String> {
    let scoring = scoring(tie_band, seed)?;
    let rows: Vec<PairScore> = rows
        .into_iter()
        .map(|(value, tokens_a, tokens_b, truncated)| PairScore {
            value,
            tokens_a,
            tokens_b,
            truncated,
        })
        .collect();
    serde_json::to_string(&dataset::summarize(&rows, &scoring))
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

#[pymodule]
fn _pairrm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(compare_mode, m)?)?;
    m.add_function(wrap_pyfunction!(conversation_pair, m)?)?;
    m.add_function(wrap_pyfunction!(permutation, m)?)?;
    m.add_function(wrap_pyfunction!(ranks, m)?)?;
    m.add_function(wrap_pyfunction!(verdicts, m)?)?;
    m.add_function(wrap_pyfunction!(summarize, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
