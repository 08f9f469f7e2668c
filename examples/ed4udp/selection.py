"""Member selection by error diversity (ED4UDP, Shayegh et al., AAAI 2025) with ensemblekd.deps.

Two runs, both selecting on dev only and scoring the chosen ensemble (unweighted ``acc``) on test:

* ``--shared DIR`` (``../shared/data/ed4udp``): the pool is every teacher of the combinations held
  there; forward selection with alpha 0.4, k = 2..5, and the alpha grid on dev.
* ``--anchor DIR`` (a checkout of MANGA-UOFA/ED4UDP): the original's own pools (the 30 teachers of
  ``references.py`` in its sorted order, 15 drawn with ``np.random.seed(seed)``), so that the picks
  and test UAS can be compared with the original's printed output for the same seeds.

    python examples/ed4udp/selection.py --shared ../shared/data/ed4udp --anchor /tmp/ed4udp --seeds 0 1
"""
from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

import numpy as np

from ensemblekd.deps import average_deps, evaluate_deps, read_deps
from ensemblekd.deps.select import select_teachers, tune_alpha


def anchor_paths(anchor: Path) -> list[str]:
    """The 30 teacher path templates in ``model_selection.py``'s order (``TEACHER_PATHS`` flattened)."""
    tree = ast.parse((anchor / "references.py").read_text())
    individuals = next(ast.literal_eval(n.value) for n in tree.body
                       if isinstance(n, ast.Assign) and n.targets[0].id == "INDIVIDUALS")
    return [p for tps in individuals for p in (tps[5], tps[2], tps[3], tps[4], tps[1], tps[0])]


def run(names, dev, test, gold_dev, gold_test, alpha, k_max, label, start=None):
    t0 = time.perf_counter()
    sel = select_teachers(dev, gold_dev, k_max=k_max, alpha=alpha, method="forward", start=start)
    seconds = time.perf_counter() - t0
    print(f"\n{label}: forward society entropy, alpha {alpha}, pool of {len(names)} (selection {seconds:.3f} s)")
    for k in range(len(start or [0]) + 1, k_max + 1):
        members = sorted(sel.chosen[k])
        uas = evaluate_deps(gold_test, average_deps([test[i] for i in members])).uas
        print(f"  k={k}  test UAS {100 * uas:.2f}  {[names[i] for i in sel.chosen[k]]}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", type=Path, help="../shared/data/ed4udp")
    p.add_argument("--anchor", type=Path, help="a checkout of MANGA-UOFA/ED4UDP (for its own pools)")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1], help="pool seeds for --anchor (default: 0 1)")
    p.add_argument("--alpha", type=float, default=0.4)
    p.add_argument("--k-max", type=int, default=5)
    args = p.parse_args(argv)
    if args.shared is None and args.anchor is None:
        p.error("give --shared and/or --anchor")
    if args.shared is not None:
        root = args.shared
        dirs = sorted((root / "teachers").glob("*/*-*"), key=lambda d: (int(d.parent.name), int(d.name.split("-")[0])))
        names = [f"{d.parent.name}:{d.name.split('-', 1)[1]}" for d in dirs]
        dev = [read_deps(d / "d.txt") for d in dirs]
        test = [read_deps(d / "te.txt") for d in dirs]
        gd, gt = read_deps(root / "gold" / "d.txt"), read_deps(root / "gold" / "te.txt")
        best, table = tune_alpha(dev, gd)
        print(f"shared pool ({len(names)} teachers): alpha grid on dev (exhaustive k=5): "
              + ", ".join(f"{a:.1f}: {100 * u:.2f}" for a, u in table) + f"; best {best:.1f}")
        run(names, dev, test, gd, gt, args.alpha, args.k_max, "shared pool")
        run(names, dev, test, gd, gt, best, args.k_max, "shared pool, tuned alpha")
    if args.anchor is not None:
        anchor = args.anchor
        paths = anchor_paths(anchor)
        gd = read_deps(anchor / "individuals/Gold/d.txt")
        gt = read_deps(anchor / "individuals/Gold/te.txt")
        for seed in [2] + list(args.seeds):
            np.random.seed(seed)
            pool = np.random.choice(paths, size=15, replace=False).tolist()
            dev = [read_deps(anchor / p.format("d")) for p in pool]
            names = ["/".join(p.split("/")[1:3]) for p in pool]
            if seed == 2:
                best, table = tune_alpha(dev, gd)
                print("anchor pool seed 2: alpha grid on dev (exhaustive k=5): "
                      + ", ".join(f"{a:.1f}: {100 * u:.2f}" for a, u in table) + f"; best {best:.1f}")
                if 2 not in args.seeds:
                    continue
            test = [read_deps(anchor / p.format("te")) for p in pool]
            run(names, dev, test, gd, gt, args.alpha, args.k_max, f"anchor pool seed {seed}")
            sel = select_teachers(dev, gd, k_max=1)
            tied = [i for i, u in enumerate(sel.dev_uas) if u == max(sel.dev_uas)]
            for i in tied[1:]:  # the original's first pick is torch.topk's, unspecified among equal UAS
                run(names, dev, test, gd, gt, args.alpha, args.k_max,
                    f"anchor pool seed {seed}, starting from the tied {names[i]}", start=[i])
    return 0


if __name__ == "__main__":
    sys.exit(main())
