"""Tree-averaging speed, measured in one run (issue 2, section 4).

    python benchmarks/trees.py [--data DIR] [--repeats 7] [--original DIR] [--skip-compile] [--lengths 50 100 200]

Prints:
  1. numba's one-off compile time, from two fresh processes sharing an empty NUMBA_CACHE_DIR: the
     first compiles and writes the cache, the second must load it (cache hits, no compile);
  2. the median wall time of files -> averaged tree strings for the 7 teacher files of the PTB test
     set (2,412 sentences), generative and selective, compile excluded; with the parse share;
  3. the same with the plain-Python twin kernels (ENSEMBLEKD_PUREPYTHON=1), once;
  4. per-sentence time at n = 50, 100, 200 words with 7 random binary teachers (strings in,
     strings out);
  5. with --original DIR (a checkout of the original research code, holding library/ensemble.py;
     not part of this repository): its time on the same files, and whether the outputs agree.
Targets on the 2-core development box: <= 0.10 s for the test set, <= 3 ms per sentence at n = 200.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ensemblekd.trees import average_trees, parse_trees, read_trees, same_trees
from ensemblekd.trees.demo import sample_dir, sample_teachers

REPO = Path(__file__).resolve().parents[1]

FRESH_PROCESS = r"""
import json, sys, time
t0 = time.perf_counter()
from ensemblekd.trees import average_trees, read_trees
from ensemblekd.trees import cyk, io, write
files = [__import__("pathlib").Path(p) for p in sys.argv[1:]]
def run():
    tb = [read_trees(p) for p in files]
    return average_trees(tb, "generative"), average_trees(tb, "selective")
t1 = time.perf_counter(); run(); t2 = time.perf_counter(); run(); t3 = time.perf_counter()
stats = [k.nb.stats for k in (io.parse_kernel, write.render_kernel, cyk.cyk_kernel)]
print(json.dumps({"first": t2 - t1, "again": t3 - t2,
                  "cache_hits": sum(sum(s.cache_hits.values()) for s in stats),
                  "cache_misses": sum(sum(s.cache_misses.values()) for s in stats)}))
"""


def default_data() -> Path:
    root = Path(os.environ.get("ENSEMBLEKD_SHARED", REPO.parent / "shared")) / "data" / "ptb-teachers"
    return root if (root / "teachers").is_dir() else sample_dir()


def files_to_strings(files, mode):
    return average_trees([read_trees(p) for p in files], mode)


def median_time(fn, repeats, clock=time.perf_counter):
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def cpu_time(fn, repeats):
    """Median CPU time of this process: what the wall time would be on an idle machine."""
    return median_time(fn, repeats, clock=time.process_time)


def compile_report(files):
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, ENSEMBLEKD_PUREPYTHON="0")
        out = []
        for _ in range(2):
            res = subprocess.run([sys.executable, "-c", FRESH_PROCESS, *map(str, files)], env=env,
                                 capture_output=True, text=True, check=True)
            out.append(json.loads(res.stdout))
    return out


def random_binary(rng, words):
    if len(words) == 1:
        return f"(X {words[0]})"
    k = rng.randrange(1, len(words))
    return f"(X {random_binary(rng, words[:k])} {random_binary(rng, words[k:])})"


def compile_section(files) -> None:
    first, second = compile_report(files)
    print("\n1. numba compile (fresh processes, empty NUMBA_CACHE_DIR)")
    print(f"   process 1: first call {first['first']:.3f}, again {first['again']:.4f} -> compile ~ "
          f"{first['first'] - first['again']:.2f} s (cache misses {first['cache_misses']}, hits {first['cache_hits']})")
    print(f"   process 2: first call {second['first']:.3f}, again {second['again']:.4f} -> cache load ~ "
          f"{second['first'] - second['again']:.2f} s (cache misses {second['cache_misses']}, hits {second['cache_hits']})"
          f"  {'OK: no recompilation' if second['cache_misses'] == 0 and second['cache_hits'] > 0 else 'RECOMPILED'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="ptb-teachers folder (default: ../shared, else the embedded sample)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--original", type=Path, default=None, help="checkout of the original code (holds library/)")
    ap.add_argument("--skip-compile", action="store_true",
                    help="skip part 1 (two fresh processes compiling the kernels into an empty cache: ~15 s)")
    ap.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200], help="sentence lengths of part 4")
    args = ap.parse_args(argv)
    data = args.data or default_data()
    files = sample_teachers(data)
    n_sent = len(read_trees(files[0]))
    print(f"data: {data} ({len(files)} teachers x {n_sent} sentences); python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; wall-clock times, and CPU time "
          "of this process (the wall time on an idle machine) where the machine is shared")

    # 1. compile once, then the cache
    if not args.skip_compile:
        compile_section(files)

    # 2. steady state
    os.environ["ENSEMBLEKD_PUREPYTHON"] = "0"
    files_to_strings(files, "generative"), files_to_strings(files, "selective")  # load kernels
    parse = median_time(lambda: [read_trees(p) for p in files], args.repeats)
    parse_cpu = cpu_time(lambda: [read_trees(p) for p in files], args.repeats)
    fast = {m: median_time(lambda m=m: files_to_strings(files, m), args.repeats) for m in ("generative", "selective")}
    fast_cpu = {m: cpu_time(lambda m=m: files_to_strings(files, m), args.repeats) for m in ("generative", "selective")}
    print(f"\n2. files -> averaged tree strings, numba kernels (median of {args.repeats}; target <= 0.10 s)")
    for m, t in fast.items():
        print(f"   {m:<10} wall {t:.4f} s, CPU {fast_cpu[m]:.4f} s  ({1e6 * t / n_sent:.1f} us/sentence); "
              f"of which reading the 7 files: wall {parse:.4f} s, CPU {parse_cpu:.4f} s")

    # 3. the twins
    print("\n3. plain-Python twins, once per mode")
    for m in ("generative", "selective"):
        os.environ["ENSEMBLEKD_PUREPYTHON"] = "1"
        t0 = time.perf_counter()
        twin_out = files_to_strings(files, m)
        twin = time.perf_counter() - t0
        os.environ["ENSEMBLEKD_PUREPYTHON"] = "0"
        same = twin_out == files_to_strings(files, m)
        print(f"   {m:<10} {twin:.2f} s  (x{twin / fast[m]:.0f} the numba time; same output: {same})")

    # 4. long sentences
    print(f"\n4. per sentence, 7 random binary teachers, strings in -> string out (median of {args.repeats}; "
          "target <= 3 ms at n = 200)")
    rng = random.Random(0)
    for n in args.lengths:
        batch = 20
        words = [f"w{i}" for i in range(n)]
        teachers = [[random_binary(rng, words) for _ in range(batch)] for _ in range(7)]
        t = median_time(lambda: average_trees(teachers, "generative"), args.repeats) / batch
        tc = cpu_time(lambda: average_trees(teachers, "generative"), args.repeats) / batch
        ts = median_time(lambda: average_trees(teachers, "selective"), args.repeats) / batch
        parsed = [parse_trees(t_) for t_ in teachers]
        cyk_only = cpu_time(lambda: average_trees(parsed, "generative"), args.repeats) / batch
        print(f"   n = {n:3d}: generative wall {1e3 * t:.3f} ms, CPU {1e3 * tc:.3f} ms (of which parsing "
              f"{1e3 * (tc - cyk_only):.3f}); selective wall {1e3 * ts:.3f} ms")

    # 5. the original research code
    if args.original is not None:
        sys.path.insert(0, str(args.original))
        from library.ensemble import ensemble  # the original implementation (not in this repository)

        refs = [open(p).readlines() for p in files]
        print("\n5. original implementation, once per mode")
        for m in ("generative", "selective"):
            t0 = time.perf_counter()
            orig = ensemble(refs, MBR_mode=m)
            t = time.perf_counter() - t0
            agree = int(same_trees(parse_trees(files_to_strings(files, m)), parse_trees(orig)).sum())
            print(f"   {m:<10} wall {t:.2f} s  (x{t / fast[m]:.0f} ours, wall); same trees (words and spans): {agree}/{len(orig)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
