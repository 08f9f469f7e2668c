"""Several models in one ensemble: one scorer per model, their log-probabilities side by side.

A component is (model, input, target prompt) (:mod:`.components`).  With ``M`` models sharing one tokenizer
and vocabulary, the ``K`` components of a sentence are split by model: model ``m`` scores the components
``columns[m]`` (``K_m`` of them).  :class:`MultiScorer` keeps one scorer per *distinct* model (the same object
given twice is one scorer), each with its own KV cache over its ``B * K_m * Z`` rows, and per step

* calls every model's scorer once (one forward per model over all of its rows);
* places the ``[B, K_m, Z, V]`` log-probs at their components: ``[B, K, Z, V]``, the layout every combiner
  takes (one copy into a buffer reused from step to step; a slice per model when the columns are
  model-major, as :func:`~.components.build_components` makes them);
* forwards ``reorder(parents)`` / ``select_sentences(kept)`` to every scorer (the ``B x Z`` beam is shared);
  ``context(n)`` (stop strings) is the first component's.

So the beam loop and the combiners are the ones of a single model; only the scorer differs.  Cost per step:
the models' forwards plus one copy of the ``B K Z V`` log-probs; memory: the models' caches plus that copy.

:func:`check_models` refuses models that cannot share an ensemble (different vocabulary size, special tokens,
language scheme, decoder prompts, position limits, or tokenizers), naming both models and what differs,
before any model work.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch

__all__ = ["MultiScorer", "ModelMismatchError", "check_models", "check_model_folders", "load_light",
           "model_labels", "model_groups", "split_rows", "ensemble_scorer"]


class ModelMismatchError(ValueError):
    """Models (or tokenizers) that cannot be combined in one ensemble."""


def model_labels(models: Sequence, names: Optional[Sequence[str]] = None) -> list[str]:
    """A display name per model: ``names[i]``, else its ``name_or_path``, else ``models[i]``; a name given
    to two different models gets ``#i`` appended."""
    out = []
    for i, m in enumerate(models):
        label = names[i] if names is not None else str(getattr(m, "name_or_path", "") or "")
        out.append(label or f"models[{i}]")
    seen: dict[str, int] = {}
    for i, label in enumerate(out):
        j = seen.setdefault(label, i)
        if j != i and models[j] is not models[i]:
            out[i] = f"{label}#{i}"
    return out


def model_groups(model_of: Sequence[int], models: Sequence) -> list[tuple[object, list[int]]]:
    """``model_of[k]`` (model index of component k) -> ``[(model, [k, ...])]``, one entry per distinct model
    object in order of first use (the same object under two indices is one entry)."""
    groups: list[tuple[object, list[int]]] = []
    for k, m in enumerate(model_of):
        model = models[m]
        for g in groups:
            if g[0] is model:
                g[1].append(k)
                break
        else:
            groups.append((model, [k]))
    return groups


def split_rows(rows: Sequence, K: int, columns: Sequence[int]) -> list:
    """Sentence-major rows (``b*K + k``) -> the rows of components ``columns`` (``b*len(columns) + j``)."""
    return [rows[b * K + k] for b in range(len(rows) // K) for k in columns]


class MultiScorer:
    """The scorers of several models as one :class:`~.scorers.Scorer` of ``K = sum K_m`` components.

    scorers: one per distinct model, each over the same ``B`` sentences (its rows ``b * K_m + j``).
    columns: ``columns[m][j]`` = the component index (in ``[0, K)``) of scorer m's j-th component; together a
        permutation of ``range(K)``.
    ``step`` returns float32 ``[B, K, Z, V]`` on the first scorer's device.
    """

    def __init__(self, scorers: Sequence, columns: Sequence[Sequence[int]]):
        if len(scorers) != len(columns) or not scorers:
            raise ValueError("MultiScorer: give one list of columns per scorer (and at least one scorer)")
        self.scorers = list(scorers)
        self.columns = [list(c) for c in columns]
        flat = [k for c in self.columns for k in c]
        self.num_components = len(flat)
        if sorted(flat) != list(range(self.num_components)):
            raise ValueError(f"MultiScorer: columns {self.columns} are not a permutation of "
                             f"range({self.num_components})")
        for s, c in zip(self.scorers, self.columns):
            if s.num_components != len(c):
                raise ValueError(f"MultiScorer: a scorer has {s.num_components} components but {len(c)} columns")
        sizes = {s.vocab_size for s in self.scorers}
        if len(sizes) != 1:
            raise ModelMismatchError(f"MultiScorer: the models' vocabulary sizes differ ({sorted(sizes)})")
        self.vocab_size = sizes.pop()
        if len({s.num_sentences for s in self.scorers}) != 1:
            raise ValueError("MultiScorer: the scorers hold different numbers of sentences")
        # where each scorer's log-probs go: a slice of the components (model-major) or single columns
        self._slices = [slice(c[0], c[-1] + 1) if c == list(range(c[0], c[-1] + 1)) else None
                        for c in self.columns]
        self._store: Optional[torch.Tensor] = None   # the step output's memory, reused from step to step
        if not all(callable(getattr(s, "select_sentences", None)) for s in self.scorers):
            self.select_sentences = None  # the search then keeps finished sentences in the batch
        self._first = next(i for i, c in enumerate(self.columns) if 0 in c)
        if not callable(getattr(self.scorers[self._first], "context", None)):
            self.context = None

    @property
    def num_sentences(self) -> int:
        return self.scorers[0].num_sentences

    def start(self, beam_size: int) -> None:
        for s in self.scorers:
            s.start(beam_size)

    def step(self, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        """``[B, K, Z, V]`` log-probs; the tensor is overwritten by the next ``step`` (clone it to keep it).

        Reusing its memory matters on CPU: a fresh tensor of more than 32 MiB is a fresh ``mmap`` each step
        (glibc's threshold), whose page faults cost more than the copy itself."""
        out = None
        for s, cols, where in zip(self.scorers, self.columns, self._slices):
            lp = s.step(tokens)
            if out is None:
                out = self._buffer((lp.shape[0], self.num_components, *lp.shape[2:]), lp)
            lp = lp.to(out.device)
            if where is not None:
                out[:, where].copy_(lp)
            else:
                for j, k in enumerate(cols):
                    out[:, k].copy_(lp[:, j])
            del lp
        return out

    def _buffer(self, shape, like: torch.Tensor) -> torch.Tensor:
        n = math.prod(shape)
        store = self._store
        if store is None or store.numel() < n or store.dtype != like.dtype or store.device != like.device:
            store = self._store = torch.empty(n, dtype=like.dtype, device=like.device)
        return store[:n].view(shape)

    def reorder(self, parents: torch.Tensor) -> None:
        for s in self.scorers:
            s.reorder(parents)

    def select_sentences(self, kept: torch.Tensor) -> None:
        for s in self.scorers:
            s.select_sentences(kept)

    def context(self, n: int) -> torch.Tensor:
        """The tokens before the continuation, as the first component's scorer has them (stop strings)."""
        return self.scorers[self._first].context(n)


def ensemble_scorer(models: Sequence, model_of: Sequence[int], rows: Sequence, make: Callable):
    """The scorer of ``B * K`` sentence-major ``rows`` whose component k is scored by ``models[model_of[k]]``.

    ``make(model, rows, num_components)`` builds one model's scorer.  One distinct model: that scorer over all
    rows (exactly the single-model path); else a :class:`MultiScorer` over one scorer per distinct model.
    """
    K = len(model_of)
    groups = model_groups(model_of, models)
    if len(groups) == 1:
        return make(groups[0][0], list(rows), K)
    return MultiScorer([make(m, split_rows(rows, K, cols), len(cols)) for m, cols in groups],
                       [cols for _, cols in groups])


# ----------------------------------------------------------------------------- compatibility
def _vocab_size(model) -> Optional[int]:
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if out is not None and getattr(out, "weight", None) is not None:
        return int(out.weight.shape[0])
    return getattr(getattr(model, "config", None), "vocab_size", None)


def _tokenizer_difference(a, b, probe: Sequence[str]) -> Optional[str]:
    """What differs between two tokenizers (vocabulary, special tokens, the ids of ``probe``), or None."""
    if a is b:
        return None
    va, vb = a.get_vocab(), b.get_vocab()
    if va != vb:
        if len(va) != len(vb):
            return f"tokenizer vocabularies of {len(va)} vs {len(vb)} tokens"
        tok = next(t for t in sorted(set(va) | set(vb)) if va.get(t) != vb.get(t))
        return f"tokenizer vocabularies differ: token {tok!r} is id {va.get(tok)} vs {vb.get(tok)}"
    for name in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        x, y = getattr(a, name, None), getattr(b, name, None)
        if x != y:
            return f"tokenizer {name} {x} vs {y}"
    for text in probe:
        x, y = a(text, add_special_tokens=False)["input_ids"], b(text, add_special_tokens=False)["input_ids"]
        if x != y:
            return f"the tokenizers split {text[:40]!r} differently ({len(x)} vs {len(y)} tokens)"
    return None


def _adapter_difference(a, b, langs: Sequence[str], templates: Sequence) -> Optional[str]:
    """What differs between two models' language adapters for ``langs``, or None."""
    if type(a) is not type(b) or a.family != b.family:
        return f"model families {a.family} vs {b.family}"
    for name in ("eos_token_ids", "pad_token_id", "forced_eos_token_id", "decoder_start_token_id",
                 "max_source_length", "max_target_positions"):
        x, y = getattr(a, name, None), getattr(b, name, None)
        if x != y:
            return f"{name.replace('_', ' ')} {x} vs {y}"
    if getattr(a, "scheme", None) != getattr(b, "scheme", None):
        return f"language schemes {a.scheme!r} vs {b.scheme!r}"
    known = set(a.codes())
    langs = [lang for lang in langs if lang in known]   # unknown codes are reported by the language checks
    for lang in langs:
        if a.decoder_prompt(lang) != b.decoder_prompt(lang):
            return f"decoder prompts for {lang!r} {a.decoder_prompt(lang)} vs {b.decoder_prompt(lang)}"
        if a.length_offset(lang) != b.length_offset(lang):
            return f"length offsets for {lang!r} {a.length_offset(lang)} vs {b.length_offset(lang)}"
    if langs:
        for tpl in templates:
            x = a.encode(["a b c"], langs[-1], langs[0], template=tpl)
            y = b.encode(["a b c"], langs[-1], langs[0], template=tpl)
            if x != y:
                return f"inputs for {langs[-1]}->{langs[0]} {x[0]} vs {y[0]}"
    return None


def check_models(models: Sequence, labels: Sequence[str], *, adapters: Optional[Sequence] = None,
                 tokenizers: Optional[Sequence] = None, langs: Sequence[str] = (), templates: Sequence = (None,),
                 probe: Sequence[str] = ()) -> None:
    """Raise :class:`ModelMismatchError` (one line, naming both models and what differs) unless every model
    can join ``models[0]`` in one ensemble: same architecture kind (encoder-decoder or not), output
    vocabulary size, special tokens, language adapter (family, scheme, decoder prompts and inputs for
    ``langs``, position limits) and, when ``tokenizers`` holds one per model, the same tokenizer (vocabulary,
    special tokens, the split of the ``probe`` texts).  Cost: config and vocabulary comparisons only.
    """
    def fail(i, what):
        raise ModelMismatchError(f"models[{i}] ({labels[i]}) and models[0] ({labels[0]}) cannot be combined: "
                                 f"{what}; an ensemble needs models that share one tokenizer and vocabulary")

    first = models[0]
    for i in range(1, len(models)):
        m = models[i]
        if m is first:
            continue
        enc = (bool(getattr(m.config, "is_encoder_decoder", False)), bool(getattr(first.config, "is_encoder_decoder",
                                                                                  False)))
        if enc[0] != enc[1]:
            kind = {True: "encoder-decoder", False: "decoder-only"}
            fail(i, f"{kind[enc[0]]} vs {kind[enc[1]]}")
        va, vb = _vocab_size(m), _vocab_size(first)
        if va != vb:
            fail(i, f"vocabulary sizes {va} vs {vb}")
        if tokenizers is not None:
            what = _tokenizer_difference(tokenizers[i], tokenizers[0], probe)
            if what:
                fail(i, what)
        if adapters is not None:
            what = _adapter_difference(adapters[i], adapters[0], list(langs), list(templates))
            if what:
                fail(i, what)


def load_light(path, tokenizer_path=None):
    """``(config, generation config, tokenizer)`` of a saved model folder, without its weights (cheap); None when
    the folder is not readable (the weight loader then names the problem)."""
    from pathlib import Path

    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    from .._runtime import quiet_hf_progress

    path = Path(path)
    if not (path / "config.json").is_file():
        return None
    try:
        config = AutoConfig.from_pretrained(path)
        with quiet_hf_progress(True):
            tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or path)
        try:
            gen = GenerationConfig.from_pretrained(path)
        except OSError:
            gen = GenerationConfig.from_model_config(config)
    except Exception:  # a broken folder: loading the weights gives the message naming it
        return None
    return config, gen, tokenizer


def check_model_folders(paths: Sequence, *, langs: Sequence[str], templates: Sequence = (None,),
                        tokenizer_path=None, probe: Sequence[str] = ()) -> None:
    """:func:`check_models` for saved model folders, from their configs and tokenizers only (before any weights
    load); labels are the paths.  Unreadable folders are skipped (their loading fails later, naming them)."""
    from types import SimpleNamespace

    from .languages import get_adapter

    paths = [str(p) for p in paths]
    if len(set(paths)) < 2:
        return
    light = [load_light(p, tokenizer_path) for p in paths]
    if any(x is None for x in light):
        return
    adapters = [get_adapter(SimpleNamespace(config=c, generation_config=g), t) for c, g, t in light]
    check_models([SimpleNamespace(config=c) for c, _, _ in light], paths, adapters=adapters,
                 tokenizers=[t for _, _, t in light], langs=langs, templates=templates, probe=probe)
