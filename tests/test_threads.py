"""``--threads N`` on translate, distill (mt, parser), parse and demo: documented default 1, applied before the
model loads, and a bad value is a one-line error naming the flag (issue 12, section 1)."""
import re

import pytest

from ensemblekd import cli, demo

COMMANDS = {
    "translate": ["translate"],
    "distill mt": ["distill", "mt"],
    "distill parser": ["distill", "parser"],
    "parse": ["parse"],
    "demo": ["demo"],
}


def _help(capsys, words):
    with pytest.raises(SystemExit):
        cli.main([*words, "--help"])
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_documents_threads_and_its_default_of_one(capsys, name):
    text = _help(capsys, COMMANDS[name])
    entry = text[text.rindex("--threads THREADS") + len("--threads THREADS"):]  # the options section's entry
    entry = re.split(r" -{1,2}[a-z]", entry)[0]
    assert re.search(r"default:? 1\b", entry), entry
    assert "fast" in entry  # why one thread, not just a number


@pytest.fixture
def recorded(monkeypatch):
    torch = pytest.importorskip("torch")
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    return calls


def _args(name, tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("Ein Hund läuft.\n", encoding="utf-8")
    missing = str(tmp_path / "no-model")
    return {
        "translate": ["translate", "--model", missing, "--src", "de", "--tgt", "fr", "-i", str(src)],
        "distill mt": ["distill", "mt", "--model", missing, "--src", "de", "--tgt", "fr", "--sources", str(src),
                       "--out", str(tmp_path / "out")],
        "distill parser": ["distill", "parser", "--trees", str(src), "-o", str(tmp_path / "student")],
        "parse": ["parse", "--model", missing, "-i", str(src)],
        "demo": ["demo"],
    }[name]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_threads_zero_is_a_one_line_error_before_any_work(name, tmp_path, recorded, capsys, monkeypatch):
    monkeypatch.setattr(demo, "DEMOS", ())
    assert cli.main([*_args(name, tmp_path), "--threads", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ensemblekd: error: --threads 0") and len(err.strip().splitlines()) == 1, err
    assert recorded == []
    assert not (tmp_path / "student").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["translate", "parse", "demo"])
def test_default_and_given_threads_are_set_before_the_model_loads(name, tmp_path, recorded, capsys, monkeypatch):
    monkeypatch.setattr(demo, "DEMOS", ())
    args = _args(name, tmp_path)
    expected = 0 if name == "demo" else 2  # translate/parse: the model folder is missing, named after threads
    assert cli.main(args) == expected
    assert cli.main([*args, "--threads", "2"]) == expected
    assert recorded == [1, 2]
    if name != "demo":
        assert "no-model" in capsys.readouterr().err
