"""``ensemblekd translate --model A --model B``: an ensemble of saved models, loaded once each, refused when
they differ (before the weights load)."""
from __future__ import annotations

import json

import pytest

from ensemblekd.cli import main
from ensemblekd.decoding import cli as translate_cli
from ensemblekd.decoding.api import translate
from ensemblekd.decoding.cli import load

from .test_multimodel import perturbed
from .tiny_models import tiny

LINES = ["Ein Hund läuft im Park.", "", "Zwei Kinder sitzen auf einer Bank.", "Eine Katze schläft."]
ARGS = ["--src", "de", "--tgt", "fr", "--pivots", "en", "--beam", "3", "--max-new-tokens", "8", "--quiet"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Two different models of one tokenizer and vocabulary, and a model of another tokenizer."""
    t = tiny("ekd_src")
    a = t.save(tmp_path_factory.mktemp("a"))
    other = perturbed(t.model, 5, scale=1.0)
    b = tmp_path_factory.mktemp("b")
    other.save_pretrained(b)
    t.tokenizer.save_pretrained(b)
    return {"a": a, "b": b, "nllb": tiny("nllb").save(tmp_path_factory.mktemp("nllb"))}


def test_two_models_equal_the_library_call_and_load_once(saved, tmp_path, monkeypatch):
    inp, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    loads = []
    real = translate_cli.load
    monkeypatch.setattr(translate_cli, "load", lambda path, *a, **kw: loads.append(path) or real(path, *a, **kw))
    rc = main(["translate", "--model", str(saved["a"]), "--model", str(saved["b"]), "--model", str(saved["a"]),
               *ARGS, "--method", "ebbs", "--weights", "1", "2", "1", "0.5", "2", "1", "--provenance",
               "-i", str(inp), "-o", str(out)])
    assert rc == 0 and loads == [str(saved["a"]), str(saved["b"])]       # A named twice, loaded once
    objs = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    (ma, tok), (mb, _) = load(saved["a"]), load(saved["b"])
    ref = translate([ma, mb, ma], tok, LINES, src_lang="de", tgt_lang="fr", pivots=["en"], method="ebbs",
                    beam_size=3, max_new_tokens=8, weights=[1, 2, 1, 0.5, 2, 1], progress=False)
    assert [o["text"] for o in objs] == [r.text for r in ref]
    assert [(c["model"], c["name"]) for c in objs[0]["components"]] == [
        (str(saved[m]), p) for m in ("a", "b", "a") for p in ("direct", "pivot:en")]
    alone = translate(ma, tok, LINES, src_lang="de", tgt_lang="fr", pivots=["en"], method="ebbs", beam_size=3,
                      max_new_tokens=8, progress=False)
    # model B counts (saved models lack the test hook that makes EOS compete: compare scores too)
    assert [(r.token_ids, round(r.score, 3)) for r in ref] != [(r.token_ids, round(r.score, 3)) for r in alone]


def test_ebbs_of_two_models_without_pivots_is_an_ensemble(saved, tmp_path, capsys):
    inp = tmp_path / "in.txt"
    inp.write_text("Ein Hund.\n", encoding="utf-8")
    base = ["translate", "--src", "de", "--tgt", "fr", "--beam", "2", "--max-new-tokens", "6", "--quiet", "-i", str(inp)]
    assert main([*base, "--model", str(saved["a"]), "--model", str(saved["b"])]) == 0
    assert "equals --method direct" not in capsys.readouterr().err       # two models: K = 2
    assert main([*base, "--model", str(saved["a"]), "--model", str(saved["a"])]) == 0
    assert "equals --method direct" in capsys.readouterr().err           # one model named twice: K = 1


def test_pivot_model_flag(saved, tmp_path):
    inp, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    assert main(["translate", "--model", str(saved["a"]), "--model", str(saved["b"]), *ARGS, "--method", "average",
                 "--pivot-model", "1", "--provenance", "-i", str(inp), "-o", str(out)]) == 0
    comps = json.loads(out.read_text(encoding="utf-8").splitlines()[0])["components"]
    assert comps[1]["input"] == comps[3]["input"]                        # both read model B's pivot leg


@pytest.mark.parametrize("extra,match", [
    (["--model", "{nllb}"], r"--model: models\[1\] \(.*nllb.*\) and models\[0\] \(.*\) cannot be combined"),
    (["--model", "{b}", "--pivot-model", "2"], r"pivot_model=2: expected a model index in \[0, 2\)"),
    (["--model", "{b}", "--method", "direct", "--pivots"], "method='direct' decodes one path of one model"),
])
def test_errors_before_the_weights_load(saved, tmp_path, monkeypatch, capsys, extra, match):
    monkeypatch.setattr(translate_cli, "load", lambda *a, **kw: pytest.fail("weights loaded before the error"))
    inp = tmp_path / "in.txt"
    inp.write_text("Ein Hund.\n", encoding="utf-8")
    extra = [x.format(**{k: str(v) for k, v in saved.items()}) for x in extra]
    argv = ["translate", "--model", str(saved["a"]), *ARGS, *extra, "-i", str(inp)]
    with pytest.raises(ValueError, match=match):
        translate_cli._run(_parse(argv))
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc != 0 and len([x for x in err.strip().splitlines() if x]) == 1, err


def _parse(argv):
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    translate_cli.register(sub)
    return parser.parse_args(argv)
