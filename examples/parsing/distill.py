"""Ensemble-then-distill for unsupervised parsing on the PTB teachers (issue 5, section 2).

1. Average the 7 teachers' trees on the valid split (generative CYK average, Shayegh et al. 2024).
2. Train a span-parser student on those 1,690 averaged trees only ("generative-distilled"), and
   a baseline student on all 7 teachers' valid trees ("union-distilled").  Model selection: a
   held-out 10% of the training sentences, scored by agreement with the student's own targets
   (the averaged trees, or the 7 teachers' trees); gold trees are never used for training or
   selection, the test split never for anything but the final score.
3. Parse the test sentences with each student and score them against gold/test.txt with the
   library's tree_f1; compare with the ensemble's own test trees (71.89).

    nice python examples/parsing/distill.py                    # defaults: ../shared/data/ptb-teachers
    nice python examples/parsing/distill.py --epochs 2 --work /tmp/quick

Training is resumable: run the same command again after a kill and it continues (a finished
student is loaded, not retrained).  Times are process CPU seconds (the limit is 30 CPU minutes
per student) and wall seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = Path(os.environ.get("ENSEMBLEKD_SHARED", REPO.parent / "shared")) / "data" / "ptb-teachers"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ptb-teachers directory")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ensemblekd-parsing-distill",
                    help="output directory (averaged trees, students, predictions, results.json)")
    ap.add_argument("--students", nargs="+", default=["generative", "union"],
                    choices=["generative", "union"])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--patience", type=int, default=4)
    ap.add_argument("--loss", choices=("crf", "margin"), default="crf")
    ap.add_argument("--dev-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--words-from", default="cased",
                    help="teacher whose words (the sentence text) the students read: 'cased' = the "
                    "first teacher whose files keep the original case, or a number 1..K")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (shared machine)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from ensemblekd.distill.parser import load_parser, read_sentences, train_parser
    from ensemblekd.distill.parser_config import ParserConfig, TrainConfig
    from ensemblekd.trees import average_trees, read_trees, tree_f1

    torch.set_num_threads(args.threads)
    data, work = args.data, args.work
    if not (data / "gold" / "test.txt").is_file():
        raise SystemExit(f"error: {data} does not hold the PTB teachers (gold/test.txt missing); "
                         "pass --data or set ENSEMBLEKD_SHARED")
    teachers = sorted(p for p in (data / "teachers").iterdir() if p.is_dir())
    work.mkdir(parents=True, exist_ok=True)
    gold_test = data / "gold" / "test.txt"

    # the sentence text the students read (the teachers' files differ only in case/digits)
    def words_of(path):
        tb = read_trees(path)
        return [tb.words(b) for b in range(len(tb))]

    if args.words_from == "cased":
        cased = [t for t in teachers
                 if any(ch.isupper() for sent in words_of(t / "valid.txt")[:50] for w in sent for ch in w)]
        words_teacher = cased[0] if cased else teachers[0]
    else:
        words_teacher = teachers[int(args.words_from) - 1]
    print(f"sentences: the words of {words_teacher.name}", file=sys.stderr)

    # 1. the ensemble on valid (training targets) and on test (the reference point)
    averaged_valid = work / "averaged-valid.txt"
    averaged_valid.write_text("".join(t + "\n" for t in average_trees(
        [t / "valid.txt" for t in teachers], words=words_of(words_teacher / "valid.txt"))))
    ensemble_test = average_trees([t / "test.txt" for t in teachers])
    results = {"words_from": words_teacher.name, "ensemble": {"test_sentence_f1": tree_f1(gold_test, ensemble_test).sentence_f1,
                            "test_corpus_f1": tree_f1(gold_test, ensemble_test).corpus_f1}}
    print(f"ensemble (generative average of {len(teachers)} teachers) test F1 "
          f"{results['ensemble']['test_sentence_f1']:.2f}", file=sys.stderr)

    # the test sentences: words only, no structure
    test_sentences = read_sentences(words_teacher / "test.txt")
    union = [words_teacher / "valid.txt"] + [t / "valid.txt" for t in teachers if t != words_teacher]
    targets = {"generative": [averaged_valid], "union": union}  # the first file supplies the words
    for name in args.students:
        out = work / f"student-{name}"
        cpu0, wall0 = time.process_time(), time.time()
        res = train_parser(targets[name], out, ParserConfig(),
                           TrainConfig(epochs=args.epochs, loss=args.loss, seed=args.seed,
                                       patience=args.patience, threads=args.threads),
                           dev_fraction=args.dev_fraction, quiet=args.quiet)
        train_cpu, train_wall = time.process_time() - cpu0, time.time() - wall0
        parser = load_parser(out)
        cpu1 = time.process_time()
        pred = parser.parse(test_sentences)
        parse_cpu = time.process_time() - cpu1
        (work / f"test-{name}.txt").write_text("".join(t + "\n" for t in pred))
        f1 = tree_f1(gold_test, pred)
        history = json.loads((out / "history.json").read_text())
        results[name] = {
            "test_sentence_f1": f1.sentence_f1, "test_corpus_f1": f1.corpus_f1,
            "best_epoch": res.best_epoch, "dev_agreement_f1": res.best_dev,
            "epochs_run": len(history),
            "train_cpu_s_this_process": round(train_cpu, 1),
            "train_wall_s_this_process": round(train_wall, 1),
            "train_wall_s_all_epochs": round(sum(h["seconds"] for h in history), 1),
            "parse_test_cpu_s": round(parse_cpu, 1),
        }
        print(f"student {name}: test F1 {f1.sentence_f1:.2f} (best epoch {res.best_epoch}, dev "
              f"agreement {res.best_dev:.2f}, train {train_cpu / 60:.1f} CPU min)", file=sys.stderr)

    (work / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"{'system':<24} {'test sentence F1':>16} {'corpus F1':>10}")
    for name, r in results.items():
        if not isinstance(r, dict):
            continue
        print(f"{name:<24} {r['test_sentence_f1']:>16.2f} {r['test_corpus_f1']:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
