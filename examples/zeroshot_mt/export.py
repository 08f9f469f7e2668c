"""Export a training snapshot of the zero-shot testbed as a self-contained Hugging Face model folder.

Command line of :func:`ensemblekd.testbed.release.export` (weights in fp16 computing in fp32, config.json
with the language scheme, generation_config.json, the tokenizer, ``ensemblekd_target_vocab.json`` and a model
card with the snapshot's val numbers and, with --eval-test, greedy BLEU on the full test_2016_flickr).

    python examples/zeroshot_mt/export.py --run runs/zeroshot/main --out models/m30k-zeroshot --eval-test
    (default snapshot: the one named in <run>/best.json; --snapshot picks another)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ensemblekd.testbed.release import export

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "multi30k"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--snapshot", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--eval-test", action="store_true", help="greedy BLEU on all of test_2016_flickr for the card")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--benchmark", type=Path, default=None,
                    help="benchmark.py's results JSON measured with this snapshot: test-set means on the card")
    ap.add_argument("--selection", default=None,
                    help="the card's checkpoint-selection sentence, when --snapshot overrides best.json")
    ap.add_argument("--eval-json", type=Path, nargs="+", default=[],
                    help="evaluate.py --json results of this snapshot (e.g. --restrict-vocab): extra card tables")
    args = ap.parse_args(argv)
    for flag, path in [("--benchmark", args.benchmark), *[("--eval-json", f) for f in args.eval_json]]:
        if path is not None and not path.is_file():
            ap.error(f"{flag} {path}: no such file")
    out = export(args.run, args.out, args.snapshot, args.data, args.eval_test, args.threads, args.benchmark,
                 args.selection, args.eval_json)
    print(f"exported to {out} ({sum(p.stat().st_size for p in out.iterdir()) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
