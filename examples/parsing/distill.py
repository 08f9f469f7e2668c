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
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--patience", type=int, default=6)
    ap.add_argument("--loss", choices=("crf", "margin"), default="margin",
                    help="margin had the higher dev agreement (79.1 vs 78.4) for the generative student")
    ap.add_argument("--dev-fraction", type=float, default=0.1)
    ap.add_argument("--train-sentences", type=int, default=None,
                    help="learning curve: train on a seeded random subset of this many of the non-held-out "
                    "sentences (the held-out dev part stays the same)")
    ap.add_argument("--hidden", type=int, default=200, help="BiLSTM size per direction")
    ap.add_argument("--mlp", type=int, default=250, help="span MLP width")
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--words-from", default="cased",
                    help="teacher whose words (the sentence text) the students read: 'cased' = the "
                    "first teacher whose files keep the original case, or a number 1..K")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (shared machine)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from ensemblekd.distill.parser import (DECODERS, load_parser, mean_f1, read_sentences, read_targets,
                                           split_dev, train_parser)
    from ensemblekd.distill.parser.config import ParserConfig, TrainConfig
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
        out = work / (f"student-{name}" + (f"-n{args.train_sentences}" if args.train_sentences else ""))
        files, dev_files = targets[name], None
        if args.train_sentences:
            files, dev_files = subset_files(files, out.with_name(out.name + "-data"), args.train_sentences,
                                            args.dev_fraction, args.seed)
        cpu0, wall0 = time.process_time(), time.time()
        res = train_parser(files, out, ParserConfig(hidden=args.hidden, mlp=args.mlp,
                                                    dropout=args.dropout),
                           TrainConfig(epochs=args.epochs, loss=args.loss, seed=args.seed,
                                       patience=args.patience, threads=args.threads),
                           dev_trees=dev_files, dev_fraction=args.dev_fraction, quiet=args.quiet)
        train_cpu, train_wall = time.process_time() - cpu0, time.time() - wall0
        parser = load_parser(out)
        history = json.loads((out / "history.json").read_text())
        # the decoding rule is picked by agreement with the student's own targets on its held-out
        # dev sentences (no gold); the test scores of both rules are reported
        sents, _, refs = read_targets(targets[name])
        _, dev_idx = split_dev(len(sents), args.dev_fraction, args.seed)
        dev_sents = [sents[i] for i in dev_idx]
        r = results[name] = {"train_sentences": args.train_sentences or len(sents) - len(dev_idx),
                             "best_epoch": res.best_epoch, "epochs_run": len(history),
                             "train_cpu_s_this_process": round(train_cpu, 1),
                             "train_wall_s_all_epochs": round(sum(h["seconds"] for h in history), 1),
                             "train_cpu_s_all_epochs": round(sum(h.get("cpu_seconds", 0) for h in history), 1)}
        for decode in DECODERS:
            pred_dev = [frozenset(map(tuple, sp.tolist()))
                        for sp in parser.predict_spans(dev_sents, decode=decode)]
            r[f"dev_agreement_f1_{decode}"] = mean_f1([refs[i] for i in dev_idx], pred_dev,
                                                      [len(x) for x in dev_sents])
            cpu1 = time.process_time()
            pred = parser.parse(test_sentences, decode=decode)
            r[f"parse_test_cpu_s_{decode}"] = round(time.process_time() - cpu1, 1)
            (work / f"test-{out.name}-{decode}.txt").write_text("".join(t + "\n" for t in pred))
            f1 = tree_f1(gold_test, pred)
            r[f"test_sentence_f1_{decode}"], r[f"test_corpus_f1_{decode}"] = f1.sentence_f1, f1.corpus_f1
        chosen = max(DECODERS, key=lambda d: r[f"dev_agreement_f1_{d}"])
        r.update(decode=chosen, test_sentence_f1=r[f"test_sentence_f1_{chosen}"],
                 test_corpus_f1=r[f"test_corpus_f1_{chosen}"])
        print(f"student {name}: test F1 {r['test_sentence_f1']:.2f} ({chosen} decoding, chosen on dev; "
              + ", ".join(f"{d} {r[f'test_sentence_f1_{d}']:.2f}" for d in DECODERS)
              + f"), best epoch {res.best_epoch}, train {train_cpu / 60:.1f} CPU min this run",
              file=sys.stderr)

    suffix = f"-n{args.train_sentences}" if args.train_sentences else ""
    (work / f"results{suffix}.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"{'system':<24} {'test sentence F1':>16} {'corpus F1':>10}  decoding (dev-chosen)")
    for name, r in results.items():
        if isinstance(r, dict):
            print(f"{name:<24} {r['test_sentence_f1']:>16.2f} {r['test_corpus_f1']:>10.2f}  {r.get('decode', '')}")
    return 0


def subset_files(files, folder: Path, n: int, dev_fraction: float, seed: int):
    """Write ``folder/train.K.txt`` (a seeded random ``n`` of the training sentences, file order kept) and
    ``folder/dev.K.txt`` (the same held-out sentences as a full run) for each line-aligned target file K."""
    import random

    from ensemblekd.distill.parser import split_dev

    texts = [Path(f).read_text(encoding="utf-8").splitlines() for f in files]
    train_idx, dev_idx = split_dev(len(texts[0]), dev_fraction, seed)
    if not 1 <= n <= len(train_idx):
        raise SystemExit(f"error: --train-sentences {n}: expected 1..{len(train_idx)} (the sentences not held out)")
    keep = sorted(random.Random(seed).sample(train_idx, n))
    folder.mkdir(parents=True, exist_ok=True)
    train, dev = [], []
    for k, lines in enumerate(texts):
        train.append(folder / f"train.{k}.txt")
        dev.append(folder / f"dev.{k}.txt")
        train[-1].write_text("".join(lines[i] + "\n" for i in keep), encoding="utf-8")
        dev[-1].write_text("".join(lines[i] + "\n" for i in dev_idx), encoding="utf-8")
    return train, dev


if __name__ == "__main__":
    raise SystemExit(main())
