"""Decode every teacher of the Multi30k distillation experiment once, sharing the legs between them.

For each non-English source language s (de, fr, cs) and its two zero-shot targets t1, t2, one shard of
source lines gets, in one record per line:

* ``legs``: s -> en, s -> t1, s -> t2 (plain beam search; ``legs[t]`` is also the *self* teacher of s-t);
* per target t (third = the other target): ``pivot_en`` (en -> t on legs["en"]), ``pivot_third``
  (third -> t on legs[third]), ``ebbs3`` (EBBS over direct + pivot en + pivot third, given those pivot texts:
  the benchmark's setting), ``ebbs2`` (EBBS over direct + pivot en).

So the five teachers of the experiment (EBBS-3, EBBS-2, pivot via en, self, union = direct + both pivots)
come from one decoding instead of five.  Source side of the train split only; no reference is read.

Shards are ``OUT/<s>/shard-*.jsonl`` of the library's :class:`ensemblekd.distill.mt.shards.ShardedOutputs` over the
whole train file, so ``--lines`` can grow between runs.  Work is interleaved over languages (shard 0 of each
language, then shard 1, ...) so that any prefix is usable, and split across processes: under torchrun task j
belongs to rank j % WORLD_SIZE; a rerun (any world size) continues.

    nohup nice torchrun --nproc_per_node 2 examples/zeroshot_mt/teachers.py --model models/m30k-zeroshot \\
        --data ../shared/data/multi30k --out runs/teachers --lines 10000 &
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SOURCES = ["de", "fr", "cs"]
OUTPUTS = ("pivot_en", "pivot_third", "ebbs3", "ebbs2")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="folder with train.{de,fr,cs}")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--lines", type=int, default=10000, help="decode the first N lines of each train file")
    ap.add_argument("--sources", nargs="+", default=SOURCES)
    ap.add_argument("--shard-size", type=int, default=250)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--outputs", nargs="+", default=list(OUTPUTS), choices=OUTPUTS,
                    help="per-target outputs to decode (a subset skips their legs: without pivot_third and ebbs3 "
                         "the third-language legs are not decoded); a resume must ask for the same set")
    ap.add_argument("--direct-model", type=Path, default=None,
                    help="a second round: the EBBS teachers' direct component comes from this model (e.g. a "
                         "student), the pivot components from --model (which also decodes the legs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def make_decoder(model, tok, s: str, targets: list[str], opts: dict, outputs=OUTPUTS, direct_model=None):
    from ensemblekd.decoding.api import translate

    def direct(lines, src, tgt):
        return [r.text for r in translate(model, tok, lines, src_lang=src, tgt_lang=tgt, method="direct", **opts)]

    def ebbs(lines, tgt, pivots: dict):
        if direct_model is None:
            models, weights = model, None
        else:  # components model-major: the direct model's direct path, then --model's pivot paths
            models, weights = [direct_model, model], [1] + [0] * len(pivots) + [0] + [1] * len(pivots)
        return [r.text for r in translate(models, tok, lines, src_lang=s, tgt_lang=tgt, method="ebbs",
                                          pivots=list(pivots), pivot_texts=pivots, weights=weights, **opts)]

    def decode(lines: list[str]) -> list[dict]:
        legs = {lang: direct(lines, s, lang) for lang in ["en", *targets]}
        per = {}
        for t in targets:
            third = [x for x in targets if x != t][0]
            make = {"pivot_en": lambda: direct(legs["en"], "en", t),
                    "pivot_third": lambda: direct(legs[third], third, t),
                    "ebbs3": lambda: ebbs(lines, t, {"en": legs["en"], third: legs[third]}),
                    "ebbs2": lambda: ebbs(lines, t, {"en": legs["en"]})}
            per[t] = {k: make[k]() for k in OUTPUTS if k in outputs}
        return [{"legs": {k: v[i] for k, v in legs.items()},
                 **{t: {k: v[i] for k, v in per[t].items()} for t in targets}} for i in range(len(lines))]

    return decode


def open_shards(args, s: str, digest: str, direct_digest=None):
    from ensemblekd.distill.mt.shards import ShardedOutputs

    lines = (args.data / f"train.{s}").read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    targets = [x for x in args.sources if x != s]
    cfg = {"model_sha256": digest, "src": s, "targets": targets, "beam": args.beam, "restrict_vocab": True,
           "max_new_tokens": args.max_new_tokens, "length_penalty": 1.0, "record": "teachers/1"}
    if set(args.outputs) != set(OUTPUTS):  # the full set keeps the original configuration (old runs resume)
        cfg["outputs"] = [k for k in OUTPUTS if k in args.outputs]
    if direct_digest is not None:
        cfg["direct_model_sha256"] = direct_digest
    return ShardedOutputs(args.out / s, lines, cfg, args.shard_size), targets


def main(argv=None):
    args = parse_args(argv)
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd._runtime import dist_info, quiet_hf_progress, set_threads
    from ensemblekd.distill.mt import model_digest

    set_threads(args.threads)
    rank, world, _ = dist_info()
    digest = model_digest(args.model)
    with quiet_hf_progress(True):
        tok = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForSeq2SeqLM.from_pretrained(args.model).eval()
        direct_model = (None if args.direct_model is None
                        else AutoModelForSeq2SeqLM.from_pretrained(args.direct_model).eval())
    direct_digest = None if args.direct_model is None else model_digest(args.direct_model)
    opts = {"beam_size": args.beam, "max_new_tokens": args.max_new_tokens, "restrict_vocab": True,
            "batch_size": args.batch_size, "progress": False}
    outs = {s: open_shards(args, s, digest, direct_digest) for s in args.sources}
    n = max(-(-min(args.lines, len(o.sources)) // o.shard_size) for o, _ in outs.values())
    tasks = [(i, s) for i in range(n) for s in args.sources if i < outs[s][0].num_shards]
    mine = [(i, s) for j, (i, s) in enumerate(tasks) if j % world == rank and not outs[s][0].is_done(i)]
    from tqdm.auto import tqdm

    for i, s in tqdm(mine, desc=f"teachers [rank {rank}/{world}]", unit="shard", disable=args.quiet):
        shards, targets = outs[s]
        start, stop = shards.shard_range(i)
        shards.write_shard(i, make_decoder(model, tok, s, targets, opts, args.outputs, direct_model)(shards.sources[start:stop]))
    done = {s: sum(o.is_done(i) for i in range(o.num_shards)) for s, (o, _) in outs.items()}
    print(f"rank {rank}: {len(mine)} shard(s) written; done per language: {done}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; finished shards are kept (rerun to continue)", file=sys.stderr)
        sys.exit(130)
