"""``ensemblekd demo``: the main job on embedded defaults (what ``make demo`` runs)."""
from __future__ import annotations

import importlib

# each entry: module with a ``run_demo(quiet: bool) -> None``; run in this order
DEMOS = (
    "ensemblekd.trees.demo",
    "ensemblekd.deps.demo",
    "ensemblekd.decoding.demo",   # zero-shot de→fr with the model shipped in models/m30k-zeroshot
)


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the demos on the data embedded in the package")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: 1; on small shared CPUs one thread ran ~4x faster than "
                        "torch's default)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ._runtime import set_threads

    set_threads(args.threads)
    for name in DEMOS:
        importlib.import_module(name).run_demo(quiet=args.quiet)
    return 0
