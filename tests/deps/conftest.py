"""Fixtures for the deps tests: kernels with numba and with the Python twins; the shared ED4UDP data."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_ed4udp() -> Path:
    """../shared/data/ed4udp (or $ENSEMBLEKD_SHARED/data/ed4udp); skip when absent."""
    root = Path(os.environ.get("ENSEMBLEKD_SHARED", REPO.parent / "shared")) / "data" / "ed4udp"
    if not (root / "golden").is_dir():
        pytest.skip(f"ED4UDP golden data not found at {root} (set ENSEMBLEKD_SHARED); the embedded sample tests still run")
    return root


@pytest.fixture(params=["numba", "python"])
def kernels(request, monkeypatch):
    """Run the test once with the numba kernels and once with their plain-Python twins."""
    monkeypatch.setenv("ENSEMBLEKD_PUREPYTHON", "1" if request.param == "python" else "0")
    return request.param
