"""The model shipped in models/m30k-zeroshot and the MT part of ``make demo``."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "m30k-zeroshot"


@pytest.fixture(scope="module")
def shipped():
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    import ensemblekd  # noqa: F401  (registers the architecture)

    torch.set_num_threads(1)
    return AutoModelForSeq2SeqLM.from_pretrained(MODEL).eval(), AutoTokenizer.from_pretrained(MODEL)


def test_folder_is_small_and_loads_in_fp32(shipped):
    size = sum(f.stat().st_size for f in MODEL.iterdir() if f.is_file())
    assert size <= 25e6, f"{MODEL}: {size / 1e6:.1f} MB, the budget is 25 MB"
    model, tok = shipped
    assert model.dtype == torch.float32
    assert model.config.ensemblekd_language_scheme == "target_token_in_source"
    assert all(tok.convert_tokens_to_ids(f"__{c}__") != tok.unk_token_id for c in ("en", "de", "fr", "cs"))
    assert (MODEL / "README.md").is_file() and (MODEL / "ensemblekd_target_vocab.json").is_file()


def test_direct_equals_hf_generate_on_the_shipped_model(shipped):
    from ensemblekd import translate
    from ensemblekd.decoding.demo import read_sample

    model, tok = shipped
    sources = read_sample("de")[:4]
    ours = translate(model, tok, sources, src_lang="de", tgt_lang="fr", method="direct", beam_size=5,
                     max_new_tokens=40, progress=False)
    fr = tok.convert_tokens_to_ids("__fr__")
    for src, res in zip(sources, ours):
        ids = torch.tensor([[fr] + tok(src)["input_ids"]])
        out = model.generate(ids, num_beams=5, early_stopping=True, max_new_tokens=40, do_sample=False)[0].tolist()
        out = [t for t in out[1:] if t != model.config.pad_token_id]
        assert list(res.token_ids) == (out[:-1] if out[-1] == model.config.eos_token_id else out)


def test_mt_demo_prints_the_table_and_examples(shipped, capsys):
    import sacrebleu

    from ensemblekd.decoding.demo import METHODS, read_sample, run_demo

    rows = run_demo(quiet=True, limit=6, examples=2)
    out = capsys.readouterr().out
    assert [r["method"] for r in rows] == [label for label, _ in METHODS]
    for r in rows:
        assert r["method"] in out and f"{r['bleu']:5.1f}" in out
    assert "[2] de:" in out and read_sample("de")[1] in out and "[3] de:" not in out
    # the direct row is sacrebleu of the direct translations
    from ensemblekd import translate

    model, tok = shipped
    hyps = [t.text for t in translate(model, tok, read_sample("de")[:6], src_lang="de", tgt_lang="fr",
                                      method="direct", beam_size=5, progress=False)]
    assert rows[0]["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [read_sample("fr")[:6]]).score)
