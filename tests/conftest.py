"""Fixtures shared by the test folders."""
import pytest


@pytest.fixture(params=["numba", "python"])
def kernels(request, monkeypatch):
    """Run the test once with the numba kernels and once with their plain-Python twins."""
    monkeypatch.setenv("ENSEMBLEKD_PUREPYTHON", "1" if request.param == "python" else "0")
    return request.param
