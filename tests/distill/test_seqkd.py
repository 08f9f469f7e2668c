"""SeqKD training loop: batching, labels, kill-and-resume determinism, word-level losses, errors."""
import copy
import random

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from ensemblekd.distill.seqkd import (  # noqa: E402
    ArchitectureMismatchError, SeqKDConfig, TrainExample, collate, make_batches, sequence_loss, train_seqkd)

PAD, EOS, START = 1, 2, 2


def tiny_m2m(d_model=16, layers=1, dropout=0.1, seed=0):
    torch.manual_seed(seed)
    cfg = transformers.M2M100Config(
        vocab_size=40, d_model=d_model, encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        dropout=dropout, attention_dropout=0.0, activation_dropout=0.0, pad_token_id=PAD, eos_token_id=EOS,
        bos_token_id=0, decoder_start_token_id=START, scale_embedding=True, init_std=0.3)
    return transformers.M2M100ForConditionalGeneration(cfg)


def examples(n=14, seed=0, with_teacher=False):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        src = tuple(rng.randrange(4, 40) for _ in range(rng.randint(1, 7)))
        tgt = tuple(rng.randrange(4, 40) for _ in range(rng.randint(0, 6))) + (EOS,)
        lang = rng.choice((5, 6))  # a "language token" forced in the prompt
        teach = (src, tuple(reversed(src))) if with_teacher else ()
        out.append(TrainExample(src + (EOS,), (START, lang), tgt, teach))
    return out


def test_make_batches_partition_and_budget():
    exs = examples(40)
    batches = make_batches(exs, max_tokens=24, seed=3)
    assert sorted(i for b in batches for i in b) == list(range(40))
    for b in batches:
        longest = max(max(len(exs[i].input_ids), len(exs[i].prompt) + len(exs[i].target) - 1) for i in b)
        assert len(b) == 1 or len(b) * longest <= 24
    assert batches == make_batches(exs, max_tokens=24, seed=3)


def test_collate_labels_only_cover_target():
    ex = [TrainExample((7, 8, EOS), (START, 5), (9, 10, EOS)), TrainExample((7, EOS), (START, 6), (EOS,))]
    b = collate(ex, PAD)
    assert b["decoder_input_ids"].tolist() == [[START, 5, 9, 10], [START, 6, PAD, PAD]]
    assert b["labels"].tolist() == [[-100, 9, 10, EOS], [-100, EOS, -100, -100]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


def test_sequence_loss_equals_hf_labels_loss():
    model = tiny_m2m(dropout=0.0).eval()
    ex = examples(5)
    b = collate(ex, PAD)
    ours = sequence_loss(model, b)
    ref = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                decoder_input_ids=b["decoder_input_ids"], decoder_attention_mask=b["decoder_attention_mask"],
                labels=b["labels"]).loss
    assert torch.allclose(ours, ref, atol=1e-6)


class Killed(RuntimeError):
    pass


def test_kill_and_resume_gives_same_weights(tmp_path):
    exs = examples(10)
    cfg = SeqKDConfig(epochs=2, lr=3e-3, warmup_steps=2, max_tokens=20, save_every=2, seed=1)
    init = tiny_m2m().state_dict()

    ref = tiny_m2m()
    ref.load_state_dict(init)
    full = train_seqkd(ref, exs, tmp_path / "a", cfg, pad_id=PAD, quiet=True, save_final=False)
    assert full.steps == 2 * len(make_batches(exs, 20, 1)) and full.steps > 7

    def kill_at(k):
        def hook(step, loss):
            if step == k:
                raise Killed

        return hook

    crashed = tiny_m2m()
    crashed.load_state_dict(init)
    with pytest.raises(Killed):  # killed after step 5: the last checkpoint is at step 4
        train_seqkd(crashed, exs, tmp_path / "b", cfg, pad_id=PAD, quiet=True, on_step=kill_at(5))
    torch.manual_seed(999)  # the fresh process has another RNG state; the checkpoint restores it
    resumed = tiny_m2m(seed=7)
    res = train_seqkd(resumed, exs, tmp_path / "b", cfg, pad_id=PAD, quiet=True)
    assert res.resumed_from == 4 and res.steps == full.steps
    a, b = ref.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full.losses[4:] == res.losses
    assert (tmp_path / "b" / "config.json").exists()  # final standard checkpoint
    reloaded = transformers.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "b")
    assert all(torch.equal(reloaded.state_dict()[k], b[k]) for k in b)


def test_resume_refuses_other_config_data_or_architecture(tmp_path):
    exs = examples(6)
    cfg = SeqKDConfig(max_steps=2, max_tokens=20, save_every=1)
    train_seqkd(tiny_m2m(), exs, tmp_path, cfg, pad_id=PAD, quiet=True, save_final=False)
    with pytest.raises(ValueError, match="different training configuration.*lr"):
        train_seqkd(tiny_m2m(), exs, tmp_path, SeqKDConfig(max_steps=2, max_tokens=20, lr=1e-3),
                    pad_id=PAD, quiet=True)
    with pytest.raises(ValueError, match="different training data"):
        train_seqkd(tiny_m2m(), examples(6, seed=5), tmp_path, cfg, pad_id=PAD, quiet=True)
    with pytest.raises(ArchitectureMismatchError, match="architecture"):
        train_seqkd(tiny_m2m(d_model=8), exs, tmp_path, cfg, pad_id=PAD, quiet=True)


def test_empty_training_set_and_bad_config(tmp_path):
    with pytest.raises(ValueError, match="empty training set"):
        train_seqkd(tiny_m2m(), [], tmp_path, SeqKDConfig(), pad_id=PAD, quiet=True)
    with pytest.raises(ValueError, match="loss="):
        SeqKDConfig(loss="ce")
    with pytest.raises(ValueError, match="teacher"):
        train_seqkd(tiny_m2m(), examples(3), tmp_path, SeqKDConfig(loss="kl"), pad_id=PAD, quiet=True)


@pytest.mark.parametrize("loss", ["kl", "rkl", "js", "tvd"])
def test_word_level_losses_zero_when_student_is_teacher(tmp_path, loss):
    # one component whose input is the student's own input, no dropout: teacher == student, so every
    # f-divergence is 0 at the first step; a second component makes it positive
    base = tiny_m2m(dropout=0.0)
    same = [TrainExample(e.input_ids, e.prompt, e.target, (e.input_ids,)) for e in examples(6)]
    cfg = SeqKDConfig(max_steps=1, max_tokens=1000, loss=loss, kd_max_new_tokens=5)
    r = train_seqkd(copy.deepcopy(base), same, tmp_path / "same", cfg, pad_id=PAD, eos_id=EOS,
                    teacher=copy.deepcopy(base), quiet=True, save_final=False)
    assert abs(r.losses[0]) < 1e-5
    other = examples(6, with_teacher=True)
    r = train_seqkd(copy.deepcopy(base), other, tmp_path / "other", SeqKDConfig(
        max_steps=1, max_tokens=1000, loss=loss, kd_max_new_tokens=5), pad_id=PAD, eos_id=EOS,
        teacher=copy.deepcopy(base), quiet=True, save_final=False)
    assert r.losses[0] > 1e-4 and r.losses[0] == r.losses[0]
