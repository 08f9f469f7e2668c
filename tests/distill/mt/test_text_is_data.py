"""Text is data in `distill mt` too: a special or language token's string inside a source line or a target
(a teacher's output, a gold line) becomes ordinary pieces of the training pair, never a control token.

Before the fix the targets were tokenized with the tokenizer's special-token matching: a target ``</s> Un
chien`` trained the student to emit EOS first, and ``__en__`` in a target taught it a language switch."""
import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from ensemblekd.decoding.languages import get_adapter  # noqa: E402
from ensemblekd.distill.mt.pipeline import build_examples  # noqa: E402


def _tiny_models():
    name = "_ekd_tiny_models"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "decoding" / "tiny_models.py"
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


TM = _tiny_models()
SOURCE, TARGET = "Ein Hund läuft im Park.", "Un chien court dans le parc."


def _strings(t):
    strings = set(t.tokenizer.all_special_tokens)
    for lang in ("en", "fr", "de"):
        strings |= {t.code(lang), f">>{t.code(lang)}<<", f"__{lang}__"}
    return sorted(s for s in strings if s)


@pytest.mark.parametrize("family", TM.SEQ2SEQ_FAMILIES)
def test_special_strings_in_sources_and_targets_are_trained_as_text(family):
    t = TM.tiny(family)
    tok = t.tokenizer
    adapter = get_adapter(t.model, tok)
    src, tgt = t.code("de"), t.code("fr")
    control = set(tok.all_special_ids) - {tok.unk_token_id}
    control |= set(getattr(adapter, "_code_ids", {}).values())

    def pair(source, target):
        exs, skipped = build_examples(adapter, tok, src, tgt, [source], [{"targets": [target]}], [], False)
        assert skipped == 0 and len(exs) == 1
        return exs[0]

    plain = pair(SOURCE, TARGET)
    assert plain.target[-1] == adapter.eos_token_id and not control & set(plain.target[:-1])
    framing = [i for i in plain.input_ids if i in control]
    for s in _strings(t):
        for where in ("{s} {x}", "{x} {s} encore", "{x}{s}"):
            ex = pair(where.format(s=s, x=SOURCE), where.format(s=s, x=TARGET))
            # the target: ordinary pieces and the one closing EOS; nothing after the string is cut
            assert not control & set(ex.target[:-1]), (s, where, ex.target)
            assert ex.target[-1] == adapter.eos_token_id and len(ex.target) > len(plain.target)
            # the source: only the adapter's own framing is control (the target language is tgt's alone)
            assert [i for i in ex.input_ids if i in control] == framing, (s, where, ex.input_ids)
            assert ex.prompt == plain.prompt
