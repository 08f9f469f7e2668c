"""Fixtures for the trees tests: run every kernel test with numba and with the Python twins."""
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


@pytest.fixture(params=["numba", "python"])
def kernels(request, monkeypatch):
    """Run the test once with the numba kernels and once with their plain-Python twins."""
    monkeypatch.setenv("ENSEMBLEKD_PUREPYTHON", "1" if request.param == "python" else "0")
    return request.param
