#!/usr/bin/env python3
"""CPU throughput of the reference PairRM forward (LLM-Blender's
DebertaV2PairRM on transformers 4.35.2), f32, with random weights and the
deberta-v3-large dims of llm-blender/PairRM (no download: the config is built
locally).

    scripts/reference/run.sh scripts/reference/bench_reference.py --threads 2 --batch-size 4

Each "pair" is one forward sequence of --seq-len tokens (default 256):
[CLS] <|source|> ... [SEP] [CLS] <|candidate1|> ... [SEP] [CLS] <|candidate2|> ... [SEP]
with random ordinary token ids (40% source, 30% each candidate).

FLOP estimate per sequence of L tokens (multiply-add = 2 FLOPs), hidden H,
intermediate I, N layers, P = 2 * position_buckets relative-embedding rows:
  per layer:
    projections    2*L*(4*H*H + 2*H*I)     (Q, K, V, attn-out; FFN up + down)
    content attn   4*L*L*H                 (Q.K^T and probs.V over all heads)
    rel. attn      4*L*P*H                 (c2p: Q.Kr^T, p2c: K.Qr^T, full L x P
                                            products before the gather, as HF does)
    rel. proj      4*P*H*H                 (Kr = R.Wk, Qr = R.Wq, recomputed per layer)
  head             2 * 2*(2H*H + H)        (two score() calls)
The embedding lookup, LayerNorms, softmax and GELU are not counted.
"""
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_pinned = REPO / ".venv-ref" / "pinned"
if _pinned.is_dir() and str(_pinned) not in sys.path:
    sys.path.insert(0, str(_pinned))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")
import torch  # noqa: E402
from transformers import DebertaV2Config  # noqa: E402
from llm_blender.pair_ranker.pairrm import DebertaV2PairRM  # noqa: E402

from timing import bench_args, time_and_report  # noqa: E402


N_SPM = 128000  # deberta-v3-large's SentencePiece vocabulary


def large_config():
    """DebertaV2Config of llm-blender/PairRM (deberta-v3-large) + the PairRM
    fields, built locally; also used by export_onnx.py."""
    n_spm = N_SPM
    cfg = DebertaV2Config(
        vocab_size=n_spm + 5, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
        intermediate_size=4096, hidden_act="gelu", max_position_embeddings=512,
        relative_attention=True, position_buckets=256, norm_rel_ebd="layer_norm",
        share_att_key=True, pos_att_type="p2c|c2p", layer_norm_eps=1e-7,
        max_relative_positions=-1, position_biased_input=False, type_vocab_size=0,
        pad_token_id=0,
    )
    cfg.n_tasks = 1
    cfg.drop_out = 0.05
    cfg.source_prefix_id, cfg.cand1_prefix_id, cfg.cand2_prefix_id, cfg.cand_prefix_id = (
        n_spm + 1, n_spm + 2, n_spm + 3, n_spm + 4)
    return cfg


def main():
    ap = bench_args()
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    n_spm = N_SPM
    cfg = large_config()
    t0 = time.time()
    model = DebertaV2PairRM(cfg).float().eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"built DebertaV2PairRM: {n_params:,} params in {time.time() - t0:.1f}s; "
          f"threads {torch.get_num_threads()}, batch {args.batch_size}, seq {args.seq_len}", flush=True)

    L, B = args.seq_len, args.batch_size
    ls = int(L * 0.4)
    la = (L - ls) // 2
    lb = L - ls - la

    def segment(marker, n):
        body = torch.randint(10, n_spm, (n - 3,)).tolist()
        return [1, marker] + body + [2]

    ids = torch.tensor([segment(cfg.source_prefix_id, ls) + segment(cfg.cand1_prefix_id, la)
                        + segment(cfg.cand2_prefix_id, lb) for _ in range(B)])
    mask = torch.ones_like(ids)
    assert ids.shape == (B, L)

    with torch.inference_mode():
        out = time_and_report(lambda: model(input_ids=ids, attention_mask=mask), B, L,
                              args.warmup, args.iters)
    assert out.logits.shape == (B,)

if __name__ == "__main__":
    main()
