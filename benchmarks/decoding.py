"""Decoding speed and memory: ebbs / average / vote / single vs ``model.generate(num_beams=5)``.

Issue 3 section 5: a random-init M2M100-style model of ~10M parameters on CPU, B = 32 sources of 20
tokens, K = 3 components, Z = 5, fixed output length (EOS disallowed, so every method runs exactly
``--new-tokens`` decoder steps).  The baseline is ``generate(num_beams=5)`` over the same 3*B
encoder inputs (the same decoder work as K = 3 components of B sentences).

Every (method, repeat) runs in a fresh subprocess, interleaved (hf, single, average, vote, ebbs,
hf, ...), so that the machine's noise hits all methods alike; the report gives the median wall time
and the median peak RSS (``resource.getrusage(...).ru_maxrss``: the whole process, torch included)
and the median peak RSS *increase* during decoding (peak minus the RSS just before it), each as a
ratio to the baseline.  Targets: ebbs <= 1.25x, average <= 1.15x time, memory <= 1.3x.

Two models (issue 13 §4): ``ebbs2`` / ``average2`` are an ensemble of two such models (another random init of
the same config) x the same 3 paths, K = 6 (:mod:`ensemblekd.decoding.multimodel`: one forward per model per
step, one cache per model); their baseline ``hf2`` is ``generate(num_beams=5)`` of each model over the same
3*B rows, one after the other.  Targets as for one model: <= 1.25x time, <= 1.3x memory.

A decoder-only prompt ensemble (issue 13 §4): ``ebbs-lm`` / ``average-lm`` decode a random-init Qwen2-style
(Llama-like: RMSNorm, rotary positions, grouped-query attention) model of ~11M parameters with K = 3 prompt
templates per source (prompts of different lengths, left-padded in one batch), Z = 5; their baseline ``hf-lm`` is
``generate(num_beams=5)`` over the same 3*B left-padded prompts.  Targets: <= 1.25x time, <= 1.3x memory.

    python benchmarks/decoding.py                 # defaults: 5 repeats, 1 torch thread
    python benchmarks/decoding.py --repeats 3 --threads 2
    python benchmarks/decoding.py --methods hf2 ebbs2 average2     # the two-model ensemble only
    python benchmarks/decoding.py --methods hf-lm ebbs-lm average-lm     # the decoder-only prompt ensemble
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

METHODS = ("hf", "single", "average", "vote", "ebbs", "hf2", "ebbs2", "average2", "hf-lm", "ebbs-lm", "average-lm")
TWO_MODELS = ("hf2", "ebbs2", "average2")   # compared with hf2
DECODER_ONLY = ("hf-lm", "ebbs-lm", "average-lm")   # compared with hf-lm


def build(args, seed=0):
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    cfg = tf.M2M100Config(vocab_size=args.vocab, d_model=256, encoder_layers=3, decoder_layers=3,
                          encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=1024,
                          decoder_ffn_dim=1024, max_position_embeddings=256, dropout=0.0)
    model = tf.M2M100ForConditionalGeneration(cfg).eval()
    g = torch.Generator().manual_seed(1)
    B, K, L = args.sentences, 3, args.source_len
    # K components per sentence: different encoder inputs (as direct + 2 pivots would be)
    rows = [torch.randint(4, args.vocab, (L - 1,), generator=g).tolist() + [cfg.eos_token_id] for _ in range(B * K)]
    return model, rows


def build_lm(args):
    """A Qwen2-style decoder and B x 3 prompt rows: template head (8/14/20 tokens) + source (L +- 5) + tail."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    cfg = tf.Qwen2Config(vocab_size=args.vocab, hidden_size=256, intermediate_size=1024, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = tf.Qwen2ForCausalLM(cfg).eval()
    g = torch.Generator().manual_seed(1)
    heads = [torch.randint(4, args.vocab, (n,), generator=g).tolist() for n in (8, 14, 20)]
    tails = [torch.randint(4, args.vocab, (n,), generator=g).tolist() for n in (3, 4, 2)]
    rows = []
    for _ in range(args.sentences):
        n = args.source_len + int(torch.randint(-5, 6, (1,), generator=g))
        src = torch.randint(4, args.vocab, (n,), generator=g).tolist()
        rows += [heads[k] + src + tails[k] for k in range(3)]
    return model, rows


def decode_lm(method, model, rows, args):
    import torch

    from ensemblekd.decoding import EBBS, Average, CausalLMScorer, beam_search

    cfg = model.config
    T, Z = args.new_tokens, 5
    if method == "hf-lm":
        width = max(len(r) for r in rows)
        ids = torch.tensor([[cfg.pad_token_id] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        return model.generate(ids, attention_mask=mask, num_beams=Z, max_new_tokens=T, min_new_tokens=T,
                              early_stopping=True, length_penalty=1.0, do_sample=False, pad_token_id=cfg.pad_token_id)
    allowed = torch.ones(cfg.vocab_size, dtype=torch.bool)
    allowed[cfg.eos_token_id] = False
    scorer = CausalLMScorer(model, rows, 3, pad_token_id=cfg.pad_token_id, allowed_tokens=allowed)
    combiner = EBBS() if method == "ebbs-lm" else Average()
    return beam_search(scorer, combiner, beam_size=Z, max_new_tokens=T, eos_token_id=cfg.eos_token_id,
                       length_penalty=1.0)


def decode(method, model, rows, args, sentences, second=None):
    import torch

    if method in DECODER_ONLY:
        return decode_lm(method, model, rows, args)

    from ensemblekd.decoding import EBBS, Average, Seq2SeqScorer, Single, Vote, beam_search

    cfg = model.config
    T, Z = args.new_tokens, 5
    if method in ("hf", "hf2"):
        ids = torch.tensor(rows)
        for m in (model,) if method == "hf" else (model, second):
            out = m.generate(ids, attention_mask=torch.ones_like(ids), num_beams=Z, max_new_tokens=T,
                             min_new_tokens=T, early_stopping=True, length_penalty=1.0, do_sample=False)
        return out
    allowed = torch.ones(model.config.vocab_size, dtype=torch.bool)
    allowed[cfg.eos_token_id] = False
    if method in TWO_MODELS:
        from ensemblekd.decoding.multimodel import ensemble_scorer

        # component k < 3: model 1 on row b*3 + k; k >= 3: model 2 on the same row (sentence-major b*6 + k)
        both = [r for b in range(len(rows) // 3) for r in rows[3 * b:3 * b + 3] * 2]
        scorer = ensemble_scorer([model, second], [0, 0, 0, 1, 1, 1], both,
                                 lambda m, r, k: Seq2SeqScorer(m, r, [cfg.decoder_start_token_id], k,
                                                               allowed_tokens=allowed))
        combiner = EBBS() if method == "ebbs2" else Average()
        return beam_search(scorer, combiner, beam_size=Z, max_new_tokens=T, eos_token_id=cfg.eos_token_id,
                           length_penalty=1.0)
    K = 1 if method == "single" else 3
    combiner = {"single": Single(), "average": Average(), "vote": Vote(), "ebbs": EBBS()}[method]
    scorer = Seq2SeqScorer(model, rows, [cfg.decoder_start_token_id], K, allowed_tokens=allowed)
    return beam_search(scorer, combiner, beam_size=1 if method == "vote" else Z, max_new_tokens=T,
                       eos_token_id=cfg.eos_token_id, length_penalty=1.0)


def worker(args):
    import gc
    import resource

    import torch

    torch.set_num_threads(args.threads)
    model, rows = build_lm(args) if args.worker in DECODER_ONLY else build(args)
    second = build(args, seed=2)[0] if args.worker in TWO_MODELS else None
    n = len(rows)
    with torch.inference_mode():
        decode(args.worker, model, rows[:6], argparse.Namespace(**{**vars(args), "new_tokens": 2}), 2,
               second)  # warm-up
    gc.collect()
    with open("/proc/self/statm") as f:
        rss_before = int(f.read().split()[1]) * resource.getpagesize() // 1024
    start = time.perf_counter()
    with torch.inference_mode():
        decode(args.worker, model, rows, args, n, second)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"method": args.worker, "seconds": seconds, "peak_kb": peak, "increase_kb": peak - rss_before,
                      "params": sum(p.numel() for p in model.parameters())}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1: a shared box)")
    p.add_argument("--sentences", type=int, default=32)
    p.add_argument("--source-len", type=int, default=20)
    p.add_argument("--new-tokens", type=int, default=20)
    p.add_argument("--vocab", type=int, default=16000)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    results = {m: [] for m in args.methods}
    passthrough = ["--threads", str(args.threads), "--sentences", str(args.sentences), "--source-len",
                   str(args.source_len), "--new-tokens", str(args.new_tokens), "--vocab", str(args.vocab)]
    params = None
    for r in range(args.repeats):
        for m in args.methods:
            out = subprocess.run([sys.executable, __file__, "--worker", m, *passthrough], capture_output=True,
                                 text=True, check=True)
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            params = rec["params"]
            results[m].append(rec)
            print(f"repeat {r + 1}/{args.repeats} {m:8s} {rec['seconds']:7.2f} s  peak {rec['peak_kb'] / 1024:7.1f} MiB"
                  f"  +{rec['increase_kb'] / 1024:6.1f} MiB", file=sys.stderr, flush=True)
    arch = "Qwen2-style decoder" if set(args.methods) <= set(DECODER_ONLY) else "M2M100-style"
    print(f"model: {arch}, {params / 1e6:.1f}M parameters, vocab {args.vocab}; B={args.sentences}, K=3, Z=5, "
          f"source {args.source_len} tokens, {args.new_tokens} new tokens (fixed), {args.threads} thread(s), "
          f"median of {args.repeats}" + ("; hf2/ebbs2/average2: 2 models x 3 paths, K=6, x hf2"
                                         if set(args.methods) & set(TWO_MODELS) else "")
          + ("; hf-lm/ebbs-lm/average-lm: a Qwen2-style decoder, 3 prompts per source, x hf-lm"
             if set(args.methods) & set(DECODER_ONLY) else ""))
    med = {m: {k: statistics.median(x[k] for x in results[m]) for k in ("seconds", "peak_kb", "increase_kb")}
           for m in args.methods}
    print(f"{'method':8s} {'seconds':>8s} {'time x':>7s} {'peak MiB':>9s} {'peak x':>7s} {'+MiB':>7s} {'+ x':>6s}")
    for m in args.methods:
        # two models: x generate of both over the rows; decoder-only: x generate over the 3*B prompts
        base = med.get("hf2" if m in TWO_MODELS else "hf-lm" if m in DECODER_ONLY else "hf")
        s = med[m]
        tr = s["seconds"] / base["seconds"] if base else float("nan")
        pr = s["peak_kb"] / base["peak_kb"] if base else float("nan")
        ir = s["increase_kb"] / base["increase_kb"] if base and base["increase_kb"] else float("nan")
        print(f"{m:8s} {s['seconds']:8.2f} {tr:7.2f} {s['peak_kb'] / 1024:9.1f} {pr:7.2f} "
              f"{s['increase_kb'] / 1024:7.1f} {ir:6.2f}")


if __name__ == "__main__":
    main()
