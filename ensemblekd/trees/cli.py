"""``ensemblekd trees average|f1``: tree averaging and span F1 from the command line."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    """Register the ``trees`` sub-commands on the top-level sub-parsers ``sub``."""
    trees = sub.add_parser("trees", help="average constituency trees of several parsers; span F1")
    tsub = trees.add_subparsers(dest="trees_command", metavar="COMMAND", required=True)

    p = tsub.add_parser(
        "average",
        help="average K teachers' trees (one bracketed tree per line, files line-aligned)",
        description="Average K line-aligned tree files (Shayegh et al., ICLR 2024). The first file supplies the words.",
    )
    p.add_argument("teachers", nargs="+", type=Path, metavar="TEACHER", help="tree files, one tree per line")
    p.add_argument("--mode", choices=("generative", "selective"), default="generative",
                   help="generative: CYK over span votes (default); selective: the teacher tree with the most hits")
    p.add_argument("--weights", nargs="+", type=float, metavar="W", help="one non-negative weight per teacher")
    p.add_argument("--label", default="X", help="label of every output node (default: X)")
    p.add_argument("--keep-empty", action="store_true",
                   help="pass empty lines through as empty output lines (default: an empty line is an error)")
    p.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    p.set_defaults(func=_average)

    p = tsub.add_parser("f1", help="unlabelled span F1 (sentence-level as the original evaluation, and corpus-level)")
    p.add_argument("--gold", type=Path, required=True, help="gold trees, one per line")
    p.add_argument("--pred", type=Path, required=True, help="predicted trees, line-aligned with --gold")
    p.add_argument("--max-length", type=int, default=150, help="skip longer sentences (default: 150, as the original)")
    p.add_argument("--keep-empty", action="store_true", help="allow empty lines (such pairs are skipped)")
    p.set_defaults(func=_f1)


def _average(args: argparse.Namespace) -> int:
    from .._runtime import check_output_file, write_output
    from .average import average_trees
    from .io import read_trees

    if args.output is not None:
        check_output_file(args.output, "-o")
    empty = "keep" if args.keep_empty else "error"
    teachers = [read_trees(path, empty_lines=empty) for path in args.teachers]
    trees = average_trees(teachers, args.mode, weights=args.weights, label=args.label, empty_lines=empty)
    text = "\n".join(trees) + ("\n" if trees else "")
    write_output(args.output, text)
    return 0


def _f1(args: argparse.Namespace) -> int:
    from .f1 import tree_f1

    empty = "keep" if args.keep_empty else "error"
    print(tree_f1(args.gold, args.pred, max_length=args.max_length, empty_lines=empty))
    return 0
