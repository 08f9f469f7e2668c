"""Ensemble-then-distill on the Multi30k zero-shot testbed (Wen et al., AAAI 2025, Sec. 4.3), with model E.

Reads the teacher outputs that ``teachers.py`` decoded once for all teachers (non-English side of the train
split; no reference is read), trains one student per teacher with the library's trainer
(:func:`ensemblekd.distill.mt.train_student`, the Hugging Face engine), every student initialised from the
base model with the same budget (``--max-steps`` updates of ``--max-tokens`` tokens), all six zero-shot
directions mixed, and evaluates every student with plain beam search (restricted target vocabulary) on
whole evaluation sets.  Teachers (students of the same name):

* ``ebbs3``    EBBS over direct + pivot en + pivot third (the benchmark's setting);
* ``ebbs2``    EBBS over direct + pivot en;
* ``pivot_en`` the pivot path via English alone (the best single path on this testbed);
* ``self``     the base model's own direct outputs;
* ``union``    every component's output (direct, pivot en, pivot third) as a separate target;
* ``<teacher>-<loss>``  another training objective on that teacher's outputs: ``kl``, ``rkl``, ``js``, ``tvd``,
  ``skl``, ``srkl`` (word-level, against the averaged components: direct + the teacher's pivots), ``gkd<L>``
  (on-policy mixing with student-sample probability L, e.g. ``gkd0.5``, ``gkd1``) or ``llmr`` (reward-induction
  KD), with the options below.

Base systems on the test sets (``direct``, ``pivot_en``, ``ebbs3``) come from ``benchmark.py``'s results
(same model and decoding settings, all lines) when ``--benchmark`` is given; the others are decoded here.
Everything is resumable: training checkpoints, evaluation outputs written atomically per system/set/direction.

    python examples/zeroshot_mt/distill.py --model models/m30k-zeroshot --data ../shared/data/multi30k \\
        --teachers runs/teachers --out runs/distill --lines 10000 --max-steps 800 \\
        --eval-sets test_2016_flickr test_2018_flickr --benchmark examples/zeroshot_mt/results/benchmark.json
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

ZERO_SHOT = ["de-fr", "fr-de", "de-cs", "cs-de", "fr-cs", "cs-fr"]
SUPERVISED = ["en-de", "de-en", "en-fr", "fr-en", "en-cs", "cs-en"]
TEACHERS = ("ebbs3", "ebbs2", "pivot_en", "self", "union")
BASE = {"direct": ("direct", []), "pivot_en": ("pivot", ["en"]), "ebbs3": ("ebbs", ["en", "third"]),
        "ebbs2": ("ebbs", ["en"])}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="base model (teacher, and every student's init)")
    ap.add_argument("--data", type=Path, required=True, help="Multi30k folder (val.*, test_*.*)")
    ap.add_argument("--teachers", type=Path, required=True, help="teachers.py's output folder")
    ap.add_argument("--out", type=Path, required=True, help="working directory (re-run to resume)")
    ap.add_argument("--lines", type=int, default=10000, help="first N train lines per source language")
    ap.add_argument("--students", nargs="*", default=[*TEACHERS, "ebbs2-kl"],
                    help=f"students: {', '.join(TEACHERS)} or TEACHER-LOSS (LOSS: kl, rkl, js, tvd, skl, srkl, "
                         "gkdLAMBDA, llmr)")
    ap.add_argument("--base", nargs="*", default=list(BASE), choices=list(BASE), help="base systems to evaluate")
    ap.add_argument("--student-ebbs", action="store_true",
                    help="also evaluate, per student, EBBS over the student's direct path + the base model's pivot "
                         "via en (system ebbs2+student-NAME: components of comparable quality, a second round's "
                         "teacher)")
    ap.add_argument("--eval-sets", nargs="+", default=["val"])
    ap.add_argument("--eval-lines", type=int, default=None, help="first N lines of each evaluation set")
    ap.add_argument("--supervised", nargs="*", default=[], metavar="SET",
                    help="evaluation sets on which the students and the base model are also scored in the "
                         "supervised directions (en<->x): does distillation make them forget?")
    ap.add_argument("--timing-lines", type=int, default=200,
                    help="time every system (CPU seconds, one thread) on the first N lines of the first evaluation "
                         "set in this run; 0: use each row's own decoding time")
    ap.add_argument("--benchmark", type=Path, default=None, help="benchmark.py's results JSON (test sets, all lines)")
    ap.add_argument("--max-steps", type=int, default=800, help="updates per student (the same budget for all)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup-steps", type=int, default=50)
    ap.add_argument("--max-tokens", type=int, default=4096)
    ap.add_argument("--replay", type=int, default=0, metavar="N",
                    help="also train on the gold supervised pairs (en<->de/fr/cs) of the first N train lines, mixed "
                         "with the distillation pairs, against forgetting the supervised directions (default: 0)")
    ap.add_argument("--kd-temperature", type=float, default=1.0, help="student samples: temperature")
    ap.add_argument("--kd-top-p", type=float, default=1.0, help="student samples: nucleus mass")
    ap.add_argument("--skew-alpha", type=float, default=0.1, help="skl/srkl students: the skew")
    ap.add_argument("--gkd-beta", type=float, default=0.5, help="gkd students: generalized JSD beta")
    ap.add_argument("--llmr-next", default="softmax", choices=("softmax", "max", "current"))
    ap.add_argument("--llmr-reward", default="dense", choices=("dense", "sparse"))
    ap.add_argument("--llmr-scale", type=float, default=1.0)
    ap.add_argument("--llmr-clip", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def read_lines(path: Path, limit=None) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines[:limit] if limit else lines


def teacher_records(root: Path, src: str, n: int) -> list[dict]:
    """The first n records of ``teachers.py``'s shards for source language ``src`` (all must be decoded)."""
    manifest = json.loads((root / src / "manifest.json").read_text(encoding="utf-8"))
    size = manifest["shard_size"]
    out: list[dict] = []
    for i in range(-(-n // size)):
        path = root / src / f"shard-{i:05d}.jsonl"
        if not path.is_file():
            raise SystemExit(f"error: {path} is not decoded yet: run teachers.py with --lines >= {n}")
        out += [json.loads(line) for line in read_lines(path)]
    return out[:n]


def split_student(name: str) -> tuple[str, str, dict]:
    """``"ebbs2"`` -> ("ebbs2", "seqkd", {}); ``"ebbs2-gkd0.5"`` -> ("ebbs2", "gkd", {"gkd_lambda": 0.5})."""
    teacher, _, loss = name.partition("-")
    m = re.fullmatch(r"(seqkd|kl|rkl|js|tvd|skl|srkl|llmr|gkd)(\d+(?:\.\d+)?)?", loss or "seqkd")
    if teacher not in TEACHERS or m is None or (m.group(2) and m.group(1) != "gkd"):
        raise SystemExit(f"error: unknown student {name!r}; expected one of {TEACHERS} or TEACHER-LOSS")
    extra = {"gkd_lambda": float(m.group(2))} if m.group(2) else {}
    return teacher, m.group(1), extra


def student_records(name: str, s: str, t: str, recs: list[dict]) -> tuple[list[dict], list[str]]:
    """(records {"targets", "pivots"}, pivot languages of the white-box teacher) for student ``name``."""
    teacher, loss, _ = split_student(name)
    kl = loss != "seqkd"
    third = next(x for x in ("de", "fr", "cs") if x not in (s, t))
    pivots = [] if not kl else (["en", third] if teacher in ("ebbs3", "union") else ["en"])
    out = []
    for r in recs:
        tr = {**r[t], "self": r["legs"][t]}
        keys = {"union": ["self", "pivot_en", "pivot_third"]}.get(teacher, [teacher])
        if any(k not in tr for k in keys):
            raise SystemExit(f"error: the teacher shards have no {'/'.join(k for k in keys if k not in tr)} "
                             f"outputs (teachers.py --outputs): student {name!r} needs them")
        targets = [tr[k] for k in keys]
        out.append({"targets": targets, "pivots": {p: r["legs"][p] for p in pivots}})
    return out, pivots


def train(args, name: str, tokenizer, adapter):
    from transformers import AutoModelForSeq2SeqLM

    from ensemblekd._runtime import quiet_hf_progress
    from ensemblekd.distill.mt import TrainConfig, build_examples, train_student

    student_dir = args.out / name / "student"
    if (student_dir / "ensemblekd_student.json").is_file():
        return student_dir
    sources = {s: read_lines(args.data / f"train.{s}", args.lines) for s in ("de", "fr", "cs")}
    records = {s: teacher_records(args.teachers, s, args.lines) for s in sources}
    examples, skipped = [], 0
    for d in ZERO_SHOT:
        s, t = d.split("-")
        recs, pivots = student_records(name, s, t, records[s])
        exs, n = build_examples(adapter, tokenizer, s, t, sources[s], recs, pivots, bool(pivots))
        examples += exs
        skipped += n
    if args.replay:  # gold supervised pairs: the base model's own training task, replayed
        if split_student(name)[1] != "seqkd":
            raise SystemExit("error: --replay is for SeqKD students (a word-level student has no teacher "
                             "distribution for gold pairs)")
        gold = {s: read_lines(args.data / f"train.{s}", args.replay) for s in ("en", "de", "fr", "cs")}
        for d in SUPERVISED:
            s, t = d.split("-")
            recs = [{"targets": [x]} for x in gold[t]]
            exs, n = build_examples(adapter, tokenizer, s, t, gold[s], recs, [], False)
            examples += exs
            skipped += n
    _, loss, extra = split_student(name)
    cfg = TrainConfig(max_steps=args.max_steps, lr=args.lr, warmup_steps=args.warmup_steps,
                      max_tokens=args.max_tokens, seed=args.seed, loss=loss, save_every=50, logging_steps=25,
                      device="cpu", kd_temperature=args.kd_temperature, kd_top_p=args.kd_top_p,
                      skew_alpha=args.skew_alpha, gkd_beta=args.gkd_beta, llmr_next=args.llmr_next,
                      llmr_reward=args.llmr_reward, llmr_scale=args.llmr_scale, llmr_clip=args.llmr_clip, **extra)
    with quiet_hf_progress(True):
        student = AutoModelForSeq2SeqLM.from_pretrained(args.model)
        teacher = AutoModelForSeq2SeqLM.from_pretrained(args.model).eval() if loss != "seqkd" else None
    t0 = time.perf_counter()
    res = train_student(student, examples, student_dir, cfg, pad_id=adapter.pad_token_id,
                        eos_id=adapter.eos_token_id, tokenizer=tokenizer, teacher=teacher, quiet=args.quiet,
                        checkpoint_dir=args.out / name / "train_state")
    seconds = time.perf_counter() - t0
    vocab = args.model / "ensemblekd_target_vocab.json"
    (student_dir / vocab.name).write_bytes(vocab.read_bytes())
    tokens = sum(len(e.target) for e in examples)
    info = {"pairs": len(examples), "skipped_empty": skipped, "steps": res.steps, "losses": res.losses,
            "train_seconds_this_run": round(seconds, 1), "target_tokens": tokens,
            "seconds_per_step": round(seconds / max(1, res.steps - res.resumed_from), 3),
            "config": {k: str(v) for k, v in vars(args).items()}}
    (student_dir / "ensemblekd_student.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return student_dir


def decode(args, model, tok, system: str, test: str, d: str, method: str, pivots: list[str], lines=None,
           folder="eval", weights=None) -> dict:
    """Outputs of one system on the first ``lines`` (None: all) of one set and direction, cached in
    OUT/<folder>, with their decoding time (wall and CPU seconds)."""
    from ensemblekd._runtime import atomic_write_text
    from ensemblekd.decoding.api import translate

    s, t = d.split("-")
    out = args.out / folder / f"{system}.{test}.{d}.txt"
    meta = out.with_suffix(".json")
    srcs = read_lines(args.data / f"{test}.{s}", lines)
    if out.is_file() and meta.is_file():
        hyps = read_lines(out)
        if len(hyps) == len(srcs):  # a cache of another --eval-lines is decoded again
            return {"hyps": hyps, **json.loads(meta.read_text())}
    third = next((x for x in ("de", "fr", "cs") if x not in (s, t)), None)
    piv = [third if p == "third" else p for p in pivots]
    t0, c0 = time.perf_counter(), time.process_time()
    hyps = [r.text.replace("\n", " ") for r in translate(
        model(), tok(), srcs, src_lang=s, tgt_lang=t, pivots=piv, method=method, beam_size=args.beam,
        restrict_vocab=True, progress=not args.quiet, weights=weights,
        pivot_model=None if weights is None else len(model()) - 1)]
    # CPU time of this (one-thread) process: the decoding cost even when other jobs share the box
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "".join(h + "\n" for h in hyps))
    atomic_write_text(meta, json.dumps({"seconds": seconds, "cpu_seconds": cpu}) + "\n")
    return {"hyps": hyps, "seconds": seconds, "cpu_seconds": cpu}


def main(argv=None):
    args = parse_args(argv)
    import functools

    import sacrebleu
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd._runtime import atomic_write_text, quiet_hf_progress, set_threads
    from ensemblekd.decoding.languages import get_adapter

    set_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    with quiet_hf_progress(True):
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        adapter = get_adapter(AutoModelForSeq2SeqLM.from_pretrained(args.model), tokenizer)
    students = {name: train(args, name, tokenizer, adapter) for name in args.students}

    bench = {}
    if args.benchmark is not None and args.eval_lines is None:
        for row in json.loads(args.benchmark.read_text()):
            name = {"ebbs": "ebbs3"}.get(row["method"], row["method"])
            bench[(name, row["split"], f"{row['src']}-{row['tgt']}")] = row
    from ensemblekd.metrics import LanguageId

    langid = LanguageId(["en", "de", "fr", "cs"])
    results: dict = {}

    def score(system, test, d, hyps, seconds, source, cpu_seconds=None):
        refs = read_lines(args.data / f"{test}.{d.split('-')[1]}", args.eval_lines)
        if len(hyps) != len(refs):
            raise SystemExit(f"error: {system} {test} {d}: {len(hyps)} outputs for {len(refs)} references")
        results.setdefault(system, {}).setdefault(test, {})[d] = {
            "bleu": sacrebleu.corpus_bleu(hyps, [refs]).score, "chrf": sacrebleu.corpus_chrf(hyps, [refs]).score,
            "off_target": 100 * langid.off_target_rate(hyps, d.split("-")[1]), "seconds": seconds,
            "cpu_seconds": cpu_seconds, "lines": len(refs), "source": source}

    def _load(path):
        with quiet_hf_progress(True):
            return AutoModelForSeq2SeqLM.from_pretrained(path).eval()

    load_one = functools.lru_cache(maxsize=2)(_load)
    load = lambda path: [load_one(p) for p in path] if isinstance(path, tuple) else load_one(path)  # noqa: E731
    tok = functools.lru_cache(maxsize=1)(lambda path: AutoTokenizer.from_pretrained(
        path[-1] if isinstance(path, tuple) else path))
    systems = [(f"base-{b}", args.model, *BASE[b], None) for b in args.base]
    systems += [(f"student-{n}", p, "direct", [], None) for n, p in students.items()]
    if args.student_ebbs:  # models [student, base], components model-major: S-direct, S-en, E-direct, E-en
        systems += [(f"ebbs2+student-{n}", (p, args.model), "ebbs", ["en"], [1, 0, 0, 1])
                    for n, p in students.items()]
    for system, path, method, pivots, weights in systems:
        with_sup = system.startswith("student") or system == "base-direct"
        for test in args.eval_sets:
            for d in ZERO_SHOT + (SUPERVISED if with_sup and test in args.supervised else []):
                row = bench.get((system[5:], test, d)) if system.startswith("base-") else None
                if row is not None:
                    refs = read_lines(args.data / f"{test}.{d.split('-')[1]}")
                    results.setdefault(system, {}).setdefault(test, {})[d] = {
                        **{k: row[k] for k in ("bleu", "chrf", "off_target", "seconds")}, "lines": len(refs),
                        "source": "benchmark"}
                    continue
                got = decode(args, lambda: load(path), lambda: tok(path), system, test, d, method, pivots,
                             args.eval_lines, weights=weights)
                score(system, test, d, got["hyps"], got["seconds"], "this run", got.get("cpu_seconds"))
    if args.timing_lines:  # every system timed on the same lines, in this run (the benchmark's rows included)
        test = args.eval_sets[0]
        for system, path, method, pivots, weights in systems:
            cpu = [decode(args, lambda: load(path), lambda: tok(path), system, test, d, method, pivots,
                          args.timing_lines, "timing", weights)["cpu_seconds"] for d in ZERO_SHOT]
            results[system]["timing"] = {"set": test, "lines": args.timing_lines * len(ZERO_SHOT),
                                         "cpu_seconds_per_sentence": sum(cpu) / (args.timing_lines * len(ZERO_SHOT))}
    atomic_write_text(args.out / "results.json", json.dumps(results, indent=1) + "\n")
    table = render(results, args)
    atomic_write_text(args.out / "results.md", table)
    print(table)


def render(results: dict, args) -> str:
    lines = [f"Students: first {args.lines} train lines per source language (x 6 zero-shot directions), "
             f"{args.max_steps} updates of <= {args.max_tokens} tokens, lr {args.lr}; every system decoded with beam "
             f"{args.beam} and the restricted target vocabulary; eval: {args.eval_lines or 'all'} lines.",
             "s/sentence: " + (f"CPU seconds per sentence and direction (one thread), every system timed in this "
                               f"run on the first {args.timing_lines} lines of {args.eval_sets[0]} in the six "
                               "directions (legs included)" if args.timing_lines else
                               "each row's own decoding time (wall; benchmark rows from the benchmark's run)")
             + "; supervised BLEU: mean of en<->{de,fr,cs}.", ""]
    for test in args.eval_sets:
        lines += [f"### {test}", "", "| system | " + " | ".join(ZERO_SHOT) + " | BLEU | chrF | off-target | "
                  "s/sentence | supervised BLEU |", "|---" * (len(ZERO_SHOT) + 6) + "|"]
        for system, by_set in results.items():
            cells = by_set.get(test, {})
            if not all(d in cells for d in ZERO_SHOT):
                continue
            zs = [cells[d] for d in ZERO_SHOT]
            mean = {k: sum(c[k] for c in zs) / len(zs) for k in ("bleu", "chrf", "off_target")}
            n = sum(c.get("lines") or 0 for c in zs)
            if "timing" in by_set:
                per = f"{by_set['timing']['cpu_seconds_per_sentence']:.3f}"
            else:
                per = f"{sum(c['seconds'] for c in zs) / n:.3f}" if n else "-"
            sup = [cells[d]["bleu"] for d in SUPERVISED if d in cells]
            lines.append(f"| {system} | " + " | ".join(f"{c['bleu']:.1f}" for c in zs)
                         + f" | **{mean['bleu']:.2f}** | {mean['chrf']:.2f} | {mean['off_target']:.1f}% | {per} | "
                         + (f"{sum(sup) / len(sup):.2f}" if len(sup) == len(SUPERVISED) else "-") + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; finished work is kept (rerun to continue)", file=sys.stderr)
        sys.exit(130)
