"""The on-policy losses (llmr, gkd) under torchrun (2 processes, gloo on CPU): every rank samples its own rows
with its own random numbers (the ranks hold identical rows here, and still draw different samples), and DDP
training killed mid-way and resumed ends with the weights of an uninterrupted run."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

LAUNCH = Path(__file__).resolve().parent / "_ddp_kd.py"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(out, loss, die=0):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_port()), str(LAUNCH), str(out), loss, str(die)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None), env.pop("WORLD_SIZE", None)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def weights(out):
    from safetensors.torch import load_file

    return load_file(str(out / "student" / "model.safetensors"))


@pytest.fixture(scope="module", params=["llmr", "gkd"])
def uninterrupted(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    r = run(out, request.param)
    assert r.returncode == 0, r.stderr[-3000:]
    return request.param, out


def test_each_rank_samples_its_own_rows_with_its_own_random_numbers(uninterrupted):
    loss, out = uninterrupted
    calls = [torch.load(out / f"samples-{r}.pt") for r in (0, 1)]
    for rows, seq in calls[0] + calls[1]:
        assert seq.shape[0] == rows.shape[0]                 # each rank samples for its own rows
    if loss == "llmr":                                        # every step samples, on both ranks
        assert len(calls[0]) == len(calls[1]) == 4
        for (rows0, seq0), (rows1, seq1) in zip(*calls):
            assert torch.equal(rows0, rows1)                  # the same rows on both ranks ...
            assert not torch.equal(seq0, seq1)                # ... sampled with different random numbers
    else:                                                     # gkd, lambda 0.5: each rank draws its own coin
        assert 0 < len(calls[0]) + len(calls[1]) < 8 and len(calls[0]) != 4
    w = weights(out)
    assert all(torch.isfinite(v).all() for v in w.values())


def test_on_policy_ddp_killed_and_resumed_ends_with_the_same_weights(uninterrupted, tmp_path):
    loss, ref = uninterrupted
    r = run(tmp_path, loss, die=3)
    assert r.returncode != 0 and not (tmp_path / "student" / "model.safetensors").exists()
    r = run(tmp_path, loss)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = weights(ref), weights(tmp_path)
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6
