//! `pairrm`: the native CLI. JSONL on stdin, one JSON object per input line on
//! stdout, in order. A bad line yields `{"error", "line"}` in its place, a
//! message on stderr, and a non-zero exit status at the end.

#[cfg(target_arch = "wasm32")]
fn main() {
    // The CLI is native only; in a browser use the `PairRM` JS class.
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::io::{BufRead, IsTerminal, Write};
    use std::path::PathBuf;
    use std::process::ExitCode;

    use pairrm_web::api::{read_model_dir, read_tokenizer_files, TokenizerPreference};
    use pairrm_web::bench::{self, BenchOptions};
    use pairrm_web::device::{self, DeviceChoice};
    use pairrm_web::model::Engine;
    use pairrm_web::{block_on, BestOfN, CompareMode, Comparison, Error, Message, Ranker};
    use serde::Deserialize;
    use serde_json::{json, Value};

    const USAGE: &str = "usage: pairrm <command> [options] < input.jsonl > output.jsonl

commands (one JSON object per line in and out):
  tokenize               --model DIR   {\"text\"} -> {\"ids\"}
  rank                   --model DIR   {\"instruction\", \"input\"?, \"candidates\"} -> {\"ranks\", \"scores\", \"logits\", \"probabilities\"}
  compare                --model DIR [--mode ab|ba|both]   {\"instruction\", \"input\"?, \"a\", \"b\"} -> {\"value\", \"result\"}
  compare-conversations  --model DIR   {\"a\": [messages], \"b\": [messages]} -> {\"value\", \"result\"}
  rank-with-ref          --model DIR   {\"instruction\", \"input\"?, \"candidates\", \"reference\"?} -> {\"reference\", \"ranks\", \"scores\"}
  best-of-n              --model DIR   {\"instruction\", \"input\"?, \"candidates\", \"mode\"?: \"bubble\"|\"full\", \"seed\"?} -> {\"best\"}
  bench                  [--device cpu|cpu-burn|wgpu|all] [--tokens 256] [--batch-size 4] [--iters 3] [--layers 24]
  make-random-model      --model FIXTURE --out DIR [--layers 24]   a random PairRM-large model dir (1.74 GB)

options:
  --model DIR            a model dir with the files of llm-blender/PairRM or llm-blender/PairRM-hf
  --device cpu|wgpu|auto compute device (default cpu; auto = wgpu when an adapter exists)
  --batch-size N         comparisons per forward pass (default 8; results do not depend on it)
  --tokenizer auto|json|spm  which tokenizer files to read (default auto: tokenizer.json if present)";

    struct Args {
        command: String,
        model: Option<PathBuf>,
        out: Option<PathBuf>,
        device: String,
        mode: CompareMode,
        batch_size: Option<usize>,
        tokenizer: TokenizerPreference,
        tokens: usize,
        iters: usize,
        layers: usize,
    }

    fn parse_args() -> Result<Args, String> {
        let mut it = std::env::args().skip(1);
        let command = it.next().ok_or("no command given")?;
        if command == "-h" || command == "--help" {
            return Err(String::new());
        }
        let mut a = Args {
            command,
            model: None,
            out: None,
            device: "cpu".into(),
            mode: CompareMode::Both,
            batch_size: None,
            tokenizer: TokenizerPreference::Auto,
            tokens: 256,
            iters: 3,
            layers: 24,
        };
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                return Err(String::new());
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = |v: &str| {
                v.parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{flag} needs a positive number, got {v:?}"))
            };
            match flag.as_str() {
                "--model" => a.model = Some(PathBuf::from(value)),
                "--out" => a.out = Some(PathBuf::from(value)),
                "--device" => a.device = value,
                "--mode" => a.mode = value.parse()?,
                "--batch-size" => a.batch_size = Some(number(&value)?),
                "--tokens" => a.tokens = number(&value)?.max(12),
                "--iters" => a.iters = number(&value)?,
                "--layers" => a.layers = number(&value)?,
                "--tokenizer" => {
                    a.tokenizer = match value.as_str() {
                        "auto" => TokenizerPreference::Auto,
                        "json" => TokenizerPreference::Json,
                        "spm" => TokenizerPreference::Spm,
                        other => {
                            return Err(format!(
                                "unknown tokenizer {other:?} (expected auto, json or spm)"
                            ))
                        }
                    }
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(a)
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TokenizeLine {
        text: String,
    }

    #[derive(Deserialize)]
    struct RankLine {
        instruction: String,
        #[serde(default)]
        input: String,
        candidates: Vec<String>,
        #[serde(default)]
        reference: Option<usize>,
        #[serde(default)]
        mode: Option<String>,
        #[serde(default)]
        seed: Option<u64>,
    }

    #[derive(Deserialize)]
    struct CompareLine {
        instruction: String,
        #[serde(default)]
        input: String,
        a: String,
        b: String,
    }

    #[derive(Deserialize)]
    struct ConversationLine {
        a: Vec<Message>,
        b: Vec<Message>,
    }

    fn parse<T: for<'de> Deserialize<'de>>(line: &str) -> Result<T, Error> {
        serde_json::from_str(line).map_err(|e| Error::Input(format!("{e}")))
    }

    /// Draws a progress bar on stderr when it is a terminal and the work is long.
    fn progress_bar(label: &str) -> impl FnMut(usize, usize) + '_ {
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
        }
    }

    fn answer(
        ranker: Option<&Ranker>,
        tok: Option<&pairrm_web::tokenize::PairRmTokenizer>,
        args: &Args,
        line: &str,
        lineno: usize,
    ) -> Result<Value, Error> {
        let label = format!("line {lineno}");
        match args.command.as_str() {
            "tokenize" => {
                let l: TokenizeLine = parse(line)?;
                Ok(json!({ "ids": tok.expect("tokenizer loaded").tokenize(&l.text)? }))
            }
            "rank" => {
                let l: RankLine = parse(line)?;
                let r = ranker.expect("model loaded");
                let ranking = block_on(r.rank_with_progress(
                    &l.instruction,
                    &l.input,
                    &l.candidates,
                    &mut progress_bar(&label),
                ))?;
                Ok(
                    json!({ "ranks": ranking.ranks, "scores": ranking.scores, "logits": ranking.logits, "probabilities": ranking.probabilities }),
                )
            }
            "rank-with-ref" => {
                let l: RankLine = parse(line)?;
                let r = block_on(ranker.expect("model loaded").rank_with_ref(
                    &l.instruction,
                    &l.input,
                    &l.candidates,
                    l.reference,
                ))?;
                Ok(json!({ "reference": r.reference, "ranks": r.ranks, "scores": r.scores }))
            }
            "best-of-n" => {
                let l: RankLine = parse(line)?;
                let strategy = BestOfN::from_request(l.mode.as_deref(), l.seed)?;
                let best = block_on(ranker.expect("model loaded").best_of_n(
                    &l.instruction,
                    &l.input,
                    &l.candidates,
                    strategy,
                ))?;
                Ok(json!({ "best": best }))
            }
            "compare" => {
                let l: CompareLine = parse(line)?;
                let v = block_on(ranker.expect("model loaded").compare(
                    &l.instruction,
                    &l.input,
                    &l.a,
                    &l.b,
                    args.mode,
                ))?;
                Ok(json!(Comparison::from(v)))
            }
            "compare-conversations" => {
                let l: ConversationLine = parse(line)?;
                let v = block_on(
                    ranker
                        .expect("model loaded")
                        .compare_conversations(&l.a, &l.b),
                )?;
                Ok(json!(Comparison::from(v)))
            }
            other => Err(Error::Input(format!("unknown command {other}"))),
        }
    }

    /// A stand-in for the real checkpoint: the `llm-blender/PairRM` layout
    /// (`model_name` deberta-v3-large, so built-in dims) with random weights and
    /// the tokenizer files of `--model` (a fixture), at full size (1.74 GB).
    fn make_random_model(args: &Args) -> Result<PathBuf, Error> {
        let out = args
            .out
            .clone()
            .ok_or_else(|| Error::Input("--out DIR is required".into()))?;
        let from = args
            .model
            .clone()
            .ok_or_else(|| Error::Input("--model DIR (tokenizer source) is required".into()))?;
        let io = |what: &std::path::Path, e: std::io::Error| Error::Io {
            what: what.display().to_string(),
            cause: e.to_string(),
        };
        std::fs::create_dir_all(&out).map_err(|e| io(&out, e))?;
        let config = serde_json::json!({
            "ranker_type": "pairranker", "model_type": "deberta", "model_name": "microsoft/deberta-v3-large",
            "source_maxlength": 1224, "candidate_maxlength": 412, "n_tasks": 1, "drop_out": 0.05, "fp16": true
        });
        std::fs::write(out.join("config.json"), config.to_string()).map_err(|e| io(&out, e))?;
        for f in ["spm.model", "added_tokens.json"] {
            std::fs::copy(from.join(f), out.join(f)).map_err(|e| io(&from.join(f), e))?;
        }
        let mut backbone = pairrm_web::config::BackboneConfig::deberta_v3_large();
        backbone.num_hidden_layers = args.layers;
        let path = out.join("model.safetensors");
        pairrm_web::weights::write_random_safetensors(&path, &backbone, bench::PAIRRM_VOCAB, 42)
            .map_err(|e| io(&path, e))?;
        Ok(out)
    }

    fn run_bench(args: &Args) -> Result<(), Error> {
        let devices: Vec<&str> = match args.device.as_str() {
            "all" => vec!["cpu", "wgpu"],
            d => d.split(',').collect(),
        };
        let opts = BenchOptions {
            tokens: args.tokens,
            batch_size: args.batch_size.unwrap_or(4),
            iters: args.iters,
            layers: args.layers,
        };
        println!(
        "PairRM forward, random weights: {} layers x 1024 hidden, 16 heads, vocab {}, {} tokens per pair, batch {}, {} timed batches",
        opts.layers, bench::PAIRRM_VOCAB, opts.tokens, opts.batch_size, opts.iters
    );
        for name in devices {
            // `cpu-burn`: burn's tensor ops on the CPU, for comparison with the fused engine.
            let (choice, engine) = match name {
                "cpu-burn" => ("cpu", Some(Engine::Tensors)),
                other => (other, None),
            };
            let (dev, label) = device::select(choice.parse::<DeviceChoice>()?)?;
            let engine = engine.unwrap_or_else(|| Engine::for_device(&dev));
            let label = if name == "cpu-burn" { name } else { label };
            let r = bench::run(&dev, engine, &opts)?;
            println!(
            "{label:>8}: {:.3} pairs/s  {:.1} GFLOP/s  ({} pairs in {:.2} s; load + warm-up {:.1} s){}",
            r.pairs_per_second,
            r.gflops_per_second,
            r.pairs,
            r.seconds,
            r.load_seconds,
            r.dispatches
                .map(|n| format!("; {n} GPU dispatches per forward pass"))
                .unwrap_or_default()
        );
        }
        Ok(())
    }

    pub fn main() -> ExitCode {
        let args = match parse_args() {
            Ok(a) => a,
            Err(msg) => {
                if msg.is_empty() {
                    println!("{USAGE}");
                    return ExitCode::SUCCESS;
                }
                eprintln!("pairrm: {msg}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        if args.command == "make-random-model" {
            return match make_random_model(&args) {
                Ok(dir) => {
                    println!("wrote a random PairRM-large model to {}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("pairrm make-random-model: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        if args.command == "bench" {
            return match run_bench(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pairrm bench: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        let known = [
            "tokenize",
            "rank",
            "compare",
            "compare-conversations",
            "rank-with-ref",
            "best-of-n",
        ];
        if !known.contains(&args.command.as_str()) {
            eprintln!("pairrm: unknown command {:?}\n\n{USAGE}", args.command);
            return ExitCode::from(2);
        }
        let Some(dir) = args.model.clone() else {
            eprintln!("pairrm {}: --model DIR is required", args.command);
            return ExitCode::from(2);
        };
        let loaded = (|| -> Result<(Option<Ranker>, Option<pairrm_web::tokenize::PairRmTokenizer>), Error> {
        if args.command == "tokenize" {
            return Ok((None, Some(read_tokenizer_files(&dir, args.tokenizer)?.load()?)));
        }
        let (dev, _) = device::select(args.device.parse()?)?;
        let mut ranker = Ranker::from_files(read_model_dir(&dir, args.tokenizer)?, &dev)?;
        if let Some(b) = args.batch_size {
            ranker.set_batch_size(b);
        }
        Ok((Some(ranker), None))
    })();
        let (ranker, tokenizer) = match loaded {
            Ok(x) => x,
            Err(e) => {
                eprintln!("pairrm: cannot load model from {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        };
        let tokenizer = tokenizer
            .as_ref()
            .or(ranker.as_ref().map(|r| r.tokenizer()));
        let stdin = std::io::stdin();
        let mut out = std::io::stdout().lock();
        let mut failed = 0usize;
        for (i, line) in stdin.lock().lines().enumerate() {
            let lineno = i + 1;
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("pairrm: line {lineno}: cannot read input: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let reply = match answer(ranker.as_ref(), tokenizer, &args, &line, lineno) {
                Ok(v) => v,
                Err(e) => {
                    failed += 1;
                    eprintln!("pairrm: line {lineno}: {e}");
                    json!({ "error": e.to_string(), "line": lineno })
                }
            };
            if writeln!(out, "{reply}").and_then(|_| out.flush()).is_err() {
                return ExitCode::FAILURE;
            }
        }
        if failed > 0 {
            eprintln!("pairrm: {failed} line(s) failed");
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    }
}
