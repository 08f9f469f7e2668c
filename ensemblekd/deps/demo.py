"""Dependency-averaging demo on the embedded ED4UDP sample (6 teachers, first 200 WSJ test sentences)."""
from __future__ import annotations

import sys
import time
from importlib import resources
from pathlib import Path

__all__ = ["sample_dir", "sample_teachers", "run_demo"]


def sample_dir() -> Path:
    """Folder of the embedded sample: ``teachers/<k>-<name>/{te,d}.txt``, ``gold/``, ``golden/<agg>/`` (see its README)."""
    return Path(str(resources.files("ensemblekd") / "data" / "ed4udp_sample"))


def sample_teachers(root: Path | None = None, split: str = "te") -> list[Path]:
    """The teacher files in the original's order (directory names ``1-`` .. ``6-``)."""
    root = sample_dir() if root is None else Path(root)
    dirs = sorted((d for d in (root / "teachers").iterdir() if d.is_dir()), key=lambda d: int(d.name.split("-", 1)[0]))
    return [d / f"{split}.txt" for d in dirs]


def run_demo(quiet: bool = False) -> None:
    """Print each teacher's UAS / F1, the three ensembles' UAS / F1, agreement with the original, time."""
    from .average import average_deps
    from .evaluate import evaluate_deps
    from .io import format_deps, read_deps

    root = sample_dir()
    gold, gold_d = read_deps(root / "gold" / "te.txt"), read_deps(root / "gold" / "d.txt")
    dev_uas = [evaluate_deps(gold_d, read_deps(p)).uas for p in sample_teachers(root, "d")]
    runs = {"acc": ("acc", None), "acc_devweights": ("acc", dev_uas), "f1": ("f1", None)}
    t0 = time.perf_counter()
    teachers = [read_deps(p) for p in sample_teachers(root)]
    out = {name: average_deps(teachers, agg, weights=w) for name, (agg, w) in runs.items()}
    seconds = time.perf_counter() - t0  # includes numba's compile or cache load on a first run

    print(f"\nDependency-tree averaging (ED4UDP, Shayegh et al., AAAI 2025) on the embedded sample: {len(gold)} WSJ "
          f"test sentences, {len(teachers)} teachers")
    print(f"{'trees':<34} {'UAS':>6} {'F1':>6}")
    for path, bank in zip(sample_teachers(root), teachers):
        s = evaluate_deps(gold, bank)
        print(f"  teacher {path.parent.name:<24} {100 * s.uas:>6.2f} {100 * s.f1:>6.2f}")
    for name, bank in out.items():
        s = evaluate_deps(gold, bank)
        mine = format_deps(bank).splitlines()
        theirs = (root / "golden" / name / "te.txt").read_text().splitlines()
        same = sum(a == b for a, b in zip(mine, theirs))
        print(f"  ensemble {name:<23} {100 * s.uas:>6.2f} {100 * s.f1:>6.2f}   same tree as the original: {same}/{len(gold)}")
    print(f"time: {seconds:.3f} s for files -> the three ensembles")
    sys.stdout.flush()
