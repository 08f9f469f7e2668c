"""Benchmark every ensemble on the zero-shot testbed: BLEU, chrF, off-target rate and wall time.

For each split (default test_2016_flickr and test_2018_flickr):
- supervised directions en→X, X→en with direct beam search (to show the model is sound);
- every zero-shot direction (de↔fr, de↔cs, fr↔cs) with: direct; pivot through en; pivot through the third
  language; word-level averaging; word-level voting; MBR over the components' 1-best; EBBS. The ensembles use the
  components direct + pivot en + pivot third, beam size Z (5) for every method;
- the average over the six zero-shot directions, and the wall time of each method.

Work is shared, not repeated: every first leg s→l (s in de/fr/cs, l any other language) is ONE beam search,
which is at once the direct translation s→l and the pivot text of every method that goes through l; the pivot
and ensemble methods get those texts through ``translate(..., pivot_texts=...)``. MBR's candidates are the
three components' 1-best outputs (direct, pivot en, pivot third: exactly what ``translate(method="mbr")``
decodes), selected with ``ensemblekd.decoding.mbr.mbr_select``. Reported time of a method = its own decoding +
the time of the legs it uses (as if it ran alone). Outputs are cached one file per (split, job) under
``OUT/outputs`` with their timing, in chunks of ``--chunk-lines``, so a killed run resumes where it
stopped and a run on more lines reuses what a shorter one decoded. Writes ``OUT/benchmark.md``
(tables), ``OUT/benchmark.json`` and ``OUT/benchmark.png`` (bar chart). Tune on ``--splits val`` only; the
test splits are for the final report.

    python examples/zeroshot_mt/benchmark.py --model models/m30k-zeroshot \
        --data ../shared/data/multi30k --out runs/benchmark [--limit 200] [--beam 5] [--restrict-vocab]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ensemblekd.metrics import LanguageId
from ensemblekd.testbed import LANGS, SUPERVISED, ZERO_SHOT, Runner, load_split, third_language

HERE = Path(__file__).resolve().parent
METHODS = ("direct", "pivot_en", "pivot_third", "average", "vote", "mbr", "ebbs")


def zero_shot_outputs(runner: Runner, data, src: str, tgt: str, methods, legs) -> dict[str, tuple[list[str], float]]:
    """{method: (outputs, seconds)} of one zero-shot direction; ``legs(s, l)`` -> (texts, seconds) of s→l."""
    from ensemblekd.decoding.mbr import mbr_select

    third = third_language(src, tgt)
    x = data[src]
    out = {"direct": legs(src, tgt)}
    for name, lang in (("pivot_en", "en"), ("pivot_third", third)):
        if name in methods or "mbr" in methods:
            piv, t_leg = legs(src, lang)
            hyps, t = runner.run(f"{src}-{tgt}.{name}", x, src_lang=src, tgt_lang=tgt, method="pivot",
                                 pivots=(lang,), pivot_texts={lang: piv})
            out[name] = (hyps, t_leg + t)
    if "mbr" in methods:
        t0 = time.perf_counter()
        comps = [out[k][0] for k in ("direct", "pivot_en", "pivot_third")]
        hyps = [comps[mbr_select([c[i] for c in comps])][i] for i in range(len(x))]
        out["mbr"] = (hyps, time.perf_counter() - t0 + sum(out[k][1] for k in ("direct", "pivot_en", "pivot_third")))
    (en, t_en), (th, t_th) = legs(src, "en"), legs(src, third)
    for m in ("average", "vote", "ebbs"):
        if m in methods:
            hyps, t = runner.run(f"{src}-{tgt}.{m}", x, src_lang=src, tgt_lang=tgt, method=m, pivots=("en", third),
                                 pivot_texts={"en": en, third: th})
            out[m] = (hyps, t + t_en + t_th)
    return {m: out[m] for m in methods}


def benchmark_split(model, tokenizer, data, split, args, langid) -> list[dict]:
    import sacrebleu

    runner = Runner(model, tokenizer, split, args)

    def legs(s, l):  # one beam search s→l, shared by every method that needs it
        return runner.run(f"{s}-{l}.direct", data[s], src_lang=s, tgt_lang=l, method="direct")

    def row(src, tgt, method, hyps, seconds):
        r = dict(split=split, src=src, tgt=tgt, method=method, zero_shot=(src, tgt) in ZERO_SHOT,
                 seconds=seconds, bleu=sacrebleu.corpus_bleu(hyps, [data[tgt]]).score,
                 chrf=sacrebleu.corpus_chrf(hyps, [data[tgt]]).score, off_target=langid.off_target_rate(hyps, tgt))
        if not args.quiet:
            print(f"{split} {src}-{tgt} {method:12s} BLEU {r['bleu']:5.1f} chrF {r['chrf']:5.1f} "
                  f"off {100 * r['off_target']:4.1f}% {seconds:6.1f}s", file=sys.stderr)
        return r

    rows = [row(s, t, "direct", *legs(s, t)) for s, t in SUPERVISED]
    for src, tgt in ZERO_SHOT:
        for method, (hyps, seconds) in zero_shot_outputs(runner, data, src, tgt, args.methods, legs).items():
            rows.append(row(src, tgt, method, hyps, seconds))
    return rows


def render(rows: list[dict], methods, splits, args=None) -> str:
    lines = ["# Zero-shot testbed benchmark", ""]
    if args is not None:
        lines += [f"Model `{args.model}`; {'first ' + str(args.limit) + ' lines' if args.limit else 'all lines'} of "
                  f"each split; beam {args.beam} for every method, length penalty {args.length_penalty}"
                  f"{', restricted target vocabulary (restrict_vocab=True) for every method and leg' if args.restrict_vocab else ''}; "
                  "ensembles = direct + pivot en + pivot third. Time = the method's own decoding plus the first "
                  "legs it uses (each leg decoded once and shared), CPU, summed over the six directions.", ""]
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


def plot(rows, methods, splits, path: Path) -> bool:
    """The bar chart, if matplotlib (the ``plot`` extra) is installed; else one line on stderr and False."""
    try:
        import matplotlib
    except ImportError:
        print(f"benchmark: no chart ({path.name}): matplotlib is not installed (pip install 'ensemblekd[plot]'); "
              "the tables are written", file=sys.stderr)
        return False

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
    plt.close(fig)
    return True


def main(argv=None) -> list[dict]:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd._runtime import atomic_write_text

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
    ap.add_argument("--chunk-lines", type=int, default=500,
                    help="jobs are decoded and cached in chunks of this many lines (a longer run reuses them)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--restrict-vocab", action="store_true",
                    help="every method decodes with the target language's vocabulary (ensemblekd_target_vocab.json)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    (args.out / "outputs").mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, dtype=torch.float32).to(args.device).eval()
    langid = LanguageId(LANGS)
    rows = []
    for split in args.splits:
        rows += benchmark_split(model, tokenizer, load_split(args.data, split, args.limit), split, args, langid)
    atomic_write_text(args.out / "benchmark.json", json.dumps(rows, indent=1))
    table = render(rows, args.methods, args.splits, args)
    atomic_write_text(args.out / "benchmark.md", table)
    plot(rows, args.methods, args.splits, args.out / "benchmark.png")
    print(table)
    return rows


if __name__ == "__main__":
    main()
