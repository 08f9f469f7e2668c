"""Target vocabularies: built from text (== the set of token ids, by brute force), saved / loaded / validated,
accepted by translate() as True / a table / a path, and `ensemblekd vocab build` end to end."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ensemblekd.decoding.api import TranslateError, translate
from ensemblekd.decoding.vocab import (FILE_NAME, TargetVocabError, build_target_vocab, load_target_vocab,
                                       save_target_vocab)

from .tiny_models import tiny

FR = ["Un chien court dans le parc.", "", "Deux enfants sont assis sur un banc."]
DE = ["Ein Hund läuft im Park.", "Eine Katze schläft."]


def test_build_equals_the_set_of_token_ids():
    t = tiny("ekd_src")
    table = build_target_vocab(t.tokenizer, {"fr": iter(FR), "de": DE}, chunk=1)
    for lang, lines in (("fr", FR), ("de", DE)):
        want = sorted({i for x in lines if x.strip() for i in t.tokenizer(x)["input_ids"]})
        assert table[lang] == want
    assert t.tokenizer.eos_token_id in table["fr"]
    assert set(table["fr"]) != set(table["de"])
    with pytest.raises(TargetVocabError, match="'cs': no text"):
        build_target_vocab(t.tokenizer, {"cs": ["", "  "]})


def test_save_load_and_validation(tmp_path):
    path = save_target_vocab({"fr": [5, 3, 3], "de": (1,)}, tmp_path)
    assert path == tmp_path / FILE_NAME and json.loads(path.read_text()) == {"fr": [3, 5], "de": [1]}
    assert load_target_vocab(tmp_path)[0] == load_target_vocab(path)[0] == {"fr": [3, 5], "de": [1]}
    bad = tmp_path / "bad.json"
    for content, message in (("[1, 2]", "expected a JSON object"), ("{", "not a JSON table"),
                             ('{"fr": []}', "'fr' has an empty vocabulary"), ('{"fr": "abc"}', "list of ids"),
                             ('{"fr": [1, "x"]}', "'x' is not a token id"), ('{"fr": [-1]}', "outside")):
        bad.write_text(content)
        with pytest.raises(TargetVocabError, match=message):
            load_target_vocab(bad)
    with pytest.raises(TargetVocabError, match=r"token id 9 is outside the model's vocabulary \[0, 8\)"):
        load_target_vocab({"fr": [1, 9]}, vocab_size=8)
    with pytest.raises(TargetVocabError, match="does not exist.*ensemblekd vocab build"):
        load_target_vocab(tmp_path / "nowhere.json")


def test_translate_accepts_true_a_table_or_a_path(tmp_path):
    t = tiny("ekd_src")
    t.save(tmp_path / "model")
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    table = build_target_vocab(tok, {"fr": FR[:1]})
    kw = dict(src_lang="de", tgt_lang="fr", beam_size=2, max_new_tokens=6, progress=False)
    free = translate(model, tok, DE, **kw)
    assert any(not set(r.token_ids) <= set(table["fr"]) for r in free)     # not vacuous: it does leave the set
    from_table = translate(model, tok, DE, restrict_vocab=table, **kw)
    assert all(set(r.token_ids) <= set(table["fr"]) for r in from_table)
    file = save_target_vocab(table, tmp_path / "fr.json")
    assert [r.token_ids for r in translate(model, tok, DE, restrict_vocab=str(file), **kw)] == \
        [r.token_ids for r in from_table]
    save_target_vocab(table, tmp_path / "model")
    assert [r.token_ids for r in translate(model, tok, DE, restrict_vocab=True, **kw)] == \
        [r.token_ids for r in from_table]
    with pytest.raises(TranslateError, match="outside the model's vocabulary"):
        translate(model, tok, DE, restrict_vocab={"fr": [10**6]}, **kw)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ensemblekd", *args], capture_output=True, text=True)


def test_vocab_build_cli_and_translate_restrict_vocab_table(tmp_path):
    t = tiny("ekd_src")
    t.save(tmp_path / "model")
    (tmp_path / "fr.txt").write_text("\n".join(FR) + "\n", encoding="utf-8")
    (tmp_path / "de.txt").write_text("\n".join(DE) + "\n", encoding="utf-8")
    out = tmp_path / "table.json"
    res = _cli("vocab", "build", "--tokenizer", str(tmp_path / "model"), "--text", f"fr={tmp_path / 'fr.txt'}",
               "--text", f"de={tmp_path / 'de.txt'}", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert json.loads(out.read_text()) == build_target_vocab(t.tokenizer, {"fr": FR, "de": DE})
    (tmp_path / "src.de").write_text("\n".join(DE) + "\n", encoding="utf-8")
    res = _cli("translate", "--model", str(tmp_path / "model"), "--src", "de", "--tgt", "fr", "--method", "direct",
               "--beam", "2", "--max-new-tokens", "6", "-i", str(tmp_path / "src.de"), "--restrict-vocab", str(out),
               "-q")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == len(DE)
    # errors: one line, before the model loads
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\n")
    for args, message in (
            (["vocab", "build", "--tokenizer", str(tmp_path / "model"), "--text", f"fr={tmp_path / 'bad.txt'}"],
             f"--text {tmp_path / 'bad.txt'}:2: not valid UTF-8"),
            (["vocab", "build", "--tokenizer", str(tmp_path / "model"), "--text", "fr"], "expected LANG=FILE"),
            (["translate", "--model", str(tmp_path / "model"), "--src", "de", "--tgt", "cs", "-i",
              str(tmp_path / "src.de"), "--restrict-vocab", str(out)], "has no vocabulary for 'cs'"),
            (["translate", "--model", str(tmp_path / "model"), "--src", "de", "--tgt", "fr", "-i",
              str(tmp_path / "src.de"), "--restrict-vocab"], f"{FILE_NAME} does not exist")):
        res = _cli(*args)
        assert res.returncode == 2 and message in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
