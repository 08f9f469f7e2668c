"""Decoder-only LMs: prompt templates (plain or inside the tokenizer's chat template) and the stop rule.

Each component of a decoder-only model is a prompt: a template with ``{src}``, ``{tgt}`` (language names) and
``{text}`` (the source, always data: special-token strings in it are plain text).  All components share the
continuation; the translation is its first line, and by default the search ends a hypothesis at the first
newline (``generate(stop_strings=["\\n"])`` semantics, :attr:`DecoderOnlyAdapter.stop_criteria`).  Re-exported by
:mod:`ensemblekd.decoding.languages`.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

from .languages import LANGUAGE_NAMES, LanguageAdapter

__all__ = ["DEFAULT_PROMPT", "DEFAULT_CHAT_PROMPT", "DecoderOnlyAdapter"]

DEFAULT_PROMPT = "Translate from {src} to {tgt}.\n{src}: {text}\n{tgt}:"
# the user message of chat models (the tokenizer's chat template wraps it, with the generation prompt)
DEFAULT_CHAT_PROMPT = "Translate the following {src} text into {tgt}. Reply with the translation only.\n\n{text}"
_TEXT_MARK = "\x00ensemblekd-text\x00"


class DecoderOnlyAdapter(LanguageAdapter):
    """Decoder-only LMs: each component is a prompt (a template with ``{src}``, ``{tgt}`` language names and
    ``{text}``); all components share the continuation.  The translation is the first line of the
    continuation.

    chat: wrap the filled template as the user message of ``tokenizer.apply_chat_template`` (with the
        generation prompt); ``None`` (default): when the tokenizer has a chat template.  The default template
        is then :data:`DEFAULT_CHAT_PROMPT`, else :data:`DEFAULT_PROMPT`.  The source text is data either way.
    stop_at_newline: end a hypothesis at the token that completes a newline (default), as
        ``generate(stop_strings=["\\n"])`` does: the search ranks first lines, and ``token_ids`` end there (the
        stop token kept, as ``generate`` keeps it).  ``False``: the whole continuation up to EOS is searched
        (``text`` is still its first line).
    stop_strings: more stop strings (``generate(stop_strings=...)`` semantics; :attr:`stop_criteria`).
    """

    family = "decoder-only"
    decoder_only = True

    def __init__(self, config, tokenizer, generation_config=None, names: Optional[Mapping[str, str]] = None, *,
                 chat: Optional[bool] = None, stop_at_newline: bool = True, stop_strings: Sequence[str] = ()):
        super().__init__(config, tokenizer, generation_config)
        self.names = dict(LANGUAGE_NAMES if names is None else names)
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if chat and not has_template:
            raise ValueError("chat=True: the tokenizer has no chat_template")
        self.chat = has_template if chat is None else bool(chat)
        if isinstance(stop_strings, str):
            stop_strings = [stop_strings]
        strings = []
        for i, x in enumerate(stop_strings):
            if not isinstance(x, str) or not x:
                raise ValueError(f"stop_strings[{i}]={x!r}: expected a non-empty string")
            strings.append(x)
        if stop_at_newline and "\n" not in strings:
            strings.insert(0, "\n")
        self.stop_strings = tuple(strings)
        self._stop = None

    @property
    def stop_criteria(self):
        """``transformers.StopStringCriteria`` of :attr:`stop_strings` (built once), or None without any."""
        if not self.stop_strings:
            return None
        if self._stop is None:
            from transformers import StopStringCriteria

            self._stop = StopStringCriteria(self.tokenizer, list(self.stop_strings))
        return self._stop

    def codes(self):
        return tuple(sorted(self.names))

    def _encode(self, texts, src, tgt, max_length):
        return self.encode(texts, src, tgt, max_length=max_length)

    def encode(self, texts, src, tgt, *, max_length=None, template=None):
        template = (DEFAULT_CHAT_PROMPT if self.chat else DEFAULT_PROMPT) if template is None else template
        names = dict(src=self.names[src], tgt=self.names[tgt])
        out = []
        for text in texts:
            ids = self._prompt(template, text, names)
            if max_length is not None and len(ids) > max_length:
                # shorten the source text (never the instructions) until the prompt fits
                words = self._tokenize([text], None, add_special_tokens=False)[0]
                keep = max(0, len(words) - (len(ids) - max_length))
                while True:
                    ids = self._prompt(template, self.tokenizer.decode(words[:keep]), names)
                    if len(ids) <= max_length or keep == 0:
                        break
                    keep -= 1
                if len(ids) > max_length:
                    raise ValueError(f"the prompt template alone is longer than {max_length} tokens")
            out.append(ids)
        return out

    @staticmethod
    def check_template(template: str) -> None:
        try:
            template.format(src="S", tgt="T", text="X")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"prompt template {template!r}: only the fields {{src}}, {{tgt}} and {{text}} "
                             f"may be used ({exc})") from None
        if "{text}" not in template:
            raise ValueError(f"prompt template {template!r} has no {{text}} field for the source sentence")

    def _prompt(self, template, text, names):
        """The prompt's ids; the source text is data (special-token strings in it are plain text).

        A template without special tokens is tokenized whole (``tokenizer(prompt)`` for ordinary text); one
        with special tokens (chat markup) keeps them: its parts around ``{text}`` are tokenized with special
        tokens, the text as data.
        """
        if self.chat:
            return self._chat_prompt(template, text, names)
        specials = [t for t in getattr(self.tokenizer, "all_special_tokens", []) if t]
        if not any(t in template for t in specials):
            return self._tokenize([template.format(text=text, **names)], None)[0]
        before, _, after = template.partition("{text}")
        ids = list(self.tokenizer(before.format(**names))["input_ids"])
        ids += self._tokenize([text], None, add_special_tokens=False)[0]
        ids += self.tokenizer(after.format(text="{text}", **names), add_special_tokens=False)["input_ids"]
        return ids

    def _chat_prompt(self, template, text, names):
        """``apply_chat_template([user: template filled], add_generation_prompt=True)`` ids, the text as data:
        the conversation is rendered around a marker, its parts tokenized with special tokens (no extra BOS:
        the template writes its own, as ``apply_chat_template(tokenize=True)``), the text as plain pieces."""
        content = template.format(text=_TEXT_MARK, **names)
        rendered = self.tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                      add_generation_prompt=True)
        if rendered.count(_TEXT_MARK) != 1:
            raise ValueError("the tokenizer's chat template does not keep the user message verbatim; pass "
                             "chat=False to DecoderOnlyAdapter and write the chat markup in the prompt template")
        before, after = rendered.split(_TEXT_MARK)
        ids = list(self.tokenizer(before, add_special_tokens=False)["input_ids"])
        ids += self._tokenize([text], None, add_special_tokens=False)[0]
        ids += self.tokenizer(after, add_special_tokens=False)["input_ids"]
        return ids

    def decoder_prompt(self, tgt):
        return []

    def length_offset(self, tgt):
        return 0

    @property
    def max_target_positions(self):
        return self.max_source_length

    def decode(self, token_ids):
        text = self.tokenizer.decode(list(token_ids), skip_special_tokens=True).strip()
        return text.split("\n", 1)[0].strip()
