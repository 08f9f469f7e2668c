"""One batch decoded: first legs into the pivots, components' inputs, then one beam search or MBR."""
from __future__ import annotations

from dataclasses import replace

from .components import component_inputs, make_scorer, pivot_translations
from .multimodel import ensemble_scorer, model_groups, split_rows
from .results import ComponentOutput, Translation, from_hypothesis

__all__ = ["translate_batch"]


def translate_batch(models, adapter, sources, src, tgt, pivots, comps, method, mask, direct_rows, pivot_rows,
                     *, beam_size, max_new_tokens, length_penalty, num_return, return_provenance, voting, mean,
                     mbr_nbest, metric, pivot_nbest, pivot_template, labels, given_pivots=None):
    """Decode one batch of non-empty source lines with ``method``: one :class:`.results.Translation` each."""
    from .search import beam_search

    pivot_texts = {}
    if given_pivots is not None:
        pivot_texts = given_pivots
    elif pivots:
        # the first legs: one beam search per model that translates into the pivots (each model object once)
        done = []
        for m in sorted({c.pivot_model for c in comps if c.pivot is not None}):
            legs = next((texts for obj, texts in done if obj is models[m]), None)
            if legs is None:
                legs = pivot_translations(
                    models[m], adapter, sources, src, pivots, beam_size=beam_size, nbest=pivot_nbest,
                    max_new_tokens=max_new_tokens - max(adapter.length_offset(p) for p in pivots),
                    length_penalty=length_penalty, template=pivot_template, allowed_tokens=mask,
                    source_rows=pivot_rows)
                done.append((models[m], legs))
            pivot_texts.update({(m, lang): texts for lang, texts in legs.items()})
    room = None
    if adapter.decoder_only and adapter.max_target_positions is not None:
        room = adapter.max_target_positions - max_new_tokens     # a prompt must leave room for the output
    rows, inputs = component_inputs(adapter, comps, sources, src, tgt, pivot_texts, direct_rows=direct_rows,
                                    max_length=room)
    K = len(comps)
    offset = adapter.length_offset(tgt)
    search = dict(max_new_tokens=max_new_tokens - offset, eos_token_id=adapter.eos_token_ids,
                  length_penalty=length_penalty, length_offset=offset, early_stopping=True,
                  forced_eos_token_id=adapter.forced_eos_token_id, stop=getattr(adapter, "stop_criteria", None))

    if method == "mbr":
        return _mbr(models, adapter, rows, inputs, comps, tgt, mask, beam_size, mbr_nbest, metric, num_return,
                    return_provenance, search, labels)
    beam = 1 if method == "vote" else beam_size
    allowed = mask(tgt)
    scorer = ensemble_scorer(models, [c.model for c in comps], rows,
                             lambda m, r, k: make_scorer(m, adapter, r, tgt, k, allowed))
    hyps = beam_search(scorer, _combiner(method, comps, voting, mean), beam_size=beam, num_return=num_return,
                       return_provenance=return_provenance, **search)
    results = []
    for b, sent in enumerate(hyps):
        nbest = tuple(from_hypothesis(adapter, h, return_provenance) for h in sent)
        best = nbest[0] if nbest else Translation("", (), float("-inf"))
        extra = dict(nbest=nbest if num_return > 1 else ())
        if return_provenance:
            extra["components"] = tuple(ComponentOutput(c.name, inputs[b][k], model=labels[c.model])
                                        for k, c in enumerate(comps))
        results.append(replace(best, **extra))
    return results


def _mbr(models, adapter, rows, inputs, comps, tgt, mask, beam_size, nbest, metric, num_return, want, search,
         labels):
    """Each component decodes alone (the B*K rows as B*K sentences: one beam search per model over its rows);
    MBR picks per sentence.  Candidates are in component order (then rank); a candidate votes with its
    component's weight.
    """
    from .combiners import Single
    from .mbr import expected_utilities, mbr_select
    from .search import beam_search

    K = len(comps)
    hyps = [None] * len(rows)
    for model, cols in model_groups([c.model for c in comps], models):
        scorer = make_scorer(model, adapter, split_rows(rows, K, cols), tgt, 1, mask(tgt))
        found = beam_search(scorer, Single(), beam_size=beam_size, num_return=nbest, **search)
        for i, h in enumerate(found):
            hyps[(i // len(cols)) * K + cols[i % len(cols)]] = h
    weighted = any(c.weight != 1.0 for c in comps)
    results = []
    for b in range(len(rows) // K):
        cands, cw = [], []
        for k in range(K):
            for h in hyps[b * K + k]:
                cands.append(from_hypothesis(adapter, h, False))
                cw.append(comps[k].weight)
        texts = [c.text for c in cands]
        w = cw if weighted else None
        first = mbr_select(texts, metric, weights=w)
        order = [first]
        if num_return > 1:
            # the n-best: distinct texts by expected utility (a text several components produced votes
            # several times in the utilities, but is returned once); fewer when fewer distinct candidates
            gain = expected_utilities(texts, metric, weights=w)
            seen = {texts[first]}
            for i in sorted((i for i in range(len(texts)) if i != first), key=lambda i: (-gain[i], i)):
                if texts[i] not in seen:
                    seen.add(texts[i])
                    order.append(i)
        order = order[:num_return]
        extra = dict(nbest=tuple(cands[i] for i in order) if num_return > 1 else ())
        if want:
            per = [[] for _ in comps]
            for k in range(K):
                per[k] = tuple(from_hypothesis(adapter, h, False).text for h in hyps[b * K + k])
            extra["components"] = tuple(ComponentOutput(c.name, inputs[b][k], per[k], labels[c.model])
                                        for k, c in enumerate(comps))
        results.append(replace(cands[first], **extra))
    return results


def _combiner(method, comps, voting, mean):
    from .combiners import EBBS, Average, Single, Vote

    weights = [c.weight for c in comps]
    if method in ("direct", "pivot"):
        return Single()
    if method == "average":
        return Average(weights=weights, mean=mean)
    if method == "vote":
        return Vote(weights=weights)
    return EBBS(weights=weights, voting=voting)
