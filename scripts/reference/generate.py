#!/usr/bin/env python3
"""Generate the PairRM test fixtures under tests/fixtures/ with the REFERENCE
implementation: LLM-Blender 0.0.2 on transformers 4.35.2 / tokenizers 0.15.2.

For each fixture this script
  1. trains a tiny deberta-v3-shaped SentencePiece unigram model offline on
     docstrings of this Python's standard library (plus a few CJK/emoji lines),
  2. builds a tiny PairRM with LLM-Blender's own classes (DebertaV2PairRM, the
     collator that adds the marker tokens, the tokenizer builder), randomises
     every weight with a fixed seed and saves model.safetensors (F32) with the
     real key names,
  3. reloads it through LLM-Blender's inference path
     (Blender().loadranker(dir, device="cpu"), f32 on CPU) and records
     expected.json (tokenize / forward / rank / compare / conversations /
     best_of_n / rank_with_ref / judge, the last as TRL's PairRMJudge called
     LLM-Blender), everything computed by the reference code.

Run with scripts/reference/run.sh (sets PYTHONPATH and HF_HUB_OFFLINE), e.g.
    scripts/reference/run.sh scripts/reference/generate.py
    scripts/reference/run.sh scripts/reference/generate.py --only tiny-trunc
See scripts/reference/README.md.
"""
import argparse
import ast
import glob
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_pinned = REPO / ".venv-ref" / "pinned"
if _pinned.is_dir() and str(_pinned) not in sys.path:
    sys.path.insert(0, str(_pinned))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402
import safetensors.torch  # noqa: E402
import transformers  # noqa: E402
from transformers import DebertaV2Config, DebertaV2Model  # noqa: E402

transformers.logging.set_verbosity_error()

import llm_blender  # noqa: E402
import llm_blender.blender.blender as lb_blender_mod  # noqa: E402
from llm_blender.blender.config import BlenderConfig  # noqa: E402
from llm_blender.blender.blender_utils import tokenize_pair  # noqa: E402
from llm_blender.gpt_eval.utils import get_ranks_from_scores  # noqa: E402
from llm_blender.pair_ranker.collator import CrossCompareCollator  # noqa: E402
from llm_blender.pair_ranker.model_util import build_tokenizer  # noqa: E402
from llm_blender.pair_ranker.pairrm import DebertaV2PairRM  # noqa: E402

assert transformers.__version__ == "4.35.2", transformers.__version__

FIXTURES = REPO / "tests" / "fixtures"
MARKERS = ["<|source|>", "<|candidate1|>", "<|candidate2|>", "<|candidate|>"]

# --------------------------------------------------------------------------
# Fixture definitions
# --------------------------------------------------------------------------
FIXTURE_SPECS = {
    "tiny-hf": dict(
        layout="hf", spm_vocab=2000, seed=1001,
        hidden=48, layers=2, heads=4, inter=96, buckets=256,
        pos_att_type=["p2c", "c2p"], source_maxlength=1224, candidate_maxlength=412,
    ),
    "tiny-ranker": dict(
        layout="ranker", spm_vocab=1500, seed=2002,
        hidden=32, layers=3, heads=2, inter=64, buckets=64,
        pos_att_type="p2c|c2p", source_maxlength=1224, candidate_maxlength=412,
    ),
    "tiny-trunc": dict(
        layout="ranker", spm_vocab=1000, seed=3003,
        hidden=64, layers=2, heads=4, inter=128, buckets=32,
        pos_att_type="p2c|c2p", source_maxlength=24, candidate_maxlength=16,
    ),
}

# Backbone config: the fields of microsoft/deberta-v3-large's config.json,
# with tiny dims.
def backbone_config_dict(spec, vocab_size):
    return {
        "model_type": "deberta-v2",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": spec["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": spec["inter"],
        "max_position_embeddings": 512,
        "relative_attention": True,
        "position_buckets": spec["buckets"],
        "norm_rel_ebd": "layer_norm",
        "share_att_key": True,
        "pos_att_type": spec["pos_att_type"],
        "layer_norm_eps": 1e-7,
        "max_relative_positions": -1,
        "position_biased_input": False,
        "num_attention_heads": spec["heads"],
        "num_hidden_layers": spec["layers"],
        "type_vocab_size": 0,
        "vocab_size": vocab_size,
    }


# --------------------------------------------------------------------------
# 1. SentencePiece model
# --------------------------------------------------------------------------
EXTRA_TRAINING_LINES = [
    "你好，世界！今天天气很好。我们学习中文。",
    "中文文本测试，天空是蓝色的。",
    "日本語のテキストです。こんにちは、世界。",
    "おはようございます。ありがとう。",
    "한국어 텍스트입니다. 안녕하세요.",
    "I love it 😀 👍 🎉 ❤️ 🙂 great job 👍",
    "café naïve résumé façade über straße",
]


def training_lines():
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lines = []
    total = 0
    for path in sorted(glob.glob(str(stdlib / "*.py"))):
        try:
            tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        except Exception:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                for line in doc.splitlines():
                    line = line.strip()
                    if line:
                        lines.append(line)
                        total += len(line)
        if total > 1_500_000:
            break
    # CJK / emoji, frequent enough to survive character_coverage.
    for _ in range(60):
        lines.extend(EXTRA_TRAINING_LINES)
    return lines


_TRAIN_CACHE = {}


def train_spm(vocab_size, out_path):
    if "lines" not in _TRAIN_CACHE:
        _TRAIN_CACHE["lines"] = training_lines()
    lines = _TRAIN_CACHE["lines"]
    with tempfile.TemporaryDirectory() as td:
        txt = Path(td) / "corpus.txt"
        txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
        prefix = str(Path(td) / "spm")
        spm.SentencePieceTrainer.train(
            input=str(txt),
            model_prefix=prefix,
            model_type="unigram",
            vocab_size=vocab_size,
            pad_id=0, bos_id=1, eos_id=2, unk_id=3,
            pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]", unk_piece="[UNK]",
            normalization_rule_name="nmt_nfkc",
            byte_fallback=True,
            character_coverage=0.9995,
            num_threads=1,
            shuffle_input_sentence=False,
            input_sentence_size=0,
            minloglevel=2,
        )
        # The trainer records its (temporary) input path in the model: make
        # the bytes reproducible.
        # (transformers' copy of the proto module: importing sentencepiece's
        # own as well would register the same .proto twice.)
        from transformers.convert_slow_tokenizer import import_protobuf
        m = import_protobuf().ModelProto()
        m.ParseFromString(Path(prefix + ".model").read_bytes())
        del m.trainer_spec.input[:]
        m.trainer_spec.input.append("corpus.txt")
        m.trainer_spec.model_prefix = "spm"
        Path(out_path).write_bytes(m.SerializeToString())
    sp = spm.SentencePieceProcessor(model_file=str(out_path))
    return sp.get_piece_size()


# --------------------------------------------------------------------------
# 2. Model building / randomisation
# --------------------------------------------------------------------------
def randomise_(model, seed):
    g = torch.Generator().manual_seed(seed)
    sd = model.state_dict()
    new = {}
    for name in sorted(sd):
        t = sd[name]
        if not t.is_floating_point():
            new[name] = t
            continue
        shape = t.shape
        if name.endswith("LayerNorm.weight"):
            v = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif name.endswith("bias"):
            v = 0.05 * torch.randn(shape, generator=g)
        elif "word_embeddings" in name or "rel_embeddings" in name:
            v = torch.randn(shape, generator=g)
        elif name == "head_layer.4.weight":
            # larger final projection: logits O(1), score gaps well above f32 noise
            v = 4.0 * torch.randn(shape, generator=g) / (shape[1] ** 0.5)
        elif t.dim() == 2:  # Linear [out, in]
            v = torch.randn(shape, generator=g) / (shape[1] ** 0.5)
        else:
            raise RuntimeError(f"unexpected tensor {name} {shape}")
        new[name] = v.to(torch.float32)
    model.load_state_dict(new, strict=True)
    return new


def build_fixture(name, spec, out_dir):
    """Writes the committed fixture files for one model. Returns info dict."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        n_spm = train_spm(spec["spm_vocab"], td / "spm.model")
        vocab_total = n_spm + 5
        # Tokenizer exactly as LLM-Blender builds it: AutoTokenizer over a
        # folder holding the backbone config + spm.model (the fast tokenizer is
        # converted from the slow one; [MASK] gets id len(spm)), then the
        # CrossCompareCollator adds the four markers.
        bb = td / "backbone"
        bb.mkdir()
        shutil.copy(td / "spm.model", bb / "spm.model")
        bb_vocab = n_spm + 100 if spec["layout"] == "ranker" else vocab_total
        cfg_dict = backbone_config_dict(spec, bb_vocab)
        (bb / "config.json").write_text(json.dumps(cfg_dict, indent=2) + "\n")
        tok = build_tokenizer(str(bb))
        CrossCompareCollator(spec["source_maxlength"], tok, spec["candidate_maxlength"])
        assert tok.convert_tokens_to_ids("[MASK]") == n_spm
        for k, m in enumerate(MARKERS):
            assert tok.convert_tokens_to_ids(m) == n_spm + 1 + k, m
        assert len(tok) == vocab_total

        # Model: DebertaV2PairRM (the PairRM-hf class) with the real key names.
        hf_cfg = DebertaV2Config(**{**cfg_dict, "vocab_size": vocab_total})
        hf_cfg.n_tasks = 1
        hf_cfg.drop_out = 0.05
        hf_cfg.source_prefix_id = n_spm + 1
        hf_cfg.cand1_prefix_id = n_spm + 2
        hf_cfg.cand2_prefix_id = n_spm + 3
        hf_cfg.cand_prefix_id = n_spm + 4
        hf_cfg.source_maxlength = spec["source_maxlength"]
        hf_cfg.candidate_maxlength = spec["candidate_maxlength"]
        hf_cfg.pad_token_id = 0
        hf_cfg.architectures = ["DebertaV2PairRM"]
        torch.manual_seed(spec["seed"])
        model = DebertaV2PairRM(hf_cfg).eval()
        sd = randomise_(model, spec["seed"])
        assert sd["pretrained_model.embeddings.word_embeddings.weight"].shape == (vocab_total, spec["hidden"])
        safetensors.torch.save_file(
            {k: v.contiguous() for k, v in sd.items()}, str(out_dir / "model.safetensors"),
            metadata={"format": "pt"},
        )
        os.chmod(out_dir / "model.safetensors", 0o644)  # save_file creates it 0600

        if spec["layout"] == "hf":
            hf_cfg.save_pretrained(str(out_dir))  # full DebertaV2Config + extras
            tok.save_pretrained(str(out_dir))
        else:
            ranker_cfg = {
                "ranker_type": "pairranker",
                "model_type": "deberta",
                "model_name": "backbone",
                "cache_dir": None,
                "load_checkpoint": None,
                "source_maxlength": spec["source_maxlength"],
                "candidate_maxlength": spec["candidate_maxlength"],
                "n_tasks": 1,
                "num_pos": 5,
                "num_neg": 5,
                "sub_sampling_mode": "all_pair",
                "sub_sampling_ratio": 0.4,
                "loss_type": "instructgpt",
                "reduce_type": "linear",
                "inference_mode": "bubble",
                "drop_out": 0.05,
                "fp16": True,
                "device": None,
            }
            (out_dir / "config.json").write_text(json.dumps(ranker_cfg, indent=2) + "\n")
            shutil.copytree(bb, out_dir / "backbone")
            tok.save_pretrained(str(out_dir))
        # save_pretrained leaves the slow vocab as spm.model; check.
        assert (out_dir / "spm.model").exists() and (out_dir / "tokenizer.json").exists()
    return dict(n_spm=n_spm, vocab_total=vocab_total)


# --------------------------------------------------------------------------
# 3. Running the reference
# --------------------------------------------------------------------------
class Recorder:
    """Hooks into LLM-Blender's ranker to capture what it computes."""

    def __init__(self, blender):
        self.blender = blender
        ranker = blender.ranker
        self.input_ids = []
        self.full_logits = []
        self.select_process = []
        self.perms = []
        self.topk_ranks = []

        def pre_hook(module, args, kwargs):
            ids = kwargs.get("input_ids", args[0] if args else None)
            self.input_ids.append(ids.detach().cpu().clone())

        ranker.pretrained_model.register_forward_pre_hook(pre_hook, with_kwargs=True)

        orig_full = ranker._full_predict

        def full_predict(*a, **k):
            out = orig_full(*a, **k)
            self.full_logits.append(out["logits"].detach().cpu().clone())
            return out

        ranker._full_predict = full_predict

        orig_bubble = ranker._bubble_predict

        def bubble_predict(*a, **k):
            orig_randperm = torch.randperm

            def randperm(*ra, **rk):
                p = orig_randperm(*ra, **rk)
                self.perms.append(p.clone())
                return p

            torch.randperm = randperm
            try:
                out = orig_bubble(*a, **k)
            finally:
                torch.randperm = orig_randperm
            self.select_process.append(out["select_process"].detach().cpu().clone())
            return out

        ranker._bubble_predict = bubble_predict

        orig_topk = lb_blender_mod.get_topk_candidates_from_ranks

        def topk(ranks, candidates, top_k):
            self.topk_ranks.append(np.array(ranks).copy())
            return orig_topk(ranks, candidates, top_k)

        lb_blender_mod.get_topk_candidates_from_ranks = topk

    def reset(self):
        self.input_ids.clear()
        self.full_logits.clear()
        self.select_process.clear()
        self.perms.clear()
        self.topk_ranks.clear()


def f(x):
    return float(x)


def run_reference(fixture_dir, spec, cases, recorder=None):
    """Loads the fixture with Blender.loadranker in a scratch copy, records
    with `recorder(blender, cases)` (default: `record`)."""
    fixture_dir = Path(fixture_dir).resolve()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        if spec["layout"] == "ranker":
            # Scratch copy of the fixture; CWD = it, so the relative model_name
            # "backbone" resolves. transformers' AutoModel.from_pretrained needs
            # backbone weights to exist (the real one downloads
            # microsoft/deberta-v3-large): give it freshly initialised ones;
            # load_ranker then overwrites every tensor from model.safetensors.
            run_dir = td / "run"
            shutil.copytree(fixture_dir, run_dir)
            cfg = DebertaV2Config.from_pretrained(str(run_dir / "backbone"))
            DebertaV2Model(cfg).save_pretrained(str(td / "bbw"), safe_serialization=True)
            shutil.copy(td / "bbw" / "model.safetensors", run_dir / "backbone" / "model.safetensors")
            ranker_path = "."
        else:
            # PairRM-hf layout has no ranker config; wrap it in a ranker-layout
            # folder whose model_name is the hf folder (AutoModel reads its
            # DebertaV2Config; AutoTokenizer its tokenizer files).
            hf_dir = td / "hf"
            shutil.copytree(fixture_dir, hf_dir)
            cfg = DebertaV2Config.from_pretrained(str(hf_dir))
            run_dir = td / "run"
            run_dir.mkdir()
            (run_dir / "config.json").write_text(json.dumps({
                "ranker_type": "pairranker", "model_type": "deberta",
                "model_name": str(hf_dir),
                "source_maxlength": spec["source_maxlength"],
                "candidate_maxlength": spec["candidate_maxlength"],
                "n_tasks": 1, "drop_out": 0.05, "fp16": True,
            }))
            shutil.copy(fixture_dir / "model.safetensors", run_dir / "model.safetensors")
            ranker_path = "."
        os.chdir(run_dir)
        try:
            blender = llm_blender.Blender(blender_config=BlenderConfig(device="cpu", use_tqdm=False))
            blender.loadranker(ranker_path, device="cpu")
            assert next(blender.ranker.parameters()).dtype == torch.float32
            # The checkpoint must have replaced every tensor: check against file.
            file_sd = safetensors.torch.load_file(str(fixture_dir / "model.safetensors"))
            model_sd = blender.ranker.state_dict()
            assert set(file_sd) == set(model_sd), set(file_sd) ^ set(model_sd)
            for k, v in file_sd.items():
                assert torch.equal(v, model_sd[k]), k
            expected = (recorder or record)(blender, cases)
            if spec["layout"] == "hf" and recorder is None:
                cross_check_hf(fixture_dir, blender, expected)
        finally:
            os.chdir(cwd)
    return expected


def record(blender, cases):
    rec = Recorder(blender)
    tok = blender.ranker_tokenizer
    out = {k: [] for k in ["tokenize", "forward", "rank", "compare", "conversations", "best_of_n", "rank_with_ref",
                           "judge"]}

    for text in cases["tokenize"]:
        out["tokenize"].append({"text": text, "ids": list(map(int, tok(text)["input_ids"]))})

    for (ins, inp, a, b) in cases["forward"]:
        rec.reset()
        v = blender.compare([inp], [a], [b], instructions=[ins], mode="[A,B]", return_logits=True, batch_size=1)
        assert len(rec.input_ids) == 1 and rec.input_ids[0].shape[0] == 1
        out["forward"].append({"instruction": ins, "input": inp, "a": a, "b": b,
                               "ids": list(map(int, rec.input_ids[0][0].tolist())), "logit": f(v[0])})

    for (ins, inp, cands) in cases["rank"]:
        rec.reset()
        scores = blender.rank([inp], [cands], instructions=[ins], return_scores=True, batch_size=1)
        assert len(rec.full_logits) == 1
        M = rec.full_logits[0][0]
        ranks = blender.rank([inp], [cands], instructions=[ins], return_scores=False, batch_size=1)
        assert torch.equal(rec.full_logits[1][0], M)
        assert (ranks[0] == get_ranks_from_scores(scores)[0]).all()
        out["rank"].append({"instruction": ins, "input": inp, "candidates": cands,
                            "logits": [[f(x) for x in row] for row in M.tolist()],
                            "scores": [f(x) for x in scores[0]],
                            "ranks": [int(x) for x in ranks[0]]})

    mode_names = {"ab": "[A,B]", "ba": "[B,A]", "both": "[A,B]+[B,A]"}
    for (ins, inp, a, b) in cases["compare"]:
        for mode in ["ab", "ba", "both"]:
            v = blender.compare([inp], [a], [b], instructions=[ins], mode=mode_names[mode],
                                return_logits=True, batch_size=1)
            out["compare"].append({"instruction": ins, "input": inp, "a": a, "b": b,
                                   "mode": mode, "value": f(v[0])})

    for (ca, cb) in cases["conversations"]:
        v = blender.compare_conversations([ca], [cb], return_logits=True, batch_size=1)
        out["conversations"].append({"a": ca, "b": cb, "value": f(v[0])})

    for k, (ins, inp, cands, mode) in enumerate(cases["best_of_n"]):
        rec.reset()
        seed = 1234 + k
        torch.manual_seed(seed)
        np.random.seed(seed)
        best = blender.get_best_of_n([inp], [cands], instructions=[ins], pairrm_cmp_type=mode, batch_size=1)
        entry = {"instruction": ins, "input": inp, "candidates": cands, "mode": mode}
        if mode == "bubble":
            assert len(rec.perms) == 1 and len(rec.select_process) == 1
            entry["order"] = [int(x) for x in rec.perms[0].tolist()]
            best_idx = int(rec.select_process[0][0, 2, -1])
        else:
            assert len(rec.topk_ranks) == 1
            best_idx = int(np.argsort(rec.topk_ranks[0], axis=1)[0, 0])  # as get_topk_candidates_from_ranks
        assert cands[best_idx] == best[0]
        entry["best"] = best_idx
        out["best_of_n"].append(entry)

    for (ins, inp, cands) in cases["rank_with_ref"]:
        scores = blender.rank_with_ref([inp], [cands], instructions=[ins], return_scores=True,
                                       batch_size=1, ref_mode="longest")
        out["rank_with_ref"].append({"instruction": ins, "input": inp, "candidates": cands,
                                     "ref_mode": "longest", "scores": [f(x) for x in scores[0]]})

    for (prompts, completions) in cases["judge"]:
        for shuffle, seed, scores, temperature in [(False, None, False, 1.0), (True, 7, False, 1.0),
                                                   (True, 7, True, 1.0), (False, None, True, 0.5)]:
            result = trl_pairrm_judge(blender, prompts, completions, shuffle, seed, scores, temperature)
            out["judge"].append({"prompts": prompts, "completions": completions, "shuffle_order": shuffle,
                                 "seed": seed, "return_scores": scores, "temperature": temperature,
                                 "result": [f(x) if scores else int(x) for x in result]})
    return out


def trl_pairrm_judge(blender, prompts, completions, shuffle_order, seed, return_scores, temperature):
    """What TRL's PairRMJudge.judge returned, before TRL removed it in 2026:
    the pairs flipped by np.random.choice([True, False]) when shuffling, ranked
    by LLM-Blender's `rank` (prompts as inputs), flipped
    back; then the 0-based rank of the first completion, or the softmax over
    scores / temperature for the first."""
    if seed is not None:
        np.random.seed(seed)
    pairs = [list(c) for c in completions]
    if shuffle_order:
        flips = np.random.choice([True, False], size=len(prompts))
        pairs = [p[::-1] if fl else p for fl, p in zip(flips, pairs)]
    # TRL left batch_size at rank's default, 8. In a batch the reference cuts
    # each candidate by the longest source of the batch (pairrm-spec 3.3, a
    # documented difference), so one prompt per batch records the
    # batch-independent values; where nothing is cut (tiny-hf, tiny-ranker)
    # batch 8 gives the same.
    values = blender.rank(prompts, pairs, return_scores=return_scores, disable_tqdm=True, batch_size=1)
    values = values / temperature if return_scores else values - 1
    if shuffle_order:
        values[flips] = values[flips][:, ::-1]
    if not return_scores:
        return values[:, 0].tolist()
    e = np.exp(values - np.amax(values, axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True))[:, 0].tolist()


def cross_check_hf(fixture_dir, blender, expected):
    """PairRM-hf's documented route: DebertaV2PairRM.from_pretrained +
    tokenize_pair. Must agree with the Blender route on the forward cases."""
    from transformers import AutoTokenizer
    model = DebertaV2PairRM.from_pretrained(str(fixture_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(fixture_dir))
    for e in expected["forward"]:
        if "[SEP]" in (e["instruction"] + e["input"] + e["a"] + e["b"]):
            continue  # tokenize_pair does not replace literal [SEP]
        enc = tokenize_pair(tok, [e["instruction"] + e["input"]], [e["a"]], [e["b"]])
        ids = enc["input_ids"][0][enc["attention_mask"][0].bool()].tolist()
        assert ids == e["ids"], (ids, e["ids"])
        with torch.no_grad():
            logit = model(**{k: v for k, v in enc.items()}).logits[0].item()
        assert abs(logit - e["logit"]) < 1e-4, (logit, e["logit"])
    # tokenizer from the committed files == the tokenizer Blender built
    for e in expected["tokenize"]:
        assert tok(e["text"])["input_ids"] == e["ids"]


def check_saved_tokenizer(fixture_dir, expected):
    """The committed tokenizer.json alone must reproduce the ids."""
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(str(Path(fixture_dir) / "tokenizer.json"))
    for e in expected["tokenize"]:
        assert t.encode(e["text"]).ids == e["ids"], e["text"]


# --------------------------------------------------------------------------
# Test cases
# --------------------------------------------------------------------------
def stdlib_text(module_name, n_words):
    """Deterministic long English text: docstrings of one stdlib module."""
    path = Path(sysconfig.get_paths()["stdlib"]) / f"{module_name}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    words = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
            d = ast.get_docstring(node)
            if d:
                words.extend(d.split())
    while len(words) < n_words:
        words = words + words
    return " ".join(words[:n_words])


TOKENIZE_TEXTS = [
    "Hello world!",
    "",
    "   leading and trailing spaces   ",
    "multiple     spaces\there\nnewline\r\nCRLF\rCR",
    "ﬁnancial ＡＢＣ ① ½ ™ 𝐀𝐁𝐂 Ⅻ ｶﾀｶﾅ",
    "caf\u00e9 vs cafe\u0301, n\u0303o, A\u030a",
    "zero\u200bwidth\u200djoiner\ufeffbom\u3000ideographic",
    "bell\x07 escape\x1b[0m vertical\x0btab form\x0cfeed",
    "I ❤️ Rust 😀👍🎉 👍🏽 🇯🇵",
    "family 👨\u200d👩\u200d👧\u200d👦 and 🏳️\u200d🌈",
    "你好，世界！这是一个测试。",
    "日本語のテキストです 한국어 텍스트",
    "Ωμέγα Привет мир مرحبا ٣ עברית",
    "the [SEP] token inside text",
    "supercalifragilisticexpialidocious 3.14159 2024-01-01 $100 #tag @user",
    "def f(x):\n    return x ** 2  # comment",
    "<0x41> looks like a byte piece",
]

PLAIN = ("What is the capital of France?", "",
         ["Paris is the capital of France.", "London.", "I think it might be Berlin, but I'm not sure."])


def common_cases():
    rank = [
        PLAIN,
        ("Summarize the following text.\n",
         "The quick brown fox jumps over the lazy dog. It was a sunny day and the fox was happy.",
         ["A fox jumped over a dog on a sunny day.", "The dog was lazy."]),
        ("Write a haiku about autumn.", "",
         ["Leaves fall in the wind / red and gold upon the ground / the year grows quiet",
          "Autumn is a season.",
          "",
          "I like pizza 🍕 very much!",
          "Crisp air, falling leaves,\nharvest moon over the field,\ngeese fly to the south."]),
        ("Pick the best answer.", "", ["Same answer.", "Same answer.", "A completely different answer here."]),
        ("Which is right?", " Answer briefly.", ["yes", "no", "yes", "no"]),
        ("Translate to Japanese: good morning ☀️", "",
         ["おはようございます", "ｵﾊﾖｳ ｺﾞｻﾞｲﾏｽ", "Good morning 😀👍", "ﬁne ＡＢＣ ①"]),
        ("Explain what the [SEP] token does.", "[SEP]",
         ["It separates [SEP] segments in BERT-style models.", "[SEP]", ""]),
        ("tab\there\r\nline\x07bell  and   spaces", "",
         ["zero\u200bwidth space", "join\u200der\ufeffbom", "cafe\u0301 café"]),
        ("请用中文回答：天空为什么是蓝色的？", "",
         ["因为瑞利散射。", "天空是蓝色的因为大气散射阳光。", "Because of Rayleigh scattering 🌈."]),
        ("Describe this family emoji: 👨\u200d👩\u200d👧\u200d👦", "",
         ["A family of four 👨\u200d👩\u200d👧\u200d👦.", "🏳️\u200d🌈 flag", "Ωμέγα Привет мир"]),
        (stdlib_text("textwrap", 60), "",
         [stdlib_text("string", 45), "Short.", stdlib_text("shlex", 30)]),
    ]
    forward = [
        ("What is the capital of France?", "", "Paris is the capital of France.", "London."),
        ("What is the capital of France?", "", "London.", "Paris is the capital of France."),
        ("Summarize:", " The quick brown fox.", "", "A fox."),
        ("Explain the [SEP] token.", "", "It is [SEP] a separator.", "[SEP]"),
        ("ﬁnd ＡＢＣ ① ½", "\t\n", "zero\u200bwidth\u200d\ufeff", "👨\u200d👩\u200d👧\u200d👦 😀"),
        ("你好，世界！", "", "日本語のテキスト", "한국어"),
        (stdlib_text("textwrap", 60), "", stdlib_text("string", 45), stdlib_text("shlex", 30)),
    ]
    compare = [
        ("What is the capital of France?", "", "Paris.", "London is the capital of France."),
        ("Write a greeting.", " Keep it short.", "Hello there! 👋", ""),
        ("Explain [SEP].", "", "A separator [SEP] token.", "café ＡＢＣ"),
    ]
    conversations = [
        ([{"role": "USER", "content": "hello!"}, {"role": "ASSISTANT", "content": "hi!"}],
         [{"role": "USER", "content": "hello!"}, {"role": "ASSISTANT", "content": "go away."}]),
        ([{"role": "USER", "content": "What is 2+2?"}, {"role": "ASSISTANT", "content": "4"},
          {"role": "USER", "content": "And times 3?"}, {"role": "ASSISTANT", "content": "12 😀"}],
         [{"role": "USER", "content": "What is 2+2?"}, {"role": "ASSISTANT", "content": "5"},
          {"role": "USER", "content": "And times 3?"}, {"role": "ASSISTANT", "content": "15, I think."}]),
        ([{"role": "USER", "content": "你好"}, {"role": "ASSISTANT", "content": "你好！有什么可以帮你？"}],
         [{"role": "USER", "content": "你好"}, {"role": "ASSISTANT", "content": "Hello [SEP] there"}]),
    ]
    best_of_n = [
        ("Write a haiku about autumn.", "",
         ["Leaves fall in the wind.", "Autumn is a season.", "", "I like pizza 🍕.", "Crisp air, harvest moon."],
         "bubble"),
        ("Which is right?", " Answer briefly.", ["yes", "no", "maybe", "yes"], "bubble"),
        ("Pick the best answer.", "", ["Same answer.", "Same answer.", "A completely different answer here."], "full"),
        ("Write a haiku about autumn.", "",
         ["Leaves fall in the wind.", "Autumn is a season.", "", "I like pizza 🍕.", "Crisp air, harvest moon."],
         "full"),
    ]
    rank_with_ref = [
        PLAIN,
        ("Pick one.", "", ["abc", "xyz", "ab", "c"]),  # two longest of equal length: first wins
    ]
    # TRL's PairRMJudge: prompts (as LLM-Blender inputs) with two completions
    # each; an exact tie ("Same answer.") included.
    judge = [
        (["What is the capital of France?", "Write a greeting.", "Explain [SEP].",
          "Pick the best answer.", "Translate to Japanese: good morning ☀️"],
         [["Paris.", "London is the capital of France."], ["Hello there! 👋", ""],
          ["A separator [SEP] token.", "café ＡＢＣ"], ["Same answer.", "Same answer."],
          ["おはようございます", "Good morning 😀👍"]]),
    ]
    return dict(tokenize=list(TOKENIZE_TEXTS), rank=rank, forward=forward, compare=compare,
                conversations=conversations, best_of_n=best_of_n, rank_with_ref=rank_with_ref,
                judge=judge)


def cases_for(name):
    c = common_cases()
    if name == "tiny-hf":
        # A long source (~600 tokens) with candidates long enough to be cut to
        # 412 + (1224 - Ls) // 2, and a source longer than 1224 tokens.
        long_src = stdlib_text("argparse", 420)
        long_cand = stdlib_text("subprocess", 600)
        c["forward"].append((long_src, "", long_cand, "A short answer."))
        c["rank"].append((long_src, "", [long_cand, "A short answer."]))
        c["rank"].append((stdlib_text("typing", 900), "", ["Short.", stdlib_text("enum", 500)]))
        c["forward"].append((stdlib_text("typing", 900), "", stdlib_text("enum", 500), "Short."))
        c["tokenize"].append(stdlib_text("argparse", 120))
    if name == "tiny-trunc":
        c["forward"].append(("Short?", "", stdlib_text("string", 40), "ok"))
        c["rank"].append(("Short?", "", [stdlib_text("string", 40), "ok", stdlib_text("shlex", 10)]))
    return c


# --------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", action="append", help="fixture name(s) to regenerate")
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = args.only or list(FIXTURE_SPECS)
    for name in names:
        spec = FIXTURE_SPECS[name]
        out_dir = FIXTURES / name
        print(f"== {name}: building", flush=True)
        info = build_fixture(name, spec, out_dir)
        print(f"   spm pieces {info['n_spm']}, vocab {info['vocab_total']}; running reference", flush=True)
        expected = run_reference(out_dir, spec, cases_for(name))
        check_saved_tokenizer(out_dir, expected)
        with open(out_dir / "expected.json", "w", encoding="utf-8") as fh:
            json.dump(expected, fh, ensure_ascii=False, indent=1)
            fh.write("\n")
        print(f"   wrote {out_dir}/expected.json: " +
              ", ".join(f"{k} {len(v)}" for k, v in expected.items()), flush=True)


if __name__ == "__main__":
    main()
