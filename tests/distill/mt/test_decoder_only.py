"""Decoder-only students (issue 15 §2 "and decoder-only"): the MT trainer on causal LMs (tiny GPT-2 and Qwen2).

Oracles: each row alone without padding (left-padded prompts change nothing); Hugging Face's own causal-LM loss
with the prompt masked; the components' averaged probabilities computed one component at a time; K identical
prompts == one; the stop strings' semantics of ``generate``; and end to end, a student trained on hand-written
targets decodes exactly them with ``translate`` (both the plain and the chat template), which fails if the
training layout (prompt masking, continuation alignment, the target's stop) differs from decoding's.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from ensemblekd.cli import main  # noqa: E402
from ensemblekd.decoding.languages import get_adapter  # noqa: E402
from ensemblekd.distill.mt.causal import continuation_logits, continuation_mask, sample_continuations  # noqa: E402
from ensemblekd.distill.mt.data import TrainExample, collate, make_batches  # noqa: E402
from ensemblekd.distill.mt.examples import build_examples, continuation_ids  # noqa: E402
from ensemblekd.distill.mt.trainer import TrainConfig, train_student  # noqa: E402
from ensemblekd.distill.mt.word_kd import student_logits, teacher_log_probs, word_level_terms  # noqa: E402


def _tiny_models():
    path = Path(__file__).resolve().parents[2] / "decoding" / "tiny_models.py"
    spec = importlib.util.spec_from_file_location("_ekd_tiny_models", path)
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


TM = _tiny_models()
FAMS = ("gpt2", "qwen2")
SRC = ["Ein Hund läuft im Park.", "Zwei Kinder", "Eine Katze schläft auf dem roten Sofa."]
TGT = ["Un chien court dans le parc.", "Deux enfants", "Un chat dort sur le canapé rouge."]


def _pad(tok):
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def _examples(family, with_teacher=False, pivots=()):
    t = TM.tiny(family)
    adapter = get_adapter(t.model, t.tokenizer)
    records = [{"targets": [x], "pivots": {p: f"{x} ({p})" for p in pivots}} for x in TGT]
    exs, _ = build_examples(adapter, t.tokenizer, "de", "fr", SRC, records, list(pivots), with_teacher)
    return t, adapter, exs


@pytest.mark.parametrize("family", FAMS)
def test_continuation_logits_equal_each_row_alone(family):
    t, _, exs = _examples(family)
    assert len({len(e.input_ids) for e in exs}) > 1 and len({len(e.target) for e in exs}) > 1   # padding happens
    batch = collate(exs, _pad(t.tokenizer))
    assert batch["causal"] and batch["input_ids"].shape == (3, max(len(e.input_ids) for e in exs))
    with torch.no_grad():
        got = continuation_logits(t.model, batch["input_ids"], batch["attention_mask"], batch["targets"])
        for b, ex in enumerate(exs):
            ids = torch.tensor([list(ex.input_ids) + list(ex.target[:-1])])
            alone = t.model(input_ids=ids).logits[0, len(ex.input_ids) - 1:]
            assert alone.shape[0] == len(ex.target)
            torch.testing.assert_close(got[b, :len(ex.target)], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", FAMS)
def test_seqkd_loss_is_the_causal_lm_loss_with_the_prompt_masked(family):
    t, _, exs = _examples(family)
    batch = collate(exs, _pad(t.tokenizer))
    logits = student_logits(t.model, batch)
    ours = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1),
                                             ignore_index=-100, reduction="sum")
    hf = 0.0
    for ex in exs:   # Hugging Face's loss (it shifts the labels itself), the prompt masked with -100
        ids = torch.tensor([list(ex.input_ids) + list(ex.target)])
        labels = torch.tensor([[-100] * len(ex.input_ids) + list(ex.target)])
        hf = hf + t.model(input_ids=ids, labels=labels).loss * len(ex.target)
    torch.testing.assert_close(ours, hf, atol=1e-4, rtol=1e-5)


def test_collate_layout_dummies_and_batch_widths():
    exs = [TrainExample((5, 6, 7), (), (8, 9, 2)), TrainExample((5,), (), (3, 2))]
    b = collate([(exs[0], False), (exs[1], True)], pad_id=0)
    assert b["input_ids"].tolist() == [[5, 6, 7], [0, 0, 5]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert b["targets"].tolist() == [[8, 9, 2], [3, 2, 0]]
    assert b["labels"].tolist() == [[8, 9, 2], [-100, -100, -100]]            # a dummy has no label
    # widths: left-padded prompts + right-padded continuations - 1 (3 + 3 - 1 = 5 per row)
    assert make_batches(exs, max_tokens=10) == [[1, 0]] and len(make_batches(exs, max_tokens=9)) == 2
    with pytest.raises(ValueError, match="mix"):
        make_batches([exs[0], TrainExample((5,), (1,), (2,))], 100)


@pytest.mark.parametrize("family", FAMS)
def test_teacher_is_the_components_averaged_probabilities(family):
    t, _, exs = _examples(family, with_teacher=True, pivots=("en", "cs"))
    assert all(len(e.teacher_inputs) == 3 for e in exs)     # the source's prompt + one per pivot text
    batch = collate(exs, _pad(t.tokenizer), with_teacher=True)
    got = teacher_log_probs(t.model, batch, batch["targets"])
    with torch.no_grad():
        for b, ex in enumerate(exs):
            probs = []
            for prompt in ex.teacher_inputs:   # each component alone, no padding
                ids = torch.tensor([list(prompt) + list(ex.target[:-1])])
                probs.append(torch.softmax(t.model(input_ids=ids).logits[0, len(prompt) - 1:].float(), -1))
            ref = torch.stack(probs).mean(0).log()
            torch.testing.assert_close(got[b, :len(ex.target)], ref, atol=1e-5, rtol=1e-4)


def test_k_identical_prompts_are_one_teacher_and_kl_to_itself_is_zero():
    t, _, exs = _examples("qwen2", with_teacher=True, pivots=("en",))
    same = [TrainExample(e.input_ids, (), e.target, (e.input_ids,) * 3) for e in exs]
    batch = collate(same, _pad(t.tokenizer), with_teacher=True)
    own = torch.log_softmax(student_logits(t.model, batch).float(), -1)
    torch.testing.assert_close(teacher_log_probs(t.model, batch, batch["targets"]), own, atol=1e-5, rtol=1e-5)
    cfg = TrainConfig(loss="kl")
    t_sum, s_mean = word_level_terms(cfg, t.model, t.model, batch, pad_id=_pad(t.tokenizer),
                                     eos_id=t.tokenizer.eos_token_id)
    assert s_mean is None and abs(float(t_sum.detach())) < 1e-4


def test_continuation_ids_decode_back_and_end_as_decoding_ends():
    for family, chat in (("gpt2", False), ("qwen2", False), ("qwen2", True)):
        t = TM.tiny(family)
        adapter = get_adapter(t.model, t.tokenizer, chat=chat)
        prompt = adapter.encode(["Zwei Kinder"], "de", "fr")[0]
        text = "Deux enfants </s> __en__"                       # special-token strings are text
        ids = continuation_ids(adapter, prompt, [text])[0]
        assert adapter.decode(ids) == text
        assert t.tokenizer.decode(list(ids)).endswith("\n")     # ends with the stop string ...
        assert adapter.stop_criteria(torch.tensor([list(prompt) + list(ids)]), None).item()
        assert not adapter.stop_criteria(torch.tensor([list(prompt) + list(ids[:-1])]), None).item()
        full = t.tokenizer.decode(list(prompt) + list(ids))
        assert (" Deux" in full) != chat                        # a space after "French:", none after a chat turn
    t = TM.tiny("gpt2")
    adapter = get_adapter(t.model, t.tokenizer, stop_at_newline=False)   # no stop string: EOS ends the target
    ids = continuation_ids(adapter, adapter.encode(["Zwei"], "de", "fr")[0], ["Deux"])[0]
    assert ids[-1] == adapter.eos_token_id and adapter.decode(ids) == "Deux"


def test_continuation_mask_stops_at_eos_or_the_stop_string():
    t = TM.tiny("qwen2")
    tok = t.tokenizer
    from transformers import StopStringCriteria

    crit = StopStringCriteria(tok, ["\n"])
    prompt = torch.tensor([tok("x:")["input_ids"]] * 3)
    rows = [tok(" ab\ncd")["input_ids"], tok(" ab")["input_ids"] + [tok.eos_token_id, 5], tok(" abcd")["input_ids"]]
    width = max(len(r) for r in rows)
    cont = torch.tensor([r + [_pad(tok)] * (width - len(r)) for r in rows])
    mask = continuation_mask(prompt, cont, tok.eos_token_id, crit)
    for r, m in zip(rows, mask.tolist()):
        n = sum(m)
        assert m == [True] * n + [False] * (width - n)         # one contiguous run from the start
        kept = tok.decode(r[:n])
        assert kept in (" ab\n", " ab<|im_end|>", " abcd")
    assert continuation_mask(prompt, cont, tok.eos_token_id, None)[0].all()   # no stop string: only EOS ends


@pytest.mark.parametrize("family", FAMS)
def test_student_samples_end_where_generate_with_stop_strings_ends(family):
    t = TM.tiny(family)
    adapter = get_adapter(t.model, t.tokenizer)
    _, _, exs = _examples(family)
    batch = collate(exs, _pad(t.tokenizer))
    torch.manual_seed(3)
    cont, mask = sample_continuations(t.model, batch["input_ids"], batch["attention_mask"], max_new_tokens=12,
                                      pad_id=_pad(t.tokenizer), eos_id=t.tokenizer.eos_token_id,
                                      stop_criteria=adapter.stop_criteria)
    assert cont.shape[0] == 3 and mask.shape == cont.shape
    for row, m in zip(cont.tolist(), mask.tolist()):
        n = sum(m)
        text = t.tokenizer.decode(row[:n])
        assert "\n" not in text[:-1]                             # at most one newline, at the very end
        if n < cont.shape[1]:                                    # ended early: by the newline or EOS
            assert text.endswith("\n") or row[n - 1] == t.tokenizer.eos_token_id


def test_student_samples_stay_within_the_models_positions(tmp_path):
    """GPT-2 has learned positions (128 here): samples after ~50-token prompts are capped, not an IndexError."""
    from transformers import AutoModelForCausalLM

    t, _, exs = _examples("gpt2", with_teacher=True, pivots=("en",))
    path = t.save(tmp_path / "gpt2")                     # reloaded: no EOS hook, samples run to the limit
    student, teacher = (AutoModelForCausalLM.from_pretrained(path) for _ in range(2))
    cfg = TrainConfig(loss="gkd", gkd_lambda=1.0, max_steps=1, kd_max_new_tokens=500, max_tokens=4000, device="cpu",
                      logging_steps=1)
    r = train_student(student, exs, tmp_path / "s", cfg, pad_id=_pad(t.tokenizer), eos_id=t.tokenizer.eos_token_id,
                      teacher=teacher, tokenizer=t.tokenizer, quiet=True)
    assert r.steps == 1 and all(v == v for v in r.losses)


def test_trainer_refuses_a_student_of_the_other_kind():
    t, _, exs = _examples("gpt2")
    m2m = TM.tiny("m2m100").model
    with pytest.raises(ValueError, match="encoder-decoder"):
        train_student(m2m, exs, "unused", TrainConfig(max_steps=1), pad_id=0)


@pytest.mark.parametrize("chat", [False, True])
def test_student_trained_on_targets_translates_them_exactly(tmp_path, chat):
    """The end-to-end oracle: train the layout, decode with translate(); any misalignment breaks the outputs."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from ensemblekd.decoding import translate

    tok = TM.tiny("qwen2").tokenizer
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None,
                      tie_word_embeddings=False)
    model = Qwen2ForCausalLM(cfg)
    adapter = get_adapter(model, tok, chat=chat)
    exs, _ = build_examples(adapter, tok, "de", "fr", SRC[:2], [{"targets": [x]} for x in TGT[:2]], [], False)
    assert len({len(e.input_ids) for e in exs}) == 2           # one batch with left padding
    before = [r.text for r in translate(model, tok, SRC[:2], src_lang="de", tgt_lang="fr", method="direct",
                                        beam_size=1, chat=chat, max_new_tokens=30, progress=False)]
    assert before != TGT[:2]
    train_student(model, exs, tmp_path / "s", TrainConfig(max_steps=60, lr=3e-3, max_tokens=400, device="cpu"),
                  pad_id=tok.pad_token_id, eos_id=tok.eos_token_id, quiet=True)
    out = translate(model, tok, SRC[:2], src_lang="de", tgt_lang="fr", method="direct", beam_size=1, chat=chat,
                    max_new_tokens=30, progress=False, return_provenance=True)
    assert [r.text for r in out] == TGT[:2]
    assert all(tok.decode(r.token_ids).endswith("\n") for r in out)   # stopped by the learnt newline


# ----------------------------------------------------------------------------------------- the pipeline / CLI
@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    return TM.tiny("qwen2").save(tmp_path_factory.mktemp("qwen2"))


@pytest.fixture(scope="module")
def sources_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("src") / "train.de"
    f.write_text("\n".join(TM.CORPUS["de"][:5] + [""]) + "\n", encoding="utf-8")
    return f


def _cli(lm_dir, sources_file, out, *extra):
    return main(["distill", "mt", "--model", str(lm_dir), "--src", "de", "--tgt", "fr", "--sources",
                 str(sources_file), "--out", str(out), "--beam", "2", "--max-new-tokens", "10", "--lr", "3e-3",
                 "--max-tokens", "400", "--max-steps", "2", "--kd-max-new-tokens", "8", "--quiet", *extra])


@pytest.mark.parametrize("loss,extra", [
    ("seqkd", ["--pivots", "en"]),
    ("kl", ["--pivots", "en", "cs"]),
    ("js", ["--pivots", "en"]),
    ("gkd", ["--pivots", "en", "--gkd-lambda", "1"]),
    ("llmr", ["--pivots", "en", "--llmr-clip", "1"]),
    ("skl", ["--prompt", "Translate {src} to {tgt}: {text}\n", "--prompt", "{src}: {text}\n{tgt}:", "--no-chat"]),
])
def test_distill_mt_trains_a_decoder_only_student_with_every_loss(lm_dir, sources_file, tmp_path, loss, extra):
    import json

    from transformers import AutoModelForCausalLM

    from ensemblekd.decoding import translate

    assert _cli(lm_dir, sources_file, tmp_path, "--loss", loss, *extra) == 0
    student = tmp_path / "student"
    info = json.loads((student / "ensemblekd_distill.json").read_text())
    assert info["num_pairs"] == 5 and info["skipped_empty_sources"] == 1 and info["steps"] == 2
    assert all(v == v and abs(v) < 1e4 for v in info["losses"]) or not info["losses"]
    model = AutoModelForCausalLM.from_pretrained(student)
    tok = TM.tiny("qwen2").tokenizer
    moved = any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                      TM.tiny("qwen2").model.state_dict().values()))
    assert moved
    prompts = [x for x in extra if "{text}" in x][:1] or None
    out = translate(model, tok, ["Ein Hund."], src_lang="de", tgt_lang="fr", method="direct", beam_size=2,
                    max_new_tokens=6, progress=False, prompts=prompts, chat=False if prompts else None)
    assert len(out) == 1 and isinstance(out[0].text, str)


def test_prompt_ensemble_without_pivots_and_errors(lm_dir, sources_file, tmp_path, capsys):
    two = ["--prompt", "{src}: {text}\n{tgt}:", "--prompt", "Translate {src} to {tgt}: {text}\n", "--no-chat"]
    assert _cli(lm_dir, sources_file, tmp_path / "ens", *two) == 0              # EBBS over two prompts
    assert _cli(lm_dir, sources_file, tmp_path / "one", "--prompt", "{src}: {text}\n{tgt}:") == 2
    assert "needs at least one pivot" in capsys.readouterr().err
    assert _cli(lm_dir, sources_file, tmp_path / "bad", "--prompt", "no text field", "--pivots", "en") == 2
    assert "{text}" in capsys.readouterr().err
    assert _cli(lm_dir, sources_file, tmp_path / "stop", "--stop", "", "--pivots", "en") == 2
    assert "--stop" in capsys.readouterr().err
    m2m = TM.tiny("m2m100").save(tmp_path / "m2m")
    capsys.readouterr()
    assert _cli(m2m, sources_file, tmp_path / "s2s", "--prompt", "{src}: {text}", "--pivots", "en") == 2
    err = capsys.readouterr().err
    assert "decoder-only" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
