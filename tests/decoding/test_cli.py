"""``ensemblekd translate``: round trips with tiny saved models, alignment, progress and errors."""
from __future__ import annotations

import io
import sys

import pytest
import torch

from ensemblekd.cli import main
from ensemblekd.decoding.api import translate
from ensemblekd.decoding.cli import load, read_lines

from .tiny_models import tiny

LINES = ["Ein Hund läuft im Park.", "", "Zwei Kinder sitzen auf einer Bank.", "  ", "Eine Katze schläft."]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Tiny models saved with save_pretrained: {family: path}."""
    return {f: tiny(f).save(tmp_path_factory.mktemp(f)) for f in ("m2m100", "ekd_src", "gpt2")}


def _stdin(monkeypatch, text: str):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8"))


@pytest.mark.parametrize("family,src,tgt,pivots", [("m2m100", "de", "fr", ["en", "cs"]),
                                                   ("ekd_src", "de", "fr", ["en"]),
                                                   ("gpt2", "de", "fr", ["en"])])
def test_file_round_trip_equals_the_library_call(saved, tmp_path, family, src, tgt, pivots):
    inp, out = tmp_path / "in.txt", tmp_path / "out.txt"
    inp.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    rc = main(["translate", "--model", str(saved[family]), "--src", src, "--tgt", tgt, "--pivots", *pivots,
               "--method", "ebbs", "--beam", "3", "--max-new-tokens", "8", "--batch-size", "2",
               "-i", str(inp), "-o", str(out), "--quiet"])
    assert rc == 0
    got = out.read_text(encoding="utf-8").split("\n")
    assert got[-1] == "" and len(got) - 1 == len(LINES)
    model, tok = load(saved[family])
    ref = translate(model, tok, LINES, src_lang=src, tgt_lang=tgt, pivots=pivots, method="ebbs", beam_size=3,
                    max_new_tokens=8, progress=False)
    assert got[:-1] == [r.text.replace("\n", " ") for r in ref]
    assert got[1] == "" and got[3] == ""


def test_stdin_stdout_progress_and_crlf(saved, monkeypatch, capsys):
    _stdin(monkeypatch, "Ein Hund.\r\n\r\nEine Katze.")     # CRLF, an empty line, no final newline
    rc = main(["translate", "--model", str(saved["m2m100"]), "--src", "de", "--tgt", "fr", "--method", "direct",
               "--beam", "2", "--max-new-tokens", "6"])
    cap = capsys.readouterr()
    assert rc == 0
    lines = cap.out.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""
    assert "translate (direct)" in cap.err                  # tqdm on stderr
    _stdin(monkeypatch, "Ein Hund.\n")
    assert main(["translate", "--model", str(saved["m2m100"]), "--src", "de", "--tgt", "fr", "--method",
                 "direct", "--beam", "2", "--max-new-tokens", "6", "--quiet"]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and cap.out.count("\n") == 1


def test_empty_input_gives_empty_output(saved, monkeypatch, capsys):
    _stdin(monkeypatch, "")
    assert main(["translate", "--model", str(saved["m2m100"]), "--src", "de", "--tgt", "fr", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("args,match", [
    (["--src", "de", "--tgt", "xx"], "tgt_lang='xx' is not a language code .* known codes: "),
    (["--src", "de", "--tgt", "fr", "--pivots", "fr"], "equals the target language"),
    (["--src", "de", "--tgt", "fr", "--beam", "0"], "--beam 0: expected a positive integer"),
    (["--src", "de", "--tgt", "fr", "--pivots", "en", "--weights", "1"], "weights has 1 entries"),
])
def test_errors_exit_2_with_a_message(saved, monkeypatch, capsys, args, match):
    import re

    _stdin(monkeypatch, "Ein Hund.\n")
    assert main(["translate", "--model", str(saved["m2m100"]), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ensemblekd: error: ") and re.search(match, err), err


def test_missing_model_and_input(tmp_path, capsys):
    assert main(["translate", "--model", str(tmp_path), "--src", "de", "--tgt", "fr", "-i", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "in.txt").write_text("x\n")
    assert main(["translate", "--model", str(tmp_path / "nope"), "--src", "de", "--tgt", "fr",
                 "-i", str(tmp_path / "in.txt")]) == 2
    assert "no config.json" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu(saved, monkeypatch, capsys):
    _stdin(monkeypatch, "Ein Hund.\n")
    assert main(["translate", "--model", str(saved["m2m100"]), "--src", "de", "--tgt", "fr",
                 "--device", "cuda", "--quiet"]) == 2
    assert "no CUDA GPU is available" in capsys.readouterr().err


def test_read_lines_splits_on_newline_only(tmp_path):
    p = tmp_path / "x.txt"
    p.write_bytes("a\u2028b\n\nc\r\n".encode("utf-8"))
    assert read_lines(p) == ["a\u2028b", "", "c"]
    p.write_bytes(b"ok\n\xff\n")
    with pytest.raises(ValueError, match="line 2: not valid UTF-8"):
        read_lines(p)


def _translate_cmd(saved, inp, out, *extra):
    return ["translate", "--model", str(saved["m2m100"]), "--src", "de", "--tgt", "fr", "--pivots", "en",
            "--beam", "2", "--max-new-tokens", "6", "-i", str(inp), "-o", str(out), "--quiet", *extra]


def test_windows_stream_in_order_and_ctrl_c_keeps_finished_lines(saved, tmp_path, monkeypatch, capsys):
    import ensemblekd.decoding.api as api

    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(LINES * 2) + "\n", encoding="utf-8")
    whole = tmp_path / "whole.txt"
    assert main(_translate_cmd(saved, inp, whole)) == 0
    windowed = tmp_path / "windowed.txt"
    assert main(_translate_cmd(saved, inp, windowed, "--window", "3")) == 0
    assert windowed.read_text() == whole.read_text() and whole.read_text().count("\n") == 2 * len(LINES)

    real, calls = api.translate, []

    def interrupted(*a, **k):  # Ctrl-C while the third window decodes
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(api, "translate", interrupted)
    out = tmp_path / "out.txt"
    assert main(_translate_cmd(saved, inp, out, "--window", "3")) == 130
    err = capsys.readouterr().err
    partial = tmp_path / "out.txt.partial"
    assert "interrupted: 6 of 10 lines are in" in err and "--resume" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and partial.read_text().splitlines() == whole.read_text().splitlines()[:6]
    monkeypatch.setattr(api, "translate", real)
    assert main(_translate_cmd(saved, inp, out, "--window", "3")) == 2  # no --resume: refused, nothing lost
    assert "--resume" in capsys.readouterr().err and partial.exists()
    with open(partial, "a", encoding="utf-8") as f:
        f.write("a cut-off li")  # a kill in the middle of a write
    assert main(_translate_cmd(saved, inp, out, "--window", "3", "--resume")) == 0
    assert out.read_text() == whole.read_text() and not partial.exists()


def test_ebbs_without_pivots_warns(saved, monkeypatch, capsys):
    _stdin(monkeypatch, "Ein Hund.\n")
    assert main(["translate", "--model", str(saved["m2m100"]), "--src", "de", "--tgt", "fr", "--beam", "2",
                 "--max-new-tokens", "4", "--quiet"]) == 0
    assert "without --pivots has one component" in capsys.readouterr().err


def test_nbest_and_provenance_lines(saved, tmp_path):
    import json

    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = tmp_path / "out.txt"
    assert main(_translate_cmd(saved, inp, out, "--nbest", "2")) == 0
    model, tok = load(saved["m2m100"])
    ref = translate(model, tok, LINES, src_lang="de", tgt_lang="fr", pivots=["en"], beam_size=2, max_new_tokens=6,
                    num_return=2, progress=False)
    rows = out.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(rows) == len(LINES)
    for row, r, src in zip(rows, ref, LINES):
        if src.strip():
            assert row.split("\t") == [h.text for h in r.nbest]
    assert main(_translate_cmd(saved, inp, out, "--provenance")) == 0
    objs = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [o["text"] for o in objs] == [r.nbest[0].text if r.nbest else r.text for r in ref]
    assert [c["name"] for c in objs[0]["components"]] == ["direct", "pivot:en"]
    assert objs[0]["components"][0]["input"] == LINES[0]
    assert len(objs[0]["provenance"]) == len(objs[0]["token_ids"])
