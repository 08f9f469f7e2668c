"""Greedy evaluation of the zero-shot testbed model: supervised, direct zero-shot and pivot BLEU, off-target rate.

Its command line; the library code and its documentation (directions, BLEU, off-target rate, input scheme) are
:mod:`ensemblekd.testbed.evaluation`.

    python examples/zeroshot_mt/evaluate.py --model models/m30k-zeroshot --split test_2016_flickr --json out.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import ensemblekd  # noqa: F401  (registers ensemblekd.models with transformers' Auto classes)
from ensemblekd.testbed import evaluate, load_split, target_vocab

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "multi30k"


def main(argv=None) -> None:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="a model folder (from_pretrained)")
    ap.add_argument("--run", type=Path, help="or: a training run folder (config.json, tokenizer/) ...")
    ap.add_argument("--snapshot", type=Path, help="... and one of its snapshots/step<N>.safetensors")
    ap.add_argument("--restrict-vocab", action="store_true",
                    help="restrict outputs to <model>/ensemblekd_target_vocab.json (or computed from train text)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--split", default="val")
    ap.add_argument("--lines", type=int, default=None, help="first N lines only (default all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", type=Path, help="write results here (outputs included under _outputs)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.model:
        model = AutoModelForSeq2SeqLM.from_pretrained(str(args.model), dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(args.model))
    elif args.run and args.snapshot:
        from safetensors.torch import load_model
        from transformers import AutoConfig

        model = AutoModelForSeq2SeqLM.from_config(AutoConfig.from_pretrained(str(args.run)))
        load_model(model, str(args.snapshot))
        tok = AutoTokenizer.from_pretrained(str(args.run / "tokenizer"))
    else:
        ap.error("give --model, or --run and --snapshot")
    vocab = None
    if args.restrict_vocab:
        path = args.model / "ensemblekd_target_vocab.json" if args.model else None
        if path is not None and path.is_file():
            vocab = json.loads(path.read_text())
        else:
            vocab = target_vocab(tok, args.data)
    model.to(args.device)
    res = evaluate(model, tok, load_split(args.data, args.split, args.lines), device=args.device, target_vocab=vocab)
    res.update(split=args.split, model=str(args.model or args.snapshot), restrict_vocab=args.restrict_vocab)
    if args.json:
        args.json.write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in res.items() if k != "_outputs"}, indent=1))


if __name__ == "__main__":
    main()
