//! `pairrm`: the native CLI. JSONL on stdin, one JSON object per input line on
//! stdout, in order. A bad line yields `{"error", "line"}` in its place, a
//! message on stderr, and a non-zero exit status at the end.

fn main() -> std::process::ExitCode {
    cli::main()
}

mod bench;
mod jsonl;
mod tools;
mod winrate;

mod cli {
    use std::io::IsTerminal;
    use std::path::PathBuf;
    use std::process::ExitCode;

    use crate::bench::BenchOptions;
    use clap::{Args, Parser, Subcommand, ValueEnum};
    use pairrm_web::api::{LoadSettings, TokenizerPreference};
    use pairrm_web::device::{self, DeviceChoice};
    use pairrm_web::files::DirSource;
    use pairrm_web::load::load_tokenizer;
    use pairrm_web::requests::{Method, Request, Response, TokenIds};
    use pairrm_web::tokenize::PairRmTokenizer;
    use pairrm_web::{block_on, CompareMode, Error, Ranker, WeightDtype};
    use serde_json::{json, Value};

    use super::jsonl::{self, for_terminal, Outcome};
    use super::{tools, winrate};

    /// PairRM (LLM-Blender's pairwise reward model) on the CPU or a GPU.
    /// Model commands read one JSON object per line on stdin and write one per
    /// line on stdout, in order; a line that fails gets {"error", "line"}.
    #[derive(Parser)]
    #[command(name = "pairrm", version)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// {"text"} -> {"ids"}
        Tokenize(ModelArgs),
        /// {"instruction", "input"?, "candidates"} -> {"ranks", "scores", "logits", "probabilities"}
        Rank(RunArgs),
        /// {"instruction", "input"?, "a", "b", "mode"?} -> {"value", "result"}
        Compare {
            #[command(flatten)]
            run: RunArgs,
            /// How the two orders combine when a line has no "mode": ab, ba or both.
            #[arg(long, default_value = "both", value_parser = parse_mode)]
            mode: CompareMode,
        },
        /// {"a": [messages], "b": [messages]} -> {"value", "result"}
        CompareConversations(RunArgs),
        /// {"instruction", "input"?, "candidates", "reference"?} -> {"reference", "ranks", "scores"}
        RankWithRef(RunArgs),
        /// {"instruction", "input"?, "candidates", "mode"?: "bubble"|"full", "seed"?} -> {"best"}
        BestOfN(RunArgs),
        /// Win rate of outputs A over outputs B: a pairs dataset on stdin (JSONL or CSV with
        /// instruction, input?, output_a, output_b) or two AlpacaEval files (--a, --b).
        /// One {"value", "probability", "winner"} (or {"error", "line"}) per row, then
        /// {"summary": {"n", "wins", "losses", "ties", "win_rate", "ci", "truncated", ...}}.
        Winrate {
            #[command(flatten)]
            run: RunArgs,
            /// AlpacaEval outputs of model A (a JSON list of {instruction, output, generator}).
            #[arg(long, value_name = "FILE", requires = "b")]
            a: Option<PathBuf>,
            /// AlpacaEval outputs of model B, joined to A's by instruction.
            #[arg(long, value_name = "FILE", requires = "a")]
            b: Option<PathBuf>,
            /// A row is a tie when |value| <= this (logit units; 0: only exact ties).
            #[arg(long, default_value_t = 0.0, value_parser = non_negative, allow_negative_numbers = true)]
            tie_band: f64,
            /// Seed of the bootstrap confidence interval.
            #[arg(long, default_value_t = 0)]
            seed: u64,
        },
        /// Time the forward pass at PairRM-large dims with random weights.
        Bench {
            /// cpu, cpu-burn (burn's tensor ops on the CPU), wgpu, all, or a comma list.
            #[arg(long, default_value = "cpu")]
            device: String,
            /// Tokens per pair (at least 12).
            #[arg(long, default_value_t = 256, value_parser = positive, allow_negative_numbers = true)]
            tokens: usize,
            #[arg(long, default_value_t = 4, value_parser = positive, allow_negative_numbers = true)]
            batch_size: usize,
            /// Timed batches.
            #[arg(long, default_value_t = 3, value_parser = positive, allow_negative_numbers = true)]
            iters: usize,
            #[arg(long, default_value_t = 24, value_parser = positive, allow_negative_numbers = true)]
            layers: usize,
            /// Weights: f32, f16 or q8 (random f32 weights converted).
            #[arg(long, default_value = "f32", value_parser = parse_dtype)]
            dtype: WeightDtype,
        },
        /// Write a copy of a model dir with its weights in another dtype: f16 (half the
        /// bytes) or q8 (int8 with a scale per row, compressed-tensors names: a quarter).
        Convert {
            /// The model dir to convert (f32, or f16 for q8).
            #[arg(long, value_name = "DIR")]
            model: PathBuf,
            /// Where the converted model dir is written.
            #[arg(long, value_name = "DIR")]
            out: PathBuf,
            /// f16 or q8.
            #[arg(long, value_parser = parse_dtype)]
            dtype: WeightDtype,
        },
        /// Write a random PairRM-large model dir (1.74 GB) with the tokenizer of --model.
        MakeRandomModel {
            /// A model dir (a fixture) to take the tokenizer files from.
            #[arg(long, value_name = "DIR")]
            model: PathBuf,
            #[arg(long, value_name = "DIR")]
            out: PathBuf,
            #[arg(long, default_value_t = 24, value_parser = positive, allow_negative_numbers = true)]
            layers: usize,
            /// Fixes every weight (the large-model reference check uses 42).
            #[arg(long, default_value_t = 42)]
            seed: u64,
        },
    }

    #[derive(Args)]
    struct ModelArgs {
        /// A model dir with the files of llm-blender/PairRM or llm-blender/PairRM-hf.
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// Which tokenizer files to read (auto: tokenizer.json if present).
        #[arg(long, value_enum, default_value_t = TokenizerArg::Auto)]
        tokenizer: TokenizerArg,
    }

    #[derive(Args)]
    struct RunArgs {
        #[command(flatten)]
        files: ModelArgs,
        /// Compute device: cpu, wgpu, or auto (wgpu when an adapter exists).
        #[arg(long, default_value = "cpu", value_parser = parse_device)]
        device: DeviceChoice,
        /// Most comparisons per forward pass (results do not depend on it).
        #[arg(long, value_parser = positive, allow_negative_numbers = true)]
        batch_size: Option<usize>,
        /// Convert the weights as they load: f16 or q8 (int8) from an f32 model
        /// (default: as stored; f32 gives the reference's numbers).
        #[arg(long, value_parser = parse_dtype)]
        dtype: Option<WeightDtype>,
    }

    #[derive(Clone, Copy, ValueEnum)]
    enum TokenizerArg {
        Auto,
        Json,
        Spm,
    }

    impl From<TokenizerArg> for TokenizerPreference {
        fn from(t: TokenizerArg) -> Self {
            match t {
                TokenizerArg::Auto => TokenizerPreference::Auto,
                TokenizerArg::Json => TokenizerPreference::Json,
                TokenizerArg::Spm => TokenizerPreference::Spm,
            }
        }
    }

    fn positive(v: &str) -> Result<usize, String> {
        v.parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| "needs a positive number".to_string())
    }

    fn non_negative(v: &str) -> Result<f64, String> {
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| "needs a number >= 0".to_string())
    }

    fn parse_mode(v: &str) -> Result<CompareMode, String> {
        v.parse()
    }

    fn parse_dtype(v: &str) -> Result<WeightDtype, String> {
        v.parse().map_err(|e: Error| e.to_string())
    }

    fn parse_device(v: &str) -> Result<DeviceChoice, String> {
        v.parse().map_err(|e: Error| e.to_string())
    }

    /// Draws a progress bar on stderr when it is a terminal and the work is long.
    fn progress_bar(label: &str) -> impl FnMut(usize, usize) -> bool + '_ {
        let tty = std::io::stderr().is_terminal();
        move |done, total| {
            if tty && total >= 16 {
                let width = 30;
                let filled = done * width / total.max(1);
                eprint!(
                    "\r{label} [{}{}] {done}/{total}",
                    "#".repeat(filled),
                    " ".repeat(width - filled)
                );
                if done == total {
                    eprint!("\r{}\r", " ".repeat(width + label.len() + 24));
                }
            }
            true
        }
    }

    /// The request a line command reads from each line.
    fn method(command: &Command) -> Option<Method> {
        Some(match command {
            Command::Tokenize(_) => Method::Tokenize,
            Command::Rank(_) => Method::Rank,
            Command::Compare { .. } => Method::Compare,
            Command::CompareConversations(_) => Method::CompareConversations,
            Command::RankWithRef(_) => Method::RankWithRef,
            Command::BestOfN(_) => Method::BestOfN,
            Command::Bench { .. }
            | Command::MakeRandomModel { .. }
            | Command::Convert { .. }
            | Command::Winrate { .. } => return None,
        })
    }

    /// What a line command does with one line: the core's dispatcher, but
    /// `tokenize` needs only the tokenizer (no weights are loaded for it).
    fn answer(
        command: &Command,
        loaded: &Loaded,
        line: &str,
        lineno: usize,
    ) -> Result<Value, Error> {
        let method = method(command).expect("a line command");
        let mut request = Request::from_json(method, line)?;
        if let (Request::Compare(r), Command::Compare { mode, .. }) = (&mut request, command) {
            r.mode.get_or_insert(*mode);
        }
        let response = match (loaded, request) {
            (Loaded::Tokenizer(t), Request::Tokenize(r)) => Response::TokenIds(TokenIds {
                ids: t.tokenize(&r.text)?,
            }),
            (Loaded::Ranker(ranker), request) => {
                let label = format!("line {lineno}");
                let mut progress = progress_bar(&label);
                block_on(ranker.answer(request, &mut progress))?
            }
            (Loaded::Tokenizer(_), _) => unreachable!("only tokenize loads the tokenizer alone"),
        };
        Ok(json!(response))
    }

    /// What a line command loads: the tokenizer alone, or the whole model.
    #[allow(clippy::large_enum_variant)] // one per run
    enum Loaded {
        Tokenizer(PairRmTokenizer),
        Ranker(Ranker),
    }

    fn load(command: &Command) -> Result<Loaded, Error> {
        let run = match command {
            Command::Tokenize(files) => {
                let mut source = DirSource::new(&files.model);
                let tokenizer = block_on(load_tokenizer(&mut source, files.tokenizer.into()))?;
                return Ok(Loaded::Tokenizer(tokenizer));
            }
            Command::Compare { run, .. } | Command::Winrate { run, .. } => run,
            Command::Rank(run)
            | Command::CompareConversations(run)
            | Command::RankWithRef(run)
            | Command::BestOfN(run) => run,
            Command::Bench { .. } | Command::MakeRandomModel { .. } | Command::Convert { .. } => {
                unreachable!("not a model command")
            }
        };
        let (dev, _) = device::select(run.device)?;
        let settings = LoadSettings {
            dtype: run.dtype,
            tokenizer: run.files.tokenizer.into(),
        };
        let mut ranker = Ranker::load_dir_with(&run.files.model, &dev, &settings)?;
        if let Some(b) = run.batch_size {
            ranker.set_batch_size(b);
        }
        Ok(Loaded::Ranker(ranker))
    }

    fn model_dir(command: &Command) -> &PathBuf {
        match command {
            Command::Tokenize(files) => &files.model,
            Command::Compare { run, .. }
            | Command::Winrate { run, .. }
            | Command::Rank(run)
            | Command::CompareConversations(run)
            | Command::RankWithRef(run)
            | Command::BestOfN(run) => &run.files.model,
            Command::Bench { .. } => unreachable!("bench has no model"),
            Command::MakeRandomModel { model, .. } | Command::Convert { model, .. } => model,
        }
    }

    pub fn main() -> ExitCode {
        let command = Cli::parse().command;
        match &command {
            Command::MakeRandomModel {
                model,
                out,
                layers,
                seed,
            } => {
                return match tools::make_random_model(model, out, *layers, *seed) {
                    Ok(()) => {
                        println!("wrote a random PairRM-large model to {}", out.display());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("pairrm make-random-model: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            Command::Convert { model, out, dtype } => {
                return match pairrm_web::weights::convert_model_dir(model, out, *dtype) {
                    Ok(()) => {
                        let size = |d: &PathBuf| {
                            std::fs::metadata(d.join("model.safetensors")).map_or(0, |m| m.len())
                        };
                        let report = json!({"out": out, "dtype": dtype.name(),
                            "bytes": size(out), "source_bytes": size(model)});
                        println!("{report}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("pairrm convert: {}", for_terminal(&e.to_string()));
                        ExitCode::FAILURE
                    }
                };
            }
            Command::Bench {
                device,
                tokens,
                batch_size,
                iters,
                layers,
                dtype,
            } => {
                let opts = BenchOptions {
                    tokens: (*tokens).max(12),
                    batch_size: *batch_size,
                    iters: *iters,
                    layers: *layers,
                    dtype: *dtype,
                };
                return match tools::run_bench(device, &opts) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("pairrm bench: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            _ => {}
        }
        let loaded = match load(&command) {
            Ok(x) => x,
            Err(e) => {
                eprintln!(
                    "pairrm: cannot load model from {}: {}",
                    model_dir(&command).display(),
                    for_terminal(&e.to_string())
                );
                return ExitCode::FAILURE;
            }
        };
        if let (
            Command::Winrate {
                a,
                b,
                tie_band,
                seed,
                ..
            },
            Loaded::Ranker(ranker),
        ) = (&command, &loaded)
        {
            let scoring = pairrm_web::dataset::Scoring {
                tie_band: *tie_band,
                seed: *seed,
            };
            return winrate::main(
                ranker,
                (a.as_deref(), b.as_deref()),
                &scoring,
                &mut progress_bar("rows"),
            );
        }
        let outcome = jsonl::run(
            std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            |line, lineno| answer(&command, &loaded, line, lineno),
        );
        match outcome {
            Outcome::Done { failed: 0 } => ExitCode::SUCCESS,
            Outcome::Done { failed } => {
                eprintln!("pairrm: {failed} line(s) failed");
                ExitCode::FAILURE
            }
            Outcome::Broken(why) => {
                eprintln!("pairrm: {why}");
                ExitCode::FAILURE
            }
        }
    }
}
