"""Ensemble-then-distill on the Multi30k zero-shot testbed (Wen et al., AAAI 2025, Sec. 4.3).

For the zero-shot directions (default: de<->fr, de<->cs, fr<->cs) of the English-centric model:

1. distil three students from the base model, all directions at once, on the NON-ENGLISH SIDE OF THE TRAIN SPLIT
   (the source side only; no reference is read, and never a test set):
   * ``self``  -- self-distillation: the model's own direct beam-search outputs;
   * ``union`` -- union distillation: every component's output (direct, pivot via each other language) as
     separate targets;
   * ``ebbs``  -- the EBBS ensemble's outputs (components: direct + pivot through every other language);
   each with the same training budget (the same number of updates when ``--max-steps`` is given, else the same
   number of epochs; union then sees K times more pairs per epoch);
2. report sacrebleu BLEU (13a, default settings) on test_2016_flickr and test_2018_flickr for: base model direct,
   EBBS, self-distilled, union-distilled and EBBS-distilled, the students decoded with plain beam search.

Every stage is resumable (re-run the same command): decoding is sharded (ensemblekd.distill.shards), training
checkpoints (ensemblekd.distill.seqkd), evaluation outputs are written atomically per system/set/direction and
reused.  The full experiment (29,000 train sentences x 6 directions decoded with EBBS, then three fine-tunings)
needs a GPU or many CPU hours; ``--train-lines`` / ``--test-lines`` run it on the first N lines.

    python examples/zeroshot_mt/distill.py --model models/m30k-zeroshot --data ../shared/data/multi30k \\
        --out runs/distill --train-lines 2000 --max-steps 300 --test-lines 200
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ZERO_SHOT = ["de-fr", "fr-de", "de-cs", "cs-de", "fr-cs", "cs-fr"]
LANGS = ["en", "de", "fr", "cs"]
TEST_SETS = ["test_2016_flickr", "test_2018_flickr"]
STUDENTS = {"self": "direct", "union": "union", "ebbs": "ebbs"}   # name -> teacher method
SYSTEMS = ["base-direct", "ebbs", "self-distilled", "union-distilled", "ebbs-distilled"]


def read_lines(path: Path, limit: int | None) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (see --data)")
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines[:limit] if limit else lines


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="base model directory")
    ap.add_argument("--data", type=Path, required=True, help="Multi30k folder with train.{de,fr,cs}, test_*.*")
    ap.add_argument("--out", type=Path, required=True, help="working directory (re-run to resume)")
    ap.add_argument("--directions", nargs="+", default=ZERO_SHOT)
    ap.add_argument("--students", nargs="*", default=list(STUDENTS), choices=list(STUDENTS),
                    help="students to distil (none: evaluate the base model only)")
    ap.add_argument("--train-lines", type=int, default=None, help="first N train lines per source language")
    ap.add_argument("--test-lines", type=int, default=None, help="first N lines of each test set")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--length-penalty", type=float, default=1.0)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=None, help="decoding batch size")
    ap.add_argument("--shard-size", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=None, help="updates per student (same budget for all)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-tokens", type=int, default=4096)
    ap.add_argument("--warmup-steps", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import sacrebleu
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding.api import translate
    from ensemblekd.distill.mt import DistillMTConfig, distill_mt, parse_direction
    from ensemblekd.distill.seqkd import SeqKDConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    directions = [parse_direction(d) for d in args.directions]
    src_langs = sorted({s for s, _ in directions})
    if "en" in src_langs:
        raise SystemExit("distill.py distils zero-shot directions from the non-English side; drop en-* directions")
    args.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    # 1. students: the train split's source side only
    sources = {lang: read_lines(args.data / f"train.{lang}", args.train_lines) for lang in src_langs}
    train = SeqKDConfig(epochs=args.epochs, max_steps=args.max_steps, lr=args.lr, max_tokens=args.max_tokens,
                        warmup_steps=args.warmup_steps, seed=args.seed, device=args.device, save_every=100)
    student_dirs = {}
    for name in args.students:
        cfg = DistillMTConfig(directions=directions, pivots=LANGS, method=STUDENTS[name], beam_size=args.beam,
                              max_new_tokens=args.max_new_tokens, length_penalty=args.length_penalty,
                              batch_size=args.batch_size, shard_size=args.shard_size, train=train)
        t0 = time.perf_counter()
        res = distill_mt(args.model, sources, args.out / f"student-{name}", cfg, quiet=args.quiet)
        timings[f"distill {name} (s, this run)"] = round(time.perf_counter() - t0, 1)
        student_dirs[f"{name}-distilled"] = res.student_dir
        print(f"[{name}] {res.num_pairs} pairs, {res.steps} steps, loss {res.first_losses[:1]} -> "
              f"{res.last_losses[-1:]}", file=sys.stderr)

    # 2. evaluation: base direct, EBBS, each student direct (plain beam search)
    systems = {"base-direct": (args.model, "direct"), "ebbs": (args.model, "ebbs")}
    systems.update({k: (v, "direct") for k, v in student_dirs.items()})
    results: dict = {}
    for system, (path, method) in systems.items():
        model = AutoModelForSeq2SeqLM.from_pretrained(path).eval()
        tokenizer = AutoTokenizer.from_pretrained(path)
        for test in TEST_SETS:
            for s, t in directions:
                out_file = args.out / "eval" / f"{system}.{test}.{s}-{t}.txt"
                refs = read_lines(args.data / f"{test}.{t}", args.test_lines)
                if out_file.is_file():
                    hyps = read_lines(out_file, None)
                else:
                    srcs = read_lines(args.data / f"{test}.{s}", args.test_lines)
                    pivots = [p for p in LANGS if p not in (s, t)] if method != "direct" else []
                    t0 = time.perf_counter()
                    kw = {"batch_size": args.batch_size} if args.batch_size else {}
                    hyps = [r.text.replace("\n", " ") for r in translate(
                        model, tokenizer, srcs, src_lang=s, tgt_lang=t, pivots=pivots, method=method,
                        beam_size=args.beam, length_penalty=args.length_penalty,
                        max_new_tokens=args.max_new_tokens, device=args.device, progress=not args.quiet, **kw)]
                    timings[f"eval {system} {test} {s}-{t} (s)"] = round(time.perf_counter() - t0, 1)
                    write_atomic(out_file, "\n".join(hyps) + "\n")
                bleu = sacrebleu.corpus_bleu(hyps, [refs]).score
                results.setdefault(system, {}).setdefault(test, {})[f"{s}-{t}"] = round(bleu, 2)

    table = render(results, [f"{s}-{t}" for s, t in directions], args)
    write_atomic(args.out / "results.md", table)
    write_atomic(args.out / "results.json", json.dumps({"bleu": results, "timings": timings,
                                                         "args": {k: str(v) for k, v in vars(args).items()}},
                                                        indent=2) + "\n")
    print(table)
    return results


def render(results: dict, dirs: list[str], args) -> str:
    lines = [f"Multi30k zero-shot, BLEU (sacrebleu 13a). Students trained on the first "
             f"{args.train_lines or 'all'} train lines per source language; "
             f"test sets: first {args.test_lines or 'all'} lines; beam {args.beam}.", ""]
    for test in TEST_SETS:
        lines += [f"### {test}", "", "| system | " + " | ".join(dirs) + " | avg |",
                  "|---" * (len(dirs) + 2) + "|"]
        for system in SYSTEMS:
            if system not in results:
                continue
            row = [results[system][test][d] for d in dirs]
            lines.append(f"| {system} | " + " | ".join(f"{v:.2f}" for v in row) + f" | {sum(row) / len(row):.2f} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
