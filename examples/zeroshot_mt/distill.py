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

The stages can run in parallel processes on one ``--out``: e.g. ``--students ebbs --no-eval`` in one and
``--students self union --no-eval`` in another, then ``--test-sets test_2016_flickr`` and
``--test-sets test_2018_flickr`` (each evaluates the finished students without training them again), then one
run with neither flag writes the table.  ``--reuse-outputs runs/benchmark/outputs`` takes the base model's
direct and EBBS test outputs from ``benchmark.py``'s cache when they were decoded with the same model and
settings (beam, length penalty, vocabulary restriction) on the same lines.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchmark import output_settings, read_cached  # noqa: E402
from evaluate import LanguageId  # noqa: E402

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
    ap.add_argument("--test-sets", nargs="+", default=TEST_SETS, choices=TEST_SETS)
    ap.add_argument("--no-eval", action="store_true", help="distil only (evaluate in a later run)")
    ap.add_argument("--restrict-vocab", action="store_true",
                    help="teachers, and every system at evaluation, decode with the target language's vocabulary "
                    "(the model's ensemblekd_target_vocab.json)")
    ap.add_argument("--reuse-outputs", type=Path, default=None,
                    help="benchmark.py's outputs folder: reuse its direct/ebbs test outputs of the same model "
                    "and settings for base-direct and ebbs")
    ap.add_argument("--reuse-chunk-lines", type=int, default=500, help="benchmark.py's --chunk-lines")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--length-penalty", type=float, default=1.0)
    ap.add_argument("--max-new-tokens", type=int, default=64, help="teacher decoding of the train lines")
    ap.add_argument("--eval-max-new-tokens", type=int, default=None,
                    help="evaluation decoding (default: translate()'s, as benchmark.py)")
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
    options = {"restrict_vocab": True} if args.restrict_vocab else {}
    train = SeqKDConfig(epochs=args.epochs, max_steps=args.max_steps, lr=args.lr, max_tokens=args.max_tokens,
                        warmup_steps=args.warmup_steps, seed=args.seed, device=args.device, save_every=100)
    student_dirs = {}
    for name in args.students:
        cfg = DistillMTConfig(directions=directions, pivots=LANGS, method=STUDENTS[name], beam_size=args.beam,
                              max_new_tokens=args.max_new_tokens, length_penalty=args.length_penalty,
                              batch_size=args.batch_size, shard_size=args.shard_size, train=train,
                              translate_options=options)
        t0 = time.perf_counter()
        res = distill_mt(args.model, sources, args.out / f"student-{name}", cfg, quiet=args.quiet)
        timings[f"distill {name} (s, this run)"] = round(time.perf_counter() - t0, 1)
        student_dirs[f"{name}-distilled"] = res.student_dir
        print(f"[{name}] {res.num_pairs} pairs, {res.steps} steps, loss {res.first_losses[:1]} -> "
              f"{res.last_losses[-1:]}", file=sys.stderr)

    if args.no_eval:
        return {}

    # 2. evaluation: base direct, EBBS, each student direct (plain beam search)
    systems = {"base-direct": (args.model, "direct"), "ebbs": (args.model, "ebbs")}
    systems.update({k: (v, "direct") for k, v in student_dirs.items()})
    langid = LanguageId()
    check_eval_settings(args)
    results: dict = {}
    for system, (path, method) in systems.items():
        model = tokenizer = None
        for test in args.test_sets:
            for s, t in directions:
                out_file = args.out / "eval" / f"{system}.{test}.{s}-{t}.txt"
                refs = read_lines(args.data / f"{test}.{t}", args.test_lines)
                srcs = read_lines(args.data / f"{test}.{s}", args.test_lines)
                if out_file.is_file():
                    hyps = read_lines(out_file, None)
                elif (hyps := reused(args, system, test, s, t, srcs)) is not None:
                    write_atomic(out_file, "\n".join(hyps) + "\n")
                else:
                    if model is None:
                        model = AutoModelForSeq2SeqLM.from_pretrained(path).eval()
                        tokenizer = AutoTokenizer.from_pretrained(path)
                    pivots = [p for p in LANGS if p not in (s, t)] if method != "direct" else []
                    t0 = time.perf_counter()
                    kw = {"batch_size": args.batch_size} if args.batch_size else {}
                    hyps = [r.text.replace("\n", " ") for r in translate(
                        model, tokenizer, srcs, src_lang=s, tgt_lang=t, pivots=pivots, method=method,
                        beam_size=args.beam, length_penalty=args.length_penalty, restrict_vocab=args.restrict_vocab,
                        max_new_tokens=args.eval_max_new_tokens, device=args.device, progress=not args.quiet,
                        **kw)]
                    timings[f"eval {system} {test} {s}-{t} (s)"] = round(time.perf_counter() - t0, 1)
                    write_atomic(out_file, "\n".join(hyps) + "\n")
                if len(hyps) != len(refs):
                    raise RuntimeError(f"{out_file}: {len(hyps)} lines for {len(refs)} references; delete it")
                cell = {"bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
                        "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2),
                        "off_target": round(100 * langid.off_target_rate(hyps, t), 1)}
                results.setdefault(system, {}).setdefault(test, {})[f"{s}-{t}"] = cell

    table = render(results, [f"{s}-{t}" for s, t in directions], args)
    suffix = "" if args.test_sets == TEST_SETS else "." + ".".join(args.test_sets)
    write_atomic(args.out / f"results{suffix}.md", table)
    write_atomic(args.out / f"results{suffix}.json", json.dumps(
        {"results": results, "timings": timings, "args": {k: str(v) for k, v in vars(args).items()}},
        indent=2) + "\n")
    print(table)
    return results


def check_eval_settings(args) -> None:
    """The cached evaluation outputs (OUT/eval) must come from the same decoding settings and test lines."""
    wanted = {"beam": args.beam, "length_penalty": args.length_penalty, "restrict_vocab": args.restrict_vocab,
              "max_new_tokens": args.eval_max_new_tokens, "test_lines": args.test_lines}
    path = args.out / "eval" / "settings.json"
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored != wanted:
            raise SystemExit(f"error: {path.parent} holds outputs decoded with {stored}, this run asks for {wanted}; "
                             "use another --out or delete that folder")
    else:
        write_atomic(path, json.dumps(wanted) + "\n")


def reused(args, system: str, test: str, src: str, tgt: str, srcs: list[str]) -> list[str] | None:
    """The base model's output from benchmark.py's cache, if decoded with the same model and settings."""
    # benchmark.py decodes with translate()'s default max_new_tokens
    if args.reuse_outputs is None or system not in ("base-direct", "ebbs") or args.eval_max_new_tokens is not None:
        return None
    method = "direct" if system == "base-direct" else "ebbs"
    wanted = output_settings(args.model, args.beam, args.length_penalty, args.restrict_vocab)
    cached = read_cached(args.reuse_outputs, test, f"{src}-{tgt}.{method}", srcs, args.reuse_chunk_lines, wanted)
    return None if cached is None else cached[0]


def render(results: dict, dirs: list[str], args) -> str:
    restrict = "restricted target vocabulary" if args.restrict_vocab else "full vocabulary"
    lines = [f"Multi30k zero-shot directions. Students trained on the first {args.train_lines or 'all'} train "
             f"lines per source language ({args.max_steps or args.epochs} {'steps' if args.max_steps else 'epochs'},"
             f" lr {args.lr}); test sets: first {args.test_lines or 'all'} lines; beam {args.beam}, length penalty "
             f"{args.length_penalty}, {restrict}. BLEU and chrF: sacrebleu defaults; off-target: share of outputs "
             "py3langid puts in another language.", ""]
    for test in args.test_sets:
        lines += [f"### {test}", "", "| system | " + " | ".join(dirs) + " | avg BLEU | avg chrF | off-target |",
                  "|---" * (len(dirs) + 4) + "|"]
        for system in SYSTEMS:
            if system not in results or test not in results[system]:
                continue
            cells = [results[system][test][d] for d in dirs]
            mean = {k: sum(c[k] for c in cells) / len(cells) for k in ("bleu", "chrf", "off_target")}
            lines.append(f"| {system} | " + " | ".join(f"{c['bleu']:.2f}" for c in cells)
                         + f" | **{mean['bleu']:.2f}** | {mean['chrf']:.2f} | {mean['off_target']:.1f}% |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
