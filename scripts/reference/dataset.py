"""Records the reference's per-row values for the dataset fixtures (issue 10).

Writes the dataset files once (tests/fixtures/datasets/: the same 32 pairs as
JSONL, CSV and two AlpacaEval files, rankings JSONL, a malformed file) and,
for each tiny fixture, tests/fixtures/<name>/dataset.json with what LLM-Blender
computes for them:

- pairs: `compare(..., mode="[A,B]+[B,A]", return_logits=True, batch_size=1)`
  per row (value), its boolean answer, the outputs' token counts and whether
  the encoder input the reference built was cut by the max lengths;
- the win rate from those values by the documented rule (value > 0 a win,
  exactly 0 a tie counted half), computed here, not by our code;
- rankings: `rank(..., return_scores=True, batch_size=1)` scores and ranks.

    scripts/reference/run.sh scripts/reference/dataset.py
"""
import csv
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate as g  # noqa: E402

DATASETS = g.FIXTURES / "datasets"

MARKUP = '<img src=x onerror="window.__pwned=1"><b>bold</b><script>window.__pwned=2</script>'

PROMPTS = [
    ("What is the capital of France?", "", "Paris.", "It is London, obviously."),
    ("Write a haiku about autumn.", "", "Leaves fall in the wind / red and gold / the year grows quiet", "Autumn is a season."),
    ("Summarize the text.", " The quick brown fox jumps over the lazy dog.", "A fox jumps over a dog.", "Dogs."),
    ("Translate to French: good morning", "", "Bonjour", "Good morning"),
    ("Is 17 prime?", "", "Yes, 17 is prime.", "No."),
    ("Render this HTML safely.", "", MARKUP, "&lt;b&gt;escaped&lt;/b&gt; & \"quotes\""),
    ("List three fruits, comma separated.", "", "apple, banana, cherry", "apple,\n\"banana\",\ncherry"),
    ("Say something identical.", "", "The same output.", "The same output."),
    ("Reply with nothing.", "", "", "Something."),
    ("请用中文回答：天空为什么是蓝色的？", "", "因为瑞利散射。", "Because of Rayleigh scattering 🌈."),
    ("Emoji please.", "", "👨\u200d👩\u200d👧\u200d👦 😀👍", "ｵﾊﾖｳ ﬁne ①"),
    ("A spreadsheet formula?", "", "=1+1", "@SUM(A1:A2)"),
    ("Control characters", "\ttab", "bell\x07 escape\x1b[0m", "zero\u200bwidth"),
    ("Explain recursion.", "", "A function that calls itself until a base case.", "See: recursion."),
    ("Long answer wanted.", "", None, "Short."),  # None: a long stdlib text
    ("What is 2+2?", "", "4", "5"),
]


def pairs_rows():
    rows = []
    long_text = g.stdlib_text("textwrap", 700)
    for round_ in range(2):
        for ins, inp, a, b in PROMPTS:
            a = long_text if a is None else a
            if round_ == 1:
                # The same prompts again with the outputs swapped or varied, so
                # instructions repeat (the AlpacaEval join pairs k-th with k-th).
                a, b = (b, a) if len(ins) % 2 else (a + " Indeed.", b)
            if ins == "Say something identical.":
                b = a
            rows.append({"instruction": ins, "input": inp, "output_a": a, "output_b": b})
    return rows


RANKINGS = [
    {"instruction": "What is the capital of France?", "input": "",
     "candidates": ["Paris.", "London.", "I think it might be Berlin."]},
    {"instruction": "Write a greeting.", "input": " Keep it short.", "candidates": ["Hi! 👋", "", MARKUP]},
    {"instruction": "Pick one.", "input": "", "candidates": ["same", "same", "different"]},
    {"instruction": "Count to three.", "input": "", "candidates": ["1, 2, 3", "one two three", "3 2 1", "1 2"]},
]


def write_datasets(rows):
    DATASETS.mkdir(parents=True, exist_ok=True)
    with open(DATASETS / "pairs.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["instruction", "input", "output_a", "output_b"])
    for r in rows:
        w.writerow([r["instruction"], r["input"], r["output_a"], r["output_b"]])
    (DATASETS / "pairs.csv").write_text(buf.getvalue(), encoding="utf-8")
    # AlpacaEval: A in dataset order plus one item B lacks; B sorted by
    # instruction (stable, so repeated instructions keep their order) plus one
    # item A lacks.
    item = lambda r, out, gen: {"instruction": r["instruction"], **({"input": r["input"]} if r["input"] else {}),
                                "output": out, "generator": gen, "dataset": "fixture"}
    a = [item(r, r["output_a"], "model-a") for r in rows]
    a.insert(5, {"instruction": "Only model A answered this.", "output": "A alone", "generator": "model-a"})
    b = sorted((item(r, r["output_b"], "model-b") for r in rows), key=lambda x: x["instruction"])
    b.append({"instruction": "Only model B answered this.", "output": "B alone", "generator": "model-b"})
    for name, items in [("alpaca_model_a.json", a), ("alpaca_model_b.json", b)]:
        (DATASETS / name).write_text(json.dumps(items, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    with open(DATASETS / "rankings.jsonl", "w", encoding="utf-8") as fh:
        for r in RANKINGS:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    bad = [json.dumps(rows[0], ensure_ascii=False), json.dumps(rows[1], ensure_ascii=False),
           json.dumps({"instruction": "no second output", "output_a": "x"}), json.dumps(rows[2], ensure_ascii=False)]
    (DATASETS / "malformed.jsonl").write_text("\n".join(bad) + "\n", encoding="utf-8")


def record_dataset(blender, cases):
    rec = g.Recorder(blender)
    tok = blender.ranker_tokenizer
    pad = tok.pad_token_id
    n_tokens = lambda text: len(tok(text.replace("[SEP]", " "))["input_ids"]) - 2  # without [CLS] [SEP]
    out = {"pairs": [], "rankings": []}
    for r in cases["pairs"]:
        rec.reset()
        ins, inp, a, b = r["instruction"], r["input"], r["output_a"], r["output_b"]
        v = blender.compare([inp], [a], [b], instructions=[ins], mode="[A,B]+[B,A]",
                            return_logits=True, batch_size=1)
        kept = max(int((ids != pad).sum()) for ids in rec.input_ids)
        full = (n_tokens(ins + inp) + 3) + (n_tokens(a) + 3) + (n_tokens(b) + 3)
        as_bool = blender.compare([inp], [a], [b], instructions=[ins], mode="[A,B]+[B,A]",
                                  return_logits=False, batch_size=1)
        out["pairs"].append({"value": g.f(v[0]), "result": bool(as_bool[0]),
                             "tokens_a": n_tokens(a), "tokens_b": n_tokens(b), "truncated": kept < full})
    values = [p["value"] for p in out["pairs"]]
    points = [1.0 if x > 0 else 0.5 if x == 0 else 0.0 for x in values]
    out["summary"] = {
        "n": len(values), "wins": sum(x > 0 for x in values), "losses": sum(x < 0 for x in values),
        "ties": sum(x == 0 for x in values), "win_rate": sum(points) / len(points),
        "truncated": sum(p["truncated"] for p in out["pairs"]),
        "mean_tokens_a": sum(p["tokens_a"] for p in out["pairs"]) / len(values),
        "mean_tokens_b": sum(p["tokens_b"] for p in out["pairs"]) / len(values),
    }
    for r in cases["rankings"]:
        scores = blender.rank([r["input"]], [r["candidates"]], instructions=[r["instruction"]],
                              return_scores=True, batch_size=1)
        ranks = g.get_ranks_from_scores(scores)
        out["rankings"].append({"scores": [g.f(x) for x in scores[0]], "ranks": [int(x) for x in ranks[0]]})
    return out


def main():
    import torch
    torch.set_num_threads(1)
    rows = pairs_rows()
    write_datasets(rows)
    for name, spec in g.FIXTURE_SPECS.items():
        expected = g.run_reference(g.FIXTURES / name, spec, {"pairs": rows, "rankings": RANKINGS},
                                   recorder=record_dataset)
        path = g.FIXTURES / name / "dataset.json"
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(expected, fh, ensure_ascii=False, indent=1)
            fh.write("\n")
        s = expected["summary"]
        print(f"{name}: win rate {s['win_rate']:.4f} over {s['n']} rows, {s['ties']} ties, "
              f"{s['truncated']} truncated; values {min(p['value'] for p in expected['pairs']):.4f}.."
              f"{max(p['value'] for p in expected['pairs']):.4f}", flush=True)


if __name__ == "__main__":
    main()
