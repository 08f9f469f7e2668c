"""Fixtures for the deps tests: the shared ED4UDP data (the `kernels` fixture is in tests/conftest.py)."""
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
