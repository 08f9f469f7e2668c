"""`ensemblekd distill mt --teacher-model A --teacher-model B` (issue 13 §1): an ensemble of several teacher
models, the student initialised from a chosen one, and the refusals before any decoding."""
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from ensemblekd.cli import main  # noqa: E402

from .test_pipeline import SOURCES, TM  # noqa: E402




@pytest.fixture(scope="module")
def teachers(tmp_path_factory, sources_path):
    t = TM.tiny("ekd_src")
    a = t.save(tmp_path_factory.mktemp("teacher_a"))
    b = tmp_path_factory.mktemp("teacher_b")
    TM.perturbed(t.model, 7, scale=1.0).save_pretrained(b)
    t.tokenizer.save_pretrained(b)
    return a, b


@pytest.fixture(scope="module")
def sources_path(tmp_path_factory):
    f = tmp_path_factory.mktemp("src") / "train.de"
    f.write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    return f


def cli(sources_path, out, *extra):
    return main(["distill", "mt", "--src", "de", "--tgt", "fr", "--pivots", "en", "--sources", str(sources_path),
                 "--out", str(out), "--beam", "2", "--max-new-tokens", "8", "--shard-size", "4", "--max-tokens",
                 "400", "--quiet", *extra])


def _records(out):
    return [json.loads(x) for p in sorted((out / "decode" / "de-fr").glob("shard-*.jsonl"))
            for x in p.read_text(encoding="utf-8").splitlines()]


def _weights(path):
    from transformers import AutoModelForSeq2SeqLM

    return torch.cat([p.detach().flatten() for p in AutoModelForSeq2SeqLM.from_pretrained(path).parameters()])


def test_two_teachers_ebbs_and_the_student_from_the_second(tmp_path, teachers, sources_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding.api import translate

    a, b = teachers
    out = tmp_path / "run"
    assert cli(sources_path, out, "--teacher-model", str(a), "--teacher-model", str(b), "--student-from", "1",
               "--method", "ebbs", "--max-steps", "1", "--lr", "1e-9") == 0
    ma, mb = (AutoModelForSeq2SeqLM.from_pretrained(p).eval() for p in (a, b))
    tok = AutoTokenizer.from_pretrained(a)
    ref = translate([ma, mb], tok, SOURCES, src_lang="de", tgt_lang="fr", pivots=["en"], method="ebbs",
                    beam_size=2, max_new_tokens=8, progress=False)
    assert [r["targets"] for r in _records(out)] == [[r.text] for r in ref]
    alone = translate(ma, tok, SOURCES, src_lang="de", tgt_lang="fr", pivots=["en"], method="ebbs", beam_size=2,
                      max_new_tokens=8, progress=False)
    assert [(r.token_ids, round(r.score, 3)) for r in ref] != [(r.token_ids, round(r.score, 3)) for r in alone]
    # the student started from teacher 1 (one step at lr 1e-9 leaves it there)
    student = _weights(out / "student")
    assert torch.allclose(student, _weights(b), atol=1e-5) and not torch.allclose(student, _weights(a), atol=1e-2)
    summary = json.loads((out / "student" / "ensemblekd_distill.json").read_text())
    assert summary["teacher_models"] == [str(a), str(b)] and len(summary["teachers_sha256"]) == 2
    # rerunning the same command is the finished run; another teacher set is another configuration
    assert cli(sources_path, out, "--teacher-model", str(a), "--teacher-model", str(b), "--student-from", "1",
               "--method", "ebbs", "--max-steps", "1", "--lr", "1e-9") == 0
    assert cli(sources_path, out, "--teacher-model", str(b), "--teacher-model", str(b), "--student-from", "1",
               "--method", "ebbs", "--max-steps", "1", "--lr", "1e-9") == 2


def test_union_of_two_teachers_has_every_component_of_every_model(tmp_path, teachers, sources_path):
    a, b = teachers
    out = tmp_path / "union"
    assert cli(sources_path, out, "--teacher-model", str(a), "--teacher-model", str(b), "--method", "union",
               "--max-steps", "1") == 0
    recs = _records(out)
    assert all(len(r["targets"]) == 4 for r in recs)      # 2 models x (direct, pivot:en)
    assert any(r["targets"][0] != r["targets"][2] for r in recs if any(r["targets"]))



def test_two_teachers_need_no_pivot_and_the_config_checks_itself(tmp_path, teachers, sources_path):
    from ensemblekd.distill.mt import DistillMTConfig, TrainConfig, distill_mt

    a, b = teachers
    out = tmp_path / "nopivot"
    assert main(["distill", "mt", "--src", "de", "--tgt", "fr", "--sources", str(sources_path), "--out", str(out),
                 "--beam", "2", "--max-new-tokens", "8", "--max-tokens", "400", "--quiet", "--teacher-model", str(a),
                 "--teacher-model", str(b), "--method", "ebbs", "--max-steps", "1"]) == 0
    assert len(_records(out)) == len(SOURCES)
    with pytest.raises(ValueError, match="needs at least one pivot"):
        DistillMTConfig([("de", "fr")], method="ebbs")                      # one model: EBBS needs pivots
    with pytest.raises(ValueError, match="--method direct decodes with one model"):
        DistillMTConfig([("de", "fr")], method="self", num_teachers=2)
    with pytest.raises(ValueError, match="num_teachers=0"):
        DistillMTConfig([("de", "fr")], pivots=["en"], num_teachers=0)
    config = DistillMTConfig([("de", "fr")], pivots=["en"], num_teachers=2, train=TrainConfig(device="cpu"))
    with pytest.raises(ValueError, match="teacher_paths holds 1 models but the config has num_teachers=2"):
        distill_mt(a, {"de": SOURCES}, tmp_path / "x", config, teacher_paths=[b])


def test_pivot_model_reaches_the_ensemble(tmp_path, teachers, sources_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding.api import translate

    a, b = teachers
    out = tmp_path / "legs"
    assert cli(sources_path, out, "--teacher-model", str(a), "--teacher-model", str(b), "--method", "average",
               "--pivot-model", "1", "--max-steps", "1") == 0
    ma, mb = (AutoModelForSeq2SeqLM.from_pretrained(p).eval() for p in (a, b))
    tok = AutoTokenizer.from_pretrained(a)
    kw = dict(src_lang="de", tgt_lang="fr", pivots=["en"], method="average", beam_size=2, max_new_tokens=8,
              progress=False)
    ref = translate([ma, mb], tok, SOURCES, pivot_model=1, **kw)
    assert [r["targets"] for r in _records(out)] == [[r.text] for r in ref]
    own = translate([ma, mb], tok, SOURCES, **kw)                   # each model's own pivot leg: another result
    assert [(r.token_ids, round(r.score, 4)) for r in own] != [(r.token_ids, round(r.score, 4)) for r in ref]


@pytest.mark.parametrize("extra,match", [
    (["--model", "{a}", "--teacher-model", "{b}"], "give --model .* or --teacher-model .*, not both"),
    (["--teacher-model", "{a}", "--teacher-model", "{b}", "--student-from", "2"],
     r"--student-from 2: expected an index of --teacher-model in \[0, 2\)"),
    (["--model", "{a}", "--student-from", "1"], "--student-from picks one of several --teacher-model"),
    (["--teacher-model", "{a}", "--teacher-model", "{b}", "--method", "direct"],
     "--method direct decodes with one model; 2 --teacher-model need an ensemble method"),
    (["--teacher-model", "{a}", "--teacher-model", "{b}", "--loss", "kl"],
     "--loss kl takes one white-box teacher model"),
    (["--teacher-model", "{a}", "--teacher-model", "{nllb}"],
     r"--teacher-model: models\[2\] \(.*nllb.*\) and the student's init \(.*\) cannot be combined"),
    ([], "give --model DIR, or --teacher-model DIR"),
    (["--teacher-model", "{a}", "--teacher-model", "{b}", "--pivot-model", "2"],
     r"--pivot-model 2: expected an index of --teacher-model in \[0, 2\)"),
    (["--teacher-model", "{a}", "--teacher-model", "{b}", "--tgt", "xx"], "'xx' is not a language code"),
])
def test_errors_before_any_decoding(tmp_path, teachers, sources_path, capsys, monkeypatch, extra, match):
    import re

    from ensemblekd.distill.mt import pipeline

    monkeypatch.setattr(pipeline, "decode_all", lambda *a, **kw: pytest.fail("decoded before the error"))
    paths = {"a": teachers[0], "b": teachers[1]}
    if any("{nllb}" in x for x in extra):
        paths["nllb"] = TM.tiny("nllb").save(tmp_path / "nllb")
        capsys.readouterr()                                     # the save's progress bar
    extra = [x.format(**{k: str(v) for k, v in paths.items()}) for x in extra]
    assert cli(sources_path, tmp_path / "out", *extra) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1 and re.search(match, err[0]), err
