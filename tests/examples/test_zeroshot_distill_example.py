"""examples/zeroshot_mt/distill.py end to end on the shipped model and a few embedded lines (no ../shared)."""
from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("py3langid")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "zeroshot_mt"
MODEL = REPO / "models" / "m30k-zeroshot"

LINES = {
    "de": ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Eine Frau singt auf einer Bühne."],
    "fr": ["Un homme fait du vélo.", "Deux chiens jouent dans la neige.", "Une femme chante sur une scène."],
}


@pytest.fixture(scope="module")
def mods():
    sys.path.insert(0, str(EXAMPLE))
    try:
        mods = {name: importlib.import_module(name) for name in ("benchmark", "evaluate")}
        # by path: the name "distill" is also the tests.distill package
        spec = importlib.util.spec_from_file_location("zeroshot_mt_distill", EXAMPLE / "distill.py")
        mods["distill"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mods["distill"])
        yield mods
    finally:
        sys.path.remove(str(EXAMPLE))


@pytest.fixture(scope="module")
def data(write_corpus):
    return write_corpus(LINES, ("train", "test_2016_flickr", "test_2018_flickr"))


def test_selection_key_needs_a_translating_model(mods):
    key = mods["evaluate"].selection_key
    working = {"zs_off_max": 0.08, "supervised_bleu": 29.0, "zs_direct_bleu": 4.0}
    collapsed = {"zs_off_max": 0.0, "supervised_bleu": 2.0, "zs_direct_bleu": 1.0}  # same caption for all
    off_target = {"zs_off_max": 0.15, "supervised_bleu": 29.0, "zs_direct_bleu": 5.0}
    assert key(working) > key(off_target) > key(collapsed)


def test_distill_example_trains_evaluates_and_reuses_benchmark_outputs(mods, data, tmp_path):
    distill, benchmark = mods["distill"], mods["benchmark"]
    planted = tmp_path / "bench"
    planted.mkdir()
    good = benchmark.output_settings(MODEL, 2, 1.0, True)
    sha = benchmark.lines_digest(LINES["de"][:2])
    # a matching benchmark record (chunks of 2 lines here) is reused verbatim; one decoded with other settings,
    # or from other source lines, is not
    for start, stop, hyps in ((0, 2, ["planted one", "planted two"]), (2, 3, ["planted three"])):
        (planted / f"test_2016_flickr.de-fr.ebbs.{start}-{stop}.json").write_text(json.dumps(
            {"n": stop - start, "src_sha": benchmark.lines_digest(LINES["de"][start:stop]), "settings": good,
             "seconds": 1.0, "hyps": hyps}))
    (planted / "test_2018_flickr.de-fr.ebbs.0-2.json").write_text(json.dumps(
        {"n": 2, "src_sha": sha, "settings": {**good, "beam": 5}, "seconds": 1.0, "hyps": ["stale"] * 2}))
    (planted / "test_2018_flickr.de-fr.direct.0-2.json").write_text(json.dumps(
        {"n": 2, "src_sha": "0" * 40, "settings": good, "seconds": 1.0, "hyps": ["stale"] * 2}))
    out = tmp_path / "run"
    common = ["--model", str(MODEL), "--data", str(data), "--out", str(out), "--directions", "de-fr",
              "--train-lines", "3", "--max-steps", "1", "--beam", "2", "--max-new-tokens", "12",
              "--restrict-vocab", "--reuse-outputs", str(planted), "--reuse-chunk-lines", "2", "--threads", "1", "--quiet"]
    assert distill.main(common + ["--students", "self", "--no-eval"]) == {}
    assert (out / "student-self" / "student" / "config.json").is_file()
    assert not (out / "eval").exists()
    results = distill.main(common + ["--students", "self"])  # the finished student is reused, then evaluated
    assert set(results) == {"base-direct", "ebbs", "self-distilled"}
    cell = results["self-distilled"]["test_2018_flickr"]["de-fr"]
    assert set(cell) == {"bleu", "chrf", "off_target"} and 0 <= cell["off_target"] <= 100
    assert (out / "eval" / "ebbs.test_2016_flickr.de-fr.txt").read_text().startswith("planted one\n")
    assert (out / "eval" / "ebbs.test_2016_flickr.de-fr.txt").read_text().endswith("planted three\n")
    assert "stale" not in (out / "eval" / "ebbs.test_2018_flickr.de-fr.txt").read_text()
    assert "stale" not in (out / "eval" / "base-direct.test_2018_flickr.de-fr.txt").read_text()
    table = (out / "results.md").read_text()
    assert "| self-distilled |" in table and "restricted target vocabulary" in table
    with pytest.raises(SystemExit, match="other settings|decoded with"):  # cached outputs of other settings
        distill.main(common + ["--students", "self", "--test-lines", "2"])
    # the student decodes under the same vocabulary restriction (its folder carries the vocabulary)
    assert (out / "student-self" / "student" / "ensemblekd_target_vocab.json").is_file()
