"""Smoke tests of benchmarks/*.py on tiny inputs (issue 12, section 5): each main runs with few repeats on the
data embedded in the package (never ../shared) and prints what the benchmark promises; timings are not checked."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
MODEL = REPO / "models" / "m30k-zeroshot"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fake_original(root: Path, files: dict[str, str]) -> Path:
    """A stand-in for an --original checkout (``library/...``), written from source text."""
    (root / "library").mkdir(parents=True)
    (root / "library" / "__init__.py").write_text("")
    for name, text in files.items():
        (root / "library" / name).write_text(text)
    return root


@pytest.fixture
def original_cleanup(monkeypatch):
    """The benchmarks put --original on sys.path and import ``library``: undone after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name in [m for m in sys.modules if m == "library" or m.startswith("library.")]:
        del sys.modules[name]


# ------------------------------------------------------------------------------------------------- trees
def test_trees_benchmark_twins_agree_and_original_is_compared(tmp_path, capsys, monkeypatch, original_cleanup):
    from ensemblekd.trees.demo import sample_teachers

    data = tmp_path / "ptb"
    for f in sample_teachers():
        (data / "teachers" / f.parent.name).mkdir(parents=True)
        (data / "teachers" / f.parent.name / "test.txt").write_text(
            "".join(f.read_text(encoding="utf-8").splitlines(keepends=True)[:6]), encoding="utf-8")
    # the original's ensemble(), standing in: ours, except that its selective output drops one sentence's tree
    original = _fake_original(tmp_path / "orig", {"ensemble.py": (
        "from ensemblekd.trees import average_trees\n"
        "def ensemble(refs, MBR_mode):\n"
        "    out = average_trees([[line.strip() for line in r] for r in refs], MBR_mode)\n"
        "    return out if MBR_mode == 'generative' else ['(X (X a) (X b))'] + out[1:]\n")})
    monkeypatch.setenv("ENSEMBLEKD_PUREPYTHON", "0")
    assert _load("trees").main(["--data", str(data), "--repeats", "1", "--skip-compile", "--lengths", "8", "12",
                                "--original", str(original)]) == 0
    out = capsys.readouterr().out
    assert f"data: {data} (7 teachers x 6 sentences)" in out
    assert "1. numba compile" not in out
    # 3: the plain-Python twins give the numba kernels' output, in both modes
    assert len(re.findall(r"^   (generative|selective) .*same output: True\)$", out, re.M)) == 2
    assert re.search(r"^   n =   8: generative wall", out, re.M) and re.search(r"^   n =  12: ", out, re.M)
    # 5: agreement with the original is counted per sentence
    assert re.search(r"generative .* same trees \(words and spans\): 6/6$", out, re.M)
    assert re.search(r"selective .* same trees \(words and spans\): 5/6$", out, re.M)


# -------------------------------------------------------------------------------------------------- deps
def test_deps_benchmark_counts_identical_lines_against_the_original(tmp_path, capsys, original_cleanup):
    from ensemblekd.deps.demo import sample_dir

    # the original, standing in: our averages in its output format, except one f1 line
    original = _fake_original(tmp_path / "orig", {
        "utils.py": "from ensemblekd.deps import read_deps\n"
                    "def read_attachment_file(path):\n    return read_deps(path).to_lists()\n",
        "ensemble.py": (
            "from ensemblekd.deps import average_deps\n"
            "def ensemble(refs, agg, parallel, progress_bar):\n"
            "    out = average_deps(refs, agg).to_lists()\n"
            "    return out if agg == 'acc' else [[0] + out[0][1:]] + out[1:]\n"
            "def acc_worker(i, trees, weights, x):\n    return i, average_deps([[t] for t in trees], 'acc').to_lists()[0]\n"
            "def f_worker(i, trees, weights, x):\n    return i, average_deps([[t] for t in trees], 'f1').to_lists()[0]\n"),
    })
    assert _load("deps").main(["--data", str(sample_dir()), "--repeats", "1", "--original", str(original)]) == 0
    out = capsys.readouterr().out
    n = len((sample_dir() / "gold" / "te.txt").read_text().splitlines())
    assert f"6 teachers, {n} sentences" in out
    assert re.search(rf"^  acc .*x  {n}/{n}$", out, re.M), out
    assert re.search(rf"^  f1 .*x  {n - 1}/{n}$", out, re.M), out
    # per sentence: ours against the original's workers (asserted equal inside), with the ratios
    assert len(re.findall(r"^  n = (50|100|200) .*x +\d+x$", out, re.M)) == 3


# --------------------------------------------------------------------------------------------------- mbr
def test_mbr_benchmark_kernel_equals_the_sacrebleu_loop(capsys):
    from ensemblekd import _accel

    if _accel.ckernel() is None:
        pytest.skip("ensemblekd._ckernel is not built")
    _load("mbr").main(["--n", "6", "--words", "8", "--repeats", "1", "--loop-repeats", "1"])
    out = capsys.readouterr().out
    assert out.startswith("N = 6 candidates")
    rows = re.findall(r"^(bleu|chrf) .*speed-up +[\d.]+x \| max \|diff\| (\S+)$", out, re.M)
    assert [m for m, _ in rows] == ["bleu", "chrf"] and all(float(d) < 1e-9 for _, d in rows), out


# ---------------------------------------------------------------------------------------------- decoding
TINY = ["--sentences", "2", "--source-len", "5", "--new-tokens", "3", "--vocab", "300"]


@pytest.fixture
def one_thread():
    """One torch thread, as the benchmarks run (several threads thrash on a shared box); restored after."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_decoding_benchmark_every_method_decodes_exactly_the_fixed_length(one_thread):
    bench = _load("decoding")
    args = bench.main.__globals__["argparse"].Namespace(sentences=2, source_len=5, new_tokens=3, vocab=300)
    model, rows = bench.build(args)
    assert len(rows) == 3 * 2 and all(len(r) == 5 for r in rows)
    second = bench.build(args, seed=2)[0]
    lm, lm_rows = bench.build_lm(args)   # the decoder-only prompt ensemble: 3 prompts of different lengths
    for method in bench.METHODS:
        m, r = (lm, lm_rows) if method in bench.DECODER_ONLY else (model, rows)
        eos = m.config.eos_token_id
        out = bench.decode(method, m, r, args, 2, second)
        if method in ("hf", "hf2"):  # decoder start + the fixed new tokens, no EOS
            assert out.shape == (6, 1 + 3) and not (out[:, 1:] == eos).any(), method
        elif method == "hf-lm":  # the left-padded prompts + the fixed new tokens, no EOS
            assert out.shape[0] == 6 and not (out[:, -3:] == eos).any(), method
        else:
            hyps = [h[0] for h in out]
            assert len(hyps) == (6 if method == "single" else 2), method
            assert all(len(h.tokens) == 3 and eos not in h.tokens for h in hyps), method


def test_decoding_benchmark_table_has_a_ratio_per_method(capsys, monkeypatch, one_thread):
    bench = _load("decoding")
    calls = []

    def in_process(cmd, **kw):  # the worker subprocess, run here: same arguments, same printed JSON
        calls.append(cmd[2:])
        bench.main(cmd[2:])
        return subprocess.CompletedProcess(cmd, 0, stdout=capsys.readouterr().out, stderr="")

    monkeypatch.setattr(bench.subprocess, "run", in_process)
    bench.main(["--repeats", "1", "--methods", "hf", "single", *TINY])
    out = capsys.readouterr().out
    assert [c[:2] for c in calls] == [["--worker", "hf"], ["--worker", "single"]]
    assert all(c[c.index("--new-tokens") + 1] == "3" and c[c.index("--threads") + 1] == "1" for c in calls)
    assert "B=2, K=3, Z=5, source 5 tokens, 3 new tokens (fixed), 1 thread(s), median of 1" in out
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines()[-2:]}
    assert set(table) == {"hf", "single"} and table["hf"][1] == "1.00" and table["hf"][3] == "1.00"
    assert float(table["single"][1]) > 0


# ----------------------------------------------------------------------------------------------- distill
@pytest.fixture
def shipped(one_thread):
    pytest.importorskip("transformers")
    if not (MODEL / "config.json").is_file():
        pytest.skip("no shipped model")


def test_distill_benchmark_training_part_reports_the_ratio(shipped, tmp_path, capsys):
    bench = _load("distill")
    report = bench.main(["--steps", "2", "--repeats", "1", "--max-tokens", "256", "--skip-decoding",
                         "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    t = report["training"]
    assert json.loads((tmp_path / "r.json").read_text()) == report and "decoding" not in report
    assert t["steps"] == 2 and len(t["engine_s"]) == len(t["loop_s"]) == 1
    assert t["ratio"] == pytest.approx(t["loop_s"][0] / t["engine_s"][0])
    assert t["target_tokens"] == bench.tokens_in(bench.examples()[0], 2, 256) > 0
    assert f"({t['target_tokens']} target tokens)" in out and f"engine / loop throughput: {t['ratio']:.2f}x" in out


def test_objectives_benchmark_times_each_update_and_reports_ratios_to_seqkd(shipped, tmp_path, capsys):
    bench = _load("objectives")
    report = bench.main(["--steps", "3", "--max-tokens", "256", "--objectives", "kl", "gkd1",
                         "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text()) == report
    assert list(report["s_per_update"]) == ["seqkd", "kl", "gkd1"]        # the reference is always measured
    for name, s in report["s_per_update"].items():
        assert s > 0 and report["ratio_to_seqkd"][name] == pytest.approx(s / report["s_per_update"]["seqkd"])
        assert f"{report['ratio_to_seqkd'][name]:7.2f}x" in out
    exs, _ = bench.examples()
    assert len(exs) == 200 and all(len(e.teacher_inputs) == 2 for e in exs)   # direct + pivot via en


def test_distill_benchmark_decode_worker_writes_what_translate_gives(shipped, tmp_path, monkeypatch):
    """The torchrun worker's script, run in this process as a world of one: its shards are EBBS de->fr."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding import translate

    bench = _load("distill")
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "argv", ["w", str(MODEL), str(bench.SAMPLE / "test_2016_flickr.200.de"),
                                      str(tmp_path / "out"), "2"])
    exec(compile(bench.DECODE_WORKER, "decode_worker", "exec"), {"__name__": "__main__"})
    shards = sorted((tmp_path / "out").glob("shard-*"))
    records = [json.loads(line) for p in shards for line in p.read_text().splitlines()]
    sources = (bench.SAMPLE / "test_2016_flickr.200.de").read_text(encoding="utf-8").splitlines()[:2]
    model, tok = AutoModelForSeq2SeqLM.from_pretrained(MODEL).eval(), AutoTokenizer.from_pretrained(MODEL)
    ref = translate(model, tok, sources, src_lang="de", tgt_lang="fr", pivots=["en", "cs"], method="ebbs",
                    max_new_tokens=64, restrict_vocab=True, progress=False)
    assert [r["targets"] for r in records] == [[r.text] for r in ref]
