"""examples/zeroshot_mt/benchmark.py and ebbs_variants.py on the shipped model and three lines (no ../shared):
every table row is what translate() gives, the chunk cache is reused, and a missing matplotlib only skips
the chart."""
from __future__ import annotations

import builtins
import importlib.util
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("py3langid")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "zeroshot_mt"
MODEL = REPO / "models" / "m30k-zeroshot"
LINES = {
    "en": ["A man rides a bike.", "Two dogs play in the snow.", "A woman sings on a stage."],
    "de": ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Eine Frau singt auf einer Bühne."],
    "fr": ["Un homme fait du vélo.", "Deux chiens jouent dans la neige.", "Une femme chante sur une scène."],
    "cs": ["Muž jede na kole.", "Dva psi si hrají ve sněhu.", "Žena zpívá na pódiu."],
}


def _load(name):
    spec = importlib.util.spec_from_file_location(f"zeroshot_mt_{name}", EXAMPLE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def data(write_corpus):
    if not (MODEL / "config.json").is_file():
        pytest.skip("no shipped model")
    return write_corpus(LINES, ("val", "test_2016_flickr"))


@pytest.fixture(scope="module")
def model():
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    return AutoModelForSeq2SeqLM.from_pretrained(MODEL).eval(), AutoTokenizer.from_pretrained(MODEL)


def test_benchmark_rows_equal_translate_and_chart_is_optional(data, model, tmp_path, monkeypatch, capsys):
    import sacrebleu

    from ensemblekd.decoding.api import translate

    bench = _load("benchmark")
    real_import = builtins.__import__

    def no_matplotlib(name, *a, **kw):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out = tmp_path / "bench"
    args = ["--model", str(MODEL), "--data", str(data), "--splits", "test_2016_flickr", "--out", str(out),
            "--limit", "3", "--beam", "2", "--chunk-lines", "2", "--restrict-vocab", "--quiet",
            "--methods", "direct", "pivot_en", "average", "ebbs"]
    rows = bench.main(args)
    assert "matplotlib is not installed" in capsys.readouterr().err
    assert (out / "benchmark.md").is_file() and not (out / "benchmark.png").exists()
    assert len(rows) == 6 + 6 * 4
    m, tok = model
    for method, kw in (("ebbs", dict(method="ebbs", pivots=("en", "cs"))), ("average", dict(method="average",
                                                                                         pivots=("en", "cs")))):
        want = translate(m, tok, LINES["de"], src_lang="de", tgt_lang="fr", beam_size=2, restrict_vocab=True,
                         progress=False, **kw)
        row = next(r for r in rows if (r["src"], r["tgt"], r["method"]) == ("de", "fr", method))
        assert row["bleu"] == pytest.approx(sacrebleu.corpus_bleu([r.text for r in want], [LINES["fr"]]).score)
    chunks = sorted(p.name for p in (out / "outputs").iterdir())
    assert "test_2016_flickr.de-fr.direct.0-2.json" in chunks and "test_2016_flickr.de-fr.direct.2-3.json" in chunks
    stamp = {p: p.stat().st_mtime_ns for p in (out / "outputs").iterdir()}
    again = bench.main(args)                                  # everything comes from the cache
    assert [r["bleu"] for r in again] == [r["bleu"] for r in rows]
    assert {p: p.stat().st_mtime_ns for p in (out / "outputs").iterdir()} == stamp
    assert json.loads((out / "benchmark.json").read_text())[0]["method"] == "direct"


def test_ebbs_variants_runs_and_its_scores_are_the_outputs_bleu(data, model, tmp_path):
    import sacrebleu

    from ensemblekd.decoding.api import translate

    variants = _load("ebbs_variants")
    out = tmp_path / "variants"
    scores = variants.main(["--model", str(MODEL), "--data", str(data), "--limit", "3", "--beam", "2", "--out",
                            str(out), "--variants", "ebbs: direct+en", "average: direct+en", "--quiet"])
    assert set(scores) == {"direct", "pivot en", "pivot third", "ebbs: direct+en", "average: direct+en"}
    assert all(len(v) == 6 for v in scores.values())
    m, tok = model
    want = translate(m, tok, LINES["de"], src_lang="de", tgt_lang="fr", pivots=("en",), method="average",
                     beam_size=2, progress=False)
    assert scores["average: direct+en"][0] == pytest.approx(
        sacrebleu.corpus_bleu([r.text for r in want], [LINES["fr"]]).score)
    assert (out / "variants.val3.lp1.0.z2.md").is_file()
