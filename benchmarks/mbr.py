"""MBR utility matrix: C kernel vs the sacrebleu loop, ratio measured in one run.

N candidates of about W words (default 64 x 25), n-best-like variants of one Multi30k-based sentence
(random word drops, duplications, swaps and substitutions; seeded).  Full pairwise matrix U[i, j] =
sentence BLEU (and chrF) of candidate i against candidate j.

- sacrebleu loop: ensemblekd.metrics.utility_matrix_python (N*N calls of sacrebleu.sentence_bleu/chrf).
- C kernel: ensemblekd.metrics.utility_matrix_c, end to end (sacrebleu tokenization of each sentence,
  token ids, the kernel); sacrebleu's tokenizer caches are cleared before every repetition, so no work is
  reused across repetitions.  Median of --repeats runs; the loop is timed --loop-repeats times (median).

    .venv/bin/python benchmarks/mbr.py            # target: C kernel >= 50x faster than the sacrebleu loop
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "ensemblekd" / "data" / "multi30k_sample" / "test_2016_flickr.200.en"


def make_candidates(n: int, words: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = DATA.read_text(encoding="utf-8").splitlines()
    vocab = sorted({w for line in lines for w in line.split()})
    base: list[str] = []
    for line in sorted(lines, key=len, reverse=True):  # long real sentences, joined, cut to `words`
        base.extend(line.split())
        if len(base) >= words:
            break
    base = base[:words]
    out = []
    for _ in range(n):
        cand = list(base)
        for _ in range(rng.randint(0, 6)):
            op, k = rng.random(), rng.randrange(len(cand))
            if op < 0.3 and len(cand) > 1:
                del cand[k]
            elif op < 0.5:
                cand.insert(k, cand[k])
            elif op < 0.7 and k + 1 < len(cand):
                cand[k], cand[k + 1] = cand[k + 1], cand[k]
            else:
                cand[k] = rng.choice(vocab)
        out.append(" ".join(cand))
    return out


def clear_sacrebleu_caches() -> None:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    from sacrebleu.tokenizers.tokenizer_re import TokenizerRegexp

    Tokenizer13a.__call__.cache_clear()
    TokenizerRegexp.__call__.cache_clear()


def timed(fn, repeats: int, before=None) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="number of candidates")
    parser.add_argument("--words", type=int, default=25, help="words per candidate (before edits)")
    parser.add_argument("--repeats", type=int, default=20, help="C kernel repetitions (median)")
    parser.add_argument("--loop-repeats", type=int, default=3, help="sacrebleu loop repetitions (median)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from ensemblekd import _accel
    from ensemblekd.metrics import utility_matrix_c, utility_matrix_python

    if _accel.ckernel() is None:
        raise SystemExit("ensemblekd._ckernel is not built: run `pip install -e .` with a C compiler first")
    cands = make_candidates(args.n, args.words, args.seed)
    mean_words = statistics.mean(len(c.split()) for c in cands)
    print(f"N = {len(cands)} candidates, {mean_words:.1f} words on average, {len(set(cands))} distinct; "
          f"full {len(cands)}x{len(cands)} matrix")
    for metric in ("bleu", "chrf"):
        utility_matrix_c(cands, metric=metric)  # warm-up: imports, first calls
        t_c, fast = timed(lambda: utility_matrix_c(cands, metric=metric), args.repeats, clear_sacrebleu_caches)
        t_loop, slow = timed(lambda: utility_matrix_python(cands, metric=metric), args.loop_repeats)
        diff = float(np.max(np.abs(fast - slow)))
        print(f"{metric:5s} sacrebleu loop {t_loop * 1e3:9.1f} ms | C kernel {t_c * 1e3:7.2f} ms | "
              f"speed-up {t_loop / t_c:7.1f}x | max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
