"""User mistakes in any command: one line `ensemblekd: error: ...`, exit 2, no traceback, before expensive work."""
import subprocess
import sys

import pytest

from ensemblekd.trees.demo import sample_teachers


def _run(*args):
    return subprocess.run([sys.executable, "-m", "ensemblekd", *args], capture_output=True, text=True)


@pytest.mark.parametrize("which", ["directory", "missing folder"])
def test_bad_output_paths_are_named_before_any_work(tmp_path, which):
    out = str(tmp_path) if which == "directory" else str(tmp_path / "missing" / "out.txt")
    expected = "is a directory" if which == "directory" else "does not exist"
    src = tmp_path / "src.txt"
    src.write_text("Ein Hund läuft.\n")
    commands = [
        ["trees", "average", *map(str, sample_teachers()[:2]), "-o", out],
        # the model path does not exist: the output check must come first
        ["translate", "--model", str(tmp_path / "no-model"), "--src", "de", "--tgt", "fr", "-i", str(src), "-o", out],
        ["parse", "--model", str(tmp_path / "no-model"), "-i", str(src), "-o", out],
    ]
    for cmd in commands:
        res = _run(*cmd)
        assert res.returncode == 2, (cmd, res.stderr)
        assert f"-o {out}: " in res.stderr and expected in res.stderr, res.stderr
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_parse_input_and_batch_size(tmp_path):
    res = _run("parse", "--model", str(tmp_path), "-i", str(tmp_path))
    assert res.returncode == 2 and f"-i {tmp_path}: is a directory" in res.stderr
    src = tmp_path / "s.txt"
    src.write_text("a b\n")
    res = _run("parse", "--model", str(tmp_path), "-i", str(src), "--batch-size", "0")
    assert res.returncode == 2 and "--batch-size 0: expected a positive number" in res.stderr


def test_trees_f1_with_nothing_to_score(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("(X a)\n(X b)\n")
    res = _run("trees", "f1", "--gold", str(one), "--pred", str(one))
    assert res.returncode == 2 and "nothing to score: all 2 sentence pairs" in res.stderr
    assert "nan" not in res.stdout and "100.00" not in res.stdout


def test_broken_model_directories_are_named(tmp_path):
    import json

    from tests.decoding.tiny_models import tiny

    good = tiny("m2m100").save(tmp_path / "good")
    src = tmp_path / "src.txt"
    src.write_text("Ein Hund.\n")

    def variant(name, edit):
        import shutil

        d = tmp_path / name
        shutil.copytree(good, d)
        edit(d)
        return d

    weights = "model.safetensors"
    cases = {
        "config only": (variant("cfg", lambda d: [p.unlink() for p in d.iterdir() if p.name != "config.json"]),
                        "no weights"),
        "invalid json": (variant("json", lambda d: (d / "config.json").write_text("{oops")), "not valid JSON"),
        "no weights": (variant("now", lambda d: (d / weights).unlink()), "no weights"),
        "truncated": (variant("trunc", lambda d: (d / weights).write_bytes((d / weights).read_bytes()[:300])),
                      "the weights cannot be loaded"),
        "parser dir": (variant("parser", lambda d: (d / "config.json").write_text(json.dumps({"architecture": "x", "parser": {}}))),
                       "use `ensemblekd parse`"),
        "bad tokenizer": (variant("tok", lambda d: [p.unlink() for p in d.iterdir()
                                                    if p.name not in ("config.json", weights, "generation_config.json")]),
                          "no usable tokenizer"),
    }
    for name, (d, message) in cases.items():
        res = _run("translate", "--model", str(d), "--src", "de", "--tgt", "fr", "-i", str(src), "--quiet")
        assert res.returncode == 2, (name, res.stderr)
        assert message in res.stderr and str(d) in res.stderr, (name, res.stderr)
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, (name, res.stderr)


def test_invalid_device_string(tmp_path):
    from tests.decoding.tiny_models import tiny

    good = tiny("m2m100").save(tmp_path / "good")
    src = tmp_path / "src.txt"
    src.write_text("Ein Hund.\n")
    res = _run("translate", "--model", str(good), "--src", "de", "--tgt", "fr", "-i", str(src), "--device", "gpu0")
    assert res.returncode == 2 and "--device" in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_parser_commands(tmp_path):
    trees = tmp_path / "t.txt"
    trees.write_text("(X (X a) (X b))\n\n(X (X c) (X (X d) (X e)))\n")
    res = _run("distill", "parser", "--trees", str(trees), "-o", str(tmp_path / "missing" / "p"))
    assert res.returncode == 2 and "does not exist" in res.stderr and "Traceback" not in res.stderr
    res = _run("distill", "parser", "--trees", str(trees), "-o", str(trees))
    assert res.returncode == 2 and "not a directory" in res.stderr
    res = _run("distill", "parser", "--trees", str(trees), "-o", str(tmp_path / "p"), "--epochs", "1")
    assert res.returncode == 2 and f"{trees}:2: empty line" in res.stderr and "--keep-empty" in res.stderr
    res = _run("distill", "parser", "--trees", str(trees), "-o", str(tmp_path / "p"), "--epochs", "1",
               "--keep-empty", "--dev-fraction", "0", "--hidden", "8", "--word-dim", "8", "--mlp", "8", "-q")
    assert res.returncode == 0, res.stderr
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"a b\n\xff c\n")
    res = _run("parse", "--model", str(tmp_path / "p"), "-i", str(bad))
    assert res.returncode == 2 and f"{bad}:2: not valid UTF-8" in res.stderr and "Traceback" not in res.stderr


def test_parse_shows_a_progress_bar_unless_quiet(tmp_path):
    trees = tmp_path / "t.txt"
    trees.write_text("(X (X a) (X b))\n(X (X c) (X (X d) (X e)))\n")
    model = tmp_path / "p"
    res = _run("distill", "parser", "--trees", str(trees), "-o", str(model), "--epochs", "1", "--dev-fraction", "0",
               "--hidden", "8", "--word-dim", "8", "--mlp", "8", "-q")
    assert res.returncode == 0, res.stderr
    res = _run("parse", "--model", str(model), "-i", str(trees))
    assert res.returncode == 0 and "parse (viterbi)" in res.stderr and res.stdout.count("\n") == 2
    res = _run("parse", "--model", str(model), "-i", str(trees), "-q")
    assert res.returncode == 0 and res.stderr == ""


def test_translate_arguments_are_checked_before_the_weights_load(tmp_path):
    """A truncated weights file would fail to load: the argument error must come first."""
    import shutil

    from tests.decoding.tiny_models import tiny

    d = tmp_path / "m"
    shutil.copytree(tiny("m2m100").save(tmp_path / "good"), d)
    (d / "model.safetensors").write_bytes(b"\0" * 100)
    src = tmp_path / "src.txt"
    src.write_text("Ein Hund.\n")
    for args, message in [(["--tgt", "xx"], "tgt_lang='xx' is not a language code"),
                          (["--tgt", "fr", "--pivots", "fr"], "equals the target language"),
                          (["--tgt", "fr", "--pivots", "en", "--weights", "1"], "weights has 1 entries")]:
        res = _run("translate", "--model", str(d), "--src", "de", "-i", str(src), "--quiet", *args)
        assert res.returncode == 2 and message in res.stderr, res.stderr
    res = _run("translate", "--model", str(d), "--src", "de", "--tgt", "fr", "-i", str(src), "--quiet")
    assert res.returncode == 2 and "the weights cannot be loaded" in res.stderr


@pytest.mark.parametrize("flags,message", [
    (["--loss", "gkd", "--gkd-lambda", "2"], "--gkd-lambda 2.0: expected a number in [0, 1]"),
    (["--loss", "skl", "--skew-alpha", "-0.5"], "--skew-alpha -0.5: expected a number in [0, 1]"),
    (["--loss", "llmr", "--llmr-scale", "0"], "--llmr-scale 0.0: expected a number > 0"),
    (["--loss", "gkd", "--kd-top-p", "0"], "--kd-top-p 0.0: expected a number in (0, 1]"),
])
def test_distill_mt_loss_options_checked_before_any_work(tmp_path, flags, message):
    src = tmp_path / "s.de"
    src.write_text("Ein Hund.\n")
    res = _run("distill", "mt", "--model", str(tmp_path / "no-model"), "--src", "de", "--tgt", "fr", "--pivots", "en",
               "--sources", str(src), "--out", str(tmp_path / "o"), *flags)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
