"""Why does (or doesn't) EBBS win? Component choice, weights, beam size and length penalty, on VAL only.

For every zero-shot direction, on the first --limit val lines: the components' own BLEU (direct, pivot en,
pivot third) and EBBS / averaging with other component sets and settings. First legs are decoded once and
shared (``pivot_texts``), as in benchmark.py. Prints a Markdown table of the mean BLEU over the six directions.

    python examples/zeroshot_mt/ebbs_variants.py --data ../shared/data/multi30k --limit 100 --out runs/ebbs_val
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ensemblekd.testbed import ZERO_SHOT, Runner, load_split, third_language

HERE = Path(__file__).resolve().parent

# name -> (method, components, extra translate kwargs); components: subset of ("direct", "en", "third")
VARIANTS = {
    "ebbs: direct+en+third": ("ebbs", ("direct", "en", "third"), {}),
    "ebbs: en+third": ("ebbs", ("en", "third"), {}),
    "ebbs: direct+en": ("ebbs", ("direct", "en"), {}),
    "ebbs: direct+en+third, weights 1/2/1": ("ebbs", ("direct", "en", "third"), {"weights": [1, 2, 1]}),
    "ebbs: direct+en+third, voting max": ("ebbs", ("direct", "en", "third"), {"voting": "max"}),
    "average: direct+en": ("average", ("direct", "en"), {}),
}


def main(argv=None) -> dict:
    import sacrebleu
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=HERE.parents[1] / "models" / "m30k-zeroshot")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("runs/ebbs_val"))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--length-penalty", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--chunk-lines", type=int, default=500, help="outputs are cached in chunks of this many lines")
    ap.add_argument("--restrict-vocab", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    (args.out / "outputs").mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, dtype=torch.float32).eval()
    data = load_split(args.data, "val", args.limit)
    runner = Runner(model, tok, f"val{args.limit}.lp{args.length_penalty}.z{args.beam}", args)

    def legs(s, lang):
        return runner.run(f"{s}-{lang}.direct", data[s], src_lang=s, tgt_lang=lang, method="direct")[0]

    scores: dict[str, list[float]] = {}
    for src, tgt in ZERO_SHOT:
        third = third_language(src, tgt)
        refs = [data[tgt]]
        lang_of = {"en": "en", "third": third}
        outputs = {"direct": legs(src, tgt)}
        for name in ("en", "third"):
            lang = lang_of[name]
            outputs[f"pivot {name}"] = runner.run(f"{src}-{tgt}.pivot_{name}", data[src], src_lang=src, tgt_lang=tgt,
                                                  method="pivot", pivots=(lang,),
                                                  pivot_texts={lang: legs(src, lang)})[0]
        for name in args.variants:
            method, comps, extra = VARIANTS[name]
            pivots = tuple(lang_of[c] for c in comps if c != "direct")
            tag = name.replace(" ", "").replace(":", "_").replace("/", "-").replace(",", "_")
            outputs[name] = runner.run(f"{src}-{tgt}.{tag}", data[src], src_lang=src, tgt_lang=tgt, method=method,
                                       pivots=pivots, direct="direct" in comps,
                                       pivot_texts={p: legs(src, p) for p in pivots}, **extra)[0]
        for name, hyps in outputs.items():
            scores.setdefault(name, []).append(sacrebleu.corpus_bleu(hyps, refs).score)
    dirs = [f"{s}→{t}" for s, t in ZERO_SHOT]
    lines = [f"val, first {args.limit} lines, beam {args.beam}, length penalty {args.length_penalty}"
             f"{', restricted vocabulary' if args.restrict_vocab else ''}: BLEU", "",
             "| system | " + " | ".join(dirs) + " | mean |", "|---" * (len(dirs) + 2) + "|"]
    for name, vals in scores.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | **{sum(vals) / len(vals):.2f}** |")
    table = "\n".join(lines)
    print(table)
    (args.out / f"variants.{runner.split}{'.rv' if args.restrict_vocab else ''}.md").write_text(table + "\n")
    (args.out / f"variants.{runner.split}{'.rv' if args.restrict_vocab else ''}.json").write_text(json.dumps(scores))
    return scores


if __name__ == "__main__":
    main()
