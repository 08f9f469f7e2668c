"""LLMR's induced reward and policy gradient against the formulas, and its invariances checked exactly by
enumerating every sequence of a tabular student (3 steps, a vocabulary of 3 or 4 tokens)."""
import itertools
import math

import pytest
import torch

from ensemblekd.distill.mt.llmr import advantages, induced_reward, llmr_loss, reinforce_loss

F = [[[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 0.3, 0.4], [-3.0, 1.0, 1.0, 2.0]]]   # (1, 3, 4): f at s_0, s_1, s_2
EOS = 3


def _centred(row):
    m = sum(row) / len(row)
    return [x - m for x in row]


def _softmax_value(row):
    z = sum(math.exp(x) for x in row)
    return sum(math.exp(x) / z * x for x in row)


@pytest.mark.parametrize("how", ["softmax", "max"])
@pytest.mark.parametrize("center", [True, False])
def test_reward_on_a_hand_made_example_equals_the_formula(how, center):
    f = [(_centred(r) if center else list(r)) for r in F[0]]
    value = _softmax_value if how == "softmax" else max
    tokens = [0, 2, EOS]
    # r_t = f(s_t, a_t) - V(s_{t+1}); the step that emits EOS is terminal
    want = [f[0][0] - value(f[1]), f[1][2] - value(f[2]), f[2][EOS] - 0.0]
    r, b = induced_reward(torch.tensor(F, dtype=torch.float64), torch.tensor([tokens]),
                          torch.ones(1, 3, dtype=torch.bool), next_value=how, center=center)
    assert r[0].tolist() == pytest.approx(want, abs=1e-12)
    assert b[0].tolist() == pytest.approx([_softmax_value(x) for x in f], abs=1e-12)
    # a row that ends (EOS) after two steps: the third position is padding and the second is terminal
    r2, b2 = induced_reward(torch.tensor(F, dtype=torch.float64), torch.tensor([[1, EOS, 0]]),
                            torch.tensor([[True, True, False]]), next_value=how, center=center)
    assert r2[0].tolist() == pytest.approx([f[0][1] - value(f[1]), f[1][EOS], 0.0], abs=1e-12)
    assert b2[0, 2].item() == 0.0
    # returns-to-go, baseline, sparse, scale and clip
    adv = advantages(r, b, torch.ones(1, 3, dtype=torch.bool))[0].tolist()
    g = [want[0] + want[1] + want[2], want[1] + want[2], want[2]]
    bl = [_softmax_value(x) for x in f]
    assert adv == pytest.approx([g[i] - bl[i] for i in range(3)], abs=1e-12)
    sparse = advantages(r, b, torch.ones(1, 3, dtype=torch.bool), kind="sparse", scale=2.0)[0].tolist()
    assert sparse == pytest.approx([(g[0] - bl[0]) / 2] * 3, abs=1e-12)
    clipped = advantages(r, None, torch.ones(1, 3, dtype=torch.bool), clip=0.5)[0].tolist()
    assert clipped == pytest.approx([max(-0.5, min(0.5, x)) for x in g], abs=1e-12)


def test_current_next_value_weights_the_next_scores_with_this_states_policy():
    # the official LMReward code's softmax variant: V_t = sum_a softmax(f(s_t))_a f(s_{t+1}, a)
    f = [_centred(r) for r in F[0]]

    def weighted(now, nxt):
        z = sum(math.exp(x) for x in now)
        return sum(math.exp(x) / z * y for x, y in zip(now, nxt))

    r, b = induced_reward(torch.tensor(F, dtype=torch.float64), torch.tensor([[0, 2, EOS]]),
                          torch.ones(1, 3, dtype=torch.bool), next_value="current")
    want = [f[0][0] - weighted(f[0], f[1]), f[1][2] - weighted(f[1], f[2]), f[2][EOS]]
    assert r[0].tolist() == pytest.approx(want, abs=1e-12)
    assert b[0].tolist() == pytest.approx([_softmax_value(x) for x in f], abs=1e-12)
    # differs from the next state's own expectation (not vacuous)
    soft, _ = induced_reward(torch.tensor(F, dtype=torch.float64), torch.tensor([[0, 2, EOS]]),
                             torch.ones(1, 3, dtype=torch.bool), next_value="softmax")
    assert abs(float(soft[0, 0] - r[0, 0])) > 1e-3


def test_state_constant_shifts_reward_by_c_s_minus_c_next_and_centring_removes_it():
    f = torch.tensor(F, dtype=torch.float64)
    c = torch.tensor([[5.0, -2.0, 0.7]], dtype=torch.float64)
    tokens, mask = torch.tensor([[0, 2, 1]]), torch.ones(1, 3, dtype=torch.bool)   # truncated: no EOS
    for how in ("softmax", "max", "current"):
        r, b = induced_reward(f, tokens, mask, next_value=how, center=False)
        r2, b2 = induced_reward(f + c[..., None], tokens, mask, next_value=how, center=False)
        shift = [c[0, 0] - c[0, 1], c[0, 1] - c[0, 2], c[0, 2]]          # the last step is terminal
        assert (r2 - r)[0].tolist() == pytest.approx([float(x) for x in shift], abs=1e-12)
        assert (b2 - b)[0].tolist() == pytest.approx(c[0].tolist(), abs=1e-12)
        rc, _ = induced_reward(f, tokens, mask, next_value=how)
        rc2, _ = induced_reward(f + c[..., None], tokens, mask, next_value=how)
        assert torch.allclose(rc, rc2, atol=1e-12)
        # with the baseline the advantage does not move at all (dense and sparse)
        for kind in ("dense", "sparse"):
            assert torch.allclose(advantages(r, b, mask, kind=kind), advantages(r2, b2, mask, kind=kind), atol=1e-12)


# --------------------------------------------------------------------------- exact expectations
V, T, E = 3, 3, 2          # tokens 0, 1 and EOS = 2; at most 3 steps


def _sequences():
    """Every sequence the student can emit: ends with EOS, or is cut at T tokens."""
    out = []
    for n in range(1, T + 1):
        for seq in itertools.product(range(V), repeat=n):
            if E in seq[:-1]:
                continue
            if n < T and seq[-1] != E:
                continue
            out.append(seq)
    return out


def _prefixes():
    return [p for n in range(T) for p in itertools.product(range(V), repeat=n) if E not in p]


def _table(seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return {p: scale * torch.randn(V, generator=g, dtype=torch.float64) for p in _prefixes()}


def _tensors(seq, f_table):
    states = [seq[:t] for t in range(len(seq))]
    f = torch.stack([f_table[s] for s in states])[None]
    return f, torch.tensor([list(seq)]), torch.ones(1, len(seq), dtype=torch.bool), states


def _expected(f_table, student, **kw):
    """(E_y[-sum_t A_t grad log q], {state: E_y[sum over visits of A_t]}) over every sequence y ~ q."""
    grads = {p: torch.zeros(V, dtype=torch.float64) for p in student}
    per_state = {p: 0.0 for p in student}
    for seq in _sequences():
        f, tokens, mask, states = _tensors(seq, f_table)
        logits = [student[s].clone().requires_grad_(True) for s in states]
        logq = torch.log_softmax(torch.stack(logits), -1)[None]
        prob = math.exp(sum(float(logq[0, t, a].detach()) for t, a in enumerate(seq)))
        loss = llmr_loss(f, logq, tokens, mask, reduction="sum", **kw)
        loss.backward()
        for s, leaf in zip(states, logits):
            grads[s] += prob * leaf.grad
        r, b = induced_reward(f, tokens, mask, next_value=kw.get("next_value", "softmax"),
                              center=kw.get("center", True))
        adv = advantages(r, b if kw.get("baseline", True) else None, mask, kind=kw.get("reward", "dense"))
        for t, s in enumerate(states):
            per_state[s] += prob * float(adv[0, t])
    return grads, per_state


@pytest.mark.parametrize("reward", ["dense", "sparse"])
@pytest.mark.parametrize("baseline", [True, False])
@pytest.mark.parametrize("how", ["softmax", "max", "current"])
def test_state_constant_leaves_the_expected_update_unchanged(reward, baseline, how):
    f, student = _table(1), _table(2, 0.5)
    consts = {p: float(torch.randn(1, generator=torch.Generator().manual_seed(len(p) * 7 + sum(p))))
              for p in f}
    shifted = {p: f[p] + 3 * consts[p] for p in f}
    kw = dict(reward=reward, baseline=baseline, next_value=how, center=False)
    g1, _ = _expected(f, student, **kw)
    g2, _ = _expected(shifted, student, **kw)
    for p in g1:
        assert torch.allclose(g1[p], g2[p], atol=1e-10), p
    # not vacuous: a change that depends on the action does move the update
    bent = {p: f[p] + torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64) for p in f}
    g3, _ = _expected(bent, student, **kw)
    assert max(float((g1[p] - g3[p]).abs().max()) for p in g1) > 1e-3


def test_student_equal_to_teacher_gets_zero_mean_advantage():
    f = _table(3)
    teacher_logp = {p: torch.log_softmax(v, -1) for p, v in f.items()}
    _, per_state = _expected(teacher_logp, dict(teacher_logp))
    assert max(abs(v) for v in per_state.values()) < 1e-12
    # not vacuous: another student, or the max next value, gives a non-zero mean advantage somewhere
    _, other = _expected(teacher_logp, _table(4))
    _, maxed = _expected(teacher_logp, dict(teacher_logp), next_value="max")
    assert max(abs(v) for v in other.values()) > 1e-3 and max(abs(v) for v in maxed.values()) > 1e-3


def test_gradients_finite_with_masked_teacher_vocabulary_and_padding():
    torch.manual_seed(0)
    teacher = torch.log_softmax(torch.randn(2, 4, 5), -1)
    teacher[..., 3] = -math.inf                       # a token the teacher never allows
    student = torch.randn(2, 4, 5, requires_grad=True)
    tokens = torch.tensor([[3, 1, 2, 0], [0, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    tokens[1, 2:] = 4
    loss = llmr_loss(teacher, torch.log_softmax(student, -1), tokens, mask, clip=5.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    assert student.grad[0, 3].abs().sum() == 0 and student.grad[1, 2:].abs().sum() == 0   # padding: no gradient


def test_reinforce_loss_is_minus_advantage_weighted_log_likelihood_and_errors():
    logp = torch.log_softmax(torch.tensor([[[0.0, 1.0], [2.0, 0.0]]]), -1)
    adv = torch.tensor([[2.0, -1.0]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    got = reinforce_loss(logp, torch.tensor([[1, 0]]), adv, mask)
    assert float(got) == pytest.approx(-(2.0 * float(logp[0, 0, 1]) - 1.0 * float(logp[0, 1, 0])) / 2)
    with pytest.raises(ValueError, match="next_value"):
        induced_reward(logp, torch.tensor([[1, 0]]), mask, next_value="mean")
    with pytest.raises(ValueError, match="reward"):
        advantages(adv, None, mask, kind="episodic")
    with pytest.raises(ValueError, match="scale"):
        advantages(adv, None, mask, scale=0)


def test_sparse_advantage_starts_at_the_first_real_step_after_a_masked_prompt():
    # the trainer masks the decoder prompt (start token, language token): column 0 is not a real step
    f = torch.tensor(F, dtype=torch.float64)
    lead = torch.cat([torch.zeros(1, 1, 4, dtype=torch.float64), f], dim=1)        # (1, 4, 4): prompt column first
    tokens = torch.tensor([[0, 0, 2, EOS]])
    mask = torch.tensor([[False, True, True, True]])
    r, b = induced_reward(lead, tokens, mask)
    r0, b0 = induced_reward(f, tokens[:, 1:], mask[:, 1:])
    assert torch.allclose(r[:, 1:], r0) and torch.allclose(b[:, 1:], b0) and r[0, 0] == 0 and b[0, 0] == 0
    want = float(r0.sum() - b0[0, 0])                      # G_0 - b_0 of the real steps
    for baseline in (b, None):
        sparse = advantages(r, baseline, mask, kind="sparse")[0].tolist()
        g = want if baseline is not None else float(r0.sum())
        assert sparse == pytest.approx([0.0, g, g, g], abs=1e-12)
    # and equal to the advantage of the same row without the prompt column
    assert torch.allclose(advantages(r, b, mask, kind="sparse")[:, 1:], advantages(r0, b0, mask[:, 1:], kind="sparse"))
    # rows of different prompt offsets in one batch (and an all-masked dummy row)
    rows = torch.cat([lead, torch.cat([f, torch.zeros(1, 1, 4, dtype=torch.float64)], 1), lead]), torch.tensor(
        [[0, 0, 2, EOS], [0, 2, EOS, 0], [0, 0, 0, 0]]), torch.tensor(
        [[False, True, True, True], [True, True, True, False], [False] * 4])
    rr, bb = induced_reward(*rows)
    adv = advantages(rr, bb, rows[2], kind="sparse")
    assert adv[0, 1:].tolist() == pytest.approx([want] * 3, abs=1e-12)
    assert adv[1, :3].tolist() == pytest.approx([want] * 3, abs=1e-12) and adv[1, 3] == 0
    assert adv[2].abs().sum() == 0


def test_centring_makes_logits_and_log_probs_the_same_teacher():
    # the official code centres the raw logits; one model's log-probs differ from them by a state constant
    torch.manual_seed(1)
    logits = 3 * torch.randn(2, 5, 7, dtype=torch.float64)
    tokens = torch.randint(0, 7, (2, 5))
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 0]], dtype=torch.bool)
    for how in ("softmax", "max", "current"):
        a = induced_reward(logits, tokens, mask, next_value=how)
        b = induced_reward(torch.log_softmax(logits, -1), tokens, mask, next_value=how)
        assert torch.allclose(a[0], b[0], atol=1e-10) and torch.allclose(a[1], b[1], atol=1e-10)
        c = induced_reward(torch.log_softmax(logits, -1), tokens, mask, next_value=how, center=False)
        assert not torch.allclose(a[0], c[0], atol=1e-3)       # not vacuous: uncentred log-probs differ


def _all_sequences(vocab, eos, limit):
    """Every output of at most ``limit`` tokens: ended by EOS, or truncated at the limit."""
    out = []
    for n in range(1, limit + 1):
        for s in itertools.product(range(vocab), repeat=n):
            if eos not in s[:-1] and (s[-1] == eos or n == limit):
                out.append(s)
    return out


def _returns(teacher, how, vocab=4, eos=3, limit=4):
    """The whole return ``sum_t r_t`` of every sequence; ``teacher(prefix)`` gives f at that state."""
    got = {}
    for s in _all_sequences(vocab, eos, limit):
        scores = torch.stack([teacher(s[:t]) for t in range(limit)])[None]
        tokens = torch.tensor([list(s) + [0] * (limit - len(s))])
        mask = torch.tensor([[t < len(s) for t in range(limit)]])
        r, _ = induced_reward(scores, tokens, mask, next_value=how)
        got[s] = r.sum().item()
    return got


def _greedy(teacher, eos=3, limit=4):
    s = ()
    while len(s) < limit and (not s or s[-1] != eos):
        s += (int(torch.argmax(teacher(s))),)
    return s


@pytest.mark.parametrize("seed", range(6))
def test_with_the_max_next_value_the_teachers_greedy_output_earns_the_highest_return(seed):
    # sum_t r_t = f(s_0, a_0) + sum_{t>=1} (f(s_t, a_t) - max_a f(s_t, a)) <= max_a f(s_0, a): the teacher's
    # greedy output is optimal whatever its length (brute force over every output of a random tabular teacher)
    g, table = torch.Generator().manual_seed(seed), {}
    teacher = lambda prefix: table.setdefault(prefix, 2 * torch.randn(4, generator=g, dtype=torch.float64))  # noqa: E731
    got = _returns(teacher, "max")
    assert max(got.values()) == pytest.approx(got[_greedy(teacher)], abs=1e-12)


def test_with_the_softmax_next_value_a_never_ending_output_can_beat_the_teachers_choice():
    # the softmax next value V(s) = E_p f(s) is below max f(s), so every greedy step through an uncertain state
    # earns max f - E_p f > 0: the return favours long outputs through uncertain states over the teacher's own
    # choice (here: stopping at once); on the testbed an unclipped softmax student collapsed to repeating one
    # token up to the length limit
    def teacher(prefix):
        return torch.tensor([1.0, 0.0, 0.0, 1.5] if prefix == () else [1.0, 0.8, 0.6, 0.0], dtype=torch.float64)

    assert _greedy(teacher) == (3,)
    soft, hard = _returns(teacher, "softmax"), _returns(teacher, "max")
    assert max(soft, key=soft.get) == (0, 0, 0, 0)
    assert max(hard, key=hard.get) == (3,)


@pytest.mark.parametrize("seed", range(4))
def test_the_softmax_return_is_the_teachers_log_likelihood_plus_its_entropy_at_every_later_state(seed):
    # E_p f(s) = logsumexp f(s) - H(p(s)), so the softmax return telescopes to
    #   sum_t r_t = logsumexp f(s_0) + log p(y) + sum_{t>=1} H(p(s_t)):
    # the teacher's sequence log-likelihood plus the teacher's entropy at each visited state after the first,
    # i.e. every further step through an uncertain state adds its entropy (the length incentive); checked on
    # every output of a random tabular teacher
    g, table = torch.Generator().manual_seed(seed), {}
    teacher = lambda prefix: table.setdefault(prefix, 2 * torch.randn(4, generator=g, dtype=torch.float64))  # noqa: E731
    got = _returns(teacher, "softmax")
    for s, value in got.items():
        f = [teacher(s[:t]) - teacher(s[:t]).mean() for t in range(len(s))]
        logp = [torch.log_softmax(x, -1) for x in f]
        expected = torch.logsumexp(f[0], -1) + sum(lp[a] for lp, a in zip(logp, s))
        expected = expected - sum((lp.exp() * lp).sum() for lp in logp[1:])
        assert value == pytest.approx(float(expected), abs=1e-10)
