"""examples/zeroshot_mt/teachers.py + distill.py end to end on the shipped model and a few lines (no ../shared)."""
from __future__ import annotations

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
    # by path: the name "distill" is also the tests.distill package
    spec = importlib.util.spec_from_file_location(f"zeroshot_mt_{name}", EXAMPLE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def mods():
    return {name: _load(name) for name in ("distill", "teachers")}


@pytest.fixture(scope="module")
def data(write_corpus):
    return write_corpus(LINES, ("train", "test_2016_flickr"))


def test_selection_key_needs_a_translating_model():
    from ensemblekd.testbed import selection_key as key

    working = {"zs_off_max": 0.08, "supervised_bleu": 29.0, "zs_direct_bleu": 4.0}
    collapsed = {"zs_off_max": 0.0, "supervised_bleu": 2.0, "zs_direct_bleu": 1.0}  # same caption for all
    off_target = {"zs_off_max": 0.15, "supervised_bleu": 29.0, "zs_direct_bleu": 5.0}
    assert key(working) > key(off_target) > key(collapsed)


def test_teachers_then_students_end_to_end(mods, data, tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding.api import translate

    teachers, distill = mods["teachers"], mods["distill"]
    tdir = tmp_path / "teachers"
    teachers.main(["--model", str(MODEL), "--data", str(data), "--out", str(tdir), "--lines", "2", "--shard-size", "2",
                   "--beam", "2", "--max-new-tokens", "12", "--quiet"])
    rec = [json.loads(x) for x in (tdir / "de" / "shard-00000.jsonl").read_text().splitlines()]
    assert len(rec) == 2 and set(rec[0]) == {"legs", "fr", "cs"} and not (tdir / "de" / "shard-00001.jsonl").exists()
    # the shared legs are exactly what translate() gives: EBBS over given pivots == EBBS decoding its own legs
    model, tok = AutoModelForSeq2SeqLM.from_pretrained(MODEL).eval(), AutoTokenizer.from_pretrained(MODEL)
    kw = dict(beam_size=2, max_new_tokens=12, restrict_vocab=True, progress=False)
    ebbs = translate(model, tok, LINES["de"][:2], src_lang="de", tgt_lang="fr", pivots=["en", "cs"], method="ebbs", **kw)
    assert [r["fr"]["ebbs3"] for r in rec] == [r.text for r in ebbs]
    assert [r["legs"]["fr"] for r in rec] == [r.text for r in translate(
        model, tok, LINES["de"][:2], src_lang="de", tgt_lang="fr", method="direct", **kw)]

    bench = tmp_path / "benchmark.json"
    bench.write_text(json.dumps([{"split": "test_2016_flickr", "src": s, "tgt": t, "method": "direct", "bleu": 12.5,
                                  "chrf": 30.0, "off_target": 0.0, "seconds": 1.0}
                                 for s, t in (d.split("-") for d in distill.ZERO_SHOT)]))
    out = tmp_path / "run"
    common = ["--model", str(MODEL), "--data", str(data), "--teachers", str(tdir), "--out", str(out),
              "--lines", "2", "--max-steps", "1", "--beam", "2", "--eval-sets", "test_2016_flickr",
              "--benchmark", str(bench), "--base", "direct", "ebbs2", "--quiet"]
    distill.main(common + ["--students", "self", "ebbs3-kl", "union"])
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"base-direct", "base-ebbs2", "student-self", "student-ebbs3-kl", "student-union"}
    assert results["base-direct"]["test_2016_flickr"]["de-fr"]["bleu"] == 12.5          # from the benchmark
    assert results["base-ebbs2"]["test_2016_flickr"]["de-fr"]["source"] == "this run"
    info = json.loads((out / "union" / "student" / "ensemblekd_student.json").read_text())
    assert info["pairs"] == 3 * 2 * 6 and info["steps"] == 1            # 3 targets x 2 lines x 6 directions
    assert (out / "self" / "student" / "ensemblekd_target_vocab.json").is_file()
    table = (out / "results.md").read_text()
    assert "| student-ebbs3-kl |" in table and "| base-direct |" in table
    weights = out / "self" / "student" / "model.safetensors"
    mtime = weights.stat().st_mtime_ns
    distill.main(common + ["--students", "self"])                        # finished work is reused
    assert weights.stat().st_mtime_ns == mtime
    with pytest.raises(SystemExit, match="not decoded yet"):
        distill.main([*common[:-1], "--quiet", "--lines", "3", "--out", str(tmp_path / "more"), "--students", "self"])


def test_second_round_teachers_and_student_ebbs(mods, data, tmp_path):
    """--direct-model M with M = the base model gives the first round's EBBS-2 outputs (only the direct
    component changes model); --outputs keeps a subset and a student needing another output is refused by name;
    distill.py --student-ebbs evaluates EBBS over [student direct, base pivot en]."""
    teachers, distill = mods["teachers"], mods["distill"]
    base = ["--model", str(MODEL), "--data", str(data), "--lines", "2", "--shard-size", "2", "--beam", "2",
            "--max-new-tokens", "12", "--quiet"]
    teachers.main(base + ["--out", str(tmp_path / "r1"), "--outputs", "ebbs2"])
    teachers.main(base + ["--out", str(tmp_path / "r2"), "--outputs", "ebbs2", "--direct-model", str(MODEL)])
    for s in ("de", "fr", "cs"):
        r1, r2 = ([json.loads(x) for x in (tmp_path / r / s / "shard-00000.jsonl").read_text().splitlines()]
                  for r in ("r1", "r2"))
        assert r1 == r2 and set(r1[0]["fr" if s != "fr" else "de"]) == {"ebbs2"}
    m2 = json.loads((tmp_path / "r2" / "de" / "manifest.json").read_text())["config"]
    assert m2["outputs"] == ["ebbs2"] and len(m2["direct_model_sha256"]) == 64
    out = tmp_path / "run"
    common = ["--model", str(MODEL), "--data", str(data), "--teachers", str(tmp_path / "r2"), "--out", str(out),
              "--lines", "2", "--max-steps", "1", "--beam", "2", "--eval-sets", "test_2016_flickr", "--base",
              "ebbs2", "--timing-lines", "0", "--quiet"]
    with pytest.raises(SystemExit, match="no pivot_en outputs"):
        distill.main(common + ["--students", "pivot_en"])
    distill.main(common + ["--students", "ebbs2", "--student-ebbs"])
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"base-ebbs2", "student-ebbs2", "ebbs2+student-ebbs2"}
    hyps = (out / "eval" / "ebbs2+student-ebbs2.test_2016_flickr.de-fr.txt").read_text().splitlines()
    assert len(hyps) == 3 and all(hyps)
    # a cached evaluation of another length is decoded again (it once failed: 3 outputs for 2 references)
    distill.main(common + ["--students", "ebbs2", "--eval-lines", "2"])
    results = json.loads((out / "results.json").read_text())
    assert {results[s]["test_2016_flickr"]["de-fr"]["lines"] for s in ("base-ebbs2", "student-ebbs2")} == {2}
    assert len((out / "eval" / "base-ebbs2.test_2016_flickr.de-fr.txt").read_text().splitlines()) == 2
