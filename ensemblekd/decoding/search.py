"""The one beam loop shared by every decoding method (single, average, vote, EBBS).

``beam_search`` owns everything that is the same for all methods: the running beam, the pool of
finished hypotheses, EOS handling, the length penalty, stopping and the cache reorder.  What varies
is the *combiner* (``combiners.py``): given the per-component next-token log-probabilities of the
running beam it returns a ranked list of candidate continuations ``(parent, token, score)``.

Rules (chosen to be exactly those of ``transformers`` 5.x ``GenerationMixin._beam_search``, so that
``Single`` reproduces ``model.generate(num_beams=Z, length_penalty=a, early_stopping=True)``):

* Start: ``B_0`` is one live beam with score 0; the other ``Z - 1`` slots are dead (score ``-inf``),
  so the first step expands beam 0 only.  A slot with score ``-inf`` is dead: its candidates are
  ``-inf`` and never selected.
* Each step the combiner ranks candidates best first; ``Single``/``Average`` return the top
  ``max(2, 1 + n_eos) * Z`` of all ``Z * V`` (``transformers`` keeps ``2Z`` so that ``Z`` unfinished
  ones survive when every beam picks EOS).
* :func:`split_finishing` is the selection rule applied to a ranked list: a candidate whose token is
  EOS (or any candidate at the last step, ``max_new_tokens`` reached) *finishes* only if it ranks
  within the top ``Z``; finishing candidates ranked lower are dropped.  The first ``Z``
  non-finishing candidates become the next running beam.  ``-inf`` candidates never count.  EBBS
  applies the same rule to each lower-level beam, so EBBS with ``K = 1`` is plain beam search.
* Finished hypotheses go to a pool of ``Z`` kept by ``score = logprob / length ** length_penalty``
  with ``length = len(tokens) + length_offset`` (EOS included; ``length_offset`` counts forced
  prompt tokens that ``transformers`` counts as generated, e.g. M2M100's target-language token).
* ``early_stopping=True``: a sentence is done once its pool holds ``Z`` hypotheses; nothing is added
  after that.  ``False`` / ``"never"``: the ``transformers`` heuristic (the best running score,
  length-normalised at the current length, resp. at the maximum length when ``length_penalty > 0``,
  can no longer beat the worst pooled one).  The loop ends when every sentence is done or after
  ``max_new_tokens`` steps.
* Stop strings (``stop=``, e.g. ``transformers``' ``StopStringCriteria``): a candidate whose token
  completes a stop string finishes exactly like an EOS candidate (the rule above; the stop token is
  kept), as ``generate(stop_strings=...)`` does.  The criterion sees the candidate's last tokens
  preceded by ``scorer.context(n)`` (the tail of the first component's prompt) when the scorer has it.
* Nothing left: a live beam whose next-token scores are ``-inf`` for every token and component
  (NaN logits count as ``-inf``) ends there; it enters the pool as it is (without EOS; its length
  in the penalty is at least 1).
* The result per sentence is the pool sorted by score, at most ``num_return`` hypotheses.
* A sentence that is done leaves the batch when the scorer implements the optional
  ``select_sentences(kept)`` (both HF scorers do): no more decoder work is spent on it
  (``generate`` keeps computing it).  Results do not change, up to float rounding: a smaller batch
  may round matrix products differently.

Cost per step: one ``scorer.step`` (one decoder forward over ``B*K*Z`` rows), one combiner call
and one ``scorer.reorder``; the bookkeeping here is ``O(B * Z * T)`` tensor work.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import torch

__all__ = ["Hypothesis", "beam_search", "split_finishing", "stop_hits", "eos_ids", "num_candidates"]

EosSpec = Union[int, Sequence[int], None]


@dataclass(frozen=True)
class Hypothesis:
    """One output of :func:`beam_search`.

    tokens: generated token ids (the decoder prompt excluded; EOS included when the hypothesis
        finished with it).
    score: ``logprob / (len(tokens) + length_offset) ** length_penalty`` (the ranking score).
    logprob: accumulated log-score.  For ``Single`` the model log-probability; for ``Average``
        the ensemble's; for EBBS the accumulated voting score of the upper level.
    provenance: with ``return_provenance=True`` and a combiner that reports it (EBBS, Vote; else
        None): for each output token the components (indices) whose lower-level beam (EBBS) or
        vote (Vote) had it.
    """

    tokens: tuple[int, ...]
    score: float
    logprob: float
    provenance: Optional[tuple[tuple[int, ...], ...]] = None


def eos_ids(eos_token_id: EosSpec) -> tuple[int, ...]:
    """Normalise ``eos_token_id`` (int, sequence of ints or None) to a tuple of ints."""
    if eos_token_id is None:
        return ()
    if isinstance(eos_token_id, int):
        return (eos_token_id,)
    ids = tuple(int(e) for e in eos_token_id)
    return ids


def num_candidates(beam_size: int, eos_token_id: EosSpec) -> int:
    """Candidates kept per list: ``max(2, 1 + n_eos) * beam_size`` as in ``transformers``."""
    return max(2, 1 + len(eos_ids(eos_token_id))) * beam_size


def split_finishing(
    tokens: torch.Tensor,
    scores: torch.Tensor,
    eos_token_id: EosSpec,
    beam_size: int,
    last_step: bool,
    stopped: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The selection rule on ranked candidate lists (best first along the last dim).

    tokens, scores: ``(..., N)``; stopped: optional ``(..., N)`` mask of candidates that complete a
    stop string (:func:`stop_hits`).  Returns boolean masks ``(finish, keep_running)`` of the same
    shape: ``finish`` = valid, finishing (EOS token, a stop string, or any token when ``last_step``) and ranked
    within the first ``beam_size``; ``keep_running`` = the first ``beam_size`` valid non-finishing
    candidates.  A candidate is valid iff its score is not ``-inf``.  ``O(N)``.
    """
    valid = scores > float("-inf")
    if last_step:
        finishing = torch.ones_like(valid)
    else:
        ids = eos_ids(eos_token_id)
        if not ids:
            finishing = torch.zeros_like(valid)
        elif len(ids) == 1:
            finishing = tokens == ids[0]
        else:
            finishing = torch.isin(tokens, torch.tensor(ids, device=tokens.device))
        if stopped is not None:
            finishing = finishing | stopped
    n = tokens.shape[-1]
    rank = torch.arange(n, device=tokens.device)
    finish = valid & finishing & (rank < beam_size)
    running = valid & ~finishing
    keep_running = running & (torch.cumsum(running, dim=-1) <= beam_size)
    return finish, keep_running


def stop_hits(stop, context: Optional[torch.Tensor], sequences: torch.Tensor, parents: torch.Tensor,
              tokens: torch.Tensor) -> torch.Tensor:
    """Which candidates ``(parent, token)`` complete a stop string.

    stop: a criterion on token rows ``[N, L] -> BoolTensor[N]`` that looks at the last
        ``stop.maximum_token_len`` tokens only (``transformers.StopStringCriteria``);
    context: ``[B, C]`` tokens before the continuation (left-filled), or None;
    sequences: ``[B, Z, t]`` the running continuations; parents, tokens: ``[B, ...]``.
    Returns a mask shaped like ``tokens``.  ``O(B * N * maximum_token_len)``.
    """
    B, t = sequences.shape[0], sequences.shape[-1]
    par, tok = parents.reshape(B, -1), tokens.reshape(B, -1)
    w = int(stop.maximum_token_len) - 1   # history tokens the criterion can see
    h = min(t, w)
    rows = [sequences[:, :, t - h:t][torch.arange(B, device=par.device)[:, None], par]] if h else []
    if h < w and context is not None and context.shape[-1]:
        ctx = context[:, -(w - h):]
        rows.insert(0, ctx[:, None, :].expand(B, par.shape[1], ctx.shape[-1]).to(tok.device))
    rows.append(tok[:, :, None])
    ids = torch.cat(rows, dim=-1).reshape(B * par.shape[1], -1)
    return stop(ids, None).reshape(tokens.shape).to(tokens.device)


def no_finite_continuation(logprobs: torch.Tensor) -> torch.Tensor:
    """``logprobs[B, K, Z, V]`` -> ``[B, Z]``: beams for which no component has a finite next token (the
    default rule of :meth:`~.combiners.Combiner.no_continuation`; such beams end without EOS)."""
    return (logprobs.amax(dim=-1) == float("-inf")).all(dim=1)


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"beam_search: {name} must be a positive int, got {value!r}")
    return value


def beam_search(
    scorer,
    combiner,
    *,
    beam_size: int,
    max_new_tokens: int,
    eos_token_id: EosSpec,
    length_penalty: float = 1.0,
    length_offset: int = 0,
    early_stopping: Union[bool, str] = True,
    forced_eos_token_id: Optional[int] = None,
    num_return: int = 1,
    return_provenance: bool = False,
    progress: Any = None,
    step_callback: Optional[Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]] = None,
    stop: Any = None,
) -> list[list[Hypothesis]]:
    """Beam search over ``scorer`` with the ranking rule of ``combiner``.

    scorer: a :class:`~ensemblekd.decoding.scorers.Scorer` for ``B`` sentences and ``K``
        components (fresh: ``start`` is called here).
    combiner: ``Single()``, ``Average()``, ``Vote()`` (use ``beam_size=1``) or ``EBBS()``.
    beam_size: ``Z``; max_new_tokens: ``T``, the most tokens generated after the decoder prompt
        (forced prompt tokens do not count: to match ``generate(max_new_tokens=N)`` with a forced
        BOS token pass ``N - length_offset``).
    eos_token_id: int, ints, or None (no EOS: every hypothesis runs to ``T`` tokens).
    length_penalty, length_offset, early_stopping: see the module docstring.
    forced_eos_token_id: as ``transformers``' ``ForcedEOSTokenLogitsProcessor`` (Marian and mBART
        configs set it): at the last step every component's log-probs become 0 for this token and
        ``-inf`` for the others, so hypotheses that reach ``max_new_tokens`` end with it.
    num_return: hypotheses returned per sentence (``1 <= num_return <= beam_size``).
    progress: None; True for a tqdm bar on stderr; or an object with ``update(n)`` (e.g. a tqdm)
        called once per step.
    step_callback: called after each step as ``f(step, sequences[B', Z, step + 1], scores[B', Z],
        sentences[B'])`` with the new running (upper) beam of the ``B'`` sentences still in the
        batch (``sentences``: their indices in the input), dead slots having score ``-inf``.
    stop: None, or a stop-string criterion (:func:`stop_hits`; e.g. ``transformers.StopStringCriteria``
        or a DecoderOnlyAdapter's ``stop_criteria``): candidates completing a stop string finish as
        EOS candidates do.  Combiners whose ``__call__`` takes ``stop_hits`` (EBBS) apply it to their
        lower-level beams too.

    Returns ``B`` lists of at most ``num_return`` :class:`Hypothesis`, best first.
    Complexity: ``T`` scorer steps; memory ``O(B * Z * T)`` besides the scorer's.
    """
    beam_size = _check_positive_int("beam_size", beam_size)
    max_new_tokens = _check_positive_int("max_new_tokens", max_new_tokens)
    num_return = _check_positive_int("num_return", num_return)
    if num_return > beam_size:
        raise ValueError(f"beam_search: num_return ({num_return}) must be <= beam_size ({beam_size})")
    if early_stopping not in (True, False, "never"):
        raise ValueError(f"beam_search: early_stopping must be True, False or 'never', got {early_stopping!r}")
    if isinstance(length_offset, bool) or not isinstance(length_offset, int) or length_offset < 0:
        raise ValueError(f"beam_search: length_offset must be a non-negative int, got {length_offset!r}")
    length_penalty = float(length_penalty)
    eos = eos_ids(eos_token_id)

    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = progress = tqdm(total=max_new_tokens, desc="decoding", unit="step", leave=False)

    with torch.inference_mode():
        try:
            return _loop(scorer, combiner, beam_size, max_new_tokens, eos, length_penalty, length_offset,
                         early_stopping, forced_eos_token_id, num_return, return_provenance, progress,
                         step_callback, stop)
        finally:
            if bar is not None:
                bar.close()


def _takes(fn, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _loop(scorer, combiner, Z, T, eos, alpha, offset, early_stopping, forced_eos, num_return, want_prov, progress,
          callback, stop=None):
    neg_inf = float("-inf")
    scorer.start(Z)
    B, K = scorer.num_sentences, scorer.num_components
    context = None
    if stop is not None and callable(getattr(scorer, "context", None)):
        context = scorer.context(max(int(stop.maximum_token_len) - 1, 0))
    pass_stop = stop is not None and _takes(combiner, "stop_hits")
    tokens = None
    state = None
    reported = False  # did the combiner report provenance?
    compact = callable(getattr(scorer, "select_sentences", None))
    for t in range(T):
        logprobs = scorer.step(tokens)  # (B, K, Z, V)
        if state is None:
            dev = logprobs.device
            scores = torch.full((B, Z), neg_inf, device=dev)
            scores[:, 0] = 0.0
            seqs = torch.zeros((B, Z, T), dtype=torch.long, device=dev)
            prov = torch.zeros((B, Z, T, K), dtype=torch.bool, device=dev) if want_prov else None
            pool_score = torch.full((B, Z), neg_inf, device=dev)  # length-normalised
            pool_logp = torch.full((B, Z), neg_inf, device=dev)
            pool_seq = torch.zeros((B, Z, T), dtype=torch.long, device=dev)
            pool_len = torch.zeros((B, Z), dtype=torch.long, device=dev)
            pool_prov = torch.zeros((B, Z, T, K), dtype=torch.bool, device=dev) if want_prov else None
            improvable = torch.ones(B, dtype=torch.bool, device=dev)  # transformers' heuristic flag
            done = torch.zeros(B, dtype=torch.bool, device=dev)
            batch = torch.arange(B, device=dev)[:, None]
            active = torch.arange(B, device=dev)  # original index of each current sentence
            results: list[list[Hypothesis]] = [[] for _ in range(B)]
            state = True
        last = t == T - 1
        if last and forced_eos is not None:
            forced = torch.full_like(logprobs, float("-inf"))
            forced[..., forced_eos] = 0.0
            logprobs = forced

        # nothing left: live beams the combiner's rule gives no finite continuation (default: none in
        # any component) end here, without EOS
        dead = getattr(combiner, "no_continuation", no_finite_continuation)(logprobs)
        empty = (scores > neg_inf) & dead

        hits = None
        if stop is not None:
            def hits(parents, toks, _seqs=seqs[:, :, :t], _ctx=context):
                return stop_hits(stop, _ctx, _seqs, parents, toks)
        extra = {"stop_hits": hits} if pass_stop else {}
        cand = combiner(logprobs, scores, eos_token_id=eos, beam_size=Z, last_step=last, **extra)
        stopped = None if hits is None else hits(cand.parents, cand.tokens)
        finish, keep = split_finishing(cand.tokens, cand.scores, eos, Z, last, stopped)
        n = cand.scores.shape[1]

        # next running beam: the first Z non-finishing candidates (dead slots if fewer)
        rank = torch.arange(n, device=dev)
        key = torch.where(keep, rank, rank + n)
        sel = torch.topk(key, Z, dim=1, largest=False, sorted=True).indices
        alive = keep.gather(1, sel)
        new_scores = torch.where(alive, cand.scores.gather(1, sel), neg_inf)
        parents = cand.parents.gather(1, sel)
        new_tokens = cand.tokens.gather(1, sel)

        # candidates for the pool: top-Z finishing candidates (length t + 1) and empty beams (length t)
        open_ = ~done
        fz = finish[:, :Z] & open_[:, None]
        cparents = cand.parents[:, :Z]
        fin_seq = seqs[batch, cparents]
        fin_seq[:, :, t] = cand.tokens[:, :Z]
        fin_norm = cand.scores[:, :Z] / ((t + 1 + offset) ** alpha)
        fin_norm = torch.where(fz, fin_norm, neg_inf)
        emp = empty & open_[:, None]
        emp_norm = torch.where(emp, scores / (max(t + offset, 1) ** alpha), neg_inf)
        merged_score = torch.cat((pool_score, fin_norm, emp_norm), dim=1)
        top = torch.topk(merged_score, Z, dim=1).indices
        pool_score = merged_score.gather(1, top)
        pool_logp = torch.cat((pool_logp, cand.scores[:, :Z], scores), dim=1).gather(1, top)
        pool_seq = torch.cat((pool_seq, fin_seq, seqs), dim=1)[batch, top]
        lens = torch.full((B, Z), t + 1, dtype=torch.long, device=dev)
        pool_len = torch.cat((pool_len, lens, lens - 1), dim=1).gather(1, top)
        if want_prov:
            cprov = cand.provenance
            reported = reported or cprov is not None
            step_prov = (cprov[:, :Z] if cprov is not None
                         else torch.zeros((B, Z, K), dtype=torch.bool, device=dev))
            fin_prov = prov[batch, cparents]
            fin_prov[:, :, t] = step_prov
            pool_prov = torch.cat((pool_prov, fin_prov, prov), dim=1)[batch, top]

        # advance the running beam
        seqs = seqs[batch, parents]
        seqs[:, :, t] = new_tokens
        if want_prov:
            prov = prov[batch, parents]
            if cand.provenance is not None:
                prov[:, :, t] = cand.provenance[batch, sel]
        scores = new_scores

        # stopping
        full = (pool_score > neg_inf).all(dim=1)
        if early_stopping is True:
            done = done | full
        else:
            hyp_len = (T + offset) if (early_stopping == "never" and alpha > 0) else (t + 1 + offset)
            best = scores.max(dim=1).values / (hyp_len ** alpha)
            improvable = improvable & (~full | (best > pool_score.min(dim=1).values))
            done = ~improvable
        done = done | ~(scores > neg_inf).any(dim=1)
        if callback is not None:
            callback(t, seqs[:, :, : t + 1], scores, active)
        if progress is not None:
            progress.update(1)
        if last or bool(done.all()):
            break
        scorer.reorder(parents)
        tokens = new_tokens
        if compact and bool(done.any()):
            # finished sentences leave the batch: their pools are final
            gone = torch.nonzero(done).flatten()
            hyps = _collect(pool_score[gone], pool_logp[gone], pool_seq[gone], pool_len[gone],
                            None if pool_prov is None else pool_prov[gone], num_return, want_prov and reported)
            for b, h in zip(active[gone].tolist(), hyps):
                results[b] = h
            kept = torch.nonzero(~done).flatten()
            scorer.select_sentences(kept)
            active, scores, seqs, tokens, improvable = (active[kept], scores[kept], seqs[kept], tokens[kept],
                                                        improvable[kept])
            if context is not None:
                context = context[kept.to(context.device)]
            pool_score, pool_logp, pool_seq, pool_len = (pool_score[kept], pool_logp[kept], pool_seq[kept],
                                                         pool_len[kept])
            if want_prov:
                prov, pool_prov = prov[kept], pool_prov[kept]
            done = done[kept]
            B = len(kept)
            batch = torch.arange(B, device=dev)[:, None]

    hyps = _collect(pool_score, pool_logp, pool_seq, pool_len, pool_prov, num_return, want_prov and reported)
    for b, h in zip(active.tolist(), hyps):
        results[b] = h
    return results


def _collect(pool_score, pool_logp, pool_seq, pool_len, pool_prov, num_return, want_prov):
    """Pool tensors (sorted best first by topk) -> lists of Hypothesis."""
    scores = pool_score.tolist()
    logps = pool_logp.tolist()
    seqs = pool_seq.tolist()
    lens = pool_len.tolist()
    provs = pool_prov[:, :num_return].tolist() if want_prov else None
    out: list[list[Hypothesis]] = []
    for b in range(len(scores)):
        hyps = []
        for j in range(min(num_return, len(scores[b]))):
            if scores[b][j] == float("-inf"):
                break
            n = lens[b][j]
            provenance = None
            if want_prov:
                provenance = tuple(tuple(k for k, on in enumerate(row) if on) for row in provs[b][j][:n])
            hyps.append(Hypothesis(tuple(seqs[b][j][:n]), scores[b][j], logps[b][j], provenance))
        out.append(hyps)
    return out
