"""End-to-end `ensemblekd distill mt` on tiny random-init models with tokenizers trained on the fly."""
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from ensemblekd.cli import main  # noqa: E402
from ensemblekd.distill.mt import DistillMTConfig, TrainConfig, distill_mt  # noqa: E402
from ensemblekd.distill.mt.data import collate  # noqa: E402
from ensemblekd.distill.mt.shards import ShardedOutputs  # noqa: E402


def SeqKDConfig(**kw):
    return TrainConfig(**{"device": "cpu", **kw})


def sequence_loss(model, batch):
    """Token-mean cross-entropy on the distilled targets (HF's own labels loss)."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                 decoder_input_ids=batch["decoder_input_ids"], decoder_attention_mask=batch["decoder_attention_mask"],
                 labels=batch["labels"]).loss


def _tiny_models():
    path = Path(__file__).resolve().parents[2] / "decoding" / "tiny_models.py"
    spec = importlib.util.spec_from_file_location("_ekd_tiny_models", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


TM = _tiny_models()
SOURCES = TM.CORPUS["de"][:8] + [""]   # an empty line: empty output, no training pair


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return TM.tiny("ekd_src").save(tmp_path_factory.mktemp("ekd_src"))


@pytest.fixture(scope="module")
def sources_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("src") / "train.de"
    f.write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    return f


def cli(model_dir, sources_file, out, *extra):
    return main(["distill", "mt", "--model", str(model_dir), "--src", "de", "--tgt", "fr", "--pivots", "en", "cs",
                 "--sources", str(sources_file), "--out", str(out), "--beam", "2", "--max-new-tokens", "12",
                 "--shard-size", "3", "--lr", "3e-3", "--max-tokens", "400", "--quiet", *extra])


def examples_of(out, model_dir):
    """The training pairs the pipeline built, reconstructed from its shards."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding.languages import get_adapter
    from ensemblekd.distill.mt.pipeline import build_examples

    tok = AutoTokenizer.from_pretrained(model_dir)
    adapter = get_adapter(AutoModelForSeq2SeqLM.from_pretrained(model_dir), tok)
    records = [json.loads(line) for p in sorted((out / "decode" / "de-fr").glob("shard-*.jsonl"))
               for line in p.read_text().splitlines()]
    exs, skipped = build_examples(adapter, tok, "de", "fr", SOURCES, records, [], False)
    return exs, skipped, records, adapter


def test_distill_mt_ebbs_end_to_end(tmp_path, model_dir, sources_file):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding.api import translate

    out = tmp_path / "run"
    assert cli(model_dir, sources_file, out, "--method", "ebbs", "--epochs", "8") == 0
    exs, skipped, records, adapter = examples_of(out, model_dir)
    # the shards hold exactly what translate(method="ebbs") gives, aligned with the sources
    base = AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    ref = translate(base, tok, SOURCES, src_lang="de", tgt_lang="fr", pivots=["en", "cs"], method="ebbs",
                    beam_size=2, max_new_tokens=12, progress=False)
    assert [r["targets"] for r in records] == [[r.text] for r in ref]
    assert skipped == 1 and len(exs) == 8
    # encoder input = [__fr__] x [</s>] and prompt = [decoder_start]: what the decoder will be asked
    assert exs[0].input_ids[0] == tok.convert_tokens_to_ids("__fr__") and exs[0].prompt == (adapter.decoder_start_token_id,)
    # the student fits the distilled targets better than the base model
    student = AutoModelForSeq2SeqLM.from_pretrained(out / "student").eval()
    batch = collate(exs, adapter.pad_token_id)
    with torch.no_grad():
        before, after = float(sequence_loss(base, batch)), float(sequence_loss(student, batch))
    assert after < before - 0.5, (before, after)
    assert (out / "student" / "tokenizer_config.json").is_file()
    # the student decodes with the same API as the base model
    assert len(translate(student, AutoTokenizer.from_pretrained(out / "student"), SOURCES[:2], src_lang="de",
                         tgt_lang="fr", method="direct", beam_size=2, max_new_tokens=12, progress=False)) == 2

    # rerunning resumes: nothing is decoded again and no step is taken twice
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "decode" / "de-fr").glob("shard-*")}
    assert cli(model_dir, sources_file, out, "--method", "ebbs", "--epochs", "8") == 0
    assert mtimes == {p: p.stat().st_mtime_ns for p in (out / "decode" / "de-fr").glob("shard-*")}
    after2 = AutoModelForSeq2SeqLM.from_pretrained(out / "student")
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(), after2.state_dict().values()))


def test_baselines_union_and_self(tmp_path, model_dir):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding.api import translate

    train = SeqKDConfig(max_steps=2, max_tokens=400)
    union = distill_mt(model_dir, {"de": SOURCES}, tmp_path / "union", DistillMTConfig(
        [("de", "fr")], pivots=["en", "cs"], method="union", beam_size=2, max_new_tokens=12, train=train),
        quiet=True)
    assert union.num_pairs == 3 * 8 and union.skipped_empty == 1
    base = AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    kw = dict(beam_size=2, max_new_tokens=12, progress=False)
    direct = [r.text for r in translate(base, tok, SOURCES, src_lang="de", tgt_lang="fr", method="direct", **kw)]
    via_en = [r.text for r in translate(base, tok, SOURCES, src_lang="de", tgt_lang="fr", pivots=["en"],
                                        method="pivot", **kw)]
    recs = ShardedOutputs(tmp_path / "union" / "decode" / "de-fr", SOURCES,
                          json.loads((tmp_path / "union" / "decode" / "de-fr" / "manifest.json").read_text())["config"],
                          256).load()
    assert [r["targets"][0] for r in recs[:8]] == direct[:8]
    assert [r["targets"][1] for r in recs[:8]] == via_en[:8]
    via_cs = [r.text for r in translate(base, tok, SOURCES, src_lang="de", tgt_lang="fr", pivots=["cs"],
                                        method="pivot", **kw)]
    assert [r["targets"][2] for r in recs[:8]] == via_cs[:8]
    assert all(len(r["targets"]) == 3 for r in recs)
    # self-distillation with a word-level loss: targets = direct outputs, pivot texts kept for the teacher
    selfd = distill_mt(model_dir, {"de": SOURCES}, tmp_path / "self", DistillMTConfig(
        [("de", "fr")], pivots=["en", "cs"], method="self", beam_size=2, max_new_tokens=12,
        train=SeqKDConfig(max_steps=1, max_tokens=400, loss="js", kd_max_new_tokens=6, logging_steps=1)), quiet=True)
    assert selfd.steps == 1 and len(selfd.first_losses) == 1 and math.isfinite(selfd.first_losses[0])
    rec = json.loads((tmp_path / "self" / "decode" / "de-fr" / "shard-00000.jsonl").read_text().splitlines()[0])
    assert rec["targets"] == [direct[0]] and list(rec["pivots"]) == ["en", "cs"]
    recs = [json.loads(x) for x in (tmp_path / "self" / "decode" / "de-fr" / "shard-00000.jsonl").read_text()
            .splitlines()]
    assert [r["targets"][0] for r in recs] == direct                     # every line: the direct output
    assert selfd.num_pairs == sum(1 for x in SOURCES if x.strip()) and selfd.first_losses[0] > 0


def test_errors(tmp_path, model_dir, sources_file, capsys):
    empty = tmp_path / "empty.de"
    empty.write_text("\n\n", encoding="utf-8")
    assert cli(model_dir, empty, tmp_path / "e") == 2
    assert "empty training set" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert cli(model_dir, sources_file, tmp_path / "c", "--device", "cuda") == 2
        assert "no CUDA GPU" in capsys.readouterr().err
    other = TM.tiny("marian").save(tmp_path / "marian")
    assert cli(model_dir, sources_file, tmp_path / "s", "--student", str(other), "--max-steps", "1") == 2
    assert "architecture" in capsys.readouterr().err
    # a different configuration in the same output directory is refused, not mixed
    assert cli(model_dir, sources_file, tmp_path / "m", "--method", "direct", "--max-steps", "1") == 0
    assert cli(model_dir, sources_file, tmp_path / "m", "--method", "average", "--max-steps", "1") == 2
    assert "another configuration (differs in method)" in capsys.readouterr().err
    assert not (tmp_path / "m" / "train_state").exists()     # a finished run keeps only the student


def test_source_checks_come_before_any_decoding(tmp_path, model_dir, capsys):
    long = tmp_path / "long.de"
    long.write_text("ein Hund\n\n" + " ".join(["Hund"] * 400) + "\nzwei\n", encoding="utf-8")
    assert cli(model_dir, long, tmp_path / "l") == 2
    err = capsys.readouterr().err
    assert f"{long}:3: " in err and "--truncate" in err and err.count("\n") == 1
    assert not (tmp_path / "l" / "decode").exists()
    bad = tmp_path / "bad.de"
    bad.write_bytes(b"ein Hund\nzwei \xff Katzen\n")
    assert cli(model_dir, bad, tmp_path / "b") == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: not valid UTF-8" in err and err.count("\n") == 1
    assert cli(model_dir, tmp_path, tmp_path / "d") == 2
    assert "is a directory" in capsys.readouterr().err
    assert cli(model_dir, bad, tmp_path / "no" / "such" / "out") == 2
    assert "does not exist" in capsys.readouterr().err


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["distill", "mt", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in (("--max-tokens", "4096"), ("--beam", "5"), ("--grad-accum", "1"), ("--threads", "1"),
                          ("--device", "auto"), ("--voting", "sum"), ("--report-to", "['none']")):
        assert flag in text and f"(default: {default})" in text, flag


def test_translate_options_reach_the_teacher(tmp_path, model_dir, sources_file):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding.api import translate

    out = tmp_path / "opts"
    assert cli(model_dir, sources_file, out, "--max-steps", "1", "--voting", "max", "--weights", "1", "2", "0.5",
               "--keep-state") == 0
    _, _, records, _ = examples_of(out, model_dir)
    base = AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
    ref = translate(base, AutoTokenizer.from_pretrained(model_dir), SOURCES, src_lang="de", tgt_lang="fr",
                    pivots=["en", "cs"], method="ebbs", beam_size=2, max_new_tokens=12, voting="max",
                    weights=[1, 2, 0.5], progress=False)
    plain = translate(base, AutoTokenizer.from_pretrained(model_dir), SOURCES, src_lang="de", tgt_lang="fr",
                      pivots=["en", "cs"], method="ebbs", beam_size=2, max_new_tokens=12, progress=False)
    assert [r["targets"] for r in records] == [[r.text] for r in ref]
    assert [r.text for r in ref] != [r.text for r in plain]       # the options changed the teacher
    assert (out / "train_state").is_dir()                          # --keep-state


def test_killed_decoding_resumes_without_loss_or_duplicates(tmp_path, model_dir, monkeypatch):
    import ensemblekd.decoding.api as api

    real = api.translate
    calls = []

    def counting(*args, crash_at=None, progress=False, **kw):
        calls.append(len(args[2]))
        if crash_at is not None and len(calls) == crash_at:
            raise KeyboardInterrupt  # a kill in the middle of shard 2
        return real(*args, progress=progress, **kw)

    cfg = DistillMTConfig([("de", "fr")], pivots=["en"], method="direct", beam_size=2, max_new_tokens=10,
                          shard_size=3, train=SeqKDConfig(max_steps=1, max_tokens=400))
    monkeypatch.setattr(api, "translate", counting)
    distill_mt(model_dir, {"de": SOURCES}, tmp_path / "a", cfg, quiet=True)
    whole = (tmp_path / "a" / "decode" / "de-fr")
    crash_at = len(calls) + 2
    monkeypatch.setattr(api, "translate", lambda *a, **k: counting(*a, crash_at=crash_at, **k))
    with pytest.raises(KeyboardInterrupt):
        distill_mt(model_dir, {"de": SOURCES}, tmp_path / "b", cfg, quiet=True)
    part = tmp_path / "b" / "decode" / "de-fr"
    assert sorted(p.name for p in part.glob("shard-*")) == ["shard-00000.jsonl"]
    assert not (tmp_path / "b" / "student").exists()
    n = len(calls)
    monkeypatch.setattr(api, "translate", counting)
    distill_mt(model_dir, {"de": SOURCES}, tmp_path / "b", cfg, quiet=True)
    assert calls[n:] == [3, 3]   # only the two missing shards are decoded again
    for name in ("shard-00000.jsonl", "shard-00001.jsonl", "shard-00002.jsonl"):
        assert (part / name).read_text() == (whole / name).read_text()


def test_read_sources_forms(tmp_path):
    from ensemblekd.distill.mt.cli import read_sources

    for lang in ("de", "fr"):
        (tmp_path / f"train.{lang}").write_text(f"a {lang}\r\n\nb {lang}\n", encoding="utf-8")
    both, names = read_sources([str(tmp_path / "train.{lang}")], ["de", "fr"])
    assert both == {"de": ["a de", "", "b de"], "fr": ["a fr", "", "b fr"]}
    assert names == {"de": str(tmp_path / "train.de"), "fr": str(tmp_path / "train.fr")}
    assert read_sources([f"fr={tmp_path / 'train.fr'}", str(tmp_path / "train.de")], ["de", "fr"])[0] == both
    with pytest.raises(FileNotFoundError, match="cs"):
        read_sources([f"cs={tmp_path / 'train.cs'}"], ["cs"])
    with pytest.raises(ValueError, match="two files"):
        read_sources([str(tmp_path / "train.de"), f"de={tmp_path / 'train.de'}"], ["de"])
