"""Benchmark every ensemble on the zero-shot testbed: BLEU, chrF, off-target rate and wall time.

For each split (default test_2016_flickr and test_2018_flickr):
- supervised directions en→X, X→en with direct beam search (to show the model is sound);
- every zero-shot direction (de↔fr, de↔cs, fr↔cs) with: direct; pivot through en; pivot through the third
  language; word-level averaging; word-level voting; MBR over the components' 1-best; EBBS. The ensembles use the
  components direct + pivot en + pivot third, beam size Z (5) for every method;
- the average over the six zero-shot directions, and the wall time of each method (pivot translations included:
  every method produces its own pivots in-run, as a user would call it).

Outputs are cached one file per (split, direction, method) under ``OUT/outputs`` with their timing, so a killed
run resumes where it stopped. Writes ``OUT/benchmark.md`` (tables) and ``OUT/benchmark.png`` (bar chart).
Tune on ``--splits val`` only; the test splits are for the final report.

    python examples/zeroshot_mt/benchmark.py --model models/m30k-zeroshot \
        --data ../shared/data/multi30k --out runs/benchmark [--limit 200] [--beam 5]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from evaluate import SUPERVISED, ZERO_SHOT, LanguageId, load_split  # noqa: E402

LANGS = ("en", "de", "fr", "cs")
METHODS = ("direct", "pivot_en", "pivot_third", "average", "vote", "mbr", "ebbs")


def method_kwargs(method: str, src: str, tgt: str) -> dict:
    """Keyword arguments of ``ensemblekd.translate`` for one method on one direction."""
    third = next(lang for lang in LANGS if lang not in (src, tgt, "en"))
    if method == "direct":
        return dict(method="direct")
    if method == "pivot_en":
        return dict(method="pivot", pivots=("en",))
    if method == "pivot_third":
        return dict(method="pivot", pivots=(third,))
    return dict(method=method, pivots=("en", third))  # direct + pivot en + pivot third


def run_one(model, tokenizer, sources, src, tgt, method, args, cache: Path) -> tuple[list[str], float]:
    """Translations (cached on disk, written atomically) and the wall time that produced them."""
    from ensemblekd import translate

    if cache.is_file():
        record = json.loads(cache.read_text(encoding="utf-8"))
        if record["n"] == len(sources) and record["beam"] == args.beam:
            return record["hyps"], record["seconds"]
    t0 = time.perf_counter()
    result = translate(model, tokenizer, sources, src_lang=src, tgt_lang=tgt, beam_size=args.beam,
                       length_penalty=args.length_penalty, batch_size=args.batch_size,
                       device=args.device, progress=not args.quiet, **method_kwargs(method, src, tgt))
    seconds = time.perf_counter() - t0
    hyps = [r.text for r in result]
    if len(hyps) != len(sources):
        raise RuntimeError(f"{method} {src}-{tgt}: {len(hyps)} outputs for {len(sources)} sources")
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(n=len(sources), beam=args.beam, seconds=seconds, hyps=hyps),
                              ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, cache)
    return hyps, seconds


def benchmark_split(model, tokenizer, data, split, args, langid) -> list[dict]:
    import sacrebleu

    rows = []
    jobs = [(s, t, "direct") for s, t in SUPERVISED] + [(s, t, m) for s, t in ZERO_SHOT for m in args.methods]
    for src, tgt, method in jobs:
        cache = args.out / "outputs" / f"{split}.{src}-{tgt}.{method}.json"
        hyps, seconds = run_one(model, tokenizer, data[src], src, tgt, method, args, cache)
        rows.append(dict(split=split, src=src, tgt=tgt, method=method,
                         zero_shot=(src, tgt) in ZERO_SHOT, seconds=seconds,
                         bleu=sacrebleu.corpus_bleu(hyps, [data[tgt]]).score,
                         chrf=sacrebleu.corpus_chrf(hyps, [data[tgt]]).score,
                         off_target=langid.off_target_rate(hyps, tgt)))
        if not args.quiet:
            r = rows[-1]
            print(f"{split} {src}-{tgt} {method:12s} BLEU {r['bleu']:5.1f} chrF {r['chrf']:5.1f} "
                  f"off {100 * r['off_target']:4.1f}% {seconds:6.1f}s", file=sys.stderr)
    return rows


def render(rows: list[dict], methods, splits) -> str:
    lines = ["# Zero-shot testbed benchmark", ""]
    for split in splits:
        sup = [r for r in rows if r["split"] == split and not r["zero_shot"]]
        lines += [f"## {split}: supervised directions (direct, beam search)", "",
                  "| direction | BLEU | chrF |", "|---|---:|---:|"]
        lines += [f"| {r['src']}→{r['tgt']} | {r['bleu']:.1f} | {r['chrf']:.1f} |" for r in sup]
        zs = [r for r in rows if r["split"] == split and r["zero_shot"]]
        dirs = [f"{s}→{t}" for s, t in ZERO_SHOT]
        lines += ["", f"## {split}: zero-shot directions, BLEU (chrF in the average columns)", "",
                  "| method | " + " | ".join(dirs) + " | avg BLEU | avg chrF | off-target | time (s) |",
                  "|---" * (len(dirs) + 5) + "|"]
        for m in methods:
            mine = {f"{r['src']}→{r['tgt']}": r for r in zs if r["method"] == m}
            if len(mine) != len(dirs):
                continue
            avg = lambda key: sum(r[key] for r in mine.values()) / len(mine)  # noqa: E731
            lines.append(f"| {m} | " + " | ".join(f"{mine[d]['bleu']:.1f}" for d in dirs)
                         + f" | **{avg('bleu'):.2f}** | {avg('chrf'):.2f} | {100 * avg('off_target'):.1f}%"
                         + f" | {sum(r['seconds'] for r in mine.values()):.0f} |")
        lines.append("")
    return "\n".join(lines)


def plot(rows, methods, splits, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(splits)
    for i, split in enumerate(splits):
        means = []
        for m in methods:
            vals = [r["bleu"] for r in rows if r["split"] == split and r["zero_shot"] and r["method"] == m]
            means.append(sum(vals) / len(vals) if vals else 0.0)
        ax.bar([j + i * width for j in range(len(methods))], means, width, label=split)
    ax.set_xticks([j + width * (len(splits) - 1) / 2 for j in range(len(methods))], methods)
    ax.set_ylabel("BLEU, mean of 6 zero-shot directions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> list[dict]:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=HERE.parents[1] / "models" / "m30k-zeroshot")
    ap.add_argument("--data", type=Path, required=True, help="folder with {split}.{en,de,fr,cs}")
    ap.add_argument("--splits", nargs="+", default=["test_2016_flickr", "test_2018_flickr"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--out", type=Path, default=Path("runs/benchmark"))
    ap.add_argument("--limit", type=int, default=None, help="first N lines of each split (default: all)")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--length-penalty", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    (args.out / "outputs").mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, dtype=torch.float32).to(args.device).eval()
    langid = LanguageId()
    rows = []
    for split in args.splits:
        rows += benchmark_split(model, tokenizer, load_split(args.data, split, args.limit), split, args, langid)
    (args.out / "benchmark.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    table = render(rows, args.methods, args.splits)
    (args.out / "benchmark.md").write_text(table, encoding="utf-8")
    plot(rows, args.methods, args.splits, args.out / "benchmark.png")
    print(table)
    return rows


if __name__ == "__main__":
    main()
