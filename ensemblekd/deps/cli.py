"""``ensemblekd deps average|eval|select``: dependency-tree averaging, scoring and member selection."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    """Register the ``deps`` sub-commands on the top-level sub-parsers ``sub``."""
    deps = sub.add_parser("deps", help="average dependency trees of several parsers (ED4UDP); UAS/F1; member selection")
    dsub = deps.add_subparsers(dest="deps_command", metavar="COMMAND", required=True)
    fmt = "files in the attachment format: one sentence per line, 'i h1 ... hn' (0-based index, heads, 0 = ROOT)"

    p = dsub.add_parser(
        "average", help="average K teachers' dependency trees (Eisner over arc votes, or span agreement)",
        description=f"Average K line-aligned tree files (Shayegh et al., AAAI 2025). Input and output: {fmt}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("teachers", nargs="+", type=Path, metavar="TEACHER", help="tree files")
    p.add_argument("--agg", choices=("acc", "f1"), default="acc",
                   help="acc: the tree with the most arc votes (UAS); f1: the most shared subtree spans")
    p.add_argument("--beta", type=float, default=1.0,
                   help="F_beta of --agg f1 (every tree has n spans, so every beta gives F1's answer)")
    p.add_argument("--weights", nargs="+", type=float, metavar="W", help="one non-negative weight per teacher")
    p.add_argument("--dev-weights", nargs="+", type=Path, metavar="DEV",
                   help="weight each teacher by its dev UAS (the original's USE_DEV_WEIGHTS): one dev file per "
                        "teacher, in the same order; needs --dev-gold")
    p.add_argument("--dev-gold", type=Path, help="gold dev trees for --dev-weights")
    p.add_argument("--format", choices=("attachment", "conllu"), default="attachment",
                   help="attachment: 'i h1 ... hn' lines (the input format); conllu: CoNLL-U for training a student")
    p.add_argument("--words", type=Path, help="--format conllu: the sentences' words, one line per sentence")
    p.add_argument("--tags", type=Path, help="--format conllu: POS tags per line, sentence index first (as "
                                             "ED4UDP's te_pos_tags.txt)")
    p.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    p.set_defaults(func=_average)

    p = dsub.add_parser("eval", help="corpus UAS and span F1 (as the original eval.py)",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--gold", type=Path, required=True, help="gold trees")
    p.add_argument("--pred", type=Path, required=True, help="predicted trees, line-aligned with --gold")
    p.set_defaults(func=_eval)

    p = dsub.add_parser(
        "select", help="choose ensemble members on dev by error diversity (society entropy)",
        description="Forward (or exhaustive) selection of teachers maximising mean dev UAS + alpha * society "
                    "entropy (Shayegh et al., AAAI 2025). Selection uses dev only; --test scores the chosen "
                    "ensembles afterwards.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dev", nargs="+", type=Path, required=True, metavar="DEV", help="each candidate's dev trees")
    p.add_argument("--dev-gold", type=Path, required=True, help="gold dev trees")
    p.add_argument("--test", nargs="+", type=Path, metavar="TEST",
                   help="each candidate's test trees (same order as --dev): report the chosen ensembles' test UAS")
    p.add_argument("--test-gold", type=Path, help="gold test trees for --test")
    p.add_argument("--method", choices=("forward", "exhaustive"), default="forward")
    p.add_argument("--alpha", type=float, default=0.4, help="weight of society entropy")
    p.add_argument("--tune-alpha", action="store_true",
                   help="choose alpha on dev first (grid 0, 0.1, ..., 1; exhaustive k=5 ensembles' dev UAS)")
    p.add_argument("--k-max", type=int, default=5, help="largest ensemble")
    p.set_defaults(func=_select)


def _average(args: argparse.Namespace) -> int:
    from .._runtime import check_output_file, write_output
    from .average import average_deps, check_weights
    from .evaluate import evaluate_deps
    from .io import format_conllu, format_deps, read_deps, read_tokens

    if (args.words or args.tags) and args.format != "conllu":
        raise ValueError("--words and --tags go with --format conllu")
    if args.output is not None:
        check_output_file(args.output, "-o")
    if args.weights is not None and args.dev_weights is not None:
        raise ValueError("--weights and --dev-weights: give one of them")
    if (args.dev_weights is None) != (args.dev_gold is None):
        raise ValueError("--dev-weights and --dev-gold go together")
    if args.weights is not None:
        check_weights(args.weights, len(args.teachers), "--weights")
    if args.dev_weights is not None and len(args.dev_weights) != len(args.teachers):
        raise ValueError(f"--dev-weights: {len(args.dev_weights)} files for {len(args.teachers)} teachers; expected one each")
    if not args.beta > 0:
        raise ValueError(f"--beta {args.beta}: expected a positive number")
    teachers = [read_deps(p) for p in args.teachers]
    weights = args.weights
    if args.dev_weights is not None:
        gold = read_deps(args.dev_gold)
        weights = [evaluate_deps(gold, read_deps(p)).uas for p in args.dev_weights]
    if args.format == "conllu":  # check the word/tag files before the averaging
        words = None if args.words is None else read_tokens(args.words, teachers[0], what="words")
        tags = None if args.tags is None else read_tokens(args.tags, teachers[0], indexed=True, what="tags")
    bank = average_deps(teachers, args.agg, weights=weights, beta=args.beta)
    text = format_deps(bank) if args.format == "attachment" else format_conllu(bank, words, tags)
    write_output(args.output, text)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_deps
    from .io import read_deps

    print(evaluate_deps(read_deps(args.gold), read_deps(args.pred)))
    return 0


def _select(args: argparse.Namespace) -> int:
    from .average import average_deps
    from .evaluate import evaluate_deps
    from .io import read_deps
    from .select import select_teachers, tune_alpha

    if (args.test is None) != (args.test_gold is None):
        raise ValueError("--test and --test-gold go together")
    if args.test is not None and len(args.test) != len(args.dev):
        raise ValueError(f"--test: {len(args.test)} files for {len(args.dev)} --dev files; expected one per candidate")
    if not 1 <= args.k_max <= len(args.dev):
        raise ValueError(f"--k-max {args.k_max}: expected 1..{len(args.dev)} (the number of --dev files)")
    dev = [read_deps(p) for p in args.dev]
    gold = read_deps(args.dev_gold)
    test = None if args.test is None else [read_deps(p) for p in args.test]
    test_gold = None if args.test_gold is None else read_deps(args.test_gold)
    alpha = args.alpha
    if args.tune_alpha:
        alpha, table = tune_alpha(dev, gold, k=min(5, len(dev)))
        print("alpha on dev: " + "  ".join(f"{a:.1f}: {100 * u:.2f}" for a, u in table) + f"  -> {alpha:.1f}")
    sel = select_teachers(dev, gold, k_max=args.k_max, alpha=alpha, method=args.method)
    print(f"{args.method} selection, alpha {alpha:g}; dev UAS of the candidates: "
          + " ".join(f"{100 * u:.2f}" for u in sel.dev_uas))
    print(f"{'k':>2}  {'score':>7}  {'test UAS':>8}  members (in selection order)")
    for k, members in sel.chosen.items():
        uas = ""
        if test is not None:
            uas = f"{100 * evaluate_deps(test_gold, average_deps([test[i] for i in sorted(members)])).uas:.2f}"
        print(f"{k:>2}  {sel.scores[k]:>7.4f}  {uas:>8}  " + " ".join(str(args.dev[i]) for i in members))
    return 0
