"""f-DISTILL step-wise losses against closed forms and a direct numpy computation."""
import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ensemblekd.distill.mt import losses as L


def _logp(rows):
    p = torch.tensor(rows, dtype=torch.float64)
    return torch.log(p / p.sum(-1, keepdim=True))


def _np_div(name, p, q):
    with np.errstate(divide="ignore", invalid="ignore"):
        def kl(a, b):
            return float(np.sum(np.where(a > 0, a * (np.log(a) - np.log(b)), 0.0)))
        if name == "kl":
            return kl(p, q)
        if name == "rkl":
            return kl(q, p)
        if name == "js":
            m = (p + q) / 2
            return 0.5 * kl(p, m) + 0.5 * kl(q, m)
        return 0.5 * float(np.abs(p - q).sum())


dists = st.lists(st.floats(0.01, 10.0), min_size=2, max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_matches_numpy_and_bounds(data):
    v = data.draw(st.integers(2, 6))
    p = np.array(data.draw(st.lists(st.floats(0.01, 10.0), min_size=v, max_size=v)))
    q = np.array(data.draw(st.lists(st.floats(0.01, 10.0), min_size=v, max_size=v)))
    p, q = p / p.sum(), q / q.sum()
    tp, tq = torch.tensor(p).log()[None], torch.tensor(q).log()[None]
    for name in L.DIVERGENCES:
        got = float(L.token_divergence(name, tp, tq))
        assert got == pytest.approx(_np_div(name, p, q), abs=1e-9)
        assert got >= -1e-12
    assert float(L.js_divergence(tp, tq)) <= math.log(2) + 1e-12
    assert float(L.tv_distance(tp, tq)) <= 1 + 1e-12
    # symmetric where it should be
    assert float(L.js_divergence(tp, tq)) == pytest.approx(float(L.js_divergence(tq, tp)), abs=1e-12)
    assert float(L.tv_distance(tp, tq)) == pytest.approx(float(L.tv_distance(tq, tp)), abs=1e-12)
    assert float(L.kl_divergence(tp, tq)) == pytest.approx(float(L.reverse_kl_divergence(tq, tp)), abs=1e-9)


def test_zero_iff_equal():
    p = _logp([[1, 2, 3, 4]])
    q = _logp([[1, 2, 3, 5]])
    for name in L.DIVERGENCES:
        assert float(L.token_divergence(name, p, p)) == pytest.approx(0.0, abs=1e-12)
        assert float(L.token_divergence(name, p, q)) > 1e-6


def test_disjoint_supports_hit_the_bounds():
    p = _logp([[1, 1, 0, 0]])
    q = _logp([[0, 0, 1, 1]]).clamp_min(-1e4)  # a student never has exact zeros
    assert float(L.js_divergence(p, q)) == pytest.approx(math.log(2), abs=1e-9)
    assert float(L.tv_distance(p, q)) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("name", L.DIVERGENCES)
def test_gradients_finite_when_teacher_has_zeros(name):
    teacher = _logp([[0.5, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    assert torch.isinf(teacher).any()
    logits = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    loss = L.token_divergence(name, teacher, torch.log_softmax(logits, -1))
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


def test_mask_ignores_padding_even_with_nan():
    t = _logp([[1, 2], [1, 1], [1, 3]])[None]            # (1, 3, 2)
    s = _logp([[2, 1], [1, 1], [3, 1]])[None].clone()
    s[0, 2] = float("nan")                                 # garbage at a padded position
    mask = torch.tensor([[1, 1, 0]])
    for name in L.DIVERGENCES:
        full = L.token_divergence(name, t, s, mask, reduction="none")
        assert full[0, 2] == 0
        mean = L.token_divergence(name, t, s, mask)
        assert float(mean) == pytest.approx(float(full[0, :2].sum() / 2))
        assert float(L.token_divergence(name, t, s, mask, "sum")) == pytest.approx(float(full.sum()))


def test_ensemble_log_probs_averages_probabilities():
    a, b = _logp([[1, 0, 0]]), _logp([[0, 1, 1]])
    got = L.ensemble_log_probs(torch.stack([a, b])).exp()
    assert torch.allclose(got, torch.tensor([[0.5, 0.25, 0.25]], dtype=torch.float64))
    got = L.ensemble_log_probs(torch.stack([a, b]), weights=[3, 1]).exp()
    assert torch.allclose(got, torch.tensor([[0.75, 0.125, 0.125]], dtype=torch.float64))
    with pytest.raises(ValueError, match="non-negative"):
        L.ensemble_log_probs(torch.stack([a, b]), weights=[-1, 2])
    with pytest.raises(ValueError, match="2 components"):
        L.ensemble_log_probs(torch.stack([a, b]), weights=[1, 2, 3])


def test_fdistill_combines_the_two_halves():
    g = torch.Generator().manual_seed(0)
    tA, sA, tB, sB = (torch.log_softmax(torch.randn(2, 3, 5, generator=g, dtype=torch.float64), -1)
                      for _ in range(4))
    mA = torch.tensor([[1, 1, 1], [1, 0, 0]])
    mB = torch.tensor([[1, 1, 0], [1, 1, 1]])
    ts, ss = L.Prefixes(tA, sA, mA), L.Prefixes(tB, sB, mB)
    assert float(L.fdistill_loss("kl", ts, None)) == pytest.approx(float(L.kl_divergence(tA, sA, mA)))
    assert float(L.fdistill_loss("rkl", None, ss)) == pytest.approx(
        float(L.reverse_kl_divergence(tB, sB, mB)))
    want = 0.5 * (L.js_teacher_half(tA, sA, mA) + L.js_student_half(tB, sB, mB))
    assert float(L.fdistill_loss("js", ts, ss)) == pytest.approx(float(want))
    want = 0.5 * (L.tv_distance(tA, sA, mA) + L.tv_distance(tB, sB, mB))
    assert float(L.fdistill_loss("tvd", ts, ss)) == pytest.approx(float(want))
    # on the same prefixes the JS halves add up to the JS divergence
    assert float(L.fdistill_loss("js", ts, L.Prefixes(tA, sA, mA))) == pytest.approx(
        float(L.js_divergence(tA, sA, mA)))


def test_errors():
    p = _logp([[1, 2, 3]])
    with pytest.raises(ValueError, match="shape"):
        L.kl_divergence(p, _logp([[1, 2]]))
    with pytest.raises(ValueError, match="mask"):
        L.kl_divergence(p, p, torch.ones(2))
    with pytest.raises(ValueError, match="unknown divergence"):
        L.token_divergence("hellinger", p, p)
    with pytest.raises(ValueError, match="reduction"):
        L.kl_divergence(p, p, reduction="avg")
    with pytest.raises(ValueError, match="student-sampled"):
        L.fdistill_loss("js", L.Prefixes(p, p), None)
    with pytest.raises(ValueError, match="teacher-sampled"):
        L.fdistill_loss("kl", None, L.Prefixes(p, p))


def test_sample_prefixes_stops_at_eos_and_pads():
    # a scorer that always puts all mass on token (t mod 3) + 1 where t is the prefix length; eos = 3
    def step(prefix):
        out = torch.full((prefix.shape[0], 5), -1e9)
        out[:, (prefix.shape[1] % 3) + 1] = 0.0
        return out
    start = torch.zeros(2, 1, dtype=torch.long)
    seq, mask = L.sample_prefixes(step, start, max_new_tokens=6, eos_id=3, pad_id=0)
    assert seq.tolist() == [[0, 2, 3], [0, 2, 3]]
    assert mask.tolist() == [[True, True], [True, True]]


def test_sample_prefixes_distribution():
    logp = torch.log(torch.tensor([[0.2, 0.8]]))
    g = torch.Generator().manual_seed(0)
    seq, mask = L.sample_prefixes(lambda p: logp.expand(p.shape[0], 2), torch.zeros(4000, 1, dtype=torch.long),
                                  max_new_tokens=1, eos_id=5, pad_id=0, generator=g)
    assert abs(float((seq[:, 1] == 1).float().mean()) - 0.8) < 0.03


def test_hf_sample_prefixes_with_tiny_model():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.MarianConfig(vocab_size=20, d_model=16, encoder_layers=1, decoder_layers=1,
                                    encoder_attention_heads=2, decoder_attention_heads=2,
                                    encoder_ffn_dim=16, decoder_ffn_dim=16, pad_token_id=0,
                                    eos_token_id=1, decoder_start_token_id=0, max_position_embeddings=32)
    torch.manual_seed(0)
    model = transformers.MarianMTModel(cfg).eval()
    ids = torch.tensor([[5, 6, 7, 1]])
    out = L.hf_sample_prefixes(model, 5, input_ids=ids, attention_mask=torch.ones_like(ids))
    assert out.shape[0] == 1 and 2 <= out.shape[1] <= 6 and int(out[0, 0]) == 0


# --------------------------------------------------------------------------- skew divergences and GKD's JSD
def _np_kl(a, b):
    return float(np.sum(np.where(a > 0, a * (np.log(a) - np.log(b)), 0.0)))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_skew_and_generalized_jsd_match_their_closed_forms(data):
    v = data.draw(st.integers(2, 6))
    p = np.array(data.draw(st.lists(st.floats(0.01, 10.0), min_size=v, max_size=v)))
    q = np.array(data.draw(st.lists(st.floats(0.01, 10.0), min_size=v, max_size=v)))
    a = data.draw(st.floats(0.0, 1.0))
    p, q = p / p.sum(), q / q.sum()
    tp, tq = torch.tensor(p).log()[None], torch.tensor(q).log()[None]
    assert float(L.skew_kl_divergence(tp, tq, alpha=a)) == pytest.approx(_np_kl(p, a * p + (1 - a) * q), abs=1e-9)
    assert float(L.skew_reverse_kl_divergence(tp, tq, alpha=a)) == pytest.approx(
        _np_kl(q, (1 - a) * p + a * q), abs=1e-9)
    m = a * p + (1 - a) * q
    want = _np_kl(p, q) if a == 0 else _np_kl(q, p) if a == 1 else a * _np_kl(p, m) + (1 - a) * _np_kl(q, m)
    assert float(L.generalized_jsd(tp, tq, beta=a)) == pytest.approx(want, abs=1e-9)
    # the skew bounds the log-ratio: SKL_a <= log(1 / a)
    if a > 0:
        assert float(L.skew_kl_divergence(tp, tq, alpha=a)) <= math.log(1 / a) + 1e-9


def test_skew_and_gjsd_end_points():
    p, q = _logp([[1, 2, 3, 4]]), _logp([[4, 1, 1, 2]])
    f = lambda fn, **kw: float(fn(p, q, **kw))  # noqa: E731
    assert f(L.skew_kl_divergence, alpha=0.0) == pytest.approx(f(L.kl_divergence), abs=1e-12)
    assert f(L.skew_reverse_kl_divergence, alpha=0.0) == pytest.approx(f(L.reverse_kl_divergence), abs=1e-12)
    assert f(L.skew_kl_divergence, alpha=1.0) == 0 and f(L.skew_reverse_kl_divergence, alpha=1.0) == 0
    assert f(L.generalized_jsd, beta=0.0) == pytest.approx(f(L.kl_divergence), abs=1e-12)
    assert f(L.generalized_jsd, beta=1.0) == pytest.approx(f(L.reverse_kl_divergence), abs=1e-12)
    assert f(L.generalized_jsd, beta=0.5) == pytest.approx(f(L.js_divergence), abs=1e-12)
    assert f(L.skew_kl_divergence, alpha=0.1) < f(L.kl_divergence)
    with pytest.raises(ValueError, match="alpha"):
        L.skew_kl_divergence(p, q, alpha=1.5)
    with pytest.raises(ValueError, match="beta"):
        L.generalized_jsd(p, q, beta=-0.1)


@pytest.mark.parametrize("fn,kw", [(L.skew_kl_divergence, {"alpha": 0.1}), (L.skew_reverse_kl_divergence,
                                   {"alpha": 0.1}), (L.skew_reverse_kl_divergence, {"alpha": 0.0}),
                                   (L.generalized_jsd, {"beta": 0.5}), (L.generalized_jsd, {"beta": 1.0})])
def test_new_divergences_have_finite_gradients_when_teacher_has_zeros(fn, kw):
    teacher = _logp([[0.5, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    logits = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    loss = fn(teacher, torch.log_softmax(logits, -1), **kw)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


# closed forms by hand on p = (1/2, 1/2), q = (1/4, 3/4): independent of the code's branches
_P, _Q = _logp([[1, 1]]), _logp([[1, 3]])
_KL = 0.5 * math.log(4 / 3)                                        # KL(p || q)
_RKL = 0.25 * math.log(1 / 2) + 0.75 * math.log(3 / 2)             # KL(q || p)
_JS = 0.5 * (0.5 * math.log(4 / 3) + 0.5 * math.log(4 / 5)) + 0.5 * (0.25 * math.log(2 / 3) + 0.75 * math.log(6 / 5))


@pytest.mark.parametrize("beta,want", [
    (0.0, _KL), (0.5, _JS), (1.0, _RKL),
    # beta = 1/4: m = p/4 + 3q/4 = (5/16, 11/16); beta KL(p||m) + (1 - beta) KL(q||m)
    (0.25, 0.25 * (0.5 * math.log(8 / 5) + 0.5 * math.log(8 / 11))
     + 0.75 * (0.25 * math.log(4 / 5) + 0.75 * math.log(12 / 11)))])
def test_generalized_jsd_closed_forms(beta, want):
    assert float(L.generalized_jsd(_P, _Q, beta=beta)) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("fn,alpha,want", [
    ("skl", 0.0, _KL), ("skl", 1.0, 0.0), ("srkl", 0.0, _RKL), ("srkl", 1.0, 0.0),
    # which distribution is mixed: SKL mixes alpha of the TEACHER into the student, alpha p + (1-alpha) q =
    # (5/16, 11/16) at alpha = 1/4; SRKL mixes alpha of the STUDENT into the teacher, (1-alpha) p + alpha q =
    # (7/16, 9/16)
    ("skl", 0.25, 0.5 * math.log(8 / 5) + 0.5 * math.log(8 / 11)),
    ("srkl", 0.25, 0.25 * math.log(4 / 7) + 0.75 * math.log(4 / 3))])
def test_skew_divergences_closed_forms(fn, alpha, want):
    f = L.skew_kl_divergence if fn == "skl" else L.skew_reverse_kl_divergence
    assert float(f(_P, _Q, alpha=alpha)) == pytest.approx(want, abs=1e-12)


def _trl_generalized_jsd(student_logits, teacher_logits, beta):
    """TRL's GKDTrainer.generalized_jsd_loss (per position, summed over the vocabulary), re-typed: F.kl_div(a, b)
    is KL(b || a); beta = 0 and 1 are its forward / reverse KL end points."""
    import torch.nn.functional as F

    s, t = F.log_softmax(student_logits, -1), F.log_softmax(teacher_logits, -1)
    if beta == 0:
        jsd = F.kl_div(s, t, reduction="none", log_target=True)
    elif beta == 1:
        jsd = F.kl_div(t, s, reduction="none", log_target=True)
    else:
        b = torch.tensor(beta, dtype=s.dtype)
        mix = torch.logsumexp(torch.stack([s + torch.log1p(-b), t + torch.log(b)]), dim=0)
        jsd = beta * F.kl_div(mix, t, reduction="none", log_target=True) + (1 - beta) * F.kl_div(
            mix, s, reduction="none", log_target=True)
    return jsd.sum(-1)


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_generalized_jsd_follows_trl_convention(beta):
    torch.manual_seed(0)
    t, s = torch.randn(3, 4, 6, dtype=torch.float64), torch.randn(3, 4, 6, dtype=torch.float64)
    ours = L.generalized_jsd(torch.log_softmax(t, -1), torch.log_softmax(s, -1), beta=beta, reduction="none")
    assert torch.allclose(ours, _trl_generalized_jsd(s, t, beta), atol=1e-12)


def test_generalized_jsd_end_points_continue_the_family():
    # the GKD paper's limits: JSD(beta) / beta -> KL(p || q) as beta -> 0, JSD(beta) / (1 - beta) -> KL(q || p)
    # as beta -> 1, so the end points continue the family (beta -> 0: KL, beta -> 1: RKL)
    eps = 1e-6
    assert float(L.generalized_jsd(_P, _Q, beta=eps)) / eps == pytest.approx(_KL, rel=1e-4)
    assert float(L.generalized_jsd(_P, _Q, beta=1 - eps)) / eps == pytest.approx(_RKL, rel=1e-4)


def test_hf_sample_prefixes_ignores_the_models_generation_constraints():
    # a checkpoint's generation_config may carry repetition penalties, n-gram blocking, a minimum length or
    # suppressed tokens: generate() would apply them, and the samples would not be the model's distribution
    transformers = pytest.importorskip("transformers")
    cfg = transformers.MarianConfig(vocab_size=12, d_model=16, encoder_layers=1, decoder_layers=1,
                                    encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
                                    decoder_ffn_dim=16, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                                    max_position_embeddings=32, init_std=0.2)
    torch.manual_seed(0)
    model = transformers.MarianMTModel(cfg).eval()
    ids = torch.tensor([[5, 6, 7, 1], [4, 4, 8, 1]])
    kw = dict(input_ids=ids, attention_mask=torch.ones_like(ids))

    def draw(m, **extra):
        torch.manual_seed(3)
        return L.hf_sample_prefixes(m, 8, **kw, **extra)

    clean = [draw(model) for _ in range(2)]
    constrained = copy.deepcopy(model)
    gc = constrained.generation_config
    gc.no_repeat_ngram_size, gc.repetition_penalty, gc.min_new_tokens, gc.suppress_tokens = 1, 5.0, 6, [2, 3]
    before = gc.to_dict()
    assert torch.equal(clean[0], clean[1]) and torch.equal(draw(constrained), clean[0])
    assert constrained.generation_config.to_dict() == before            # restored after the call
    torch.manual_seed(3)                                                 # not vacuous: generate() applies them
    direct = constrained.generate(**kw, do_sample=True, num_beams=1, top_k=0, max_new_tokens=8)
    assert not torch.equal(direct, clean[0])
    # temperature and top-p still shape the samples
    assert not torch.equal(draw(model, temperature=0.3, top_p=0.5), clean[0])
