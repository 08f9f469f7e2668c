"""Encoder alignment loss for zero-shot translation, from English-centric pairs only (after Arivazhagan et al.
2019, "The missing ingredient in zero-shot NMT", in the contrastive form of Pan et al. 2021, mRASP2).

At zero-shot time the encoder reads [<fr>] + German; in training it has only read [<fr>] + English. For every
training pair (X, en) or (en, X) (X non-English; only the pair itself is used, never another language's line),
the loss pulls the mean-pooled encoder states of [<T>] + X towards those of [<T>] + en, with T drawn from the
languages other than X and en, i.e. exactly the zero-shot encoder inputs. The English side is the anchor
(no gradient): it is the input the decoder learned to translate.

    loss = mean_i  -log softmax_j( cos(pool(enc(x_i)), stopgrad(pool(enc(e_j)))) / tau )[i]

i.e. x_i must be closer to its own English sentence than to the other English sentences of the batch. A plain
cosine distance (first version) was minimised by collapsing every pooled state onto one direction: in 66
updates the distance fell from 0.40 to 0.06 while the translation loss rose from 3.6 to 4.2. The contrastive
form has no such solution. pool = mean over the non-pad positions after the tag. Cost: two more encoder
passes per batch (one without gradient).
"""
from __future__ import annotations

import random

__all__ = ["TAU", "alignment_inputs", "alignment_loss"]

TAU = 0.1  # softmax temperature of the InfoNCE loss (mRASP2's value)


def alignment_inputs(examples, idx, directions, n_lines: int, tag_ids: dict, pad: int, rng: random.Random):
    """(x ids, x mask, e ids, e mask) LongTensors for the examples ``idx``.

    ``examples[i] = ([tgt tag] + src + [</s>], tgt + [</s>])`` in the order of ``directions`` (``n_lines``
    pairs each, as examples/zeroshot_mt/train.py's build_examples makes them); ``tag_ids``: language -> tag id."""
    import torch

    xs, es = [], []
    for i in idx:
        src, tgt = directions[i // n_lines]
        src_ids, tgt_ids = examples[i][0][1:], examples[i][1]
        other, x, e = (tgt, tgt_ids, src_ids) if src == "en" else (src, src_ids, tgt_ids)
        tag = tag_ids[rng.choice(sorted(lang for lang in tag_ids if lang not in ("en", other)))]
        xs.append([tag] + list(x))
        es.append([tag] + list(e))

    def pack(rows):
        ids = torch.full((len(rows), max(map(len, rows))), pad, dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row)
        return ids, (ids != pad).long()

    return (*pack(xs), *pack(es))


def _pooled(model, ids, mask):
    states = model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    keep = mask.clone()
    keep[:, 0] = 0  # the tag
    keep = keep.unsqueeze(-1).to(states.dtype)
    return (states * keep).sum(1) / keep.sum(1).clamp_min(1.0)


def alignment_loss(model, x, xm, e, em, tau: float = TAU):
    """InfoNCE over the batch: x_i against every e_j (no gradient through e), cosine similarity / tau.

    A column j != i whose English sentence is the same as row i's (a batch can hold de->en and fr->en of one
    line, which share their English side) is not a negative: it is left out of row i's softmax."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        anchor = F.normalize(_pooled(model, e, em), dim=-1)
    sim = F.normalize(_pooled(model, x, xm), dim=-1) @ anchor.T / tau
    keys = [tuple(row[1:int(n)].tolist()) for row, n in zip(e, em.sum(1))]
    same = torch.tensor([[a == b for b in keys] for a in keys], device=sim.device)
    same.fill_diagonal_(False)
    sim = sim.masked_fill(same, float("-inf"))
    return F.cross_entropy(sim, torch.arange(len(sim), device=sim.device))
