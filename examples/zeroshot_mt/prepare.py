"""Train the joint subword tokenizer of the zero-shot testbed.

A unigram LM subword model (Kudo 2018, the sentencepiece algorithm, trained with the Hugging Face `tokenizers`
library) on the train text of all four Multi30k languages, with the language tags ``__en__ __de__ __fr__ __cs__``
as special tokens (one id each). The result is saved as a ``PreTrainedTokenizerFast`` folder (tokenizer.json +
tokenizer_config.json), so ``AutoTokenizer.from_pretrained(folder)`` loads it.

Special ids (fixed, matching M2M100's defaults): ``<s>`` = 0 (bos), ``<pad>`` = 1, ``</s>`` = 2 (eos and the
decoder start token), ``<unk>`` = 3, then the language tags 4..7. ``tokenizer(text)`` returns the subwords of
``text`` followed by ``</s>``; the language tag is added by the caller (see train.py / DECODING_INTERFACE).

The library code is :mod:`ensemblekd.testbed.tokenizer`; this is its command line.

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
