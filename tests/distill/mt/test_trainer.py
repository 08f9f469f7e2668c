"""The student trainer on the HF engine: batches across ranks, labels, loss == HF's, kill-and-resume
determinism, pruning, refused resumes, word-level losses, errors."""
import copy
import math
import random

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from ensemblekd.distill.mt.data import TokenBucketSampler, TrainExample, collate, make_batches  # noqa: E402
from ensemblekd.distill.mt.trainer import (  # noqa: E402
    ArchitectureMismatchError, TrainConfig, _trainer_class, _training_args, last_checkpoint, train_student)

PAD, EOS, START = 1, 2, 2


def tiny_m2m(d_model=16, layers=1, dropout=0.1, seed=0):
    torch.manual_seed(seed)
    cfg = transformers.M2M100Config(
        vocab_size=40, d_model=d_model, encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        dropout=dropout, attention_dropout=0.0, activation_dropout=0.0, pad_token_id=PAD, eos_token_id=EOS,
        encoder_layerdrop=0.0, decoder_layerdrop=0.0,   # as the shipped model: no hidden randomness, no unused layers
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


@pytest.mark.parametrize("world", [2, 3])
def test_sampler_ranks_share_the_single_process_batches(world):
    exs = examples(40)
    one = TokenBucketSampler(exs, max_tokens=12 * world, seed=4)
    ranks = [TokenBucketSampler(exs, max_tokens=12, seed=4, rank=r, world_size=world) for r in range(world)]
    for epoch in (0, 1):
        for s in [one, *ranks]:
            s.set_epoch(epoch)
        steps = list(zip(*[list(s) for s in ranks]))
        single = list(one)
        assert len(steps) == len(single) == len(one)
        for parts, whole in zip(steps, single):
            real = sorted(i for p in parts for i in p if i >= 0)
            assert real == sorted(whole)            # the ranks' pieces are exactly the global batch
            assert all(p for p in parts)            # every rank takes part in every step
            for p in parts:                         # a dummy only stands in for an empty share
                assert all(i >= 0 for i in p) or (len(p) == 1 and len(whole) < world)
    one.set_epoch(0)
    first = list(one)
    one.set_epoch(1)
    assert sorted(map(sorted, first)) == sorted(map(sorted, one)) and first != list(one)


def test_collate_labels_only_cover_target_and_dummies_none():
    ex = [TrainExample((7, 8, EOS), (START, 5), (9, 10, EOS)), TrainExample((7, EOS), (START, 6), (EOS,))]
    b = collate(ex, PAD)
    assert b["decoder_input_ids"].tolist() == [[START, 5, 9, 10], [START, 6, PAD, PAD]]
    assert b["labels"].tolist() == [[-100, 9, 10, EOS], [-100, EOS, -100, -100]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    d = collate([(ex[0], True)], PAD)
    assert d["labels"].tolist() == [[-100] * 4] and d["decoder_input_ids"].tolist() == [[START, 5, 9, 10]]


def _trainer(model, cfg, tmp_path, exs, **kw):
    args = _training_args(cfg, tmp_path / "ckpt", True)
    from ensemblekd.distill.mt.data import KDDataset

    return _trainer_class()(model=model, args=args, train_dataset=KDDataset(exs), kd_config=cfg, pad_id=PAD,
                            eos_id=EOS, examples=exs, **kw)


def test_seqkd_loss_equals_hf_labels_loss(tmp_path):
    model = tiny_m2m(dropout=0.0).eval()
    exs = examples(5)
    b = collate(exs, PAD)
    cfg = TrainConfig(device="cpu")
    ours = _trainer(model, cfg, tmp_path, exs).compute_loss(model, b)
    ref = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                decoder_input_ids=b["decoder_input_ids"], decoder_attention_mask=b["decoder_attention_mask"],
                labels=b["labels"]).loss
    assert torch.allclose(ours, ref, atol=1e-6)
    # normalised by the step's token count: two halves with the global count sum to the whole
    n = (b["labels"] != -100).sum()
    t = _trainer(model, cfg, tmp_path, exs)
    halves = sum(t.compute_loss(model, collate(part, PAD), num_items_in_batch=n) for part in (exs[:2], exs[2:]))
    assert torch.allclose(halves, ref, atol=1e-6)


class Killed(RuntimeError):
    pass


def _kill_at(k):
    from transformers import TrainerCallback

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == k:
                raise Killed

    return Kill()


def test_kill_and_resume_gives_same_weights_and_prunes_state(tmp_path):
    exs = examples(10)
    cfg = TrainConfig(epochs=2, lr=3e-3, warmup_steps=2, max_tokens=20, save_every=2, seed=1, device="cpu",
                      logging_steps=1)
    init = tiny_m2m().state_dict()

    ref = tiny_m2m()
    ref.load_state_dict(init)
    full = train_student(ref, exs, tmp_path / "a", cfg, pad_id=PAD, quiet=True)
    assert full.steps == 2 * len(make_batches(exs, 20, 1)) and full.steps > 7
    assert not (tmp_path / "a" / "checkpoint").exists()          # state pruned once finished

    crashed = tiny_m2m()
    crashed.load_state_dict(init)
    with pytest.raises(Killed):  # killed after step 5: the last checkpoint is at step 4
        train_student(crashed, exs, tmp_path / "b", cfg, pad_id=PAD, quiet=True, callbacks=[_kill_at(5)])
    assert last_checkpoint(tmp_path / "b" / "checkpoint").name == "checkpoint-4"
    (tmp_path / "b" / "checkpoint" / "checkpoint-6").mkdir()     # a half-written checkpoint (no state file)
    torch.manual_seed(999)  # the fresh process has another RNG state; the checkpoint restores it
    resumed = tiny_m2m(seed=7)
    res = train_student(resumed, exs, tmp_path / "b", cfg, pad_id=PAD, quiet=True)
    assert res.resumed_from == 4 and res.steps == full.steps
    a, b = ref.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full.losses[4:] == res.losses[-len(full.losses[4:]):]
    reloaded = transformers.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "b")
    assert all(torch.equal(reloaded.state_dict()[k], b[k]) for k in b)
    assert not (tmp_path / "b" / "checkpoint").exists()
    assert (tmp_path / "b" / "model.safetensors").stat().st_mode & 0o777 == 0o644


def test_gradient_accumulation_equals_one_big_batch(tmp_path):
    # one prompt shape, so that one big batch can hold every example
    exs = [TrainExample(e.input_ids, (START, 5), e.target) for e in examples(12)]
    nb = len(make_batches(exs, 20, 0))
    assert nb >= 3
    init = tiny_m2m(dropout=0.0).state_dict()
    out = []
    for accum, tokens in ((1, 10_000), (nb, 20)):
        m = tiny_m2m(dropout=0.0)
        m.load_state_dict(init)
        # SGD: the update is linear in the gradient, so the comparison is about the loss normalisation only
        cfg = TrainConfig(max_steps=1, lr=1e-1, max_tokens=tokens, grad_accum=accum, device="cpu", grad_clip=0.0,
                          trainer_args={"optim": "sgd"})
        train_student(m, exs, tmp_path / str(accum), cfg, pad_id=PAD, quiet=True)
        out.append(m.state_dict())
    moved = max((out[0][k] - init[k]).abs().max().item() for k in init)
    diff = max((out[0][k] - out[1][k]).abs().max().item() for k in init)
    assert moved > 1e-3 and diff < 1e-6, (moved, diff)


def test_resume_refuses_other_config_data_or_architecture(tmp_path):
    exs = examples(6)
    cfg = TrainConfig(max_steps=2, max_tokens=20, save_every=1, device="cpu", keep_state=True)
    train_student(tiny_m2m(), exs, tmp_path, cfg, pad_id=PAD, quiet=True)
    assert last_checkpoint(tmp_path / "checkpoint") is not None      # --keep-state keeps it
    with pytest.raises(ValueError, match="different training configuration.*lr"):
        train_student(tiny_m2m(), exs, tmp_path, TrainConfig(max_steps=2, max_tokens=20, lr=1e-3, device="cpu"),
                      pad_id=PAD, quiet=True)
    with pytest.raises(ValueError, match="different training data"):
        train_student(tiny_m2m(), examples(6, seed=5), tmp_path, cfg, pad_id=PAD, quiet=True)
    with pytest.raises(ArchitectureMismatchError, match="architecture"):
        train_student(tiny_m2m(d_model=8), exs, tmp_path, cfg, pad_id=PAD, quiet=True)


def test_empty_training_set_and_bad_config(tmp_path):
    with pytest.raises(ValueError, match="empty training set"):
        train_student(tiny_m2m(), [], tmp_path, TrainConfig(), pad_id=PAD, quiet=True)
    with pytest.raises(ValueError, match="--loss"):
        TrainConfig(loss="ce")
    with pytest.raises(ValueError, match="--grad-accum"):
        TrainConfig(grad_accum=0)
    with pytest.raises(ValueError, match="teacher"):
        train_student(tiny_m2m(), examples(3), tmp_path, TrainConfig(loss="kl"), pad_id=PAD, quiet=True)
    with pytest.raises(ValueError, match="--trainer-arg no_such_field"):
        train_student(tiny_m2m(), examples(3), tmp_path, TrainConfig(trainer_args={"no_such_field": 1}),
                      pad_id=PAD, quiet=True)


@pytest.mark.parametrize("loss", ["kl", "rkl", "js", "tvd", "skl", "srkl", "gkd"])
def test_word_level_losses_zero_when_student_is_teacher(tmp_path, loss):
    # one component whose input is the student's own input, no dropout: teacher == student, so every
    # f-divergence is 0 at the first step; a second component makes it positive
    base = tiny_m2m(dropout=0.0)
    same = [TrainExample(e.input_ids, e.prompt, e.target, (e.input_ids,)) for e in examples(6)]
    cfg = TrainConfig(max_steps=1, max_tokens=1000, loss=loss, kd_max_new_tokens=5, device="cpu", logging_steps=1)
    b = collate(same, PAD, with_teacher=True)
    model = copy.deepcopy(base)
    t = _trainer(model, cfg, tmp_path / "same", same, teacher=copy.deepcopy(base))
    assert abs(float(t.compute_loss(model, b).detach())) < 1e-5
    other = examples(6, with_teacher=True)
    t = _trainer(model, cfg, tmp_path / "other", other, teacher=copy.deepcopy(base))
    value = float(t.compute_loss(model, collate(other, PAD, with_teacher=True)).detach())
    assert value > 1e-4 and value == value
    r = train_student(copy.deepcopy(base), other, tmp_path / "run", cfg, pad_id=PAD, eos_id=EOS,
                      teacher=copy.deepcopy(base), quiet=True)
    assert r.steps == 1 and r.losses and r.losses[0] > 0


def test_gkd_draw_is_a_pure_function_of_seed_process_step_and_micro_batch(tmp_path):
    exs = examples(4, with_teacher=True)
    draws = {}
    for lam in (0.0, 0.5, 1.0):
        cfg = TrainConfig(loss="gkd", gkd_lambda=lam, device="cpu", seed=3)
        t = _trainer(tiny_m2m(), cfg, tmp_path / str(lam), exs, teacher=tiny_m2m())
        seq = []
        for step in range(200):
            t.state.global_step = step
            seq += [t._micro_batch()[0], t._micro_batch()[0]]   # two micro-batches per step
        draws[lam] = seq
    assert not any(draws[0.0]) and all(draws[1.0])
    assert 0.4 < sum(draws[0.5]) / len(draws[0.5]) < 0.6
    t = _trainer(tiny_m2m(), TrainConfig(loss="gkd", device="cpu", seed=3), tmp_path / "again", exs,
                 teacher=tiny_m2m())
    t.state.global_step = 17        # a resumed run starts mid-way and draws the same
    assert [t._micro_batch()[0], t._micro_batch()[0]] == draws[0.5][34:36]


def test_gkd_kill_and_resume_gives_same_weights(tmp_path):
    exs = examples(10, with_teacher=True)
    cfg = TrainConfig(max_steps=6, lr=3e-3, max_tokens=20, save_every=2, seed=1, device="cpu", loss="gkd",
                      gkd_lambda=0.5, kd_max_new_tokens=4, logging_steps=1)
    init, teacher = tiny_m2m().state_dict(), tiny_m2m(seed=5)
    ref = tiny_m2m()
    ref.load_state_dict(init)
    full = train_student(ref, exs, tmp_path / "a", cfg, pad_id=PAD, eos_id=EOS, teacher=copy.deepcopy(teacher),
                         quiet=True)
    crashed = tiny_m2m()
    crashed.load_state_dict(init)
    with pytest.raises(Killed):
        train_student(crashed, exs, tmp_path / "b", cfg, pad_id=PAD, eos_id=EOS, teacher=copy.deepcopy(teacher),
                      quiet=True, callbacks=[_kill_at(3)])
    torch.manual_seed(999)
    resumed = tiny_m2m(seed=7)
    res = train_student(resumed, exs, tmp_path / "b", cfg, pad_id=PAD, eos_id=EOS, teacher=copy.deepcopy(teacher),
                        quiet=True)
    assert res.resumed_from == 2 and res.steps == full.steps == 6
    a, b = ref.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("opts", [{"llmr_reward": "dense"}, {"llmr_reward": "sparse", "llmr_next": "max",
                                                              "llmr_baseline": False, "llmr_clip": 1.0}])
def test_llmr_trains_and_moves_the_student(tmp_path, opts):
    exs = examples(8, with_teacher=True)
    cfg = TrainConfig(max_steps=2, lr=1e-2, max_tokens=1000, loss="llmr", kd_max_new_tokens=5, device="cpu",
                      logging_steps=1, kd_temperature=1.5, kd_top_p=0.9, **opts)
    student = tiny_m2m(dropout=0.0)
    before = copy.deepcopy(student.state_dict())
    r = train_student(student, exs, tmp_path, cfg, pad_id=PAD, eos_id=EOS, teacher=tiny_m2m(seed=4), quiet=True)
    assert r.steps == 2 and all(math.isfinite(x) for x in r.losses)
    assert max((student.state_dict()[k] - before[k]).abs().max().item() for k in before) > 1e-4


def test_new_loss_options_are_checked():
    for kw, flag in (({"gkd_lambda": 1.5}, "--gkd-lambda"), ({"skew_alpha": -1}, "--skew-alpha"),
                     ({"kd_top_p": 0}, "--kd-top-p"), ({"kd_temperature": 0}, "--kd-temperature"),
                     ({"llmr_next": "mean"}, "--llmr-next"), ({"llmr_reward": "x"}, "--llmr-reward"),
                     ({"llmr_clip": 0}, "--llmr-clip")):
        with pytest.raises(ValueError, match=flag):
            TrainConfig(**kw)
    # an option the loss does not read does not block a resume
    assert TrainConfig(loss="kl", gkd_beta=0.9).fingerprint() == TrainConfig(loss="kl").fingerprint()
    assert TrainConfig(loss="gkd", gkd_beta=0.9).fingerprint() != TrainConfig(loss="gkd").fingerprint()
