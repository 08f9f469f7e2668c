"""Tree-averaging demo on the embedded PTB sample (first 200 test sentences, 7 teachers)."""
from __future__ import annotations

import sys
import time
from importlib import resources
from pathlib import Path

__all__ = ["sample_dir", "sample_teachers", "run_demo"]


def sample_dir() -> Path:
    """Folder of the embedded sample: ``teachers/<i>-<name>/test.txt``, ``gold/test.txt``,
    ``reference/{generative,selective}/test.txt`` (200 line-aligned trees each)."""
    return Path(str(resources.files("ensemblekd") / "data" / "ptb_sample"))


def sample_teachers(root: Path | None = None, split: str = "test") -> list[Path]:
    """The teacher files under ``root/teachers`` in the original order (directory names ``1-`` .. ``7-``)."""
    root = sample_dir() if root is None else Path(root)
    dirs = [d for d in (root / "teachers").iterdir() if d.is_dir()]
    dirs.sort(key=lambda d: int(d.name.split("-", 1)[0]))
    return [d / f"{split}.txt" for d in dirs]


def run_demo(quiet: bool = False) -> None:
    """Print each teacher's F1, the generative and selective ensembles' F1 and the time taken."""
    from .average import average_trees
    from .f1 import tree_f1
    from .io import parse_trees, read_trees, same_trees

    root = sample_dir()
    t0 = time.perf_counter()
    teachers = [read_trees(p) for p in sample_teachers(root)]
    out = {mode: average_trees(teachers, mode) for mode in ("generative", "selective")}
    first = time.perf_counter() - t0  # includes numba's compile or cache load
    gold = read_trees(root / "gold" / "test.txt")
    t0 = time.perf_counter()
    for mode in out:
        average_trees([read_trees(p) for p in sample_teachers(root)], mode)
    again = time.perf_counter() - t0

    print(f"Tree averaging (Shayegh et al., ICLR 2024) on the embedded PTB sample: {len(gold)} test sentences, "
          f"{len(teachers)} teachers")
    print(f"{'tree':<34} {'sentence F1':>11} {'corpus F1':>9}")
    for path, tb in zip(sample_teachers(root), teachers):
        r = tree_f1(gold, tb)
        print(f"  teacher {path.parent.name:<24} {r.sentence_f1:>11.2f} {r.corpus_f1:>9.2f}")
    for mode, trees in out.items():
        r = tree_f1(gold, trees)
        same = int(same_trees(parse_trees(trees), read_trees(root / "reference" / mode / "test.txt")).sum())
        print(f"  ensemble {mode:<23} {r.sentence_f1:>11.2f} {r.corpus_f1:>9.2f}   "
              f"same tree as the original: {same}/{len(gold)}")
    print(f"time: {first:.3f} s for files -> both ensembles (first call, with numba's compile or cache load), "
          f"{again:.3f} s again")
    sys.stdout.flush()
