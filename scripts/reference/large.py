"""Records the reference's logits for the large stand-in (issue 9, item 7).

The stand-in is PairRM at its real size (deberta-v3-large dims: 24 layers,
hidden 1024, 16 heads, 256 buckets; max lengths 1224/412) with random weights
from `pairrm make-random-model --seed 42` (tokenizer: tests/fixtures/tiny-hf's,
2,000 SentencePiece pieces). This script loads exactly those weights into
LLM-Blender (transformers 4.35.2) and records 10 comparisons, four of them
(two inputs, in both orders) cut to the 2,048-token maximum, as
tests/fixtures/large/reference.json. Only the JSON is committed.
`cargo test --release --test parity --test large -- --ignored large_stand_in` rebuilds the
stand-in and checks our library and CLI against it;
`node scripts/large_model_check.mjs DIR --reference` checks the browser package.

    target/release/pairrm make-random-model --model tests/fixtures/tiny-hf --out /tmp/pairrm-large --seed 42
    scripts/reference/run.sh scripts/reference/large.py --model /tmp/pairrm-large

The checkpoint's embedding table has 128,005 rows (the real one's size), the
tokenizer 2,005 ids: LLM-Blender resizes the embedding to the tokenizer's
length before loading, so the reference gets the table's first 2,005 rows,
the only ones any input can reach. Every other tensor is loaded as it is.
"""
import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate as g  # noqa: E402
from bench_reference import large_config  # noqa: E402

import safetensors.torch  # noqa: E402
import torch  # noqa: E402

OUT = g.FIXTURES / "large" / "reference.json"
SEED = 42
SPEC = dict(layout="hf", source_maxlength=1224, candidate_maxlength=412)


def cases():
    st = g.stdlib_text
    return [
        ("Say hello.", "", "Hello there!", "Go away."),
        ("What is the capital of France?", "", "Paris is the capital of France.", "London."),
        ("Summarize the text.", " " + st("textwrap", 80), st("string", 60), "It is about text."),
        # Source over 1,224 tokens, candidates over 412: cut to 1224 + 412 + 412 = 2,048.
        (st("typing", 1400), "", st("enum", 700), st("subprocess", 700)),
        # Short source: candidates may take 412 + (1224 - Ls) // 2 each, and are still cut.
        ("Explain this module.", "", st("argparse", 1300), st("shlex", 1300)),
    ]


def record(blender, cs):
    rec = g.Recorder(blender)
    out = []
    for (ins, inp, a, b) in cs:
        for (x, y) in [(a, b), (b, a)]:
            rec.reset()
            v = blender.compare([inp], [x], [y], instructions=[ins], mode="[A,B]",
                                return_logits=True, batch_size=1)
            ids = rec.input_ids[0][0].tolist()
            out.append({"instruction": ins, "input": inp, "a": x, "b": y,
                        "tokens": len(ids), "ids": ids, "logit": float(v[0])})
            print(f"  {len(ids):5d} tokens  logit {float(v[0]):+.6f}", flush=True)
    return out


def forward_layers(src):
    """The stand-in's layer indices, from its safetensors header."""
    import struct
    with open(src / "model.safetensors", "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        keys = json.loads(fh.read(n))
    return sorted({int(k.split(".")[3]) for k in keys if k.startswith("pretrained_model.encoder.layer.")})


def to_json(doc):
    """One case per line: the 2,048-token id lists stay readable in a diff."""
    head = {k: v for k, v in doc.items() if k != "forward"}
    lines = [json.dumps(c, ensure_ascii=False) for c in doc["forward"]]
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    return text + ',\n "forward": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"


def hf_folder(src, td):
    """The stand-in at `src` as a PairRM-hf folder under `td` that LLM-Blender
    loads (tokenizer as LLM-Blender builds it; embedding table cut to the
    tokenizer's length, as LLM-Blender resizes it)."""
    hf = td / "hf"
    hf.mkdir()
    # The tokenizer exactly as LLM-Blender builds it (see generate.py).
    bb = td / "backbone"
    bb.mkdir()
    shutil.copy(src / "spm.model", bb / "spm.model")
    n_spm = len(__import__("sentencepiece").SentencePieceProcessor(model_file=str(bb / "spm.model")))
    cfg = large_config()
    cfg_dict = g.backbone_config_dict(dict(hidden=1024, inter=4096, buckets=256, pos_att_type="p2c|c2p",
                                           heads=16, layers=24), n_spm + 5)
    (bb / "config.json").write_text(json.dumps(cfg_dict))
    tok = g.build_tokenizer(str(bb))
    g.CrossCompareCollator(SPEC["source_maxlength"], tok, SPEC["candidate_maxlength"])
    assert len(tok) == n_spm + 5
    cfg.vocab_size = len(tok)
    cfg.source_prefix_id, cfg.cand1_prefix_id, cfg.cand2_prefix_id, cfg.cand_prefix_id = (
        n_spm + 1, n_spm + 2, n_spm + 3, n_spm + 4)
    cfg.source_maxlength, cfg.candidate_maxlength = SPEC["source_maxlength"], SPEC["candidate_maxlength"]
    cfg.architectures = ["DebertaV2PairRM"]
    cfg.save_pretrained(str(hf))
    tok.save_pretrained(str(hf))
    sd = safetensors.torch.load_file(str(src / "model.safetensors"))
    key = "pretrained_model.embeddings.word_embeddings.weight"
    assert sd[key].shape == (128005, 1024), sd[key].shape
    sd[key] = sd[key][: len(tok)].contiguous()
    safetensors.torch.save_file(sd, str(hf / "model.safetensors"), metadata={"format": "pt"})
    del sd
    return hf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="the stand-in made by make-random-model --seed SEED")
    ap.add_argument("--seed", type=int, default=SEED, help="the seed it was made with (recorded)")
    args = ap.parse_args()
    src = Path(args.model)
    with tempfile.TemporaryDirectory() as td:
        hf = hf_folder(src, Path(td))
        torch.set_num_threads(2)
        forward = g.run_reference(hf, SPEC, cases(), recorder=record)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(to_json({
        "stand_in": {
            "how": f"target/release/pairrm make-random-model --model tests/fixtures/tiny-hf --out DIR --seed {args.seed}",
            "seed": args.seed, "layers": len(forward_layers(src)), "tokenizer_from": "tests/fixtures/tiny-hf",
            "source_maxlength": SPEC["source_maxlength"], "candidate_maxlength": SPEC["candidate_maxlength"],
        },
        "reference": "LLM-Blender compare(mode='[A,B]', return_logits=True, batch_size=1), transformers "
                     + g.transformers.__version__ + ", float32, CPU",
        "forward": forward,
    }))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
