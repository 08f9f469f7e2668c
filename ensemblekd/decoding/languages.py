"""Language handling per model family, behind one small adapter.

A multilingual model is told the source and target language in a family-specific way.  An adapter turns
``(text, src, tgt)`` into what the scorers of :mod:`ensemblekd.decoding.scorers` take:

==========================  ==================================================  ===========================  ======
family                      encoder input                                       decoder prompt               offset
==========================  ==================================================  ===========================  ======
M2M100, NLLB, mBART-50      the tokenizer's own ``src_lang`` format              [decoder_start, <tgt code>]  1
                            (e.g. ``[__de__] x [</s>]``)
Marian multilingual         ``>>fr<< x`` + [</s>] (target token in the source)  [decoder_start]              0
T5                          ``translate German to French: x`` + [</s>]           [decoder_start]              0
ensemblekd scheme (config)  [<tgt>] x [</s>]  or  [<src>] x [</s>]               [decoder_start] or [.., <tgt>]  0/1
decoder-only LM (.prompts)  the whole prompt (a template with {src} {tgt} {text},  (none)                     0
                            inside the chat template when the tokenizer has one)
==========================  ==================================================  ===========================  ======

"offset" is ``length_offset`` of :func:`ensemblekd.decoding.search.beam_search`: forced target-language tokens
sit in the decoder prompt but count in the length penalty, as in ``model.generate(forced_bos_token_id=...)``.

:func:`get_adapter` picks the adapter from the model config (``ensemblekd_language_scheme``), the tokenizer class
and ``config.model_type``.  Every adapter validates language codes (:class:`UnknownLanguageError` lists the codes
it knows) and knows the longest source the model accepts (``max_source_length``).
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Mapping, Optional, Sequence

__all__ = [
    "LANGUAGE_NAMES",
    "DEFAULT_PROMPT",
    "DEFAULT_CHAT_PROMPT",
    "LanguageAdapter",
    "UnknownLanguageError",
    "M2M100Adapter",
    "MarianAdapter",
    "T5Adapter",
    "SchemeAdapter",
    "DecoderOnlyAdapter",
    "get_adapter",
]

# ISO 639-1 code -> English name (T5 task prefixes, decoder-only prompts)
LANGUAGE_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech", "da": "Danish",
    "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "ga": "Irish", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian",
    "hu": "Hungarian", "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "lt": "Lithuanian", "lv": "Latvian", "mt": "Maltese", "nl": "Dutch", "no": "Norwegian", "pl": "Polish",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sv": "Swedish",
    "sw": "Swahili", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}



_PROMPTS = ("DEFAULT_PROMPT", "DEFAULT_CHAT_PROMPT", "DecoderOnlyAdapter")   # in .prompts (one file per algorithm)


def __getattr__(name: str):
    if name in _PROMPTS:
        from . import prompts

        return getattr(prompts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UnknownLanguageError(ValueError):
    """A language code the model/tokenizer does not know."""


def _listing(codes: Sequence[str], limit: int = 60) -> str:
    codes = sorted(codes)
    shown = ", ".join(codes[:limit])
    return shown + (f", ... ({len(codes)} in all)" if len(codes) > limit else "")


class LanguageAdapter(ABC):
    """Base class: subclasses set ``family`` and implement ``codes``, ``_encode`` and ``decoder_prompt``.

    ``config`` is the model's config, ``tokenizer`` a Hugging Face tokenizer, ``generation_config`` the model's
    (optional; it overrides the config's ``decoder_start_token_id`` / ``eos_token_id``).  Adapters are stateless between
    calls (a tokenizer whose ``src_lang`` must be set is restored afterwards).
    """

    family = "base"
    decoder_only = False
    # a stop-string criterion for :func:`~ensemblekd.decoding.search.beam_search` (decoder-only models)
    stop_criteria = None

    def __init__(self, config, tokenizer, generation_config=None):
        self.config = config
        self.tokenizer = tokenizer
        # recent transformers keep decoder_start/eos in model.generation_config
        start = getattr(generation_config, "decoder_start_token_id", None)
        self.decoder_start_token_id = start if start is not None else getattr(config, "decoder_start_token_id", None)
        eos = getattr(generation_config, "eos_token_id", None)
        if eos is None:
            eos = getattr(config, "eos_token_id", None)
        if eos is None:
            eos = tokenizer.eos_token_id
        # every EOS id ends a hypothesis (chat models list several, e.g. <|im_end|> and <|endoftext|>)
        self.eos_token_ids = tuple(int(e) for e in eos) if isinstance(eos, (list, tuple)) else (int(eos),)
        self.eos_token_id = self.eos_token_ids[0]
        # Marian and mBART force EOS at the length limit (transformers' ForcedEOSTokenLogitsProcessor)
        forced = getattr(generation_config, "forced_eos_token_id", None) if generation_config is not None else None
        if forced is None and generation_config is None:
            forced = getattr(config, "forced_eos_token_id", None)
        if isinstance(forced, (list, tuple)):
            forced = forced[0] if forced else None
        self.forced_eos_token_id = None if forced is None else int(forced)
        pad = getattr(config, "pad_token_id", None)
        if pad is None:
            pad = tokenizer.pad_token_id
        self.pad_token_id = int(pad) if pad is not None else self.eos_token_id

    # ----- languages -------------------------------------------------------------------------------------
    @abstractmethod
    def codes(self) -> tuple[str, ...]:
        """The language codes this adapter accepts (sorted)."""

    def check(self, code: str, argument: str = "language") -> None:
        """Raise :class:`UnknownLanguageError` naming ``argument`` when ``code`` is not known."""
        known = self.codes()
        if not isinstance(code, str) or code not in known:
            raise UnknownLanguageError(
                f"{argument}={code!r} is not a language code of this {self.family} model/tokenizer; "
                f"known codes: {_listing(known)}")

    def check_source(self, code: str, argument: str = "src_lang") -> None:
        """Check a source-side code (families that do not encode the source language accept any)."""
        self.check(code, argument)

    # ----- encoding ---------------------------------------------------------------------------------------
    @property
    def max_source_length(self) -> Optional[int]:
        """Longest encoder input (or prompt) in tokens the model accepts, ``None`` when unbounded."""
        n = getattr(self.config, "max_position_embeddings", None) or getattr(self.config, "n_positions", None)
        return int(n) if n else None

    @property
    def max_target_positions(self) -> Optional[int]:
        """Longest decoder sequence (prompt + generated) the model accepts, ``None`` when unbounded."""
        return self.max_source_length

    def encode(self, texts: Sequence[str], src: str, tgt: str, *, max_length: Optional[int] = None,
               template: Optional[str] = None) -> list[list[int]]:
        """Encoder input ids (decoder-only: prompt ids) of each text; truncated to ``max_length`` if given."""
        texts = list(texts)
        return self._encode(texts, src, tgt, max_length) if texts else []

    @abstractmethod
    def _encode(self, texts, src, tgt, max_length) -> list[list[int]]:
        """Encoder input ids of the non-empty list ``texts`` (what :meth:`encode` returns)."""

    def _tokenize(self, texts, max_length, add_special_tokens: bool = True) -> list[list[int]]:
        """``tokenizer(texts)["input_ids"]`` (truncated to ``max_length``), with text as data: a special or
        language token's string inside a text (``</s>``, ``__en__``, ``<pad>``) is segmented into ordinary
        pieces, never into the control token; the tokenizer's own framing (language code, EOS) is kept.

        Fast tokenizers: the text is encoded by a copy of the backend whose model cannot emit control pieces
        (:func:`_text_only_backend`; many SentencePiece conversions hold ``</s>`` or ``__en__`` as model pieces,
        which ``split_special_tokens`` alone does not prevent), then framed by the live tokenizer's
        post-processor (it follows ``src_lang``).  Slow tokenizers: ``split_special_tokens=True``.
        """
        texts = list(texts)
        data = getattr(self, "_data_backend", None)
        if data is None:
            data = self._data_backend = _text_only_backend(self.tokenizer)
        if data is False:
            kw = dict(add_special_tokens=add_special_tokens, split_special_tokens=True)
            if max_length is not None:
                kw.update(truncation=True, max_length=max_length)
            return [list(ids) for ids in self.tokenizer(texts, **kw)["input_ids"]]
        live = self.tokenizer.backend_tokenizer
        encs = data.encode_batch(texts, add_special_tokens=False)
        if max_length is not None:
            room = max_length - (live.num_special_tokens_to_add(False) if add_special_tokens else 0)
            for enc in encs:
                if len(enc.ids) > room:
                    enc.truncate(max(room, 0))
        if not add_special_tokens:
            return [list(enc.ids) for enc in encs]
        return [list(live.post_process(enc).ids) for enc in encs]

    def decoder_prompt(self, tgt: str) -> list[int]:
        """Tokens the decoder starts from (shared by all rows)."""
        return [int(self.decoder_start_token_id)]

    def length_offset(self, tgt: str) -> int:
        """Prompt tokens that count in the length penalty (the forced target-language token)."""
        return len(self.decoder_prompt(tgt)) - 1

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of generated tokens (prompt excluded); special tokens skipped."""
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True).strip()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(family={self.family!r})"


class M2M100Adapter(LanguageAdapter):
    """M2M100, NLLB and mBART-50: ``tokenizer.src_lang`` for the encoder, forced target-language BOS."""

    def __init__(self, config, tokenizer, generation_config=None, family: str = "m2m100"):
        super().__init__(config, tokenizer, generation_config)
        self.family = family
        if hasattr(tokenizer, "lang_code_to_id") and family != "nllb":
            self._code_ids = {c: int(tokenizer.lang_code_to_id[c]) for c in tokenizer.lang_code_to_id}
            if hasattr(tokenizer, "get_lang_id"):   # M2M100: "de" -> __de__
                self._code_ids = {c: int(tokenizer.get_lang_id(c)) for c in self._code_ids}
        else:   # NLLB: codes are special tokens like deu_Latn
            specials = getattr(tokenizer, "extra_special_tokens", None) or \
                getattr(tokenizer, "additional_special_tokens", None) or []
            codes = [str(t) for t in specials if re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", str(t))]
            self._code_ids = {c: int(tokenizer.convert_tokens_to_ids(c)) for c in codes}

    def codes(self):
        return tuple(sorted(self._code_ids))

    def _encode(self, texts, src, tgt, max_length):
        saved = getattr(self.tokenizer, "src_lang", None)
        self.tokenizer.src_lang = src
        try:
            return self._tokenize(texts, max_length)
        finally:
            if saved is not None:
                self.tokenizer.src_lang = saved

    def decoder_prompt(self, tgt):
        return [int(self.decoder_start_token_id), self._code_ids[tgt]]


class MarianAdapter(LanguageAdapter):
    """Marian: ``>>xx<<`` target token in front of the source; bilingual models (no such tokens) take any code.

    The source language is not encoded, so ``check_source`` accepts any code.
    """

    family = "marian"

    def __init__(self, config, tokenizer, generation_config=None):
        super().__init__(config, tokenizer, generation_config)
        supported = getattr(tokenizer, "supported_language_codes", []) or []
        self._codes = tuple(sorted(c[2:-2] for c in supported))

    def codes(self):
        return self._codes

    def check(self, code, argument="language"):
        if self._codes:
            super().check(code, argument)
        elif not isinstance(code, str) or not code:
            raise UnknownLanguageError(f"{argument}={code!r}: expected a non-empty language code")

    def check_source(self, code, argument="src_lang"):
        if not isinstance(code, str) or not code:
            raise UnknownLanguageError(f"{argument}={code!r}: expected a non-empty language code")

    def _encode(self, texts, src, tgt, max_length):
        # MarianTokenizer reads a leading ">>xx<<" of its input as the target code, even with
        # split_special_tokens: a source line that starts with one gets a space in front (no change to
        # its pieces: SentencePiece drops leading whitespace), and our code is prepended as an id
        texts = [" " + t if t.lstrip().startswith(">>") else t for t in texts]
        if not self._codes:
            return self._tokenize(texts, max_length)
        code = int(self.tokenizer.convert_tokens_to_ids(f">>{tgt}<<"))
        body = None if max_length is None else max_length - 1
        return [[code, *ids] for ids in self._tokenize(texts, body)]


class T5Adapter(LanguageAdapter):
    """T5: task prefix ``translate {Source} to {Target}: `` (names from ``LANGUAGE_NAMES`` or ``names``)."""

    family = "t5"
    prefix = "translate {src} to {tgt}: "

    def __init__(self, config, tokenizer, generation_config=None, names: Optional[Mapping[str, str]] = None):
        super().__init__(config, tokenizer, generation_config)
        self.names = dict(LANGUAGE_NAMES if names is None else names)

    def codes(self):
        return tuple(sorted(self.names))

    @property
    def max_source_length(self):
        # relative position buckets: no hard limit unless the tokenizer states a realistic one
        n = getattr(self.tokenizer, "model_max_length", None)
        return int(n) if n and n < 10**6 else None

    @property
    def max_target_positions(self):
        return None

    def _encode(self, texts, src, tgt, max_length):
        prefix = self.prefix.format(src=self.names[src], tgt=self.names[tgt])
        return self._tokenize([prefix + t for t in texts], max_length)


class SchemeAdapter(LanguageAdapter):
    """Our own models: ``config.ensemblekd_language_scheme`` and ``config.ensemblekd_language_tokens``.

    * ``target_token_in_source``: encoder ``[<tgt>] + x + [eos]``, decoder prompt ``[decoder_start]``
      (Johnson et al., 2017).
    * ``target_token_in_decoder``: encoder ``[<src>] + x + [eos]``, prompt ``[decoder_start, <tgt>]``.
    """

    family = "ensemblekd"
    SCHEMES = ("target_token_in_source", "target_token_in_decoder")

    def __init__(self, config, tokenizer, generation_config=None):
        super().__init__(config, tokenizer, generation_config)
        self.scheme = getattr(config, "ensemblekd_language_scheme")
        if self.scheme not in self.SCHEMES:
            raise ValueError(f"config.ensemblekd_language_scheme={self.scheme!r}: expected one of {self.SCHEMES}")
        tokens = getattr(config, "ensemblekd_language_tokens", None)
        if not isinstance(tokens, Mapping) or not tokens:
            raise ValueError("config.ensemblekd_language_tokens: expected a non-empty mapping code -> token")
        vocab = tokenizer.get_vocab()
        missing = [t for t in tokens.values() if t not in vocab]
        if missing:
            raise ValueError(f"config.ensemblekd_language_tokens: tokens {missing} are not in the tokenizer")
        self._code_ids = {c: int(vocab[t]) for c, t in tokens.items()}

    def codes(self):
        return tuple(sorted(self._code_ids))

    def _encode(self, texts, src, tgt, max_length):
        body = max_length - 2 if max_length is not None else None
        lang = self._code_ids[tgt if self.scheme == "target_token_in_source" else src]
        out = []
        for ids in self._text_ids(texts):
            ids = list(ids)[:body] if body is not None else list(ids)
            out.append([lang, *ids, self.eos_token_id])
        return out

    def _text_ids(self, texts) -> list[list[int]]:
        """Ids of plain text, no framing (our tokenizers hold ``__en__`` as a model piece: see ``_tokenize``)."""
        return self._tokenize(texts, None, add_special_tokens=False)

    def decoder_prompt(self, tgt):
        if self.scheme == "target_token_in_source":
            return [int(self.decoder_start_token_id)]
        return [int(self.decoder_start_token_id), self._code_ids[tgt]]


def _text_only_backend(tokenizer):
    """A copy of a fast tokenizer's backend that segments any text into ordinary pieces only: no added-token
    matching, and the model's control pieces (special tokens, language tokens) made unreachable (Unigram:
    renamed to strings no text contains, ids unchanged; BPE: the merges that build them dropped).  ``False`` for a slow tokenizer or another model."""
    import json

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    from tokenizers import Tokenizer

    spec = json.loads(backend.to_str())
    control = {t["content"] for t in spec.get("added_tokens", [])} | set(getattr(tokenizer, "all_special_tokens", []))
    model = spec["model"]
    if model.get("type") == "Unigram":
        # renamed in place (ids are positions): no text can match the new names
        model["vocab"] = [[f"\x00ensemblekd-control-{i}" if p in control else p, score]
                          for i, (p, score) in enumerate(model["vocab"])]
    elif model.get("type") == "BPE":
        joined = lambda m: m.replace(" ", "") if isinstance(m, str) else "".join(m)  # noqa: E731
        model["merges"] = [m for m in model["merges"] if joined(m) not in control]
    else:
        return False
    spec["added_tokens"] = []
    return Tokenizer.from_str(json.dumps(spec))


def get_adapter(model, tokenizer, *, names: Optional[Mapping[str, str]] = None, **decoder_only) -> LanguageAdapter:
    """The language adapter of ``model`` + ``tokenizer``.

    Order: ``config.ensemblekd_language_scheme`` (our models); decoder-only models (``not
    config.is_encoder_decoder``); the tokenizer class (NLLB, M2M100, mBART-50, Marian, T5); ``config.model_type``.
    ``names`` (code -> language name) replaces ``LANGUAGE_NAMES`` for T5 prefixes and decoder-only prompts;
    ``decoder_only`` options (``chat``, ``stop_at_newline``, ``stop_strings``) go to :class:`DecoderOnlyAdapter`
    (an error for an encoder-decoder model).
    """
    config = model.config
    gen = getattr(model, "generation_config", None)
    seq2seq = getattr(config, "is_encoder_decoder", False) or getattr(config, "ensemblekd_language_scheme", None)
    if decoder_only and seq2seq:
        raise ValueError(f"{', '.join(sorted(decoder_only))}: options of decoder-only models; this model is an "
                         "encoder-decoder")
    if getattr(config, "ensemblekd_language_scheme", None) is not None:
        return SchemeAdapter(config, tokenizer, gen)
    if not getattr(config, "is_encoder_decoder", False):
        from .prompts import DecoderOnlyAdapter

        return DecoderOnlyAdapter(config, tokenizer, gen, names, **decoder_only)
    cls = type(tokenizer).__name__.lower()
    model_type = getattr(config, "model_type", "")
    if "nllb" in cls:
        return M2M100Adapter(config, tokenizer, gen, family="nllb")
    if "m2m100" in cls:
        return M2M100Adapter(config, tokenizer, gen, family="m2m100")
    if "mbart50" in cls or (model_type == "mbart" and hasattr(tokenizer, "lang_code_to_id")):
        return M2M100Adapter(config, tokenizer, gen, family="mbart50")
    if "marian" in cls or model_type == "marian":
        return MarianAdapter(config, tokenizer, gen)
    if cls.startswith("t5") or model_type in ("t5", "mt5", "umt5"):
        return T5Adapter(config, tokenizer, gen, names)
    raise ValueError(
        f"no language adapter for model_type={getattr(config, 'model_type', None)!r} with tokenizer "
        f"{type(tokenizer).__name__}: supported are M2M100, NLLB, mBART-50, Marian, T5, decoder-only LMs and "
        "models whose config has ensemblekd_language_scheme; or pass adapter= to translate()")
