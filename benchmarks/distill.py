"""Distill-stage throughput, measured in one run and printed as ratios.

1. Student training: target tokens per second of the library's trainer (the Hugging Face engine,
   :func:`ensemblekd.distill.mt.train_student`) against a plain hand-written loop equivalent to the loop the
   engine replaced (same token-bucketed batches, AdamW, linear schedule, gradient clipping, SeqKD
   cross-entropy), on the same data, runs interleaved (engine, loop, engine, loop, ...).  Target >= 0.9x.
2. Decoding: lines per second of the sharded decoding (``decode_all``, EBBS over direct + pivots) with 1 and
   2 processes launched by torchrun (one torch thread each) on the same shards, from a fresh folder each time.

Data: the Multi30k sample embedded in the package (de sources; fr references as targets: only throughput
is measured) and the shipped model.

    python benchmarks/distill.py [--steps 30] [--repeats 2] [--decode-lines 96] [--skip-decoding]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "m30k-zeroshot"
SAMPLE = ROOT / "ensemblekd" / "data" / "multi30k_sample"


def examples():
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding.languages import get_adapter
    from ensemblekd.distill.mt import build_examples

    tok = AutoTokenizer.from_pretrained(MODEL)
    adapter = get_adapter(AutoModelForSeq2SeqLM.from_pretrained(MODEL), tok)
    src = (SAMPLE / "test_2016_flickr.200.de").read_text(encoding="utf-8").splitlines()
    tgt = (SAMPLE / "test_2016_flickr.200.fr").read_text(encoding="utf-8").splitlines()
    exs = []
    for rep in range(4):   # 800 pairs: enough batches for the steps
        got, _ = build_examples(adapter, tok, "de", "fr", src, [{"targets": [t]} for t in tgt], [], False)
        exs += got
    return exs, adapter


def run_engine(exs, adapter, steps, max_tokens, tmp):
    from transformers import AutoModelForSeq2SeqLM

    from ensemblekd.distill.mt import TrainConfig, train_student

    model = AutoModelForSeq2SeqLM.from_pretrained(MODEL)
    cfg = TrainConfig(max_steps=steps, lr=1e-4, max_tokens=max_tokens, device="cpu", save_every=10 ** 9,
                      logging_steps=10 ** 9, warmup_steps=0)
    t0 = time.perf_counter()
    train_student(model, exs, tmp, cfg, pad_id=adapter.pad_token_id, quiet=True)
    return time.perf_counter() - t0


def run_loop(exs, adapter, steps, max_tokens):
    """The hand-written loop the engine replaced, reduced to its per-step work."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForSeq2SeqLM

    from ensemblekd.distill.mt.data import collate, make_batches

    model = AutoModelForSeq2SeqLM.from_pretrained(MODEL)
    t0 = time.perf_counter()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (steps - s) / steps))
    batches = make_batches(exs, max_tokens, 0)
    done = 0
    while done < steps:
        for b in batches:
            batch = collate([exs[i] for i in b], adapter.pad_token_id)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           decoder_input_ids=batch["decoder_input_ids"],
                           decoder_attention_mask=batch["decoder_attention_mask"]).logits
            loss = F.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(), ignore_index=-100)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            done += 1
            if done == steps:
                break
    model.save_pretrained(tempfile.mkdtemp())
    return time.perf_counter() - t0


def tokens_in(exs, steps, max_tokens):
    from ensemblekd.distill.mt.data import TokenBucketSampler

    sampler = TokenBucketSampler(exs, max_tokens, 0)
    total, done, epoch = 0, 0, 0
    while done < steps:
        sampler.set_epoch(epoch)
        for b in sampler:
            total += sum(len(exs[i].target) for i in b)
            done += 1
            if done == steps:
                break
        epoch += 1
    return total


DECODE_WORKER = """
import sys, json
from pathlib import Path
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
from ensemblekd._runtime import set_threads, quiet_hf_progress
from ensemblekd.distill.mt import DistillMTConfig, ShardedOutputs, decode_all
from ensemblekd.distill.mt.decode import make_decoder
set_threads(1)
model_dir, src_file, out, n = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
lines = src_file.read_text(encoding="utf-8").splitlines()[:n]
with quiet_hf_progress(True):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
cfg = DistillMTConfig([("de", "fr")], pivots=["en", "cs"], method="ebbs", max_new_tokens=64,
                      translate_options={"restrict_vocab": True})
sh = ShardedOutputs(out, lines, {"bench": 1}, 8)
decode_all([(sh, make_decoder(model, tok, cfg, "de", "fr", False))], quiet=True, poll_s=0.05)
"""


def decode_seconds(nproc: int, lines: int, tmp: Path) -> tuple[float, dict]:
    out = tmp / f"decode-{nproc}"
    shutil.rmtree(out, ignore_errors=True)
    worker = tmp / "decode_worker.py"
    worker.write_text(DECODE_WORKER, encoding="utf-8")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master-addr",
           "127.0.0.1", "--master-port", str(29600 + nproc), str(worker), str(MODEL),
           str(SAMPLE / "test_2016_flickr.200.de"), str(out), str(lines)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    seconds = time.perf_counter() - t0
    return seconds, {p.name: p.read_bytes() for p in sorted(out.glob("shard-*"))}


def decoding_section(lines: int, tmp: Path) -> dict:
    one, shards1 = decode_seconds(1, lines, tmp)
    two, shards2 = decode_seconds(2, lines, tmp)
    print(f"decoding, EBBS de-fr over direct + en + cs, {lines} lines in shards of 8, torchrun "
          f"(launch included), one torch thread per process:")
    print(f"  1 process   {one:7.2f} s  {lines / one:6.2f} lines/s")
    print(f"  2 processes {two:7.2f} s  {lines / two:6.2f} lines/s")
    print(f"  speed-up: {one / two:.2f}x; shards identical: {shards1 == shards2}")
    return {"lines": lines, "one_process_s": one, "two_processes_s": two, "speedup": one / two,
            "identical_shards": shards1 == shards2}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--decode-lines", type=int, default=96)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--skip-decoding", action="store_true", help="part 1 only (part 2 launches torchrun twice)")
    args = ap.parse_args(argv)
    import torch

    from ensemblekd._runtime import quiet_hf_progress

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="ekd-bench-"))
    report = {}
    with quiet_hf_progress(True):
        exs, adapter = examples()
        tokens = tokens_in(exs, args.steps, args.max_tokens)
        run_loop(exs, adapter, 2, args.max_tokens)     # warm-up (allocator, kernels)
        engine, loop = [], []
        for r in range(args.repeats):
            engine.append(run_engine(exs, adapter, args.steps, args.max_tokens, tmp / f"engine{r}"))
            loop.append(run_loop(exs, adapter, args.steps, args.max_tokens))
    e, lp = min(engine), min(loop)
    report["training"] = {"steps": args.steps, "target_tokens": tokens, "engine_s": engine, "loop_s": loop,
                          "engine_tok_per_s": tokens / e, "loop_tok_per_s": tokens / lp, "ratio": lp / e}
    print(f"training, {args.steps} steps of <= {args.max_tokens} tokens ({tokens} target tokens), 1 thread, "
          f"best of {args.repeats}, model load and final save included:")
    print(f"  engine (Seq2SeqTrainer)  {e:7.2f} s  {tokens / e:8.0f} target tok/s")
    print(f"  hand-written loop        {lp:7.2f} s  {tokens / lp:8.0f} target tok/s")
    print(f"  engine / loop throughput: {lp / e:.2f}x (target >= 0.9x)")

    if not args.skip_decoding:
        report["decoding"] = decoding_section(args.decode_lines, tmp)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return report


if __name__ == "__main__":
    main()
