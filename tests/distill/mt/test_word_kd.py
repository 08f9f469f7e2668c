"""The trainer's word-level / on-policy terms (word_kd): the options reach the losses, the teacher-output terms are
normalised by the global target-token count, GKD's on-policy batches are the student's own samples (temperature,
top-p), LLMR's options, and the samples' random stream is keyed by (seed, process, step, micro-batch)."""
import copy

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from ensemblekd.distill.mt import losses as L  # noqa: E402
from ensemblekd.distill.mt import word_kd  # noqa: E402
from ensemblekd.distill.mt.data import collate  # noqa: E402
from ensemblekd.distill.mt.llmr import llmr_loss  # noqa: E402
from ensemblekd.distill.mt.trainer import TrainConfig  # noqa: E402

from .test_trainer import EOS, PAD, _trainer, examples, tiny_m2m  # noqa: E402


@pytest.fixture(scope="module")
def models():
    # eval mode: a training-mode forward may draw random numbers (dropout layers), which these tests compare
    return tiny_m2m(dropout=0.0).eval(), tiny_m2m(dropout=0.0, seed=4).eval()


def _teacher_side(student, teacher, b, fn):
    s = torch.log_softmax(student(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                                  decoder_input_ids=b["decoder_input_ids"]).logits.float(), -1)
    t = word_kd.teacher_log_probs(teacher, b, b["decoder_input_ids"])
    return fn(t, s, b["labels"] != -100, reduction="sum")


@pytest.mark.parametrize("cfg,fn", [
    (dict(loss="skl", skew_alpha=0.3), lambda *a, **k: L.skew_kl_divergence(*a, alpha=0.3, **k)),
    (dict(loss="gkd", gkd_lambda=0.0, gkd_beta=0.2), lambda *a, **k: L.generalized_jsd(*a, beta=0.2, **k)),
    (dict(loss="gkd", gkd_lambda=0.0, gkd_beta=0.0), L.kl_divergence)])
def test_teacher_output_terms_use_the_options_and_the_global_token_count(tmp_path, models, cfg, fn):
    student, teacher = models
    exs = examples(6, with_teacher=True)
    b = collate(exs, PAD, with_teacher=True)
    config = TrainConfig(device="cpu", **cfg)
    t = _trainer(student, config, tmp_path, exs, teacher=copy.deepcopy(teacher))
    n = (b["labels"] != -100).sum()
    want = _teacher_side(student, teacher, b, fn) / n
    assert torch.allclose(t.compute_loss(student, b), want, atol=1e-6)
    # not vacuous: another alpha / beta gives another value
    other = {"skl": {"skew_alpha": 0.05}, "gkd": {"gkd_beta": 0.7}}[cfg["loss"]]
    t2 = _trainer(student, TrainConfig(device="cpu", **{**cfg, **other}), tmp_path / "o", exs,
                  teacher=copy.deepcopy(teacher))
    assert abs(float(t2.compute_loss(student, b).detach()) - float(want.detach())) > 1e-4
    # pieces normalised by the step's (global) token count sum to the whole: exact under DDP / accumulation
    halves = sum(t.compute_loss(student, collate(part, PAD, with_teacher=True), num_items_in_batch=n)
                 for part in (exs[:2], exs[2:]))
    assert torch.allclose(halves, want, atol=1e-6)


def test_student_samples_follow_their_seed_and_leave_the_global_stream_alone(models):
    student, teacher = models
    b = collate(examples(6, with_teacher=True), PAD, with_teacher=True)
    cfg = TrainConfig(loss="rkl", kd_max_new_tokens=6, device="cpu")
    runs = []
    for global_seed, seed in ((0, 5), (1, 5), (0, 6)):
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        runs.append(word_kd._student_sampled(student, teacher, b, cfg, PAD, EOS, seed)[3])
        assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_each_process_step_and_micro_batch_draws_its_own_seed(tmp_path, models, monkeypatch):
    student, teacher = models
    exs = examples(4, with_teacher=True)
    cfg = TrainConfig(loss="llmr", device="cpu", seed=3)
    t = _trainer(student, cfg, tmp_path, exs, teacher=copy.deepcopy(teacher))
    keys = {}
    for rank in (0, 1):
        monkeypatch.setattr(type(t.args), "process_index", property(lambda self, r=rank: r))
        t.state.global_step, t._kd_step = 0, None
        for step in range(3):
            t.state.global_step = step
            for micro in range(2):
                keys[rank, step, micro] = t._micro_batch()
    seeds = [k[1] for k in keys.values()]
    assert len(set(seeds)) == len(seeds)                     # ranks, steps and micro-batches: all distinct
    assert not any(k[0] for k in keys.values())              # llmr: never a GKD on-policy draw
    t.state.global_step, t._kd_step = 1, None                # a resumed run (rank 1) draws the same
    assert [t._micro_batch(), t._micro_batch()] == [keys[1, 1, 0], keys[1, 1, 1]]


def test_gkd_on_policy_batch_is_the_students_own_sample(tmp_path, models, monkeypatch):
    student, teacher = models
    exs = examples(6, with_teacher=True)
    b = collate(exs, PAD, with_teacher=True)
    cfg = TrainConfig(loss="gkd", gkd_lambda=1.0, gkd_beta=0.3, kd_temperature=0.7, kd_top_p=0.8,
                      kd_max_new_tokens=5, device="cpu")
    calls = []
    real = L.hf_sample_prefixes

    def spy(model, max_new_tokens, **kw):
        calls.append((model, max_new_tokens, kw))
        return real(model, max_new_tokens, **kw)

    monkeypatch.setattr(L, "hf_sample_prefixes", spy)
    t = _trainer(student, cfg, tmp_path, exs, teacher=copy.deepcopy(teacher))
    t.state.global_step = 7
    on_policy, seed = t._micro_batch()
    t._kd_step = None
    got = t.compute_loss(student, b)
    model, max_new, kw = calls[0]
    assert on_policy and model is student and max_new == 5 and kw["temperature"] == 0.7 and kw["top_p"] == 0.8
    assert torch.equal(kw["input_ids"], b["input_ids"])                  # this batch's own rows
    assert torch.equal(kw["decoder_input_ids"], b["decoder_input_ids"][:, :2])   # from the decoder prompt
    t_logp, s_logp, mask, tokens = word_kd._student_sampled(student, teacher, b, cfg, PAD, EOS, seed)
    assert not mask[:, 0].any() and mask.any()                          # the prompt is not a sampled step
    want = L.generalized_jsd(t_logp, s_logp, mask, beta=0.3)
    assert torch.allclose(got, want, atol=1e-6)
    off = TrainConfig(**{**cfg.__dict__, "gkd_lambda": 0.0})
    t_off = _trainer(student, off, tmp_path / "off", exs, teacher=copy.deepcopy(teacher))
    assert abs(float(t_off.compute_loss(student, b).detach()) - float(want.detach())) > 1e-4   # another set of prefixes


def test_llmr_options_reach_the_policy_gradient(models):
    student, teacher = models
    b = collate(examples(6, with_teacher=True), PAD, with_teacher=True)
    base = TrainConfig(loss="llmr", kd_max_new_tokens=6, device="cpu")
    side = word_kd._student_sampled(student, teacher, b, base, PAD, EOS, 11)
    values = {}
    for name, opts in {"dense": {}, "scaled": {"llmr_scale": 2.0}, "max": {"llmr_next": "max"},
                       "sparse": {"llmr_reward": "sparse"},
                       "sparse-nob": {"llmr_reward": "sparse", "llmr_baseline": False},
                       "clip": {"llmr_clip": 0.05}}.items():
        cfg = TrainConfig(**{**base.__dict__, **opts})
        _, got = word_kd.word_level_terms(cfg, student, teacher, b, pad_id=PAD, eos_id=EOS, sample_seed=11)
        want = llmr_loss(*side[:2], side[3], side[2], next_value=cfg.llmr_next, reward=cfg.llmr_reward,
                         baseline=cfg.llmr_baseline, scale=cfg.llmr_scale, clip=cfg.llmr_clip)
        assert torch.allclose(got, want, atol=1e-6), name
        values[name] = float(got.detach())
    assert values["scaled"] == pytest.approx(values["dense"] / 2, rel=1e-5)
    distinct = [values[k] for k in ("dense", "max", "sparse", "sparse-nob", "clip")]
    assert min(abs(a - c) for i, a in enumerate(distinct) for c in distinct[i + 1:]) > 1e-6, values
