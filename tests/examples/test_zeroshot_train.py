"""Smoke test of examples/zeroshot_mt: tokenizer, a few training steps, kill-and-resume, evaluation, export.

Runs on a handful of embedded 4-way parallel lines with a tiny model; needs no ../shared data.
"""

from __future__ import annotations

import importlib.util
import json
import math
import signal
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("py3langid")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "zeroshot_mt"

LINES = {
    "en": ["A man is riding a bike.", "Two dogs play in the snow.", "A woman sings on a stage.",
           "Children are playing soccer.", "A boy jumps into the water.", "An old man reads a newspaper."],
    "de": ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Eine Frau singt auf einer Bühne.",
           "Kinder spielen Fußball.", "Ein Junge springt ins Wasser.", "Ein alter Mann liest eine Zeitung."],
    "fr": ["Un homme fait du vélo.", "Deux chiens jouent dans la neige.", "Une femme chante sur une scène.",
           "Des enfants jouent au football.", "Un garçon saute dans l'eau.", "Un vieil homme lit un journal."],
    "cs": ["Muž jede na kole.", "Dva psi si hrají ve sněhu.", "Žena zpívá na pódiu.",
           "Děti hrají fotbal.", "Chlapec skáče do vody.", "Starý muž čte noviny."],
}


def _script(name):
    """An example script as a module, loaded by path (the scripts import only the installed package)."""
    spec = importlib.util.spec_from_file_location(f"zeroshot_mt_{name}", EXAMPLE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def mods():
    """The testbed's library modules under the names of the scripts that used to hold them, and train.py."""
    from ensemblekd.testbed import align, evaluation, release, tokenizer

    return {"prepare": tokenizer, "evaluate": evaluation, "export": release, "align": align, "train": _script("train")}


@pytest.fixture(scope="module")
def data(write_corpus):
    return write_corpus(LINES, ("train", "val", "test_2016_flickr"))


def _args(data, out, tok, steps):
    return ["--data", str(data), "--out", str(out), "--tokenizer", str(tok), "--d-model", "32", "--ffn", "64",
            "--layers", "1", "--heads", "2", "--max-tokens", "400", "--warmup", "2", "--eval-minutes", "0",
            "--eval-lines", "0", "--max-steps", str(steps), "--quiet", "--vocab-size", "120", "--threads", "1"]


def _weights(out):
    return torch.load(Path(out) / "checkpoint.pt", weights_only=False)


def test_tokenizer_language_tags_and_encoder_input(mods, data, tmp_path):
    prepare, evaluate = mods["prepare"], mods["evaluate"]
    texts = [line for lines in LINES.values() for line in lines]
    prepare.train_tokenizer(texts, tmp_path / "tok", vocab_size=120)
    assert prepare.check_tokenizer(tmp_path / "tok", texts) == 0  # raises on bad special ids / multi-id tags
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    enc = evaluate.encode_sources(tok, ["Ein Hund."], "fr")[0]
    assert enc[0] == tok.convert_tokens_to_ids("__fr__") and enc[-1] == tok.eos_token_id
    assert tok.decode(enc, skip_special_tokens=True) == "Ein Hund."


def test_kill_and_resume_matches_uninterrupted_run(mods, data, tmp_path, monkeypatch):
    train = mods["train"]
    tok = tmp_path / "tok"
    state = train.main(_args(data, tmp_path / "full", tok, 7))
    assert state["step"] == 7 and state["epoch"] >= 1  # 36 pairs in batches of <= 400 tokens: > 1 epoch

    calls = {"n": 0}
    real_collate = train.collate

    def killing_collate(*a, **k):  # SIGTERM arrives while the 4th batch is being built
        calls["n"] += 1
        if calls["n"] == 4:
            signal.raise_signal(signal.SIGTERM)
        return real_collate(*a, **k)

    monkeypatch.setattr(train, "collate", killing_collate)
    killed = train.main(_args(data, tmp_path / "resumed", tok, 7))
    assert killed["step"] == 4  # the step in flight finishes, then the checkpoint is written
    monkeypatch.setattr(train, "collate", real_collate)
    resumed = train.main(_args(data, tmp_path / "resumed", tok, 7))
    assert resumed["step"] == 7 and resumed["tokens"] == state["tokens"]
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "resumed")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["state"]["last_loss"] == b["state"]["last_loss"]


def test_eval_snapshot_and_export_load_with_auto_classes(mods, data, tmp_path):
    train = mods["train"]
    args = _args(data, tmp_path / "run", tmp_path / "tok", 3)
    args[args.index("--eval-lines") + 1] = "2"
    args += ["--eval-max-new-tokens", "6"]
    train.main(args + ["--export-to", str(tmp_path / "model")])
    rec = json.loads((tmp_path / "run" / "eval.jsonl").read_text().splitlines()[-1])
    assert rec["step"] == 3 and rec["lines"] == 2 and "pivot_bleu/de-fr" in rec and "off/fr-cs" in rec
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model = AutoModelForSeq2SeqLM.from_pretrained(str(tmp_path / "model"))
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "model"))
    assert model.dtype == torch.float32
    assert model.config.ensemblekd_language_scheme == "target_token_in_source"
    assert model.config.ensemblekd_language_tokens["cs"] == "__cs__"
    vocab = json.loads((tmp_path / "model" / "ensemblekd_target_vocab.json").read_text())
    assert set(vocab) == {"en", "de", "fr", "cs"} and tok.eos_token_id in vocab["de"]
    # exported weights are the snapshot's (up to fp16 rounding)
    from safetensors.torch import load_file

    snap = load_file(rec["snapshot"])  # tied weights are stored once, under one of their names
    key = next(k for k in snap if k.endswith(("shared.weight", "embed_tokens.weight", "lm_head.weight")))
    emb = model.get_input_embeddings().weight
    assert torch.equal(emb, snap[key].half().float())
    assert (tmp_path / "model" / "README.md").read_text().count("zero-shot") >= 6
    # card extras: an evaluate.py result of this snapshot becomes a table; one of another snapshot is refused
    export = mods["export"]
    res = {k: v for k, v in rec.items() if k.startswith(("bleu/", "off/", "pivot_bleu/", "supervised", "zs_"))}
    res.update(lines=2, split="val", restrict_vocab=True, model=rec["snapshot"])
    (tmp_path / "rv.json").write_text(json.dumps(res))
    export.export(tmp_path / "run", tmp_path / "model2", snapshot=Path(rec["snapshot"]), data=data,
                  selection="by hand, for the test.", eval_json=[tmp_path / "rv.json"])
    card = (tmp_path / "model2" / "README.md").read_text()
    assert "first 2 lines): by hand, for the test." in card
    assert "**val, first 2 lines, restricted target vocabulary (`restrict_vocab=True`)**" in card
    res["model"] = "elsewhere/step999.safetensors"
    (tmp_path / "rv.json").write_text(json.dumps(res))
    with pytest.raises(ValueError, match="not of"):
        export.export(tmp_path / "run", tmp_path / "model3", snapshot=Path(rec["snapshot"]), data=data,
                      eval_json=[tmp_path / "rv.json"])
    assert not (tmp_path / "model3.tmp").exists()  # refused before anything was written


def test_prepare_evaluate_and_export_command_lines(mods, data, tmp_path, capsys):
    """The thin scripts over ensemblekd.testbed run from their command lines and do what they print."""
    _script("prepare").main(["--data", str(data), "--out", str(tmp_path / "tok"), "--vocab-size", "120"])
    assert "round-trip mismatches on 1 sampled lines: 0" in capsys.readouterr().out
    assert (tmp_path / "tok" / "tokenizer.json").is_file()
    args = _args(data, tmp_path / "run", tmp_path / "tok", 2)
    args[args.index("--eval-lines") + 1] = "2"
    mods["train"].main(args + ["--eval-max-new-tokens", "6"])
    snap = next((tmp_path / "run" / "snapshots").glob("step*.safetensors"))
    _script("evaluate").main(["--run", str(tmp_path / "run"), "--snapshot", str(snap), "--data", str(data),
                              "--split", "test_2016_flickr", "--lines", "2", "--restrict-vocab", "--threads", "1",
                              "--device", "cpu", "--json", str(tmp_path / "eval.json")])
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert printed["lines"] == 2 and printed["restrict_vocab"] and set(saved["_outputs"]) >= {"de-fr", "de-en-fr"}
    assert {k: v for k, v in saved.items() if k != "_outputs"} == printed
    _script("export").main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "model"), "--snapshot", str(snap),
                            "--data", str(data), "--threads", "1", "--eval-json", str(tmp_path / "eval.json")])
    assert f"exported to {tmp_path / 'model'}" in capsys.readouterr().out
    card = (tmp_path / "model" / "README.md").read_text()
    assert "test_2016_flickr, first 2 lines, restricted target vocabulary" in card
    assert f"| de→fr (zero-shot) | {printed['bleu/de-fr']} |" in card


def test_restricted_vocabulary_only_emits_allowed_ids(mods, data, tmp_path):
    evaluate, train = mods["evaluate"], mods["train"]
    train.main(_args(data, tmp_path / "run", tmp_path / "tok", 1))
    from transformers import AutoTokenizer, M2M100ForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    config = train.build_config(train.parse_args(_args(data, tmp_path / "x", tmp_path / "tok", 1)), tok)
    torch.manual_seed(0)
    model = M2M100ForConditionalGeneration(config)
    vocab = evaluate.target_vocab(tok, data)
    allowed = sorted(set(vocab["cs"]) - set(vocab["fr"]) | {tok.eos_token_id})
    assert len(allowed) < len(tok) // 2
    out = evaluate.greedy_translate(model, tok, LINES["de"][:3], "cs", max_new_tokens=6, allowed_ids=allowed, return_ids=True)
    assert all(ids and set(ids) <= set(allowed) for ids in out), out
    free = evaluate.greedy_translate(model, tok, LINES["de"][:3], "cs", max_new_tokens=6, return_ids=True)
    assert any(not set(ids) <= set(allowed) for ids in free)  # the restriction is what made the difference


def test_init_from_an_exported_model_and_residual_free_variant(mods, data, tmp_path):
    train = mods["train"]
    args = _args(data, tmp_path / "run", tmp_path / "tok", 2)
    args[args.index("--layers") + 1] = "3"
    args[args.index("--eval-lines") + 1] = "2"
    train.main(args + ["--eval-max-new-tokens", "4", "--no-residual-layers", "1", "--export-to", str(tmp_path / "m")])
    from transformers import AutoModelForSeq2SeqLM

    from ensemblekd.models.residual_free import ResidualFreeEncoderLayer

    exported = AutoModelForSeq2SeqLM.from_pretrained(str(tmp_path / "m"))
    assert isinstance(exported.model.encoder.layers[1], ResidualFreeEncoderLayer)
    assert "without the self-attention residual" in (tmp_path / "m" / "README.md").read_text()
    # a new run that starts from the exported weights: no step yet, the checkpoint holds exactly those weights
    cont = _args(data, tmp_path / "cont", tmp_path / "tok", 0)
    cont[cont.index("--layers") + 1] = "3"
    train.main(cont + ["--no-residual-layers", "1", "--init-from", str(tmp_path / "m")])
    start = _weights(tmp_path / "cont")["model"]
    for k, v in exported.state_dict().items():
        assert torch.equal(start[k], v), k
    # the starting model's card travels with the run, so its history survives overwriting that folder
    assert (tmp_path / "cont" / "init_card.md").read_text() == (tmp_path / "m" / "README.md").read_text()
    with pytest.raises(ValueError, match="--init-from"):  # another architecture
        other = _args(data, tmp_path / "other", tmp_path / "tok", 0)
        other[other.index("--layers") + 1] = "3"
        train.main(other + ["--init-from", str(tmp_path / "m")])


def test_alignment_inputs_pair_each_side_with_a_zero_shot_tag(mods, data, tmp_path):
    import random

    align, prepare, train = mods["align"], mods["prepare"], mods["train"]
    texts = [line for lines in LINES.values() for line in lines]
    prepare.train_tokenizer(texts, tmp_path / "tok", vocab_size=120)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    examples = train.build_examples(tok, data, None)
    n = len(LINES["en"])
    tags = {lang: tok.convert_tokens_to_ids(f"__{lang}__") for lang in ("en", "de", "fr", "cs")}
    ids = {lang: tok(LINES[lang], add_special_tokens=True)["input_ids"] for lang in LINES}
    idx = list(range(len(examples)))
    x, xm, e, em = align.alignment_inputs(examples, idx, train.SUPERVISED, n, tags, tok.pad_token_id,
                                          random.Random(0))
    for r, i in enumerate(idx):
        src, tgt = train.SUPERVISED[i // n]
        other = tgt if src == "en" else src
        row_x, row_e = x[r][xm[r] == 1].tolist(), e[r][em[r] == 1].tolist()
        assert row_x[0] == row_e[0] and row_x[0] in {tags[lang] for lang in tags if lang not in ("en", other)}
        assert row_x[1:] == ids[other][i % n] and row_e[1:] == ids["en"][i % n]
    # InfoNCE: near 0 when every x_i is its own anchor (sharp temperature; rows of the same English line are
    # not negatives of each other), large for a wrong pairing; gradients reach x
    config = train.build_config(train.parse_args(_args(data, tmp_path / "x", tmp_path / "tok", 1)), tok)
    from transformers import M2M100ForConditionalGeneration

    torch.manual_seed(0)
    model = M2M100ForConditionalGeneration(config).eval()
    assert align.alignment_loss(model, x, xm, x, xm, tau=1e-5).item() < 1e-3
    # a wrong pairing (each x_j against the anchor of another English line) costs more than log(batch) / 2
    first = [r for r, i in enumerate(idx) if train.SUPERVISED[i // n] == ("de", "en")]  # distinct English lines
    rolled = first[1:] + first[:1]
    right = align.alignment_loss(model, e[first], em[first], e[first], em[first], tau=1e-5).item()
    wrong = align.alignment_loss(model, e[rolled], em[rolled], e[first], em[first], tau=1e-5).item()
    assert right < 1e-3 and wrong > math.log(len(first)) / 2
    loss = align.alignment_loss(model, x, xm, e, em)
    loss.backward()
    assert model.model.shared.weight.grad[x[xm == 1]].abs().sum() > 0


def test_training_with_the_alignment_loss(mods, data, tmp_path):
    state = mods["train"].main(_args(data, tmp_path / "run", tmp_path / "tok", 2) + ["--align-weight", "1.0"])
    assert state["step"] == 2 and 0.0 <= state["last_align"] <= 1.1 * math.log(400)


def test_card_keeps_the_chain_of_continuations_and_summarises_the_benchmark(mods, tmp_path):
    export = mods["export"]
    run = tmp_path / "run"
    run.mkdir()
    (run / "init_card.md").write_text(
        "# card\n- This snapshot: step 482, epoch 0.\n- Continued training (`--init-from a`) from step 781; the "
        "step, token and minute counts above are this continuation's.\n"
        "- Auxiliary loss: none really\n- Other: x\n")
    args = {"init_from": "models/x", "lr": "0.0005", "warmup": "50", "seed": "3", "align_weight": "0.3"}
    lines = export._continued_from(args, run)
    assert lines[0].startswith("- Continued training (`--init-from models/x`") and "(step 482, epoch 0)" in lines[0]
    assert lines[1:] == ["  - earlier: Continued training (`--init-from a`) from step 781.",
                         "  - earlier: Auxiliary loss: none really"]
    assert export._continued_from({"init_from": "None"}, run) == []
    assert "weight 0.3" in export._auxiliary_loss(args)[0]
    assert export._auxiliary_loss({"align_weight": "0.0"}) == []
    rows = [dict(split=s, method=m, zero_shot=z, bleu=b, off_target=o)
            for s in ("t16", "t18") for m, z, b, o in [("direct", False, 30.0, 0.0), ("direct", True, 10.0, 0.1),
                                                       ("direct", True, 20.0, 0.0), ("pivot_en", True, 22.0, 0.0),
                                                       ("ebbs", True, 21.0, 0.0)]]
    table = export._benchmark_table(rows).splitlines()
    assert table[2] == "| | t16 | t18 |"
    assert "| zero-shot direct, mean of 6 | 15.00 | 15.00 |" in table
    assert "| zero-shot direct off-target, mean | 5.0% | 5.0% |" in table
