"""Train the joint subword tokenizer of the zero-shot testbed.

Its command line; the library code and its documentation (algorithm, special ids) are
:mod:`ensemblekd.testbed.tokenizer`.

    python examples/zeroshot_mt/prepare.py --data ../shared/data/multi30k --out runs/zeroshot/tokenizer
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ensemblekd.testbed import LANGS, check_tokenizer, read_lines, train_tokenizer


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with train.{en,de,fr,cs}")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--vocab-size", type=int, default=8000)
    args = ap.parse_args(argv)
    texts: list[str] = []
    for lang in LANGS:
        texts += read_lines(args.data / f"train.{lang}")
    train_tokenizer(texts, args.out, args.vocab_size)
    bad = check_tokenizer(args.out, texts[::97])
    print(f"saved {args.out}; round-trip mismatches on {len(texts[::97])} sampled lines: {bad}")


if __name__ == "__main__":
    main()
