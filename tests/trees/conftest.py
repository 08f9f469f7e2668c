"""Fixtures for the trees tests (the `kernels` fixture is in tests/conftest.py)."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_ptb() -> Path:
    """../shared/data/ptb-teachers (or $ENSEMBLEKD_SHARED/data/ptb-teachers); skip when absent."""
    root = Path(os.environ.get("ENSEMBLEKD_SHARED", REPO.parent / "shared"))
    ptb = root / "data" / "ptb-teachers"
    if not (ptb / "teachers").is_dir():
        pytest.skip(f"full PTB teacher data not found at {ptb} (set ENSEMBLEKD_SHARED); the embedded sample tests still run")
    return ptb
