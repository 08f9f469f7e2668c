"""Dependency-tree averaging speed, measured in one run (issue 14, section 3).

    python benchmarks/deps.py [--data DIR] [--combo 1] [--repeats 7] [--original DIR]

Prints, for the 6 teachers of one combination on WSJ test (2,416 sentences; the embedded 200-sentence
sample when ../shared is absent):
  1. files -> averaged trees (attachment-format text) with ensemblekd, agg acc and f1: the first call
     (numba compile or cache load included) and the median of --repeats warm calls;
  2. with --original DIR (a checkout of MANGA-UOFA/ED4UDP, not part of this repository): its own
     ``ensemble(..., parallel=False)`` on the same files (read with its reader), the ratio, and
     whether every output line is identical;
  3. per-sentence time at n = 50, 100, 200 words, 6 random projective teachers, ours and (with
     --original) the original's, with the ratios.
Target: >= 100x faster than the original on the files, identical output.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from ensemblekd.deps import average_deps, format_deps, read_deps
from ensemblekd.deps.demo import sample_dir

REPO = Path(__file__).resolve().parents[1]


def default_data() -> Path:
    root = Path(os.environ.get("ENSEMBLEKD_SHARED", REPO.parent / "shared")) / "data" / "ed4udp"
    return root if (root / "teachers").is_dir() else sample_dir()


def teacher_files(data: Path, combo: int) -> list[Path]:
    base = data / "teachers" / str(combo)
    if not base.is_dir():
        base = data / "teachers"
    dirs = sorted((d for d in base.iterdir() if d.is_dir()), key=lambda d: int(d.name.split("-")[0]))
    return [d / "te.txt" for d in dirs]


def ours(files, agg):
    return format_deps(average_deps([read_deps(p) for p in files], agg))


def random_projective(rng, n):
    """A random projective single-root tree: a random head per range, random blocks on each side."""
    heads = [0] * n

    def attach(lo, hi, parent):  # words lo..hi (1-based) become subtrees hanging from parent
        while lo <= hi:
            end = int(rng.integers(lo, hi + 1)) if parent else hi  # the top range is one subtree
            h = int(rng.integers(lo, end + 1))
            heads[h - 1] = parent
            attach(lo, h - 1, h)
            attach(h + 1, end, h)
            lo = end + 1

    attach(1, n, 0)
    return heads


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--combo", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--original", type=Path, help="a checkout of MANGA-UOFA/ED4UDP (holds library/ensemble.py)")
    args = p.parse_args(argv)
    data = args.data or default_data()
    files = teacher_files(data, args.combo)
    n_sent = len(read_deps(files[0]))
    print(f"data: {data} (combination {args.combo}, {len(files)} teachers, {n_sent} sentences)")
    original = None
    if args.original is not None:
        sys.path.insert(0, str(args.original))
        from library.ensemble import ensemble  # the original's code
        from library.utils import read_attachment_file

        def original(files, agg):
            refs = [read_attachment_file(str(f)) for f in files]
            avg = ensemble(refs, agg=agg, parallel=False, progress_bar=False)
            return "".join(" ".join(map(str, [j] + a)) + "\n" for j, a in enumerate(avg))

    print(f"\n{'files -> trees':<16} {'first call':>10} {'warm (median)':>14} {'original':>10} {'ratio':>8}  identical")
    for agg in ("acc", "f1"):
        t0 = time.perf_counter()
        text = ours(files, agg)
        first = time.perf_counter() - t0
        warm = timed(lambda: ours(files, agg), args.repeats)
        if original is None:
            print(f"  {agg:<14} {first:>9.3f}s {warm:>13.4f}s")
            continue
        t0 = time.perf_counter()
        theirs = original(files, agg)
        t_orig = time.perf_counter() - t0
        same = sum(a == b for a, b in zip(text.splitlines(), theirs.splitlines()))
        print(f"  {agg:<14} {first:>9.3f}s {warm:>13.4f}s {t_orig:>9.2f}s {t_orig / warm:>7.0f}x  {same}/{n_sent}")

    print(f"\n{'per sentence':<16} {'ours acc':>10} {'ours f1':>10} {'orig acc':>10} {'orig f1':>10} {'ratio acc':>10} {'ratio f1':>9}")
    rng = np.random.default_rng(0)
    for n in (50, 100, 200):
        teachers = [[random_projective(rng, n)] for _ in range(6)]
        row = [timed(lambda: average_deps(teachers, agg), 5) for agg in ("acc", "f1")]
        line = f"  n = {n:<10} {1e3 * row[0]:>8.2f}ms {1e3 * row[1]:>8.2f}ms"
        if original is not None:
            from library.ensemble import acc_worker, f_worker

            orig = []
            for worker in (acc_worker, f_worker):
                t0 = time.perf_counter()
                _, avg = worker(0, [t[0] for t in teachers], [1] * 6, 1)
                orig.append(time.perf_counter() - t0)
                agg = "acc" if worker is acc_worker else "f1"
                assert avg == average_deps(teachers, agg).to_lists()[0], f"n={n} {agg}: outputs differ"
            line += f" {orig[0]:>9.3f}s {orig[1]:>9.3f}s {orig[0] / row[0]:>9.0f}x {orig[1] / row[1]:>8.0f}x"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
