"""`distill mt` under torchrun (2 processes, gloo on CPU) against one process: decoded shards byte for byte,
DDP weights equal to one process with the same global batch, a rank killed mid-decoding, a resume with
another world size, training killed and resumed."""
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

HERE = Path(__file__).resolve().parent
LAUNCH = HERE / "_launch.py"


def _tiny_models():
    path = HERE.parents[1] / "decoding" / "tiny_models.py"
    spec = importlib.util.spec_from_file_location("_ekd_tiny_models", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


TM = _tiny_models()
SOURCES = (TM.CORPUS["de"] * 2)[:19] + [""]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    model = TM.tiny("ekd_src").save(root / "model")
    src = root / "train.de"
    src.write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    return model, src


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def args_for(model, src, out, tokens, *extra):
    return ["distill", "mt", "--model", str(model), "--src", "de", "--tgt", "fr", "--pivots", "en", "cs",
            "--sources", str(src), "--out", str(out), "--beam", "2", "--max-new-tokens", "12", "--shard-size", "3",
            "--max-steps", "4", "--save-every", "1", "--max-tokens", str(tokens), "--device", "cpu", "--quiet",
            *extra]


def run(nproc, argv, env=None, background=False):
    cmd = [sys.executable, str(LAUNCH), *argv] if nproc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master-addr",
        "127.0.0.1", "--master-port", str(_port()), str(LAUNCH), *argv]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("RANK", None), full_env.pop("WORLD_SIZE", None)
    if background:
        return subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=600)


def weights(out):
    from safetensors.torch import load_file

    return load_file(str(out / "student" / "model.safetensors"))


def max_diff(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def single(setup, tmp_path_factory):
    """The reference: one process, global batch 400 tokens (AdamW and SGD)."""
    model, src = setup
    root = tmp_path_factory.mktemp("single")
    for name, extra in (("adam", ["--trainer-arg", "adam_epsilon=1e-6", "--lr", "3e-3"]), ("sgd", ["--trainer-arg", "optim=sgd",
                                                                                  "--lr", "0.5"])):
        r = run(1, args_for(model, src, root / name, 400, *extra))
        assert r.returncode == 0, r.stderr
    return root


def shard_bytes(out):
    d = out / "decode" / "de-fr"
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_two_ranks_equal_one_process(setup, single, tmp_path):
    model, src = setup
    for name, extra in (("sgd", ["--trainer-arg", "optim=sgd", "--lr", "0.5"]),
                        ("adam", ["--trainer-arg", "adam_epsilon=1e-6", "--lr", "3e-3"])):
        out = tmp_path / name
        r = run(2, args_for(model, src, out, 200, *extra))   # 2 x 200 tokens = the single run's 400
        assert r.returncode == 0, r.stderr[-3000:]
        assert shard_bytes(out) == shard_bytes(single / name)          # decoded shards: byte for byte
        from safetensors.torch import load_file

        ref = weights(single / name)
        moved = max_diff(ref, load_file(str(model / "model.safetensors")))
        diff = max_diff(ref, weights(out))
        # SGD is linear in the gradient: equal up to float summation order.  AdamW divides by sqrt(v), which
        # amplifies that noise where gradients are tiny: equal to well under 1% of how far the weights moved.
        assert moved > 1e-3 and diff < (1e-6 if name == "sgd" else 1e-2 * moved), (name, moved, diff)
        assert not (out / "train_state").exists() and (out / "student" / "ensemblekd_distill.json").is_file()
        assert r.stderr.count("student saved to") == 1      # rank 0 alone reports (and writes) the results


def _pid_of_rank(parent: int, rank: int) -> int | None:
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            env = (p / "environ").read_bytes().split(b"\0")
            stat = (p / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and int(stat[1]) == parent:
            return int(p.name)
    return None


def test_killed_rank_loses_and_duplicates_nothing_and_resumes_with_another_world_size(setup, single, tmp_path):
    model, src = setup
    out = tmp_path / "killed"
    argv = args_for(model, src, out, 400, "--trainer-arg", "adam_epsilon=1e-6", "--lr", "3e-3")
    proc = run(2, argv, env={"EKD_SLOW_DECODE": "0.4"}, background=True)
    decode = out / "decode" / "de-fr"
    deadline = time.time() + 120
    while time.time() < deadline and not (decode.is_dir() and any(decode.glob("shard-*"))):
        time.sleep(0.1)
    victim = None
    while time.time() < deadline and victim is None:
        victim = _pid_of_rank(proc.pid, 1)
    assert victim is not None, "no rank-1 worker found"
    os.kill(victim, signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    done = sorted(p.name for p in decode.glob("shard-*"))
    assert 0 < len(done) < 7, done                       # killed mid-decoding
    # a world size of 1 now: finishes the missing shards only, the result equals the reference run
    r = run(1, argv)
    assert r.returncode == 0, r.stderr[-3000:]
    assert shard_bytes(out) == shard_bytes(single / "adam")
    assert not [p for p in decode.iterdir() if p.name.startswith(".")]   # no temporary files left
    assert max_diff(weights(out), weights(single / "adam")) < 1e-6       # same world size as the reference


def test_ddp_training_killed_and_resumed_ends_with_the_same_weights(setup, single, tmp_path):
    model, src = setup
    out = tmp_path / "resumed"
    argv = args_for(model, src, out, 200, "--trainer-arg", "optim=sgd", "--lr", "0.5")
    r = run(2, argv, env={"EKD_DIE_AT_STEP": "3"})
    assert r.returncode != 0 and not (out / "student" / "model.safetensors").exists()
    ckpts = sorted(p.name for p in (out / "train_state").glob("checkpoint-*"))
    assert "checkpoint-2" in ckpts and "checkpoint-3" not in ckpts, ckpts
    r = run(2, argv)
    assert r.returncode == 0, r.stderr[-3000:]
    assert max_diff(weights(out), weights(single / "sgd")) < 1e-6
    assert not (out / "train_state").exists()


def test_decoder_only_student_two_ranks_equal_one_process(tmp_path):
    """A causal-LM student (tiny Qwen2, word-level KL against its prompt + pivot components): 2 processes x 300
    tokens == 1 process x 600 tokens (SGD: equal up to float summation order); decoded shards byte for byte."""
    lm = TM.tiny("qwen2").save(tmp_path / "lm")
    src = tmp_path / "train.de"
    src.write_text("\n".join(SOURCES[:12]) + "\n", encoding="utf-8")

    def argv(out, tokens):
        return ["distill", "mt", "--model", str(lm), "--src", "de", "--tgt", "fr", "--pivots", "en", "--no-chat",
                "--sources", str(src), "--out", str(out), "--beam", "2", "--max-new-tokens", "8", "--shard-size",
                "3", "--max-steps", "3", "--max-tokens", str(tokens), "--device", "cpu", "--quiet", "--loss", "kl",
                "--trainer-arg", "optim=sgd", "--lr", "0.5"]

    one, two = tmp_path / "one", tmp_path / "two"
    for n, out, tokens in ((1, one, 600), (2, two, 300)):
        r = run(n, argv(out, tokens))
        assert r.returncode == 0, r.stderr[-3000:]
    assert shard_bytes(one) == shard_bytes(two)
    from safetensors.torch import load_file

    moved = max_diff(weights(one), load_file(str(lm / "model.safetensors")))
    assert moved > 1e-3 and max_diff(weights(one), weights(two)) < 1e-6
