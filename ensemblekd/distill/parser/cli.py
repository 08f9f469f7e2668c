"""``ensemblekd distill parser`` (train a parser student) and ``ensemblekd parse`` (use one).

Registered by :mod:`ensemblekd.distill.cli`.  Handlers parse arguments into the configs and make
one library call; torch is imported only when a handler runs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register_parser", "register_parse"]


def register_parser(distill_sub) -> None:
    """``distill parser --trees T1 [T2 ...] -o DIR``."""
    from .config import ParserConfig, TrainConfig

    pc, tc = ParserConfig(), TrainConfig()
    p = distill_sub.add_parser(
        "parser", help="train a span-based neural parser on (averaged) trees",
        description="Train a span-based constituency parser student (BiLSTM over words and "
        "characters, tree CRF or max-margin, CYK decoding) on a tree file, e.g. the output of "
        "`ensemblekd trees average`.  Several line-aligned files = union distillation (each "
        "sentence has all of them as targets).  A killed run resumes when started again with the "
        "same arguments and -o.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--trees", nargs="+", required=True, metavar="FILE",
                   help="training trees, one per line (K files: union distillation)")
    p.add_argument("--dev-trees", nargs="+", metavar="FILE",
                   help="trees for model selection (never gold for an unsupervised setting); "
                   "default: hold out --dev-fraction of the training sentences")
    p.add_argument("--dev-fraction", type=float, default=0.1,
                   help="share of training sentences held out for model selection when no "
                   "--dev-trees (0: keep the last epoch)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("--keep-empty", action="store_true",
                   help="allow empty lines in the tree files (those sentences are not trained on; default: error)")
    p.add_argument("--epochs", type=int, default=tc.epochs)
    p.add_argument("--batch-size", type=int, default=tc.batch_size)
    p.add_argument("--lr", type=float, default=tc.lr)
    p.add_argument("--loss", choices=("crf", "margin"), default=tc.loss)
    p.add_argument("--patience", type=int, default=tc.patience,
                   help="stop after this many epochs without a better dev score")
    p.add_argument("--seed", type=int, default=tc.seed)
    p.add_argument("--unk-alpha", type=float, default=tc.unk_alpha, help="word dropout strength")
    p.add_argument("--hidden", type=int, default=pc.hidden, help="LSTM size per direction")
    p.add_argument("--layers", type=int, default=pc.layers)
    p.add_argument("--word-dim", type=int, default=pc.word_dim)
    p.add_argument("--mlp", type=int, default=pc.mlp)
    p.add_argument("--dropout", type=float, default=pc.dropout)
    p.add_argument("--cased", action="store_true", help="keep case (default: lower-case words)")
    p.add_argument("--device", default=tc.device, help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (on small shared CPUs one thread per process ran ~4x faster than "
                        "torch's default)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_train)


def register_parse(sub) -> None:
    """Top-level ``parse --model DIR [-i IN] [-o OUT]``."""
    p = sub.add_parser(
        "parse", help="parse sentences with a trained parser student",
        description="Parse one tokenized sentence per line (or bracket trees: their words are "
        "used) into binary bracket trees labelled X, one per line.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, metavar="DIR", help="from `ensemblekd distill parser`")
    p.add_argument("-i", "--input", default="-", help="input file (- = stdin)")
    p.add_argument("-o", "--output", default="-", help="output file (- = stdout)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--decode", choices=("viterbi", "mbr"), default="viterbi",
                   help="viterbi: best total span score; mbr: best total span marginal (tree CRF)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (on small shared CPUs one thread per process ran ~4x faster than "
                        "torch's default)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_parse)


def _train(args) -> int:
    from ..._runtime import check_output_file, resolve_device
    from .api import train_parser
    from .config import ParserConfig, TrainConfig

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o {out}: exists and is not a directory (expected a checkpoint folder)")
    if not out.exists():
        check_output_file(out, "-o")  # its folder must exist
    if args.threads < 1:
        raise ValueError(f"--threads {args.threads}: expected an integer >= 1")
    resolve_device(args.device)  # an invalid --device is named before any reading or training

    pconf = ParserConfig(word_dim=args.word_dim, hidden=args.hidden, layers=args.layers,
                         mlp=args.mlp, dropout=args.dropout, lowercase=not args.cased)
    tconf = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, loss=args.loss,
                        unk_alpha=args.unk_alpha, seed=args.seed, patience=args.patience,
                        device=args.device, threads=args.threads)
    result = train_parser(args.trees, args.output, pconf, tconf, dev_trees=args.dev_trees,
                          dev_fraction=args.dev_fraction, quiet=args.quiet, keep_empty=args.keep_empty)
    dev = "" if result.best_dev is None else f", dev agreement F1 {result.best_dev:.2f}"
    print(f"saved {result.out_dir} (best epoch {result.best_epoch}{dev})", file=sys.stderr)
    return 0


def _parse(args) -> int:
    from ..._runtime import check_input_file, check_output_file, resolve_device, set_threads
    from .api import load_parser, read_sentences

    if args.output != "-":
        check_output_file(args.output, "-o")
    if args.input != "-":
        check_input_file(args.input, "-i")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size {args.batch_size}: expected a positive number of sentences")
    set_threads(args.threads)
    resolve_device(args.device)  # an invalid --device is named before the model loads
    parser = load_parser(args.model, device=args.device)
    if args.input == "-":
        sentences = read_sentences(sys.stdin, name="<stdin>")
    else:
        sentences = read_sentences(args.input)
    trees = parser.parse(sentences, batch_size=args.batch_size, decode=args.decode, progress=not args.quiet)
    text = "".join(t + "\n" for t in trees)
    from ..._runtime import write_output

    write_output(args.output, text)
    return 0
