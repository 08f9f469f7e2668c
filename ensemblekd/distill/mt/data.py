"""Training data of the MT student: examples, token-bucketed batches across ranks, collation.

Each :class:`TrainExample` is already tokenised by the language adapter: ``input_ids`` (encoder input),
``prompt`` (the decoder prompt the student will be given at inference, e.g. ``[</s>, __fr__]``) and
``target`` (output tokens ending with EOS).  The decoder is fed ``prompt + target[:-1]`` and the labels
cover exactly the ``target`` tokens, so the student learns what it will be asked at decoding time (a
forced language token is never a label).  Several directions can be mixed in one list.

Decoder-only students (an empty ``prompt``): ``input_ids`` is the prompt (the filled template the LM reads)
and ``target`` the continuation (the translation up to and including the token that ends it).  A batch is
laid out as the LM decodes: prompts LEFT-padded to a common width P (``input_ids``, ``attention_mask``),
continuations right-padded (``targets``, ``labels``), so continuation token j of every row sits at column
P + j of ``[prompt | continuation]``; :func:`.causal.continuation_logits` gives the positions explicit ids,
so the padding changes nothing (tested against each row alone).  The prompt is never a label.

Batches (:class:`TokenBucketSampler`, a batch sampler for the training engine's DataLoader): examples
are grouped by prompt length, sorted by length (ties broken by a seeded shuffle) and packed greedily into
*global* batches of at most ``max_tokens * world_size`` padded tokens; each epoch visits the global
batches in an order drawn from ``(seed, epoch)`` alone, and rank r takes the examples ``r, r + W, ...``
of each.  So the global batches do not depend on how many processes share them: W processes with
``max_tokens = M`` see the same batches as one process with ``max_tokens = W * M`` (the engine's loss is
normalised by the global number of target tokens, so the updates are the same too), and a resumed run
sees the same batches in the same order.  A global batch with fewer examples than ranks gives the
missing ranks a *dummy* (an example with every label masked: a forward and backward that adds nothing),
so that every rank takes part in every step.

Cost: O(N log N) to build the batches once; collation O(tokens) per batch.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, Sequence

__all__ = ["TrainExample", "make_batches", "TokenBucketSampler", "KDDataset", "collate", "pad", "left_pad"]


@dataclass(frozen=True)
class TrainExample:
    """One tokenised training pair.  ``teacher_inputs``: encoder inputs of the K teacher components
    (needed by the word-level losses only; e.g. the source and its pivot texts); for a decoder-only model
    (``prompt == ()``) ``input_ids`` and the ``teacher_inputs`` are prompts (e.g. the source's template and
    the pivot texts' templates) and ``target`` is the continuation."""

    input_ids: tuple[int, ...]
    prompt: tuple[int, ...]
    target: tuple[int, ...]
    teacher_inputs: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self):
        if not self.input_ids:
            raise ValueError("TrainExample.input_ids is empty")
        if not self.target:
            raise ValueError("TrainExample.target is empty (needs at least EOS)")


    @property
    def decoder_only(self) -> bool:
        """An example of a decoder-only student (no decoder prompt: ``input_ids`` is the LM's prompt)."""
        return not self.prompt


def _length(ex: TrainExample) -> int:
    return max(len(ex.input_ids), len(ex.prompt) + len(ex.target) - 1) if ex.prompt else \
        len(ex.input_ids) + len(ex.target) - 1


def make_batches(examples: Sequence[TrainExample], max_tokens: int, seed: int = 0) -> list[list[int]]:
    """Token-bucketed batches of example indices.

    Examples are grouped by prompt length (so a batch shares its prompt shape), sorted by length (ties
    broken by a seeded shuffle) and packed greedily so that ``len(batch) * padded width <= max_tokens``
    (padded width: encoder-decoder the longer of encoder and decoder inputs, decoder-only the longest
    prompt plus the longest continuation minus one; a single longer example forms its own batch).
    Deterministic in ``seed``.  O(N log N).  Encoder-decoder and decoder-only examples are not mixed (an error).
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if len({ex.decoder_only for ex in examples}) > 1:
        raise ValueError("training examples mix encoder-decoder (with a decoder prompt) and decoder-only ones")
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    order.sort(key=lambda i: (len(examples[i].prompt), _length(examples[i])))
    batches: list[list[int]] = []
    cur: list[int] = []
    a = b = 0   # running maxima: (encoder, decoder) lengths, or decoder-only (prompt, continuation) lengths
    for i in order:
        ex = examples[i]
        ea, eb = (len(ex.input_ids), len(ex.prompt) + len(ex.target) - 1) if ex.prompt else \
            (len(ex.input_ids), len(ex.target))
        na, nb = max(a, ea), max(b, eb)
        width = max(na, nb) if ex.prompt else na + nb - 1
        same_prompt = not cur or len(examples[cur[0]].prompt) == len(ex.prompt)
        if cur and (not same_prompt or (len(cur) + 1) * width > max_tokens):
            batches.append(cur)
            cur, na, nb = [], ea, eb
        cur.append(i)
        a, b = na, nb
    if cur:
        batches.append(cur)
    return batches


class TokenBucketSampler:
    """Batch sampler: this rank's share of each token-bucketed global batch (module doc).

    Yields lists of dataset indices; ``-(i + 1)`` stands for a dummy copy of example ``i`` (all labels
    masked).  ``set_epoch(e)`` selects the epoch's batch order (the training engine calls it).
    """

    def __init__(self, examples: Sequence[TrainExample], max_tokens: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        if not (0 <= rank < world_size):
            raise ValueError(f"rank {rank} out of range for world size {world_size}")
        self.batches = make_batches(examples, max_tokens * world_size, seed)
        self.seed, self.rank, self.world_size, self.epoch = seed, rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self, epoch: int) -> list[int]:
        """Global batch order of ``epoch`` (the same on every rank)."""
        order = list(range(len(self.batches)))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        for b in self.order(self.epoch):
            idx = self.batches[b]
            mine = idx[self.rank::self.world_size]
            yield mine if mine else [-(idx[0] + 1)]


class KDDataset:
    """Map-style dataset over the examples; index ``-(i + 1)`` is a dummy copy of example ``i``."""

    def __init__(self, examples: Sequence[TrainExample]):
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> tuple[TrainExample, bool]:
        return (self.examples[-i - 1], True) if i < 0 else (self.examples[i], False)


def pad(rows: Sequence[Sequence[int]], value: int):
    """(len(rows), longest) long tensor, right-padded with ``value``."""
    import torch

    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for j, r in enumerate(rows):
        out[j, : len(r)] = torch.tensor(list(r), dtype=torch.long)
    return out


def left_pad(rows: Sequence[Sequence[int]], value: int):
    """(len(rows), longest) long tensor, left-padded with ``value`` (decoder-only prompts)."""
    import torch

    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for j, r in enumerate(rows):
        if len(r):
            out[j, width - len(r):] = torch.tensor(list(r), dtype=torch.long)
    return out


def _collate_causal(pairs, pad_id: int, with_teacher: bool) -> dict:
    """Decoder-only batch: ``input_ids``/``attention_mask`` the left-padded prompts (B, P); ``targets`` the
    right-padded continuations (B, T, ``pad_id``); ``labels`` the same with -100 on padding and on every
    position of a dummy; ``causal`` True.  With ``with_teacher``: the K teacher prompts of every example,
    left-padded (``teacher_input_ids``, ``teacher_attention_mask``, ``teacher_owner``)."""
    import torch

    examples = [ex for ex, _ in pairs]
    out = {
        "input_ids": left_pad([ex.input_ids for ex in examples], pad_id),
        "attention_mask": left_pad([[1] * len(ex.input_ids) for ex in examples], 0),
        "targets": pad([ex.target for ex in examples], pad_id),
        "labels": pad([(-100,) * len(ex.target) if dummy else ex.target for ex, dummy in pairs], -100),
        "prompt_length": 0,
        "causal": True,
    }
    if with_teacher:
        rows = [(b, x) for b, ex in enumerate(examples) for x in ex.teacher_inputs]
        if any(not ex.teacher_inputs for ex in examples):
            raise ValueError("word-level loss: every example needs teacher_inputs")
        out["teacher_input_ids"] = left_pad([x for _, x in rows], pad_id)
        out["teacher_attention_mask"] = left_pad([[1] * len(x) for _, x in rows], 0)
        out["teacher_owner"] = torch.tensor([b for b, _ in rows], dtype=torch.long)
    return out


def collate(items: Sequence, pad_id: int, with_teacher: bool = False) -> dict:
    """Right-padded tensors (and ``prompt_length``, shared by the batch): input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, labels
    (-100 on the prompt positions, on padding and on every position of a dummy).  Decoder-only examples:
    :func:`_collate_causal` (left-padded prompts, right-padded continuations).

    ``items``: examples or ``(example, is_dummy)`` pairs.  With ``with_teacher``, also the K teacher
    component inputs of every example, flattened: ``teacher_input_ids`` (R, S), ``teacher_attention_mask``
    and ``teacher_owner`` (R,), the batch row each belongs to.
    """
    pairs = [it if isinstance(it, tuple) else (it, False) for it in items]
    examples = [ex for ex, _ in pairs]
    if examples[0].decoder_only:
        if not all(ex.decoder_only for ex in examples):
            raise ValueError("collate: a batch mixes encoder-decoder and decoder-only examples")
        return _collate_causal(pairs, pad_id, with_teacher)
    dec = [ex.prompt + ex.target[:-1] for ex in examples]
    lab = [(-100,) * (len(ex.prompt) - 1) + (tuple([-100] * len(ex.target)) if dummy else ex.target)
           for ex, dummy in pairs]
    out = {
        "input_ids": pad([ex.input_ids for ex in examples], pad_id),
        "attention_mask": pad([[1] * len(ex.input_ids) for ex in examples], 0),
        "decoder_input_ids": pad(dec, pad_id),
        "decoder_attention_mask": pad([[1] * len(d) for d in dec], 0),
        "labels": pad(lab, -100),
        "prompt_length": len(examples[0].prompt),
    }
    if any(len(ex.prompt) != out["prompt_length"] for ex in examples):
        raise ValueError("collate: the examples of one batch must share their prompt length")
    if with_teacher:
        import torch

        rows = [(b, x) for b, ex in enumerate(examples) for x in ex.teacher_inputs]
        if len(rows) < len(examples) or any(not ex.teacher_inputs for ex in examples):
            raise ValueError("word-level loss: every example needs teacher_inputs")
        out["teacher_input_ids"] = pad([x for _, x in rows], pad_id)
        out["teacher_attention_mask"] = pad([[1] * len(x) for _, x in rows], 0)
        out["teacher_owner"] = torch.tensor([b for b, _ in rows], dtype=torch.long)
    return out
