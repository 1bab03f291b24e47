#!/usr/bin/env python3
"""Export the reference PairRM (LLM-Blender's DebertaV2PairRM, transformers
4.35.2) to ONNX, for the ONNX Runtime speed anchors (bench_onnx.py natively,
onnxruntime-web in the browser).

    scripts/reference/run.sh scripts/reference/export_onnx.py                  # large, random weights
    scripts/reference/run.sh scripts/reference/export_onnx.py --model tests/fixtures/tiny-hf \\
        --out target/onnx/tiny-hf.onnx

Steps, and why:
1. Model: without --model, the deberta-v3-large-dims PairRM of
   bench_reference.py (same config, same torch.manual_seed(0) random weights;
   no download). With --model DIR, a PairRM-hf layout folder (config.json =
   DebertaV2Config + PairRM fields, model.safetensors) loaded the model-card
   way, DebertaV2PairRM.from_pretrained, as generate.py's cross-check does.
2. Graph: inputs input_ids / attention_mask [batch, seq] int64, both dims
   dynamic; output logits [batch] (a wrapper drops the hidden states that
   PairRM asks the backbone for). Exported with the TorchScript exporter
   (dynamo=False, opset 17); the export batch (2 x 64) differs from the
   verification batch so that a shape baked in by tracing would show.
3. XSoftmax: DeBERTa's masked softmax is a torch.autograd.Function whose
   `symbolic` does not export here, so while exporting only it is replaced by
   the same math in plain ops (masked_fill(min) -> softmax -> masked_fill(0)).
4. External data: the large model is 1.7 GB; ORT Web cannot load it as one
   protobuf (std::bad_alloc), so the weights go to <out>.data next to <out>.
5. Check: ORT (CPU) logits vs PyTorch logits on a random padded 3 x 96 batch;
   prints max |diff| (expect ~1e-5 for the large model).
"""
import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_reference  # noqa: E402  (sets up .venv-ref/pinned on sys.path)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
import transformers.models.deberta_v2.modeling_deberta_v2 as deberta  # noqa: E402
from llm_blender.pair_ranker.pairrm import DebertaV2PairRM  # noqa: E402


class PlainXSoftmax:
    """XSoftmax.forward's math without the autograd.Function."""

    @staticmethod
    def apply(x, mask, dim):
        rmask = ~(mask.to(torch.bool))
        out = torch.softmax(x.masked_fill(rmask, torch.finfo(x.dtype).min), dim)
        return out.masked_fill(rmask, 0.0)


@contextlib.contextmanager
def plain_xsoftmax():
    orig = deberta.XSoftmax
    deberta.XSoftmax = PlainXSoftmax
    try:
        yield
    finally:
        deberta.XSoftmax = orig


class LogitsOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def pair_batch(cfg, batch, seq, gen, pad=0):
    """[CLS] <|source|> .. [SEP] [CLS] <|candidate1|> .. [SEP] [CLS] <|candidate2|> .. [SEP]
    (40/30/30 like bench_reference.py), the last row right-padded by `pad`."""
    ls = int(seq * 0.4)
    la = (seq - ls) // 2
    lb = seq - ls - la
    n_ordinary = cfg.source_prefix_id - 1  # ordinary SentencePiece ids are below it

    def seg(marker, n):
        return [1, marker] + torch.randint(10, n_ordinary, (n - 3,), generator=gen).tolist() + [2]

    ids = torch.tensor([seg(cfg.source_prefix_id, ls) + seg(cfg.cand1_prefix_id, la)
                        + seg(cfg.cand2_prefix_id, lb) for _ in range(batch)])
    mask = torch.ones_like(ids)
    if pad:  # shorter last row: same layout in seq - pad tokens, then [PAD]s
        short, _ = pair_batch(cfg, 1, seq - pad, gen)
        ids[-1] = torch.cat([short[0], torch.zeros(pad, dtype=torch.long)])
        mask[-1, seq - pad:] = 0
    return ids, mask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="PairRM-hf layout folder (default: random large model)")
    ap.add_argument("--out", default="target/onnx/pairrm-large.onnx")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())

    t0 = time.time()
    if args.model:
        model = DebertaV2PairRM.from_pretrained(args.model).float().eval()
    else:
        torch.manual_seed(0)  # as bench_reference.py: same random weights
        model = DebertaV2PairRM(bench_reference.large_config()).float().eval()
    cfg = model.config
    wrapped = LogitsOnly(model).eval()
    print(f"model: {sum(p.numel() for p in model.parameters()):,} params ({time.time() - t0:.1f}s)",
          flush=True)

    gen = torch.Generator().manual_seed(1)
    dummy = pair_batch(cfg, 2, 64, gen)
    buf = io.BytesIO()
    t0 = time.time()
    with plain_xsoftmax(), torch.no_grad():
        torch.onnx.export(
            wrapped, dummy, buf, dynamo=False, opset_version=17,
            input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                          "attention_mask": {0: "batch", 1: "seq"}, "logits": {0: "batch"}})
    m = onnx.load_from_string(buf.getvalue())
    del buf
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = out.with_name(out.name + ".data")
    data.unlink(missing_ok=True)  # onnx appends to an existing external-data file
    onnx.save_model(m, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data.name)
    del m
    print(f"exported {out} + {data.name} ({data.stat().st_size / 1e6:.0f} MB) "
          f"in {time.time() - t0:.1f}s", flush=True)

    ids, mask = pair_batch(cfg, 3, 96, gen, pad=17)
    with torch.no_grad():
        ref = wrapped(ids, mask).numpy()
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    assert got.shape == ref.shape, (got.shape, ref.shape)
    print(f"torch logits: {ref}\nORT logits:   {got}")
    print(f"max |diff| ORT vs PyTorch: {np.abs(got - ref).max():.3g}")


if __name__ == "__main__":
    main()
