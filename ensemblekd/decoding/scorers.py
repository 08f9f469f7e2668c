"""Scorers: next-token log-probabilities of ``B`` sentences x ``K`` components x ``Z`` beams.

A scorer is built for one batch.  Rows are ordered sentence-major: encoder/prompt row ``b*K + k``,
decoder row ``(b*K + k)*Z + z``.  All rows go through ONE model forward per step with the model's
own KV cache (``transformers`` ``Cache`` objects); the cache is reordered once per step from the
``(B, Z)`` parents, shared by the ``K`` components of a sentence.

Protocol (see :class:`Scorer`)::

    scorer.start(beam_size)          # encoders once per row, prompt prefill, cache for B*K*Z rows
    scorer.step(tokens | None)       # -> FloatTensor[B, K, Z, V] log-probs (float32)
    scorer.reorder(parents[B, Z])    # beam z of sentence b continues beam parents[b, z]
    scorer.select_sentences(kept)    # optional: keep only sentences kept[B'] (increasing), drop the rest
    scorer.context(n)                # optional: LongTensor[B, n], the n tokens before the continuation
                                     # (first component's prompt / the decoder prompt; for stop strings)

Log-probabilities are ``log_softmax`` of the logits in float32.  NaN logits count as ``-inf``; a
row with no finite logit gives all ``-inf`` (the search then ends that hypothesis).  The optional
``allowed_tokens`` (BoolTensor[V]) sets the logits of other tokens to ``-inf`` before the softmax.
"""
from __future__ import annotations

import abc
import warnings
from typing import Optional, Protocol, Sequence, runtime_checkable

import torch

__all__ = ["Scorer", "Seq2SeqScorer", "CausalLMScorer", "normalize_logits"]


@runtime_checkable
class Scorer(Protocol):
    """What :func:`~ensemblekd.decoding.search.beam_search` needs from a model."""

    num_sentences: int
    num_components: int
    vocab_size: int

    def start(self, beam_size: int) -> None: ...

    def step(self, tokens: Optional[torch.Tensor]) -> torch.Tensor: ...

    def reorder(self, parents: torch.Tensor) -> None: ...


def normalize_logits(logits: torch.Tensor, disallowed: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``logits[R, V]`` -> float32 log-probs ``[R, V]``; may overwrite ``logits``.

    Disallowed token columns and NaN become ``-inf``; rows without any finite logit become all
    ``-inf``.  One extra reduction over the logits (a row max) detects the rare bad rows.
    """
    if logits.dtype != torch.float32:
        logits = logits.float()
    if disallowed is not None and disallowed.numel():
        logits.index_fill_(-1, disallowed, float("-inf"))
    row_max = logits.amax(dim=-1)
    bad = ~torch.isfinite(row_max)  # NaN in the row, +inf, or nothing finite
    if bool(bad.any()):
        rows = torch.nan_to_num(logits[bad], nan=float("-inf"), posinf=torch.finfo(torch.float32).max,
                                neginf=float("-inf"))
        logits[bad] = rows
        out = torch.log_softmax(logits, dim=-1)
        empty = ~(logits.amax(dim=-1) > float("-inf"))
        out[empty] = float("-inf")
        return out
    return torch.log_softmax(logits, dim=-1)


def _check_rows(rows: Sequence[Sequence[int]], name: str, owner: str) -> list[list[int]]:
    out = []
    for i, row in enumerate(rows):
        r = [int(t) for t in row]
        if not r:
            raise ValueError(f"{owner}: {name}[{i}] is empty; every row needs at least one token")
        out.append(r)
    if not out:
        raise ValueError(f"{owner}: {name} is empty")
    return out


def _pad(rows: list[list[int]], pad_id: int, left: bool, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if left:
            ids[i, width - len(r):] = torch.tensor(r)
            mask[i, width - len(r):] = 1
        else:
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
    return ids.to(device), mask.to(device)


def _cache_kwarg(model) -> str:
    """The forward's KV-cache argument: ``cache`` (newer transformers 5.x, where ``past_key_values`` is
    deprecated and goes in 5.40) or ``past_key_values`` (earlier 5.x)."""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def _out_cache(out):
    """The KV cache of a model output, under either name (the old attribute name warns in new versions)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


class _BaseScorer(abc.ABC):
    """Shared bookkeeping: shapes, allowed tokens, the beam row index."""

    def __init__(self, model, num_rows: int, num_components: int, allowed_tokens, owner: str):
        if isinstance(num_components, bool) or not isinstance(num_components, int) or num_components < 1:
            raise ValueError(f"{owner}: num_components must be a positive int, got {num_components!r}")
        if num_rows % num_components:
            raise ValueError(f"{owner}: {num_rows} input rows is not a multiple of num_components="
                             f"{num_components} (rows are sentence-major: b*K + k)")
        self.model = model
        self._cache_kw = _cache_kwarg(model)
        self.device = _model_device(model)
        self.num_components = num_components
        self.num_sentences = num_rows // num_components
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0]) \
            if model.get_output_embeddings() is not None else int(model.config.vocab_size)
        self._disallowed = None
        if allowed_tokens is not None:
            allowed = torch.as_tensor(allowed_tokens, dtype=torch.bool).flatten()
            if allowed.numel() != self.vocab_size:
                raise ValueError(f"{owner}: allowed_tokens has {allowed.numel()} entries, the model's "
                                 f"vocabulary {self.vocab_size}")
            self._disallowed = torch.nonzero(~allowed).flatten().to(self.device)
        self._beam_size = None
        if getattr(model, "training", False):
            warnings.warn(f"{owner}: the model is in training mode (dropout active); call model.eval()",
                          stacklevel=3)

    def _rows(self, parents: torch.Tensor) -> torch.Tensor:
        """parents[B, Z] -> flat decoder-row index ``[B*K*Z]`` of each new row's parent row."""
        B, K, Z = self.num_sentences, self.num_components, self._beam_size
        if tuple(parents.shape) != (B, Z):
            raise ValueError(f"reorder: parents must have shape {(B, Z)}, got {tuple(parents.shape)}")
        base = torch.arange(B * K, device=self.device).view(B, K, 1) * Z
        return (base + parents.to(self.device)[:, None, :]).reshape(-1)

    def _kept_rows(self, kept: torch.Tensor) -> torch.Tensor:
        """kept[B'] sentence indices -> their decoder rows ``[B'*K*Z]``; updates num_sentences."""
        KZ = self.num_components * self._beam_size
        kept = kept.to(self.device)
        if kept.ndim != 1 or (len(kept) and (int(kept.min()) < 0 or int(kept.max()) >= self.num_sentences)):
            raise ValueError(f"select_sentences: expected indices in [0, {self.num_sentences}), got {kept.tolist()}")
        self.num_sentences = len(kept)
        return (kept[:, None] * KZ + torch.arange(KZ, device=self.device)).reshape(-1)

    @abc.abstractmethod
    def _context_rows(self) -> list[list[int]]:
        """Per sentence, the tokens the continuation follows (each model family defines it)."""

    def context(self, n: int) -> torch.Tensor:
        """``LongTensor[B, n]``: the last ``n`` tokens before each sentence's continuation (its first
        component's prompt, or the decoder prompt), left-filled with the pad id as ``generate`` pads.  Stop
        strings (:func:`~ensemblekd.decoding.search.stop_hits`) may span this context and the output."""
        out = torch.full((self.num_sentences, n), self._pad_id, dtype=torch.long)
        if n:
            for b, row in enumerate(self._context_rows()[: self.num_sentences]):
                tail = row[-n:]
                if tail:
                    out[b, n - len(tail):] = torch.tensor(tail)
        return out.to(self.device)

    def _first(self, logits: torch.Tensor) -> torch.Tensor:
        lp = normalize_logits(logits, self._disallowed)
        B, K, Z = self.num_sentences, self.num_components, self._beam_size
        return lp.view(B, K, 1, -1).expand(B, K, Z, lp.shape[-1])

    def _decoder_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        B, K, Z = self.num_sentences, self.num_components, self._beam_size
        if tuple(tokens.shape) != (B, Z):
            raise ValueError(f"step: tokens must have shape {(B, Z)}, got {tuple(tokens.shape)}")
        return tokens.to(self.device)[:, None, :].expand(B, K, Z).reshape(B * K * Z, 1)


class Seq2SeqScorer(_BaseScorer):
    """Any Hugging Face encoder-decoder (M2M100, NLLB, mBART, Marian, T5, ...).

    encoder_input_ids: ``B*K`` token-id rows (row ``b*K + k`` = sentence b, component k), right-padded
        here with the model's pad id and an attention mask.
    decoder_prompt: tokens every hypothesis starts with, e.g. ``[decoder_start]`` or
        ``[decoder_start, <tgt lang>]`` (then pass ``length_offset=1`` to the search).

    ``start``: the encoder runs once over the ``B*K`` rows; the prompt is prefilled once per row
    (``B*K`` rows), then the cache (self- and cross-attention) is repeated ``Z`` times.
    ``reorder``: only the self-attention cache is reordered; the cross-attention keys/values are
    identical for all beams of one ``(b, k)``, and parents never leave their ``(b, k)`` block.
    Memory: the cache holds ``B*K*Z`` rows, like ``generate`` over ``B*K`` inputs with ``Z`` beams.
    """

    def __init__(self, model, encoder_input_ids, decoder_prompt, num_components: int = 1, *,
                 allowed_tokens=None):
        rows = _check_rows(encoder_input_ids, "encoder_input_ids", "Seq2SeqScorer")
        super().__init__(model, len(rows), num_components, allowed_tokens, "Seq2SeqScorer")
        if not getattr(model.config, "is_encoder_decoder", False):
            raise ValueError("Seq2SeqScorer: the model is not an encoder-decoder; use CausalLMScorer")
        self.decoder_prompt = [int(t) for t in decoder_prompt]
        if not self.decoder_prompt:
            raise ValueError("Seq2SeqScorer: decoder_prompt must hold at least one token "
                             "(the decoder start token)")
        pad = model.config.pad_token_id
        self._rows_in = rows
        self._pad_id = 0 if pad is None else int(pad)
        self._cache = None

    def start(self, beam_size: int) -> None:
        from transformers.modeling_outputs import BaseModelOutput

        Z = self._beam_size = int(beam_size)
        self.num_sentences = len(self._rows_in) // self.num_components  # a scorer may be started again
        ids, mask = _pad(self._rows_in, self._pad_id, left=False, device=self.device)
        with torch.inference_mode():
            enc = self.model.get_encoder()(input_ids=ids, attention_mask=mask, return_dict=True)
            hidden = enc.last_hidden_state
            prompt = torch.tensor([self.decoder_prompt], device=self.device).expand(len(ids), -1)
            out = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), attention_mask=mask,
                             decoder_input_ids=prompt, use_cache=True, return_dict=True)
            cache = _out_cache(out)
            cache.batch_repeat_interleave(Z)
            self._cache = cache
            self._mask = mask.repeat_interleave(Z, dim=0)
            self._enc = BaseModelOutput(last_hidden_state=hidden.repeat_interleave(Z, dim=0))
            self._pending = self._first(out.logits[:, -1, :])

    def step(self, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        if self._cache is None:
            raise RuntimeError("Seq2SeqScorer.step called before start()")
        if tokens is None:
            lp, self._pending = self._pending, None
            if lp is None:
                raise RuntimeError("Seq2SeqScorer.step(None) is only valid once, right after start()")
            return lp
        with torch.inference_mode():
            out = self.model(encoder_outputs=self._enc, attention_mask=self._mask,
                             decoder_input_ids=self._decoder_tokens(tokens), use_cache=True, return_dict=True,
                             **{self._cache_kw: self._cache})
            self._cache = _out_cache(out)
            lp = normalize_logits(out.logits[:, -1, :], self._disallowed)
        B, K, Z = self.num_sentences, self.num_components, self._beam_size
        return lp.view(B, K, Z, -1)

    def _context_rows(self):
        return [self.decoder_prompt] * (len(self._rows_in) // self.num_components)

    def select_sentences(self, kept: torch.Tensor) -> None:
        """Drop finished sentences: keep rows of ``kept`` (cache, encoder states, mask)."""
        from transformers.modeling_outputs import BaseModelOutput

        rows = self._kept_rows(kept)
        self._cache.batch_select_indices(rows)
        self._mask = self._mask[rows]
        self._enc = BaseModelOutput(last_hidden_state=self._enc.last_hidden_state[rows])

    def reorder(self, parents: torch.Tensor) -> None:
        idx = self._rows(parents)
        cache = self._cache
        self_cache = getattr(cache, "self_attention_cache", None)
        (self_cache if self_cache is not None else cache).reorder_cache(idx)


class CausalLMScorer(_BaseScorer):
    """Decoder-only LMs (GPT-2, Llama, ...): prompt ensembles.

    prompts: ``B*K`` rows (row ``b*K + k`` = sentence b, component k's prompt); all components
        of a sentence share the continuation.  Prompts are left-padded with an attention mask and
        position ids ``cumsum(mask) - 1`` (pads 0), as ``generate`` does; each new token gets the
        next position of its row.  Prefill runs once per prompt row, then the cache is repeated
        ``Z`` times; ``reorder`` reorders the cache only (mask and positions are equal within a
        ``(b, k)`` block).
    """

    def __init__(self, model, prompts, num_components: int = 1, *, pad_token_id: Optional[int] = None,
                 allowed_tokens=None):
        rows = _check_rows(prompts, "prompts", "CausalLMScorer")
        super().__init__(model, len(rows), num_components, allowed_tokens, "CausalLMScorer")
        if getattr(model.config, "is_encoder_decoder", False):
            raise ValueError("CausalLMScorer: the model is an encoder-decoder; use Seq2SeqScorer")
        if pad_token_id is None:
            pad_token_id = model.config.pad_token_id
        if pad_token_id is None:
            pad_token_id = model.config.eos_token_id if isinstance(model.config.eos_token_id, int) else 0
        self._pad_id = int(pad_token_id)
        self._rows_in = rows
        self._cache = None

    def start(self, beam_size: int) -> None:
        Z = self._beam_size = int(beam_size)
        self.num_sentences = len(self._rows_in) // self.num_components  # a scorer may be started again
        ids, mask = _pad(self._rows_in, self._pad_id, left=True, device=self.device)
        pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                             return_dict=True)
            cache = _out_cache(out)
            cache.batch_repeat_interleave(Z)
            self._cache = cache
            self._mask = mask.repeat_interleave(Z, dim=0)
            self._next_pos = pos[:, -1:].repeat_interleave(Z, dim=0) + 1
            self._pending = self._first(out.logits[:, -1, :])

    def step(self, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        if self._cache is None:
            raise RuntimeError("CausalLMScorer.step called before start()")
        if tokens is None:
            lp, self._pending = self._pending, None
            if lp is None:
                raise RuntimeError("CausalLMScorer.step(None) is only valid once, right after start()")
            return lp
        with torch.inference_mode():
            self._mask = torch.cat((self._mask, self._mask.new_ones((self._mask.shape[0], 1))), dim=1)
            out = self.model(input_ids=self._decoder_tokens(tokens), attention_mask=self._mask,
                             position_ids=self._next_pos, use_cache=True, return_dict=True,
                             **{self._cache_kw: self._cache})
            self._cache = _out_cache(out)
            self._next_pos = self._next_pos + 1
            lp = normalize_logits(out.logits[:, -1, :], self._disallowed)
        B, K, Z = self.num_sentences, self.num_components, self._beam_size
        return lp.view(B, K, Z, -1)

    def _context_rows(self):
        return self._rows_in[:: self.num_components]

    def select_sentences(self, kept: torch.Tensor) -> None:
        """Drop finished sentences: keep rows of ``kept`` (cache, mask, positions)."""
        rows = self._kept_rows(kept)
        self._cache.batch_select_indices(rows)
        self._mask = self._mask[rows]
        self._next_pos = self._next_pos[rows]

    def reorder(self, parents: torch.Tensor) -> None:
        self._cache.reorder_cache(self._rows(parents))
